//! Crash suite: uploads, then `kill -9` of the worker at random moments (or after a random few
//! images, whichever comes first), restarted each time; then
//! `run --exit-when-idle`, which must not exit before every image has all its thumbnails, every good
//! one was announced, every corrupt one is in the dead-letter queue, and the queue is empty.
//!
//! On the local backend the visibility timeout is the default 120 s: what the killed workers held
//! comes back at once (their locks died with them), so the last run finishes in seconds, not minutes.
//! SQS cannot know a receiver died: there the timeout is 2 s, and `--exit-when-idle` waits for it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, jpeg, quadrants};

use crate::reliability::rig::{Backend, Random, Rig, report, tail};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn crash_suite(backend: Backend) {
    let visibility = match backend {
        Backend::Local => "120",
        Backend::Aws => "2",
    };
    let images = setting("TEST_THUMBNAIL_CRASH_IMAGES", 200);
    let kills = setting("TEST_THUMBNAIL_CRASH_KILLS", 5);
    // An image in flight at every kill is received once a run: with the default 5 receives it
    // would be dead-lettered as a poison message on the last run (as it should be, in
    // production), which is not what this suite tests. Seen twice in 20 idle soak runs on SQS,
    // whose order hands the same first messages to each new worker.
    let receives = (kills + 2).to_string();
    let Some(rig) = Rig::new(
        backend,
        "crash",
        &[
            ("visibility", visibility),
            ("concurrency", "2"),
            ("max_receives", &receives),
        ],
    ) else {
        return;
    };
    // One in 40 is corrupt: it must end in the dead-letter queue, not stall the others.
    let corrupt = |i: usize| i % 40 == 7;
    let key = |i: usize| format!("crash/{i:04}.jpg");
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
        rig.upload(&key(i), bytes);
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
        let before = made(&rig);
        let mut worker = rig.start(&[]);
        // A random moment 0.2-2 s in, or once a random 3-20 more images are done, whichever
        // comes first: however fast the worker, the kills land while work remains.
        let (limit, progress) = (
            Duration::from_millis(random.between(200..2000)),
            before + random.between(3..20) as usize,
        );
        let started = Instant::now();
        while started.elapsed() < limit && made(&rig) < progress {
            std::thread::sleep(Duration::from_millis(20));
        }
        let moment = started.elapsed();
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

    let last_started = Instant::now();
    let mut last = rig.spawn(&["run", "--exit-when-idle"]);
    // Well under the local visibility timeout: the leases of the dead must not be waited out.
    let status = rig.wait_exit(&mut last, Duration::from_secs(60 + images as u64 / 4));
    let (elapsed, last_run) = (start.elapsed(), last_started.elapsed());
    assert!(status.success(), "{status}\n{}", tail(&rig.logs(), 40));
    assert_eq!(made(&rig), good, "exited before every image was done");
    assert_eq!(rig.queued(), 0, "exited with messages left");

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
        let source = key(i);
        let (_, subject) = announced
            .get(&source)
            .unwrap_or_else(|| panic!("{source} was never announced"));
        let expected = if corrupt(i) { "failed" } else { "ready" };
        assert!(subject.contains(expected), "{subject}");
    }
    let notifications: usize = announced.values().map(|(n, _)| n).sum();
    let dead = rig.dead_letters();
    assert!(
        dead.len() >= images - good && dead.iter().all(|reason| reason.contains("corrupt")),
        "{dead:?}"
    );

    report(
        "crash",
        backend,
        &format!(
            "crash suite ({backend:?}): {images} images ({good} good, {} corrupt), {} kill -9 at {:?} ms \
             (images done by then: {:?}), seed {seed}; thumbnails expected {expected}, found {}; \
             notifications {notifications} ({} duplicates); dead letters {} ({} duplicates); lost 0; \
             queue left {}; {:.1} s in all, the last run --exit-when-idle {:.1} s",
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
            last_run.as_secs_f64(),
        ),
    );
}

on_both_backends!(crash_suite);
