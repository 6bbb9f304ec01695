//! Notifications kept in memory: for tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::{Notification, Notifier, NotifyError};

/// Keeps what is published, with the subject as sent ([`Notification::subject_line`]); clones
/// share the list.
#[derive(Clone, Debug, Default)]
pub struct MemoryNotifier {
    published: Arc<Mutex<Vec<Notification>>>,
}

impl MemoryNotifier {
    /// A notifier with nothing published.
    pub fn new() -> Self {
        MemoryNotifier::default()
    }

    /// Everything published so far, oldest first.
    pub fn published(&self) -> Vec<Notification> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    fn name(&self) -> &str {
        "memory"
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        published.push(Notification {
            subject: notification.subject_line(),
            ..notification.clone()
        });
        Ok(format!("memory-{}", published.len()))
    }
}
