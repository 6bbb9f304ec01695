//! A durable queue in a spool folder: the embedded default.
//!
//! Each message is one JSON file in `ROOT/messages/`, named so that names sort in sending order, and
//! holding the body, attributes, receive count and the time it becomes visible. Every change is made
//! under an exclusive lock on `ROOT/lock` (so several processes can share a spool) and written to a
//! temporary file, flushed to disk, then renamed over the old one. A process killed at any point,
//! even by `kill -9`, leaves each message either as it was or as it became.
//!
//! A message received but not acknowledged comes back when its visibility timeout passes (times are
//! wall-clock, so also after a restart), or at once when the process that received it has died: each
//! open queue holds an exclusive lock on its own file in `ROOT/holders/`, a delivered message names
//! that file, and the OS releases the lock of a dead process, so the next receive can tell a dead
//! holder from a slow one without waiting out the timeout.
//!
//! Why files and not an embedded database: no dependency, no server, and a spool a person can inspect
//! with `ls` and `cat`. The price is a folder scan per receive, fine for the volumes of a laptop or a
//! single machine; a busy deployment uses SQS.

use std::collections::HashMap;
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
    holders: PathBuf,
    /// This queue's holder name, and its file, locked for as long as the queue is open.
    holder: String,
    _holder_lock: std::fs::File,
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Tidiness only: a file left by a crash is removed by whoever finds its holder dead.
        let _ = std::fs::remove_file(self.holder_path(&self.holder));
    }
}

/// What a change to a delivered record does.
enum Change {
    Delete,
    /// Released: visible after the delay, held by nobody.
    Release(Duration),
    /// Extended: still held, hidden for this long from now.
    Extend(Duration),
}

impl LocalQueue {
    /// Opens (creating if needed) the queue in `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, QueueError> {
        static OPENED: AtomicU64 = AtomicU64::new(0);
        let root = root.as_ref();
        let name = root.display().to_string();
        let failed = |e: io::Error| QueueError::Permanent {
            operation: "open",
            queue: name.clone(),
            message: e.to_string(),
        };
        let (messages, holders) = (root.join("messages"), root.join("holders"));
        std::fs::create_dir_all(&messages).map_err(failed)?;
        std::fs::create_dir_all(&holders).map_err(failed)?;
        let holder = format!(
            "{}-{}-{}",
            std::process::id(),
            now_ms(),
            OPENED.fetch_add(1, Ordering::Relaxed)
        );
        let holder_lock = std::fs::File::create(holders.join(format!("{holder}.lock")))
            .and_then(|file| file.try_lock().map_err(io::Error::from).map(|()| file))
            .map_err(failed)?;
        Ok(LocalQueue {
            spool: Arc::new(Spool {
                name: name.clone(),
                messages,
                unreadable: root.join("unreadable"),
                lock: root.join("lock"),
                holders,
                holder,
                _holder_lock: holder_lock,
            }),
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
                    Change::Release(delay) => {
                        record.release(delay);
                        spool.write(&record)?;
                    }
                    Change::Extend(visibility) => {
                        record.hide_for(visibility);
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
        // Out of file descriptors (EMFILE, ENFILE: Linux's and macOS's numbers) is the moment's,
        // not the spool's: a flood of connections to the console must not stop the worker.
        if matches!(e.raw_os_error(), Some(23 | 24)) {
            return QueueError::Transient {
                operation,
                queue,
                message,
            };
        }
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

    fn holder_path(&self, holder: &str) -> PathBuf {
        self.holders.join(format!("{holder}.lock"))
    }

    /// Whether `record` can be received at `now`: visible, or hidden by a delivery whose holder has
    /// died. `alive` remembers which holders were found alive during one pass over the spool.
    fn available(&self, record: &Record, now: u64, alive: &mut HashMap<String, bool>) -> bool {
        if record.is_visible(now) {
            return true;
        }
        let Some(holder) = &record.holder else {
            return false;
        };
        if *holder == self.holder {
            return false;
        }
        // A holder is a name this queue made (`pid-ms-n`); anything else in a record (a hand edit,
        // a damaged file) names no process, and must not name a path: `../x` would let a record
        // delete any `.lock` file this process can lock. Such a holder is gone.
        if !is_holder_name(holder) {
            return true;
        }
        let is_alive = *alive.entry(holder.clone()).or_insert_with(|| {
            let path = self.holder_path(holder);
            match std::fs::File::open(&path) {
                // Someone else holds the lock: that process is running.
                Ok(file) => match file.try_lock() {
                    Err(std::fs::TryLockError::WouldBlock) => true,
                    Err(std::fs::TryLockError::Error(_)) => true,
                    Ok(()) => {
                        let _ = std::fs::remove_file(&path);
                        false
                    }
                },
                Err(e) => e.kind() != io::ErrorKind::NotFound,
            }
        });
        !is_alive
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
        // Sorted by name, not by path: comparing whole paths parses both into components at
        // every comparison, which was 5% of a worker's time on a backlog of 1,500 messages.
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&self.messages)?
            .filter_map(|entry| entry.ok().map(|e| e.file_name()))
            .filter(|name| {
                let name = name.as_encoded_bytes();
                name.ends_with(b".json") && !name.starts_with(b".")
            })
            .collect();
        names.sort_unstable();
        Ok(names
            .into_iter()
            .map(|name| self.messages.join(name))
            .collect())
    }

    fn take(&self, options: &ReceiveOptions) -> io::Result<Vec<Delivery>> {
        let now = now_ms();
        let mut alive = HashMap::new();
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
            if self.available(&record, now, &mut alive) {
                deliveries.push(record.deliver(now, options.visibility));
                record.holder = Some(self.holder.clone());
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
        self.change("release", &delivery, Change::Release(delay))
            .await
    }

    async fn extend(&self, delivery: &Delivery, visibility: Duration) -> Result<(), QueueError> {
        self.change("extend", delivery, Change::Extend(visibility))
            .await
    }

    async fn peek(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        self.run("peek", move |spool| {
            let mut shown = Vec::new();
            for path in spool.list()? {
                if shown.len() == max {
                    break;
                }
                match spool.read(&path) {
                    Ok(record) => shown.push(record.view()),
                    // Acknowledged since the listing, or unreadable (set aside by a receive).
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::NotFound | io::ErrorKind::InvalidData
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(shown)
        })
        .await
    }

    async fn depth(&self) -> Result<Depth, QueueError> {
        self.run("depth", |spool| {
            let now = now_ms();
            let mut alive = HashMap::new();
            let mut depth = Depth::default();
            for path in spool.list()? {
                match spool.read(&path) {
                    // A dead holder's message is as good as visible: the next receive takes it.
                    Ok(record) => {
                        record.count_as(&mut depth, spool.available(&record, now, &mut alive))
                    }
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

/// Whether `name` is one a queue gives its holders: `pid-ms-n`, digits and dashes only.
fn is_holder_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}
