//! `thumbnail-worker dead-letters`: list what was dead-lettered and why, and move it back to the
//! queue once the cause is fixed (a decoder, a budget, a permission).

use anyhow::{Context, Result};
use thumbnail_config::Settings;
use thumbnail_parts::Parts;
use thumbnail_pipeline::dead_letters;
use thumbnail_queue::Queue;

/// Prints each dead letter: its id, failure codes, keys and reason, one a line, tab-separated.
pub async fn list(settings: Settings) -> Result<()> {
    let parts = Parts::connect(settings).await?;
    let listed = dead_letters::list(dead_letter_queue(&parts).await?.as_ref()).await?;
    for letter in &listed {
        println!(
            "{}\t{}\t{}\t{}",
            letter.id,
            letter.codes,
            letter.keys.join(" "),
            letter.reason
        );
    }
    eprintln!("{} dead letters", listed.len());
    Ok(())
}

/// Moves the dead letters whose failure codes include `reason` (all of them without one) back to
/// the queue, as new messages; the others stay. Returns how many moved.
pub async fn redrive(settings: Settings, reason: Option<&str>) -> Result<usize> {
    let parts = Parts::connect(settings).await?;
    let dead = dead_letter_queue(&parts).await?;
    let queue = parts.queue().await?;
    let moved = dead_letters::redrive(dead.as_ref(), queue.as_ref(), |letter| {
        reason.is_none_or(|reason| letter.has_code(reason))
    })
    .await?;
    eprintln!("{moved} dead letters moved back to {}", queue.name());
    Ok(moved)
}

async fn dead_letter_queue(parts: &Parts) -> Result<std::sync::Arc<dyn Queue>> {
    parts
        .dead_letters()
        .await?
        .context("no dead-letter queue is configured (THUMBNAIL_DLQ)")
}
