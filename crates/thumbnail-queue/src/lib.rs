//! The job queue of the thumbnail pipeline: each message is one upload to make thumbnails for.
//!
//! One trait, [`Queue`], and its implementations:
//!
//! | type | where messages live | for |
//! |---|---|---|
//! | [`MemoryQueue`] | memory | tests |
//! | [`LocalQueue`] | a spool folder, one file a message | the embedded default: durable, no server |
//! | `SqsQueue` (feature `aws`) | an SQS queue | production |
//!
//! A received message is a [`Delivery`] value that must be explicitly acknowledged ([`Queue::ack`],
//! which deletes it) or released ([`Queue::release`], visible again after a delay). Until then it is
//! invisible to other receivers for the visibility timeout, which [`Queue::extend`] prolongs while a
//! large image is still being worked on; if the holder dies, the message comes back by itself. So
//! "delete only after success" is visible in the types: nothing is deleted by receiving.
//!
//! ```
//! use std::time::Duration;
//! use thumbnail_queue::{MemoryQueue, OutgoingMessage, Queue, ReceiveOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let queue = MemoryQueue::new("jobs");
//! queue.send(OutgoingMessage::new("photos/cat.jpg")).await?;
//! let options = ReceiveOptions { max_messages: 10, wait: Duration::from_secs(1), visibility: Duration::from_secs(30) };
//! let mut deliveries = queue.receive(&options).await?;
//! let delivery = deliveries.remove(0);
//! assert_eq!((delivery.body.as_str(), delivery.receive_count), ("photos/cat.jpg", 1));
//! queue.ack(delivery).await?; // done: deleted
//! assert!(queue.receive(&ReceiveOptions { wait: Duration::ZERO, ..options }).await?.is_empty());
//! # Ok::<(), thumbnail_queue::QueueError>(())
//! # }).unwrap();
//! ```
//!
//! Dead-lettering is the queue's own business: on SQS, the redrive policy moves a message after
//! `maxReceiveCount` receives; [`Delivery::receive_count`] tells a first attempt from a retry.

#![warn(missing_docs)]

mod error;
mod local;
mod memory;
mod record;
#[cfg(feature = "aws")]
mod sqs;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

pub use error::QueueError;
pub use local::LocalQueue;
pub use memory::MemoryQueue;
#[cfg(feature = "aws")]
pub use sqs::SqsQueue;

/// The most messages one receive returns (SQS's batch size).
pub const MAX_BATCH: usize = 10;
/// The longest one receive waits for messages (SQS's long-poll limit).
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// The longest visibility timeout (SQS's limit: 12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// A message to send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The body (an S3 event notification, as JSON, in the pipeline).
    pub body: String,
    /// String attributes (e.g. the reason a message was dead-lettered).
    pub attributes: BTreeMap<String, String>,
    /// How long before it becomes visible.
    pub delay: Duration,
}

impl OutgoingMessage {
    /// A message with this body.
    pub fn new(body: impl Into<String>) -> Self {
        OutgoingMessage {
            body: body.into(),
            ..OutgoingMessage::default()
        }
    }

    /// Adds a string attribute.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
}

/// How to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveOptions {
    /// At most this many messages (1 to [`MAX_BATCH`]).
    pub max_messages: usize,
    /// Wait up to this long for the first message (long polling, up to [`MAX_WAIT`]).
    pub wait: Duration,
    /// Received messages stay invisible to others this long unless acknowledged, released or extended.
    pub visibility: Duration,
}

impl Default for ReceiveOptions {
    /// A full batch, the longest wait, and 5 minutes of visibility.
    fn default() -> Self {
        ReceiveOptions {
            max_messages: MAX_BATCH,
            wait: MAX_WAIT,
            visibility: Duration::from_secs(300),
        }
    }
}

impl ReceiveOptions {
    /// The options within the queue limits.
    pub(crate) fn clamped(&self) -> ReceiveOptions {
        ReceiveOptions {
            max_messages: self.max_messages.clamp(1, MAX_BATCH),
            wait: self.wait.min(MAX_WAIT),
            visibility: self.visibility.min(MAX_VISIBILITY),
        }
    }
}

/// A received message. Hand it back with [`Queue::ack`] or [`Queue::release`], which take it by
/// value: a delivery is settled once. It is not `Clone`, and its receipt is private, so no copy of
/// it can settle the message a second time.
#[derive(Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message id, the same on every delivery of the message.
    pub id: String,
    /// The body.
    pub body: String,
    /// String attributes.
    pub attributes: BTreeMap<String, String>,
    /// How many times the message has been received, this time included (1 on the first attempt).
    pub receive_count: u32,
    /// What the queue needs to acknowledge, release or extend this delivery.
    receipt: String,
    /// When the message was first sent, where the queue says (its age tells how far behind we are).
    pub sent_at: Option<SystemTime>,
}

impl Delivery {
    /// Whether the queue gave this delivery a receipt (every queue here does; the conformance
    /// suite checks it).
    pub fn has_receipt(&self) -> bool {
        !self.receipt.is_empty()
    }
}

/// How many messages a queue holds, by state (approximate on SQS, which counts them itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth {
    /// Waiting to be received.
    pub visible: u64,
    /// Received and not yet settled, or released with a delay: hidden for now.
    pub in_flight: u64,
    /// Sent with a delay, not yet visible.
    pub delayed: u64,
}

impl Depth {
    /// Every message, in any state.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// A queue of jobs.
#[async_trait]
pub trait Queue: Send + Sync + Debug {
    /// A name for messages.
    fn name(&self) -> &str;

    /// Sends one message; returns its id.
    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError>;

    /// Receives up to `options.max_messages`, waiting up to `options.wait` for the first.
    async fn receive(&self, options: &ReceiveOptions) -> Result<Vec<Delivery>, QueueError>;

    /// Deletes a delivered message: its work is done.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError>;

    /// Deletes several delivered messages (in batches where the queue has them). Every message is
    /// attempted; the first failure is returned.
    async fn ack_batch(&self, deliveries: Vec<Delivery>) -> Result<(), QueueError> {
        let mut first_error = None;
        for delivery in deliveries {
            if let Err(e) = self.ack(delivery).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Gives a delivered message back, visible again after `delay` (zero: at once).
    async fn release(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError>;

    /// Keeps a delivered message invisible for `visibility` from now.
    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<(), QueueError>;

    /// How many messages the queue holds, by state.
    async fn depth(&self) -> Result<Depth, QueueError>;

    /// Up to `max` of the messages the queue holds, visible or not, for a person to read, taking
    /// none from anyone. The local spool and memory show them as they are, changing nothing. SQS
    /// shows only what it hands out: there each is received and given back at once, and a receive
    /// in that instant may miss it. The deliveries carry no receipt: they settle nothing.
    async fn peek(&self, max: usize) -> Result<Vec<Delivery>, QueueError>;
}
