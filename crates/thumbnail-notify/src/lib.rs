//! Telling users their thumbnails are ready (or why they could not be made).
//!
//! One trait, [`Notifier`], and its implementations:
//!
//! | type | where a notification goes | for |
//! |---|---|---|
//! | [`MemoryNotifier`] | a list in memory | tests |
//! | [`LogNotifier`] | the log, and optionally a JSON-lines file to `tail -f` | the embedded default |
//! | `SmtpNotifier` (feature `email`) | e-mail through an SMTP server: the text, and the JSON attached | people, without AWS |
//! | `WebhookNotifier` (feature `webhook`) | an HTTP POST of the JSON, signed with HMAC-SHA256, retried | programs, without AWS |
//! | `SnsNotifier` (feature `aws`) | an SNS topic: e-mail gets the text, other subscribers the JSON | production |
//! | [`FanOut`] | each of several of the above | more than one at once |
//!
//! A [`Notification`] carries the same facts twice: as plain text for people (with the preview URLs)
//! and as JSON for programs; and [`Attribute`]s, which subscribers filter on (SNS subscription
//! filter policies: one topic serves many users, each seeing only their own uploads).
//!
//! ```
//! use thumbnail_notify::{MemoryNotifier, Notification, Notifier};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let notifier = MemoryNotifier::new();
//! let notification = Notification::new(
//!     "Thumbnails ready: cat.jpg",
//!     "profile: https://example.invalid/cat/profile.jpg",
//!     serde_json::json!({"source": {"key": "cat.jpg"}, "thumbnails": [{"preset": "profile"}]}),
//! );
//! notifier.publish(&notification).await?;
//! assert_eq!(notifier.published()[0].data["source"]["key"], "cat.jpg");
//! # Ok::<(), thumbnail_notify::NotifyError>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

mod error;
mod fanout;
mod log;
mod memory;
#[cfg(feature = "email")]
mod smtp;
#[cfg(feature = "aws")]
mod sns;
#[cfg(feature = "webhook")]
pub mod webhook;

#[cfg(feature = "conformance")]
pub mod conformance;

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use error::NotifyError;
pub use fanout::FanOut;
pub use log::LogNotifier;
pub use memory::MemoryNotifier;
#[cfg(feature = "email")]
pub use smtp::{SmtpNotifier, SmtpSettings};
#[cfg(feature = "aws")]
pub use sns::SnsNotifier;
#[cfg(feature = "webhook")]
pub use webhook::WebhookNotifier;

/// The longest subject SNS (and most mail clients) accept, in characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// What to tell subscribers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// A one-line subject (e-mail subject).
    pub subject: String,
    /// The plain-text body for people, e.g. one preview URL per thumbnail.
    pub text: String,
    /// The same facts as JSON, for programs (queues, functions, webhooks).
    pub data: serde_json::Value,
    /// What subscribers may filter on (SNS message attributes): `owner`, `outcome`, ...
    #[serde(default)]
    pub attributes: BTreeMap<String, Attribute>,
}

/// The value of a notification attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Attribute {
    /// One string (SNS `String`).
    Text(String),
    /// A list of strings (SNS `String.Array`: a filter matches when any element does).
    List(Vec<String>),
}

impl Notification {
    /// A notification.
    pub fn new(
        subject: impl Into<String>,
        text: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        Notification {
            subject: subject.into(),
            text: text.into(),
            data,
            attributes: BTreeMap::new(),
        }
    }

    /// Adds an attribute subscribers may filter on.
    pub fn with_attribute(mut self, name: impl Into<String>, value: Attribute) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }

    /// The notification as one JSON document, as the JSON-lines file and webhooks carry it:
    /// `{"published_at_ms": ..., "subject": ..., "text": ..., "data": {...}, "attributes": {...}}`,
    /// the subject as [`Notification::subject_line`] gives it.
    pub fn document(&self) -> serde_json::Value {
        let published_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        serde_json::json!({
            "published_at_ms": published_at_ms,
            "subject": self.subject_line(),
            "text": self.text,
            "data": self.data,
            "attributes": self.attributes,
        })
    }

    /// The subject as every notifier sends it: printable ASCII (other characters become `?`, line
    /// breaks spaces), at most [`MAX_SUBJECT_CHARS`], never empty. SNS refuses anything else.
    pub fn subject_line(&self) -> String {
        let mut line: String = self
            .subject
            .chars()
            .map(|c| match c {
                ' '..='~' => c,
                c if c.is_whitespace() => ' ',
                _ => '?',
            })
            .collect::<String>()
            .trim()
            .to_owned();
        if line.chars().count() > MAX_SUBJECT_CHARS {
            line = line.chars().take(MAX_SUBJECT_CHARS - 3).collect::<String>() + "...";
        }
        if line.is_empty() {
            line = "Thumbnail notification".into();
        }
        line
    }
}

/// Where notifications go.
#[async_trait]
pub trait Notifier: Send + Sync + Debug {
    /// A name for messages: the topic, or "log".
    fn name(&self) -> &str;

    /// Publishes one notification; returns its message id.
    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError>;
}

/// A boxed notifier is a notifier: lets a binary choose the backend at run time.
#[async_trait]
impl<T: Notifier + ?Sized> Notifier for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        (**self).publish(notification).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_lines_are_what_sns_accepts() {
        let subject = |s: &str| Notification::new(s, "", serde_json::Value::Null).subject_line();
        assert_eq!(
            subject("Thumbnails ready: My Photo é+1.jpg"),
            "Thumbnails ready: My Photo ?+1.jpg"
        );
        assert_eq!(subject("two\nlines\t"), "two lines");
        assert_eq!(subject("  "), "Thumbnail notification");
        let long = subject(&"x".repeat(300));
        assert_eq!(
            (long.len(), long.ends_with("...")),
            (MAX_SUBJECT_CHARS, true)
        );
    }
}
