//! `setup` then `run` against an S3/SQS/SNS-compatible server (moto, started by `scripts/test`):
//! uploads through the S3 API into a bucket shared with the thumbnails (under a prefix),
//! notifications read through an SQS queue subscribed to the topic, presigned links downloaded over
//! HTTP, the corrupt upload in the dead-letter queue, a duplicate upload done once, an upload under
//! the prefix ignored, SIGTERM; and a worker killed with SIGKILL mid-batch, then restarted.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use thumbnail_tests::{
    EXTENDED_OUTPUTS, EXTENDED_PRESETS, JpegOptions, extended_thumbnails, free_port, jpeg,
    quadrants, sigterm,
};

use crate::common;

fn worker(env: &BTreeMap<String, String>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"));
    command.args(args).envs(env);
    command
}

/// Runs the worker with `args` to the end, which must be a success: (stdout, stderr).
fn succeed(env: &BTreeMap<String, String>, args: &[&str]) -> (String, String) {
    let output = worker(env, args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{args:?}: {stderr}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// Runs `setup` twice (the second must change nothing and succeed) for a test's own resources
/// ([`common::aws_settings`]), with `extra` settings on top, and returns the settings to run
/// with, what setup printed included.
fn set_up(name: &str, n: &str, extra: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut env = common::aws_settings(name, n);
    env.insert("THUMBNAIL_PRESETS".into(), "profile,wide=300x".into());
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    common::set_up(&mut env);
    env
}

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, bytes: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap();
}

/// Whether `bucket` holds `key`. Only S3's "not found" means absent: any other error (a wrong
/// bucket, a server down) fails the test, so that an assert that a key is absent cannot pass for
/// the wrong reason.
async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => false,
        Err(e) => panic!("HEAD {bucket}/{key}: {e:?}"),
    }
}

/// Sends SIGTERM and expects a clean exit within 15 s.
async fn terminate(running: std::process::Child) {
    let status = tokio::task::spawn_blocking(move || sigterm(running, Duration::from_secs(15)))
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// One value of the worker's `/metrics`, 0 when absent.
async fn metric(port: u16, name: &str) -> f64 {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || common::metric(port, &name))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_then_run_on_aws() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let port = free_port();
    // One bucket for uploads and thumbnails: every thumbnail written raises an event too.
    let env = set_up(
        "media",
        &n,
        &[
            ("THUMBNAIL_DEST_BUCKET", format!("media-up-{n}")),
            ("THUMBNAIL_DEST_PREFIX", "thumbs".to_owned()),
            ("THUMBNAIL_VISIBILITY", "10".to_owned()),
            ("THUMBNAIL_METRICS_ADDR", format!("127.0.0.1:{port}")),
        ],
    );
    let topic_arn = env["THUMBNAIL_TOPIC"].clone();
    assert!(topic_arn.starts_with("arn:aws:sns:"), "{env:?}");

    // A subscriber: an SQS queue on the topic, as an application would read the JSON.
    let inbox =
        thumbnail_test_aws::subscribed_queue(&config, &topic_arn, &format!("inbox-{n}")).await;
    let sqs = aws_sdk_sqs::Client::new(&config);

    let running = worker(&env, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let s3 = s3_client(&config);
    let bucket = &env["THUMBNAIL_SOURCE_BUCKET"];
    let good = jpeg(&quadrants(800, 600), &JpegOptions::default());
    for (key, bytes) in [
        ("photos/My Photo é+1.jpg", good.clone()),
        ("broken.jpg", good[..2000].to_vec()),
        ("dup.jpg", good.clone()),
        ("dup.jpg", good.clone()),
        ("thumbs/intruder.jpg", good.clone()),
    ] {
        put(&s3, bucket, key, bytes).await;
    }

    // Three notifications: two made, one failed; the duplicate upload is not announced twice.
    let mut received: Vec<(String, serde_json::Value)> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90)
        && (received.len() < 3 || start.elapsed() < Duration::from_secs(8))
    {
        received.extend(receive(&config, &inbox).await);
    }
    let mut subjects: Vec<&str> = received.iter().map(|(s, _)| s.as_str()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Thumbnails failed: broken.jpg",
            "Thumbnails ready: dup.jpg",
            "Thumbnails ready: photos/My Photo ?+1.jpg"
        ]
    );

    // The presigned links download over plain HTTP and decode to the right sizes.
    let (_, ready) = received
        .iter()
        .find(|(s, _)| s.contains("My Photo"))
        .unwrap();
    for (index, expected) in [(0, (128, 128)), (1, (300, 225))] {
        let thumbnail = &ready["thumbnails"][index];
        assert_eq!(thumbnail["content_type"], "image/jpeg");
        let url = thumbnail["url"].as_str().unwrap().to_owned();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let bytes =
            tokio::task::spawn_blocking(move || thumbnail_storage::conformance::fetch(&url))
                .await
                .unwrap();
        let image = image::load_from_memory(&bytes).unwrap();
        assert_eq!((image.width(), image.height()), expected);
    }
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("thumbs/photos/My Photo é+1.jpg/profile.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/jpeg"));

    // The corrupt upload waits in the dead-letter queue with its reason.
    let dead = sqs
        .receive_message()
        .queue_url(&env["THUMBNAIL_DLQ"])
        .message_attribute_names("All")
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let reason = dead.messages()[0].message_attributes().unwrap()["thumbnail-failure-reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("broken.jpg") && reason.contains("corrupt"),
        "{reason}"
    );

    // Nothing under the prefix was a source: neither the upload there nor our own thumbnails, whose
    // events (2 images x 3 objects, and the intruder) were all recognised. The duplicate upload
    // was found done: two images made, one decode each.
    let ours = r#"thumbnail_images_processed_total{outcome="ours"}"#;
    let start = Instant::now();
    while metric(port, ours).await < 7.0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "ours: {}",
            metric(port, ours).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.contains(&"thumbs/dup.jpg/profile.jpg"), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.starts_with("thumbs/thumbs/")),
        "{keys:?}"
    );
    let made = r#"thumbnail_images_processed_total{outcome="made"}"#;
    assert_eq!(metric(port, made).await, 2.0);
    let done = r#"thumbnail_images_processed_total{outcome="already_done"}"#;
    assert_eq!(metric(port, done).await, 1.0);
    assert_eq!(
        metric(port, "thumbnail_processing_seconds_count").await,
        2.0
    );
    assert!(metric(port, "thumbnail_receive_latency_seconds_count").await >= 11.0);

    terminate(running).await;
}

/// The notifications waiting in the subscribed queue `url`, as (subject, data).
async fn receive(config: &aws_config::SdkConfig, url: &str) -> Vec<(String, serde_json::Value)> {
    thumbnail_test_aws::envelopes(config, url)
        .await
        .into_iter()
        .map(|envelope| {
            let data = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
            (envelope["Subject"].as_str().unwrap().to_owned(), data)
        })
        .collect()
}

/// The subjects of the notifications that reach the subscribed queue `url` within `wait` (reading
/// on for the whole time, so that a notification that should not arrive has the time to), sorted.
async fn subjects(config: &aws_config::SdkConfig, url: &str, wait: Duration) -> Vec<String> {
    let mut subjects = Vec::new();
    let start = Instant::now();
    while start.elapsed() < wait {
        subjects.extend(
            receive(config, url)
                .await
                .into_iter()
                .map(|(subject, _)| subject),
        );
    }
    subjects.sort();
    subjects
}

/// `setup --email --owner`: the address is subscribed to the topic with a filter policy on the
/// owner, so it gets that owner's notifications only.
#[tokio::test(flavor = "multi_thread")]
async fn setup_subscribes_an_address_to_one_owners_notifications() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let env = set_up("subscribe", &n, &[]);
    let address = format!("alice-{n}@example.test");
    let (_, stderr) = succeed(&env, &["setup", "--email", &address, "--owner", "alice"]);
    assert!(stderr.contains("confirmation e-mail"), "{stderr}");
    let subscriptions = thumbnail_test_aws::subscriptions(&config, &env["THUMBNAIL_TOPIC"]).await;
    let (protocol, _, policy) = subscriptions
        .iter()
        .find(|(_, endpoint, _)| *endpoint == address)
        .unwrap_or_else(|| panic!("{address} not subscribed: {subscriptions:?}"));
    assert_eq!(protocol, "email");
    let policy: serde_json::Value = serde_json::from_str(policy.as_deref().unwrap()).unwrap();
    assert_eq!(policy, serde_json::json!({"owner": ["alice"]}));
}

/// One topic, many users: a subscription whose filter policy names an owner gets that owner's
/// notifications, failures included, and nobody else's; an upload with no owner reaches no
/// filtered subscriber; a subscription without a filter gets everything.
#[tokio::test(flavor = "multi_thread")]
async fn each_owner_receives_only_their_own_notifications() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let env = set_up("owned", &n, &[]);
    let topic = &env["THUMBNAIL_TOPIC"];
    let alice = thumbnail_test_aws::filtered_queue(
        &config,
        topic,
        &format!("alice-{n}"),
        r#"{"owner": ["alice"]}"#,
    )
    .await;
    let bob = thumbnail_test_aws::filtered_queue(
        &config,
        topic,
        &format!("bob-{n}"),
        r#"{"owner": ["bob"]}"#,
    )
    .await;
    let everyone = thumbnail_test_aws::subscribed_queue(&config, topic, &format!("all-{n}")).await;
    let running = worker(&env, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let s3 = s3_client(&config);
    let good = jpeg(&quadrants(400, 300), &JpegOptions::default());
    for (key, owner, bytes) in [
        ("alice.jpg", Some("alice"), good.clone()),
        ("alice-broken.jpg", Some("alice"), good[..900].to_vec()),
        ("bob.jpg", Some("bob"), good.clone()),
        ("nobody.jpg", None, good.clone()),
    ] {
        s3.put_object()
            .bucket(&env["THUMBNAIL_SOURCE_BUCKET"])
            .key(key)
            .set_metadata(owner.map(|o| [("owner".to_owned(), o.to_owned())].into()))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
    }
    let mut all = Vec::new();
    let start = Instant::now();
    while all.len() < 4 && start.elapsed() < Duration::from_secs(60) {
        all.extend(subjects(&config, &everyone, Duration::from_secs(1)).await);
    }
    all.sort();
    assert_eq!(
        all,
        [
            "Thumbnails failed: alice-broken.jpg",
            "Thumbnails ready: alice.jpg",
            "Thumbnails ready: bob.jpg",
            "Thumbnails ready: nobody.jpg",
        ]
    );
    assert_eq!(
        subjects(&config, &alice, Duration::from_secs(3)).await,
        [
            "Thumbnails failed: alice-broken.jpg",
            "Thumbnails ready: alice.jpg"
        ]
    );
    assert_eq!(
        subjects(&config, &bob, Duration::from_secs(2)).await,
        ["Thumbnails ready: bob.jpg"]
    );
    terminate(running).await;
}

/// Dead letters on SQS: listed with their reason, moved back once the cause is fixed, and made.
#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_and_redriven_on_aws() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let env = set_up("redrive", &n, &[]);
    let s3 = s3_client(&config);
    let big = jpeg(&quadrants(2000, 1500), &JpegOptions::default());
    put(&s3, &env["THUMBNAIL_SOURCE_BUCKET"], "big.jpg", big).await;
    let output = |args: &[&str]| succeed(&env, args);
    output(&["run", "--exit-when-idle", "--set", "memory_budget=1"]);
    let (status, _) = output(&["status"]);
    assert!(status.contains(": 1 visible, 0 in flight"), "{status}");
    let (listed, _) = output(&["dead-letters", "list"]);
    assert!(listed.contains("\twont_fit\tbig.jpg\t"), "{listed}");
    let (_, moved) = output(&["dead-letters", "redrive", "--reason", "wont_fit"]);
    assert!(moved.contains("1 dead letters moved"), "{moved}");
    output(&["run", "--exit-when-idle"]);
    assert!(exists(&s3, &env["THUMBNAIL_DEST_BUCKET"], "big.jpg/profile.jpg").await);
}

/// The extended presets on S3: each output under its extension, with its content type, and byte
/// for byte what the engine (and so `convert` and the local backend) makes.
#[tokio::test(flavor = "multi_thread")]
async fn extended_presets_on_aws() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let env = set_up(
        "presets",
        &n,
        &[("THUMBNAIL_PRESETS", EXTENDED_PRESETS.to_owned())],
    );
    let s3 = s3_client(&config);
    let photo = jpeg(&quadrants(800, 600), &JpegOptions::default());
    put(
        &s3,
        &env["THUMBNAIL_SOURCE_BUCKET"],
        "photo.jpg",
        photo.clone(),
    )
    .await;
    let output = worker(&env, &["run", "--exit-when-idle"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = extended_thumbnails(&photo);
    for (name, content_type) in EXTENDED_OUTPUTS {
        let key = format!("photo.jpg/{name}");
        let (content_type_read, bytes) =
            thumbnail_test_aws::download(&s3, &env["THUMBNAIL_DEST_BUCKET"], &key).await;
        assert_eq!(content_type_read.as_deref(), Some(content_type), "{key}");
        assert!(bytes == expected[name], "{key} differs from the engine's");
    }
}

/// S3 replaces a bucket's notifications as a whole: `setup` must add its own to those another
/// application configured, not replace them, and running it again must not add a second.
#[tokio::test(flavor = "multi_thread")]
async fn setup_keeps_the_bucket_notifications_it_did_not_write() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let bucket = format!("shared-{n}");
    let other_queue = thumbnail_test_aws::queue(&config, &format!("other-app-{n}")).await;
    let s3 = thumbnail_test_aws::bucket(&config, &bucket)
        .await
        .client()
        .clone();
    let theirs = QueueConfiguration::builder()
        .id("other-app")
        .queue_arn(other_queue.arn().await.unwrap())
        .events(Event::S3ObjectRemoved)
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(theirs)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let env = set_up("shared", &n, &[("THUMBNAIL_SOURCE_BUCKET", bucket.clone())]);
    // The queue takes the bucket's events only from S3 acting for the queue's own account.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&env["THUMBNAIL_QUEUE"])
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy)
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(
        &attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::Policy],
    )
    .unwrap();
    let condition = &policy["Statement"][0]["Condition"];
    assert_eq!(
        condition["ArnEquals"]["aws:SourceArn"],
        format!("arn:aws:s3:::{bucket}")
    );
    let account = condition["StringEquals"]["aws:SourceAccount"].as_str();
    assert!(
        account.is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())),
        "{policy}"
    );
    let after = s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = after
        .queue_configurations()
        .iter()
        .filter_map(|q| q.id())
        .collect();
    ids.sort();
    assert_eq!(ids, ["other-app", "thumbnail"]);
}

/// SIGKILL mid-batch, then a restart: the messages the dead worker held come back after their
/// visibility timeout and every image gets its thumbnails.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_loses_nothing_on_aws() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let env = set_up(
        "kill",
        &n,
        &[
            ("THUMBNAIL_VISIBILITY", "3".to_owned()),
            ("THUMBNAIL_CONCURRENCY", "2".to_owned()),
        ],
    );
    let s3 = s3_client(&config);
    const COUNT: u32 = 12;
    for i in 0..COUNT {
        let bytes = jpeg(&quadrants(1600 + i * 8, 1200), &JpegOptions::default());
        put(
            &s3,
            &env["THUMBNAIL_SOURCE_BUCKET"],
            &format!("p{i:02}.jpg"),
            bytes,
        )
        .await;
    }
    let dest = &env["THUMBNAIL_DEST_BUCKET"];
    // One request a look, so that the kill follows the first manifest within a few milliseconds.
    let done = async || {
        let listed = s3.list_objects_v2().bucket(dest).send().await.unwrap();
        let keys = listed.contents().iter().filter_map(|o| o.key());
        keys.filter(|k| k.ends_with("/manifest.json")).count()
    };

    let mut first = worker(&env, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while done().await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing was done"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let before = done().await;
    assert!(before < COUNT as usize, "killed before the end");

    let second = worker(&env, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while done().await < COUNT as usize {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{} of {COUNT} done",
            done().await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for i in 0..COUNT {
        assert!(exists(&s3, dest, &format!("p{i:02}.jpg/profile.jpg")).await);
        assert!(exists(&s3, dest, &format!("p{i:02}.jpg/wide.jpg")).await);
    }
    terminate(second).await;
}

/// At debug level, with recognisable credentials, neither the key, the secret, the session token nor
/// a presigned URL's signature appears anywhere in the worker's log, while it makes and announces
/// thumbnails (so every signing path ran).
#[tokio::test(flavor = "multi_thread")]
async fn no_credential_or_signature_reaches_the_logs() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let secrets = [
        ("AWS_ACCESS_KEY_ID", "AKIAFAKEKEYID4LOGTEST"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "fakeSECRETaccessKEYforTHElogTEST0123456",
        ),
        (
            "AWS_SESSION_TOKEN",
            "fakeSESSIONtokenFORthe/logTEST+9876543210",
        ),
    ];
    let mut env = set_up("secret", &n, &[]);
    env.extend(secrets.map(|(k, v)| (k.to_owned(), v.to_owned())));
    // Everything the SDK and the HTTP stack say, too.
    env.insert("RUST_LOG".into(), "debug".into());
    let topic = env["THUMBNAIL_TOPIC"].clone();
    let inbox =
        thumbnail_test_aws::subscribed_queue(&config, &topic, &format!("secret-inbox-{n}")).await;
    let s3 = s3_client(&config);
    let photo = jpeg(&quadrants(400, 300), &JpegOptions::default());
    put(&s3, &env["THUMBNAIL_SOURCE_BUCKET"], "a.jpg", photo).await;

    // To a file: a debug log would fill a pipe nobody reads and stall the worker.
    let log_path = std::env::temp_dir().join(format!("thumbnail-secrets-{n}.log"));
    let running = worker(&env, &["run", "--set", "visibility=5"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !exists(&s3, &env["THUMBNAIL_DEST_BUCKET"], "a.jpg/manifest.json").await {
        assert!(start.elapsed() < Duration::from_secs(60), "no thumbnails");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(running).await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_file(&log_path).unwrap();
    assert!(log.lines().count() > 20, "a debug log: {log}");

    // The URL the notification carries is signed: its signature must not be in the log either.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let received = sqs
        .receive_message()
        .queue_url(&inbox)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let envelope: serde_json::Value =
        serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
    let data: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    let url = data["thumbnails"][0]["url"].as_str().unwrap();
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
    assert!(signature.len() >= 64, "{url}");
    for (name, secret) in secrets.iter().chain(&[("a URL signature", signature)]) {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{name} is in the log: {leaks:#?}");
    }
}

/// An event naming another bucket is refused as `foreign_bucket` and dead-lettered, even when the
/// source bucket holds an object of that key, whose thumbnails stay as they were.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_naming_another_bucket_is_refused_on_aws() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let env = set_up("foreign", &n, &[]);
    let s3 = s3_client(&config);
    let (source, dest) = (
        &env["THUMBNAIL_SOURCE_BUCKET"],
        &env["THUMBNAIL_DEST_BUCKET"],
    );
    let photo = jpeg(&quadrants(400, 300), &JpegOptions::default());
    put(&s3, source, "secret.jpg", photo).await;
    let output = |args: &[&str]| succeed(&env, args).0;
    output(&["run", "--exit-when-idle"]);
    let manifest = |s3: aws_sdk_s3::Client| async move {
        let object = s3
            .get_object()
            .bucket(dest)
            .key("secret.jpg/manifest.json")
            .send()
            .await
            .unwrap();
        object.body.collect().await.unwrap().into_bytes()
    };
    let before = manifest(s3.clone()).await;

    let body = thumbnail_events::created_event(
        "aws:s3",
        &format!("someone-elses-{n}"),
        "secret.jpg",
        10,
        None,
    );
    let sqs = aws_sdk_sqs::Client::new(&config);
    sqs.send_message()
        .queue_url(&env["THUMBNAIL_QUEUE"])
        .message_body(body)
        .send()
        .await
        .unwrap();
    output(&["run", "--exit-when-idle"]);
    let listed = output(&["dead-letters", "list"]);
    assert!(
        listed.contains("\tforeign_bucket\tsecret.jpg\t"),
        "{listed}"
    );
    assert_eq!(
        manifest(s3).await,
        before,
        "the thumbnails were not made again"
    );
}

/// Credentials that expire are fetched again: the worker takes them from a container credentials
/// endpoint on loopback (as on ECS), which hands out keys valid for 25 s; over a run longer than
/// that, the endpoint is asked again and the work goes on.
#[tokio::test(flavor = "multi_thread")]
async fn expiring_credentials_are_fetched_again() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let mut env = set_up("creds", &n, &[]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/credentials", listener.local_addr().unwrap());
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&fetches);
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut request).is_ok_and(|read| read > 2) {}
            let number = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let expires = std::time::SystemTime::now() + Duration::from_secs(25);
            let expires = aws_sdk_s3::primitives::DateTime::from(expires)
                .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
                .unwrap();
            let body = serde_json::json!({
                "AccessKeyId": format!("ASIAROTATED{number:05}"),
                "SecretAccessKey": "rotated-secret",
                "Token": format!("rotated-token-{number}"),
                "Expiration": expires,
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    env.insert("AWS_CONTAINER_CREDENTIALS_FULL_URI".into(), endpoint);
    let mut command = worker(&env, &["run"]);
    for static_key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        command.env_remove(static_key);
    }
    let running = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s3 = s3_client(&config);
    let (source, dest) = (
        &env["THUMBNAIL_SOURCE_BUCKET"],
        &env["THUMBNAIL_DEST_BUCKET"],
    );
    let start = Instant::now();
    for (i, at) in [0, 10, 20, 30].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(at).saturating_sub(start.elapsed())).await;
        let photo = jpeg(&quadrants(400 + i as u32 * 8, 300), &JpegOptions::default());
        put(&s3, source, &format!("c{i}.jpg"), photo).await;
    }
    for i in 0..4 {
        let manifest = format!("c{i}.jpg/manifest.json");
        while !exists(&s3, dest, &manifest).await {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "{manifest} never made"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    terminate(running).await;
    let fetches = fetches.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "credentials valid for 25 s: fetched {fetches} times in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        fetches >= 2,
        "credentials valid for 25 s fetched {fetches} times over {:?}",
        start.elapsed()
    );
}

/// The console on the AWS backend: a dead letter (an image over a tiny budget, as above) is listed
/// and replayed from it; an upload through it lands in S3, whose notification brings the event
/// back; the thumbnails appear in its list with S3's presigned links, which download them.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_works_on_aws() {
    use thumbnail_test_aws::servers::{attribute, listening, multipart, request};
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let n = common::unique();
    let mut env = set_up("console", &n, &[]);
    let s3 = s3_client(&config);
    let (source, dest) = (
        env["THUMBNAIL_SOURCE_BUCKET"].clone(),
        env["THUMBNAIL_DEST_BUCKET"].clone(),
    );
    put(
        &s3,
        &source,
        "big.jpg",
        jpeg(&quadrants(2000, 1500), &JpegOptions::default()),
    )
    .await;
    succeed(
        &env,
        &["run", "--exit-when-idle", "--set", "memory_budget=1"],
    );

    let port = free_port();
    env.insert("THUMBNAIL_CONSOLE_ADDR".into(), format!("127.0.0.1:{port}"));
    let running = worker(&env, &["run"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = move |head: String, body: Vec<u8>| {
        tokio::task::spawn_blocking(move || {
            listening(port, "the console");
            let (status, _, body) = request(port, &head, &body);
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    };
    let (_, fragment) = http("GET /fragments/status".into(), vec![]).await.unwrap();
    assert!(
        fragment.contains("big.jpg") && fragment.contains("wont_fit"),
        "{fragment}"
    );
    let id = attribute(&fragment, "data-replay");
    let replay = format!("POST /dead-letters/{id}/replay\nX-Thumbnail-Console: 1");
    assert_eq!(http(replay, vec![]).await.unwrap().0, 200);

    let (content_type, body) = multipart(&[(
        "photo.jpg",
        &jpeg(&quadrants(800, 600), &JpegOptions::default()),
    )]);
    let upload = format!("POST /uploads\n{content_type}\nX-Thumbnail-Console: 1");
    assert_eq!(http(upload, body).await.unwrap().0, 200);
    assert!(
        exists(&s3, &source, "photo.jpg").await,
        "the upload is in S3"
    );

    let start = Instant::now();
    let page = loop {
        let (_, page) = http("GET /".into(), vec![]).await.unwrap();
        if page.contains("class=\"upload made\" id=\"upload-1\"")
            && exists(&s3, &dest, "big.jpg/profile.jpg").await
        {
            break page;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no thumbnails in the console: {page}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let link = page
        .split("class=\"preview\"><img src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        link.contains("X-Amz-Signature="),
        "an S3 presigned link: {link}"
    );
    let bytes = tokio::task::spawn_blocking(move || thumbnail_storage::conformance::fetch(&link))
        .await
        .unwrap();
    assert_eq!(&bytes[..2], [0xFF, 0xD8], "a JPEG");
    let (status, _) = http(
        "GET /files/photo.jpg/profile.jpg?expires=1&signature=00".into(),
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(
        status, 404,
        "on AWS the console signs and serves no links of its own"
    );
    terminate(running).await;
}
