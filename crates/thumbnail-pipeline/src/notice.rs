//! What the notifier is told: thumbnails made (the manifest, with a text for e-mail), or a failure
//! with its stable reason code.

use serde::{Deserialize, Serialize};
use thumbnail_notify::Notification;

use crate::{FailureReason, Manifest};

/// The notification that `manifest`'s thumbnails are ready: a preview link per thumbnail.
pub(crate) fn ready(manifest: &Manifest) -> Notification {
    let lines = manifest
        .thumbnails
        .iter()
        .map(|t| {
            format!(
                "{} ({}x{}, {} bytes): {}",
                t.preset, t.width, t.height, t.bytes, t.url
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let source = &manifest.source;
    Notification::new(
        format!("Thumbnails ready: {}", source.key),
        format!(
            "Thumbnails of {} in {}:\n\n{lines}\n",
            source.key, source.bucket
        ),
        serde_json::to_value(manifest).expect("a manifest serialises"),
    )
}

/// The data of a failure notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureNotice {
    /// The object that failed; `None` when the event was unreadable.
    pub source: Option<FailedObject>,
    /// The stable code, as in the metrics, for programs.
    pub reason: FailureReason,
    /// The sentence, for people.
    pub error: String,
}

/// The object a failure is announced for: one that was created, or one whose key no store accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedObject {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its ETag, when the event gave one.
    pub etag: Option<String>,
}

impl FailureNotice {
    /// The notification telling this failure.
    pub(crate) fn notification(&self) -> Notification {
        let subject = match &self.source {
            Some(o) => format!("Thumbnails failed: {}", o.key),
            None => "Thumbnails failed: unreadable event".to_owned(),
        };
        let text = format!("No thumbnails could be made.\n\nReason: {}\n", self.error);
        Notification::new(
            subject,
            text,
            serde_json::to_value(self).expect("a notice serialises"),
        )
    }
}
