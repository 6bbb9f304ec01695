//! Object keys that are valid by construction.

use std::fmt;

use crate::StorageError;

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// An object key: 1 to 1024 bytes of UTF-8, `/`-separated segments, none empty, `.` or `..`, no
/// leading `/`, and no control characters (NUL included).
///
/// These rules hold for every store, so a key that works in the local store works on S3 and the
/// other way round, and no key can walk out of a local store's root.
///
/// ```
/// use thumbnail_storage::ObjectKey;
/// assert!(ObjectKey::new("photos/2026/My Photo é+1.jpg").is_ok());
/// assert!(ObjectKey::new("../etc/passwd").is_err());
/// assert!(ObjectKey::new("/absolute").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates `key`.
    pub fn new(key: impl Into<String>) -> Result<Self, StorageError> {
        let key = key.into();
        let reason = if key.is_empty() {
            Some("a key cannot be empty")
        } else if key.len() > MAX_KEY_BYTES {
            Some("a key is at most 1024 bytes")
        } else if key.chars().any(char::is_control) {
            Some("a key cannot contain control characters")
        } else if key.starts_with('/') {
            Some("a key cannot start with '/'")
        } else if key.split('/').any(|s| s.is_empty()) {
            Some("a key cannot contain an empty segment ('//' or a trailing '/')")
        } else if key.split('/').any(|s| s == "." || s == "..") {
            Some("a key cannot contain '.' or '..' segments")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(StorageError::InvalidKey {
                key: key.escape_debug().to_string(),
                reason: reason.into(),
            }),
            None => Ok(ObjectKey(key)),
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// This key with `suffix` appended (e.g. a prefix plus a name); validated again.
    pub fn join(&self, suffix: &str) -> Result<Self, StorageError> {
        ObjectKey::new(format!("{}/{suffix}", self.0))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ObjectKey {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, StorageError> {
        ObjectKey::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_s3_users_upload() {
        for key in [
            "a",
            "My Photo é+1.jpg",
            "100%/real %2B.png",
            "a/b/c/d/e/f/g.jpg",
            "café/NFD e\u{301}.jpg",
            ".hidden",
            "a..b",
        ] {
            assert!(ObjectKey::new(key).is_ok(), "{key}");
        }
        assert!(ObjectKey::new("k".repeat(1024)).is_ok());
    }

    #[test]
    fn refuses_what_could_escape_or_is_malformed() {
        for key in [
            "",
            "/abs",
            "a//b",
            "a/",
            "./a",
            "a/../b",
            "..",
            "a\0b",
            "a\nb",
            "tab\there",
        ] {
            assert!(
                matches!(ObjectKey::new(key), Err(StorageError::InvalidKey { .. })),
                "{key:?}"
            );
        }
        assert!(ObjectKey::new("k".repeat(1025)).is_err());
    }
}
