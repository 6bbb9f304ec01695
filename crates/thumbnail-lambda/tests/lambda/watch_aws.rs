//! The real `thumbnail-lambda` binary, served by `cargo lambda watch` (its Lambda runtime API
//! emulator) and invoked with `cargo lambda invoke`, against moto (started by `scripts/test`, which
//! also installs cargo-lambda and names it in `CARGO_LAMBDA`): images uploaded through S3, the SQS
//! messages moto produced fed to the function as one SQS event, then the thumbnails, the
//! notifications, the dead-lettered corrupt image and the partial batch response checked.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use thumbnail_tests::{
    EXTENDED_OUTPUTS, EXTENDED_PRESETS, JpegOptions, extended_thumbnails, free_port, jpeg,
    jpeg_claiming, quadrants,
};

/// Kills a child process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Receives from `queue` until `count` messages arrived (deleting them) or a minute passed.
async fn drain(sqs: &aws_sdk_sqs::Client, queue: &str, count: usize) -> Vec<Value> {
    let mut messages = Vec::new();
    let start = Instant::now();
    while messages.len() < count && start.elapsed() < Duration::from_secs(60) {
        let output = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .unwrap();
        for message in output.messages() {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            let attributes: serde_json::Map<String, Value> = message
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), json!(v.string_value())))
                .collect();
            messages.push(json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": attributes,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-3:123456789012:jobs",
                "awsRegion": "eu-west-3",
            }));
        }
    }
    messages
}

#[tokio::test(flavor = "multi_thread")]
async fn the_function_under_cargo_lambda_watch_against_moto() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let cargo_lambda = std::env::var("CARGO_LAMBDA")
        .expect("CARGO_LAMBDA names the cargo-lambda binary (scripts/test installs it)");
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (source, dest) = (format!("fn-uploads-{n}"), format!("fn-thumbs-{n}"));
    let jobs =
        thumbnail_test_aws::notifying_bucket(&config, &source, &format!("fn-jobs-{n}")).await;
    let s3 = thumbnail_test_aws::bucket(&config, &dest)
        .await
        .client()
        .clone();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq = thumbnail_test_aws::queue(&config, &format!("fn-dead-{n}"))
        .await
        .url()
        .to_owned();
    let topic = aws_sdk_sns::Client::new(&config)
        .create_topic()
        .name(format!("fn-topic-{n}"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let inbox =
        thumbnail_test_aws::subscribed_queue(&config, &topic, &format!("fn-inbox-{n}")).await;

    let good = jpeg(&quadrants(1200, 900), &JpegOptions::default());
    for (key, bytes) in [
        ("a.jpg", good.clone()),
        ("photos/My Photo é+1.jpg", good.clone()),
        ("broken.jpg", good[..3000].to_vec()),
        // 48 MP: more than a 128 MB function can decode, which its header says before download.
        ("huge.jpg", jpeg_claiming(8000, 6000)),
    ] {
        s3.put_object()
            .bucket(&source)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
    }
    // The s3:TestEvent of the notification's set-up, and one message per upload.
    let records = drain(&sqs, &jobs, 5).await;
    assert_eq!(records.len(), 5, "{records:?}");

    let port = free_port();
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let _watch = Running(
        Command::new(&cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
            .args(["-P", &port.to_string()])
            .current_dir(workspace)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "cargo lambda watch did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Logged as a function whose logging configuration says JSON.
    let log_path = std::env::temp_dir().join(format!("thumbnail-lambda-{n}.log"));
    let function = Running(
        Command::new(env!("CARGO_BIN_EXE_thumbnail-lambda"))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("THUMBNAIL_BACKEND", "aws")
            .env("THUMBNAIL_SOURCE_BUCKET", &source)
            .env("THUMBNAIL_DEST_BUCKET", &dest)
            .env("THUMBNAIL_TOPIC", &topic)
            .env("THUMBNAIL_DLQ", &dlq)
            .env("THUMBNAIL_PRESETS", EXTENDED_PRESETS)
            .env("THUMBNAIL_S3_PATH_STYLE", "true")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );

    let event = std::env::temp_dir().join(format!("thumbnail-sqs-event-{n}.json"));
    std::fs::write(&event, json!({ "Records": records }).to_string()).unwrap();
    let invoked = tokio::task::spawn_blocking(move || {
        Command::new(&cargo_lambda)
            .args([
                "lambda",
                "invoke",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .arg("--data-file")
            .arg(&event)
            .arg("_")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        invoked.status.success(),
        "{}",
        String::from_utf8_lossy(&invoked.stderr)
    );
    let answer: Value = serde_json::from_slice(&invoked.stdout).unwrap();
    // Nothing to retry: the good ones are done, the corrupt one is dead-lettered.
    assert_eq!(answer, json!({"batchItemFailures": []}));

    // The extended presets: byte for byte what `convert` and the worker make, typed by format.
    let expected = extended_thumbnails(&good);
    for folder in ["a.jpg", "photos/My Photo é+1.jpg"] {
        for (name, content_type) in EXTENDED_OUTPUTS {
            let key = format!("{folder}/{name}");
            let (content_type_read, bytes) = thumbnail_test_aws::download(&s3, &dest, &key).await;
            assert_eq!(content_type_read.as_deref(), Some(content_type), "{key}");
            assert!(bytes == expected[name], "{key} differs from the engine's");
        }
    }
    let mut subjects: Vec<String> = drain(&sqs, &inbox, 4)
        .await
        .iter()
        .map(|m| {
            let envelope: Value = serde_json::from_str(m["body"].as_str().unwrap()).unwrap();
            envelope["Subject"].as_str().unwrap().to_owned()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Thumbnails failed: broken.jpg",
            "Thumbnails failed: huge.jpg",
            "Thumbnails ready: a.jpg",
            "Thumbnails ready: photos/My Photo ?+1.jpg"
        ]
    );
    let dead = drain(&sqs, &dlq, 2).await;
    let mut reasons: Vec<&str> = dead
        .iter()
        .map(|d| {
            d["messageAttributes"]["thumbnail-failure-reason"]
                .as_str()
                .unwrap()
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("broken.jpg") && reasons[0].contains("corrupt"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("huge.jpg") && reasons[1].contains("more than the 96 MiB available"),
        "{reasons:?}"
    );

    // Every log line is a JSON object with its fields as fields (Lambda adds time and request id).
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let said = |message: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"].as_str() == Some(message))
            .unwrap_or_else(|| panic!("no {message:?} in {log}"))
    };
    assert_eq!(said("ready")["level"], "INFO");
    assert!(said("ready")["fields"]["sizing"].is_string(), "{log}");
    assert!(lines.iter().all(|l| l.get("timestamp").is_none()), "{log}");

    // The process that served the batch, at 128 MB: its peak resident memory.
    let status = std::fs::read_to_string(format!("/proc/{}/status", function.0.id())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    eprintln!("thumbnail-lambda peak RSS: {} KiB", peak_kib);
    assert!(peak_kib < 100 * 1024, "{peak_kib} KiB");
}
