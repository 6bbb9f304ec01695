//! The thumbnail pipeline: from a created source object to thumbnails in the destination store and
//! one notification with a preview link per thumbnail.
//!
//! [`Pipeline`] is generic over where sources are read ([`ObjectStore`]), where thumbnails are written
//! (another, or the same, [`ObjectStore`]) and who is told ([`Notifier`]); all are injected, none
//! global. It runs the [`Engine`] on a blocking thread pool bounded to the number of cores, with one
//! engine (and its buffers) per thread.
//!
//! ```
//! use thumbnail_core::Presets;
//! use thumbnail_events::CreatedObject;
//! use thumbnail_notify::MemoryNotifier;
//! use thumbnail_pipeline::{Outcome, Pipeline, PipelineConfig};
//! use thumbnail_storage::{MemoryStore, ObjectKey, ObjectStore, PutOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // An upload: a 640x480 PNG made on the spot.
//! let mut png = Vec::new();
//! image::RgbImage::from_pixel(640, 480, image::Rgb([200, 80, 40]))
//!     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
//! let uploads = MemoryStore::new("uploads");
//! let key = ObjectKey::new("photos/cat.png")?;
//! let stored = uploads.put(&key, png, &PutOptions::new("image/png")).await?;
//!
//! let specs = vec![Presets::builtin().require("profile")?.clone()];
//! let pipeline = Pipeline::new(uploads, MemoryStore::new("thumbnails"), MemoryNotifier::new(), PipelineConfig::new(specs), 2);
//! let event = CreatedObject { bucket: "uploads".into(), key, size: Some(stored.size), etag: Some(stored.etag), event_name: "ObjectCreated:Put".into() };
//! let outcome = pipeline.process(&event).await?;
//! assert_eq!(outcome, Outcome::Made { keys: vec![ObjectKey::new("photos/cat/profile.jpg")?] });
//! assert_eq!(pipeline.process(&event).await?, Outcome::AlreadyDone); // a duplicate delivery
//! assert_eq!(pipeline.notifier().published().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Delivery guarantees
//!
//! Queues deliver at least once, so [`Pipeline::process`] may see the same object twice, or crash
//! half-way and be called again. It is written to be repeated:
//!
//! - thumbnail keys are deterministic (`<prefix>/<source key without extension>/<preset>.<ext>`), so a
//!   repeat overwrites instead of adding;
//! - each thumbnail carries the source ETag and a hash of its spec in its metadata, and a manifest
//!   (`.../manifest.json`) is written last, after the notification: when the manifest matches the
//!   source ETag and the specs, a repeat costs one small GET and does nothing else;
//! - what a user may see twice: a notification, when a crash falls between publishing it and writing
//!   the manifest.
//!
//! Errors say whether trying later can help ([`ProcessError::is_retryable`]): a corrupt or oversized
//! image is permanent and should be dead-lettered; a storage or notifier outage is transient and the
//! message should come back later.

#![warn(missing_docs)]

mod message;
mod metrics;

pub use message::{
    Disposition, FAILURE_REASON, FIRST_RETRY_DELAY, MAX_RETRY_DELAY, dead_letter, retry_delay,
    settle,
};
pub use metrics::Metrics;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thumbnail_core::{Engine, Limits, Thumbnail, ThumbnailSpec};
use thumbnail_events::CreatedObject;
use thumbnail_notify::{Notification, Notifier, NotifyError};
use thumbnail_storage::{ObjectKey, ObjectStore, PutOptions, StorageError};
use tokio::sync::{Notify, Semaphore};

/// Metadata key naming the source ETag a thumbnail was made from.
pub const SOURCE_ETAG: &str = "thumbnail-source-etag";
/// Metadata key naming the preset of a thumbnail (also the recursion-guard marker).
pub const PRESET: &str = "thumbnail-preset";
/// Metadata key with a hash of the spec, so a changed preset definition is redone.
pub const SPEC_HASH: &str = "thumbnail-spec-hash";

/// How the pipeline makes and stores thumbnails.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// The thumbnails to make of every source.
    pub specs: Vec<ThumbnailSpec>,
    /// Prefix of every thumbnail key in the destination (may be empty).
    pub dest_prefix: String,
    /// Whether sources and thumbnails share one bucket: then nothing under `dest_prefix` is a source.
    pub same_bucket: bool,
    /// How long preview URLs stay valid.
    pub url_expiry: Duration,
    /// Engine limits; `max_bytes` also caps what is downloaded.
    pub limits: Limits,
    /// `Cache-Control` of the thumbnails.
    pub cache_control: String,
    /// Memory one image may take (its bytes plus the engine's working memory), checked before it
    /// is downloaded: an image that cannot fit fails permanently instead of running out of memory
    /// again on every retry. `None`: no check beyond `limits`.
    pub memory_budget: Option<u64>,
    /// Receives after which a message is given up on (announced and dead-lettered) instead of
    /// handled again: a message that crashes or stalls every worker that takes it must not do so
    /// for ever. [`MAX_RECEIVES`] by default, as the dead-letter redrive `setup` gives an SQS
    /// queue, so the local queue behaves the same; `None`: no limit.
    pub max_receives: Option<u32>,
}

/// The default [`PipelineConfig::max_receives`], and the `maxReceiveCount` of the SQS redrive
/// policy `thumbnail-worker setup` writes.
pub const MAX_RECEIVES: u32 = 5;

impl PipelineConfig {
    /// A configuration making `specs`, with the defaults: no prefix, separate buckets, URLs valid for
    /// 24 hours, default limits, cached for a day.
    pub fn new(specs: Vec<ThumbnailSpec>) -> Self {
        PipelineConfig {
            specs,
            dest_prefix: String::new(),
            same_bucket: false,
            url_expiry: Duration::from_secs(24 * 3600),
            limits: Limits::default(),
            // Keys are stable across re-uploads of a source, so not `immutable`.
            cache_control: "public, max-age=86400".into(),
            memory_budget: None,
            max_receives: Some(MAX_RECEIVES),
        }
    }
}

/// What processing one object did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Thumbnails were made, stored and announced.
    Made {
        /// The thumbnail keys, in spec order.
        keys: Vec<ObjectKey>,
    },
    /// The manifest shows this source version was already done: nothing was decoded or written.
    AlreadyDone,
    /// The object is one of ours (under the thumbnail prefix, or carrying our metadata): ignored.
    Ours,
}

/// Why an object could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Reading the source or writing a thumbnail failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The image cannot be made into thumbnails (corrupt, unsupported, over a limit).
    #[error("image {key}: {source}")]
    Image {
        /// The source key.
        key: String,
        /// What the engine said.
        source: thumbnail_core::Error,
    },
    /// The notification could not be published.
    #[error("notification: {0}")]
    Notify(#[from] NotifyError),
    /// The image would need more memory than the budget allows.
    #[error(
        "image {key} needs about {} MiB to process, more than the {} MiB available",
        needed >> 20,
        budget >> 20
    )]
    WontFit {
        /// The source key.
        key: String,
        /// The estimate: its bytes plus the engine's working memory.
        needed: u64,
        /// [`PipelineConfig::memory_budget`].
        budget: u64,
    },
}

impl ProcessError {
    /// Whether trying again later may succeed (outages); `false` means dead-letter it.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProcessError::Storage(e) => e.is_retryable(),
            ProcessError::Notify(e) => e.is_retryable(),
            ProcessError::Image { .. } | ProcessError::WontFit { .. } => false,
        }
    }
}

/// The pipeline over a source store `S`, a destination store `D` and a notifier `N`.
#[derive(Debug)]
pub struct Pipeline<S, D, N> {
    source: S,
    dest: D,
    notifier: N,
    config: PipelineConfig,
    engines: Arc<Mutex<Vec<Engine>>>,
    cpu: Arc<Semaphore>,
    in_flight: InFlight,
    metrics: Metrics,
}

/// Source objects being processed, so that two deliveries of the same object arriving together
/// (one upload announced twice, in one batch) are done one after the other: the second then finds
/// the first one's manifest instead of decoding again.
#[derive(Debug, Default)]
struct InFlight {
    keys: Mutex<HashSet<String>>,
    released: Notify,
}

impl InFlight {
    async fn claim(&self, key: String) -> Claim<'_> {
        loop {
            // Created before looking, so a release between the look and the wait is not missed.
            let released = self.released.notified();
            if self
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone())
            {
                return Claim { owner: self, key };
            }
            released.await;
        }
    }
}

/// Holds a source object until dropped.
struct Claim<'a> {
    owner: &'a InFlight,
    key: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.owner
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        self.owner.released.notify_waiters();
    }
}

impl<S: ObjectStore, D: ObjectStore, N: Notifier> Pipeline<S, D, N> {
    /// A pipeline; image work runs on at most `threads` blocking threads at once.
    pub fn new(source: S, dest: D, notifier: N, config: PipelineConfig, threads: usize) -> Self {
        Pipeline {
            source,
            dest,
            notifier,
            config,
            engines: Arc::default(),
            cpu: Arc::new(Semaphore::new(threads.max(1))),
            in_flight: InFlight::default(),
            metrics: Metrics::default(),
        }
    }

    /// What this pipeline has done so far, for [`Metrics::register`].
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The source store.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The destination store.
    pub fn dest(&self) -> &D {
        &self.dest
    }

    /// The notifier.
    pub fn notifier(&self) -> &N {
        &self.notifier
    }

    /// Gives the stores back (e.g. to build a pipeline with another notifier over the same data).
    pub fn into_stores(self) -> (S, D) {
        (self.source, self.dest)
    }

    /// The thumbnail key of `spec` for `source`: `<prefix>/<source without extension>/<name>.<ext>`.
    pub fn thumbnail_key(
        &self,
        source: &ObjectKey,
        spec: &ThumbnailSpec,
    ) -> Result<ObjectKey, StorageError> {
        self.key_under_base(
            source,
            &format!("{}.{}", spec.name, spec.format.extension()),
        )
    }

    fn key_under_base(&self, source: &ObjectKey, name: &str) -> Result<ObjectKey, StorageError> {
        let stem = match source.as_str().rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') && !ext.contains('/') => {
                stem
            }
            _ => source.as_str(),
        };
        let prefix = self.config.dest_prefix.trim_matches('/');
        let base = if prefix.is_empty() {
            stem.to_owned()
        } else {
            format!("{prefix}/{stem}")
        };
        ObjectKey::new(format!("{base}/{name}"))
    }

    /// Makes, stores and announces the thumbnails of one created object.
    pub async fn process(&self, object: &CreatedObject) -> Result<Outcome, ProcessError> {
        let started = std::time::Instant::now();
        let done = self.process_once(object).await;
        match &done {
            Ok(outcome) => self.metrics.outcome(outcome, started.elapsed()),
            Err(e) => self.metrics.failure(e.reason()),
        }
        done
    }

    async fn process_once(&self, object: &CreatedObject) -> Result<Outcome, ProcessError> {
        let prefix = self.config.dest_prefix.trim_matches('/');
        if self.config.same_bucket
            && !prefix.is_empty()
            && object.key.as_str().starts_with(&format!("{prefix}/"))
        {
            return Ok(Outcome::Ours);
        }
        let _claim = self
            .in_flight
            .claim(format!("{}/{}", object.bucket, object.key))
            .await;
        let manifest_key = self.key_under_base(&object.key, "manifest.json")?;
        let fingerprint = self.fingerprint();
        if let Some(etag) = &object.etag
            && self
                .manifest_matches(&manifest_key, etag, &fingerprint)
                .await?
        {
            return Ok(Outcome::AlreadyDone);
        }
        if let Some(budget) = self.config.memory_budget {
            self.admit(&object.key, budget).await?;
        }
        let source = self
            .source
            .get(&object.key, self.config.limits.max_bytes)
            .await?;
        if source.info.metadata.contains_key(PRESET) {
            return Ok(Outcome::Ours);
        }
        self.metrics.downloaded(source.info.size);
        let etag = source.info.etag.clone();
        if object.etag.as_deref() != Some(etag.as_str())
            && self
                .manifest_matches(&manifest_key, &etag, &fingerprint)
                .await?
        {
            return Ok(Outcome::AlreadyDone);
        }
        let thumbnails = self.make(source.bytes, &object.key).await?;

        let mut stored = Vec::new();
        for (spec, mut thumbnail) in self.config.specs.iter().zip(thumbnails) {
            let key = self.thumbnail_key(&object.key, spec)?;
            let options = PutOptions::new(thumbnail.format.mime_type())
                .with_cache_control(&self.config.cache_control)
                .with_metadata(SOURCE_ETAG, &etag)
                .with_metadata(PRESET, &spec.name)
                .with_metadata(SPEC_HASH, spec_hash(spec));
            // Moved into the store; what is kept of `thumbnail` is its name, size and format.
            let bytes = std::mem::take(&mut thumbnail.bytes);
            let size = bytes.len();
            self.dest.put(&key, bytes, &options).await?;
            self.metrics.written(size as u64);
            let url = self.dest.preview_url(&key, self.config.url_expiry).await?;
            stored.push((key, thumbnail, size, url));
        }
        let manifest = serde_json::json!({
            "source": {"bucket": object.bucket, "key": object.key.as_str(), "etag": etag, "size": source.info.size},
            "fingerprint": fingerprint,
            "url_expiry_seconds": self.config.url_expiry.as_secs(),
            "thumbnails": stored.iter().map(|(key, t, size, url)| serde_json::json!({
                "preset": t.name, "key": key.as_str(), "width": t.width, "height": t.height,
                "bytes": size, "content_type": t.format.mime_type(), "url": url,
            })).collect::<Vec<_>>(),
        });
        let text = stored
            .iter()
            .map(|(_, t, size, url)| {
                format!("{} ({}x{}, {size} bytes): {url}", t.name, t.width, t.height)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let subject = format!("Thumbnails ready: {}", object.key);
        let text = format!(
            "Thumbnails of {} in {}:\n\n{text}\n",
            object.key, object.bucket
        );
        self.notifier
            .publish(&Notification::new(subject, text, manifest.clone()))
            .await?;
        // Last: its presence says "made and announced".
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("JSON values serialise");
        let options = PutOptions::new("application/json").with_metadata(SOURCE_ETAG, &etag);
        self.dest
            .put(&manifest_key, manifest_bytes, &options)
            .await?;
        Ok(Outcome::Made {
            keys: stored.into_iter().map(|(key, ..)| key).collect(),
        })
    }

    /// Refuses an image that cannot fit in `budget`, from its size and, when its first bytes hold
    /// the header, its dimensions: one ranged GET instead of a download.
    async fn admit(&self, key: &ObjectKey, budget: u64) -> Result<(), ProcessError> {
        // Enough for the header behind large EXIF and ICC blocks.
        const HEADER_BYTES: u64 = 256 << 10;
        let head = self.source.get_prefix(key, HEADER_BYTES).await?;
        let wont_fit = |needed| ProcessError::WontFit {
            key: key.to_string(),
            needed,
            budget,
        };
        let size = head.info.size;
        let limits = self.config.limits;
        // Past the byte limit, the download refuses it, for that plainer reason and before reading
        // it: the budget has nothing to add.
        if size > limits.max_bytes {
            return Ok(());
        }
        if size > budget {
            return Err(wont_fit(size));
        }
        let engine = Engine::new(limits);
        // Past the pixel limit (refused from the header again), not an image, or a header beyond
        // the first bytes: the decode will tell.
        if let Ok(info) = engine.probe(&head.bytes)
            && info.pixels() <= limits.max_pixels
        {
            let needed = size + engine.memory_estimate(&info, &self.config.specs);
            if needed > budget {
                return Err(wont_fit(needed));
            }
        }
        Ok(())
    }

    /// Whether the manifest says this source version was done with these specs.
    async fn manifest_matches(
        &self,
        key: &ObjectKey,
        etag: &str,
        fingerprint: &str,
    ) -> Result<bool, ProcessError> {
        // One GET: the manifest itself names the source ETag, so a HEAD first would only repeat it.
        let manifest = match self.dest.get(key, 1 << 20).await {
            Ok(manifest) => manifest,
            Err(StorageError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let value: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
        Ok(value["fingerprint"] == fingerprint && value["source"]["etag"] == etag)
    }

    /// A hash of every spec: a changed preset list or definition makes everything be redone.
    fn fingerprint(&self) -> String {
        self.config
            .specs
            .iter()
            .map(spec_hash)
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Runs the engine on a blocking thread, at most `threads` at once, reusing engines.
    async fn make(&self, bytes: Vec<u8>, key: &ObjectKey) -> Result<Vec<Thumbnail>, ProcessError> {
        let _permit = self
            .cpu
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let (engines, specs, limits) = (
            Arc::clone(&self.engines),
            self.config.specs.clone(),
            self.config.limits,
        );
        let made = tokio::task::spawn_blocking(move || {
            let mut engine = engines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_else(|| Engine::new(limits));
            let made = engine.thumbnails(&bytes, &specs);
            engines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(engine);
            made
        })
        .await
        .expect("the engine does not panic");
        made.map_err(|source| ProcessError::Image {
            key: key.to_string(),
            source,
        })
    }
}

/// A short hash of a spec (its every field), in hex; MD5 of its debug form, so it stays the same
/// across builds and toolchains (std's hasher does not promise that).
fn spec_hash(spec: &ThumbnailSpec) -> String {
    use md5::{Digest, Md5};
    Md5::digest(format!("{spec:?}"))
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
