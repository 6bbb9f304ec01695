//! Mocks shared by the integration tests: only for injecting failures.

use async_trait::async_trait;
use mockall::mock;
use thumbnail_notify::{Notification, Notifier, NotifyError};

mock! {
    /// A notifier whose answers a test sets.
    pub Notifier {}
    #[async_trait]
    impl Notifier for Notifier {
        fn name(&self) -> &str;
        async fn publish(&self, notification: &Notification) -> Result<String, NotifyError>;
    }
}

impl std::fmt::Debug for MockNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockNotifier")
    }
}
