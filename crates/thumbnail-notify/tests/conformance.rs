//! The notifier conformance suite against every implementation. The SNS run needs an SNS/SQS-compatible
//! server: `scripts/test` starts moto on loopback (see `thumbnail_test_aws::config`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use thumbnail_notify::conformance::{self, Received, Subscriber};
use thumbnail_notify::{
    Attribute, LogNotifier, MemoryNotifier, Notification, Notifier, NotifyError, SnsNotifier,
};

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
