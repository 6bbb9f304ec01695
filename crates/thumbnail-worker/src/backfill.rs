//! `thumbnail-worker backfill`: queue every source object whose thumbnails are missing or were made
//! with other presets, on either backend: images uploaded before the queue was wired, thumbnails
//! deleted, or presets changed since.
//!
//! It lists the source bucket page by page and asks of each object what the pipeline asks of a
//! delivery before decoding: does a manifest record this version made with these specs? Those
//! without are queued as S3-shaped `ObjectCreated` events, at most `rate` a second, so a large
//! bucket does not flood the queue or the workers' bucket reads. Nothing is decoded here.
//!
//! Run twice, it queues nothing the second time once the workers have caught up; run again before
//! they have, it queues the same objects again, and the workers find the second copy already done
//! (one small GET each).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use thumbnail_config::Settings;
use thumbnail_parts::Parts;
use thumbnail_queue::OutgoingMessage;
use thumbnail_storage::MAX_LIST_PAGE;

/// What a backfill does.
#[derive(Clone, Debug)]
pub struct BackfillOptions {
    /// Only keys starting with this.
    pub prefix: String,
    /// Print what would be queued, queue nothing.
    pub dry_run: bool,
    /// At most this many messages a second.
    pub rate: u32,
}

/// What a backfill found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Source objects listed.
    pub listed: u64,
    /// Queued (or, in a dry run, to be queued).
    pub queued: u64,
    /// Already made with these presets.
    pub done: u64,
    /// Keys no event can name, skipped.
    pub unnamed: u64,
}

/// Lists the source bucket and queues what needs thumbnails; prints the keys (in a dry run) and
/// a summary.
pub async fn backfill(settings: Settings, options: &BackfillOptions) -> Result<Summary> {
    let parts = Parts::connect(settings).await?;
    let pipeline = parts.pipeline().await?;
    let queue = parts.queue().await?;
    let bucket = &parts.settings().source_bucket;
    let progress = progress_bar();
    let mut pace = tokio::time::interval(Duration::from_secs(1) / options.rate.max(1));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut summary = Summary::default();
    let mut after: Option<String> = None;
    loop {
        let page = pipeline
            .source()
            .list(&options.prefix, after.as_deref(), MAX_LIST_PAGE)
            .await?;
        for key in &page.unnamed {
            tracing::warn!(key, "skipped: not a key an event can name");
        }
        summary.unnamed += page.unnamed.len() as u64;
        for object in page.objects {
            summary.listed += 1;
            if !pipeline.needs_thumbnails(&object.key, &object.etag).await? {
                summary.done += 1;
            } else if options.dry_run {
                progress.suspend(|| println!("{}", object.key));
                summary.queued += 1;
            } else {
                pace.tick().await;
                let body = thumbnail_events::created_event(
                    "thumbnail:backfill",
                    bucket,
                    object.key.as_str(),
                    object.size,
                    Some(&object.etag),
                );
                queue.send(OutgoingMessage::new(body)).await?;
                summary.queued += 1;
            }
            progress.set_message(message(&summary, options.dry_run));
            progress.tick();
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    progress.finish_and_clear();
    eprintln!(
        "backfill of {}{}: {}",
        pipeline.source().name(),
        if options.prefix.is_empty() {
            String::new()
        } else {
            format!(" (prefix {:?})", options.prefix)
        },
        message(&summary, options.dry_run)
    );
    Ok(summary)
}

fn message(summary: &Summary, dry_run: bool) -> String {
    format!(
        "{} listed, {} {}, {} already made with these presets, {} unnamed keys skipped",
        summary.listed,
        summary.queued,
        if dry_run { "would be queued" } else { "queued" },
        summary.done,
        summary.unnamed
    )
}

fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
    );
    bar
}
