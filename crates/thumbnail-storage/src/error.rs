//! Storage errors, classified for retry decisions.

/// Why a storage operation failed.
///
/// [`StorageError::is_retryable`] tells the caller whether to try again later (the store was
/// throttled, timed out, unreachable, or answered 5xx) or give up (not found, access denied, too
/// large, invalid key).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object does not exist.
    #[error("object '{key}' not found in {store}")]
    NotFound {
        /// The store (bucket or folder).
        store: String,
        /// The key asked for.
        key: String,
    },
    /// The object is larger than the caller accepts; refused before its bytes were read.
    #[error("object '{key}' in {store} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// The object's size.
        size: u64,
        /// The limit given.
        limit: u64,
    },
    /// The credentials or file permissions do not allow it.
    #[error("access to '{key}' in {store} denied: {message}")]
    AccessDenied {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// What the store said.
        message: String,
    },
    /// The key breaks the rules of [`ObjectKey`](crate::ObjectKey), or of this store.
    #[error("invalid object key '{key}': {reason}")]
    InvalidKey {
        /// The rejected key (escaped).
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// Worth trying again later: throttling, timeout, 5xx, endpoint unreachable, disk full.
    #[error("{operation} '{key}' in {store} failed, may succeed later: {message}")]
    Transient {
        /// The operation (`get`, `put`, ...).
        operation: &'static str,
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// Will fail again: the store refused the request for a reason not covered above.
    #[error("{operation} '{key}' in {store} failed: {message}")]
    Permanent {
        /// The operation.
        operation: &'static str,
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// Creating or configuring the bucket itself (not an object in it) failed.
    #[error("{operation} {store} failed: {message}")]
    Bucket {
        /// The operation (`create_bucket`, ...).
        operation: &'static str,
        /// The store.
        store: String,
        /// What the store said.
        message: String,
    },
}

impl StorageError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Transient { .. })
    }
}
