//! Where a source's thumbnails and manifest go: `<prefix>/<source key without extension>/<name>`.

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
        self.under_base(source, &format!("{name}.{}", format.extension()))
    }

    /// The key of `source`'s manifest.
    pub(crate) fn manifest(&self, source: &ObjectKey) -> Result<ObjectKey, StorageError> {
        self.under_base(source, "manifest.json")
    }

    fn under_base(&self, source: &ObjectKey, name: &str) -> Result<ObjectKey, StorageError> {
        let stem = match source.as_str().rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') && !ext.contains('/') => {
                stem
            }
            _ => source.as_str(),
        };
        let base = if self.prefix.is_empty() {
            stem.to_owned()
        } else {
            format!("{}/{stem}", self.prefix)
        };
        ObjectKey::new(format!("{base}/{name}"))
    }
}
