//! `thumbnail-worker dead-letters`: list what was dead-lettered and why, and move it back to the
//! queue once the cause is fixed (a decoder, a budget, a permission).

use std::time::Duration;

use anyhow::{Context, Result};
use thumbnail_config::Settings;
use thumbnail_events::Record;
use thumbnail_parts::Parts;
use thumbnail_pipeline::{FAILURE_CODES, FAILURE_REASON};
use thumbnail_queue::{Delivery, OutgoingMessage, Queue, ReceiveOptions};

/// How long listed dead letters stay hidden from others while they are read; all are put back at
/// once after.
const HOLD: Duration = Duration::from_secs(120);

/// Prints each dead letter: its id, failure codes, keys and reason, one a line, tab-separated.
pub async fn list(settings: Settings) -> Result<()> {
    let parts = Parts::connect(settings).await?;
    let dead_letters = dead_letter_queue(&parts).await?;
    let held = take_all(dead_letters.as_ref()).await?;
    for delivery in &held {
        println!(
            "{}\t{}\t{}\t{}",
            delivery.id,
            attribute(delivery, FAILURE_CODES),
            keys(&delivery.body).join(" "),
            attribute(delivery, FAILURE_REASON)
        );
    }
    eprintln!("{} dead letters", held.len());
    put_back(dead_letters.as_ref(), held).await
}

/// Moves the dead letters whose failure codes include `reason` (all of them without one) back to
/// the queue, as new messages; the others stay. Returns how many moved.
pub async fn redrive(settings: Settings, reason: Option<&str>) -> Result<usize> {
    let parts = Parts::connect(settings).await?;
    let dead_letters = dead_letter_queue(&parts).await?;
    let queue = parts.queue().await?;
    let mut moved = 0;
    let mut kept = Vec::new();
    for delivery in take_all(dead_letters.as_ref()).await? {
        let matches = reason.is_none_or(|reason| {
            attribute(&delivery, FAILURE_CODES)
                .split(',')
                .any(|code| code == reason)
        });
        if !matches {
            kept.push(delivery);
            continue;
        }
        // Sent before it is deleted: a crash between the two leaves a copy, never a loss.
        queue
            .send(OutgoingMessage::new(delivery.body.clone()))
            .await?;
        dead_letters.ack(delivery).await?;
        moved += 1;
    }
    eprintln!("{moved} dead letters moved back to {}", queue.name());
    put_back(dead_letters.as_ref(), kept).await?;
    Ok(moved)
}

async fn dead_letter_queue(parts: &Parts) -> Result<std::sync::Arc<dyn Queue>> {
    parts
        .dead_letters()
        .await?
        .context("no dead-letter queue is configured (THUMBNAIL_DLQ)")
}

/// Receives every message, holding each for [`HOLD`], until a receive brings nothing.
async fn take_all(queue: &dyn Queue) -> Result<Vec<Delivery>> {
    let options = ReceiveOptions {
        max_messages: thumbnail_queue::MAX_BATCH,
        wait: Duration::from_secs(1),
        visibility: HOLD,
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

async fn put_back(queue: &dyn Queue, held: Vec<Delivery>) -> Result<()> {
    for delivery in held {
        queue.release(delivery, Duration::ZERO).await?;
    }
    Ok(())
}

fn attribute<'a>(delivery: &'a Delivery, name: &str) -> &'a str {
    delivery.attributes.get(name).map_or("-", String::as_str)
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
