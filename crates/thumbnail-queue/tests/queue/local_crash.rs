//! The local queue survives `kill -9`: a message received by a process that is killed before
//! acknowledging it comes back to another process at once, without waiting out its visibility
//! timeout, while a message held by a live process stays hidden.
//!
//! The test runs this same test binary again as the child, selecting `child_holds_a_message`, an
//! ignored test (it is no test of its own) that needs `TEST_THUMBNAIL_QUEUE_CHILD_SPOOL`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use thumbnail_queue::{LocalQueue, OutgoingMessage, Queue, ReceiveOptions};

const CHILD_SPOOL: &str = "TEST_THUMBNAIL_QUEUE_CHILD_SPOOL";

#[tokio::test]
#[ignore = "the child process of a_message_held_by_a_killed_process_comes_back"]
async fn child_holds_a_message() {
    let spool =
        std::env::var(CHILD_SPOOL).expect("run by a_message_held_by_a_killed_process_comes_back");
    let queue = LocalQueue::open(spool).unwrap();
    let options = ReceiveOptions {
        max_messages: 1,
        wait: Duration::from_secs(5),
        visibility: Duration::from_secs(600),
    };
    let delivery = queue.receive(&options).await.unwrap().remove(0);
    println!("HOLDING {}", delivery.id);
    // Hold it until killed; never acknowledge.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test]
async fn a_message_held_by_a_killed_process_comes_back() {
    let spool = std::env::temp_dir().join(format!("thumbnail-queue-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let queue = LocalQueue::open(&spool).unwrap();
    let id = queue.send(OutgoingMessage::new("resize me")).await.unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "local_crash::child_holds_a_message",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SPOOL, &spool)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints the test name first, on the same line.
    let held = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("HOLDING ").map(|(_, id)| id.to_owned()))
        .expect("the child reports the message it holds");
    assert_eq!(held, id);

    // Another process (here: another handle on the same folder) sees nothing while the holder lives...
    let reopened = LocalQueue::open(&spool).unwrap();
    let now = ReceiveOptions {
        max_messages: 10,
        wait: Duration::ZERO,
        visibility: Duration::from_secs(30),
    };
    assert!(
        reopened.receive(&now).await.unwrap().is_empty(),
        "hidden while its holder runs"
    );
    assert_eq!(reopened.depth().await.unwrap().in_flight, 1);

    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup
    child.wait().unwrap();

    // ...and gets it back at once when the holder is dead, 600 s of visibility notwithstanding.
    assert_eq!(reopened.depth().await.unwrap().visible, 1);
    let mut back = reopened.receive(&now).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        (
            back[0].id.as_str(),
            back[0].body.as_str(),
            back[0].receive_count
        ),
        (id.as_str(), "resize me", 2)
    );
    reopened.ack(back.remove(0)).await.unwrap();
    assert!(reopened.receive(&now).await.unwrap().is_empty());
    std::fs::remove_dir_all(spool).unwrap();
}

#[tokio::test]
async fn a_stale_delivery_cannot_delete_a_redelivered_message() {
    let spool = std::env::temp_dir().join(format!("thumbnail-queue-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let queue = LocalQueue::open(&spool).unwrap();
    queue.send(OutgoingMessage::new("contested")).await.unwrap();
    let short = ReceiveOptions {
        max_messages: 1,
        wait: Duration::from_secs(3),
        visibility: Duration::from_millis(200),
    };
    let old = queue.receive(&short).await.unwrap().remove(0);
    let new = queue.receive(&short).await.unwrap().remove(0);
    assert_eq!((old.id.clone(), new.receive_count), (new.id.clone(), 2));
    assert!(matches!(
        queue.ack(old).await,
        Err(thumbnail_queue::QueueError::StaleReceipt { .. })
    ));
    queue.ack(new).await.unwrap();
    std::fs::remove_dir_all(spool).unwrap();
}

#[tokio::test]
async fn a_closed_handle_gives_its_deliveries_back_but_not_its_releases() {
    let spool = std::env::temp_dir().join(format!("thumbnail-queue-closed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let first = LocalQueue::open(&spool).unwrap();
    first.send(OutgoingMessage::new("held")).await.unwrap();
    first.send(OutgoingMessage::new("delayed")).await.unwrap();
    let long = ReceiveOptions {
        max_messages: 10,
        wait: Duration::ZERO,
        visibility: Duration::from_secs(600),
    };
    let mut taken = first.receive(&long).await.unwrap();
    assert_eq!(taken.len(), 2);
    let delayed = taken.pop().unwrap();
    assert_eq!(delayed.body, "delayed");
    // A retry delay is the queue's to keep, whoever released the message.
    first
        .release(delayed, Duration::from_secs(600))
        .await
        .unwrap();

    let second = LocalQueue::open(&spool).unwrap();
    assert!(second.receive(&long).await.unwrap().is_empty());
    drop(first);
    let back = second.receive(&long).await.unwrap();
    assert_eq!(
        back.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        ["held"]
    );
    // The new holder's own lease is not taken from it by a third handle.
    let third = LocalQueue::open(&spool).unwrap();
    assert!(third.receive(&long).await.unwrap().is_empty());
    second.ack_batch(back).await.unwrap();
    std::fs::remove_dir_all(spool).unwrap();
}

/// A spool record is the queue's own file, but one edited by hand or damaged must not name a path:
/// a holder `../../outside` once made a receive lock and delete `outside.lock` beside the spool.
/// Such a holder names no process; the message comes back, and nothing outside the spool is
/// touched.
#[tokio::test]
async fn a_record_naming_a_path_as_its_holder_touches_nothing_outside_the_spool() {
    let dir = std::env::temp_dir().join(format!("thumbnail-queue-holder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spool = dir.join("spool");
    let queue = LocalQueue::open(&spool).unwrap();
    queue.send(OutgoingMessage::new("held")).await.unwrap();
    let long = ReceiveOptions {
        max_messages: 1,
        wait: Duration::from_secs(3),
        visibility: Duration::from_secs(600),
    };
    assert_eq!(queue.receive(&long).await.unwrap().len(), 1);
    let outside = dir.join("outside.lock");
    std::fs::write(&outside, "not the queue's").unwrap();
    let record = std::fs::read_dir(spool.join("messages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    json["holder"] = "../../outside".into();
    std::fs::write(&record, json.to_string()).unwrap();

    let other = LocalQueue::open(&spool).unwrap();
    let back = other.receive(&long).await.unwrap();
    assert_eq!(
        back.len(),
        1,
        "a holder that names no process holds nothing"
    );
    assert_eq!(back[0].body, "held");
    assert!(outside.exists(), "a file outside the spool was deleted");
    std::fs::remove_dir_all(dir).unwrap();
}
