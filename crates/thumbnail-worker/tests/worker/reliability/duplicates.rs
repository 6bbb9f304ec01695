//! Duplicates under load: every upload announced three times (its own event and two redeliveries,
//! arriving together), and one object uploaded twice with the same bytes, with four messages worked
//! on at once. Each image is decoded once, announced once, and has one set of thumbnails.

use std::time::Duration;

use thumbnail_tests::{JpegOptions, free_port, jpeg, quadrants, sigterm};

use crate::common::metric;
use crate::reliability::rig::{Backend, Rig, report};

fn duplicates(backend: Backend) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let Some(rig) = Rig::new(
        backend,
        "dups",
        &[("concurrency", "4"), ("metrics_addr", &addr)],
    ) else {
        return;
    };
    const IMAGES: usize = 12;
    let worker = rig.start(&[]);
    let photo = |i: usize| jpeg(&quadrants(900 + i as u32 * 8, 600), &JpegOptions::default());
    for i in 0..IMAGES {
        let key = format!("dup/{i:02}.jpg");
        rig.upload(&key, &photo(i));
        rig.send_event(&key);
        rig.send_event(&key);
    }
    // The same bytes uploaded again, once the first is done: a new event, the same version.
    let twice = "dup/twice.jpg";
    rig.upload(twice, &photo(99));
    rig.wait_for("the first upload", Duration::from_secs(60), || {
        rig.has_thumbnail("dup/twice.jpg/manifest.json")
    });
    rig.upload(twice, &photo(99));
    let processed = |outcome: &str| {
        metric(
            port,
            &format!(r#"thumbnail_images_processed_total{{outcome="{outcome}"}}"#),
        )
    };
    // 12 x 3 deliveries and 2 uploads of one object: 13 made, 25 found done.
    rig.wait_for("every delivery", Duration::from_secs(120), || {
        processed("made") + processed("already_done") >= (IMAGES * 3 + 2) as f64
            && rig.queued() == 0
    });
    let decodes = metric(port, "thumbnail_processing_seconds_count");
    let (made, done) = (processed("made"), processed("already_done"));
    assert!(sigterm(worker, Duration::from_secs(30)).success());

    assert_eq!(made, (IMAGES + 1) as f64);
    assert_eq!(done, (IMAGES * 2 + 1) as f64);
    assert_eq!(decodes, (IMAGES + 1) as f64, "one decode per image");
    let keys = rig.thumbnail_keys();
    assert_eq!(keys.len(), (IMAGES + 1) * 3, "one set each: {keys:?}");
    let notifications = rig.notifications();
    assert_eq!(notifications.len(), IMAGES + 1, "one announcement each");
    report(
        "duplicates",
        backend,
        &format!(
            "duplicates ({backend:?}): {} deliveries of {} images at concurrency 4: {made} made, \
             {done} found done, {decodes} decodes, {} objects, {} notifications",
            IMAGES * 3 + 2,
            IMAGES + 1,
            keys.len(),
            notifications.len()
        ),
    );
}

on_both_backends!(duplicates);
