//! `setup` then `run` against an S3/SQS/SNS-compatible server (moto, started by `scripts/test`):
//! uploads through the S3 API, notifications read through an SQS queue subscribed to the topic,
//! presigned links downloaded over HTTP, the corrupt upload in the dead-letter queue, a duplicate
//! upload done once, and SIGTERM.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use thumbnail_tests::{JpegOptions, jpeg, quadrants};

fn worker(env: &BTreeMap<String, String>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"));
    command.args(args).envs(env);
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_then_run_on_aws() {
    let Some(config) = thumbnail_aws::test_server_config().await else {
        return;
    };
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut env: BTreeMap<String, String> = [
        ("THUMBNAIL_BACKEND", "aws".to_owned()),
        ("THUMBNAIL_SOURCE_BUCKET", format!("uploads-{n}")),
        ("THUMBNAIL_DEST_BUCKET", format!("thumbs-{n}")),
        ("THUMBNAIL_QUEUE", format!("jobs-{n}")),
        ("THUMBNAIL_TOPIC", format!("thumbnails-{n}")),
        ("THUMBNAIL_S3_PATH_STYLE", "true".to_owned()),
        ("THUMBNAIL_PRESETS", "profile,wide=300x".to_owned()),
        ("THUMBNAIL_VISIBILITY", "10".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    // Twice: the second run must change nothing and succeed.
    let mut printed = String::new();
    for _ in 0..2 {
        let output = worker(&env, &["setup"]).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        printed = String::from_utf8(output.stdout).unwrap();
    }
    for line in printed.lines() {
        let (key, value) = line.split_once('=').unwrap();
        env.insert(key.to_owned(), value.to_owned());
    }
    let topic_arn = env["THUMBNAIL_TOPIC"].clone();
    assert!(topic_arn.starts_with("arn:aws:sns:"), "{printed}");

    // A subscriber: an SQS queue on the topic, as an application would read the JSON.
    let inbox =
        thumbnail_aws::subscribed_test_queue(&config, &topic_arn, &format!("inbox-{n}")).await;
    let sqs = aws_sdk_sqs::Client::new(&config);

    let mut running = worker(&env, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let source = &env["THUMBNAIL_SOURCE_BUCKET"];
    let good = jpeg(&quadrants(800, 600), &JpegOptions::default());
    for (key, bytes) in [
        ("photos/My Photo é+1.jpg", good.clone()),
        ("broken.jpg", good[..2000].to_vec()),
        ("dup.jpg", good.clone()),
        ("dup.jpg", good.clone()),
    ] {
        s3.put_object()
            .bucket(source)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
    }

    // Three notifications: two made, one failed; the duplicate upload is not announced twice.
    let mut received: Vec<(String, serde_json::Value)> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90)
        && (received.len() < 3 || start.elapsed() < Duration::from_secs(8))
    {
        let output = sqs
            .receive_message()
            .queue_url(&inbox)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in output.messages() {
            let envelope: serde_json::Value =
                serde_json::from_str(message.body().unwrap()).unwrap();
            let data = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
            received.push((envelope["Subject"].as_str().unwrap().to_owned(), data));
            sqs.delete_message()
                .queue_url(&inbox)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
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
        .bucket(&env["THUMBNAIL_DEST_BUCKET"])
        .key("photos/My Photo é+1/profile.jpg")
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

    // SIGTERM: the worker stops and exits 0.
    assert!(
        Command::new("kill")
            .args(["-TERM", &running.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = running.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the worker did not stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
}
