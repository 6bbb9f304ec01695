//! What the thumbnail AWS adapters (S3 storage, SQS queue, SNS notifier) share: turning an SDK error
//! into a [`Failure`] that says whether trying again can help.
//!
//! Retrying itself is the SDK's job (its standard retry mode, configured once on the `SdkConfig` by
//! the binary). What reaches an adapter has already exhausted those attempts; this classification
//! lets the pipeline choose between "release the message and let it come back later" and "dead-letter
//! it now", without matching on strings.
//!
//! ```
//! use thumbnail_aws::{Class, classify_status};
//! assert_eq!(classify_status(503, Some("SlowDown")), Class::Transient);
//! assert_eq!(classify_status(404, Some("NoSuchKey")), Class::NotFound);
//! assert_eq!(classify_status(403, Some("AccessDenied")), Class::AccessDenied);
//! assert_eq!(classify_status(400, Some("InvalidParameterValue")), Class::Permanent);
//! ```

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an SDK error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The thing asked for does not exist (object, bucket, queue, topic).
    NotFound,
    /// The credentials are not allowed to do this.
    AccessDenied,
    /// Throttling, a timeout, a 5xx, or the endpoint could not be reached: worth trying again later.
    Transient,
    /// Anything else the service refused; trying again gives the same answer.
    Permanent,
}

impl Class {
    /// Whether trying again later may succeed.
    pub fn is_retryable(self) -> bool {
        self == Class::Transient
    }
}

/// A classified SDK failure, with the service's own code and message for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The kind of failure.
    pub class: Class,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The service's error code (e.g. `NoSuchKey`), when it sent one.
    pub code: Option<String>,
    /// A one-line description.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " ({code}")?;
            if let Some(status) = self.status {
                write!(f, ", HTTP {status}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Classifies any AWS SDK operation error.
pub fn classify<E>(error: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().map(str::to_owned);
            let message = context
                .err()
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the service answered HTTP {status}"));
            Failure {
                class: classify_status(status, code.as_deref()),
                status: Some(status),
                code,
                message,
            }
        }
        SdkError::TimeoutError(_) => transient("the request timed out"),
        SdkError::DispatchFailure(failure) if failure.is_user() => Failure {
            class: Class::Permanent,
            status: None,
            code: None,
            message: format!("the request could not be sent: {}", chain(error)),
        },
        SdkError::DispatchFailure(_) => transient(&format!(
            "the endpoint could not be reached: {}",
            chain(error)
        )),
        SdkError::ResponseError(_) => {
            transient(&format!("the response could not be read: {}", chain(error)))
        }
        SdkError::ConstructionFailure(_) => Failure {
            class: Class::Permanent,
            status: None,
            code: None,
            message: format!("the request could not be built: {}", chain(error)),
        },
        _ => transient(&chain(error)),
    }
}

/// Classifies a service answer by its HTTP status and error code.
pub fn classify_status(status: u16, code: Option<&str>) -> Class {
    const NOT_FOUND: &[&str] = &[
        "NoSuchKey",
        "NoSuchBucket",
        "NotFound",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFoundException",
    ];
    const THROTTLED: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KMSThrottlingException",
        "RequestLimitExceeded",
    ];
    match (status, code) {
        (_, Some(code)) if THROTTLED.contains(&code) => Class::Transient,
        (_, Some(code)) if NOT_FOUND.contains(&code) => Class::NotFound,
        (404, _) => Class::NotFound,
        (401 | 403, _) => Class::AccessDenied,
        (408 | 429, _) => Class::Transient,
        (500..=599, _) => Class::Transient,
        _ => Class::Permanent,
    }
}

fn transient(message: &str) -> Failure {
    Failure {
        class: Class::Transient,
        status: None,
        code: None,
        message: message.to_owned(),
    }
}

/// The error and its sources on one line (the SDK's top-level messages alone say little).
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The SDK configuration for tests against a local S3/SQS/SNS-compatible server (moto), or `None`,
/// with a note, when no such server was started.
///
/// `scripts/test` starts moto on loopback and sets `THUMBNAIL_TEST_AWS=1` with the standard
/// variables: `AWS_ENDPOINT_URL`, dummy `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, and
/// `AWS_REGION`. The configuration is loaded through the standard chain, as the binaries load it.
///
/// # Panics
///
/// If the endpoint is not on loopback: tests must never reach a real account.
#[cfg(feature = "test-server")]
pub async fn test_server_config() -> Option<aws_config::SdkConfig> {
    if std::env::var_os("THUMBNAIL_TEST_AWS").is_none() {
        eprintln!(
            "THUMBNAIL_TEST_AWS is not set: this AWS run is skipped (scripts/test starts moto and sets it)"
        );
        return None;
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let endpoint = config.endpoint_url().unwrap_or_default();
    let loopback = ["http://127.", "http://localhost:", "http://[::1]:"];
    assert!(
        loopback.iter().any(|prefix| endpoint.starts_with(prefix)),
        "AWS tests only talk to a server on loopback; AWS_ENDPOINT_URL is {endpoint:?}"
    );
    Some(config)
}

/// Creates the SQS queue `name`; returns its URL and ARN.
#[cfg(feature = "test-server")]
async fn test_queue(config: &aws_config::SdkConfig, name: &str) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(config);
    let created = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create the queue");
    let url = created.queue_url().expect("a queue URL").to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("read the queue ARN");
    let arn = attributes.attributes().expect("attributes")[&QueueAttributeName::QueueArn].clone();
    (url, arn)
}

/// Creates the SQS queue `name`, subscribes it to the SNS topic `topic_arn` and returns its URL: a
/// test reads what the topic published as an application subscribed to it would.
///
/// # Panics
///
/// If the server refuses any step.
#[cfg(feature = "test-server")]
pub async fn subscribed_test_queue(
    config: &aws_config::SdkConfig,
    topic_arn: &str,
    name: &str,
) -> String {
    let (url, arn) = test_queue(config, name).await;
    aws_sdk_sns::Client::new(config)
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .expect("subscribe the queue to the topic");
    url
}

/// Creates the bucket `bucket` in the configured region; returns a path-style client for it.
///
/// # Panics
///
/// If the server refuses.
#[cfg(feature = "test-server")]
pub async fn test_bucket(config: &aws_config::SdkConfig, bucket: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    let region = config.region().expect("a region").as_ref();
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        )
        .send()
        .await
        .expect("create the bucket");
    s3
}

/// Creates the bucket `bucket` and the SQS queue `queue`, has the bucket announce every created
/// object on the queue, as S3 would, and returns the queue's URL.
///
/// # Panics
///
/// If the server refuses any step.
#[cfg(feature = "test-server")]
pub async fn notifying_test_bucket(
    config: &aws_config::SdkConfig,
    bucket: &str,
    queue: &str,
) -> String {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let (url, arn) = test_queue(config, queue).await;
    let announce = QueueConfiguration::builder()
        .queue_arn(arn)
        .events(Event::S3ObjectCreated)
        .build()
        .expect("queue and events are set");
    test_bucket(config, bucket)
        .await
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
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_classify() {
        assert_eq!(classify_status(500, None), Class::Transient);
        assert_eq!(classify_status(429, None), Class::Transient);
        assert_eq!(
            classify_status(400, Some("ThrottlingException")),
            Class::Transient
        );
        assert_eq!(
            classify_status(400, Some("AWS.SimpleQueueService.NonExistentQueue")),
            Class::NotFound
        );
        assert_eq!(classify_status(404, None), Class::NotFound);
        assert_eq!(classify_status(403, None), Class::AccessDenied);
        assert_eq!(classify_status(400, None), Class::Permanent);
        assert!(Class::Transient.is_retryable() && !Class::NotFound.is_retryable());
    }
}
