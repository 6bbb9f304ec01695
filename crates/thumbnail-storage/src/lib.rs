//! Object storage for the thumbnail pipeline: the source and thumbnail buckets.
//!
//! One trait, [`ObjectStore`], and its implementations:
//!
//! | type | where objects live | for |
//! |---|---|---|
//! | [`MemoryStore`] | a map in memory | tests |
//! | [`LocalStore`] | files under a root folder, metadata beside them | the embedded default: no account needed |
//! | `S3Store` (feature `aws`) | an S3 bucket (or any S3-compatible server) | production |
//!
//! All pass the same conformance suite (module `conformance`, feature `conformance`): a new backend is
//! one file and one more run of that suite.
//!
//! ```
//! use std::time::Duration;
//! use thumbnail_storage::{MemoryStore, ObjectKey, ObjectStore, PutOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new("thumbnails");
//! let key = ObjectKey::new("photos/cat/profile.jpg")?;
//! let options = PutOptions::new("image/jpeg").with_metadata("preset", "profile");
//! store.put(&key, vec![0xFF, 0xD8, 0xFF], &options).await?;
//!
//! let object = store.get(&key, 10 << 20).await?;
//! assert_eq!(object.bytes, [0xFF, 0xD8, 0xFF]);
//! assert_eq!(object.info.metadata["preset"], "profile");
//! assert!(store.get(&key, 2).await.is_err()); // over the size limit: refused before reading
//! let url = store.preview_url(&key, Duration::from_secs(3600)).await?;
//! assert!(url.starts_with("data:image/jpeg;base64,"));
//! # Ok::<(), thumbnail_storage::StorageError>(())
//! # }).unwrap();
//! ```
//!
//! What it does not do: delete or multipart uploads (the pipeline needs none); retries (the SDK
//! retries, configured once; errors say whether trying later can help, see
//! [`StorageError::is_retryable`]).

#![warn(missing_docs)]

mod error;
mod key;
pub mod links;
mod local;
mod memory;
#[cfg(feature = "aws")]
mod s3;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

pub use error::StorageError;
pub use key::{MAX_KEY_BYTES, ObjectKey};
pub use local::LocalStore;
pub use memory::MemoryStore;
#[cfg(feature = "aws")]
pub use s3::{S3Options, S3Store};

/// The longest a preview URL may stay valid: S3 refuses presigned URLs beyond 7 days.
pub const MAX_PREVIEW_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a store knows about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// The `Content-Type` it was stored with.
    pub content_type: Option<String>,
    /// The `Cache-Control` it was stored with.
    pub cache_control: Option<String>,
    /// An identifier of the content: the MD5 of the bytes (hex, no quotes) for single-part uploads,
    /// which is what S3 gives; changes whenever the content does.
    pub etag: String,
    /// The version id, on a versioned S3 bucket.
    pub version: Option<String>,
    /// User metadata. Keys are lower-case ASCII (S3 lower-cases them); values should be ASCII.
    pub metadata: BTreeMap<String, String>,
}

/// An object's bytes and what is known about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Size, type, ETag and metadata.
    pub info: ObjectInfo,
    /// The content.
    pub bytes: Vec<u8>,
}

/// The most objects one [`ObjectStore::list`] call returns (S3's page size).
pub const MAX_LIST_PAGE: usize = 1000;

/// An object as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    /// The key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// The ETag, as [`ObjectInfo::etag`] gives it.
    pub etag: String,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The objects, in the byte order of their keys.
    pub objects: Vec<ListedObject>,
    /// Keys in the page that no [`ObjectKey`] can name (`..` segments, control characters: put
    /// there by other tools), left out of `objects` so the caller can say so.
    pub unnamed: Vec<String>,
    /// When more follow: the key to list after next (the last of this page).
    pub next: Option<String>,
}

/// How an object is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Cache-Control`, e.g. `public, max-age=31536000, immutable` for content-addressed thumbnails.
    pub cache_control: Option<String>,
    /// User metadata (keys are lower-cased).
    pub metadata: BTreeMap<String, String>,
}

impl PutOptions {
    /// Options with a content type.
    pub fn new(content_type: impl Into<String>) -> Self {
        PutOptions {
            content_type: Some(content_type.into()),
            ..PutOptions::default()
        }
    }

    /// Sets `Cache-Control`.
    pub fn with_cache_control(mut self, cache_control: impl Into<String>) -> Self {
        self.cache_control = Some(cache_control.into());
        self
    }

    /// Adds a user metadata entry (the key is lower-cased, as S3 does).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .insert(key.into().to_ascii_lowercase(), value.into());
        self
    }
}

/// A bucket: where source images are read and thumbnails written.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// A name for messages: the bucket, or the folder.
    fn name(&self) -> &str;

    /// Reads an object, refusing with [`StorageError::TooLarge`] one of more than `max_bytes`
    /// before its content is transferred.
    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<Object, StorageError>;

    /// The first `len` bytes of an object (all of it if shorter), with what is known about the
    /// whole object (`info.size` is its full size): enough to read an image header without
    /// downloading the image (a ranged GET on S3).
    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<Object, StorageError>;

    /// What is known about an object, or `None` if it does not exist.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError>;

    /// Writes an object whole (readers never see part of it) and returns what was stored.
    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError>;

    /// Writes an object whole from `file`, read from its start, without holding it in memory
    /// where the store allows: the local store copies it, S3 streams it. (The default reads it
    /// whole into [`ObjectStore::put`].) For uploads spooled to a temporary file.
    async fn put_file(
        &self,
        key: &ObjectKey,
        file: std::fs::File,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        let bytes = tokio::task::spawn_blocking(move || read_whole(file))
            .await
            .expect("reading a file does not panic")
            .map_err(|e| StorageError::Permanent {
                operation: "read the file for",
                store: self.name().to_owned(),
                key: key.to_string(),
                message: e.to_string(),
            })?;
        self.put(key, bytes, options).await
    }

    /// A URL a person can open to see the object, valid for `expires_in` (capped at
    /// [`MAX_PREVIEW_EXPIRY`]): a presigned GET on S3, a `file://` URL locally.
    async fn preview_url(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<String, StorageError>;

    /// The objects whose keys start with `prefix` (every one with an empty prefix) and sort after
    /// `start_after`, in the byte order of their keys, at most `limit` of them (1 to
    /// [`MAX_LIST_PAGE`]). A listing that runs while objects are written sees each object either
    /// before or after the write.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StorageError>;

    /// Whether the object exists.
    async fn exists(&self, key: &ObjectKey) -> Result<bool, StorageError> {
        Ok(self.head(key).await?.is_some())
    }
}

/// A boxed store is a store: lets a binary choose the backend at run time.
#[async_trait]
impl<T: ObjectStore + ?Sized> ObjectStore for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<Object, StorageError> {
        (**self).get(key, max_bytes).await
    }

    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<Object, StorageError> {
        (**self).get_prefix(key, len).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        (**self).head(key).await
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        (**self).put(key, bytes, options).await
    }

    async fn put_file(
        &self,
        key: &ObjectKey,
        file: std::fs::File,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        (**self).put_file(key, file, options).await
    }

    async fn preview_url(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        (**self).preview_url(key, expires_in).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        (**self).list(prefix, start_after, limit).await
    }
}

/// A page of at most `limit` (clamped to 1..=[`MAX_LIST_PAGE`]) of `sorted`, a listing's entries
/// in key order, keeping those whose keys start with `prefix` and sort after `start_after`; and,
/// when more follow, the key to list after next.
pub(crate) fn page_of<T>(
    sorted: impl Iterator<Item = (String, T)>,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> (Vec<(String, T)>, Option<String>) {
    let limit = limit.clamp(1, MAX_LIST_PAGE);
    let mut page: Vec<_> = sorted
        .filter(|(key, _)| key.starts_with(prefix))
        .filter(|(key, _)| start_after.is_none_or(|after| key.as_str() > after))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more
        .then(|| page.last().map(|(key, _)| key.clone()))
        .flatten();
    (page, next)
}

impl ListPage {
    /// Adds a listed key: an object, or an unnamed key.
    pub(crate) fn push(&mut self, key: String, size: u64, etag: String) {
        match ObjectKey::new(key.as_str()) {
            Ok(key) => self.objects.push(ListedObject { key, size, etag }),
            Err(_) => self.unnamed.push(key),
        }
    }
}

/// All of `file`, from its start.
fn read_whole(mut file: std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    file.rewind()?;
    let mut bytes = Vec::with_capacity(file.metadata()?.len() as usize);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The ETag the local and memory stores give: the hex MD5 of the content, as S3 does for single-part uploads.
pub(crate) fn content_etag(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(bytes))
}

/// Lower-case hexadecimal, as S3 writes an ETag.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
