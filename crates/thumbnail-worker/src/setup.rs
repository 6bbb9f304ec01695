//! `thumbnail-worker setup`: creates, idempotently, the AWS resources the settings name: the two
//! buckets, the queue and its dead-letter queue with a redrive policy, the queue policy that lets the
//! source bucket send, the bucket notification for `ObjectCreated`, the topic and an optional e-mail
//! subscription. Running it twice changes nothing. It prints `export` lines for a shell to `eval`,
//! so that `run` then uses exactly what was created.

use anyhow::{Context, Result};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use thumbnail_config::Settings;
use thumbnail_notify::SnsNotifier;
use thumbnail_parts::aws::Aws;
use thumbnail_queue::SqsQueue;

/// The id of the bucket notification `setup` writes; other notifications of the bucket are kept.
const NOTIFICATION_ID: &str = "thumbnail";

/// What `setup` may add beyond the settings.
#[derive(Debug, Default)]
pub struct SetupOptions {
    /// Subscribe this address to the topic (SNS sends a confirmation e-mail).
    pub email: Option<String>,
    /// Only this owner's notifications reach `email`: a subscription filter policy on the
    /// notifications' `owner` attribute.
    pub owner: Option<String>,
    /// Only announce keys starting with this.
    pub prefix: Option<String>,
    /// Only announce keys ending with this (e.g. `.jpg`).
    pub suffix: Option<String>,
}

/// Creates everything and prints the settings to run with, as `export` lines.
pub async fn setup(settings: &Settings, options: &SetupOptions) -> Result<()> {
    let aws = Aws::load().await;
    let config = aws.sdk_config();
    let region = config
        .region()
        .context("no AWS region configured (AWS_REGION)")?
        .to_string();
    for bucket in [&settings.source_bucket, &settings.dest_bucket] {
        aws.bucket(settings, bucket).create_bucket().await?;
    }
    let jobs = queue_name(&settings.queue);
    let dlq_name = settings.dlq.as_deref().map_or_else(
        || format!("{jobs}-dead-letters"),
        |dlq| queue_name(dlq).to_owned(),
    );
    let dlq = SqsQueue::create(config, &dlq_name).await?;
    let queue = SqsQueue::create(config, jobs).await?;
    let queue_arn = queue.arn().await?;
    configure_queue(settings, &queue, &queue_arn, &dlq.arn().await?).await?;
    announce_uploads(&aws, settings, options, &queue_arn).await?;

    let topic =
        SnsNotifier::create(config, settings.topic.as_deref().unwrap_or("thumbnails")).await?;
    if let Some(email) = &options.email {
        let mut subscribe = topic
            .client()
            .subscribe()
            .topic_arn(topic.topic_arn())
            .protocol("email")
            .endpoint(email);
        if let Some(owner) = &options.owner {
            subscribe = subscribe.attributes(
                "FilterPolicy",
                serde_json::json!({"owner": [owner]}).to_string(),
            );
        }
        subscribe
            .send()
            .await
            .context("subscribing the e-mail address")?;
        eprintln!(
            "{email}: SNS sends a confirmation e-mail; notifications arrive once it is confirmed"
        );
    }
    for (name, value) in [
        ("THUMBNAIL_BACKEND", "aws"),
        ("THUMBNAIL_SOURCE_BUCKET", &settings.source_bucket),
        ("THUMBNAIL_DEST_BUCKET", &settings.dest_bucket),
        ("THUMBNAIL_QUEUE", queue.url()),
        ("THUMBNAIL_DLQ", dlq.url()),
        ("THUMBNAIL_TOPIC", topic.topic_arn()),
        ("AWS_REGION", &region),
    ] {
        println!("export {name}={}", shell_quote(value));
    }
    Ok(())
}

/// A queue's name from a setting that holds its name or its URL: a second `setup` runs with the
/// settings the first printed, which name the queues by URL.
fn queue_name(setting: &str) -> &str {
    match setting.starts_with("https://") || setting.starts_with("http://") {
        true => setting.rsplit('/').next().unwrap_or(setting),
        false => setting,
    }
}

/// The queue policy that lets the source bucket send, the redrive to the dead-letter queue, and
/// the visibility timeout.
async fn configure_queue(
    settings: &Settings,
    queue: &SqsQueue,
    queue_arn: &str,
    dlq_arn: &str,
) -> Result<()> {
    let policy = queue_policy(&settings.source_bucket, queue_arn)?;
    // The pipeline's own limit: it announces and dead-letters a message on its last receive,
    // before the redrive would move it without a word.
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receives.to_string()});
    queue
        .client()
        .set_queue_attributes()
        .queue_url(queue.url())
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            settings.visibility.as_secs().to_string(),
        )
        .send()
        .await
        .context("setting the queue's policy and redrive")?;
    Ok(())
}

/// Has the source bucket announce created objects on the queue. S3 replaces a bucket's whole
/// notification configuration at once, so the existing one is read and only our entry (by its id)
/// is replaced: notifications other applications configured stay.
async fn announce_uploads(
    aws: &Aws,
    settings: &Settings,
    options: &SetupOptions,
    queue_arn: &str,
) -> Result<()> {
    let bucket = aws.bucket(settings, &settings.source_bucket);
    let s3 = bucket.client();
    let existing = match s3
        .get_bucket_notification_configuration()
        .bucket(&settings.source_bucket)
        .send()
        .await
    {
        Ok(existing) => existing,
        Err(e) if is_empty_moto_answer(&e) => {
            aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput::builder().build()
        }
        Err(e) => return Err(e).context("reading the bucket's notifications"),
    };
    let mut rules = Vec::new();
    for (name, value) in [
        (FilterRuleName::Prefix, &options.prefix),
        (FilterRuleName::Suffix, &options.suffix),
    ] {
        if let Some(value) = value {
            rules.push(FilterRule::builder().name(name).value(value).build());
        }
    }
    let mut ours = QueueConfiguration::builder()
        .id(NOTIFICATION_ID)
        .queue_arn(queue_arn)
        .events(Event::from("s3:ObjectCreated:*"));
    if !rules.is_empty() {
        ours = ours.filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build(),
        );
    }
    let mut queues: Vec<QueueConfiguration> = existing
        .queue_configurations()
        .iter()
        .filter(|q| q.id() != Some(NOTIFICATION_ID))
        .cloned()
        .collect();
    queues.push(ours.build().context("notification configuration")?);
    let merged = NotificationConfiguration::builder()
        .set_queue_configurations(Some(queues))
        .set_topic_configurations(existing.topic_configurations.clone())
        .set_lambda_function_configurations(existing.lambda_function_configurations.clone())
        .set_event_bridge_configuration(existing.event_bridge_configuration.clone())
        .build();
    s3.put_bucket_notification_configuration()
        .bucket(&settings.source_bucket)
        .notification_configuration(merged)
        .send()
        .await
        .context("configuring the bucket notification")?;
    Ok(())
}

/// Whether `error` is moto's answer for a bucket with no notifications: an empty
/// `<GetBucketNotificationResponse/>` where S3 sends an empty `<NotificationConfiguration/>`, which
/// the SDK cannot parse. Only that exact empty answer counts: a configuration we cannot read is
/// never taken for none, which would replace it.
fn is_empty_moto_answer<E>(
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    let Some(response) = error.raw_response() else {
        return false;
    };
    let body = response
        .body()
        .bytes()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let body = body.trim();
    response.status().is_success()
        && body.ends_with("/>")
        && body.contains("<GetBucketNotificationResponse ")
        && body.matches('<').count() <= 2
}

/// `value` quoted for a POSIX shell: in single quotes, each single quote written as `'\''`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The queue policy that lets S3 send the source bucket's events, and no other bucket's: the
/// bucket by name and, since a bucket name can be taken by another account once deleted, the
/// queue's own account as the sender, as the deploy templates have it.
fn queue_policy(source_bucket: &str, queue_arn: &str) -> Result<serde_json::Value> {
    // arn:PARTITION:sqs:REGION:ACCOUNT:NAME
    let fields: Vec<&str> = queue_arn.split(':').collect();
    let (partition, account) = match fields[..] {
        ["arn", partition, "sqs", _, account, _] if !account.is_empty() => (partition, account),
        _ => anyhow::bail!("the queue's ARN {queue_arn:?} names no account"),
    };
    Ok(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "source-bucket-notifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": format!("arn:{partition}:s3:::{source_bucket}")},
                "StringEquals": {"aws:SourceAccount": account},
            },
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_named_by_its_name_or_its_url() {
        assert_eq!(queue_name("thumbnail-jobs"), "thumbnail-jobs");
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/thumbnail-jobs";
        assert_eq!(queue_name(url), "thumbnail-jobs");
        assert_eq!(
            queue_name("http://127.0.0.1:5000/123456789012/jobs"),
            "jobs"
        );
    }

    #[test]
    fn the_queue_policy_names_the_bucket_and_the_account() {
        let policy = queue_policy("photos", "arn:aws-cn:sqs:cn-north-1:123456789012:jobs").unwrap();
        let condition = &policy["Statement"][0]["Condition"];
        assert_eq!(
            condition["ArnEquals"]["aws:SourceArn"],
            "arn:aws-cn:s3:::photos"
        );
        assert_eq!(
            condition["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        assert!(queue_policy("photos", "not-an-arn").is_err());
    }

    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    }
}
