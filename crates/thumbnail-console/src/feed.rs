//! The recent uploads the console shows: fed by uploads made through it and by the pipeline's
//! notifications (the feed is one of the pipeline's notifiers), each change sent to every open
//! page.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use thumbnail_notify::{Attribute, Notification, Notifier, NotifyError};
use thumbnail_pipeline::{FailureNotice, Manifest, ThumbnailEntry};
use tokio::sync::broadcast;

/// How many uploads the console remembers.
const RECENT: usize = 50;

/// One upload as the console shows it.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Stable for the page: the element's id.
    pub id: u64,
    pub key: String,
    /// When it was uploaded through the console; `None` for uploads made elsewhere.
    pub uploaded_at: Option<Instant>,
    /// From upload to notification, for uploads made through the console.
    pub took: Option<Duration>,
    pub status: Status,
}

#[derive(Clone, Debug)]
pub(crate) enum Status {
    Waiting,
    Made {
        thumbnails: Vec<ThumbnailEntry>,
        colour: Option<String>,
    },
    Failed {
        code: String,
        sentence: String,
    },
}

/// The console's list of recent uploads; clones share it.
#[derive(Clone, Debug)]
pub struct Feed {
    entries: Arc<Mutex<(u64, VecDeque<Entry>)>>,
    changes: broadcast::Sender<Entry>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            entries: Arc::default(),
            changes: broadcast::channel(64).0,
        }
    }
}

impl Feed {
    /// An empty feed.
    pub fn new() -> Self {
        Feed::default()
    }

    /// The entries, newest first.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        self.lock().1.iter().cloned().collect()
    }

    /// Every change from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Entry> {
        self.changes.subscribe()
    }

    /// `key` was uploaded through the console.
    pub(crate) fn uploaded(&self, key: &str) {
        self.update(key, |entry| {
            entry.uploaded_at = Some(Instant::now());
            entry.took = None;
            entry.status = Status::Waiting;
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, VecDeque<Entry>)> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the entry of `key` (made, newest, if new) and sends it to the pages.
    fn update(&self, key: &str, change: impl FnOnce(&mut Entry)) {
        let mut guard = self.lock();
        let (next_id, entries) = &mut *guard;
        let mut entry = match entries.iter().position(|e| e.key == key) {
            Some(at) => entries.remove(at).expect("found"),
            None => {
                *next_id += 1;
                Entry {
                    id: *next_id,
                    key: key.to_owned(),
                    uploaded_at: None,
                    took: None,
                    status: Status::Waiting,
                }
            }
        };
        change(&mut entry);
        entries.push_front(entry.clone());
        entries.truncate(RECENT);
        // No page open is no error.
        let _ = self.changes.send(entry);
    }

    fn finished(&self, key: &str, status: Status) {
        self.update(key, |entry| {
            entry.took = entry.uploaded_at.map(|at| at.elapsed());
            entry.status = status;
        });
    }
}

#[async_trait]
impl Notifier for Feed {
    fn name(&self) -> &str {
        "console"
    }

    /// Never fails: a notification the console cannot read is left out of its list.
    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let outcome = match notification.attributes.get("outcome") {
            Some(Attribute::Text(outcome)) => outcome.as_str(),
            _ => "",
        };
        let data = notification.data.clone();
        match outcome {
            "made" => {
                if let Ok(manifest) = serde_json::from_value::<Manifest>(data) {
                    let colour = manifest.placeholder.map(|p| p.dominant_colour);
                    let thumbnails = manifest.thumbnails;
                    self.finished(&manifest.source.key, Status::Made { thumbnails, colour });
                }
            }
            "failed" => {
                if let Ok(notice) = serde_json::from_value::<FailureNotice>(data) {
                    let key = notice
                        .source
                        .map_or_else(|| "(unreadable event)".to_owned(), |s| s.key);
                    let code = notice.reason.as_str().to_owned();
                    self.finished(
                        &key,
                        Status::Failed {
                            code,
                            sentence: notice.error,
                        },
                    );
                }
            }
            _ => {}
        }
        Ok("console".into())
    }
}
