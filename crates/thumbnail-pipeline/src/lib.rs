//! The thumbnail pipeline: from a created source object to thumbnails in the destination store and
//! one notification with a preview link per thumbnail.
//!
//! [`Pipeline`] is generic over where sources are read ([`ObjectStore`]), where thumbnails are written
//! (another, or the same, [`ObjectStore`]) and who is told ([`Notifier`]); all are injected, none
//! global. It runs the [`Engine`](thumbnail_core::Engine) on threads of its own (as many as it is
//! given, usually the number of cores), each keeping one engine for its life.
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
//! assert_eq!(outcome, Outcome::Made { keys: vec![ObjectKey::new("photos/cat.png/profile.jpg")?] });
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
//! - thumbnail keys are deterministic (`<prefix>/<source key>/<preset>.<ext>`), so a repeat
//!   overwrites instead of adding;
//! - each thumbnail carries the source ETag and a hash of its spec in its metadata, and a manifest
//!   (`.../manifest.json`) is written last, after the notification: when the manifest matches the
//!   source ETag and the specs, a repeat costs one small GET and does nothing else;
//! - what a user may see twice: a notification, when a crash falls between publishing it and writing
//!   the manifest.
//!
//! Errors say whether trying later can help ([`ProcessError::is_retryable`]): a corrupt or oversized
//! image is permanent and should be dead-lettered; a storage or notifier outage is transient and the
//! message should come back later. Each permanent failure has a stable code, [`FailureReason`].

#![warn(missing_docs)]

mod admission;
mod config;
pub mod dead_letters;
mod engines;
mod error;
mod in_flight;
mod layout;
mod manifest;
mod message;
mod metrics;
mod notice;
mod owner;

pub use config::{MAX_RECEIVES, PipelineConfig};
pub use error::{FailureReason, ProcessError};
pub use manifest::{
    MANIFEST_VERSION, Manifest, Placeholders, SourceObject, ThumbnailEntry, fingerprint, spec_hash,
};
pub use message::{
    Disposition, FAILURE_CODES, FAILURE_REASON, FIRST_RETRY_DELAY, MAX_RETRY_DELAY, Settlement,
    dead_letter, retry_delay, settle,
};
pub use metrics::Metrics;
pub use notice::{FailedObject, FailureNotice};
pub use owner::{MAX_OWNER_BYTES, OWNER_METADATA, OwnerRules, check_owner};

use std::collections::BTreeMap;

use thumbnail_events::CreatedObject;
use thumbnail_notify::Notifier;
use thumbnail_storage::{ObjectKey, ObjectStore, PutOptions, StorageError};

use engines::Engines;
use in_flight::InFlight;
use layout::Layout;

/// Metadata key naming the source ETag a thumbnail was made from.
pub const SOURCE_ETAG: &str = "thumbnail-source-etag";
/// Metadata key naming the preset of a thumbnail (also the recursion-guard marker).
pub const PRESET: &str = "thumbnail-preset";
/// Metadata key with a hash of the spec, so a changed preset definition is redone.
pub const SPEC_HASH: &str = "thumbnail-spec-hash";

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

impl Outcome {
    /// A stable name for logs and metrics: `made`, `already_done` or `ours`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Made { .. } => "made",
            Outcome::AlreadyDone => "already_done",
            Outcome::Ours => "ours",
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
    layout: Layout,
    fingerprint: String,
    engines: Engines,
    in_flight: InFlight,
    metrics: Metrics,
}

impl<S: ObjectStore, D: ObjectStore, N: Notifier> Pipeline<S, D, N> {
    /// A pipeline; image work runs on `threads` threads it starts, which end when it is dropped
    /// (once their current image is done).
    pub fn new(source: S, dest: D, notifier: N, config: PipelineConfig, threads: usize) -> Self {
        Pipeline {
            source,
            dest,
            notifier,
            layout: Layout::new(&config.dest_prefix),
            fingerprint: fingerprint(&config.specs),
            engines: Engines::new(threads, config.limits),
            config,
            in_flight: InFlight::default(),
            metrics: Metrics::default(),
        }
    }

    /// What this pipeline has done so far, for [`Metrics::register`].
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
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

    /// Makes, stores and announces the thumbnails of one created object.
    pub async fn process(&self, object: &CreatedObject) -> Result<Outcome, ProcessError> {
        self.process_owned(object).await.0
    }

    /// [`Pipeline::process`], and, when it failed, the upload's owner, to announce the failure
    /// to: from the object's metadata if it was read before the failure, else from the key. (A
    /// success's owner is in its manifest.) Either way the owner is resolved once.
    pub(crate) async fn process_owned(
        &self,
        object: &CreatedObject,
    ) -> (Result<Outcome, ProcessError>, Option<String>) {
        let started = std::time::Instant::now();
        let mut metadata = None;
        let done = self.process_once(object, &mut metadata).await;
        let owner = match &done {
            Ok(outcome) => {
                self.metrics.outcome(outcome, started.elapsed());
                None
            }
            Err(e) => {
                self.metrics.failure(e.reason());
                self.config
                    .owners
                    .owner(object.key.as_str(), metadata.as_ref())
            }
        };
        (done, owner)
    }

    /// The names of the presets made of every image.
    pub(crate) fn preset_names(&self) -> Vec<String> {
        self.config.specs.iter().map(|s| s.name.clone()).collect()
    }

    /// Processes `object`, keeping in `metadata` the object's user metadata once it is read.
    async fn process_once(
        &self,
        object: &CreatedObject,
        metadata: &mut Option<BTreeMap<String, String>>,
    ) -> Result<Outcome, ProcessError> {
        if let Some(expected) = &self.config.source_bucket
            && object.bucket != *expected
        {
            return Err(ProcessError::ForeignBucket {
                key: object.key.to_string(),
                bucket: object.bucket.clone(),
                expected: expected.clone(),
            });
        }
        if self.config.same_bucket && self.layout.is_under_prefix(&object.key) {
            return Ok(Outcome::Ours);
        }
        let _claim = self
            .in_flight
            .claim(format!("{}/{}", object.bucket, object.key))
            .await;
        let manifest_key = self.layout.manifest(&object.key)?;
        if let Some(etag) = &object.etag
            && self.done(&object.key, &manifest_key, etag).await?
        {
            return Ok(Outcome::AlreadyDone);
        }
        let admitted = match self.config.memory_budget {
            Some(budget) => self.admit(&object.key, budget, metadata).await?,
            None => None,
        };
        // Admitted whole: its every byte was checked already.
        let checked_whole = admitted.is_some();
        let mut source = match admitted {
            Some(whole) => whole,
            None => {
                self.source
                    .get(&object.key, self.config.limits.max_bytes)
                    .await?
            }
        };
        if source.info.metadata.contains_key(PRESET) {
            return Ok(Outcome::Ours);
        }
        let metadata = &*metadata.insert(std::mem::take(&mut source.info.metadata));
        self.metrics.downloaded(source.info.size);
        if let Some(budget) = self.config.memory_budget
            && !checked_whole
        {
            self.check_budget(&object.key, &source.bytes, source.info.size, budget)?;
        }
        let etag = source.info.etag.clone();
        if object.etag.as_deref() != Some(etag.as_str())
            && self.done(&object.key, &manifest_key, &etag).await?
        {
            return Ok(Outcome::AlreadyDone);
        }
        let rendering = self
            .engines
            .render(source.bytes, self.config.specs.clone())
            .await
            .map_err(|source| ProcessError::Image {
                key: object.key.to_string(),
                source,
            })?;
        if !rendering.faults.is_empty() {
            self.metrics.tolerated();
            tracing::warn!(
                key = %object.key,
                faults = %rendering.faults.join("; "),
                fail_on = %self.config.limits.fail_on,
                "thumbnailed despite faults in the image data"
            );
        }

        let mut entries = Vec::new();
        let mut keys = Vec::new();
        for thumbnail in rendering.thumbnails {
            let spec = self
                .config
                .specs
                .iter()
                .find(|spec| spec.name == thumbnail.name)
                .expect("the engine names each thumbnail after its spec");
            let key = self
                .layout
                .thumbnail(&object.key, &thumbnail.name, thumbnail.format)?;
            let content_type = thumbnail.format.mime_type();
            let options = PutOptions::new(content_type)
                .with_cache_control(&self.config.cache_control)
                .with_metadata(SOURCE_ETAG, &etag)
                .with_metadata(PRESET, &spec.name)
                .with_metadata(SPEC_HASH, spec_hash(spec));
            // Moved into the store; what is kept of the thumbnail is its name, size and format.
            let bytes = thumbnail.bytes.len() as u64;
            self.dest.put(&key, thumbnail.bytes, &options).await?;
            self.metrics.written(bytes);
            entries.push(ThumbnailEntry {
                preset: thumbnail.name,
                key: key.to_string(),
                width: thumbnail.width,
                height: thumbnail.height,
                bytes,
                content_type: content_type.to_owned(),
                format: thumbnail.format.to_string(),
                url: self.dest.preview_url(&key, self.config.url_expiry).await?,
            });
            keys.push(key);
        }
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            source: SourceObject {
                bucket: object.bucket.clone(),
                key: object.key.to_string(),
                etag: etag.clone(),
                size: source.info.size,
            },
            owner: self
                .config
                .owners
                .owner(object.key.as_str(), Some(metadata)),
            fingerprint: self.fingerprint.clone(),
            url_expiry_seconds: self.config.url_expiry.as_secs(),
            thumbnails: entries,
            placeholder: Some(rendering.placeholder.into()),
        };
        self.notifier.publish(&notice::ready(&manifest)).await?;
        // Last: its presence says "made and announced".
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        let options = PutOptions::new("application/json").with_metadata(SOURCE_ETAG, &etag);
        self.dest
            .put(&manifest_key, manifest_bytes, &options)
            .await?;
        Ok(Outcome::Made { keys })
    }

    /// Whether the source object `key`, at version `etag`, needs thumbnails: it is not one of ours,
    /// and no manifest records that version made with these specs (none at all, an older version,
    /// or presets changed since). What a backfill asks of every listed source; one small GET.
    pub async fn needs_thumbnails(
        &self,
        key: &ObjectKey,
        etag: &str,
    ) -> Result<bool, ProcessError> {
        if self.config.same_bucket && self.layout.is_under_prefix(key) {
            return Ok(false);
        }
        let manifest = self.layout.manifest(key)?;
        Ok(!self.done(key, &manifest, etag).await?)
    }

    /// Whether a manifest, at `manifest` or where the earlier layout put it, says that this
    /// version of `source` was done with these specs.
    async fn done(
        &self,
        source: &ObjectKey,
        manifest: &ObjectKey,
        etag: &str,
    ) -> Result<bool, ProcessError> {
        if self.manifest_covers(manifest, source, etag).await? {
            return Ok(true);
        }
        match self.layout.legacy_manifest(source)? {
            Some(legacy) => self.manifest_covers(&legacy, source, etag).await,
            None => Ok(false),
        }
    }

    /// Whether the manifest at `key` says that this version of `source` was done with these
    /// specs. A manifest of another source (`a.png`'s, in the earlier layout's folder that
    /// `a.jpg` shared) says nothing about this one.
    async fn manifest_covers(
        &self,
        key: &ObjectKey,
        source: &ObjectKey,
        etag: &str,
    ) -> Result<bool, ProcessError> {
        // One GET: the manifest itself names the source ETag, so a HEAD first would only repeat it.
        let manifest = match self.dest.get(key, 1 << 20).await {
            Ok(manifest) => manifest,
            Err(StorageError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        // An unreadable manifest is as good as none: the thumbnails are made again.
        Ok(serde_json::from_slice::<Manifest>(&manifest.bytes)
            .is_ok_and(|m| m.source.key == source.as_str() && m.covers(etag, &self.fingerprint)))
    }
}
