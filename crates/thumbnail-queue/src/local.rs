//! A durable queue in a spool folder: the embedded default.
//!
//! Each message is one JSON file in `ROOT/messages/`, named so that names sort in sending order, and
//! holding the body, attributes, receive count and the time it becomes visible. Every change is made
//! under an exclusive lock on `ROOT/lock` (so several processes can share a spool) and written to a
//! temporary file, flushed to disk, then renamed over the old one. A process killed at any point,
//! even by `kill -9`, leaves each message either as it was or as it became; a message it had received
//! but not acknowledged becomes visible again when its visibility timeout passes, also after a
//! restart, since times are wall-clock.
//!
//! Why files and not an embedded database: no dependency, no server, and a spool a person can inspect
//! with `ls` and `cat`. The price is a folder scan per receive, fine for the volumes of a laptop or a
//! single machine; a busy deployment uses SQS.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::record::{Record, long_poll, now_ms};
use crate::{Delivery, Depth, OutgoingMessage, Queue, QueueError, ReceiveOptions};

/// A queue in a folder, durable across crashes and restarts.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    spool: Arc<Spool>,
}

#[derive(Debug)]
struct Spool {
    name: String,
    messages: PathBuf,
    unreadable: PathBuf,
    lock: PathBuf,
}

/// What a change to a delivered record does.
enum Change {
    Delete,
    HideFor(Duration),
}

impl LocalQueue {
    /// Opens (creating if needed) the queue in `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, QueueError> {
        let root = root.as_ref();
        let spool = Spool {
            name: root.display().to_string(),
            messages: root.join("messages"),
            unreadable: root.join("unreadable"),
            lock: root.join("lock"),
        };
        std::fs::create_dir_all(&spool.messages).map_err(|e| spool.error("open", e))?;
        Ok(LocalQueue {
            spool: Arc::new(spool),
        })
    }

    /// Runs blocking spool work off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Spool) -> io::Result<T> + Send + 'static,
    ) -> Result<T, QueueError> {
        let spool = Arc::clone(&self.spool);
        tokio::task::spawn_blocking(move || {
            let result = spool.locked(|| work(&spool));
            result.map_err(|e| spool.error(operation, e))
        })
        .await
        .expect("spool work does not panic")
    }

    async fn change(
        &self,
        operation: &'static str,
        delivery: &Delivery,
        change: Change,
    ) -> Result<(), QueueError> {
        let (id, receipt) = (delivery.id.clone(), delivery.receipt.clone());
        let stale = self
            .run(operation, move |spool| {
                let path = spool.path(&id);
                let mut record = match spool.read(&path) {
                    Ok(record) => record,
                    // Already deleted: for an ack that is the wanted state, for the rest a stale receipt.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Ok(!matches!(change, Change::Delete));
                    }
                    Err(e) => return Err(e),
                };
                if !record.matches(&receipt) {
                    return Ok(true);
                }
                match change {
                    Change::Delete => std::fs::remove_file(&path)?,
                    Change::HideFor(duration) => {
                        record.hide_for(duration);
                        spool.write(&record)?;
                    }
                }
                Ok(false)
            })
            .await?;
        if stale {
            return Err(QueueError::StaleReceipt {
                queue: self.spool.name.clone(),
                id: delivery.id.clone(),
            });
        }
        Ok(())
    }
}

impl Spool {
    fn error(&self, operation: &'static str, e: io::Error) -> QueueError {
        let (queue, message) = (self.name.clone(), e.to_string());
        match e.kind() {
            io::ErrorKind::StorageFull
            | io::ErrorKind::QuotaExceeded
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ResourceBusy => QueueError::Transient {
                operation,
                queue,
                message,
            },
            _ => QueueError::Permanent {
                operation,
                queue,
                message,
            },
        }
    }

    /// Runs `work` holding the spool's exclusive lock (released by the OS if the process dies).
    fn locked<T>(&self, work: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)?;
        file.lock()?;
        let result = work();
        file.unlock()?;
        result
    }

    fn path(&self, id: &str) -> PathBuf {
        self.messages.join(format!("{id}.json"))
    }

    fn read(&self, path: &Path) -> io::Result<Record> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Temporary file, flushed to disk, renamed over the record: the record is old or new, never half.
    fn write(&self, record: &Record) -> io::Result<()> {
        use std::io::Write;
        let target = self.path(&record.id);
        let temporary = self.messages.join(format!(".{}.tmp", record.id));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&serde_json::to_vec(record).expect("records serialise"))?;
        file.sync_all()?;
        std::fs::rename(&temporary, &target)
    }

    /// The message files, in sending order (temporary files excluded).
    fn list(&self) -> io::Result<Vec<PathBuf>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.messages)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        Ok(paths)
    }

    fn take(&self, options: &ReceiveOptions) -> io::Result<Vec<Delivery>> {
        let now = now_ms();
        let mut deliveries = Vec::new();
        for path in self.list()? {
            if deliveries.len() == options.max_messages {
                break;
            }
            let mut record = match self.read(&path) {
                Ok(record) => record,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    // Never drop a message silently: set it aside where a person will find it.
                    std::fs::create_dir_all(&self.unreadable)?;
                    std::fs::rename(
                        &path,
                        self.unreadable.join(path.file_name().expect("a file name")),
                    )?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if record.is_visible(now) {
                deliveries.push(record.deliver(now, options.visibility));
                self.write(&record)?;
            }
        }
        Ok(deliveries)
    }
}

#[async_trait]
impl Queue for LocalQueue {
    fn name(&self) -> &str {
        &self.spool.name
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // Zero-padded time first, so file names sort in sending order.
        let id = format!(
            "{:013}-{:08x}-{:06}",
            now_ms(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000
        );
        let record = Record::new(id.clone(), message);
        self.run("send", move |spool| spool.write(&record)).await?;
        Ok(id)
    }

    async fn receive(&self, options: &ReceiveOptions) -> Result<Vec<Delivery>, QueueError> {
        let options = options.clamped();
        long_poll(options.wait, Duration::from_millis(100), || {
            self.run("receive", move |spool| spool.take(&options))
        })
        .await
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.change("ack", &delivery, Change::Delete).await
    }

    async fn release(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        self.change("release", &delivery, Change::HideFor(delay))
            .await
    }

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<(), QueueError> {
        self.change("extend", delivery, Change::HideFor(visibility))
            .await
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        self.run("depth", |spool| {
            let now = now_ms();
            let mut depth = Depth::default();
            for path in spool.list()? {
                match spool.read(&path) {
                    Ok(record) => record.count_in(&mut depth, now),
                    // Set aside by the next receive; not a message of the queue's any more.
                    Err(e) if e.kind() == io::ErrorKind::InvalidData => {}
                    // Acknowledged since the listing.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(depth)
        })
        .await
    }
}
