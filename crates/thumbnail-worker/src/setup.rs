//! `thumbnail-worker setup`: creates, idempotently, the AWS resources the settings name: the two
//! buckets, the queue and its dead-letter queue with a redrive policy, the queue policy that lets the
//! source bucket send, the bucket notification for `ObjectCreated`, the topic and an optional e-mail
//! subscription. Running it twice changes nothing.

use anyhow::{Context, Result};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Event, FilterRule, FilterRuleName,
    NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

use thumbnail_config::Settings;

/// Receives before SQS moves a message to the dead-letter queue: the pipeline's own limit, so the
/// local queue and SQS give up on a message at the same point.
const MAX_RECEIVE_COUNT: u32 = thumbnail_pipeline::MAX_RECEIVES;

/// What `setup` may add beyond the settings.
#[derive(Debug, Default)]
pub struct SetupOptions {
    /// Subscribe this address to the topic (SNS sends a confirmation e-mail).
    pub email: Option<String>,
    /// Only announce keys starting with this.
    pub prefix: Option<String>,
    /// Only announce keys ending with this (e.g. `.jpg`).
    pub suffix: Option<String>,
}

/// Creates everything and prints the settings to run with.
pub async fn setup(settings: &Settings, options: &SetupOptions) -> Result<()> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = config
        .region()
        .context("no AWS region configured (AWS_REGION)")?
        .to_string();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(settings.s3_path_style)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);

    for bucket in [&settings.source_bucket, &settings.dest_bucket] {
        create_bucket(&s3, bucket, &region).await?;
    }
    let dlq_name = settings
        .dlq
        .clone()
        .unwrap_or_else(|| format!("{}-dead-letters", settings.queue));
    let dlq_url = create_queue(&sqs, &dlq_name).await?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let queue_url = create_queue(&sqs, &settings.queue).await?;
    let queue_arn = queue_arn(&sqs, &queue_url).await?;
    let source_arn = format!("arn:aws:s3:::{}", settings.source_bucket);
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "source-bucket-notifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
        }],
    });
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT.to_string()});
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            settings.visibility.to_string(),
        )
        .send()
        .await
        .context("setting the queue's policy and redrive")?;

    let mut rules = Vec::new();
    for (name, value) in [
        (FilterRuleName::Prefix, &options.prefix),
        (FilterRuleName::Suffix, &options.suffix),
    ] {
        if let Some(value) = value {
            rules.push(FilterRule::builder().name(name).value(value).build());
        }
    }
    let mut notification = QueueConfiguration::builder()
        .id("thumbnail")
        .queue_arn(&queue_arn)
        .events(Event::from("s3:ObjectCreated:*"));
    if !rules.is_empty() {
        notification = notification.filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build(),
        );
    }
    s3.put_bucket_notification_configuration()
        .bucket(&settings.source_bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(notification.build().context("notification configuration")?)
                .build(),
        )
        .send()
        .await
        .context("configuring the bucket notification")?;

    let topic_name = settings
        .topic
        .clone()
        .unwrap_or_else(|| "thumbnails".into());
    let topic_arn = if topic_name.starts_with("arn:") {
        topic_name.clone()
    } else {
        // create_topic is idempotent and answers the ARN.
        let created = sns
            .create_topic()
            .name(&topic_name)
            .send()
            .await
            .context("creating the topic")?;
        created.topic_arn().unwrap_or_default().to_owned()
    };
    if let Some(email) = &options.email {
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("email")
            .endpoint(email)
            .send()
            .await
            .context("subscribing the e-mail address")?;
        eprintln!(
            "{email}: SNS sends a confirmation e-mail; notifications arrive once it is confirmed"
        );
    }
    println!("THUMBNAIL_BACKEND=aws");
    println!("THUMBNAIL_SOURCE_BUCKET={}", settings.source_bucket);
    println!("THUMBNAIL_DEST_BUCKET={}", settings.dest_bucket);
    println!("THUMBNAIL_QUEUE={queue_url}");
    println!("THUMBNAIL_DLQ={dlq_url}");
    println!("THUMBNAIL_TOPIC={topic_arn}");
    println!("AWS_REGION={region}");
    Ok(())
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) -> Result<()> {
    let mut request = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating bucket {bucket}")),
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String> {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("creating queue {name}"))?;
    Ok(created.queue_url().unwrap_or_default().to_owned())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("reading the ARN of {url}"))?;
    attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .with_context(|| format!("{url} has no ARN"))
}
