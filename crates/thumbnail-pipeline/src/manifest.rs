//! The manifest: written last, next to a source's thumbnails, it says "made and announced" and
//! what with. The ready notification carries the same document.

use serde::{Deserialize, Serialize};
use thumbnail_core::ThumbnailSpec;

/// The manifest format written now. Manifests written before the format had a version read as 0.
pub const MANIFEST_VERSION: u32 = 1;

/// What was made of one source version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`] when written; 0 for a manifest older than versions.
    #[serde(default)]
    pub version: u32,
    /// The source the thumbnails were made of.
    pub source: SourceObject,
    /// Who uploaded it, when the owner rules tell.
    #[serde(default)]
    pub owner: Option<String>,
    /// The hash of every spec the thumbnails were made with ([`fingerprint`]).
    pub fingerprint: String,
    /// How long the preview URLs below stay valid from when they were made.
    pub url_expiry_seconds: u64,
    /// One entry per thumbnail, in spec order.
    pub thumbnails: Vec<ThumbnailEntry>,
    /// What a page shows while the thumbnails load, the same for all of them (absent in
    /// manifests written before placeholders).
    #[serde(default)]
    pub placeholder: Option<Placeholders>,
}

/// The image's placeholders, computed once from its decoded pixels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placeholders {
    /// The ThumbHash, base64.
    pub thumbhash: String,
    /// The BlurHash (4x3 components).
    pub blurhash: String,
    /// The dominant colour, `#rrggbb`.
    pub dominant_colour: String,
}

impl From<thumbnail_core::Placeholder> for Placeholders {
    fn from(placeholder: thumbnail_core::Placeholder) -> Self {
        Placeholders {
            thumbhash: placeholder.thumbhash,
            blurhash: placeholder.blurhash,
            dominant_colour: placeholder.dominant_colour,
        }
    }
}

/// The source object a manifest describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceObject {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its ETag when read (no quotes).
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One thumbnail in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailEntry {
    /// The preset it was made for.
    pub preset: String,
    /// Its key in the destination.
    pub key: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its MIME type.
    pub content_type: String,
    /// Its format: `jpeg`, `png`, `webp` (absent in manifests written before formats).
    #[serde(default)]
    pub format: String,
    /// A preview URL, valid for `url_expiry_seconds` from when it was made.
    pub url: String,
}

impl Manifest {
    /// Whether this manifest records the source version `etag` made with `fingerprint`.
    pub fn covers(&self, etag: &str, fingerprint: &str) -> bool {
        self.source.etag == etag && self.fingerprint == fingerprint
    }
}

/// A short hash of a spec (its every field), in hex; MD5 of its debug form, so it stays the same
/// across builds and toolchains (std's hasher does not promise that).
pub fn spec_hash(spec: &ThumbnailSpec) -> String {
    use md5::{Digest, Md5};
    Md5::digest(format!("{spec:?}"))
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A hash of every spec: a changed preset list or definition makes everything be redone.
pub fn fingerprint(specs: &[ThumbnailSpec]) -> String {
    specs.iter().map(spec_hash).collect::<Vec<_>>().join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_written_before_versions_still_reads() {
        let old = r#"{
          "source": {"bucket": "uploads", "key": "a.jpg", "etag": "e1", "size": 10},
          "fingerprint": "f1",
          "url_expiry_seconds": 86400,
          "thumbnails": [{"preset": "profile", "key": "a/profile.jpg", "width": 128,
            "height": 128, "bytes": 900, "content_type": "image/jpeg", "url": "file:///x"}]
        }"#;
        let manifest: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(manifest.version, 0);
        assert!(manifest.covers("e1", "f1"));
        assert!(!manifest.covers("e2", "f1") && !manifest.covers("e1", "f2"));
        assert_eq!(manifest.thumbnails[0].width, 128);
    }
}
