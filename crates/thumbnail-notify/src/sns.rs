//! SNS through the official SDK.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use thumbnail_aws_errors::{Class, classify};

use crate::{Attribute, Notification, Notifier, NotifyError};

/// An SNS topic. Each notification is published with `MessageStructure=json`: e-mail (and the
/// default) get the text, SQS, Lambda, HTTP(S) and `email-json` subscribers get the JSON data.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// Connects to `topic`, given as an ARN or as a name. A name is matched exactly against every
    /// topic of the account and region (all pages of the listing): never the first topic of a list,
    /// never a topic whose name merely contains it.
    pub async fn connect(config: &aws_config::SdkConfig, topic: &str) -> Result<Self, NotifyError> {
        SnsNotifier::from_client(Client::new(config), topic).await
    }

    /// Like [`SnsNotifier::connect`], with an existing client.
    pub async fn from_client(client: Client, topic: &str) -> Result<Self, NotifyError> {
        let topic_arn = if topic.starts_with("arn:") {
            topic.to_owned()
        } else {
            find_topic(&client, topic).await?
        };
        Ok(SnsNotifier { client, topic_arn })
    }

    /// Creates the topic `name` (SNS's create is idempotent and answers the ARN of an existing
    /// topic of that name), or takes an ARN as it is, and connects to it.
    pub async fn create(config: &aws_config::SdkConfig, topic: &str) -> Result<Self, NotifyError> {
        let client = Client::new(config);
        if topic.starts_with("arn:") {
            return Ok(SnsNotifier {
                client,
                topic_arn: topic.to_owned(),
            });
        }
        let created = client
            .create_topic()
            .name(topic)
            .send()
            .await
            .map_err(|e| error(topic, classify(&e)))?;
        let topic_arn = created.topic_arn().unwrap_or_default().to_owned();
        Ok(SnsNotifier { client, topic_arn })
    }

    /// The SDK client (e.g. to add subscriptions).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The topic's ARN.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

async fn find_topic(client: &Client, name: &str) -> Result<String, NotifyError> {
    let mut pages = client.list_topics().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| error(name, classify(&e)))?;
        let found = page
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            // arn:aws:sns:REGION:ACCOUNT:NAME; names cannot contain ':'.
            .find(|arn| arn.rsplit(':').next() == Some(name));
        if let Some(arn) = found {
            return Ok(arn.to_owned());
        }
    }
    Err(NotifyError::TopicNotFound {
        topic: name.to_owned(),
    })
}

fn error(target: &str, failure: thumbnail_aws_errors::Failure) -> NotifyError {
    let (target, message) = (target.to_owned(), failure.to_string());
    match failure.class {
        Class::NotFound => NotifyError::TopicNotFound { topic: target },
        Class::Transient => NotifyError::Transient { target, message },
        Class::AccessDenied | Class::Permanent => NotifyError::Permanent { target, message },
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    fn name(&self) -> &str {
        &self.topic_arn
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let data = notification.data.to_string();
        let message = serde_json::json!({
            "default": notification.text,
            "email": notification.text,
            "email-json": data,
            "sqs": data,
            "lambda": data,
            "http": data,
            "https": data,
        });
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(notification.subject_line())
            .message_structure("json")
            .message(message.to_string());
        for (name, value) in &notification.attributes {
            let (data_type, value) = match value {
                Attribute::Text(text) => ("String", text.clone()),
                Attribute::List(items) => (
                    "String.Array",
                    serde_json::to_string(items).expect("strings serialise"),
                ),
            };
            let value = MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()
                .expect("the data type is set");
            request = request.message_attributes(name, value);
        }
        let output = request
            .send()
            .await
            .map_err(|e| error(&self.topic_arn, classify(&e)))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
