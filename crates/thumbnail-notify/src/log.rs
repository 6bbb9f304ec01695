//! Notifications in the log, and optionally in a JSON-lines file: the embedded default.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::{Notification, Notifier, NotifyError};

/// Writes each notification to the log (`tracing`, target `thumbnail::notify`, level INFO) and, if
/// set, appends it as one JSON object a line to a file a user can `tail -f`:
/// `{"published_at_ms": ..., "subject": ..., "text": ..., "data": {...}, "attributes": {...}}`.
#[derive(Debug, Default, Clone)]
pub struct LogNotifier {
    jsonl: Option<PathBuf>,
}

impl LogNotifier {
    /// Notifications to the log only.
    pub fn new() -> Self {
        LogNotifier::default()
    }

    /// Also appends every notification to the JSON-lines file `path` (created if missing).
    pub fn with_jsonl(path: impl Into<PathBuf>) -> Self {
        LogNotifier {
            jsonl: Some(path.into()),
        }
    }

    /// The JSON-lines file, if any.
    pub fn jsonl(&self) -> Option<&Path> {
        self.jsonl.as_deref()
    }
}

#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &str {
        "log"
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let subject = notification.subject_line();
        let published_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let attributes = serde_json::to_value(&notification.attributes).expect("strings serialise");
        tracing::info!(target: "thumbnail::notify", subject = %subject, %attributes, "{}", notification.text);
        let id = format!("log-{published_at_ms}");
        let Some(path) = self.jsonl.clone() else {
            return Ok(id);
        };
        let mut line = serde_json::to_vec(&serde_json::json!({
            "published_at_ms": published_at_ms,
            "subject": subject,
            "text": notification.text,
            "data": notification.data,
            "attributes": attributes,
        }))
        .expect("JSON values serialise");
        line.push(b'\n');
        tokio::task::spawn_blocking(move || {
            // One write of a whole line in append mode: concurrent writers never interleave lines.
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(&line)
        })
        .await
        .expect("the append does not panic")
        .map_err(|e| {
            let (target, message) = (
                self.jsonl.as_ref().expect("set").display().to_string(),
                e.to_string(),
            );
            match e.kind() {
                ErrorKind::StorageFull | ErrorKind::Interrupted | ErrorKind::TimedOut => {
                    NotifyError::Transient { target, message }
                }
                _ => NotifyError::Permanent { target, message },
            }
        })?;
        Ok(id)
    }
}
