//! A message's state, shared by the memory and local queues: the same visibility rules for both.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Delivery, Depth, OutgoingMessage};

/// One message and its visibility. Times are wall-clock milliseconds, so a spool outlives a restart.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Record {
    pub id: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub receive_count: u32,
    pub visible_at_ms: u64,
    /// Zero in spools written before it was recorded.
    #[serde(default)]
    pub sent_at_ms: u64,
    /// Who holds the latest delivery, where the queue can tell whether that holder is still alive
    /// (the local queue: a process); `None` once released, and in spools written before holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ms(duration: Duration) -> u64 {
    duration.as_millis().min(u128::from(u64::MAX)) as u64
}

impl Record {
    pub fn new(id: String, message: OutgoingMessage) -> Self {
        Record {
            id,
            body: message.body,
            attributes: message.attributes,
            receive_count: 0,
            visible_at_ms: now_ms() + ms(message.delay),
            sent_at_ms: now_ms(),
            holder: None,
        }
    }

    pub fn is_visible(&self, now: u64) -> bool {
        self.visible_at_ms <= now
    }

    /// Counts this record in `depth` by its state at `now`: hidden after a receive is in flight,
    /// hidden before any is delayed.
    pub fn count_in(&self, depth: &mut Depth, now: u64) {
        self.count_as(depth, self.is_visible(now));
    }

    /// Counts this record in `depth`, visible or not as the caller found it.
    pub fn count_as(&self, depth: &mut Depth, visible: bool) {
        match (visible, self.receive_count) {
            (true, _) => depth.visible += 1,
            (false, 0) => depth.delayed += 1,
            (false, _) => depth.in_flight += 1,
        }
    }

    /// Marks the record received now, hidden for `visibility`, and returns the delivery.
    pub fn deliver(&mut self, now: u64, visibility: Duration) -> Delivery {
        // Saturating: a spool record is a file, and may have been edited to hold anything.
        self.receive_count = self.receive_count.saturating_add(1);
        self.visible_at_ms = now.saturating_add(ms(visibility));
        Delivery {
            id: self.id.clone(),
            body: self.body.clone(),
            attributes: self.attributes.clone(),
            receive_count: self.receive_count,
            receipt: receipt(&self.id, self.receive_count),
            sent_at: (self.sent_at_ms > 0)
                .then(|| UNIX_EPOCH + Duration::from_millis(self.sent_at_ms)),
        }
    }

    /// The record as a delivery that settles nothing (no receipt), for [`crate::Queue::peek`].
    pub fn view(&self) -> Delivery {
        Delivery {
            id: self.id.clone(),
            body: self.body.clone(),
            attributes: self.attributes.clone(),
            receive_count: self.receive_count,
            receipt: String::new(),
            sent_at: (self.sent_at_ms > 0)
                .then(|| UNIX_EPOCH + Duration::from_millis(self.sent_at_ms)),
        }
    }

    /// Whether `receipt` is that of the latest delivery of this record.
    pub fn matches(&self, receipt: &str) -> bool {
        self::receipt(&self.id, self.receive_count) == receipt
    }

    /// Hides (or shows, with zero) the record from now on for `duration`.
    pub fn hide_for(&mut self, duration: Duration) {
        self.visible_at_ms = now_ms() + ms(duration);
    }

    /// Gives the record back, visible after `delay`: nobody holds it any more.
    pub fn release(&mut self, delay: Duration) {
        self.hide_for(delay);
        self.holder = None;
    }
}

/// A receipt names the message and which delivery it was, so an old delivery cannot delete a
/// message that has since been delivered to someone else.
fn receipt(id: &str, receive_count: u32) -> String {
    format!("{id}#{receive_count}")
}

/// Tries `attempt` until it returns deliveries or `wait` has passed, pausing `interval` between tries.
pub(crate) async fn long_poll<F, Fut>(
    wait: Duration,
    interval: Duration,
    mut attempt: F,
) -> Result<Vec<Delivery>, crate::QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<Delivery>, crate::QueueError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let deliveries = attempt().await?;
        let now = tokio::time::Instant::now();
        if !deliveries.is_empty() || now >= deadline {
            return Ok(deliveries);
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}
