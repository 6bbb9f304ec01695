//! What the notifier is told: thumbnails made (the manifest, with a text for e-mail), or a failure
//! with its stable reason code.

use serde::{Deserialize, Serialize};
use thumbnail_notify::{Attribute, Notification};

use crate::{FailureReason, Manifest};

/// The attributes subscribers filter on: `outcome` (`made` or `failed`), `preset` (the list) and,
/// when known, `owner`. An SNS subscription with the filter policy `{"owner": ["alice"]}` gets
/// alice's uploads and nobody else's.
fn with_attributes(
    notification: Notification,
    outcome: &str,
    presets: &[String],
    owner: Option<&str>,
) -> Notification {
    let notification = notification
        .with_attribute("outcome", Attribute::Text(outcome.to_owned()))
        .with_attribute("preset", Attribute::List(presets.to_vec()));
    match owner {
        Some(owner) => notification.with_attribute("owner", Attribute::Text(owner.to_owned())),
        None => notification,
    }
}

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
    let presets: Vec<String> = manifest
        .thumbnails
        .iter()
        .map(|t| t.preset.clone())
        .collect();
    let notification = Notification::new(
        format!("Thumbnails ready: {}", source.key),
        format!(
            "Thumbnails of {} in {}:\n\n{lines}\n",
            source.key, source.bucket
        ),
        serde_json::to_value(manifest).expect("a manifest serialises"),
    );
    with_attributes(notification, "made", &presets, manifest.owner.as_deref())
}

/// The data of a failure notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureNotice {
    /// The object that failed; `None` when the event was unreadable.
    pub source: Option<FailedObject>,
    /// Who uploaded it, when the owner rules tell.
    #[serde(default)]
    pub owner: Option<String>,
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
    /// The notification telling this failure, for an upload that was to get `presets`.
    pub(crate) fn notification(&self, presets: &[String]) -> Notification {
        let subject = match &self.source {
            Some(o) => format!("Thumbnails failed: {}", o.key),
            None => "Thumbnails failed: unreadable event".to_owned(),
        };
        let text = format!("No thumbnails could be made.\n\nReason: {}\n", self.error);
        let notification = Notification::new(
            subject,
            text,
            serde_json::to_value(self).expect("a notice serialises"),
        );
        with_attributes(notification, "failed", presets, self.owner.as_deref())
    }
}
