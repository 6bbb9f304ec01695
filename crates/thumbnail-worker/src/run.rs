//! `thumbnail-worker run`: receive, process with bounded concurrency, settle; stop cleanly on
//! SIGTERM or SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use thumbnail_config::Settings;
use thumbnail_console::{Console, Feed};
use thumbnail_notify::Notifier;
use thumbnail_parts::{DynPipeline, Parts};
use thumbnail_pipeline::{Disposition, retry_delay, settle};
use thumbnail_queue::{Delivery, Queue, ReceiveOptions};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Runs until SIGTERM/SIGINT (or, with `exit_when_idle`, until the queue is empty: nothing
/// visible, in flight or delayed), finishing and settling every message in flight before returning.
pub async fn run(settings: Settings, exit_when_idle: bool) -> Result<()> {
    let parts = Parts::connect(settings).await?;
    // The console's list of recent uploads hears what the pipeline announces.
    let feed = parts.settings().console_addr.map(|_| Feed::new());
    let also: Vec<Box<dyn Notifier>> = feed.iter().map(|f| Box::new(f.clone()) as _).collect();
    let pipeline = Arc::new(parts.pipeline_also_notifying(also).await?);
    let queue = parts.queue().await?;
    let dead_letters = parts.dead_letters().await?;
    let mut events = parts.local_events()?;
    // A run that ends when the queue is empty does not long-poll while it works: it asks the
    // queue, and when nothing is visible waits for its own work in flight (which may be the last),
    // then for the queue's depth. It polls, a second at a time, only while messages are held
    // elsewhere or delayed: a 20 s long poll would make each run wait 20 s at the end.
    let held_elsewhere_wait = parts.receive_wait().min(Duration::from_secs(1));
    let mut held_elsewhere = false;
    let settings = parts.settings();
    let sizing = settings.sizing();
    let (stop_tx, mut stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing the messages in flight, taking no new ones");
        let _ = stop_tx.send(true);
    });
    let mut registry = prometheus_client::registry::Registry::default();
    pipeline.metrics().register(&mut registry);
    let registry = Arc::new(registry);
    if let Some(addr) = settings.metrics_addr {
        let router = thumbnail_console::ops_router(Arc::clone(&registry), stop.clone());
        let bound = thumbnail_console::serve(addr, router)
            .await
            .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
        tracing::info!(addr = %bound, "serving /healthz and /metrics");
    }
    if let (Some(addr), Some(feed)) = (settings.console_addr, feed) {
        let console = Console {
            source: Arc::from(parts.bucket(&settings.source_bucket)?),
            thumbnails: Arc::from(parts.bucket(&settings.dest_bucket)?),
            queue: Arc::clone(&queue),
            dead_letters: dead_letters.clone(),
            presets: settings.presets.clone(),
            links: parts.links()?,
            reserved_prefix: (settings.source_bucket == settings.dest_bucket)
                .then(|| settings.dest_prefix.clone()),
            hosts: console_hosts(settings),
            token: settings
                .console_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
            max_upload_bytes: settings.pipeline_config().limits.max_bytes,
            feed,
        };
        if !addr.ip().is_loopback() && settings.console_token.is_none() {
            tracing::warn!(
                %addr,
                "the console listens beyond loopback with no login: anyone who reaches it can upload, \
                 replay and read recent links; set THUMBNAIL_CONSOLE_TOKEN or put a proxy that \
                 authenticates in front"
            );
        }
        let router = console.router(Arc::clone(&registry), stop.clone());
        let bound = thumbnail_console::serve(addr, router)
            .await
            .with_context(|| format!("cannot listen on {addr} for the console"))?;
        tracing::info!(url = %format!("http://{bound}/"), "console open");
    }
    let visibility = settings.visibility;
    let timing = Timing {
        visibility,
        job_timeout: settings.job_timeout,
    };
    let slots = Arc::new(Semaphore::new(sizing.concurrency));
    let mut tasks = JoinSet::new();
    let mut outage = Outage::default();
    tracing::info!(
        queue = queue.name(),
        presets = %settings.preset_names(),
        concurrency = sizing.concurrency,
        engine_threads = sizing.engine_threads,
        memory_budget_mib = sizing.memory_budget.map(|bytes| bytes >> 20),
        "worker started"
    );
    // The local source folder is scanned for uploads when the last receive found nothing, and
    // otherwise at most once a second: a scan walks the whole folder, too much to repeat for
    // every message of a backlog.
    let mut last_scan: Option<std::time::Instant> = None;
    let mut found_nothing = true;
    while !*stop.borrow() {
        // Whether this turn's scan gave way to another worker's, whose events may still be coming.
        let mut scan_elsewhere = false;
        // How many uploads a scan announced; `None` when no scan was due, or another worker's
        // scan was under way.
        let announced = match events.as_mut() {
            Some(events)
                if found_nothing || last_scan.is_none_or(|at| at.elapsed() >= SCAN_EVERY) =>
            {
                last_scan = Some(std::time::Instant::now());
                match events.scan(queue.as_ref()).await {
                    Ok(announced) => {
                        scan_elsewhere = announced.is_none();
                        if scan_elsewhere {
                            tracing::debug!(
                                "another worker's scan is under way: waiting for its events"
                            );
                        }
                        announced
                    }
                    Err(e) => {
                        outage.wait(&format!("{e:#}"), &mut stop).await;
                        continue;
                    }
                }
            }
            Some(_) => None,
            None => Some(0),
        };
        let free = slots.available_permits();
        if free == 0 {
            reap(tasks.join_next().await);
            continue;
        }
        let wait = match (exit_when_idle, held_elsewhere || scan_elsewhere) {
            (false, _) => parts.receive_wait(),
            (true, false) => Duration::ZERO,
            (true, true) => held_elsewhere_wait,
        };
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
        found_nothing = deliveries.is_empty();
        if found_nothing && announced.is_none() {
            // Not idle before the folder has been scanned (no scan was due, or another worker's
            // was under way, its events perhaps not sent yet): the next turn scans it.
            continue;
        }
        if found_nothing && announced == Some(0) && exit_when_idle {
            if !tasks.is_empty() {
                // A stop ends this wait: the messages in flight then get their grace in `finish`.
                tokio::select! {
                    done = tasks.join_next() => reap(done),
                    _ = stop.changed() => {}
                }
                continue;
            }
            // Nothing visible is not nothing left: messages a killed worker (or another one)
            // holds, or released with a delay, come back later. Idle is an empty queue.
            match queue.depth().await {
                Ok(depth) if depth.total() == 0 => {
                    tracing::info!("nothing pending: exiting");
                    break;
                }
                Ok(depth) => {
                    if !held_elsewhere {
                        tracing::info!(
                            in_flight = depth.in_flight,
                            delayed = depth.delayed,
                            "waiting for messages held elsewhere or delayed"
                        );
                    }
                    held_elsewhere = true;
                }
                Err(e) => {
                    outage.wait(&e.to_string(), &mut stop).await;
                    continue;
                }
            }
        } else {
            held_elsewhere = false;
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
                        timing,
                    )
                    .await
                }
                .instrument(span),
            );
        }
    }
    finish(tasks, settings.shutdown_grace).await;
    tracing::info!("worker stopped");
    Ok(())
}

/// How often, at most, the local source folder is scanned while messages keep coming.
const SCAN_EVERY: Duration = Duration::from_secs(1);

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

/// How long a message is held, and for how long at most it is worked on.
#[derive(Clone, Copy, Debug)]
struct Timing {
    /// The visibility timeout, extended every half of it while the work goes on.
    visibility: Duration,
    /// Past this the work is abandoned and the message released for a retry.
    job_timeout: Duration,
}

/// Handles one delivery, extending its visibility while the work goes on, then settles it. Work
/// that outlasts the job timeout is dropped (a decode already running on the engine pool finishes
/// there, unheard) and the message comes back after the retry delay; on its last receive it is
/// announced and dead-lettered as `too_many_receives`.
async fn work(
    pipeline: &DynPipeline,
    queue: &dyn Queue,
    dead_letters: Option<&dyn Queue>,
    delivery: Delivery,
    timing: Timing,
) -> Result<()> {
    let Timing {
        visibility,
        job_timeout,
    } = timing;
    let disposition = {
        let handling = pipeline.handle(&delivery.body, delivery.receive_count);
        tokio::pin!(handling);
        let deadline = tokio::time::sleep(job_timeout);
        tokio::pin!(deadline);
        let mut heartbeat = tokio::time::interval(visibility / 2);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                disposition = &mut handling => break disposition,
                () = &mut deadline => {
                    tracing::warn!(
                        job_timeout_seconds = job_timeout.as_secs(),
                        receive_count = delivery.receive_count,
                        "abandoned: the work took longer than the job timeout; the message comes back"
                    );
                    break Disposition::Retry {
                        delay: retry_delay(delivery.receive_count),
                    };
                }
                _ = heartbeat.tick() => {
                    if let Err(e) = queue.extend(&delivery, visibility).await {
                        tracing::warn!(error = %e, "could not extend the visibility");
                    }
                }
            }
        }
    };
    disposition.log();
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

/// The host names the console answers for besides loopback's: that of `console_url`, and the
/// address it listens on when that is a specific one.
fn console_hosts(settings: &thumbnail_config::Settings) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(host) = settings
        .console_url
        .as_deref()
        .and_then(|url| url::Url::parse(url).ok())
        .and_then(|url| url.host_str().map(str::to_owned))
    {
        hosts.push(host);
    }
    if let Some(addr) = settings.console_addr.filter(|a| !a.ip().is_unspecified()) {
        hosts.push(match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        });
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use thumbnail_notify::MemoryNotifier;
    use thumbnail_pipeline::{Pipeline, PipelineConfig};
    use thumbnail_queue::{MemoryQueue, OutgoingMessage};
    use thumbnail_storage::MemoryStore;
    use thumbnail_storage::conformance::Stalling;

    #[tokio::test(start_paused = true)]
    async fn work_past_the_job_timeout_is_abandoned_and_its_message_released() {
        let uploads = MemoryStore::with_objects("uploads", &[("stall.jpg", vec![0xFF, 0xD8])]);
        let pipeline: DynPipeline = Pipeline::new(
            Box::new(Stalling(uploads.unwrap())),
            Box::new(MemoryStore::new("thumbnails")),
            Box::new(MemoryNotifier::new()),
            PipelineConfig::new(thumbnail_config::Settings::default().presets),
            1,
        );
        let queue = MemoryQueue::new("jobs");
        let event = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},"object":{"key":"stall.jpg"}}}]}"#;
        queue.send(OutgoingMessage::new(event)).await.unwrap();
        let options = ReceiveOptions {
            max_messages: 1,
            wait: Duration::ZERO,
            visibility: Duration::from_secs(30),
        };
        let delivery = queue.receive(&options).await.unwrap().remove(0);
        let timing = Timing {
            visibility: Duration::from_secs(30),
            job_timeout: Duration::from_secs(90),
        };
        let start = tokio::time::Instant::now();
        work(&pipeline, &queue, None, delivery, timing)
            .await
            .unwrap();
        // Given up at the job timeout (the download never ends), after extending the message's
        // visibility meanwhile; nothing made, the message kept, hidden for its retry delay.
        assert_eq!(start.elapsed(), Duration::from_secs(90));
        let made = pipeline.dest().list("", None, 10).await.unwrap();
        assert!(made.objects.is_empty(), "{made:?}");
        let depth = queue.depth().await.unwrap();
        assert_eq!((depth.visible, depth.total()), (0, 1), "{depth:?}");
    }

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
