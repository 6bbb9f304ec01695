//! SQS through the official SDK.

use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName,
};
use thumbnail_aws_errors::{Class, Failure, classify};

use crate::{Delivery, Depth, OutgoingMessage, Queue, QueueError, ReceiveOptions};

/// An SQS queue. Long polling, batches of up to 10 and batch deletes; visibility and receive counts
/// are SQS's own, and dead-lettering is left to the queue's redrive policy.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// Connects to `queue`, given as a queue URL (`https://...`) or a name (looked up in the
    /// configured region and account).
    pub async fn connect(config: &aws_config::SdkConfig, queue: &str) -> Result<Self, QueueError> {
        SqsQueue::from_client(Client::new(config), queue).await
    }

    /// Like [`SqsQueue::connect`], with an existing client.
    pub async fn from_client(client: Client, queue: &str) -> Result<Self, QueueError> {
        let url = if queue.starts_with("https://") || queue.starts_with("http://") {
            queue.to_owned()
        } else {
            let output = client
                .get_queue_url()
                .queue_name(queue)
                .send()
                .await
                .map_err(|e| error("get_queue_url", queue, classify(&e)))?;
            output.queue_url().unwrap_or_default().to_owned()
        };
        Ok(SqsQueue { client, url })
    }

    /// Creates the queue `name` in the configured region and account, or finds it when it exists
    /// (SQS's create is idempotent for the same attributes), and connects to it.
    pub async fn create(config: &aws_config::SdkConfig, name: &str) -> Result<Self, QueueError> {
        let client = Client::new(config);
        let created = client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| error("create_queue", name, classify(&e)))?;
        let url = created.queue_url().unwrap_or_default().to_owned();
        Ok(SqsQueue { client, url })
    }

    /// The queue's ARN, which policies, redrives and subscriptions name it by.
    pub async fn arn(&self) -> Result<String, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| error("get_queue_attributes", &self.url, classify(&e)))?;
        output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| QueueError::Permanent {
                operation: "get_queue_attributes",
                queue: self.url.clone(),
                message: "the answer has no QueueArn".into(),
            })
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn error(operation: &'static str, queue: &str, failure: Failure) -> QueueError {
    let (queue, message) = (queue.to_owned(), failure.to_string());
    match failure.class {
        Class::NotFound => QueueError::NotFound { queue },
        Class::Transient => QueueError::Transient {
            operation,
            queue,
            message,
        },
        Class::AccessDenied | Class::Permanent => QueueError::Permanent {
            operation,
            queue,
            message,
        },
    }
}

/// Whole seconds, rounded up, as SQS counts them.
fn seconds(duration: Duration) -> i32 {
    duration.as_secs_f64().ceil().min(f64::from(i32::MAX)) as i32
}

#[async_trait]
impl Queue for SqsQueue {
    fn name(&self) -> &str {
        &self.url
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body)
            .delay_seconds(seconds(message.delay));
        for (name, value) in message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data type is set");
            request = request.message_attributes(name, value);
        }
        let output = request
            .send()
            .await
            .map_err(|e| error("send", &self.url, classify(&e)))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }

    async fn receive(&self, options: &ReceiveOptions) -> Result<Vec<Delivery>, QueueError> {
        let options = options.clamped();
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(options.max_messages as i32)
            .wait_time_seconds(seconds(options.wait))
            .visibility_timeout(seconds(options.visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| error("receive", &self.url, classify(&e)))?;
        Ok(output
            .messages()
            .iter()
            .map(|m| Delivery {
                id: m.message_id().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                attributes: m
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                    .collect(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
                receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                sent_at: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|ms| ms.parse().ok())
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
            })
            .collect())
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(delivery.receipt)
            .send()
            .await
            .map_err(|e| error("ack", &self.url, classify(&e)))?;
        Ok(())
    }

    async fn ack_batch(&self, deliveries: Vec<Delivery>) -> Result<(), QueueError> {
        for chunk in deliveries.chunks(crate::MAX_BATCH) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&d.receipt)
                        .build()
                        .expect("id and receipt are set")
                })
                .collect();
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| error("ack_batch", &self.url, classify(&e)))?;
            if let Some(failed) = output.failed().first() {
                let message = format!(
                    "{} of {} deletes failed, first: {} ({})",
                    output.failed().len(),
                    chunk.len(),
                    failed.message().unwrap_or_default(),
                    failed.code()
                );
                return Err(if failed.sender_fault() {
                    QueueError::Permanent {
                        operation: "ack_batch",
                        queue: self.url.clone(),
                        message,
                    }
                } else {
                    QueueError::Transient {
                        operation: "ack_batch",
                        queue: self.url.clone(),
                        message,
                    }
                });
            }
        }
        Ok(())
    }

    async fn release(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        self.extend(&delivery, delay).await
    }

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&delivery.receipt)
            .visibility_timeout(seconds(visibility.min(crate::MAX_VISIBILITY)))
            .send()
            .await
            .map_err(|e| error("change_message_visibility", &self.url, classify(&e)))?;
        Ok(())
    }

    async fn peek(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        // SQS shows a message only by handing it out: each is held for the moment the listing
        // takes (at most PEEK_HOLD, should this process die meanwhile), then given back at once.
        const PEEK_HOLD: Duration = Duration::from_secs(5);
        let options = ReceiveOptions {
            max_messages: crate::MAX_BATCH,
            wait: Duration::ZERO,
            visibility: PEEK_HOLD,
        };
        let mut held = Vec::new();
        while held.len() < max {
            let batch = self.receive(&options).await?;
            if batch.is_empty() {
                break;
            }
            held.extend(batch);
        }
        // Copies that settle nothing: no receipt.
        let shown = held
            .iter()
            .take(max)
            .map(|d| Delivery {
                id: d.id.clone(),
                body: d.body.clone(),
                attributes: d.attributes.clone(),
                receive_count: d.receive_count,
                receipt: String::new(),
                sent_at: d.sent_at,
            })
            .collect();
        for delivery in held {
            self.release(delivery, Duration::ZERO).await?;
        }
        Ok(shown)
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        use QueueAttributeName as A;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| error("get_queue_attributes", &self.url, classify(&e)))?;
        let count = |name: A| {
            output
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(Depth {
            visible: count(A::ApproximateNumberOfMessages),
            in_flight: count(A::ApproximateNumberOfMessagesNotVisible),
            delayed: count(A::ApproximateNumberOfMessagesDelayed),
        })
    }
}
