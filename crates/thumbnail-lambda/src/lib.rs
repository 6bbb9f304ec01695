//! The thumbnail pipeline as an AWS Lambda function: the same [`Pipeline`] the worker runs, behind
//! the three ways S3 uploads reach a function.
//!
//! - **SQS** (S3 → SQS → Lambda, the recommended wiring): every message is handled on its own and
//!   the answer is a partial batch response (`batchItemFailures`, for an event source mapping with
//!   `ReportBatchItemFailures`): only messages that met an outage are retried. A permanent failure
//!   (corrupt, unsupported, too large to fit) is announced, moved to the dead-letter queue with its
//!   reason when one is configured, and not retried.
//! - **S3** directly (S3 → Lambda) and **SNS** (S3 → SNS → Lambda): asynchronous invocations with no
//!   queue of their own. A failure to retry, or a permanent one when no dead-letter queue is
//!   configured, is returned as an error, so Lambda's own retries and on-failure destination apply.
//!
//! An event is read once into an [`Invocation`], told apart by its records' `eventSource`; the S3
//! notifications inside are parsed leniently (local S3 stand-ins omit fields the strict types
//! require); the `s3:TestEvent`, other event types, and the function's own thumbnails are
//! acknowledged and ignored. Engine threads and the memory budget come from the function's memory
//! size ([`thumbnail_config::Settings::sizing`]).
//!
//! ```
//! use thumbnail_core::Presets;
//! use thumbnail_lambda::Handler;
//! use thumbnail_notify::MemoryNotifier;
//! use thumbnail_pipeline::{Pipeline, PipelineConfig};
//! use thumbnail_storage::{MemoryStore, ObjectKey, ObjectStore, PutOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let uploads = MemoryStore::new("uploads");
//! let mut png = Vec::new();
//! image::RgbImage::from_pixel(640, 480, image::Rgb([20, 90, 200]))
//!     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
//! uploads.put(&ObjectKey::new("cat.png")?, png, &PutOptions::new("image/png")).await?;
//!
//! let specs = vec![Presets::builtin().require("profile")?.clone()];
//! let pipeline = Pipeline::new(uploads, MemoryStore::new("thumbnails"), MemoryNotifier::new(),
//!     PipelineConfig::new(specs), 1);
//! let handler = Handler::new(pipeline, None);
//!
//! // An SQS event holding an S3 notification, and one message that is not an event at all.
//! let s3 = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},"object":{"key":"cat.png"}}}]}"#;
//! let event = serde_json::json!({"Records": [
//!     {"messageId": "m1", "eventSource": "aws:sqs", "body": s3, "attributes": {"ApproximateReceiveCount": "1"}},
//!     {"messageId": "m2", "eventSource": "aws:sqs", "body": "hello"},
//! ]});
//! let answer = handler.handle(event).await?;
//! // Nothing to retry: m1 is done and announced; m2 can never succeed (without a dead-letter
//! // queue it is acknowledged, so it cannot poison the queue).
//! assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
//! assert!(handler.pipeline().dest().keys().iter().any(|k| k.as_str() == "cat.png/profile.jpg"));
//! assert_eq!(handler.pipeline().notifier().published().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
pub use thumbnail_events::lambda::Invocation;
use thumbnail_notify::Notifier;
use thumbnail_pipeline::{Pipeline, Settlement};
use thumbnail_queue::Queue;
use thumbnail_storage::ObjectStore;
use tracing::Instrument;

/// Why an asynchronous invocation (S3 or SNS) failed; Lambda retries it, then hands it to the
/// function's on-failure destination.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// An outage got in the way, or the event could not be read: trying again later may succeed.
    #[error("to be retried: {0}")]
    Retry(String),
    /// The event can never succeed and no dead-letter queue is configured; the failure was
    /// announced.
    #[error("failed: {0}")]
    Failed(String),
}

/// What the function keeps of an invocation's time for answering (or a tenth of the time, when
/// that is less): past the deadline less this, work still running is abandoned and its messages
/// listed for a retry.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// The function: a pipeline, where permanently failed messages go, and how long one message's work
/// may take.
#[derive(Debug)]
pub struct Handler<S, D, N> {
    pipeline: Pipeline<S, D, N>,
    dead_letters: Option<Arc<dyn Queue>>,
    job_timeout: Duration,
}

impl<S: ObjectStore, D: ObjectStore, N: Notifier> Handler<S, D, N> {
    /// A handler over `pipeline`; permanent failures go to `dead_letters` with their reason (without
    /// one they are acknowledged, or returned as errors for asynchronous invocations).
    pub fn new(pipeline: Pipeline<S, D, N>, dead_letters: Option<Arc<dyn Queue>>) -> Self {
        Handler {
            pipeline,
            dead_letters,
            job_timeout: Duration::from_secs(300),
        }
    }

    /// Sets how long one message's work may take (`THUMBNAIL_JOB_TIMEOUT`; 300 s unless set).
    pub fn with_job_timeout(mut self, job_timeout: Duration) -> Self {
        self.job_timeout = job_timeout;
        self
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline<S, D, N> {
        &self.pipeline
    }

    /// Handles an event as JSON: [`Invocation::from_json`], then [`Handler::invoke`], with no
    /// deadline but the job timeout.
    pub async fn handle(&self, event: Value) -> Result<Value, InvocationError> {
        let invocation =
            Invocation::from_json(event).map_err(|e| InvocationError::Retry(e.to_string()))?;
        self.invoke(invocation, None).await
    }

    /// Handles one invocation: an SQS batch (answered with `batchItemFailures`), SNS messages or
    /// an S3 event (answered with `{}`). By `deadline` (the invocation's, less
    /// [`DEADLINE_MARGIN`] or a tenth of the time left) the function answers: an SQS message not finished by then, or not
    /// finished within the job timeout, is listed for a retry; an S3 or SNS invocation fails with
    /// an error for Lambda to retry.
    pub async fn invoke(
        &self,
        invocation: Invocation,
        deadline: Option<Instant>,
    ) -> Result<Value, InvocationError> {
        let deadline = deadline.map(|deadline| {
            let left = deadline.saturating_duration_since(Instant::now());
            deadline - DEADLINE_MARGIN.min(left / 10)
        });
        match invocation {
            Invocation::Sqs(event) => Ok(self.handle_sqs(event, deadline).await),
            other => {
                let limit = self.limit(deadline);
                tokio::time::timeout_at(limit.into(), self.invoke_async(other))
                    .await
                    .unwrap_or_else(|_| {
                        Err(InvocationError::Retry(
                            "the work outlasted the job timeout or the invocation's deadline"
                                .into(),
                        ))
                    })
            }
        }
    }

    /// When the work starting now must end: the job timeout, or the deadline if sooner.
    fn limit(&self, deadline: Option<Instant>) -> Instant {
        let job = Instant::now() + self.job_timeout;
        deadline.map_or(job, |deadline| deadline.min(job))
    }

    /// An S3 or SNS invocation.
    async fn invoke_async(&self, invocation: Invocation) -> Result<Value, InvocationError> {
        match invocation {
            Invocation::Sqs(_) => unreachable!("SQS batches are handled by handle_sqs"),
            Invocation::Sns(event) => {
                // Every record is handled before a failure is reported: one bad record must not
                // keep the others from being made.
                let mut failure = None;
                for record in event.records {
                    let body = record.sns.message;
                    let disposition = self.pipeline.handle(&body, 1).await;
                    if let Err(e) = self.settle_async(disposition, &body).await {
                        failure.get_or_insert(e);
                    }
                }
                failure.map_or(Ok(Value::Object(Default::default())), Err)
            }
            Invocation::S3 { message, body } => {
                let disposition = self.pipeline.handle_parsed(message, 1).await;
                self.settle_async(disposition, &body).await?;
                Ok(Value::Object(Default::default()))
            }
        }
    }

    /// Each message on its own; the answer lists those to retry: those an outage got in the way
    /// of, and those not finished within the job timeout or by the deadline.
    async fn handle_sqs(&self, event: SqsEvent, deadline: Option<Instant>) -> Value {
        let mut response = SqsBatchResponse::default();
        for message in event.records {
            let id = message.message_id.unwrap_or_default();
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                tracing::warn!(id = %id, "not started: the invocation's deadline is near");
                response.add_failure(id);
                continue;
            }
            let body = message.body.unwrap_or_default();
            let receive_count = message
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let span = tracing::info_span!("message", id = %id, receive_count);
            let limit = self.limit(deadline);
            let settlement = async {
                let disposition = self.pipeline.handle(&body, receive_count).await;
                disposition.log();
                disposition
                    .settlement(&body, receive_count, self.dead_letters.as_deref())
                    .await
            }
            .instrument(span);
            match tokio::time::timeout_at(limit.into(), settlement).await {
                // Abandoned: announced, and it must not poison the queue.
                Ok(Settlement::Delete | Settlement::Abandon { .. }) => {}
                Ok(Settlement::Retry { .. }) => response.add_failure(id),
                Err(_) => {
                    tracing::warn!(
                        id = %id,
                        receive_count,
                        "abandoned: not finished within the job timeout or by the deadline"
                    );
                    response.add_failure(id);
                }
            }
        }
        serde_json::to_value(response).expect("the response serialises")
    }

    /// One S3 event (from S3 itself, or out of an SNS message): no queue to release it to, so a
    /// failure is an error for Lambda to retry or pass on.
    async fn settle_async(
        &self,
        disposition: thumbnail_pipeline::Disposition,
        body: &str,
    ) -> Result<(), InvocationError> {
        match disposition
            .settlement(body, 1, self.dead_letters.as_deref())
            .await
        {
            Settlement::Delete => Ok(()),
            Settlement::Retry { .. } => Err(InvocationError::Retry(
                "an outage stopped the thumbnails".into(),
            )),
            Settlement::Abandon { reason } => Err(InvocationError::Failed(reason)),
        }
    }
}
