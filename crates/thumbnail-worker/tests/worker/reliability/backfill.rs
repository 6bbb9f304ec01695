//! Backfill, as an operator uses it: images made with one preset list, the presets changed, then
//! `backfill --dry-run`, `backfill --prefix`, and `backfill` until it finds nothing left to do, on
//! both backends.

use std::process::Output;
use std::time::{Duration, Instant};

use thumbnail_tests::{JpegOptions, jpeg, quadrants};

use crate::reliability::rig::{Backend, Rig, report, tail};

const BEFORE: &str = "presets=profile";
const AFTER: &str = "presets=profile,wide=300x";

fn backfill_suite(backend: Backend) {
    let Some(rig) = Rig::new(backend, "backfill", &[("presets", "profile")]) else {
        return;
    };
    let keys = [
        "old/0.jpg",
        "old/1.jpg",
        "old/2.jpg",
        "new/3.jpg",
        // The same name but for its extension (a phone's IMG_0001.HEIC beside IMG_0001.JPG): its
        // own thumbnails and manifest, or backfill would find one of the two undone for ever.
        "new/3.png",
    ];
    for (i, key) in keys.iter().enumerate() {
        let photo = jpeg(&quadrants(320 + i as u32 * 8, 240), &JpegOptions::default());
        rig.upload(key, &photo);
    }
    let run = |presets: &str| {
        let mut worker = rig.spawn(&["run", "--exit-when-idle", "--set", presets]);
        let status = rig.wait_exit(&mut worker, Duration::from_secs(120));
        assert!(status.success(), "{status}\n{}", tail(&rig.logs(), 40));
    };
    let backfill = |presets: &str, args: &[&str]| -> (String, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = rig
            .worker(&[&["backfill", "--set", presets], args].concat())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8(stdout).unwrap(),
            String::from_utf8(stderr).unwrap(),
        );
        assert!(status.success(), "{status}\n{stderr}");
        (stdout, stderr)
    };
    let wide = |rig: &Rig| {
        let keys = rig.thumbnail_keys();
        let mut made: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_suffix("/wide.jpg").map(str::to_owned))
            .collect();
        made.sort();
        made
    };

    run(BEFORE);
    assert_eq!(
        rig.thumbnail_keys().len(),
        keys.len() * 2,
        "profile and manifest each"
    );
    let (stdout, stderr) = backfill(BEFORE, &["--dry-run"]);
    assert_eq!(
        stdout, "",
        "nothing to do with the presets it was made with"
    );
    assert!(
        stderr.contains("5 listed, 0 would be queued, 5 already made"),
        "{stderr}"
    );

    // The presets change: every image needs doing again. A dry run says so and queues nothing.
    let (stdout, stderr) = backfill(AFTER, &["--dry-run"]);
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stderr}");
    assert_eq!(rig.queued(), 0, "a dry run queues nothing");

    // A prefix, at 4 a second: three messages take at least half a second.
    let started = Instant::now();
    let (_, stderr) = backfill(AFTER, &["--prefix", "old/", "--rate", "4"]);
    let paced = started.elapsed();
    assert!(
        stderr.contains("3 listed, 3 queued, 0 already made"),
        "{stderr}"
    );
    assert!(paced >= Duration::from_millis(500), "{paced:?}");
    run(AFTER);
    assert_eq!(wide(&rig), ["old/0.jpg", "old/1.jpg", "old/2.jpg"]);

    let (_, stderr) = backfill(AFTER, &[]);
    assert!(
        stderr.contains("5 listed, 2 queued, 3 already made"),
        "{stderr}"
    );
    run(AFTER);
    assert_eq!(wide(&rig).len(), keys.len());
    let (_, again) = backfill(AFTER, &[]);
    assert!(
        again.contains("5 listed, 0 queued, 5 already made"),
        "{again}"
    );

    // Each image announced once when uploaded and once when its presets changed.
    let ready = rig
        .notifications()
        .iter()
        .filter(|n| n["subject"].as_str().unwrap().contains("ready"))
        .count();
    assert_eq!(ready, keys.len() * 2);
    report(
        "backfill",
        backend,
        &format!(
            "backfill ({backend:?}): 5 images made with one preset; presets changed; --dry-run \
             listed 5 and queued none; --prefix old/ --rate 4 queued 3 in {:.2} s; then 2; the \
             last run: {}; announcements {ready}",
            paced.as_secs_f64(),
            again
                .trim()
                .rsplit_once(": ")
                .map_or(again.trim(), |(_, s)| s)
        ),
    );
}

on_both_backends!(backfill_suite);
