//! The behaviour every [`Notifier`] must have, written once and run against each implementation.
//!
//! A notifier is checked through what a subscriber receives: give [`run`] the notifier and a
//! [`Subscriber`] that reads what reached it (the memory list, the JSON-lines file, an SQS queue
//! subscribed to the SNS topic).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Attribute, Notification, Notifier};

/// What a subscriber got: the subject as sent, the JSON data and the attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// The subject line.
    pub subject: String,
    /// The JSON facts.
    pub data: serde_json::Value,
    /// The attributes, as filter policies see them.
    pub attributes: BTreeMap<String, Attribute>,
}

/// Reads what has reached a subscriber so far.
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// Notifications received since the last call (or since the start).
    async fn received(&self) -> Vec<Received>;
}

/// Runs every check.
pub async fn run(notifier: &dyn Notifier, subscriber: &dyn Subscriber) {
    notifications_reach_subscribers_whole(notifier, subscriber).await;
}

/// Two notifications, one with a subject SNS would refuse as it is, reach the subscriber with their
/// JSON and attributes intact and their subjects as [`Notification::subject_line`] gives them.
pub async fn notifications_reach_subscribers_whole(
    notifier: &dyn Notifier,
    subscriber: &dyn Subscriber,
) {
    let sent = [
        Notification::new(
            "Thumbnails ready: My Photo é+1.jpg",
            "profile: https://example.invalid/My%20Photo/profile.jpg",
            serde_json::json!({
                "source": {"bucket": "uploads", "key": "My Photo é+1.jpg", "etag": "abc"},
                "thumbnails": [{"preset": "profile", "width": 128, "height": 128, "url": "https://example.invalid/p"}],
            }),
        )
        .with_attribute("owner", Attribute::Text("alice-é@example.com".into()))
        .with_attribute(
            "preset",
            Attribute::List(vec!["profile".into(), "album-art".into()]),
        ),
        Notification::new(
            format!("Failed\n{}", "long ".repeat(40)),
            "the image is corrupt",
            serde_json::json!({"source": {"key": "bad.jpg"}, "error": "corrupt jpeg data"}),
        ),
    ];
    for notification in &sent {
        let id = notifier.publish(notification).await.expect("publish");
        assert!(!id.is_empty(), "a message id");
    }
    let mut received = Vec::new();
    for _ in 0..50 {
        received.extend(subscriber.received().await);
        if received.len() >= sent.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let expected: Vec<Received> = sent
        .iter()
        .map(|n| Received {
            subject: n.subject_line(),
            data: n.data.clone(),
            attributes: n.attributes.clone(),
        })
        .collect();
    assert_eq!(received, expected);
}
