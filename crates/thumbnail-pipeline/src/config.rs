//! How the pipeline makes and stores thumbnails.

use std::time::Duration;

use thumbnail_core::{Limits, ThumbnailSpec};

use crate::OwnerRules;

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
    /// The receives a message gets: on the last it is given up on (announced as
    /// `too_many_receives` and dead-lettered) instead of handled again, so a message that crashes
    /// or stalls every worker that takes it does not do so for ever. Equal to the SQS redrive's
    /// `maxReceiveCount` (as `setup` and the template set it), this happens one receive before SQS
    /// would move the message silently; the local queue behaves the same. [`MAX_RECEIVES`] by
    /// default; `None`: no limit.
    pub max_receives: Option<u32>,
    /// Where an upload's owner is read from; notifications carry it as the `owner` attribute.
    pub owners: OwnerRules,
    /// The bucket sources are read from. An event naming another is refused (`foreign_bucket`)
    /// and nothing is read: the key would otherwise be read from this bucket, and another
    /// object's thumbnails announced as the upload's. `None`: any bucket (the source store then
    /// serves every event's key).
    pub source_bucket: Option<String>,
}

/// The default [`PipelineConfig::max_receives`], and of the `maxReceiveCount` of the SQS redrive
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
            owners: OwnerRules::default(),
            source_bucket: None,
        }
    }
}
