//! Keys and paths, end to end: uploads whose keys hold spaces, `+`, `%`, a literal `%2B`, NFC and
//! NFD accents (two different keys), emoji and over 1000 bytes get thumbnails under exactly their
//! own name; events naming keys that could walk out of a folder or break a log line (leading `/`,
//! `./`, `../`, `//`, control characters) and a key whose thumbnail keys would pass S3's 1024
//! bytes are announced as failed under their own name, with the rule they break, and nothing is
//! written for them.

use std::time::Duration;

use thumbnail_tests::{JpegOptions, jpeg, quadrants, sigterm};

use crate::reliability::rig::{Backend, Rig, report};

/// A key of `len` bytes under `keys/long/`, in segments of at most 200 bytes (a local file name
/// holds at most 255), ending in `.jpg`.
fn long_key(len: usize) -> String {
    let mut key = "keys/long/".to_owned();
    while len - key.len() > 204 {
        key.push_str(&"k".repeat(199));
        key.push('/');
    }
    key.push_str(&"k".repeat(len - key.len() - 4));
    key.push_str(".jpg");
    key
}

fn keys(backend: Backend) {
    let Some(rig) = Rig::new(backend, "keys", &[("concurrency", "2")]) else {
        return;
    };
    let good = [
        "keys/with space.jpg".to_owned(),
        "keys/plus+sign.jpg".to_owned(),
        "keys/100%.jpg".to_owned(),
        "keys/literal%2B.jpg".to_owned(),
        "keys/caf\u{e9}.jpg".to_owned(),   // NFC
        "keys/cafe\u{301}.jpg".to_owned(), // NFD: another key
        "keys/\u{1F4F7} camera.jpg".to_owned(),
        // The longest that fits: `<1010 bytes>/manifest.json` is S3's 1024.
        long_key(1010),
    ];
    // One byte more: its manifest's key would be 1025 bytes, too long for S3.
    let too_long = long_key(1011);
    let refused = [
        "/leading-slash.jpg",
        "./dot.jpg",
        "../escape.jpg",
        "keys/../../escape.jpg",
        "keys//double.jpg",
        "keys/new\nline.jpg",
        "keys/tab\there.jpg",
        "keys/nul\0.jpg",
    ];
    let photo = jpeg(&quadrants(400, 300), &JpegOptions::default());
    for key in good.iter().chain([&too_long]) {
        rig.upload(key, &photo);
    }
    for key in refused {
        rig.send_event(key);
    }
    let worker = rig.start(&[]);
    let expected_notifications = good.len() + 1 + refused.len();
    rig.wait_for("every key's outcome", Duration::from_secs(120), || {
        rig.notifications().len() >= expected_notifications && rig.queued() == 0
    });
    assert!(sigterm(worker, Duration::from_secs(30)).success());

    let notifications = rig.notifications();
    assert_eq!(notifications.len(), expected_notifications);
    let thumbnails = rig.thumbnail_keys();
    let mut lines = Vec::new();
    for key in &good {
        for name in ["profile.jpg", "wide.jpg", "manifest.json"] {
            let thumbnail = format!("{key}/{name}");
            assert!(thumbnails.contains(&thumbnail), "{thumbnail:?} missing");
        }
        let ready = notifications
            .iter()
            .find(|n| n["data"]["source"]["key"] == **key);
        let ready = ready.unwrap_or_else(|| panic!("{key:?} not announced"));
        assert!(
            ready["subject"]
                .as_str()
                .unwrap()
                .starts_with("Thumbnails ready")
        );
        lines.push(format!(
            "  {:<40} thumbnails under its own name",
            shown(key)
        ));
    }
    assert_eq!(thumbnails.len(), good.len() * 3, "{thumbnails:#?}");

    // Every refused key is announced under its own name, with the rule it breaks.
    let failure = |key: &str| {
        let notification = notifications
            .iter()
            .find(|n| n["data"]["source"]["key"] == *key)
            .unwrap_or_else(|| panic!("{key:?} is not announced: {notifications:#?}"));
        assert!(
            notification["subject"]
                .as_str()
                .unwrap()
                .starts_with("Thumbnails failed: "),
            "{notification}"
        );
        (
            notification["data"]["reason"].as_str().unwrap(),
            notification["data"]["error"].as_str().unwrap(),
        )
    };
    // The too-long key's error names the thumbnail key that cannot be.
    let (reason, error) = failure(&too_long);
    assert_eq!(reason, "invalid_key", "{error}");
    assert!(error.contains("at most 1024 bytes"), "{error}");
    lines.push(format!(
        "  {:<40} {reason}: {}",
        shown(&too_long),
        rule(error)
    ));
    for key in refused {
        let (reason, error) = failure(key);
        assert_eq!(reason, "invalid_key", "{key:?}: {error}");
        assert!(error.contains("a key cannot"), "{key:?}: {error}");
        lines.push(format!("  {:<40} {reason}: {}", shown(key), rule(error)));
    }
    assert_eq!(rig.dead_letters().len(), 1 + refused.len());
    report(
        "keys",
        backend,
        &format!(
            "keys ({backend:?}): {} processed under their own name, {} refused with the rule\n{}",
            good.len(),
            refused.len() + 1,
            lines.join("\n")
        ),
    );
}

/// A key as the report shows it: escaped, long ones shortened.
fn shown(key: &str) -> String {
    let escaped = key.escape_debug().to_string();
    if escaped.len() > 36 {
        format!("{}... ({} bytes)", &escaped[..20], key.len())
    } else {
        format!("{escaped:?}")
    }
}

/// The rule an error message names (after the key).
fn rule(error: &str) -> &str {
    error.rsplit(": ").next().unwrap_or(error)
}

on_both_backends!(keys);
