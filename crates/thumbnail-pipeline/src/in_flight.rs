//! Duplicate suppression within one process: two deliveries of the same object arriving together
//! (one upload announced twice, in one batch) are done one after the other, so the second finds
//! the first one's manifest instead of decoding again.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Source objects being processed.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    keys: Mutex<HashSet<String>>,
    released: Notify,
}

impl InFlight {
    /// Waits until no one else holds `key`, then holds it until the claim is dropped.
    pub(crate) async fn claim(&self, key: String) -> Claim<'_> {
        loop {
            // Created before looking, so a release between the look and the wait is not missed.
            let released = self.released.notified();
            if self
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone())
            {
                return Claim { owner: self, key };
            }
            released.await;
        }
    }
}

/// Holds a source object until dropped.
pub(crate) struct Claim<'a> {
    owner: &'a InFlight,
    key: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.owner
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        self.owner.released.notify_waiters();
    }
}
