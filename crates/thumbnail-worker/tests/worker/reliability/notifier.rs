//! A notifier down: the webhook beside the backend's own notifier refuses every connection, for the
//! whole run, with 2 receives allowed. Each upload's thumbnails are made on the first receive, but
//! its notice cannot be delivered (so no manifest is written: it would say "made and announced"),
//! and the message is released to be tried again; on the second receive the worker gives up, and
//! the message goes to the dead letters with its reason and the fact that it was not announced,
//! rather than coming back for ever (issue 38 #4: with the webhook down, one message was once
//! received 9 times and never dead-lettered).

use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, free_port, jpeg, quadrants, sigterm};

use crate::reliability::rig::{Backend, Rig, report, tail};

fn notifier_down(backend: Backend) {
    // Nothing listens there: every POST is refused, a failure the notifier calls transient.
    let webhook = format!("http://127.0.0.1:{}/hook", free_port());
    let Some(rig) = Rig::new(
        backend,
        "notifier",
        &[
            ("max_receives", "2"),
            ("webhook_url", &webhook),
            ("webhook_secret", "a secret to sign with"),
        ],
    ) else {
        return;
    };
    const IMAGES: usize = 3;
    let started = Instant::now();
    let worker = rig.start(&[]);
    for i in 0..IMAGES {
        rig.upload(
            &format!("n/{i}.jpg"),
            &jpeg(&quadrants(640 + i as u32 * 8, 480), &JpegOptions::default()),
        );
    }
    rig.wait_for(
        "every upload dead-lettered",
        Duration::from_secs(120),
        || rig.dead_letters().len() >= IMAGES && rig.queued() == 0,
    );
    let settled = started.elapsed();
    assert!(sigterm(worker, Duration::from_secs(30)).success());

    let logs = rig.logs();
    let mut dead = rig.dead_letters();
    dead.sort();
    assert_eq!(dead.len(), IMAGES, "{dead:?}");
    for (i, reason) in dead.iter().enumerate() {
        assert!(
            reason.contains(&format!(
                "n/{i}.jpg: received 2 times without being settled"
            )) && reason.contains("not announced"),
            "{reason}\n{}",
            tail(&logs, 30)
        );
        // Nothing lost: the thumbnails were made on the first receive and stay; the manifest,
        // written last, would say "made and announced", and so is not there.
        assert!(rig.has_thumbnail(&format!("n/{i}.jpg/profile.jpg")));
        assert!(rig.has_thumbnail(&format!("n/{i}.jpg/wide.jpg")));
        assert!(!rig.has_thumbnail(&format!("n/{i}.jpg/manifest.json")));
    }
    // Received twice each: tried once more after the first failure, and no more.
    let retried = logs.matches("will retry").count();
    assert_eq!(retried, IMAGES, "{}", tail(&logs, 40));
    // The backend's own notifier still works: it carried each give-up notice.
    let given_up = rig
        .notifications()
        .iter()
        .filter(|n| n["data"]["reason"] == "too_many_receives")
        .count();
    assert_eq!(given_up, IMAGES);
    report(
        "notifier",
        backend,
        &format!(
            "notifier ({backend:?}): webhook refusing every connection, 2 receives allowed: \
             thumbnails of {IMAGES} of {IMAGES} uploads made (no manifest), retried once, \
             dead-lettered as not announced, \
             queue empty after {:.1} s",
            settled.as_secs_f64()
        ),
    );
}

on_both_backends!(notifier_down);
