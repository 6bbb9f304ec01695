//! `thumbnail-worker status`: how many messages wait, are being worked on, or are delayed, in the
//! queue and the dead-letter queue, on either backend.

use anyhow::Result;
use thumbnail_config::Settings;
use thumbnail_parts::Parts;
use thumbnail_queue::{Depth, Queue};

/// Prints the depth of the queue and of the dead-letter queue.
pub async fn status(settings: Settings) -> Result<()> {
    let parts = Parts::connect(settings).await?;
    print("queue", parts.queue().await?.as_ref()).await?;
    match parts.dead_letters().await? {
        Some(dead_letters) => print("dead letters", dead_letters.as_ref()).await?,
        None => println!("dead letters: no dead-letter queue configured"),
    }
    Ok(())
}

async fn print(what: &str, queue: &dyn Queue) -> Result<()> {
    let Depth {
        visible,
        in_flight,
        delayed,
    } = queue.depth().await?;
    println!(
        "{what} {}: {visible} visible, {in_flight} in flight, {delayed} delayed",
        queue.name()
    );
    Ok(())
}
