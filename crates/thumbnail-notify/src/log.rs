//! Notifications in the log, and optionally in a JSON-lines file: the embedded default.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::{Attribute, Notification, Notifier, NotifyError};

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

/// `text` with the query of every URL in it cut: a preview link's signature lets whoever holds it
/// open the thumbnail, and logs travel further than notifications (the JSON-lines file keeps them
/// whole, for the person it is for).
fn without_queries(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| match word.find('?') {
            Some(at) if word.starts_with("http://") || word.starts_with("https://") => {
                let space = &word[word.trim_end().len()..];
                format!("{}?…{space}", &word[..at])
            }
            _ => word.to_owned(),
        })
        .collect()
}

#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &str {
        "log"
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let document = notification.document();
        // The attributes subscribers filter on, each a field of its own (a list joined by commas),
        // so that a JSON log has them as fields, not as JSON inside a string.
        let attribute = |name: &str| {
            notification.attributes.get(name).map(|value| match value {
                Attribute::Text(text) => text.clone(),
                Attribute::List(list) => list.join(","),
            })
        };
        tracing::info!(
            target: "thumbnail::notify",
            subject = %notification.subject,
            owner = attribute("owner").as_deref(),
            outcome = attribute("outcome").as_deref(),
            preset = attribute("preset").as_deref(),
            "{}", without_queries(&notification.text)
        );
        let id = format!("log-{}", document["published_at_ms"]);
        let Some(path) = self.jsonl.clone() else {
            return Ok(id);
        };
        let mut line = serde_json::to_vec(&document).expect("JSON values serialise");
        line.push(b'\n');
        tokio::task::spawn_blocking(move || {
            // One write of a whole line in append mode: concurrent writers never interleave lines.
            // Readable by its owner only: each line holds signed links.
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
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

#[cfg(test)]
mod tests {
    use crate::{LogNotifier, Notification, Notifier};

    #[tokio::test]
    async fn the_notifications_file_is_its_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("thumbnail-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notifications.jsonl");
        let notifier = LogNotifier::with_jsonl(&path);
        let notification = Notification::new(
            "s",
            "http://h/files/a.jpg?signature=x",
            serde_json::json!({}),
        );
        notifier.publish(&notification).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn logged_links_lose_their_signatures() {
        let text = "profile (128x128): http://h/files/a.jpg?expires=1&signature=abc\nwide: https://b.s3/x.jpg?X-Amz-Signature=def end?";
        assert_eq!(
            super::without_queries(text),
            "profile (128x128): http://h/files/a.jpg?…\nwide: https://b.s3/x.jpg?… end?"
        );
    }
}
