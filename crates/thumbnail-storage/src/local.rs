//! Objects as files under a root folder: the embedded default, a folder per bucket.
//!
//! The object `a/b/c.jpg` is the file `ROOT/a/b/c.jpg`, so the thumbnails can be browsed as they are.
//! Content type, cache control, ETag and user metadata go with the file, in its extended attribute
//! `user.thumbnail.meta` (JSON), written and flushed with the data: one file, one flush and one
//! rename per object. Where the file system refuses that attribute (some network and older
//! in-memory file systems), or the metadata is too large for it, they go to
//! `ROOT/.thumbnail-meta/a/b/c.jpg.json` instead, which is also where earlier versions kept them
//! and is read when a file has no attribute; keys starting with that folder name are refused.
//!
//! - Every file is reached through a handle on the root folder (`cap-std`), which resolves each
//!   path component itself and refuses any that leads outside, symbolic links included. What is
//!   checked is what is opened: no symbolic link swapped in between a check and a write can lead a
//!   write, or a read, out of the root.
//! - Every write goes to a temporary file, flushed to disk, renamed over the target, and the folder
//!   flushed too (data first, then a metadata file if there is one). A crash or a power cut never
//!   leaves half an object.
//! - The metadata records the data file's size, inode and modification time as written; metadata
//!   that no longer matches the file (the file rewritten in place, a crash between the renames of
//!   a file and its metadata file, or the file replaced by hand, even with one of the same size)
//!   is ignored, and the ETag taken from the content.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use crate::links::LinkSigner;
use crate::{
    ListPage, Object, ObjectInfo, ObjectKey, ObjectStore, PutOptions, StorageError, content_etag,
    page_of,
};

const META_DIR: &str = ".thumbnail-meta";

/// The extended attribute holding an object's metadata.
const META_ATTRIBUTE: &str = "user.thumbnail.meta";

/// The largest metadata kept in the attribute (ext4 gives all of a file's attributes one 4 KiB
/// block); larger goes to a metadata file. Reads use a buffer of this size.
const META_ATTRIBUTE_MAX: usize = 3 << 10;

/// A bucket in a folder.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    name: String,
    dir: Arc<Dir>,
    links: Option<LinkSigner>,
}

/// An object's metadata, as kept in its attribute or metadata file.
#[derive(Serialize, Deserialize)]
struct Meta {
    size: u64,
    /// The data file's inode and modification time (nanoseconds) when written; absent (0) in
    /// metadata written before they were recorded, which is then checked by the size alone.
    #[serde(default)]
    inode: u64,
    #[serde(default)]
    modified_ns: i128,
    etag: String,
    content_type: Option<String>,
    cache_control: Option<String>,
    metadata: BTreeMap<String, String>,
}

/// What identifies one version of a data file: its size, inode and modification time.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    inode: u64,
    modified_ns: i128,
}

impl Stamp {
    fn of(file: &std::fs::File) -> io::Result<Stamp> {
        let metadata = file.metadata()?;
        Ok(Stamp {
            size: metadata.len(),
            inode: metadata.ino(),
            modified_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
        })
    }

    fn matches(&self, meta: &Meta) -> bool {
        meta.size == self.size
            && (meta.inode == 0 || (meta.inode, meta.modified_ns) == (self.inode, self.modified_ns))
    }
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
        let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority()).map_err(failed)?;
        Ok(LocalStore {
            name: root.display().to_string(),
            root,
            dir: Arc::new(dir),
            links: None,
        })
    }

    /// Preview URLs become `http://` links signed by `signer` (served by the worker's console),
    /// in place of `file://` URLs, which an e-mail or another machine cannot open.
    pub fn with_links(mut self, signer: LinkSigner) -> Self {
        self.links = Some(signer);
        self
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data file of `key`, relative to the root.
    fn data_path(&self, key: &ObjectKey) -> Result<PathBuf, StorageError> {
        if key.segments().next() == Some(META_DIR) {
            return Err(StorageError::InvalidKey {
                key: key.to_string(),
                reason: format!("'{META_DIR}/' is reserved by the local store"),
            });
        }
        Ok(key.segments().collect())
    }

    fn io_error(&self, operation: &'static str, key: &ObjectKey, e: io::Error) -> StorageError {
        let (store, key) = (self.name.clone(), key.to_string());
        // Out of file descriptors (EMFILE, ENFILE: Linux's and macOS's numbers) is the moment's.
        if matches!(e.raw_os_error(), Some(23 | 24)) {
            return StorageError::Transient {
                operation,
                store,
                key,
                message: e.to_string(),
            };
        }
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

    /// Runs file work on a blocking thread, with the root's handle.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        key: &ObjectKey,
        work: impl FnOnce(&Files) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let files = Files {
            dir: Arc::clone(&self.dir),
        };
        tokio::task::spawn_blocking(move || work(&files))
            .await
            .expect("file work does not panic")
            .map_err(|e| self.io_error(operation, key, e))
    }
}

/// What [`LocalStore::write`] stores: bytes in memory, or a file copied as it is read.
enum Content {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

impl LocalStore {
    /// Writes `content` as `key`, its metadata beside or on it, atomically.
    async fn write(
        &self,
        key: &ObjectKey,
        content: Content,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        let path = self.data_path(key)?;
        let mut meta = Meta {
            size: 0,
            inode: 0,
            modified_ns: 0,
            etag: String::new(),
            content_type: options.content_type.clone(),
            cache_control: options.cache_control.clone(),
            metadata: options.metadata.clone(),
        };
        let meta_path = meta_path(key);
        let meta = self
            .blocking("put", key, move |files| {
                let mut file;
                let mut bytes_read;
                let source: &mut dyn Read = match content {
                    Content::Bytes(bytes) => {
                        (meta.size, meta.etag) = (bytes.len() as u64, content_etag(&bytes));
                        bytes_read = io::Cursor::new(bytes);
                        &mut bytes_read
                    }
                    Content::File(whole) => {
                        // Read twice, hashed then copied: the ETag is part of what is written.
                        file = whole;
                        (meta.size, meta.etag) = (file.metadata()?.len(), file_etag(&file)?);
                        io::Seek::rewind(&mut file)?;
                        &mut file
                    }
                };
                let (json, attached) = files.write_atomically(&path, source, |file, stamp| {
                    (meta.inode, meta.modified_ns) = (stamp.inode, stamp.modified_ns);
                    let json = serde_json::to_vec(&meta).expect("metadata serialises");
                    let attached = attach_meta(file, &json)?;
                    Ok((json, attached))
                })?;
                if !attached {
                    files.write_atomically(&meta_path, &mut &json[..], |_, _| Ok(()))?;
                }
                Ok(meta)
            })
            .await?;
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
}

/// The root's handle, on a blocking thread.
struct Files {
    dir: Arc<Dir>,
}

impl Files {
    /// Opens the data file at `path` for reading: a regular file inside the root, or an error.
    fn open(&self, path: &Path) -> io::Result<std::fs::File> {
        let file = self.dir.open(path)?.into_std();
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(ErrorKind::NotFound, "not a file"));
        }
        Ok(file)
    }

    /// What is known of the data file `file` of `key`: from its metadata
    /// when that matches the file, else its size alone and the ETag of `content`, or of the
    /// file's own bytes when `content` is not given.
    fn info(
        &self,
        key: &ObjectKey,
        file: &std::fs::File,
        content: Option<&[u8]>,
    ) -> io::Result<ObjectInfo> {
        let stamp = Stamp::of(file)?;
        let meta: Option<Meta> = attached_meta(file)
            .or_else(|| self.dir.read(meta_path(key)).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .filter(|meta| stamp.matches(meta));
        let meta = match meta {
            Some(meta) => meta,
            None => Meta {
                size: stamp.size,
                inode: stamp.inode,
                modified_ns: stamp.modified_ns,
                etag: match content {
                    Some(bytes) => content_etag(bytes),
                    None => file_etag(file)?,
                },
                content_type: None,
                cache_control: None,
                metadata: BTreeMap::new(),
            },
        };
        Ok(ObjectInfo {
            key: key.clone(),
            size: stamp.size,
            content_type: meta.content_type,
            cache_control: meta.cache_control,
            etag: meta.etag,
            version: None,
            metadata: meta.metadata,
        })
    }

    /// Writes `bytes` to `path` through a temporary file in the same folder, flushed, renamed,
    /// and the folder flushed; returns what `finish` returns, which is given the temporary file
    /// and its stamp before the flush, so that what it adds to the file is flushed with the data.
    fn write_atomically<T>(
        &self,
        path: &Path,
        source: &mut dyn Read,
        finish: impl FnOnce(&std::fs::File, Stamp) -> io::Result<T>,
    ) -> io::Result<T> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let parent = path.parent().unwrap_or(Path::new(""));
        if !parent.as_os_str().is_empty() {
            self.dir.create_dir_all(parent)?;
        }
        let name = path
            .file_name()
            .expect("object paths end in a name")
            .to_string_lossy();
        let temporary = parent.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| -> io::Result<T> {
            let mut options = cap_std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            let mut file = self.dir.open_with(&temporary, &options)?.into_std();
            io::copy(source, &mut file)?;
            // Attributes change the status-change time, not the stamp's modification time.
            let finished = finish(&file, Stamp::of(&file)?)?;
            file.sync_all()?;
            self.dir.rename(&temporary, &self.dir, path)?;
            Ok(finished)
        })();
        if written.is_err() {
            let _ = self.dir.remove_file(&temporary);
        }
        let finished = written?;
        // The rename is durable once the folder's entry is. (Opened as a file: the root's own
        // handle is a path handle, which cannot be flushed.)
        let folder = match parent.as_os_str().is_empty() {
            true => Path::new("."),
            false => parent,
        };
        self.dir.open(folder)?.sync_all()?;
        Ok(finished)
    }
}

/// The metadata in `file`'s attribute, if it has one this store could have written.
fn attached_meta(file: &std::fs::File) -> Option<Vec<u8>> {
    let mut buffer = vec![0; META_ATTRIBUTE_MAX];
    let len = rustix::fs::fgetxattr(file, META_ATTRIBUTE, &mut buffer[..]).ok()?;
    buffer.truncate(len);
    Some(buffer)
}

/// Puts `json` in `file`'s attribute; false when it does not fit there or the file system keeps
/// no such attributes, and a metadata file must hold it.
fn attach_meta(file: &std::fs::File, json: &[u8]) -> io::Result<bool> {
    use rustix::io::Errno;
    if json.len() > META_ATTRIBUTE_MAX {
        return Ok(false);
    }
    match rustix::fs::fsetxattr(file, META_ATTRIBUTE, json, rustix::fs::XattrFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::NOTSUP | Errno::NOSPC | Errno::TOOBIG | Errno::RANGE) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The metadata file of `key`, relative to the root.
fn meta_path(key: &ObjectKey) -> PathBuf {
    let mut path: PathBuf = std::iter::once(META_DIR).chain(key.segments()).collect();
    path.as_mut_os_string().push(".json");
    path
}

/// The ETag of a file's content, hashed as it is read from its start: [`content_etag`] of its
/// bytes, without holding them (a file put in the folder by hand has no metadata to take it from).
fn file_etag(file: &std::fs::File) -> io::Result<String> {
    use md5::{Digest, Md5};
    use std::os::unix::fs::FileExt;
    let mut hasher = Md5::new();
    let mut buffer = vec![0; 64 << 10];
    let mut offset = 0;
    loop {
        let read = file.read_at(&mut buffer, offset)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        offset += read as u64;
    }
    Ok(crate::hex(&hasher.finalize()))
}

/// Every object file under `dir` (the folder `relative` of the store) as (key, path): regular files
/// only, neither symbolic links nor the store's own metadata and temporary files.
fn walk(dir: &Dir, relative: &Path, found: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if (relative.as_os_str().is_empty() && name == META_DIR)
            || (name.starts_with('.') && name.contains(".tmp-"))
        {
            continue;
        }
        let kind = entry.file_type()?;
        let path = relative.join(&*name);
        if kind.is_dir() {
            walk(&entry.open_dir()?, &path, found)?;
        } else if kind.is_file() {
            let key = path
                .iter()
                .map(|s| s.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            found.push((key, path));
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<Object, StorageError> {
        let path = self.data_path(key)?;
        let owned = key.clone();
        let read = self
            .blocking("get", key, move |files| {
                let mut file = files.open(&path)?;
                let size = file.metadata()?.len();
                if size > max_bytes {
                    return Ok(Err(size));
                }
                let mut bytes = Vec::with_capacity(size as usize);
                // One byte more than the limit: a file grown since is caught, not read whole.
                (&mut file)
                    .take(max_bytes.saturating_add(1))
                    .read_to_end(&mut bytes)?;
                if bytes.len() as u64 > max_bytes {
                    return Ok(Err(bytes.len() as u64));
                }
                let info = files.info(&owned, &file, Some(&bytes))?;
                Ok(Ok(Object { info, bytes }))
            })
            .await?;
        read.map_err(|size| StorageError::TooLarge {
            store: self.name.clone(),
            key: key.to_string(),
            size,
            limit: max_bytes,
        })
    }

    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<Object, StorageError> {
        let path = self.data_path(key)?;
        let owned = key.clone();
        self.blocking("get", key, move |files| {
            let file = files.open(&path)?;
            let mut bytes = Vec::new();
            (&file).take(len).read_to_end(&mut bytes)?;
            let info = files.info(&owned, &file, None)?;
            Ok(Object { info, bytes })
        })
        .await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        let path = self.data_path(key)?;
        let owned = key.clone();
        self.blocking("head", key, move |files| match files.open(&path) {
            Ok(file) => files.info(&owned, &file, None).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        self.write(key, Content::Bytes(bytes), options).await
    }

    async fn put_file(
        &self,
        key: &ObjectKey,
        file: std::fs::File,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        self.write(key, Content::File(file), options).await
    }

    async fn preview_url(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let path = self.data_path(key)?;
        let checked = path.clone();
        self.blocking("preview_url", key, move |files| {
            files.open(&checked).map(drop)
        })
        .await?;
        if let Some(links) = &self.links {
            return Ok(links.sign(key, expires_in.min(crate::MAX_PREVIEW_EXPIRY)));
        }
        let url = url::Url::from_file_path(self.root.join(path)).map_err(|()| {
            StorageError::Permanent {
                operation: "preview_url",
                store: self.name.clone(),
                key: key.to_string(),
                message: "the path cannot be written as a file:// URL".into(),
            }
        })?;
        Ok(url.into())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let files = Files {
            dir: Arc::clone(&self.dir),
        };
        let (prefix, start_after) = (prefix.to_owned(), start_after.map(str::to_owned));
        // The walk and the page's ETags in one blocking task; an error names the key it was
        // reading, if any.
        let listed = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            walk(&files.dir, Path::new(""), &mut found).map_err(|e| (None, e))?;
            found.sort();
            let (entries, next) =
                page_of(found.into_iter(), &prefix, start_after.as_deref(), limit);
            let mut page = ListPage {
                next,
                ..ListPage::default()
            };
            for (name, path) in entries {
                let Ok(key) = ObjectKey::new(name.as_str()) else {
                    page.unnamed.push(name);
                    continue;
                };
                // Hashed here, for this page only, when a file has no metadata to take the ETag
                // from.
                let info = match files.open(&path) {
                    Ok(file) => files.info(&key, &file, None),
                    // Removed since the walk: as if listed before it was written.
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => Err(e),
                }
                .map_err(|e| (Some(key), e))?;
                page.push(name, info.size, info.etag);
            }
            Ok(page)
        })
        .await
        .expect("the listing task does not panic");
        listed.map_err(|(key, e)| match key {
            Some(key) => self.io_error("list", &key, e),
            None => StorageError::Bucket {
                operation: "list",
                store: self.name.clone(),
                message: e.to_string(),
            },
        })
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

    #[test]
    fn out_of_file_descriptors_is_transient() {
        let store = LocalStore::new(scratch("emfile")).unwrap();
        let key = ObjectKey::new("a.jpg").unwrap();
        for errno in [23, 24] {
            let error = store.io_error("get", &key, io::Error::from_raw_os_error(errno));
            assert!(error.is_retryable(), "{errno}: {error:?}");
        }
        let error = store.io_error("get", &key, io::Error::from_raw_os_error(5));
        assert!(!error.is_retryable(), "EIO: {error:?}");
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
        // Refused (the link is not a folder of the store), and for good: not worth a retry.
        assert!(
            matches!(
                written,
                Err(StorageError::AccessDenied { .. } | StorageError::Permanent { .. })
            ),
            "{written:?}"
        );
        assert!(!outside.join("new.txt").exists());

        // A link as the object itself: not read through, and a write replaces the link, never
        // the file it names.
        std::os::unix::fs::symlink(outside.join("secret.txt"), store.root().join("file.txt"))
            .unwrap();
        let file = ObjectKey::new("file.txt").unwrap();
        assert!(matches!(
            store.get(&file, 1 << 20).await,
            Err(StorageError::AccessDenied { .. })
        ));
        store
            .put(&file, b"mine".to_vec(), &PutOptions::default())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(outside.join("secret.txt")).unwrap(),
            b"secret"
        );
        assert_eq!(store.get(&file, 10).await.unwrap().bytes, b"mine");
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

        // Replaced by hand with a file of the very same size: the size alone would not tell.
        store
            .put(&key, b"first".to_vec(), &PutOptions::new("text/plain"))
            .await
            .unwrap();
        std::fs::write(base.join("other"), b"fir5t").unwrap();
        std::fs::rename(base.join("other"), base.join("a.txt")).unwrap();
        let info = store.head(&key).await.unwrap().unwrap();
        assert_eq!(info.etag, content_etag(b"fir5t"));
        assert_eq!(info.content_type, None);
        let object = store.get(&key, 100).await.unwrap();
        assert_eq!(object.info.etag, content_etag(b"fir5t"));

        // Metadata written before inodes were recorded is still read, checked by size.
        std::fs::create_dir_all(base.join(".thumbnail-meta")).unwrap();
        std::fs::write(
            base.join(".thumbnail-meta/a.txt.json"),
            r#"{"size":5,"etag":"old","content_type":"text/plain","cache_control":null,"metadata":{}}"#,
        )
        .unwrap();
        let info = store.head(&key).await.unwrap().unwrap();
        assert_eq!(
            (info.etag.as_str(), info.content_type.as_deref()),
            ("old", Some("text/plain"))
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// The metadata attribute of the file at `path`, if it has one.
    fn attribute(path: &Path) -> Option<String> {
        let mut buffer = vec![0; 4096];
        let len = rustix::fs::getxattr(path, META_ATTRIBUTE, &mut buffer).ok()?;
        buffer.truncate(len);
        Some(String::from_utf8(buffer).unwrap())
    }

    #[tokio::test]
    async fn metadata_goes_with_the_file_or_when_too_large_beside_it() {
        let base = scratch("attribute");
        let store = LocalStore::new(&base).unwrap();
        let key = ObjectKey::new("a/b.jpg").unwrap();
        let options = PutOptions::new("image/jpeg").with_metadata("preset", "profile");
        store.put(&key, b"jpeg".to_vec(), &options).await.unwrap();
        // On the file itself: no metadata file.
        assert!(!base.join(META_DIR).exists());
        assert!(
            attribute(&base.join("a/b.jpg"))
                .unwrap()
                .contains("profile")
        );
        let info = store.head(&key).await.unwrap().unwrap();
        assert_eq!(info.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(info.metadata["preset"], "profile");
        assert_eq!(info.etag, content_etag(b"jpeg"));

        // Rewritten in place: the attribute stays on the file, but no longer describes it.
        std::fs::write(base.join("a/b.jpg"), b"other").unwrap();
        let info = store.head(&key).await.unwrap().unwrap();
        assert_eq!(
            (info.content_type, info.etag),
            (None, content_etag(b"other"))
        );

        // More than the attribute holds: a metadata file, read back the same.
        let large = PutOptions::new("image/jpeg").with_metadata("note", "x".repeat(4 << 10));
        store.put(&key, b"jpeg".to_vec(), &large).await.unwrap();
        assert!(base.join(".thumbnail-meta/a/b.jpg.json").is_file());
        assert_eq!(attribute(&base.join("a/b.jpg")), None);
        let info = store.head(&key).await.unwrap().unwrap();
        assert_eq!(info.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(info.metadata["note"].len(), 4 << 10);
        assert_eq!(info.etag, content_etag(b"jpeg"));

        // Back to small: the attribute wins over the metadata file left from before.
        store
            .put(&key, b"png".to_vec(), &PutOptions::new("image/png"))
            .await
            .unwrap();
        let info = store.head(&key).await.unwrap().unwrap();
        assert_eq!(info.content_type.as_deref(), Some("image/png"));
        assert!(info.metadata.is_empty());
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
