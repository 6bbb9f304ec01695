//! Several workers on one queue: one hundred uploads, then three `run --exit-when-idle` started
//! together. The work is shared, each upload is made and announced once (on the local backend the
//! three event watchers share one ledger), and all three exit when the queue is empty.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, jpeg, quadrants};

use crate::reliability::rig::{Backend, Rig, report, tail};

const UPLOADS: usize = 100;
const WORKERS: usize = 3;

fn three_workers(backend: Backend) {
    let Some(rig) = Rig::new(backend, "workers", &[("concurrency", "2")]) else {
        return;
    };
    for i in 0..UPLOADS {
        let photo = jpeg(
            &quadrants(320 + (i % 8) as u32 * 8, 240),
            &JpegOptions::default(),
        );
        rig.upload(&format!("many/{i:03}.jpg"), &photo);
    }
    let started = Instant::now();
    let mut workers: Vec<_> = (0..WORKERS)
        .map(|_| rig.spawn(&["run", "--exit-when-idle"]))
        .collect();
    for worker in &mut workers {
        let status = rig.wait_exit(worker, Duration::from_secs(180));
        assert!(status.success(), "{status}\n{}", tail(&rig.logs(), 40));
    }
    let elapsed = started.elapsed();

    let keys = rig.thumbnail_keys();
    let manifests = keys
        .iter()
        .filter(|k| k.ends_with("/manifest.json"))
        .count();
    assert_eq!(manifests, UPLOADS, "every upload made");
    assert_eq!(keys.len(), UPLOADS * 3, "one set each, nothing stray");
    assert_eq!(rig.queued(), 0);

    let mut announced: BTreeMap<String, usize> = BTreeMap::new();
    for notification in rig.notifications() {
        let subject = notification["subject"].as_str().unwrap();
        assert!(subject.contains("ready"), "{subject}");
        *announced.entry(subject.to_owned()).or_default() += 1;
    }
    assert_eq!(announced.len(), UPLOADS, "every upload announced");
    let repeated: Vec<_> = announced.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "announced more than once: {repeated:?}"
    );

    // Each worker processed some of the uploads; together, each upload once. (S3 also queues a
    // test event when notifications are configured, which is settled without being processed.)
    let processed: Vec<usize> = rig
        .worker_logs()
        .iter()
        .map(|log| log.matches("processed key=many/").count())
        .collect();
    assert!(
        processed.iter().all(|&n| n > 0),
        "idle workers: {processed:?}"
    );
    assert_eq!(processed.iter().sum::<usize>(), UPLOADS, "{processed:?}");
    report(
        "workers",
        backend,
        &format!(
            "workers ({backend:?}): {UPLOADS} uploads, {WORKERS} workers (run --exit-when-idle, \
             concurrency 2 each): uploads processed per worker {processed:?}; manifests {manifests}; \
             announcements {} (0 repeated); all exited after {:.1} s",
            announced.values().sum::<usize>(),
            elapsed.as_secs_f64()
        ),
    );
}

on_both_backends!(three_workers);

/// A worker that starts while another worker's scan holds the ledger has nothing on the queue
/// yet, but is not idle: the other's events may still be coming. It waits, scans once the lock is
/// free, and makes the upload, rather than exiting at once with the upload unmade.
#[test]
fn a_scan_under_way_elsewhere_is_not_an_empty_queue() {
    let mut rig = Rig::new(Backend::Local, "scan-elsewhere", &[]).expect("the local backend");
    // Each scan that gives way is logged at debug level: the test counts them.
    rig.env
        .insert("RUST_LOG".into(), "info,thumbnail_worker::run=debug".into());
    rig.upload(
        "late.jpg",
        &jpeg(&quadrants(320, 240), &JpegOptions::default()),
    );
    let ledger = std::path::PathBuf::from(&rig.env["THUMBNAIL_LOCAL_DIR"]).join("ledger");
    std::fs::create_dir_all(&ledger).unwrap();
    let lock = std::fs::File::create(ledger.join("uploads.lock")).unwrap();
    lock.lock().unwrap();
    let mut worker = rig.spawn(&["run", "--exit-when-idle"]);
    // Not a time but a count: the worker found the lock held on three turns and is still there.
    const GAVE_WAY: &str = "another worker's scan is under way";
    rig.wait_for("three scans that gave way", Duration::from_secs(60), || {
        rig.logs().matches(GAVE_WAY).count() >= 3 || worker.try_wait().unwrap().is_some()
    });
    let waited = worker.try_wait().unwrap().is_none();
    lock.unlock().unwrap();
    let status = rig.wait_exit(&mut worker, Duration::from_secs(60));
    assert!(
        waited,
        "the worker exited while the scan lock was held\n{}",
        tail(&rig.logs(), 20)
    );
    assert!(status.success(), "{status}\n{}", tail(&rig.logs(), 20));
    assert!(
        rig.thumbnail_keys()
            .iter()
            .any(|k| k.starts_with("late.jpg/")),
        "the upload was not made: {:?}\n{}",
        rig.thumbnail_keys(),
        tail(&rig.logs(), 20)
    );
}
