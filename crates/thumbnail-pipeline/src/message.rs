//! One queue message: its records processed, failures announced, and what to do with the message.

use std::time::Duration;

use thumbnail_events::{Record, parse};
use thumbnail_notify::{Notification, Notifier};
use thumbnail_queue::{Delivery, OutgoingMessage, Queue, QueueError};
use thumbnail_storage::ObjectStore;
use tracing::Instrument;

use crate::{Pipeline, ProcessError};

/// Message attribute carrying the reason a message was dead-lettered.
pub const FAILURE_REASON: &str = "thumbnail-failure-reason";

/// The first retry delay; doubled on every further receive, up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(10);
/// The longest retry delay.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(15 * 60);

/// What to do with a message once its records were handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Done (including "nothing to do"): delete it.
    Ack,
    /// An outage got in the way: make it visible again after `delay`.
    Retry {
        /// Exponential in the receive count.
        delay: Duration,
    },
    /// It can never succeed: the failure was announced; move it aside with the reason.
    DeadLetter {
        /// Why, for the dead-letter queue's message attribute.
        reason: String,
    },
}

/// The retry delay for a message received `receive_count` times.
pub fn retry_delay(receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(16);
    (FIRST_RETRY_DELAY * 2u32.pow(doublings)).min(MAX_RETRY_DELAY)
}

impl<S: ObjectStore, D: ObjectStore, N: Notifier> Pipeline<S, D, N> {
    /// Handles one message body: every record is processed on its own (one bad record never loses
    /// the good ones); permanent failures are announced through the notifier.
    pub async fn handle(&self, body: &str, receive_count: u32) -> Disposition {
        let message = match parse(body) {
            Ok(message) => message,
            Err(e) => {
                self.metrics.failure("invalid_event");
                return Disposition::DeadLetter {
                    reason: e.to_string(),
                };
            }
        };
        // Received too often without being settled: whatever happens to it, stop trying.
        let given_up = self
            .config
            .max_receives
            .filter(|&max| receive_count > max)
            .map(|max| {
                format!(
                    "received {receive_count} times without being settled, more than the {max} \
                     allowed: it may be crashing or stalling the worker"
                )
            });
        let mut retry = false;
        let mut reasons = Vec::new();
        for record in &message.records {
            let failure = match record {
                Record::Created(object) if given_up.is_some() => {
                    self.metrics.failure("too_many_receives");
                    let why = given_up.as_deref().unwrap_or_default();
                    (
                        Some(Source::of(object)),
                        "too_many_receives",
                        format!("image {}: {why}", object.key),
                    )
                }
                Record::Created(object) => match self
                    .process(object)
                    // Every log line of this object's work names it.
                    .instrument(
                        tracing::info_span!("object", bucket = %object.bucket, key = %object.key),
                    )
                    .await
                {
                    Ok(outcome) => {
                        tracing::info!(key = %object.key, ?outcome, "processed");
                        continue;
                    }
                    Err(e) if e.is_retryable() => {
                        tracing::warn!(key = %object.key, error = %e, "will retry");
                        retry = true;
                        continue;
                    }
                    Err(e) => (Some(Source::of(object)), e.reason(), e.to_string()),
                },
                Record::Skipped { .. } => continue,
                Record::Invalid {
                    index,
                    reason,
                    named: Some(named),
                } => {
                    self.metrics.failure("invalid_key");
                    let source = Source {
                        bucket: &named.bucket,
                        key: &named.key,
                        etag: None,
                    };
                    (
                        Some(source),
                        "invalid_key",
                        format!("record {index}: {reason}"),
                    )
                }
                Record::Invalid { index, reason, .. } => {
                    self.metrics.failure("invalid_event");
                    (None, "invalid_event", format!("record {index}: {reason}"))
                }
            };
            let (source, code, reason) = failure;
            tracing::warn!(%reason, "permanent failure");
            if let Err(e) = self.announce_failure(source, code, &reason).await {
                // The failure must reach the user: try the whole message again later.
                tracing::warn!(error = %e, "could not announce a failure");
                retry |= e.is_retryable();
            }
            reasons.push(reason);
        }
        if retry {
            Disposition::Retry {
                delay: retry_delay(receive_count),
            }
        } else if reasons.is_empty() {
            Disposition::Ack
        } else {
            Disposition::DeadLetter {
                reason: reasons.join("; "),
            }
        }
    }

    async fn announce_failure(
        &self,
        source: Option<Source<'_>>,
        code: &str,
        reason: &str,
    ) -> Result<(), ProcessError> {
        let (subject, source) = match source {
            Some(o) => (
                format!("Thumbnails failed: {}", o.key),
                serde_json::json!({"bucket": o.bucket, "key": o.key, "etag": o.etag}),
            ),
            None => (
                "Thumbnails failed: unreadable event".to_owned(),
                serde_json::Value::Null,
            ),
        };
        let text = format!("No thumbnails could be made.\n\nReason: {reason}\n");
        // `reason` is the stable code (as in the metrics), for programs; `error` the sentence, for people.
        let data = serde_json::json!({"source": source, "reason": code, "error": reason});
        self.notifier
            .publish(&Notification::new(subject, text, data))
            .await?;
        Ok(())
    }
}

/// The object a failure is announced for: one that was created, or one whose key no store accepts.
struct Source<'a> {
    bucket: &'a str,
    key: &'a str,
    etag: Option<&'a str>,
}

impl<'a> Source<'a> {
    fn of(object: &'a thumbnail_events::CreatedObject) -> Self {
        Source {
            bucket: &object.bucket,
            key: object.key.as_str(),
            etag: object.etag.as_deref(),
        }
    }
}

/// Carries out a [`Disposition`] on a delivery: ack, release with the delay, or send to `dead_letters`
/// (with the reason as the [`FAILURE_REASON`] attribute) and then ack. Without a dead-letter queue a
/// dead letter is acknowledged: its failure was announced, and it must not poison the queue.
pub async fn settle(
    queue: &dyn Queue,
    dead_letters: Option<&dyn Queue>,
    delivery: Delivery,
    disposition: Disposition,
) -> Result<(), QueueError> {
    match disposition {
        Disposition::Ack => queue.ack(delivery).await,
        Disposition::Retry { delay } => queue.release(delivery, delay).await,
        Disposition::DeadLetter { reason } => {
            if let Some(dead_letters) = dead_letters {
                dead_letter(dead_letters, &delivery.body, &reason).await?;
            }
            queue.ack(delivery).await
        }
    }
}

/// Sends a message `body` to `dead_letters`, with `reason` as its [`FAILURE_REASON`] attribute.
pub async fn dead_letter(
    dead_letters: &dyn Queue,
    body: &str,
    reason: &str,
) -> Result<(), QueueError> {
    let message = OutgoingMessage::new(body).with_attribute(FAILURE_REASON, truncate(reason));
    dead_letters.send(message).await.map(drop)
}

/// SQS attribute values are limited in size; reasons are kept short.
fn truncate(reason: &str) -> String {
    reason.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_cap() {
        assert_eq!(retry_delay(1), Duration::from_secs(10));
        assert_eq!(retry_delay(2), Duration::from_secs(20));
        assert_eq!(retry_delay(4), Duration::from_secs(80));
        assert_eq!(retry_delay(10), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }
}
