//! `thumbnail-worker run`: receive, process with bounded concurrency, settle; stop cleanly on
//! SIGTERM or SIGINT. And `upload`, which puts files into the source bucket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use thumbnail_notify::{LogNotifier, Notifier};
use thumbnail_pipeline::{Pipeline, settle};
use thumbnail_queue::{Delivery, LocalQueue, Queue, ReceiveOptions};
use thumbnail_storage::{LocalStore, ObjectKey, ObjectStore, PutOptions};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::local_events::LocalEvents;
use thumbnail_config::{Backend, Settings};

pub(crate) type DynPipeline =
    Pipeline<Box<dyn ObjectStore>, Box<dyn ObjectStore>, Box<dyn Notifier>>;

/// Everything `run` connects, built from the settings.
pub(crate) struct Parts {
    pub pipeline: Arc<DynPipeline>,
    pub queue: Arc<dyn Queue>,
    pub dead_letters: Option<Arc<dyn Queue>>,
    pub events: Option<LocalEvents>,
    /// How long one receive waits.
    pub wait: Duration,
}

/// The pipeline over the given stores and notifier, as the settings configure it.
pub(crate) fn pipeline(
    settings: &Settings,
    source: Box<dyn ObjectStore>,
    dest: Box<dyn ObjectStore>,
    notifier: Box<dyn Notifier>,
) -> Result<Arc<DynPipeline>> {
    let config = settings.pipeline_config()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Arc::new(Pipeline::new(
        source, dest, notifier, config, threads,
    )))
}

fn bucket_dir(settings: &Settings, bucket: &str) -> PathBuf {
    settings.local_dir.join("buckets").join(bucket)
}

/// The embedded default: folders as buckets, spool folders as queues, the log (and a JSON-lines
/// file) for notifications, and the source folder watched for new files.
fn local_parts(settings: &Settings) -> Result<Parts> {
    let queues = settings.local_dir.join("queues");
    let dlq = settings
        .dlq
        .clone()
        .unwrap_or_else(|| "thumbnail-dead-letters".into());
    Ok(Parts {
        pipeline: pipeline(
            settings,
            Box::new(LocalStore::new(bucket_dir(
                settings,
                &settings.source_bucket,
            ))?),
            Box::new(LocalStore::new(bucket_dir(
                settings,
                &settings.dest_bucket,
            ))?),
            Box::new(LogNotifier::with_jsonl(
                settings.local_dir.join("notifications.jsonl"),
            )),
        )?,
        queue: Arc::new(LocalQueue::open(queues.join(&settings.queue))?),
        dead_letters: Some(Arc::new(LocalQueue::open(queues.join(dlq))?)),
        events: Some(LocalEvents::open(
            &settings.source_bucket,
            &bucket_dir(settings, &settings.source_bucket),
            &settings.local_dir.join("ledger"),
        )?),
        wait: Duration::from_secs(1),
    })
}

async fn parts(settings: &Settings) -> Result<Parts> {
    match settings.backend {
        Backend::Local => local_parts(settings),
        Backend::Aws => crate::aws::parts(settings).await,
    }
}

async fn source_store(settings: &Settings) -> Result<Box<dyn ObjectStore>> {
    match settings.backend {
        Backend::Local => Ok(Box::new(LocalStore::new(bucket_dir(
            settings,
            &settings.source_bucket,
        ))?)),
        Backend::Aws => crate::aws::store(settings, &settings.source_bucket).await,
    }
}

/// Runs until SIGTERM/SIGINT (or, with `exit_when_idle`, until nothing is pending), finishing and
/// settling every message in flight before returning.
pub async fn run(settings: &Settings, exit_when_idle: bool) -> Result<()> {
    let Parts {
        pipeline,
        queue,
        dead_letters,
        mut events,
        wait,
    } = parts(settings).await?;
    let (stop_tx, mut stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing the messages in flight, taking no new ones");
        let _ = stop_tx.send(true);
    });
    if let Some(addr) = settings.metrics_addr {
        let mut registry = prometheus_client::registry::Registry::default();
        pipeline.metrics().register(&mut registry);
        crate::http::serve(addr, registry, stop.clone()).await?;
    }
    let visibility = Duration::from_secs(settings.visibility);
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let mut tasks = JoinSet::new();
    let mut outage = Outage::default();
    tracing::info!(queue = queue.name(), presets = %settings.presets, "worker started");
    while !*stop.borrow() {
        let announced = match events.as_mut() {
            Some(events) => match events.scan(queue.as_ref()).await {
                Ok(announced) => announced,
                Err(e) => {
                    outage.wait(&format!("{e:#}"), &mut stop).await;
                    continue;
                }
            },
            None => 0,
        };
        let free = slots.available_permits();
        if free == 0 {
            reap(tasks.join_next().await);
            continue;
        }
        let options = ReceiveOptions {
            max_messages: free.min(thumbnail_queue::MAX_BATCH),
            wait,
            visibility,
        };
        let receiving = queue.receive(&options);
        tokio::pin!(receiving);
        let deliveries = tokio::select! {
            received = &mut receiving => received,
            _ = stop.changed() => {
                // The queue may have handed out messages already: a dropped answer would leave them
                // hidden for the whole visibility timeout. A receive with messages to give answers
                // at once; one still waiting after a second has none.
                if let Ok(Ok(taken)) = tokio::time::timeout(Duration::from_secs(1), receiving).await {
                    for delivery in taken {
                        if let Err(e) = queue.release(delivery, Duration::ZERO).await {
                            tracing::warn!(error = %e, "could not put a message back; it returns after its visibility timeout");
                        }
                    }
                }
                break;
            }
        };
        let deliveries = match deliveries {
            Ok(deliveries) => {
                outage.over();
                deliveries
            }
            Err(e) if e.is_retryable() => {
                outage.wait(&e.to_string(), &mut stop).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        while let Some(done) = tasks.try_join_next() {
            reap(Some(done));
        }
        if deliveries.is_empty() && announced == 0 && tasks.is_empty() && exit_when_idle {
            tracing::info!("nothing pending: exiting");
            break;
        }
        for delivery in deliveries {
            if let Some(sent_at) = delivery.sent_at {
                pipeline.metrics().received(sent_at);
            }
            let permit = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("never closed");
            let (pipeline, queue, dead_letters) = (
                Arc::clone(&pipeline),
                Arc::clone(&queue),
                dead_letters.clone(),
            );
            let span = tracing::info_span!("message", id = %delivery.id, receive_count = delivery.receive_count);
            tasks.spawn(
                async move {
                    let _permit = permit;
                    work(
                        &pipeline,
                        queue.as_ref(),
                        dead_letters.as_deref(),
                        delivery,
                        visibility,
                    )
                    .await
                }
                .instrument(span),
            );
        }
    }
    finish(tasks, settings.shutdown_grace()).await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Waits for the messages in flight, for at most `grace`. Those still running then are dropped
/// unsettled: their messages become visible again when their visibility timeout passes, so an
/// orchestrator's SIGKILL never catches the worker half-way through a write it would have to redo.
async fn finish(mut tasks: JoinSet<Result<()>>, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(done)) => reap(Some(done)),
            Ok(None) => return,
            Err(_) => {
                tracing::warn!(
                    abandoned = tasks.len(),
                    grace_seconds = grace.as_secs(),
                    "the grace period is over: letting the messages still in flight go back to the queue"
                );
                tasks.abort_all();
                return;
            }
        }
    }
}

/// The queue (or, locally, the source folder) could not be read: how long it has been so, and how
/// long to wait before trying again. Waits double from 1 s to 10 s, so an outage costs a few
/// requests a minute rather than a busy loop, and the worker is back within 10 s of the service.
#[derive(Default)]
struct Outage {
    since: Option<std::time::Instant>,
    failures: u32,
}

impl Outage {
    const FIRST: Duration = Duration::from_secs(1);
    const LONGEST: Duration = Duration::from_secs(10);

    /// Logs the failure, then sleeps (or returns early when the worker is told to stop).
    async fn wait(&mut self, error: &str, stop: &mut watch::Receiver<bool>) {
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        let delay = (Self::FIRST * 2u32.pow(self.failures.min(5))).min(Self::LONGEST);
        self.failures += 1;
        tracing::warn!(
            error,
            failures = self.failures,
            down_for_seconds = since.elapsed().as_secs(),
            retry_in_seconds = delay.as_secs(),
            "cannot receive messages; waiting before trying again"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => {}
        }
    }

    /// A receive worked: logs the end of an outage, if there was one.
    fn over(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                failures = self.failures,
                down_for_seconds = since.elapsed().as_secs(),
                "receiving messages again"
            );
            self.failures = 0;
        }
    }
}

/// Handles one delivery, extending its visibility while the work goes on, then settles it.
async fn work(
    pipeline: &DynPipeline,
    queue: &dyn Queue,
    dead_letters: Option<&dyn Queue>,
    delivery: Delivery,
    visibility: Duration,
) -> Result<()> {
    let disposition = {
        let handling = pipeline.handle(&delivery.body, delivery.receive_count);
        tokio::pin!(handling);
        let mut heartbeat = tokio::time::interval(visibility / 2);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                disposition = &mut handling => break disposition,
                _ = heartbeat.tick() => {
                    if let Err(e) = queue.extend(&delivery, visibility).await {
                        tracing::warn!(error = %e, "could not extend the visibility");
                    }
                }
            }
        }
    };
    tracing::info!(?disposition, "settling");
    settle(queue, dead_letters, delivery, disposition)
        .await
        .context("settling the message")
}

fn reap(done: Option<Result<Result<()>, tokio::task::JoinError>>) {
    match done {
        Some(Ok(Err(e))) => {
            tracing::warn!(error = %format!("{e:#}"), "a message could not be settled; it will come back")
        }
        Some(Err(e)) => tracing::error!(error = %e, "a message task failed"),
        _ => {}
    }
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Puts files into the source bucket (the local folder, or S3, whose notification then announces
/// them). Keys are `prefix/` plus the file name.
pub async fn upload(settings: &Settings, files: &[PathBuf], prefix: Option<&str>) -> Result<usize> {
    let source = source_store(settings).await?;
    let mut count = 0;
    for file in files {
        let name = file_name(file)?;
        let key = match prefix
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
        {
            Some(prefix) => format!("{prefix}/{name}"),
            None => name,
        };
        let key = ObjectKey::new(key)?;
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let content_type = thumbnail_core::ImageFormat::detect(&bytes)
            .map_or("application/octet-stream".to_owned(), |f| {
                format!("image/{f}")
            });
        source
            .put(&key, bytes, &PutOptions::new(content_type))
            .await?;
        println!("{} -> {}/{key}", file.display(), source.name());
        count += 1;
    }
    Ok(count)
}

fn file_name(file: &Path) -> Result<String> {
    Ok(file
        .file_name()
        .with_context(|| format!("{} has no file name", file.display()))?
        .to_string_lossy()
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_grace_period_bounds_the_wait_for_work_in_flight() {
        let mut tasks = JoinSet::new();
        tasks.spawn(async { Ok(()) });
        let (done_tx, done) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(async move {
            let _dropped_when_aborted = done_tx;
            std::future::pending::<()>().await;
            Ok(())
        });
        let start = tokio::time::Instant::now();
        finish(tasks, Duration::from_secs(25)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(25));
        // The stuck task was aborted (its future dropped), not left running.
        assert!(done.await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_backs_off_to_ten_seconds_and_ends_on_stop() {
        let (stop_tx, mut stop) = watch::channel(false);
        let mut outage = Outage::default();
        let mut waits = Vec::new();
        for _ in 0..6 {
            let start = tokio::time::Instant::now();
            outage.wait("unreachable", &mut stop).await;
            waits.push(start.elapsed().as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        outage.over();
        assert_eq!(outage.failures, 0);
        // A stop cuts a wait short.
        stop_tx.send(true).unwrap();
        let start = tokio::time::Instant::now();
        outage.wait("unreachable", &mut stop).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
