//! Objects in a map: for tests, and for anyone embedding the pipeline without a disk.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;

use crate::{
    ListPage, Object, ObjectInfo, ObjectKey, ObjectStore, PutOptions, StorageError, content_etag,
    page_of,
};

/// An in-memory bucket. Preview URLs are `data:` URLs carrying the content itself.
#[derive(Debug, Default)]
pub struct MemoryStore {
    name: String,
    objects: Mutex<BTreeMap<ObjectKey, Object>>,
}

impl MemoryStore {
    /// An empty store called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        MemoryStore {
            name: name.into(),
            objects: Mutex::default(),
        }
    }

    /// A store called `name` holding `objects` (key, bytes), e.g. a test's uploads.
    pub fn with_objects(
        name: impl Into<String>,
        objects: &[(&str, Vec<u8>)],
    ) -> Result<Self, StorageError> {
        let store = MemoryStore::new(name);
        for (key, bytes) in objects {
            store.store(
                &ObjectKey::new(*key)?,
                bytes.clone(),
                &PutOptions::default(),
            );
        }
        Ok(store)
    }

    /// Writes an object (what `put` does, without the `async`).
    fn store(&self, key: &ObjectKey, bytes: Vec<u8>, options: &PutOptions) -> ObjectInfo {
        let info = ObjectInfo {
            key: key.clone(),
            size: bytes.len() as u64,
            content_type: options.content_type.clone(),
            cache_control: options.cache_control.clone(),
            etag: content_etag(&bytes),
            version: None,
            metadata: options.metadata.clone(),
        };
        self.lock().insert(
            key.clone(),
            Object {
                info: info.clone(),
                bytes,
            },
        );
        info
    }

    /// The keys stored, sorted.
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ObjectKey, Object>> {
        // A panic while holding the lock cannot leave a half-written entry (inserts are single
        // calls), so a poisoned map is still consistent.
        self.objects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn not_found(&self, key: &ObjectKey) -> StorageError {
        StorageError::NotFound {
            store: self.name.clone(),
            key: key.to_string(),
        }
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<Object, StorageError> {
        let objects = self.lock();
        let object = objects.get(key).ok_or_else(|| self.not_found(key))?;
        if object.info.size > max_bytes {
            return Err(StorageError::TooLarge {
                store: self.name.clone(),
                key: key.to_string(),
                size: object.info.size,
                limit: max_bytes,
            });
        }
        Ok(object.clone())
    }

    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<Object, StorageError> {
        let objects = self.lock();
        let object = objects.get(key).ok_or_else(|| self.not_found(key))?;
        let end = object
            .bytes
            .len()
            .min(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(Object {
            info: object.info.clone(),
            bytes: object.bytes[..end].to_vec(),
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        Ok(self.lock().get(key).map(|o| o.info.clone()))
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        Ok(self.store(key, bytes, options))
    }

    async fn preview_url(
        &self,
        key: &ObjectKey,
        _expires_in: Duration,
    ) -> Result<String, StorageError> {
        let objects = self.lock();
        let object = objects.get(key).ok_or_else(|| self.not_found(key))?;
        let content_type = object
            .info
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let data = base64::engine::general_purpose::STANDARD.encode(&object.bytes);
        Ok(format!("data:{content_type};base64,{data}"))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let objects = self.lock();
        let sorted = objects
            .iter()
            .map(|(key, o)| (key.to_string(), (o.info.size, o.info.etag.clone())));
        let (entries, next) = page_of(sorted, prefix, start_after, limit);
        let mut page = ListPage {
            next,
            ..ListPage::default()
        };
        for (key, (size, etag)) in entries {
            page.push(key, size, etag);
        }
        Ok(page)
    }
}
