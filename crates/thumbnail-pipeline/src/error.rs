//! Why an object could not be processed, and the stable codes failures are counted and announced by.

use serde::{Deserialize, Serialize};
use thumbnail_notify::NotifyError;
use thumbnail_storage::StorageError;

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
    /// The event names a bucket other than the source bucket.
    #[error(
        "image {key}: the event names bucket {bucket:?}, and this pipeline reads only {expected:?}"
    )]
    ForeignBucket {
        /// The key.
        key: String,
        /// The bucket the event names.
        bucket: String,
        /// [`PipelineConfig::source_bucket`](crate::PipelineConfig::source_bucket).
        expected: String,
    },
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
        /// [`PipelineConfig::memory_budget`](crate::PipelineConfig::memory_budget).
        budget: u64,
    },
}

impl ProcessError {
    /// Whether trying again later may succeed (outages); `false` means dead-letter it.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProcessError::Storage(e) => e.is_retryable(),
            ProcessError::Notify(e) => e.is_retryable(),
            ProcessError::Image { .. }
            | ProcessError::WontFit { .. }
            | ProcessError::ForeignBucket { .. } => false,
        }
    }

    /// The failure's stable code.
    pub fn reason(&self) -> FailureReason {
        use FailureReason as R;
        use thumbnail_core::Error as Image;
        match self {
            ProcessError::Image { source, .. } => match source {
                Image::UnsupportedFormat { .. } => R::UnsupportedFormat,
                Image::Corrupt { .. } => R::Corrupt,
                Image::TooManyPixels { .. } | Image::OutputTooLarge { .. } => R::TooManyPixels,
                Image::TooLarge { .. } => R::TooLarge,
                Image::DecoderLimit { .. } => R::DecoderLimit,
                Image::Encode { .. } => R::Encode,
                Image::InvalidSpec { .. } => R::InvalidSpec,
                _ => R::ImageError,
            },
            ProcessError::Storage(e) => match e {
                StorageError::NotFound { .. } => R::NotFound,
                StorageError::TooLarge { .. } => R::TooLarge,
                StorageError::AccessDenied { .. } => R::AccessDenied,
                StorageError::InvalidKey { .. } => R::InvalidKey,
                StorageError::Transient { .. } => R::StorageUnavailable,
                _ => R::StorageError,
            },
            ProcessError::WontFit { .. } => R::WontFit,
            ProcessError::ForeignBucket { .. } => R::ForeignBucket,
            ProcessError::Notify(e) => match e {
                NotifyError::TopicNotFound { .. } => R::TopicNotFound,
                NotifyError::Transient { .. } => R::NotifierUnavailable,
                _ => R::NotifierError,
            },
        }
    }
}

/// The stable code of a failure: a metrics label (`thumbnail_images_failed_total{reason=...}`),
/// the `reason` of a failure notification, for programs to match on. Never renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// Not an image format the engine reads.
    UnsupportedFormat,
    /// The image data is damaged.
    Corrupt,
    /// More pixels than the limit.
    TooManyPixels,
    /// More bytes than the limit.
    TooLarge,
    /// Past a limit of the decoder itself.
    DecoderLimit,
    /// A thumbnail could not be encoded.
    Encode,
    /// A preset cannot be made of this image.
    InvalidSpec,
    /// Another engine failure.
    ImageError,
    /// The source object does not exist.
    NotFound,
    /// The credentials may not read or write it.
    AccessDenied,
    /// The event names a key no store accepts.
    InvalidKey,
    /// The store is unreachable (retried, counted while it lasts).
    StorageUnavailable,
    /// Another storage failure.
    StorageError,
    /// The image needs more memory than the budget.
    WontFit,
    /// The notification topic does not exist.
    TopicNotFound,
    /// The notifier is unreachable (retried).
    NotifierUnavailable,
    /// Another notifier failure.
    NotifierError,
    /// The message is not an S3 event, or a record of it is unusable.
    InvalidEvent,
    /// The message was received more often than allowed without being settled.
    TooManyReceives,
    /// The event names a bucket other than the source bucket.
    ForeignBucket,
}

impl FailureReason {
    /// The code as text: `corrupt`, `wont_fit`, ...
    pub fn as_str(self) -> &'static str {
        use FailureReason as R;
        match self {
            R::UnsupportedFormat => "unsupported_format",
            R::Corrupt => "corrupt",
            R::TooManyPixels => "too_many_pixels",
            R::TooLarge => "too_large",
            R::DecoderLimit => "decoder_limit",
            R::Encode => "encode",
            R::InvalidSpec => "invalid_spec",
            R::ImageError => "image_error",
            R::NotFound => "not_found",
            R::AccessDenied => "access_denied",
            R::InvalidKey => "invalid_key",
            R::StorageUnavailable => "storage_unavailable",
            R::StorageError => "storage_error",
            R::WontFit => "wont_fit",
            R::TopicNotFound => "topic_not_found",
            R::NotifierUnavailable => "notifier_unavailable",
            R::NotifierError => "notifier_error",
            R::InvalidEvent => "invalid_event",
            R::TooManyReceives => "too_many_receives",
            R::ForeignBucket => "foreign_bucket",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FailureReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_they_read() {
        for reason in [
            FailureReason::WontFit,
            FailureReason::TooManyReceives,
            FailureReason::UnsupportedFormat,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::from(reason.as_str())
            );
        }
    }
}
