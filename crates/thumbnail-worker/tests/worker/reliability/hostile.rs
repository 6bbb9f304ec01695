//! Hostile and broken inputs: the corpus of `thumbnail_tests::hostile_corpus` (50 files: empty,
//! truncated, lying headers, bombs, odd colour spaces, a file past the byte limit, and good photos
//! among them) uploaded at once. Each gets exactly its expected outcome (thumbnails, or a failure
//! notification with the expected reason code and a dead letter), the worker stays up, and its peak
//! memory stays under a bound.

use std::collections::BTreeMap;
use std::time::Duration;

use thumbnail_tests::{Expect, hostile_corpus, sigterm};

use crate::reliability::rig::{Backend, Rig, peak_rss_kib, report};

/// The worker's peak RSS bound, MiB, for this corpus at concurrency 2 (measured: see the report).
const RSS_BOUND_MIB: u64 = 128;

fn hostile(backend: Backend) {
    let Some(rig) = Rig::new(
        backend,
        "hostile",
        &[("concurrency", "2"), ("memory_budget", "96")],
    ) else {
        return;
    };
    let corpus = hostile_corpus();
    assert!(corpus.len() >= 30);
    for file in &corpus {
        rig.upload(&format!("hostile/{}", file.name), &file.bytes);
    }
    let worker = rig.start(&[]);
    let failed = |rig: &Rig| -> BTreeMap<String, String> {
        rig.notifications()
            .iter()
            .filter_map(|n| {
                let subject = n["subject"].as_str()?;
                let key = subject.strip_prefix("Thumbnails failed: hostile/")?;
                Some((key.to_owned(), n["data"]["reason"].as_str()?.to_owned()))
            })
            .collect()
    };
    let settled = |rig: &Rig| {
        let keys = rig.thumbnail_keys();
        let failed = failed(rig);
        corpus.iter().all(|file| {
            keys.contains(&format!("hostile/{}/manifest.json", file.name))
                || failed.contains_key(&file.name)
        }) && rig.queued() == 0
    };
    rig.wait_for("every file's outcome", Duration::from_secs(240), || {
        settled(&rig)
    });
    let peak_mib = peak_rss_kib(worker.id()) / 1024;
    assert!(
        sigterm(worker, Duration::from_secs(30)).success(),
        "the worker died"
    );

    let failed = failed(&rig);
    let keys = rig.thumbnail_keys();
    let dead = rig.dead_letters();
    let mut lines = Vec::new();
    for file in &corpus {
        let made = keys.contains(&format!("hostile/{}/profile.jpg", file.name));
        let outcome = match (file.expect, failed.get(&file.name)) {
            (Expect::Thumbnails, None) => {
                assert!(made, "{}: no thumbnail", file.name);
                let thumbnail = rig.thumbnail(&format!("hostile/{}/profile.jpg", file.name));
                let image = image::load_from_memory(&thumbnail).unwrap();
                assert_eq!((image.width(), image.height()), (128, 128), "{}", file.name);
                "thumbnails".to_owned()
            }
            (Expect::Fails(expected), Some(reason)) => {
                assert_eq!(reason, expected, "{}", file.name);
                assert!(!made, "{}: a thumbnail of a failure", file.name);
                assert!(
                    dead.iter()
                        .any(|d| d.contains(&format!("hostile/{}", file.name))),
                    "{} is not in the dead-letter queue: {dead:?}",
                    file.name
                );
                reason.clone()
            }
            (expect, got) => panic!("{}: expected {expect:?}, got {got:?}", file.name),
        };
        lines.push(format!("  {:<28} {:<18} {}", file.name, outcome, file.what));
    }
    assert!(
        peak_mib < RSS_BOUND_MIB,
        "peak RSS {peak_mib} MiB, over the {RSS_BOUND_MIB} MiB bound"
    );
    report(
        "hostile",
        backend,
        &format!(
            "hostile inputs ({backend:?}): {} files, worker up throughout, peak RSS {peak_mib} MiB \
             (bound {RSS_BOUND_MIB}), {} dead letters\n{}",
            corpus.len(),
            dead.len(),
            lines.join("\n")
        ),
    );
}

on_both_backends!(hostile);
