//! Several notifiers at once: the log and e-mail and a webhook, say.

use async_trait::async_trait;

use crate::{Notification, Notifier, NotifyError};

/// Publishes each notification to every notifier it holds, in order. Every one is tried even when
/// an earlier one fails; the first failure is then returned, so the message is retried and the
/// notifiers that succeeded may send it twice (notifications are at least once, like SNS's).
#[derive(Debug)]
pub struct FanOut {
    name: String,
    notifiers: Vec<Box<dyn Notifier>>,
}

impl FanOut {
    /// Publishes to each of `notifiers`.
    pub fn new(notifiers: Vec<Box<dyn Notifier>>) -> Self {
        let name = notifiers
            .iter()
            .map(|n| n.name())
            .collect::<Vec<_>>()
            .join("+");
        FanOut { name, notifiers }
    }
}

#[async_trait]
impl Notifier for FanOut {
    fn name(&self) -> &str {
        &self.name
    }

    /// The message ids of all, comma-separated.
    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let mut ids = Vec::with_capacity(self.notifiers.len());
        let mut failure = None;
        for notifier in &self.notifiers {
            match notifier.publish(notification).await {
                Ok(id) => ids.push(id),
                Err(e) => {
                    tracing::warn!(notifier = notifier.name(), error = %e, "a notifier failed");
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(ids.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryNotifier;

    #[derive(Debug)]
    struct Failing;

    #[async_trait]
    impl Notifier for Failing {
        fn name(&self) -> &str {
            "failing"
        }
        async fn publish(&self, _: &Notification) -> Result<String, NotifyError> {
            Err(NotifyError::Transient {
                target: "failing".into(),
                message: "down".into(),
            })
        }
    }

    #[tokio::test]
    async fn every_notifier_is_tried_and_a_failure_is_reported() {
        let (first, last) = (MemoryNotifier::new(), MemoryNotifier::new());
        let fan = FanOut::new(vec![
            Box::new(first.clone()),
            Box::new(Failing),
            Box::new(last.clone()),
        ]);
        assert_eq!(fan.name(), "memory+failing+memory");
        let n = Notification::new("s", "t", serde_json::json!({}));
        let error = fan.publish(&n).await.unwrap_err();
        assert!(error.is_retryable());
        assert_eq!((first.published().len(), last.published().len()), (1, 1));
        let fine = FanOut::new(vec![Box::new(first.clone()), Box::new(last.clone())]);
        assert_eq!(fine.publish(&n).await.unwrap().split(',').count(), 2);
    }
}
