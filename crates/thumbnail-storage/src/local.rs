//! Objects as files under a root folder: the embedded default, a folder per bucket.
//!
//! The object `a/b/c.jpg` is the file `ROOT/a/b/c.jpg`, so the thumbnails can be browsed as they are.
//! Content type, cache control, ETag and user metadata go to `ROOT/.thumbnail-meta/a/b/c.jpg.json`;
//! keys starting with that folder name are refused. Every write goes to a temporary file that is then
//! renamed over the target, data first, metadata second: a crash never leaves half an object, and a
//! metadata file left stale by a crash between the two renames is detected by its size and ignored.
//! Paths are checked after resolving symbolic links, so nothing under the root can lead out of it.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    ListPage, Object, ObjectInfo, ObjectKey, ObjectStore, PutOptions, StorageError, content_etag,
    page_of,
};

const META_DIR: &str = ".thumbnail-meta";

/// A bucket in a folder.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    name: String,
}

/// The metadata file's content.
#[derive(Serialize, Deserialize)]
struct Meta {
    size: u64,
    etag: String,
    content_type: Option<String>,
    cache_control: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl LocalStore {
    /// A store rooted at `root`, created if missing.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, StorageError> {
        let root = root.as_ref();
        let failed = |e: io::Error| StorageError::Permanent {
            operation: "open",
            store: root.display().to_string(),
            key: String::new(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(root).map_err(failed)?;
        let root = root.canonicalize().map_err(failed)?;
        Ok(LocalStore {
            name: root.display().to_string(),
            root,
        })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_path(&self, key: &ObjectKey) -> Result<PathBuf, StorageError> {
        if key.segments().next() == Some(META_DIR) {
            return Err(StorageError::InvalidKey {
                key: key.to_string(),
                reason: format!("'{META_DIR}/' is reserved by the local store"),
            });
        }
        Ok(key
            .segments()
            .fold(self.root.clone(), |path, segment| path.join(segment)))
    }

    fn meta_path(&self, key: &ObjectKey) -> PathBuf {
        let mut path = key
            .segments()
            .fold(self.root.join(META_DIR), |path, segment| path.join(segment));
        path.as_mut_os_string().push(".json");
        path
    }

    /// Refuses a path whose existing part resolves (through symbolic links) outside the root.
    fn check_inside(&self, key: &ObjectKey, path: &Path) -> Result<(), StorageError> {
        let mut existing = path;
        let resolved = loop {
            match existing.canonicalize() {
                Ok(resolved) => break resolved,
                Err(_) => match existing.parent() {
                    Some(parent) => existing = parent,
                    None => return Ok(()),
                },
            }
        };
        if resolved.starts_with(&self.root) {
            Ok(())
        } else {
            Err(StorageError::AccessDenied {
                store: self.name.clone(),
                key: key.to_string(),
                message: "the path leads outside the store's root folder".into(),
            })
        }
    }

    fn io_error(&self, operation: &'static str, key: &ObjectKey, e: io::Error) -> StorageError {
        let (store, key) = (self.name.clone(), key.to_string());
        match e.kind() {
            ErrorKind::NotFound => StorageError::NotFound { store, key },
            ErrorKind::PermissionDenied => StorageError::AccessDenied {
                store,
                key,
                message: e.to_string(),
            },
            ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
            | ErrorKind::ResourceBusy
            | ErrorKind::OutOfMemory => StorageError::Transient {
                operation,
                store,
                key,
                message: e.to_string(),
            },
            _ => StorageError::Permanent {
                operation,
                store,
                key,
                message: e.to_string(),
            },
        }
    }

    /// Size and metadata of an object, from the file and its metadata when they agree.
    fn read_info(
        &self,
        key: &ObjectKey,
        data: &Path,
        content: Option<&[u8]>,
    ) -> io::Result<ObjectInfo> {
        let size = std::fs::metadata(data)?.len();
        let meta: Option<Meta> = std::fs::read(self.meta_path(key))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .filter(|meta: &Meta| meta.size == size);
        let meta = match meta {
            Some(meta) => meta,
            None => {
                let etag = match content {
                    Some(bytes) => content_etag(bytes),
                    None => file_etag(data)?,
                };
                Meta {
                    size,
                    etag,
                    content_type: None,
                    cache_control: None,
                    metadata: BTreeMap::new(),
                }
            }
        };
        Ok(ObjectInfo {
            key: key.clone(),
            size,
            content_type: meta.content_type,
            cache_control: meta.cache_control,
            etag: meta.etag,
            version: None,
            metadata: meta.metadata,
        })
    }
}

/// Every object file under `dir`, a folder of the store at `root`, as (key, path): regular files
/// only, neither symbolic links nor the store's own metadata and temporary files.
fn walk(root: &Path, dir: &Path, found: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if (dir == root && name == META_DIR) || (name.starts_with('.') && name.contains(".tmp-")) {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(root, &path, found)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).expect("walked from the root");
            let key = relative
                .iter()
                .map(|s| s.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            found.push((key, path));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = path.parent().expect("object paths are under the root");
    std::fs::create_dir_all(parent)?;
    let name = path
        .file_name()
        .expect("object paths end in a name")
        .to_string_lossy();
    let temporary = parent.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// The ETag of a file's content, hashed as it is read: [`content_etag`] of its bytes, without
/// holding them (a file put in the folder by hand has no sidecar to take it from).
fn file_etag(path: &Path) -> io::Result<String> {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(crate::hex(&hasher.finalize()))
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<Object, StorageError> {
        let path = self.data_path(key)?;
        self.check_inside(key, &path)?;
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|e| self.io_error("get", key, e))?
            .len();
        if size > max_bytes {
            return Err(StorageError::TooLarge {
                store: self.name.clone(),
                key: key.to_string(),
                size,
                limit: max_bytes,
            });
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| self.io_error("get", key, e))?;
        let info = self
            .read_info(key, &path, Some(&bytes))
            .map_err(|e| self.io_error("get", key, e))?;
        Ok(Object { info, bytes })
    }

    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<Object, StorageError> {
        use tokio::io::AsyncReadExt;
        let path = self.data_path(key)?;
        self.check_inside(key, &path)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| self.io_error("get", key, e))?;
        let mut bytes = Vec::new();
        file.take(len)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| self.io_error("get", key, e))?;
        let info = self
            .read_info(key, &path, None)
            .map_err(|e| self.io_error("get", key, e))?;
        Ok(Object { info, bytes })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        let path = self.data_path(key)?;
        self.check_inside(key, &path)?;
        match self.read_info(key, &path, None) {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error("head", key, e)),
        }
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        let path = self.data_path(key)?;
        self.check_inside(key, &path)?;
        let meta = Meta {
            size: bytes.len() as u64,
            etag: content_etag(&bytes),
            content_type: options.content_type.clone(),
            cache_control: options.cache_control.clone(),
            metadata: options.metadata.clone(),
        };
        let meta_json = serde_json::to_vec(&meta).expect("metadata serialises");
        let meta_path = self.meta_path(key);
        let written = tokio::task::spawn_blocking(move || {
            write_atomically(&path, &bytes)?;
            write_atomically(&meta_path, &meta_json)
        })
        .await
        .expect("the write task does not panic");
        written.map_err(|e| self.io_error("put", key, e))?;
        Ok(ObjectInfo {
            key: key.clone(),
            size: meta.size,
            content_type: meta.content_type,
            cache_control: meta.cache_control,
            etag: meta.etag,
            version: None,
            metadata: meta.metadata,
        })
    }

    async fn preview_url(
        &self,
        key: &ObjectKey,
        _expires_in: Duration,
    ) -> Result<String, StorageError> {
        let path = self.data_path(key)?;
        self.check_inside(key, &path)?;
        if !path.is_file() {
            return Err(StorageError::NotFound {
                store: self.name.clone(),
                key: key.to_string(),
            });
        }
        let url = url::Url::from_file_path(&path).map_err(|()| StorageError::Permanent {
            operation: "preview_url",
            store: self.name.clone(),
            key: key.to_string(),
            message: "the path cannot be written as a file:// URL".into(),
        })?;
        Ok(url.into())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let root = self.root.clone();
        let failed = |e: io::Error| StorageError::Bucket {
            operation: "list",
            store: self.name.clone(),
            message: e.to_string(),
        };
        let mut found = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            walk(&root, &root, &mut found).map(|()| found)
        })
        .await
        .expect("the listing task does not panic")
        .map_err(failed)?;
        found.sort();
        let (entries, next) = page_of(found.into_iter(), prefix, start_after, limit);
        let mut page = ListPage {
            next,
            ..ListPage::default()
        };
        for (name, path) in entries {
            let Ok(key) = ObjectKey::new(name.as_str()) else {
                page.unnamed.push(name);
                continue;
            };
            // Hashed here, for this page only, when the file has no sidecar to take the ETag from.
            match self.read_info(&key, &path, None) {
                Ok(info) => page.push(name, info.size, info.etag),
                // Removed since the walk: as if listed before it was written.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(self.io_error("list", &key, e)),
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("thumbnail-storage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn symlinks_cannot_lead_out_of_the_root() {
        let base = scratch("symlink");
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        let store = LocalStore::new(base.join("root")).unwrap();
        std::os::unix::fs::symlink(&outside, store.root().join("link")).unwrap();
        let key = ObjectKey::new("link/secret.txt").unwrap();
        assert!(matches!(
            store.get(&key, 1 << 20).await,
            Err(StorageError::AccessDenied { .. })
        ));
        let written = store
            .put(
                &ObjectKey::new("link/new.txt").unwrap(),
                b"x".to_vec(),
                &PutOptions::default(),
            )
            .await;
        assert!(matches!(written, Err(StorageError::AccessDenied { .. })));
        assert!(!outside.join("new.txt").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[tokio::test]
    async fn the_metadata_folder_is_reserved_and_stale_metadata_ignored() {
        let base = scratch("meta");
        let store = LocalStore::new(&base).unwrap();
        let reserved = ObjectKey::new(".thumbnail-meta/x.json").unwrap();
        assert!(matches!(
            store.get(&reserved, 10).await,
            Err(StorageError::InvalidKey { .. })
        ));

        let key = ObjectKey::new("a.txt").unwrap();
        store
            .put(&key, b"first".to_vec(), &PutOptions::new("text/plain"))
            .await
            .unwrap();
        // As if a crash came between the data and the metadata rename.
        std::fs::write(base.join("a.txt"), b"second!").unwrap();
        let info = store.head(&key).await.unwrap().unwrap();
        assert_eq!(info.etag, content_etag(b"second!"));
        assert_eq!(info.content_type, None);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[tokio::test]
    async fn a_listing_leaves_out_the_stores_own_files_and_names_what_no_key_can() {
        let base = scratch("list");
        let store = LocalStore::new(&base).unwrap();
        let key = ObjectKey::new("a.jpg").unwrap();
        store
            .put(&key, b"a".to_vec(), &PutOptions::new("image/jpeg"))
            .await
            .unwrap();
        std::fs::write(base.join(".a.jpg.tmp-1-2"), b"half").unwrap();
        std::fs::write(base.join("bad\u{1}name.jpg"), b"b").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", base.join("link.jpg")).unwrap();
        let page = store.list("", None, 10).await.unwrap();
        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a.jpg"], "no metadata, temporary file or link");
        assert_eq!(page.objects[0].etag, content_etag(b"a"));
        assert_eq!(page.unnamed, ["bad\u{1}name.jpg"]);
        assert_eq!(page.next, None);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
