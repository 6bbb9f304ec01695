//! The one place the thumbnail pipeline's parts are built: [`Parts`] turns [`Settings`] into the
//! stores, queues, notifier and [`Pipeline`] of either backend. The worker and the Lambda function
//! both call it, and build nothing themselves.
//!
//! | part | local backend (default) | AWS backend (feature `aws`) |
//! |---|---|---|
//! | source, destination | folders `LOCAL_DIR/buckets/<bucket>` | S3 buckets |
//! | queue, dead letters | spool folders `LOCAL_DIR/queues/<name>` | SQS queues |
//! | notifier | the log and `LOCAL_DIR/notifications.jsonl` | the SNS topic (the log without one) |
//! | more notifiers | e-mail (`smtp_url`), a signed webhook (`webhook_url`) | the same |
//! | preview links | `file://`, or with the console on, signed `http://` links it serves | presigned S3 URLs |
//! | upload events | [`LocalEvents`] watches the source folder | S3 bucket notifications |
//!
//! ```
//! use thumbnail_config::Settings;
//! use thumbnail_parts::Parts;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("thumbnail-parts-doc-{}", std::process::id()));
//! let settings = Settings::load(None, [], &[format!("local_dir={}", dir.display())])?;
//! let parts = Parts::connect(settings).await?;
//! let pipeline = parts.pipeline().await?;
//! assert!(pipeline.source().name().ends_with("buckets/uploads"));
//! assert!(parts.queue().await?.name().ends_with("thumbnail-jobs"));
//! # std::fs::remove_dir_all(dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
mod local_events;
pub mod logs;

pub use local_events::{LocalEvents, WatchError};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thumbnail_config::{Backend, Settings};
use thumbnail_notify::{
    FanOut, LogNotifier, Notifier, NotifyError, SmtpNotifier, SmtpSettings, WebhookNotifier,
};
use thumbnail_pipeline::Pipeline;
use thumbnail_queue::{LocalQueue, Queue, QueueError};
use thumbnail_storage::links::{LinkSigner, SecretError, shared_permissions};
use thumbnail_storage::{LocalStore, ObjectStore, StorageError};

/// A store of either backend.
pub type DynStore = Box<dyn ObjectStore>;

/// The pipeline over stores and a notifier of either backend.
pub type DynPipeline = Pipeline<DynStore, DynStore, Box<dyn Notifier>>;

/// The local dead-letter queue's name when the settings give none.
pub const LOCAL_DEAD_LETTERS: &str = "thumbnail-dead-letters";

/// Why a part could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    /// A store could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A queue could not be opened or found.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The notifier's topic could not be found.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// The secret that signs local preview links cannot be read or made.
    #[error(transparent)]
    Links(#[from] SecretError),
    /// The local source folder cannot be watched.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The local backend's folder cannot be made.
    #[error("the local folder {path}: {source}")]
    LocalDir {
        /// The folder (`local_dir`).
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The settings ask for the AWS backend, and this build has none.
    #[error(
        "THUMBNAIL_BACKEND=aws, but this program was built without the `aws` feature; rebuild with it"
    )]
    AwsNotBuilt,
}

/// The backend the settings name, connected: the AWS configuration is loaded once, and every
/// client made from it shares its HTTP connections.
#[derive(Debug)]
pub struct Parts {
    settings: Settings,
    backend: Connection,
}

#[derive(Debug)]
enum Connection {
    Local,
    #[cfg(feature = "aws")]
    // Boxed: the SDK configuration is large, and the local backend needs none.
    Aws(Box<aws::Aws>),
}

impl Parts {
    /// Connects to the backend of `settings`, for a long-running process: on AWS, a response must
    /// begin within 30 s (`aws::Aws::load`, feature `aws`).
    pub async fn connect(settings: Settings) -> Result<Self, PartsError> {
        Self::connect_with(settings, false).await
    }

    /// [`Parts::connect`] for uploading files, which may take longer to send than a response
    /// is waited for.
    pub async fn connect_for_uploads(settings: Settings) -> Result<Self, PartsError> {
        Self::connect_with(settings, true).await
    }

    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    async fn connect_with(settings: Settings, uploads: bool) -> Result<Self, PartsError> {
        let backend = match settings.backend {
            Backend::Local => {
                private_dir(&settings.local_dir)?;
                Connection::Local
            }
            #[cfg(feature = "aws")]
            Backend::Aws if uploads => {
                Connection::Aws(Box::new(aws::Aws::load_for_uploads().await))
            }
            #[cfg(feature = "aws")]
            Backend::Aws => Connection::Aws(Box::new(aws::Aws::load().await)),
            #[cfg(not(feature = "aws"))]
            Backend::Aws => return Err(PartsError::AwsNotBuilt),
        };
        Ok(Parts { settings, backend })
    }

    /// The settings the parts are built from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The bucket `name`.
    pub fn bucket(&self, name: &str) -> Result<DynStore, PartsError> {
        Ok(match &self.backend {
            Connection::Local => {
                let store = LocalStore::new(self.bucket_dir(name))?;
                Box::new(match self.links()? {
                    Some(links) => store.with_links(links),
                    None => store,
                })
            }
            #[cfg(feature = "aws")]
            Connection::Aws(aws) => Box::new(aws.bucket(&self.settings, name)),
        })
    }

    /// Locally with the console on, what signs (and checks) the preview links it serves: the
    /// secret is `LOCAL_DIR/link-secret`, made on first use and shared by every worker of the
    /// folder. `None` on AWS (S3 presigns) and without a console (`file://` URLs).
    pub fn links(&self) -> Result<Option<LinkSigner>, PartsError> {
        let (Connection::Local, Some(base)) = (&self.backend, self.settings.console_base()) else {
            return Ok(None);
        };
        let secret = self.settings.local_dir.join("link-secret");
        let signer = LinkSigner::load_or_create(&base, &secret)?;
        warn_if_shared(&secret);
        Ok(Some(signer))
    }

    /// The notifier: the SNS topic, or the log (and, locally, `notifications.jsonl`); with
    /// e-mail and a webhook beside it when the settings name them.
    pub async fn notifier(&self) -> Result<Box<dyn Notifier>, PartsError> {
        let settings = &self.settings;
        let local_dir = &settings.local_dir;
        let mut notifiers: Vec<Box<dyn Notifier>> = vec![match &self.backend {
            Connection::Local => Box::new(LogNotifier::with_jsonl(
                local_dir.join("notifications.jsonl"),
            )),
            #[cfg(feature = "aws")]
            Connection::Aws(aws) => aws.notifier(settings).await?,
        }];
        if let Some(url) = &settings.smtp_url {
            let missing = |target: &str| NotifyError::Config {
                target: target.into(),
                message: "e-mail notifications (smtp_url) need it".into(),
            };
            notifiers.push(Box::new(SmtpNotifier::new(&SmtpSettings {
                url: url.expose().to_owned(),
                from: settings
                    .email_from
                    .clone()
                    .ok_or_else(|| missing("email_from"))?,
                to: settings.email_to.clone(),
            })?));
        }
        if let Some(url) = &settings.webhook_url {
            let secret = settings
                .webhook_secret
                .as_ref()
                .ok_or(NotifyError::Config {
                    target: "webhook_secret".into(),
                    message: "a webhook (webhook_url) needs a secret to sign with".into(),
                })?;
            notifiers.push(Box::new(WebhookNotifier::new(
                url.expose(),
                secret.expose().as_bytes(),
            )?));
        }
        Ok(match notifiers.len() {
            1 => notifiers.pop().expect("one"),
            _ => Box::new(FanOut::new(notifiers)),
        })
    }

    /// The pipeline from the source bucket to the destination bucket and the notifier, sized as
    /// [`Settings::sizing`] says.
    pub async fn pipeline(&self) -> Result<DynPipeline, PartsError> {
        self.pipeline_also_notifying(Vec::new()).await
    }

    /// [`Parts::pipeline`], its notifications going to `also` too (the console's feed).
    pub async fn pipeline_also_notifying(
        &self,
        also: Vec<Box<dyn Notifier>>,
    ) -> Result<DynPipeline, PartsError> {
        let settings = &self.settings;
        let mut notifier = self.notifier().await?;
        if !also.is_empty() {
            let mut all = vec![notifier];
            all.extend(also);
            notifier = Box::new(FanOut::new(all));
        }
        Ok(Pipeline::new(
            self.bucket(&settings.source_bucket)?,
            self.bucket(&settings.dest_bucket)?,
            notifier,
            settings.pipeline_config(),
            settings.sizing().engine_threads,
        ))
    }

    /// The job queue.
    pub async fn queue(&self) -> Result<Arc<dyn Queue>, PartsError> {
        self.named_queue(&self.settings.queue).await
    }

    /// The dead-letter queue: locally always one; on AWS the one the settings name, if any.
    pub async fn dead_letters(&self) -> Result<Option<Arc<dyn Queue>>, PartsError> {
        let name = match (&self.backend, &self.settings.dlq) {
            (_, Some(name)) => name.as_str(),
            (Connection::Local, None) => LOCAL_DEAD_LETTERS,
            #[cfg(feature = "aws")]
            (Connection::Aws(_), None) => {
                tracing::warn!(
                    "THUMBNAIL_DLQ is not set: messages that can never succeed are announced, then deleted"
                );
                return Ok(None);
            }
        };
        Ok(Some(self.named_queue(name).await?))
    }

    async fn named_queue(&self, name: &str) -> Result<Arc<dyn Queue>, PartsError> {
        Ok(match &self.backend {
            Connection::Local => Arc::new(LocalQueue::open(
                self.settings.local_dir.join("queues").join(name),
            )?),
            #[cfg(feature = "aws")]
            Connection::Aws(aws) => Arc::new(aws.queue(name).await?),
        })
    }

    /// Locally, the watcher that turns files appearing in the source folder into upload events;
    /// on AWS `None`: S3 bucket notifications announce uploads.
    pub fn local_events(&self) -> Result<Option<LocalEvents>, PartsError> {
        let settings = &self.settings;
        Ok(match self.backend {
            Connection::Local => Some(LocalEvents::open(
                &settings.source_bucket,
                &self.bucket_dir(&settings.source_bucket),
                &settings.local_dir.join("ledger"),
            )?),
            #[cfg(feature = "aws")]
            Connection::Aws(_) => None,
        })
    }

    /// How long one receive waits for messages: SQS's long poll; locally a second, the pace at
    /// which the source folder is scanned.
    pub fn receive_wait(&self) -> Duration {
        match self.backend {
            Connection::Local => Duration::from_secs(1),
            #[cfg(feature = "aws")]
            Connection::Aws(_) => thumbnail_queue::MAX_WAIT,
        }
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.settings.local_dir.join("buckets").join(bucket)
    }
}

/// Makes the local backend's folder, for its owner only: it holds the uploads, the secret that
/// signs links, and the notifications with their signed links. One made before that lets others
/// in is left as it is, with a warning.
fn private_dir(dir: &Path) -> Result<(), PartsError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PartsError::LocalDir {
            path: dir.to_owned(),
            source,
        })?;
    warn_if_shared(dir);
    Ok(())
}

/// Warns when users other than the owner may read or write `path`.
fn warn_if_shared(path: &Path) {
    if let Ok(Some(mode)) = shared_permissions(path) {
        tracing::warn!(
            path = %path.display(),
            shared = %format!("{mode:03o}"),
            "other users may read or change this, and so read or forge preview links: chmod go= it"
        );
    }
}
