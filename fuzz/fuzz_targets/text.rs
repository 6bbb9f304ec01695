//! Any text the worker reads from outside, or back from its own storage, through every parser of it:
//!
//! - a message body (S3 event, SNS envelope, test event) as SQS delivers it, the same wrapped in an
//!   SNS envelope, as a raw object key, and as a Lambda invocation (an SQS batch, SNS messages or an
//!   S3 event, whose bodies are then parsed as the function does);
//! - the settings: each line as a `--set KEY=VALUE`, and the whole text as the TOML settings file;
//!   each line as a preset definition, and as a size, fit, gravity, format list and tolerance;
//! - owner rules (first line), applied to a key (second line) and an owner in metadata (third);
//! - a signed link: any key, expiry and signature must fail to verify; a link signed for the text
//!   as a key must verify once its path and query are decoded as the console does;
//! - JSON read back from storage: a manifest, a local queue's spool record, a local object's
//!   metadata file.
//!
//! Each must answer with a value or an error, never a panic, and keep the properties checked below.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use thumbnail_config::Settings;
use thumbnail_core::{FailOn, Fit, Formats, Gravity, Presets, Size};
use thumbnail_events::lambda::Invocation;
use thumbnail_events::{Message, Record, decode_key, parse};
use thumbnail_pipeline::{Manifest, OWNER_METADATA, OwnerRules, check_owner};
use thumbnail_queue::{LocalQueue, Queue, ReceiveOptions};
use thumbnail_storage::links::LinkSigner;
use thumbnail_storage::{LocalStore, ObjectKey, ObjectStore};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    events(text);
    settings(text);
    owners(text);
    links(text);
    stored(text);
});

fn events(text: &str) {
    let _ = decode_key(text);
    let envelope = serde_json::json!({"Type": "Notification", "Message": text}).to_string();
    for body in [text, envelope.as_str()] {
        if let Ok(message) = parse(body) {
            check(&message);
        }
    }
    let Ok(event) = serde_json::from_str(text) else {
        return;
    };
    match Invocation::from_json(event) {
        Ok(Invocation::Sqs(batch)) => {
            for record in batch.records {
                if let Ok(message) = parse(record.body.as_deref().unwrap_or_default()) {
                    check(&message);
                }
            }
        }
        Ok(Invocation::Sns(event)) => {
            for record in event.records {
                if let Ok(message) = parse(&record.sns.message) {
                    check(&message);
                }
            }
        }
        Ok(Invocation::S3 {
            message: Ok(message),
            ..
        }) => check(&message),
        Ok(Invocation::S3 { .. }) | Err(_) => {}
    }
}

/// Every created object a parser returns names a bucket and a valid key.
fn check(message: &Message) {
    for record in &message.records {
        if let Record::Created(object) = record {
            assert!(!object.key.as_str().is_empty());
            assert!(ObjectKey::new(object.key.as_str()).is_ok());
            assert!(!object.bucket.is_empty());
        }
    }
}

fn settings(text: &str) {
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Ok(settings) = Settings::load(None, std::iter::empty(), &lines) {
        let _ = (settings.pipeline_config(), settings.sizing());
        let _ = (settings.preset_names(), settings.console_base());
    }
    let file = scratch().join("settings.toml");
    std::fs::write(&file, text).expect("the scratch folder is writable");
    let _ = Settings::load(Some(&file), std::iter::empty(), &[]);

    let mut presets = Presets::builtin();
    let template = presets.require("profile").expect("built in").clone();
    for line in text.lines() {
        let _ = presets.define(line, &template);
        let _ = (
            line.parse::<Size>(),
            line.parse::<Fit>(),
            line.parse::<Gravity>(),
        );
        let _ = (line.parse::<Formats>(), line.parse::<FailOn>());
    }
}

fn owners(text: &str) {
    let mut lines = text.lines();
    let Ok(rules) = lines.next().unwrap_or_default().parse::<OwnerRules>() else {
        return;
    };
    // What the rules print (in the log, in `setup`'s filter policy) reads back as the same rules.
    assert_eq!(rules.to_string().parse::<OwnerRules>().as_ref(), Ok(&rules));
    let key = lines.next().unwrap_or_default();
    let metadata = BTreeMap::from([(
        OWNER_METADATA.to_owned(),
        lines.next().unwrap_or_default().to_owned(),
    )]);
    for metadata in [None, Some(&metadata)] {
        if let Some(owner) = rules.owner(key, metadata) {
            assert_eq!(check_owner(&owner), Ok(()), "{owner:?}");
        }
    }
}

fn links(text: &str) {
    let signer = LinkSigner::new("http://127.0.0.1:8080", [7; 32]);
    let (key, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (expires, signature) = rest.split_once('\n').unwrap_or((rest, ""));
    let expires = expires.parse().unwrap_or(u64::MAX);
    assert!(
        signer
            .verify(key, expires, signature, SystemTime::now())
            .is_err(),
        "a link no one signed verified: {key:?} {expires} {signature:?}"
    );
    let Ok(key) = ObjectKey::new(text) else {
        return;
    };
    let link = url::Url::parse(&signer.sign(&key, Duration::from_secs(60))).expect("a URL");
    let path = link
        .path()
        .strip_prefix(thumbnail_storage::links::FILES_PATH)
        .expect("under /files/");
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .expect("UTF-8");
    assert_eq!(decoded, key.as_str());
    let query: BTreeMap<_, _> = link.query_pairs().into_owned().collect();
    let expires = query["expires"].parse().expect("a number");
    assert_eq!(
        signer.verify(&decoded, expires, &query["signature"], SystemTime::now()),
        Ok(())
    );
}

fn stored(text: &str) {
    if let Ok(manifest) = serde_json::from_str::<Manifest>(text) {
        let again: Manifest =
            serde_json::from_str(&serde_json::to_string(&manifest).expect("serialises"))
                .expect("reads back");
        assert_eq!(again, manifest);
        let _ = manifest.covers(text, text);
    }
    // The stores' files are JSON objects: other text is left to the parsers above, which need no
    // files and run many times faster.
    if !text.trim_start().starts_with('{') {
        return;
    }
    let runtime = runtime();
    // A spool record as found on disk: delivered, or set aside as unreadable; never lost.
    let (queue, spool) = spool();
    let record = queue.join("messages/0000000000001-record.json");
    let unreadable = queue.join("unreadable/0000000000001-record.json");
    let _ = std::fs::remove_file(&unreadable);
    std::fs::write(&record, text).expect("writable");
    let options = ReceiveOptions {
        wait: Duration::ZERO,
        ..ReceiveOptions::default()
    };
    let received = runtime.block_on(spool.receive(&options));
    let (kept, set_aside) = (record.exists(), unreadable.exists());
    assert!(kept != set_aside, "a record lost, or in two places");
    if let Ok(deliveries) = received {
        assert!(deliveries.len() <= 1 && (deliveries.is_empty() || kept));
    }
    // An object's metadata file, whatever it holds, never changes what its data file is.
    let (bucket, store) = bucket();
    std::fs::write(bucket.join(".thumbnail-meta/photo.jpg.json"), text).expect("writable");
    let key = ObjectKey::new("photo.jpg").expect("a key");
    let info = runtime.block_on(store.head(&key));
    assert_eq!(info.expect("readable").expect("present").size, 5);
}

/// A local queue in the scratch folder, opened once.
fn spool() -> &'static (PathBuf, LocalQueue) {
    static QUEUE: OnceLock<(PathBuf, LocalQueue)> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let dir = scratch().join("queue");
        let queue = LocalQueue::open(&dir).expect("a queue in the scratch folder");
        (dir, queue)
    })
}

/// A local bucket in the scratch folder holding `photo.jpg` (5 bytes), opened once.
fn bucket() -> &'static (PathBuf, LocalStore) {
    static BUCKET: OnceLock<(PathBuf, LocalStore)> = OnceLock::new();
    BUCKET.get_or_init(|| {
        let dir = scratch().join("bucket");
        std::fs::create_dir_all(dir.join(".thumbnail-meta")).expect("writable");
        std::fs::write(dir.join("photo.jpg"), b"12345").expect("writable");
        let store = LocalStore::new(&dir).expect("a store in the scratch folder");
        (dir, store)
    })
}

/// This process's scratch folder.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/scratch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}
