//! Where a source's thumbnails and manifest go: `<prefix>/<source key>/<name>`. The folder is the
//! whole key, extension included, so `a.jpg` and `a.png` (an iPhone's `IMG_0001.HEIC` exported
//! beside `IMG_0001.JPG`) never share one.
//!
//! Earlier releases dropped the extension (`<prefix>/<key without extension>/`). Buckets written
//! that way keep working: [`Layout::legacy_manifest`] names where such a manifest lies, and the
//! pipeline takes it as done only when it names the same source key.

use thumbnail_core::OutputFormat;
use thumbnail_storage::{ObjectKey, StorageError};

/// The key layout of the destination.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    prefix: String,
}

impl Layout {
    pub(crate) fn new(prefix: &str) -> Self {
        Layout {
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// Whether `key` lies under the thumbnail prefix (when sources and thumbnails share a bucket,
    /// such a key is one of ours, never a source).
    pub(crate) fn is_under_prefix(&self, key: &ObjectKey) -> bool {
        !self.prefix.is_empty()
            && key
                .as_str()
                .strip_prefix(&self.prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The key of the `format` thumbnail that the spec `name` makes of `source`.
    pub(crate) fn thumbnail(
        &self,
        source: &ObjectKey,
        name: &str,
        format: OutputFormat,
    ) -> Result<ObjectKey, StorageError> {
        self.under(source.as_str(), &format!("{name}.{}", format.extension()))
    }

    /// The key of `source`'s manifest.
    pub(crate) fn manifest(&self, source: &ObjectKey) -> Result<ObjectKey, StorageError> {
        self.under(source.as_str(), MANIFEST)
    }

    /// Where the earlier layout put `source`'s manifest, when that differs from
    /// [`Layout::manifest`] (the key has an extension).
    pub(crate) fn legacy_manifest(
        &self,
        source: &ObjectKey,
    ) -> Result<Option<ObjectKey>, StorageError> {
        match source.as_str().rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') && !ext.contains('/') => {
                self.under(stem, MANIFEST).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn under(&self, folder: &str, name: &str) -> Result<ObjectKey, StorageError> {
        if self.prefix.is_empty() {
            ObjectKey::new(format!("{folder}/{name}"))
        } else {
            ObjectKey::new(format!("{}/{folder}/{name}", self.prefix))
        }
    }
}

const MANIFEST: &str = "manifest.json";

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ObjectKey {
        ObjectKey::new(s).unwrap()
    }

    #[test]
    fn sources_that_differ_only_by_extension_get_their_own_folders() {
        let layout = Layout::new("thumbs/");
        let jpg = layout.manifest(&key("IMG_0001.JPG")).unwrap();
        let heic = layout.manifest(&key("IMG_0001.HEIC")).unwrap();
        assert_eq!(jpg.as_str(), "thumbs/IMG_0001.JPG/manifest.json");
        assert_eq!(heic.as_str(), "thumbs/IMG_0001.HEIC/manifest.json");
        let small = layout
            .thumbnail(&key("a/b.png"), "small", OutputFormat::WebP)
            .unwrap();
        assert_eq!(small.as_str(), "thumbs/a/b.png/small.webp");
    }

    #[test]
    fn the_legacy_manifest_is_the_folder_without_the_extension() {
        let layout = Layout::new("");
        let legacy = |k: &str| layout.legacy_manifest(&key(k)).unwrap();
        assert_eq!(
            legacy("albums/cat.jpg").unwrap().as_str(),
            "albums/cat/manifest.json"
        );
        // No extension: both layouts are one.
        assert_eq!(legacy("albums/cat"), None);
        assert_eq!(legacy(".hidden"), None);
        assert_eq!(legacy("albums.2026/cat"), None);
    }
}
