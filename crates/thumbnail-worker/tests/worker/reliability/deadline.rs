//! Deadline: a source whose read never ends. On the local backend a named pipe that nobody writes
//! to stands in for a download that stalls mid-body: opening it blocks for ever. With a 2 s job
//! timeout the worker abandons that job, releases its message, and on its last receive announces
//! and dead-letters it as `too_many_receives`; an upload beside it is made meanwhile, and SIGTERM
//! still stops the worker at once, the stuck read notwithstanding. (On S3 the same path is the
//! stalled body of a GET, covered by the Lambda's and the worker's tests with a stalling store.)

use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, jpeg, quadrants, sigterm};

use crate::reliability::rig::{Backend, Rig, report, tail};

#[test]
fn local() {
    let rig = Rig::new(
        Backend::Local,
        "deadline",
        &[
            ("job_timeout", "2"),
            ("max_receives", "2"),
            ("shutdown_grace", "20"),
        ],
    )
    .expect("the local backend needs no server");
    let source = rig.env["THUMBNAIL_LOCAL_DIR"].clone() + "/buckets/uploads";
    std::fs::create_dir_all(&source).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(format!("{source}/stall.jpg"))
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let started = Instant::now();
    let worker = rig.start(&[]);
    // The watcher announces files only; the pipe gets its event by hand, as a queue would bring it.
    rig.send_event("stall.jpg");
    rig.upload(
        "fine.jpg",
        &jpeg(&quadrants(640, 480), &JpegOptions::default()),
    );
    rig.wait_for("the good upload", Duration::from_secs(60), || {
        rig.has_thumbnail("fine.jpg/manifest.json")
    });
    let beside = started.elapsed();
    rig.wait_for("the stalled job given up", Duration::from_secs(60), || {
        !rig.dead_letters().is_empty()
    });
    let given_up = started.elapsed();
    let stopping = Instant::now();
    let status = sigterm(worker, Duration::from_secs(30));
    let stopped = stopping.elapsed();
    assert!(status.success(), "{status}\n{}", tail(&rig.logs(), 30));

    let dead = rig.dead_letters();
    assert!(
        dead.len() == 1 && dead[0].contains("stall.jpg: received 2 times without being settled"),
        "{dead:?}"
    );
    let logs = rig.logs();
    assert_eq!(
        logs.matches("abandoned: the work took longer than the job timeout")
            .count(),
        1,
        "abandoned on the first receive, given up on the second\n{}",
        tail(&logs, 30)
    );
    let failed: Vec<_> = rig
        .notifications()
        .into_iter()
        .filter(|n| n["subject"].as_str().unwrap().contains("failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["data"]["reason"], "too_many_receives");
    // Not a speed: a worker that waited on the stuck read would take the whole 20 s grace.
    assert!(
        stopped < Duration::from_secs(10),
        "stopped after {stopped:?}: waited on the stuck read"
    );
    report(
        "deadline",
        Backend::Local,
        &format!(
            "deadline (Local): a source whose read never ends, job timeout 2 s, 2 receives: \
             abandoned once, dead-lettered as too_many_receives after {:.1} s; an upload beside \
             it made after {:.1} s; SIGTERM stopped the worker in {:.2} s",
            given_up.as_secs_f64(),
            beside.as_secs_f64(),
            stopped.as_secs_f64()
        ),
    );
}
