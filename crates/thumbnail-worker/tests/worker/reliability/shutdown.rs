//! Graceful shutdown under load: SIGTERM in the middle of a 50-image batch. The worker finishes and
//! acknowledges what it was working on, takes nothing new, leaves the rest visible in the queue, and
//! exits 0 within its grace period; a second worker then does the rest.

use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, jpeg, quadrants, signal, sigterm, wait_for_exit};

use crate::reliability::rig::{Backend, Rig, report};

fn shutdown_under_load(backend: Backend) {
    const GRACE: u64 = 20;
    let grace = GRACE.to_string();
    const CONCURRENCY: usize = 2;
    let Some(rig) = Rig::new(
        backend,
        "drain",
        &[
            ("concurrency", &CONCURRENCY.to_string()),
            ("shutdown_grace", &grace),
        ],
    ) else {
        return;
    };
    const IMAGES: usize = 50;
    for i in 0..IMAGES {
        let photo = jpeg(
            &quadrants(1600 + i as u32 * 4, 1200),
            &JpegOptions::default(),
        );
        rig.upload(&format!("batch/{i:02}.jpg"), &photo);
    }
    let made = |rig: &Rig| {
        rig.thumbnail_keys()
            .iter()
            .filter(|k| k.ends_with("/manifest.json"))
            .count()
    };
    // Every upload announced, nothing taken yet: the events are all in the queue.
    if backend == Backend::Aws {
        rig.wait_for("the upload events", Duration::from_secs(30), || {
            rig.visible() >= IMAGES
        });
    }
    let worker = rig.start(&[]);
    rig.wait_for("the first thumbnails", Duration::from_secs(60), || {
        made(&rig) >= 3
    });
    // Held where it is (SIGSTOP) the moment the third manifest is seen, so the SIGTERM lands
    // mid-batch however fast the machine: only what it made within one look (10 ms locally, 100 ms
    // on the test server, each image some fsyncs or requests) can come after the third.
    signal(worker.id(), "STOP");
    let held = made(&rig);
    assert!(
        held + CONCURRENCY < IMAGES,
        "{held} of {IMAGES} made within one look: make the batch larger"
    );
    // The SIGTERM waits, pending, for the worker to go on.
    let signalled = Instant::now();
    signal(worker.id(), "TERM");
    signal(worker.id(), "CONT");
    let status = wait_for_exit(worker, Duration::from_secs(GRACE + 5));
    let stopped_in = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(stopped_in < Duration::from_secs(GRACE), "{stopped_in:?}");

    // What it took, it finished: every manifest is whole (all three objects), and every message it
    // did not finish is still there and visible now, not hidden until a timeout.
    let done = made(&rig);
    let keys = rig.thumbnail_keys();
    assert_eq!(keys.len(), done * 3, "half-made images: {keys:?}");
    assert!(
        done < IMAGES,
        "made all {IMAGES} after SIGTERM ({held} when it came)"
    );
    let (left, visible) = (rig.queued(), rig.visible());
    assert_eq!(left, IMAGES - done);
    assert_eq!(visible, left, "messages left hidden");
    let log = rig.logs();
    assert!(log.contains("worker stopped"), "{log}");

    let next = rig.start(&[]);
    rig.wait_for("the rest", Duration::from_secs(120), || {
        made(&rig) == IMAGES && rig.queued() == 0
    });
    assert!(sigterm(next, Duration::from_secs(30)).success());
    report(
        "shutdown",
        backend,
        &format!(
            "shutdown under load ({backend:?}): SIGTERM after {held} of {IMAGES} images ({done} made \
             by the stop), exit 0 in {:.2} s (grace {GRACE} s), {left} messages left, all visible; the next worker did them",
            stopped_in.as_secs_f64()
        ),
    );
}

on_both_backends!(shutdown_under_load);
