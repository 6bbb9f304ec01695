//! Notifier errors, classified for retry decisions.

/// Why a notification could not be published. [`NotifyError::is_retryable`] separates "try later"
/// from "give up".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// No topic has this name or ARN.
    #[error("notification topic '{topic}' not found")]
    TopicNotFound {
        /// The name or ARN given.
        topic: String,
    },
    /// A notifier's settings cannot work: an unreadable SMTP URL or e-mail address, a webhook URL
    /// that is not HTTP.
    #[error("{target}: {message}")]
    Config {
        /// The setting.
        target: String,
        /// What is wrong with it.
        message: String,
    },
    /// Worth trying again later: throttling, timeout, 5xx, endpoint unreachable, disk full.
    #[error("publishing to {target} failed, may succeed later: {message}")]
    Transient {
        /// The topic or file.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// Will fail again: access denied, message refused, file not writable.
    #[error("publishing to {target} failed: {message}")]
    Permanent {
        /// The topic or file.
        target: String,
        /// What went wrong.
        message: String,
    },
}

impl NotifyError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, NotifyError::Transient { .. })
    }
}
