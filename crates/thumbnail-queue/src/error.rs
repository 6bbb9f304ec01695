//! Queue errors, classified for retry decisions.

/// Why a queue operation failed. [`QueueError::is_retryable`] separates "try later" from "give up".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue does not exist.
    #[error("queue {queue} not found")]
    NotFound {
        /// The queue name or URL.
        queue: String,
    },
    /// The delivery was already acknowledged, or its visibility ran out and the message was
    /// delivered again: this receipt no longer controls it.
    #[error(
        "message {id} in {queue}: the receipt is stale (the message was delivered again or deleted)"
    )]
    StaleReceipt {
        /// The queue.
        queue: String,
        /// The message id.
        id: String,
    },
    /// Worth trying again later: throttling, timeout, 5xx, endpoint unreachable, disk full.
    #[error("{operation} on {queue} failed, may succeed later: {message}")]
    Transient {
        /// The operation.
        operation: &'static str,
        /// The queue.
        queue: String,
        /// What went wrong.
        message: String,
    },
    /// Will fail again (access denied, invalid request, unreadable spool).
    #[error("{operation} on {queue} failed: {message}")]
    Permanent {
        /// The operation.
        operation: &'static str,
        /// The queue.
        queue: String,
        /// What went wrong.
        message: String,
    },
}

impl QueueError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Transient { .. })
    }
}
