//! The AWS backend: S3 buckets, SQS queues, an SNS topic, from the standard `AWS_*` configuration.

use anyhow::Result;
#[cfg(not(feature = "aws"))]
use anyhow::bail;
use thumbnail_storage::ObjectStore;

use crate::run::Parts;
use crate::settings::Settings;

#[cfg(feature = "aws")]
mod wired {
    use std::sync::Arc;

    use super::*;
    use thumbnail_notify::{LogNotifier, Notifier, SnsNotifier};
    use thumbnail_queue::{Queue, SqsQueue};
    use thumbnail_storage::{S3Options, S3Store};

    /// Region, credentials, endpoint and retries: the standard `AWS_*` chain, nothing hard-coded.
    async fn config() -> aws_config::SdkConfig {
        aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
    }

    fn bucket(
        settings: &Settings,
        config: &aws_config::SdkConfig,
        name: &str,
    ) -> Box<dyn ObjectStore> {
        Box::new(S3Store::new(
            config,
            name,
            S3Options {
                force_path_style: settings.s3_path_style,
            },
        ))
    }

    pub async fn store(settings: &Settings, name: &str) -> Result<Box<dyn ObjectStore>> {
        Ok(bucket(settings, &config().await, name))
    }

    pub async fn parts(settings: &Settings) -> Result<Parts> {
        let config = config().await;
        let notifier: Box<dyn Notifier> = match &settings.topic {
            Some(topic) => Box::new(SnsNotifier::connect(&config, topic).await?),
            None => Box::new(LogNotifier::new()),
        };
        let dead_letters: Option<Arc<dyn Queue>> = match &settings.dlq {
            Some(dlq) => Some(Arc::new(SqsQueue::connect(&config, dlq).await?)),
            None => None,
        };
        Ok(Parts {
            pipeline: crate::run::pipeline(
                settings,
                bucket(settings, &config, &settings.source_bucket),
                bucket(settings, &config, &settings.dest_bucket),
                notifier,
            )?,
            queue: Arc::new(SqsQueue::connect(&config, &settings.queue).await?),
            dead_letters,
            // S3 bucket notifications announce uploads.
            events: None,
            wait: thumbnail_queue::MAX_WAIT,
        })
    }
}

#[cfg(feature = "aws")]
pub use wired::{parts, store};

#[cfg(not(feature = "aws"))]
const NOT_BUILT: &str = "this thumbnail-worker was built without the `aws` feature; rebuild with it for THUMBNAIL_BACKEND=aws";

/// Without the `aws` feature there is no AWS backend to connect.
#[cfg(not(feature = "aws"))]
pub async fn parts(_settings: &Settings) -> Result<Parts> {
    bail!(NOT_BUILT)
}

/// Without the `aws` feature there is no AWS backend to connect.
#[cfg(not(feature = "aws"))]
pub async fn store(_settings: &Settings, _name: &str) -> Result<Box<dyn ObjectStore>> {
    bail!(NOT_BUILT)
}
