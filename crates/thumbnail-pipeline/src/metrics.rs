//! What the pipeline did, counted for Prometheus: images by outcome, failures by reason, bytes in
//! and out, processing time, and how long messages waited in the queue.

use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{FailureReason, Outcome};

type Labels = Vec<(&'static str, &'static str)>;

/// The pipeline's counters and histograms. Cheap to clone: clones count into the same metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    processed: Family<Labels, Counter>,
    failed: Family<Labels, Counter>,
    bytes_in: Counter,
    bytes_out: Counter,
    tolerated: Counter,
    processing: Histogram,
    receive_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            processed: Family::default(),
            failed: Family::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            tolerated: Counter::default(),
            // 10 ms to ~80 s: a thumbnail takes tens of milliseconds, an outage's retries minutes.
            processing: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            // 50 ms to ~7 min of waiting in the queue.
            receive_latency: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
        }
    }
}

impl Metrics {
    /// Adds every metric to `registry`, named `thumbnail_*`.
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("thumbnail");
        registry.register(
            "images_processed",
            "Source images handled, by outcome (made, already_done, ours)",
            self.processed.clone(),
        );
        registry.register(
            "images_failed",
            "Source images or records that failed, by reason",
            self.failed.clone(),
        );
        registry.register(
            "source_bytes",
            "Bytes of source images downloaded",
            self.bytes_in.clone(),
        );
        registry.register(
            "output_bytes",
            "Bytes of thumbnails written",
            self.bytes_out.clone(),
        );
        registry.register(
            "images_with_tolerated_faults",
            "Source images thumbnailed despite faults in their data that the tolerance (fail_on) allows",
            self.tolerated.clone(),
        );
        registry.register(
            "processing_seconds",
            "Time to make, store and announce the thumbnails of one image",
            self.processing.clone(),
        );
        registry.register(
            "receive_latency_seconds",
            "Time from a message being sent to the queue to its being received",
            self.receive_latency.clone(),
        );
    }

    /// Counts a message received now that was sent at `sent_at`.
    pub fn received(&self, sent_at: SystemTime) {
        let age = SystemTime::now()
            .duration_since(sent_at)
            .unwrap_or(Duration::ZERO);
        self.receive_latency.observe(age.as_secs_f64());
    }

    pub(crate) fn outcome(&self, outcome: &Outcome, took: Duration) {
        if let Outcome::Made { .. } = outcome {
            self.processing.observe(took.as_secs_f64());
        }
        self.processed
            .get_or_create(&vec![("outcome", outcome.as_str())])
            .inc();
    }

    pub(crate) fn failure(&self, reason: FailureReason) {
        self.failed
            .get_or_create(&vec![("reason", reason.as_str())])
            .inc();
    }

    pub(crate) fn tolerated(&self) {
        self.tolerated.inc();
    }

    pub(crate) fn downloaded(&self, bytes: u64) {
        self.bytes_in.inc_by(bytes);
    }

    pub(crate) fn written(&self, bytes: u64) {
        self.bytes_out.inc_by(bytes);
    }
}
