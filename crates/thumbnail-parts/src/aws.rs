//! The AWS parts the settings name: S3 buckets, SQS queues and the SNS topic, through the standard
//! `AWS_*` configuration (region, credentials, endpoint, retries), nothing hard-coded.

use thumbnail_notify::{LogNotifier, Notifier, NotifyError, SnsNotifier};
use thumbnail_queue::{QueueError, SqsQueue};
use thumbnail_storage::{S3Options, S3Store};

use thumbnail_config::Settings;

/// The shared AWS configuration, loaded once; every client made from it shares its HTTP pool.
#[derive(Clone, Debug)]
pub struct Aws {
    config: aws_config::SdkConfig,
}

impl Aws {
    /// Loads the standard chain: `AWS_REGION`, `AWS_ENDPOINT_URL`, credentials, profiles.
    ///
    /// With one addition: a response must begin within 30 s of its request (more than SQS's 20 s
    /// long poll). The SDK sets no such limit, so a connection that silently stops answering (a
    /// frozen server, a NAT that dropped the flow) would hold its request, and the worker, for
    /// ever; this way the attempt fails, the SDK retries on a new connection, and the worker's
    /// backoff takes over.
    pub async fn load() -> Self {
        Self::load_with(Some(std::time::Duration::from_secs(30))).await
    }

    /// [`Aws::load`] without the response limit, which counts from the start of the request: for
    /// uploads of large files, whose body alone may take longer than that to send.
    pub async fn load_for_uploads() -> Self {
        Self::load_with(None).await
    }

    async fn load_with(response_timeout: Option<std::time::Duration>) -> Self {
        let mut timeouts = aws_config::timeout::TimeoutConfig::builder();
        timeouts
            .set_connect_timeout(Some(std::time::Duration::from_secs(3)))
            .set_read_timeout(response_timeout);
        Aws {
            config: aws_config::defaults(aws_config::BehaviorVersion::latest())
                .timeout_config(timeouts.build())
                .load()
                .await,
        }
    }

    /// The SDK configuration, for clients of other services.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// The bucket `name`, addressed as the settings say.
    pub fn bucket(&self, settings: &Settings, name: &str) -> S3Store {
        S3Store::new(
            &self.config,
            name,
            S3Options {
                force_path_style: settings.s3_path_style,
            },
        )
    }

    /// The SNS topic of the settings, or the log, with a warning, when none is set.
    pub async fn notifier(&self, settings: &Settings) -> Result<Box<dyn Notifier>, NotifyError> {
        Ok(match &settings.topic {
            Some(topic) => Box::new(SnsNotifier::connect(&self.config, topic).await?),
            None => {
                tracing::warn!(
                    "THUMBNAIL_TOPIC is not set: notifications go to the log only, and no one is \
                     e-mailed (`thumbnail-worker setup` prints the topic to export)"
                );
                Box::new(LogNotifier::new())
            }
        })
    }

    /// The queue `name` (a name or a URL).
    pub async fn queue(&self, name: &str) -> Result<SqsQueue, QueueError> {
        SqsQueue::connect(&self.config, name).await
    }
}
