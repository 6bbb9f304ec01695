//! The behaviour every [`ObjectStore`] must have, written once and run against each implementation.
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     thumbnail_storage::conformance::run(&MyStore::new(...)).await;
//! }
//! ```
//!
//! Each run uses keys under a fresh prefix, so runs can share a bucket. Failures panic with what was
//! expected, as tests do.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::{ObjectKey, ObjectStore, PutOptions, StorageError};

/// Runs every check against `store`.
pub async fn run(store: &dyn ObjectStore) {
    let prefix = unique_prefix();
    round_trip_keeps_bytes_and_metadata(store, &prefix).await;
    a_file_is_stored_as_its_bytes(store, &prefix).await;
    awkward_keys_round_trip(store, &prefix).await;
    size_limit_refuses_before_reading(store, &prefix).await;
    prefix_reads_the_head_only(store, &prefix).await;
    missing_objects_are_not_found(store, &prefix).await;
    overwrite_replaces_content_and_etag(store, &prefix).await;
    preview_url_serves_the_content(store, &prefix).await;
    listing_pages_through_a_prefix(store, &prefix).await;
}

/// [`ObjectStore::put_file`] stores the whole file, from its start wherever its cursor was, as
/// [`ObjectStore::put`] would store its bytes.
pub async fn a_file_is_stored_as_its_bytes(store: &dyn ObjectStore, prefix: &str) {
    use std::io::Write;
    let key = key(prefix, "from-a-file.png");
    let bytes: Vec<u8> = (0..=250u8).cycle().take(300_000).collect();
    let path = std::env::temp_dir().join(format!("{prefix}-put-file"));
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("a temporary file");
    std::fs::remove_file(&path).expect("unlinked, still open");
    file.write_all(&bytes).expect("written");
    let options = PutOptions::new("image/png").with_metadata("owner", "alice");
    let put = store
        .put_file(&key, file, &options)
        .await
        .expect("put_file");
    assert_eq!(put.size, 300_000);
    assert_eq!(put.etag, crate::content_etag(&bytes));
    let got = store.get(&key, 1 << 20).await.expect("get");
    assert!(got.bytes == bytes, "the file's bytes, whole");
    assert_eq!(got.info.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        got.info.metadata.get("owner").map(String::as_str),
        Some("alice")
    );
    assert_eq!(got.info.etag, put.etag);
}

/// A prefix no other run uses.
pub fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("conformance-{nanos}-{}", std::process::id())
}

fn key(prefix: &str, name: &str) -> ObjectKey {
    ObjectKey::new(format!("{prefix}/{name}")).expect("valid test key")
}

/// Bytes, content type, cache control, metadata and ETag survive a put and a get.
pub async fn round_trip_keeps_bytes_and_metadata(store: &dyn ObjectStore, prefix: &str) {
    let key = key(prefix, "round-trip.jpg");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let options = PutOptions::new("image/jpeg")
        .with_cache_control("public, max-age=31536000, immutable")
        .with_metadata("source-etag", "abc123")
        .with_metadata("Preset", "profile");
    let put = store.put(&key, bytes.clone(), &options).await.expect("put");
    assert_eq!(put.size, 70_000);
    assert_eq!(
        put.etag,
        crate::content_etag(&bytes),
        "the ETag is the content's MD5"
    );

    let object = store.get(&key, 1 << 20).await.expect("get");
    assert_eq!(object.bytes, bytes, "bytes round trip");
    assert_eq!(object.info.size, 70_000);
    assert_eq!(object.info.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        object.info.cache_control.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        object.info.metadata.get("source-etag").map(String::as_str),
        Some("abc123")
    );
    assert_eq!(
        object.info.metadata.get("preset").map(String::as_str),
        Some("profile"),
        "keys lower-cased"
    );
    assert_eq!(object.info.etag, put.etag);

    let head = store.head(&key).await.expect("head").expect("exists");
    assert_eq!(
        (head.size, &head.etag, &head.metadata),
        (70_000, &put.etag, &object.info.metadata)
    );
    assert!(store.exists(&key).await.expect("exists"));
}

/// A listing gives every key under a prefix once, in byte order, with its size and ETag, over as
/// many pages as it takes, and nothing outside the prefix.
pub async fn listing_pages_through_a_prefix(store: &dyn ObjectStore, prefix: &str) {
    let names = [
        "a.jpg",
        "a/b.jpg",
        "a/c/d.png",
        "b b+c%.jpg",
        "caf\u{e9}.jpg",
        "z.webp",
    ];
    for (i, name) in names.iter().enumerate() {
        store
            .put(
                &key(prefix, &format!("listed/{name}")),
                vec![b'x'; i + 1],
                &PutOptions::new("text/plain"),
            )
            .await
            .unwrap_or_else(|e| panic!("put {name:?}: {e}"));
    }
    // A sibling whose name extends the prefix's last segment: not under `listed/`.
    store
        .put(
            &key(prefix, "listed-not/x.jpg"),
            b"no".to_vec(),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    let under = format!("{prefix}/listed/");
    let mut listed = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .list(&under, after.as_deref(), 4)
            .await
            .unwrap_or_else(|e| panic!("list after {after:?}: {e}"));
        pages += 1;
        assert!(page.objects.len() <= 4, "a page holds at most the limit");
        assert!(page.unnamed.is_empty(), "{:?}", page.unnamed);
        listed.extend(page.objects);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "the listing never ends");
    }
    assert_eq!(pages, 2, "six keys in pages of four");
    let mut expected: Vec<String> = names.iter().map(|n| format!("{under}{n}")).collect();
    expected.sort();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, expected, "every key once, in byte order");
    for object in &listed {
        let i = names
            .iter()
            .position(|n| object.key.as_str().ends_with(n))
            .expect("a listed name");
        assert_eq!(object.size, i as u64 + 1, "{}", object.key);
        assert_eq!(
            object.etag,
            crate::content_etag(&vec![b'x'; i + 1]),
            "{}",
            object.key
        );
    }
    let single = store.list(&under, None, 1).await.expect("list");
    assert_eq!(
        (single.objects.len(), single.next.as_deref()),
        (1, Some(expected[0].as_str()))
    );
    let none = store
        .list(&format!("{prefix}/nothing-here/"), None, 10)
        .await
        .expect("an empty listing");
    assert_eq!(none, crate::ListPage::default());
}

/// Spaces, `+`, `%`, unicode in both normal forms and deep prefixes are kept exactly.
pub async fn awkward_keys_round_trip(store: &dyn ObjectStore, prefix: &str) {
    let names = [
        "My Photo é+1.jpg",
        "100% real %2B plus+sign.png",
        "a/b/c/d/e/f/g/h/deep.jpg",
        "NFC caf\u{e9}.jpg",
        "NFD cafe\u{301}.jpg",
        "日本語/写真.webp",
    ];
    for name in names {
        let key = key(prefix, name);
        store
            .put(
                &key,
                name.as_bytes().to_vec(),
                &PutOptions::new("text/plain"),
            )
            .await
            .unwrap_or_else(|e| panic!("put {name:?}: {e}"));
    }
    for name in names {
        let object = store
            .get(&key(prefix, name), 1 << 20)
            .await
            .unwrap_or_else(|e| panic!("get {name:?}: {e}"));
        assert_eq!(
            object.bytes,
            name.as_bytes(),
            "{name:?} kept its own content"
        );
    }
}

/// An object over the limit is refused with its size, and nothing else is lost.
pub async fn size_limit_refuses_before_reading(store: &dyn ObjectStore, prefix: &str) {
    let key = key(prefix, "big.bin");
    store
        .put(&key, vec![7; 10_000], &PutOptions::default())
        .await
        .expect("put");
    match store.get(&key, 9_999).await {
        Err(StorageError::TooLarge { size, limit, .. }) => {
            assert_eq!((size, limit), (10_000, 9_999))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        store
            .get(&key, 10_000)
            .await
            .expect("at the limit")
            .bytes
            .len(),
        10_000
    );
}

/// `get_prefix` returns the first bytes and the whole size, all of a short object, nothing of an
/// empty one, and `NotFound` for a missing one.
pub async fn prefix_reads_the_head_only(store: &dyn ObjectStore, prefix: &str) {
    let long = key(prefix, "prefix/long.bin");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let stored = store
        .put(&long, bytes.clone(), &PutOptions::new("image/jpeg"))
        .await
        .expect("put");
    let head = store.get_prefix(&long, 4096).await.expect("get_prefix");
    assert_eq!(head.bytes, bytes[..4096]);
    assert_eq!((head.info.size, head.info.etag), (100_000, stored.etag));

    let short = key(prefix, "prefix/short.bin");
    store
        .put(&short, b"tiny".to_vec(), &PutOptions::default())
        .await
        .expect("put");
    let all = store.get_prefix(&short, 4096).await.expect("get_prefix");
    assert_eq!((all.bytes.as_slice(), all.info.size), (&b"tiny"[..], 4));

    let empty = key(prefix, "prefix/empty.bin");
    store
        .put(&empty, Vec::new(), &PutOptions::default())
        .await
        .expect("put");
    let none = store.get_prefix(&empty, 4096).await.expect("get_prefix");
    assert_eq!((none.bytes.len(), none.info.size), (0, 0));

    match store.get_prefix(&key(prefix, "prefix/missing"), 10).await {
        Err(StorageError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Missing objects: `NotFound` from get (not retryable), `None` from head.
pub async fn missing_objects_are_not_found(store: &dyn ObjectStore, prefix: &str) {
    let key = key(prefix, "never-written.jpg");
    match store.get(&key, 1 << 20).await {
        Err(error @ StorageError::NotFound { .. }) => assert!(!error.is_retryable()),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.head(&key).await.expect("head"), None);
    assert!(!store.exists(&key).await.expect("exists"));
}

/// A second put replaces content, ETag and metadata.
pub async fn overwrite_replaces_content_and_etag(store: &dyn ObjectStore, prefix: &str) {
    let key = key(prefix, "overwrite.txt");
    let first = store
        .put(
            &key,
            b"first".to_vec(),
            &PutOptions::new("text/plain").with_metadata("n", "1"),
        )
        .await
        .expect("put");
    let second = store
        .put(
            &key,
            b"second".to_vec(),
            &PutOptions::new("text/plain").with_metadata("n", "2"),
        )
        .await
        .expect("put");
    assert_ne!(first.etag, second.etag);
    let object = store.get(&key, 100).await.expect("get");
    assert_eq!(
        (object.bytes.as_slice(), object.info.etag.as_str()),
        (&b"second"[..], second.etag.as_str())
    );
    assert_eq!(object.info.metadata["n"], "2");
}

/// The preview URL, fetched as a person's browser would, gives the content.
pub async fn preview_url_serves_the_content(store: &dyn ObjectStore, prefix: &str) {
    let key = key(prefix, "preview me.jpg");
    store
        .put(
            &key,
            b"preview bytes".to_vec(),
            &PutOptions::new("image/jpeg"),
        )
        .await
        .expect("put");
    let url = store
        .preview_url(&key, Duration::from_secs(3600))
        .await
        .expect("preview_url");
    let fetched = tokio::task::spawn_blocking(move || fetch(&url))
        .await
        .expect("fetch task");
    assert_eq!(fetched, b"preview bytes");
}

/// Fetches an `http(s)://`, `file://` or `data:` URL.
pub fn fetch(url: &str) -> Vec<u8> {
    if let Some(data) = url.strip_prefix("data:") {
        let (_, encoded) = data.split_once(";base64,").expect("a base64 data URL");
        return base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("valid base64");
    }
    let parsed = url::Url::parse(url).expect("a valid URL");
    match parsed.scheme() {
        "file" => {
            std::fs::read(parsed.to_file_path().expect("a file path")).expect("readable file")
        }
        "http" | "https" => {
            let mut response = ureq::get(url)
                .call()
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            assert_eq!(response.status(), 200, "GET {url}");
            response.body_mut().read_to_vec().expect("a body")
        }
        other => panic!("cannot fetch a {other}: URL"),
    }
}

/// A store whose downloads (`get`) of keys containing `stall` never finish, as a transfer that hangs
/// mid-body would: for tests of deadlines. Everything else goes to the wrapped store.
#[derive(Debug)]
pub struct Stalling<S>(pub S);

#[async_trait::async_trait]
impl<S: ObjectStore> ObjectStore for Stalling<S> {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<crate::Object, StorageError> {
        if key.as_str().contains("stall") {
            std::future::pending::<()>().await;
        }
        self.0.get(key, max_bytes).await
    }

    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<crate::Object, StorageError> {
        self.0.get_prefix(key, len).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<crate::ObjectInfo>, StorageError> {
        self.0.head(key).await
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<crate::ObjectInfo, StorageError> {
        self.0.put(key, bytes, options).await
    }

    async fn preview_url(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        self.0.preview_url(key, expires_in).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<crate::ListPage, StorageError> {
        self.0.list(prefix, start_after, limit).await
    }
}
