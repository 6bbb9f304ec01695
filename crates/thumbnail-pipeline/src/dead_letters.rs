//! The dead-letter queue, read and replayed: what the worker's `dead-letters` command and the
//! console show, and how they move messages back once the cause is fixed (a decoder, a budget, a
//! permission).

use std::time::Duration;

use thumbnail_events::Record;
use thumbnail_queue::{Delivery, OutgoingMessage, Queue, QueueError, ReceiveOptions};

use crate::{FAILURE_CODES, FAILURE_REASON};

/// One dead letter, as people read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id, the same on every receive.
    pub id: String,
    /// The failure codes, comma-separated (`-` when the message carries none).
    pub codes: String,
    /// The keys its event names, as far as it can be read.
    pub keys: Vec<String>,
    /// The failure's sentence (`-` when the message carries none).
    pub reason: String,
}

impl DeadLetter {
    /// The dead letter a delivery is.
    pub fn of(delivery: &Delivery) -> Self {
        let attribute = |name| {
            delivery
                .attributes
                .get(name)
                .map_or("-", String::as_str)
                .to_owned()
        };
        DeadLetter {
            id: delivery.id.clone(),
            codes: attribute(FAILURE_CODES),
            keys: keys(&delivery.body),
            reason: attribute(FAILURE_REASON),
        }
    }

    /// Whether one of its failure codes is `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.codes.split(',').any(|c| c == code)
    }
}

/// Receives every message of `queue`, each hidden from others for `hold`, until a receive brings
/// nothing. Give them back with [`put_back`].
pub async fn take_all(queue: &dyn Queue, hold: Duration) -> Result<Vec<Delivery>, QueueError> {
    let options = ReceiveOptions {
        max_messages: thumbnail_queue::MAX_BATCH,
        wait: Duration::from_secs(1),
        visibility: hold,
    };
    let mut held = Vec::new();
    loop {
        let batch = queue.receive(&options).await?;
        if batch.is_empty() {
            return Ok(held);
        }
        held.extend(batch);
    }
}

/// Makes held messages visible again at once.
pub async fn put_back(queue: &dyn Queue, held: Vec<Delivery>) -> Result<(), QueueError> {
    for delivery in held {
        queue.release(delivery, Duration::ZERO).await?;
    }
    Ok(())
}

/// The most dead letters a listing shows.
pub const LIST_LIMIT: usize = 1000;

/// Lists the dead letters (at most [`LIST_LIMIT`]), taking none: a replay or another listing at
/// the same time finds every one (see [`Queue::peek`] for SQS's one instant).
pub async fn list(dead_letters: &dyn Queue) -> Result<Vec<DeadLetter>, QueueError> {
    let shown = dead_letters.peek(LIST_LIMIT).await?;
    Ok(shown.iter().map(DeadLetter::of).collect())
}

/// Moves the dead letters that `select` picks back to `queue`, as new messages; the others stay.
/// Returns how many moved.
pub async fn redrive(
    dead_letters: &dyn Queue,
    queue: &dyn Queue,
    select: impl Fn(&DeadLetter) -> bool,
) -> Result<usize, QueueError> {
    let mut moved = 0;
    let mut kept = Vec::new();
    let mut failure = None;
    for delivery in take_all(dead_letters, Duration::from_secs(120)).await? {
        if failure.is_some() || !select(&DeadLetter::of(&delivery)) {
            kept.push(delivery);
            continue;
        }
        // Sent before it is deleted: a crash between the two leaves a copy, never a loss.
        let sent = queue
            .send(OutgoingMessage::new(delivery.body.clone()))
            .await;
        match sent {
            Ok(_) => {
                dead_letters.ack(delivery).await?;
                moved += 1;
            }
            Err(e) => {
                kept.push(delivery);
                failure = Some(e);
            }
        }
    }
    put_back(dead_letters, kept).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(moved),
    }
}

/// The keys a dead letter's event names, as far as it can be read.
fn keys(body: &str) -> Vec<String> {
    let Ok(message) = thumbnail_events::parse(body) else {
        return vec!["(not an event)".into()];
    };
    message
        .records
        .iter()
        .filter_map(|record| match record {
            Record::Created(object) => Some(object.key.to_string()),
            Record::Invalid {
                named: Some(named), ..
            } => Some(named.key.clone()),
            _ => None,
        })
        .collect()
}
