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
//! Events are parsed leniently (local S3 stand-ins omit fields the strict types require); the
//! `s3:TestEvent`, other event types, and the function's own thumbnails are acknowledged and ignored.
//!
//! ```
//! use thumbnail_core::Presets;
//! use thumbnail_lambda::Handler;
//! use thumbnail_notify::MemoryNotifier;
//! use thumbnail_pipeline::{Pipeline, PipelineConfig};
//! use thumbnail_storage::{MemoryStore, ObjectKey, ObjectStore, PutOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
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
//! assert!(handler.pipeline().dest().keys().iter().any(|k| k.as_str() == "cat/profile.jpg"));
//! assert_eq!(handler.pipeline().notifier().published().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use std::sync::Arc;

use serde_json::Value;
use thumbnail_notify::Notifier;
use thumbnail_pipeline::{Disposition, Pipeline, dead_letter};
use thumbnail_queue::Queue;
use thumbnail_storage::ObjectStore;
use tracing::Instrument;

/// Memory a function takes before any image: the runtime, the binary, the SDK clients and their
/// connection pools (measured at about 20 MiB; the rest is margin).
pub const BASELINE_MEMORY: u64 = 32 << 20;

/// Lambda gives a function one vCPU per 1769 MB of memory.
const MB_PER_VCPU: u64 = 1769;

/// How a function of `memory_mb` megabytes runs the engine: on how many threads at once, and the
/// memory budget of each image (its bytes plus the engine's working memory).
pub fn sizing(memory_mb: u64) -> (usize, u64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = usize::try_from(memory_mb / MB_PER_VCPU)
        .unwrap_or(usize::MAX)
        .clamp(1, cores);
    let budget = (memory_mb << 20).saturating_sub(BASELINE_MEMORY) / threads as u64;
    (threads, budget)
}

/// Why an asynchronous invocation (S3 or SNS) failed; Lambda retries it, then hands it to the
/// function's on-failure destination.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// An outage got in the way: trying again later may succeed.
    #[error("to be retried: {0}")]
    Retry(String),
    /// The event can never succeed and no dead-letter queue is configured; the failure was
    /// announced.
    #[error("failed: {0}")]
    Failed(String),
}

/// The function: a pipeline, and where permanently failed messages go.
#[derive(Debug)]
pub struct Handler<S, D, N> {
    pipeline: Pipeline<S, D, N>,
    dead_letters: Option<Arc<dyn Queue>>,
}

impl<S: ObjectStore, D: ObjectStore, N: Notifier> Handler<S, D, N> {
    /// A handler over `pipeline`; permanent failures go to `dead_letters` with their reason (without
    /// one they are acknowledged, or returned as errors for asynchronous invocations).
    pub fn new(pipeline: Pipeline<S, D, N>, dead_letters: Option<Arc<dyn Queue>>) -> Self {
        Handler {
            pipeline,
            dead_letters,
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline<S, D, N> {
        &self.pipeline
    }

    /// Handles one invocation's event: an SQS batch (answered with `batchItemFailures`), an SNS
    /// event, or an S3 event (answered with `{}`).
    pub async fn handle(&self, event: Value) -> Result<Value, InvocationError> {
        let source = event["Records"][0]["eventSource"]
            .as_str()
            .or_else(|| event["Records"][0]["EventSource"].as_str())
            .unwrap_or_default()
            .to_owned();
        match source.as_str() {
            "aws:sqs" => self.handle_sqs(event).await,
            "aws:sns" => {
                let messages: Vec<String> = event["Records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["Sns"]["Message"].as_str().unwrap_or_default().to_owned())
                    .collect();
                // Every record is handled before a failure is reported: one bad record must not
                // keep the others from being made.
                let mut failure = None;
                for message in messages {
                    if let Err(e) = self.handle_async(&message).await {
                        failure.get_or_insert(e);
                    }
                }
                failure.map_or(Ok(Value::Object(Default::default())), Err)
            }
            _ => {
                self.handle_async(&event.to_string()).await?;
                Ok(Value::Object(Default::default()))
            }
        }
    }

    /// Each message on its own; the answer lists those to retry. An event that cannot be read is
    /// an error: the whole batch then comes back, where an empty answer would delete it.
    async fn handle_sqs(&self, event: Value) -> Result<Value, InvocationError> {
        let mut response = SqsBatchResponse::default();
        let records = serde_json::from_value::<SqsEvent>(event)
            .map_err(|e| InvocationError::Retry(format!("unreadable SQS event: {e}")))?
            .records;
        for message in records {
            let id = message.message_id.unwrap_or_default();
            let body = message.body.unwrap_or_default();
            let receive_count = message
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let span = tracing::info_span!("message", id = %id, receive_count);
            let retry = self
                .handle_message(&body, receive_count)
                .instrument(span)
                .await;
            if retry {
                response.add_failure(id);
            }
        }
        Ok(serde_json::to_value(response).expect("the response serialises"))
    }

    /// One SQS message; whether it is to be retried.
    async fn handle_message(&self, body: &str, receive_count: u32) -> bool {
        let disposition = self.pipeline.handle(body, receive_count).await;
        tracing::info!(?disposition, "settling");
        match disposition {
            Disposition::Ack => false,
            Disposition::Retry { .. } => true,
            Disposition::DeadLetter { reason } => match &self.dead_letters {
                Some(queue) => match dead_letter(queue.as_ref(), body, &reason).await {
                    Ok(()) => false,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not dead-letter; retrying");
                        true
                    }
                },
                // Announced; it must not poison the queue.
                None => false,
            },
        }
    }

    /// One S3 event (from S3 itself, or out of an SNS message): no queue to release it to, so a
    /// failure is an error for Lambda to retry or pass on.
    async fn handle_async(&self, body: &str) -> Result<(), InvocationError> {
        match self.pipeline.handle(body, 1).await {
            Disposition::Ack => Ok(()),
            Disposition::Retry { .. } => Err(InvocationError::Retry(
                "an outage stopped the thumbnails".into(),
            )),
            Disposition::DeadLetter { reason } => match &self.dead_letters {
                Some(queue) => dead_letter(queue.as_ref(), body, &reason)
                    .await
                    .map_err(|e| InvocationError::Retry(format!("dead-lettering: {e}"))),
                None => Err(InvocationError::Failed(reason)),
            },
        }
    }
}
