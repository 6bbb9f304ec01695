//! The thumbnail worker: the commands of the `thumbnail-worker` binary, as a library that tests
//! and other programs can call.
//!
//! - [`run`]: receive upload events from the queue, make thumbnails with bounded concurrency,
//!   settle each message; survive outages; stop cleanly on SIGTERM; serve the web console
//!   (`thumbnail_console`) and `/metrics` when the settings give their addresses.
//! - [`upload`]: put files into the source bucket.
//! - [`backfill`]: queue the source objects whose thumbnails are missing or were made with other presets.
//! - `setup` (feature `aws`): create the AWS resources the settings name.
//! - [`status`]: the depth of the queue and the dead-letter queue.
//! - [`dead_letters`]: list dead letters with their reasons; move them back to the queue.
//! - [`convert`]: thumbnails of local files, vipsthumbnail-style, with no queue or bucket.
//!
//! Every part is built by [`thumbnail_parts::Parts`] from [`thumbnail_config::Settings`].
//!
//! ```no_run
//! use thumbnail_config::Settings;
//!
//! # async fn example() -> anyhow::Result<()> {
//! let settings = Settings::from_env()?;
//! let uploads = thumbnail_worker::upload::plan(&["photo.jpg".into()], None)?;
//! thumbnail_worker::upload::upload(settings.clone(), &uploads, None).await?;
//! thumbnail_worker::run::run(settings, true).await?; // until nothing is pending
//! # Ok(())
//! # }
//! ```

pub mod backfill;
pub mod convert;
pub mod dead_letters;
pub mod run;
#[cfg(feature = "aws")]
pub mod setup;
pub mod status;
pub mod upload;
