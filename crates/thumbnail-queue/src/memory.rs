//! Messages in memory: for tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::record::{Record, long_poll, now_ms};
use crate::{Delivery, Depth, OutgoingMessage, Queue, QueueError, ReceiveOptions};

/// An in-memory queue with the same visibility rules as the others. Lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    name: String,
    records: Mutex<Vec<Record>>,
    next_id: AtomicU64,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new(name: impl Into<String>) -> Self {
        MemoryQueue {
            name: name.into(),
            ..MemoryQueue::default()
        }
    }

    /// How many messages are in the queue, visible or not.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the queue holds no message at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Record>> {
        // Every change is a single assignment or Vec operation: a poisoned list is still consistent.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `change` to the record `delivery` controls. A message already gone is fine to delete
    /// (that is the wanted state) but stale for anything else.
    fn update(
        &self,
        delivery: &Delivery,
        deleting: bool,
        change: impl FnOnce(&mut Vec<Record>, usize),
    ) -> Result<(), QueueError> {
        let mut records = self.lock();
        match records.iter().position(|r| r.id == delivery.id) {
            Some(i) if records[i].matches(&delivery.receipt) => {
                change(&mut records, i);
                Ok(())
            }
            None if deleting => Ok(()),
            _ => Err(QueueError::StaleReceipt {
                queue: self.name.clone(),
                id: delivery.id.clone(),
            }),
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        let id = format!(
            "{}-{}",
            self.name,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        self.lock().push(Record::new(id.clone(), message));
        Ok(id)
    }

    async fn receive(&self, options: &ReceiveOptions) -> Result<Vec<Delivery>, QueueError> {
        let options = options.clamped();
        long_poll(options.wait, Duration::from_millis(20), || async {
            let now = now_ms();
            let mut records = self.lock();
            Ok(records
                .iter_mut()
                .filter(|r| r.is_visible(now))
                .take(options.max_messages)
                .map(|r| r.deliver(now, options.visibility))
                .collect())
        })
        .await
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.update(&delivery, true, |records, i| {
            records.remove(i);
        })
    }

    async fn release(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        self.update(&delivery, false, |records, i| records[i].release(delay))
    }

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<(), QueueError> {
        self.update(delivery, false, |records, i| {
            records[i].hide_for(visibility)
        })
    }

    async fn peek(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        Ok(self.lock().iter().take(max).map(Record::view).collect())
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        let now = now_ms();
        let mut depth = Depth::default();
        for record in self.lock().iter() {
            record.count_in(&mut depth, now);
        }
        Ok(depth)
    }
}
