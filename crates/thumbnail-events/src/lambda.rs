//! The three envelopes an S3 upload reaches a Lambda function in: an SQS batch (S3 → SQS →
//! Lambda), SNS messages (S3 → SNS → Lambda), or the S3 event itself (S3 → Lambda), told apart by
//! their records' `eventSource` (`EventSource` for SNS) and read once into an [`Invocation`].
//!
//! ```
//! use thumbnail_events::lambda::Invocation;
//!
//! let event = serde_json::json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": "{}"}]});
//! let Invocation::Sqs(batch) = Invocation::from_json(event)? else { panic!() };
//! assert_eq!(batch.records[0].body.as_deref(), Some("{}"));
//! // Records from two sources are no envelope Lambda sends.
//! let mixed = serde_json::json!({"Records": [{"eventSource": "aws:sqs"}, {"EventSource": "aws:sns"}]});
//! assert!(Invocation::from_json(mixed).is_err());
//! # Ok::<(), thumbnail_events::lambda::EnvelopeError>(())
//! ```

use aws_lambda_events::sns::SnsEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::{EventError, Message};

/// One invocation's event, read once.
#[derive(Debug)]
pub enum Invocation {
    /// A batch of SQS messages, each holding an S3 event notification (S3 → SQS → Lambda).
    Sqs(SqsEvent),
    /// SNS messages, each holding an S3 event notification (S3 → SNS → Lambda).
    Sns(SnsEvent),
    /// An S3 event notification sent to the function directly (S3 → Lambda), or anything else,
    /// which then fails to parse and is announced as an invalid event.
    S3 {
        /// The notification, parsed leniently.
        message: Result<Message, EventError>,
        /// The event as received, for the dead-letter queue.
        body: String,
    },
}

/// Why an event is no envelope at all: SQS or SNS records that do not have the fields their type
/// requires, or records from several sources. Not the function's data (the S3 events inside are
/// parsed leniently, and a bad one is announced), so the invocation fails and Lambda retries it.
#[derive(Debug, thiserror::Error)]
#[error("unreadable {kind}event: {message}")]
pub struct EnvelopeError {
    /// `"SQS "`, `"SNS "`, or empty for an event of several sources.
    kind: &'static str,
    /// What is wrong.
    message: String,
}

impl Invocation {
    /// Reads an event, telling its kind from its records' `eventSource` (`EventSource` for SNS).
    pub fn from_json(event: Value) -> Result<Self, EnvelopeError> {
        let sources: std::collections::BTreeSet<&str> = event["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["eventSource"].as_str().or(r["EventSource"].as_str()))
            .collect();
        let unreadable = |kind, e: serde_json::Error| EnvelopeError {
            kind,
            message: e.to_string(),
        };
        match sources.iter().copied().collect::<Vec<_>>().as_slice() {
            ["aws:sqs"] => Ok(Invocation::Sqs(
                serde_json::from_value(event).map_err(|e| unreadable("SQS ", e))?,
            )),
            ["aws:sns"] => Ok(Invocation::Sns(
                serde_json::from_value(event).map_err(|e| unreadable("SNS ", e))?,
            )),
            [] | ["aws:s3"] => Ok(Invocation::S3 {
                body: event.to_string(),
                message: crate::parse_value(event),
            }),
            mixed => Err(EnvelopeError {
                kind: "",
                message: format!("records from several sources ({})", mixed.join(", ")),
            }),
        }
    }
}

impl<'de> Deserialize<'de> for Invocation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Invocation::from_json(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}
