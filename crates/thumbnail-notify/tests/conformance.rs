//! The notifier conformance suite against every implementation. The SNS run needs an SNS/SQS-compatible
//! server: `scripts/test` starts moto on loopback (see `thumbnail_test_aws::config`); the e-mail run
//! an SMTP server, aiosmtpd, which the test starts (`thumbnail_test_aws::servers`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use axum::http::StatusCode;
use mail_parser::MimeHeaders;
use thumbnail_notify::conformance::{self, Received, Subscriber};
use thumbnail_notify::{
    Attribute, FanOut, LogNotifier, MemoryNotifier, Notification, Notifier, NotifyError,
    SmtpNotifier, SmtpSettings, SnsNotifier, WebhookNotifier,
};
use thumbnail_test_aws::servers::{Smtpd, WebhookReceiver};

struct MemorySubscriber<'a>(&'a MemoryNotifier, Mutex<usize>);

#[async_trait]
impl Subscriber for MemorySubscriber<'_> {
    async fn received(&self) -> Vec<Received> {
        let mut seen = self.1.lock().unwrap();
        let all = self.0.published();
        let new = all[*seen..]
            .iter()
            .map(|n| Received {
                subject: n.subject.clone(),
                data: n.data.clone(),
                attributes: n.attributes.clone(),
            })
            .collect();
        *seen = all.len();
        new
    }
}

#[tokio::test]
async fn memory_notifier_conforms() {
    let notifier = MemoryNotifier::new();
    conformance::run(&notifier, &MemorySubscriber(&notifier, Mutex::new(0))).await;
}

/// Reads the JSON-lines file as `tail -f` would.
struct FileSubscriber(PathBuf, Mutex<usize>);

#[async_trait]
impl Subscriber for FileSubscriber {
    async fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let mut seen = self.1.lock().unwrap();
        let new = lines[*seen..]
            .iter()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(
                    value["text"].is_string() && value["published_at_ms"].is_u64(),
                    "{value}"
                );
                Received {
                    subject: value["subject"].as_str().unwrap().to_owned(),
                    data: value["data"].clone(),
                    attributes: serde_json::from_value(value["attributes"].clone()).unwrap(),
                }
            })
            .collect();
        *seen = lines.len();
        new
    }
}

#[tokio::test]
async fn log_notifier_conforms() {
    let path = std::env::temp_dir().join(format!("thumbnail-notify-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    conformance::run(
        &LogNotifier::with_jsonl(&path),
        &FileSubscriber(path.clone(), Mutex::new(0)),
    )
    .await;
    std::fs::remove_file(path).unwrap();
}

/// An SQS queue subscribed to the topic: reads the SNS envelopes that reach it.
struct QueueSubscriber {
    config: aws_config::SdkConfig,
    url: String,
}

#[async_trait]
impl Subscriber for QueueSubscriber {
    async fn received(&self) -> Vec<Received> {
        thumbnail_test_aws::envelopes(&self.config, &self.url)
            .await
            .into_iter()
            .map(|envelope| {
                assert_eq!(envelope["Type"], "Notification", "{envelope}");
                Received {
                    subject: envelope["Subject"].as_str().unwrap().to_owned(),
                    data: serde_json::from_str(envelope["Message"].as_str().unwrap())
                        .expect("the sqs protocol gets the JSON data"),
                    attributes: envelope_attributes(&envelope),
                }
            })
            .collect()
    }
}

/// The message attributes of an SNS envelope: `{"owner": {"Type": "String", "Value": "alice"}}`.
fn envelope_attributes(envelope: &serde_json::Value) -> BTreeMap<String, Attribute> {
    let Some(attributes) = envelope["MessageAttributes"].as_object() else {
        return BTreeMap::new();
    };
    attributes
        .iter()
        .map(|(name, attribute)| {
            let value = attribute["Value"].as_str().unwrap().to_owned();
            let value = match attribute["Type"].as_str() {
                Some("String.Array") => Attribute::List(serde_json::from_str(&value).unwrap()),
                _ => Attribute::Text(value),
            };
            (name.clone(), value)
        })
        .collect()
}

/// Creates (idempotently) a topic and returns its ARN.
async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    let created = sns.create_topic().name(name).send().await.unwrap();
    created.topic_arn().unwrap().to_owned()
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{nanos}")
}

#[tokio::test]
async fn sns_notifier_conforms_and_resolves_its_topic_by_exact_name() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let sns = aws_sdk_sns::Client::new(&config);
    let name = unique("thumbnails");
    // Decoys that a "first topic" or "contains" lookup would pick, and enough topics to need a second page.
    for decoy in [
        format!("a-{name}"),
        format!("{name}-old"),
        format!("{name}2"),
    ] {
        create_topic(&sns, &decoy).await;
    }
    for i in 0..105 {
        create_topic(&sns, &format!("{}-{i}", unique("filler"))).await;
    }
    let arn = create_topic(&sns, &name).await;
    let notifier = SnsNotifier::connect(&config, &name).await.unwrap();
    assert_eq!(notifier.topic_arn(), arn);
    let region = config.region().expect("AWS_REGION is set").to_string();
    assert!(
        arn.starts_with(&format!("arn:aws:sns:{region}:")),
        "the region comes from the configuration: {arn}"
    );

    let url = thumbnail_test_aws::subscribed_queue(&config, &arn, &unique("subscriber")).await;
    let subscriber = QueueSubscriber {
        config: config.clone(),
        url,
    };
    conformance::run(&notifier, &subscriber).await;

    // By ARN, too; and a name that does not exist is an error, not some other topic.
    assert_eq!(
        SnsNotifier::connect(&config, &arn)
            .await
            .unwrap()
            .topic_arn(),
        arn
    );
    let missing = SnsNotifier::connect(&config, &unique("missing")).await;
    assert!(
        matches!(missing, Err(NotifyError::TopicNotFound { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn publishing_to_a_deleted_topic_is_not_retryable() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let sns = aws_sdk_sns::Client::new(&config);
    let arn = create_topic(&sns, &unique("gone")).await;
    let notifier = SnsNotifier::connect(&config, &arn).await.unwrap();
    sns.delete_topic().topic_arn(&arn).send().await.unwrap();
    let error = notifier
        .publish(&Notification::new("s", "t", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error:?}");
}

/// A subscriber's view of a document as the JSON-lines file and webhooks carry it.
fn from_document(document: &serde_json::Value) -> Received {
    Received {
        subject: document["subject"].as_str().unwrap().to_owned(),
        data: document["data"].clone(),
        attributes: serde_json::from_value(document["attributes"].clone()).unwrap(),
    }
}

/// Reads the mail an SMTP server on loopback kept: the subject, and the attached JSON.
struct MailSubscriber(Smtpd, Mutex<usize>);

#[async_trait]
impl Subscriber for MailSubscriber {
    async fn received(&self) -> Vec<Received> {
        let messages = self.0.messages();
        let mut seen = self.1.lock().unwrap();
        let new = messages[*seen..]
            .iter()
            .map(|raw| {
                let mail = mail_parser::MessageParser::default().parse(raw).unwrap();
                let body = mail.body_text(0).unwrap();
                let attachment = mail.attachment(0).expect("the JSON attached");
                assert_eq!(attachment.attachment_name(), Some("notification.json"));
                let document: serde_json::Value =
                    serde_json::from_slice(attachment.contents()).unwrap();
                assert_eq!(body.trim(), document["text"].as_str().unwrap().trim());
                assert_eq!(mail.subject(), document["subject"].as_str());
                from_document(&document)
            })
            .collect();
        *seen = messages.len();
        new
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thumbnail-notify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn smtp_notifier_conforms() {
    let dir = scratch("smtp");
    let Some(server) = Smtpd::start(&dir) else {
        return;
    };
    let notifier = SmtpNotifier::new(&SmtpSettings {
        url: server.url(),
        from: "Thumbnails <thumbnails@example.com>".into(),
        to: vec!["alice@example.com".into(), "bob@example.com".into()],
    })
    .unwrap();
    conformance::run(&notifier, &MailSubscriber(server, Mutex::new(0))).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn smtp_settings_that_cannot_work_are_refused_and_an_absent_server_is_transient() {
    let settings = |url: &str, from: &str, to: &[&str]| SmtpSettings {
        url: url.into(),
        from: from.into(),
        to: to.iter().map(|s| s.to_string()).collect(),
    };
    for (bad, target) in [
        (settings("http://host", "a@b.c", &["d@e.f"]), "smtp_url"),
        (
            settings("smtp://host", "not an address", &["d@e.f"]),
            "email_from",
        ),
        (settings("smtp://host", "a@b.c", &[]), "email_to"),
    ] {
        let error = SmtpNotifier::new(&bad).unwrap_err();
        assert!(
            matches!(&error, NotifyError::Config { target: t, .. } if t == target),
            "{error}"
        );
    }
    let secret = settings("smtp://user:hunter2@h", "a@b.c", &["d@e.f"]);
    assert!(!format!("{secret:?}").contains("hunter2"));
    // Nothing listens on a port just freed: the notification may go through later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let notifier = SmtpNotifier::new(&settings(
        &format!("smtp://127.0.0.1:{port}"),
        "a@b.c",
        &["d@e.f"],
    ))
    .unwrap();
    let error = notifier
        .publish(&Notification::new("s", "t", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

/// What a webhook receiver took, every signature checked.
struct HookSubscriber(WebhookReceiver, Mutex<usize>);

#[async_trait]
impl Subscriber for HookSubscriber {
    async fn received(&self) -> Vec<Received> {
        let deliveries = self.0.deliveries();
        let mut seen = self.1.lock().unwrap();
        let new = deliveries[*seen..]
            .iter()
            .map(|delivery| {
                assert!(delivery.signature_valid, "{:?}", delivery.body);
                from_document(&delivery.body)
            })
            .collect();
        *seen = deliveries.len();
        new
    }
}

#[tokio::test]
async fn webhook_notifier_conforms_retrying_what_may_pass_later() {
    // The first two POSTs fail as an overloaded receiver's would: the notifier tries again.
    let receiver = WebhookReceiver::start(
        "s3cret",
        vec![
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS,
        ],
    );
    let notifier = WebhookNotifier::new(&receiver.url, b"s3cret").unwrap();
    conformance::run(&notifier, &HookSubscriber(receiver, Mutex::new(0))).await;
}

#[tokio::test]
async fn a_webhook_refusal_is_permanent_and_a_wrong_secret_is_detected() {
    let receiver = WebhookReceiver::start("s3cret", vec![StatusCode::BAD_REQUEST]);
    let notifier = WebhookNotifier::new(&receiver.url, b"s3cret").unwrap();
    let n = Notification::new("s", "t", serde_json::json!({"k": 1}));
    let error = notifier.publish(&n).await.unwrap_err();
    assert!(!error.is_retryable(), "{error:?}");
    let forger = WebhookNotifier::new(&receiver.url, b"guess").unwrap();
    forger.publish(&n).await.unwrap();
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert!(!deliveries[0].signature_valid, "signed with another secret");
    assert!(WebhookNotifier::new("ftp://x/", b"k").is_err());
    assert!(WebhookNotifier::new(&receiver.url, b"").is_err());
}

#[tokio::test]
async fn a_webhook_that_stays_down_fails_as_transient_after_its_retries() {
    let receiver = WebhookReceiver::start("k", vec![StatusCode::BAD_GATEWAY; 4]);
    let notifier = WebhookNotifier::new(&receiver.url, b"k").unwrap();
    let error = notifier
        .publish(&Notification::new("s", "t", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(receiver.deliveries().is_empty());
}

/// A receiver that answers every request with `status` and a `Location` of `to`: the notifier must
/// not follow it (a 301/302 would turn the POST into a GET without body, counted as delivered; a
/// 307 would re-post the signed body to `to`), and fails, retryably.
fn redirector(status: u16, to: &str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let to = to.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Moved\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    format!("http://127.0.0.1:{port}/hook?token=hook-token-42")
}

#[tokio::test]
async fn a_webhook_redirect_is_a_failure_never_followed() {
    let elsewhere = WebhookReceiver::start("k", vec![]);
    for status in [302, 307] {
        let notifier = WebhookNotifier::new(&redirector(status, &elsewhere.url), b"k").unwrap();
        let error = notifier
            .publish(&Notification::new("s", "t", serde_json::json!({})))
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{status}: {error:?}");
        assert!(
            error.to_string().contains(&status.to_string()),
            "{status}: {error}"
        );
    }
    assert!(
        elsewhere.deliveries().is_empty(),
        "a redirect was followed: {:?}",
        elsewhere.deliveries()
    );
}

#[tokio::test]
async fn a_webhook_url_token_never_reaches_an_error() {
    // A port nothing listens on: the connection error is what reaches the log.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook?token=hook-token-42");
    let notifier = WebhookNotifier::new(&url, b"k").unwrap();
    let error = notifier
        .publish(&Notification::new("s", "t", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("hook-token-42"), "{shown}");
}

#[tokio::test]
async fn several_notifiers_at_once_conform() {
    let receiver = WebhookReceiver::start("k", vec![]);
    let memory = MemoryNotifier::new();
    let fan = FanOut::new(vec![
        Box::new(memory.clone()),
        Box::new(WebhookNotifier::new(&receiver.url, b"k").unwrap()),
    ]);
    conformance::run(&fan, &HookSubscriber(receiver, Mutex::new(0))).await;
    assert_eq!(memory.published().len(), 2);
}
