//! Test support for the AWS adapters: the configuration of the S3/SQS/SNS-compatible server that
//! `scripts/test` starts on loopback (moto), and the buckets, queues and subscriptions tests make
//! on it, through the same idempotent creation the `setup` command uses.
//!
//! `scripts/test` sets `TEST_THUMBNAIL_AWS=1` and the standard `AWS_ENDPOINT_URL`, dummy
//! credentials and `AWS_REGION`. Without it an AWS test is skipped with a note, except under
//! `CI=true`, where a skip must never read as a pass: there it fails.
//!
//! [`servers`]: the SMTP server and webhook receiver the notifier and console tests use.

pub mod servers;

use thumbnail_notify::SnsNotifier;
use thumbnail_queue::SqsQueue;
use thumbnail_storage::{S3Options, S3Store};

/// The SDK configuration for the test server, or `None`, with a note, when none was started.
///
/// # Panics
///
/// Under `CI=true` when no server was started, and whenever the endpoint is not on loopback: tests
/// never reach a real account.
pub async fn config() -> Option<aws_config::SdkConfig> {
    provided("TEST_THUMBNAIL_AWS")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let endpoint = config.endpoint_url().unwrap_or_default();
    let loopback = ["http://127.", "http://localhost:", "http://[::1]:"];
    assert!(
        loopback.iter().any(|prefix| endpoint.starts_with(prefix)),
        "AWS tests only talk to a server on loopback; AWS_ENDPOINT_URL is {endpoint:?}"
    );
    Some(config)
}

/// The value of the variable `name`, by which `scripts/test` hands a test a server or tool it
/// started or installed; `None`, with a note, when it is unset, so the test is skipped.
///
/// # Panics
///
/// When it is unset under `CI=true`: there a skip would read as a pass.
pub fn provided(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {name} is not set: this test needs what scripts/test provides"
            );
            eprintln!("{name} is not set: this test is skipped (scripts/test sets it)");
            None
        }
    }
}

/// Creates the bucket `name` (path-style, as test servers want) and returns its store.
///
/// # Panics
///
/// If the server refuses.
pub async fn bucket(config: &aws_config::SdkConfig, name: &str) -> S3Store {
    let store = S3Store::new(
        config,
        name,
        S3Options {
            force_path_style: true,
        },
    );
    store.create_bucket().await.expect("create the bucket");
    store
}

/// Creates the SQS queue `name`.
///
/// # Panics
///
/// If the server refuses.
pub async fn queue(config: &aws_config::SdkConfig, name: &str) -> SqsQueue {
    SqsQueue::create(config, name)
        .await
        .expect("create the queue")
}

/// Creates the SQS queue `name`, subscribes it to the SNS topic `topic_arn` and returns its URL: a
/// test reads what the topic published as an application subscribed to it would.
///
/// # Panics
///
/// If the server refuses any step.
pub async fn subscribed_queue(
    config: &aws_config::SdkConfig,
    topic_arn: &str,
    name: &str,
) -> String {
    subscribe_queue(config, topic_arn, name, None).await
}

/// [`subscribed_queue`] with the subscription filter policy `policy` (JSON, e.g.
/// `{"owner": ["alice"]}`): the queue gets only the notifications it matches.
///
/// # Panics
///
/// If the server refuses any step.
pub async fn filtered_queue(
    config: &aws_config::SdkConfig,
    topic_arn: &str,
    name: &str,
    policy: &str,
) -> String {
    subscribe_queue(config, topic_arn, name, Some(policy)).await
}

/// The subscriptions of the topic `topic_arn`: each one's protocol, endpoint and filter policy.
///
/// # Panics
///
/// If the server refuses any step.
pub async fn subscriptions(
    config: &aws_config::SdkConfig,
    topic_arn: &str,
) -> Vec<(String, String, Option<String>)> {
    let topic = SnsNotifier::create(config, topic_arn)
        .await
        .expect("a topic ARN");
    let client = topic.client();
    let listed = client
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .expect("list the topic's subscriptions");
    let mut found = Vec::new();
    for subscription in listed.subscriptions() {
        let arn = subscription.subscription_arn().expect("an ARN");
        let attributes = client
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await
            .expect("a subscription's attributes");
        found.push((
            subscription.protocol().unwrap_or_default().to_owned(),
            subscription.endpoint().unwrap_or_default().to_owned(),
            attributes
                .attributes()
                .and_then(|a| a.get("FilterPolicy"))
                .cloned(),
        ));
    }
    found
}

async fn subscribe_queue(
    config: &aws_config::SdkConfig,
    topic_arn: &str,
    name: &str,
    policy: Option<&str>,
) -> String {
    let queue = queue(config, name).await;
    let topic = SnsNotifier::create(config, topic_arn)
        .await
        .expect("a topic ARN");
    let mut subscribe = topic
        .client()
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue.arn().await.expect("the queue's ARN"));
    if let Some(policy) = policy {
        subscribe = subscribe.attributes("FilterPolicy", policy);
    }
    subscribe
        .send()
        .await
        .expect("subscribe the queue to the topic");
    queue.url().to_owned()
}

/// Creates the bucket `bucket` and the SQS queue `queue`, has the bucket announce every created
/// object on the queue, as S3 would, and returns the queue's URL.
///
/// # Panics
///
/// If the server refuses any step.
pub async fn notifying_bucket(config: &aws_config::SdkConfig, bucket: &str, queue: &str) -> String {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let queue = self::queue(config, queue).await;
    let announce = QueueConfiguration::builder()
        .queue_arn(queue.arn().await.expect("the queue's ARN"))
        .events(Event::S3ObjectCreated)
        .build()
        .expect("queue and events are set");
    self::bucket(config, bucket)
        .await
        .client()
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(announce)
                .build(),
        )
        .send()
        .await
        .expect("configure the bucket notification");
    queue.url().to_owned()
}

/// The SNS envelopes waiting in the subscribed queue `url` (one receive, waiting up to a second),
/// deleted once read: `{"Type": "Notification", "Subject": ..., "Message": ..., "MessageAttributes": ...}`.
///
/// # Panics
///
/// If the server refuses, or a message is not JSON.
pub async fn envelopes(config: &aws_config::SdkConfig, url: &str) -> Vec<serde_json::Value> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let output = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    let mut envelopes = Vec::new();
    for message in output.messages() {
        envelopes.push(serde_json::from_str(message.body().unwrap_or_default()).expect("JSON"));
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("delete");
    }
    envelopes
}

/// An object's `Content-Type` and bytes, read through the S3 API.
pub async fn download(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> (Option<String>, Vec<u8>) {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"));
    let content_type = object.content_type().map(str::to_owned);
    let bytes = object.body.collect().await.unwrap().to_vec();
    (content_type, bytes)
}
