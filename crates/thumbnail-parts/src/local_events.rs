//! The local backend's bucket notifications: files that appear in (or change in) the local source
//! folder become S3-shaped event messages on the local queue, as S3 sends them to SQS.
//!
//! A ledger (`LOCAL_DIR/ledger/<bucket>.json`: key → size and modification time) records what was
//! announced. Files added while the worker was down are therefore announced at its next start, and an
//! unchanged file is not announced twice. The ledger is written after the messages: a crash between
//! the two announces a file again, which the pipeline's idempotence absorbs.
//!
//! Several workers may share the folder: a scan holds an exclusive lock on `<bucket>.lock` beside
//! the ledger and reads the ledger afresh under it, so each upload is announced by one of them. A
//! worker that finds the lock taken skips that scan (the holder is announcing the same files).
//!
//! A folder or file inside the bucket that cannot be read (its permissions, a disk error) is logged
//! once and skipped, so one bad folder never stops the others' uploads; only an unreadable bucket
//! folder stops a scan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use thumbnail_queue::{OutgoingMessage, Queue, QueueError};

/// Why the source folder could not be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A folder or the ledger could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The ledger is not what this watcher writes.
    #[error("unreadable ledger {path}: {source}")]
    Ledger {
        /// The ledger file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// An event could not be queued.
    #[error("queueing an upload event: {0}")]
    Queue(#[from] QueueError),
}

type Result<T> = std::result::Result<T, WatchError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WatchError + '_ {
    move |source| WatchError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Announces new and changed files of one local bucket.
#[derive(Debug)]
pub struct LocalEvents {
    bucket: String,
    root: PathBuf,
    ledger_path: PathBuf,
    lock: std::fs::File,
    lock_path: PathBuf,
    /// What the last scan could not read, so each is logged once, not at every scan.
    unreadable: BTreeSet<PathBuf>,
}

impl LocalEvents {
    /// Watches `root`, the folder of bucket `bucket`, keeping the ledger in `ledger_dir`.
    pub fn open(bucket: &str, root: &Path, ledger_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(ledger_dir).map_err(io(ledger_dir))?;
        let lock_path = ledger_dir.join(format!("{bucket}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        let events = LocalEvents {
            bucket: bucket.to_owned(),
            root: root.to_owned(),
            ledger_path: ledger_dir.join(format!("{bucket}.json")),
            lock,
            lock_path,
            unreadable: BTreeSet::new(),
        };
        // A ledger this watcher cannot read is a reason not to start.
        events.ledger()?;
        Ok(events)
    }

    fn ledger(&self) -> Result<BTreeMap<String, (u64, u128)>> {
        match std::fs::read(&self.ledger_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| WatchError::Ledger {
                path: self.ledger_path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io(&self.ledger_path)(e)),
        }
    }

    /// Sends an event for every file that is new or changed since the last scan (by any worker
    /// sharing the ledger); returns how many. Returns `None` at once while another worker scans:
    /// what it announces may not be on the queue yet, so an empty queue then is not idle.
    pub async fn scan(&mut self, queue: &dyn Queue) -> Result<Option<usize>> {
        match self.lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&self.lock_path)(e)),
        }
        let scanned = self.scan_locked(queue).await;
        self.lock.unlock().map_err(io(&self.lock_path))?;
        scanned.map(Some)
    }

    async fn scan_locked(&mut self, queue: &dyn Queue) -> Result<usize> {
        let mut ledger = self.ledger()?;
        let mut found = Vec::new();
        let mut unreadable = BTreeMap::new();
        walk(&self.root, &self.root, &mut found, &mut unreadable)?;
        for (path, error) in &unreadable {
            if !self.unreadable.contains(path) {
                tracing::warn!(path = %path.display(), %error, "skipped: cannot be read");
            }
        }
        self.unreadable = unreadable.into_keys().collect();
        // Oldest first, as they were uploaded: the queue hands messages out in sending order.
        found.sort_by(|(a, (_, a_modified)), (b, (_, b_modified))| {
            a_modified.cmp(b_modified).then_with(|| a.cmp(b))
        });
        let mut sent = 0;
        for (key, stamp) in found {
            if ledger.get(&key) == Some(&stamp) {
                continue;
            }
            queue
                .send(OutgoingMessage::new(thumbnail_events::created_event(
                    "thumbnail:local",
                    &self.bucket,
                    &key,
                    stamp.0,
                    None,
                )))
                .await?;
            ledger.insert(key, stamp);
            sent += 1;
        }
        if sent > 0 {
            let temporary = self.ledger_path.with_extension("json.tmp");
            let ledger = serde_json::to_vec(&ledger).expect("a map of strings serialises");
            std::fs::write(&temporary, ledger).map_err(io(&temporary))?;
            std::fs::rename(&temporary, &self.ledger_path).map_err(io(&self.ledger_path))?;
        }
        Ok(sent)
    }
}

/// The files under `dir` as (key, (size, modified nanoseconds)); hidden entries (temporary files,
/// the store's metadata folder) are skipped, and so is what cannot be read below the root, which
/// goes to `unreadable` with the reason.
fn walk(
    root: &Path,
    dir: &Path,
    found: &mut Vec<(String, (u64, u128))>,
    unreadable: &mut BTreeMap<PathBuf, std::io::Error>,
) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if dir == root => return Err(io(dir)(e)),
        Err(e) => {
            unreadable.insert(dir.to_owned(), e);
            return Ok(());
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                unreadable.insert(dir.to_owned(), e);
                continue;
            }
        };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            Err(e) => {
                unreadable.insert(path, e);
                continue;
            }
        };
        if metadata.is_dir() {
            walk(root, &path, found, unreadable)?;
        } else if metadata.is_file() {
            let relative = path.strip_prefix(root).expect("walked from the root");
            let key = relative
                .iter()
                .map(|s| s.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let modified = metadata
                .modified()
                .ok()
                .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            found.push((key, (metadata.len(), modified)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_watchers_of_one_folder_announce_each_upload_once() {
        let dir = std::env::temp_dir().join(format!("thumbnail-watch-two-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("bucket");
        std::fs::create_dir_all(&root).unwrap();
        let queue = thumbnail_queue::MemoryQueue::new("events");
        let mut first = LocalEvents::open("uploads", &root, &dir.join("ledger")).unwrap();
        let mut second = LocalEvents::open("uploads", &root, &dir.join("ledger")).unwrap();
        std::fs::write(root.join("a.jpg"), b"a").unwrap();
        std::fs::write(root.join("b.jpg"), b"b").unwrap();
        assert_eq!(first.scan(&queue).await.unwrap(), Some(2));
        // The second reads what the first recorded, not a ledger of its own from its start.
        assert_eq!(second.scan(&queue).await.unwrap(), Some(0));
        std::fs::write(root.join("c.jpg"), b"c").unwrap();
        // While one scans, the other's scan gives way, and says so.
        first.lock.lock().unwrap();
        assert_eq!(second.scan(&queue).await.unwrap(), None);
        first.lock.unlock().unwrap();
        assert_eq!(second.scan(&queue).await.unwrap(), Some(1));
        assert_eq!(first.scan(&queue).await.unwrap(), Some(0));
        assert_eq!(queue.depth().await.unwrap().visible, 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn uploads_are_announced_oldest_first() {
        let dir =
            std::env::temp_dir().join(format!("thumbnail-watch-order-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("bucket");
        std::fs::create_dir_all(&root).unwrap();
        let queue = thumbnail_queue::MemoryQueue::new("events");
        let mut events = LocalEvents::open("uploads", &root, &dir.join("ledger")).unwrap();
        let now = std::time::SystemTime::now();
        let names = ["a.jpg", "b.jpg", "c.jpg"];
        for (name, age) in names.into_iter().zip([10, 30, 20]) {
            let path = root.join(name);
            std::fs::write(&path, name).unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(now - std::time::Duration::from_secs(age))
                .unwrap();
        }
        assert_eq!(events.scan(&queue).await.unwrap(), Some(3));
        let options = thumbnail_queue::ReceiveOptions {
            max_messages: 10,
            wait: std::time::Duration::ZERO,
            visibility: std::time::Duration::from_secs(30),
        };
        let order: Vec<&str> = queue
            .receive(&options)
            .await
            .unwrap()
            .iter()
            .map(|d| {
                let named = |n: &&str| d.body.contains(&format!("\"{n}\""));
                names.into_iter().find(named).expect("an announced upload")
            })
            .collect();
        assert_eq!(order, ["b.jpg", "c.jpg", "a.jpg"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
