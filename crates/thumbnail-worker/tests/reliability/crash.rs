//! Crash suite: uploads, then `kill -9` of the worker at random moments, restarted each time; in the
//! end every image has all its thumbnails, every good one was announced, every corrupt one is in the
//! dead-letter queue, and the queue is empty.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, jpeg, quadrants, sigterm};

use crate::rig::{Backend, Random, Rig, report};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn crash_suite(backend: Backend) {
    let Some(rig) = Rig::new(
        backend,
        "crash",
        &[("visibility", "2"), ("concurrency", "2")],
    ) else {
        return;
    };
    let images = setting("TEST_THUMBNAIL_CRASH_IMAGES", 200);
    let kills = setting("TEST_THUMBNAIL_CRASH_KILLS", 5);
    // One in 40 is corrupt: it must end in the dead-letter queue, not stall the others.
    let corrupt = |i: usize| i % 40 == 7;
    let key = |i: usize| format!("crash/{i:04}");
    for i in 0..images {
        let bytes = jpeg(
            &quadrants(640 + (i % 16) as u32 * 8, 480),
            &JpegOptions::default(),
        );
        let bytes = if corrupt(i) {
            &bytes[..1500]
        } else {
            &bytes[..]
        };
        rig.upload(&format!("{}.jpg", key(i)), bytes);
    }
    let good = (0..images).filter(|&i| !corrupt(i)).count();
    let made = |rig: &Rig| {
        rig.thumbnail_keys()
            .iter()
            .filter(|k| k.ends_with("/manifest.json"))
            .count()
    };

    let mut random = Random::new();
    let seed = random.0;
    let mut moments = Vec::new();
    let start = Instant::now();
    while moments.len() < kills {
        let mut worker = rig.start(&[]);
        let moment = Duration::from_millis(random.between(200..2000));
        std::thread::sleep(moment);
        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
        let done = made(&rig);
        assert!(
            done < good,
            "all {good} images were done before kill {} (seed {seed}): use more images",
            moments.len() + 1
        );
        moments.push((moment, done));
    }

    let last = rig.start(&[]);
    rig.wait_for(
        "every image and an empty queue",
        Duration::from_secs(120 + images as u64),
        || made(&rig) == good && rig.dead_letters().len() >= images - good && rig.queued() == 0,
    );
    let elapsed = start.elapsed();
    assert!(sigterm(last, Duration::from_secs(30)).success());

    // Every good image has its thumbnails, and they decode; no corrupt one has any.
    let keys = rig.thumbnail_keys();
    let mut expected = 0;
    for i in 0..images {
        for name in ["profile.jpg", "wide.jpg", "manifest.json"] {
            let thumbnail = format!("{}/{name}", key(i));
            if corrupt(i) {
                assert!(!keys.contains(&thumbnail), "{thumbnail}");
            } else {
                expected += 1;
                assert!(keys.contains(&thumbnail), "{thumbnail} is missing");
            }
        }
    }
    assert_eq!(keys.len(), expected, "no stray objects");
    image::load_from_memory(&rig.thumbnail(&format!("{}/profile.jpg", key(0)))).unwrap();

    // Every image announced at least once: ready for the good ones, failed for the corrupt ones.
    let mut announced: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for notification in rig.notifications() {
        let subject = notification["subject"].as_str().unwrap().to_owned();
        let source = subject.rsplit_once(": ").unwrap().1.to_owned();
        let entry = announced.entry(source).or_insert((0, subject));
        entry.0 += 1;
    }
    for i in 0..images {
        let source = format!("{}.jpg", key(i));
        let (_, subject) = announced
            .get(&source)
            .unwrap_or_else(|| panic!("{source} was never announced"));
        let expected = if corrupt(i) { "failed" } else { "ready" };
        assert!(subject.contains(expected), "{subject}");
    }
    let notifications: usize = announced.values().map(|(n, _)| n).sum();
    let dead = rig.dead_letters();
    assert!(
        dead.iter().all(|reason| reason.contains("corrupt")),
        "{dead:?}"
    );

    report(
        "crash",
        backend,
        &format!(
            "crash suite ({backend:?}): {images} images ({good} good, {} corrupt), {} kill -9 at {:?} ms \
             (images done by then: {:?}), seed {seed}; thumbnails expected {expected}, found {}; \
             notifications {notifications} ({} duplicates); dead letters {} ({} duplicates); lost 0; \
             queue left {}; {:.1} s in all",
            images - good,
            moments.len(),
            moments
                .iter()
                .map(|(m, _)| m.as_millis())
                .collect::<Vec<_>>(),
            moments.iter().map(|(_, d)| d).collect::<Vec<_>>(),
            keys.len(),
            notifications - announced.len(),
            dead.len(),
            dead.len() - (images - good),
            rig.queued(),
            elapsed.as_secs_f64(),
        ),
    );
}

on_both_backends!(crash_suite);
