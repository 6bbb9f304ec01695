//! A process out of file descriptors (a flood of half-open connections to the console did it) gets
//! a transient error from the local queue, which the worker waits out, not a permanent one, on
//! which it stopped.

use std::time::Duration;

use thumbnail_queue::{LocalQueue, OutgoingMessage, Queue, ReceiveOptions};

#[tokio::test]
async fn out_of_file_descriptors_is_transient() {
    let spool = std::env::temp_dir().join(format!("thumbnail-queue-emfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let queue = LocalQueue::open(&spool).unwrap();
    queue.send(OutgoingMessage::new("resize me")).await.unwrap();
    // A low limit for this process (nextest runs each test in one of its own), then every
    // descriptor left taken.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let low = libc::rlimit {
            rlim_cur: 256.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
    }
    let mut held = Vec::new();
    let exhausted = loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(e) => break e,
        }
    };
    let options = ReceiveOptions {
        max_messages: 1,
        wait: Duration::ZERO,
        visibility: Duration::from_secs(30),
    };
    let received = queue.receive(&options).await;
    drop(held);
    // SAFETY: as above.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE), "{exhausted}");
    let error = received.expect_err("a receive with no descriptor left");
    assert!(error.is_retryable(), "{error:?}");
    // Descriptors back, the message is there.
    assert_eq!(queue.receive(&options).await.unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&spool);
}
