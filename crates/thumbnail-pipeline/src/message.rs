//! One queue message: its records processed, failures announced, and what to do with the message.

use std::time::Duration;

use thumbnail_events::{CreatedObject, EventError, Message, Record, parse};
use thumbnail_notify::Notifier;
use thumbnail_queue::{Delivery, OutgoingMessage, Queue, QueueError};
use thumbnail_storage::ObjectStore;
use tracing::Instrument;

use crate::{FailedObject, FailureNotice, FailureReason, Pipeline};

/// Message attribute carrying the reason a message was dead-lettered.
pub const FAILURE_REASON: &str = "thumbnail-failure-reason";

/// Message attribute carrying the stable codes ([`FailureReason`]) of a dead letter's failures,
/// comma-separated: what `dead-letters redrive --reason` matches.
pub const FAILURE_CODES: &str = "thumbnail-failure-codes";

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
        /// The stable code of each failure, in record order.
        codes: Vec<FailureReason>,
    },
}

impl Disposition {
    /// Logs what is about to be done with the message, each detail a field of its own.
    pub fn log(&self) {
        match self {
            Disposition::Ack => tracing::info!(disposition = "ack", "settling"),
            Disposition::Retry { delay } => tracing::info!(
                disposition = "retry",
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "settling"
            ),
            Disposition::DeadLetter { reason, codes } => tracing::info!(
                disposition = "dead_letter",
                %reason,
                codes = %codes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
                "settling"
            ),
        }
    }
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
        self.handle_parsed(parse(body), receive_count).await
    }

    /// [`Pipeline::handle`] of a message already parsed (an S3 event that arrived as JSON).
    pub async fn handle_parsed(
        &self,
        message: Result<Message, EventError>,
        receive_count: u32,
    ) -> Disposition {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                self.metrics.failure(FailureReason::InvalidEvent);
                return Disposition::DeadLetter {
                    reason: e.to_string(),
                    codes: vec![FailureReason::InvalidEvent],
                };
            }
        };
        // The last receive allowed, the earlier ones unsettled: stop trying, and say so, before
        // the queue's redrive would move the message without a word.
        let given_up = self
            .config
            .max_receives
            .filter(|&max| receive_count >= max)
            .map(|max| {
                format!(
                    "received {receive_count} times without being settled ({max} allowed): it \
                     may be crashing or stalling the worker"
                )
            });
        let mut retry = false;
        let mut failures = Vec::new();
        for record in &message.records {
            let mut notice = match record {
                Record::Created(object) if given_up.is_some() => {
                    let why = given_up.as_deref().unwrap_or_default();
                    self.metrics.failure(FailureReason::TooManyReceives);
                    FailureNotice {
                        source: Some(failed(object)),
                        owner: self.config.owners.owner(object.key.as_str(), None),
                        reason: FailureReason::TooManyReceives,
                        error: format!("image {}: {why}", object.key),
                    }
                }
                Record::Created(object) => match self
                    .process_owned(object)
                    // Every log line of this object's work names it.
                    .instrument(
                        tracing::info_span!("object", bucket = %object.bucket, key = %object.key),
                    )
                    .await
                {
                    (Ok(outcome), _) => {
                        tracing::info!(key = %object.key, outcome = outcome.as_str(), "processed");
                        continue;
                    }
                    (Err(e), _) if e.is_retryable() => {
                        tracing::warn!(key = %object.key, error = %e, "will retry");
                        retry = true;
                        continue;
                    }
                    // Counted by `process_owned`.
                    (Err(e), owner) => FailureNotice {
                        source: Some(failed(object)),
                        owner,
                        reason: e.reason(),
                        error: e.to_string(),
                    },
                },
                Record::Skipped { .. } => continue,
                Record::Invalid {
                    index,
                    reason,
                    named,
                } => {
                    let code = if named.is_some() {
                        FailureReason::InvalidKey
                    } else {
                        FailureReason::InvalidEvent
                    };
                    self.metrics.failure(code);
                    FailureNotice {
                        source: named.as_ref().map(|named| FailedObject {
                            bucket: named.bucket.clone(),
                            key: named.key.clone(),
                            etag: None,
                        }),
                        owner: named
                            .as_ref()
                            .and_then(|named| self.config.owners.owner(&named.key, None)),
                        reason: code,
                        error: format!("record {index}: {reason}"),
                    }
                }
            };
            tracing::warn!(reason = %notice.error, "permanent failure");
            let notification = notice.notification(&self.preset_names());
            if let Err(e) = self.notifier.publish(&notification).await {
                tracing::warn!(error = %e, "could not announce a failure");
                if given_up.is_none() {
                    // The failure must reach the user: try the whole message again later.
                    retry |= e.is_retryable();
                } else {
                    // No later receive: the dead letter keeps the failure, and that it was not
                    // announced, whatever stage is down.
                    notice.error = format!("{} (not announced: {e})", notice.error);
                }
            }
            failures.push(notice);
        }
        if retry {
            Disposition::Retry {
                delay: retry_delay(receive_count),
            }
        } else if failures.is_empty() {
            Disposition::Ack
        } else {
            let errors: Vec<&str> = failures.iter().map(|f| f.error.as_str()).collect();
            Disposition::DeadLetter {
                reason: errors.join("; "),
                codes: failures.iter().map(|f| f.reason).collect(),
            }
        }
    }
}

fn failed(object: &CreatedObject) -> FailedObject {
    FailedObject {
        bucket: object.bucket.clone(),
        key: object.key.to_string(),
        etag: object.etag.clone(),
    }
}

/// What is left to do with a message once its [`Disposition`] was carried out as far as the
/// dead-letter queue goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Delete it: done, or now in the dead-letter queue.
    Delete,
    /// Give it back, to come again after `delay`.
    Retry {
        /// How long it stays hidden.
        delay: Duration,
    },
    /// It can never succeed and there is no dead-letter queue: the failure was announced; delete
    /// it (from a queue) or report it (to an invoker that retries on its own).
    Abandon {
        /// Why.
        reason: String,
    },
}

impl Disposition {
    /// Sends the message `body` to `dead_letters` when the disposition says so, with the reason as
    /// its [`FAILURE_REASON`] attribute; the one dead-letter path of the worker and the Lambda. A
    /// dead letter that cannot be sent makes the message come back later instead.
    pub async fn settlement(
        self,
        body: &str,
        receive_count: u32,
        dead_letters: Option<&dyn Queue>,
    ) -> Settlement {
        match self {
            Disposition::Ack => Settlement::Delete,
            Disposition::Retry { delay } => Settlement::Retry { delay },
            Disposition::DeadLetter { reason, codes } => match dead_letters {
                None => Settlement::Abandon { reason },
                Some(dead_letters) => {
                    match dead_letter(dead_letters, body, &reason, &codes).await {
                        Ok(()) => Settlement::Delete,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not dead-letter; the message comes back");
                            Settlement::Retry {
                                delay: retry_delay(receive_count),
                            }
                        }
                    }
                }
            },
        }
    }
}

/// Carries out a [`Disposition`] on a delivery: ack, release with the delay, or send to
/// `dead_letters` and then ack. Without a dead-letter queue a dead letter is acknowledged: its
/// failure was announced, and it must not poison the queue.
pub async fn settle(
    queue: &dyn Queue,
    dead_letters: Option<&dyn Queue>,
    delivery: Delivery,
    disposition: Disposition,
) -> Result<(), QueueError> {
    let settlement = disposition
        .settlement(&delivery.body, delivery.receive_count, dead_letters)
        .await;
    match settlement {
        Settlement::Delete | Settlement::Abandon { .. } => queue.ack(delivery).await,
        Settlement::Retry { delay } => queue.release(delivery, delay).await,
    }
}

/// Sends a message `body` to `dead_letters`, with `reason` as its [`FAILURE_REASON`] attribute and
/// `codes` as its [`FAILURE_CODES`].
pub async fn dead_letter(
    dead_letters: &dyn Queue,
    body: &str,
    reason: &str,
    codes: &[FailureReason],
) -> Result<(), QueueError> {
    let codes: Vec<&str> = codes.iter().map(|code| code.as_str()).collect();
    let message = OutgoingMessage::new(body)
        .with_attribute(FAILURE_REASON, truncate(reason))
        .with_attribute(FAILURE_CODES, codes.join(","));
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
