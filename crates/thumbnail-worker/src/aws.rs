//! The AWS backend: S3 buckets, SQS queues, an SNS topic, from the standard `AWS_*` configuration.

use anyhow::Result;
#[cfg(not(feature = "aws"))]
use anyhow::bail;
use thumbnail_config::Settings;
use thumbnail_storage::ObjectStore;

use crate::run::Parts;

#[cfg(feature = "aws")]
mod wired {
    use std::sync::Arc;

    use super::*;
    use thumbnail_config::aws::Aws;
    use thumbnail_queue::Queue;

    /// The bucket `name`, for `upload`: large files may take longer to send than `run`'s clients
    /// wait for a response.
    pub async fn store(settings: &Settings, name: &str) -> Result<Box<dyn ObjectStore>> {
        Ok(Box::new(
            Aws::load_for_uploads().await.bucket(settings, name),
        ))
    }

    pub async fn parts(settings: &Settings) -> Result<Parts> {
        let aws = Aws::load().await;
        let dead_letters = aws
            .dead_letters(settings)
            .await?
            .map(|q| Arc::new(q) as Arc<dyn Queue>);
        Ok(Parts {
            pipeline: crate::run::pipeline(
                settings,
                Box::new(aws.bucket(settings, &settings.source_bucket)),
                Box::new(aws.bucket(settings, &settings.dest_bucket)),
                aws.notifier(settings).await?,
            )?,
            queue: Arc::new(aws.queue(&settings.queue).await?),
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
