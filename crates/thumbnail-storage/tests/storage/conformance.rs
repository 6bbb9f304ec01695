//! The storage conformance suite against every implementation. The S3 run needs an S3-compatible
//! server: `scripts/test` starts moto on loopback (see `thumbnail_test_aws::config`).

use std::time::Duration;

use thumbnail_storage::{
    LocalStore, MemoryStore, ObjectKey, ObjectStore, PutOptions, S3Store, StorageError, conformance,
};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run(&MemoryStore::new("memory")).await;
}

#[tokio::test]
async fn local_store_conforms() {
    let root = std::env::temp_dir().join(format!(
        "thumbnail-storage-conformance-{}",
        std::process::id()
    ));
    conformance::run(&LocalStore::new(&root).unwrap()).await;
    std::fs::remove_dir_all(root).unwrap();
}

/// An S3 store on a fresh bucket of the test server, or `None` (with a note) when there is none.
async fn s3_store() -> Option<S3Store> {
    let config = thumbnail_test_aws::config().await?;
    Some(thumbnail_test_aws::bucket(&config, &conformance::unique_prefix()).await)
}

#[tokio::test]
async fn s3_store_conforms() {
    if let Some(store) = s3_store().await {
        conformance::run(&store).await;
    }
}

#[tokio::test]
async fn s3_preview_urls_are_signed_and_capped_at_seven_days() {
    let Some(store) = s3_store().await else {
        return;
    };
    let key = ObjectKey::new("signed/photo.jpg").unwrap();
    store
        .put(&key, b"x".to_vec(), &PutOptions::new("image/jpeg"))
        .await
        .unwrap();
    let query = |url: &str, name: &str| {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let url = store
        .preview_url(&key, Duration::from_secs(24 * 3600))
        .await
        .unwrap();
    assert_eq!(
        query(&url, "X-Amz-Expires").as_deref(),
        Some("86400"),
        "{url}"
    );
    assert_eq!(
        query(&url, "X-Amz-Algorithm").as_deref(),
        Some("AWS4-HMAC-SHA256")
    );
    assert!(
        query(&url, "X-Amz-Signature").is_some_and(|s| s.len() == 64),
        "{url}"
    );
    assert!(
        query(&url, "X-Amz-Credential").is_some_and(|c| c.starts_with("testing/")),
        "{url}"
    );
    let capped = store
        .preview_url(&key, Duration::from_secs(30 * 24 * 3600))
        .await
        .unwrap();
    assert_eq!(query(&capped, "X-Amz-Expires").as_deref(), Some("604800"));
}

#[tokio::test]
async fn s3_unreachable_endpoint_is_retryable() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    // A port nothing listens on: connection refused, after the SDK's own retries.
    // (Set on the S3 configuration: AWS_ENDPOINT_URL in the environment outranks a shared-config override.)
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .endpoint_url("http://127.0.0.1:9")
        .force_path_style(true)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    let store = S3Store::from_client(aws_sdk_s3::Client::from_conf(s3_config), "nowhere");
    let error = store
        .get(&ObjectKey::new("k").unwrap(), 10)
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

/// An S3-compatible server that answers every GET with a chunked body and no `Content-Length`
/// (as some servers and proxies do): 3000 bytes in three chunks. Serves `requests` connections.
fn chunked_server(requests: usize) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            let mut response = b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Type: image/jpeg\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec();
            for _ in 0..3 {
                response.extend_from_slice(b"3e8\r\n");
                response.extend_from_slice(&[7u8; 1000]);
                response.extend_from_slice(b"\r\n");
            }
            response.extend_from_slice(b"0\r\n\r\n");
            // The client may hang up first (on a refusal): not this server's failure.
            let _ = stream.write_all(&response);
        }
    });
    port
}

#[tokio::test]
async fn s3_body_without_content_length_is_counted_against_the_limit() {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let port = chunked_server(2);
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-3"))
        .credentials_provider(Credentials::new("id", "secret", None, None, "test"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .force_path_style(true)
        .build();
    let store = S3Store::from_client(aws_sdk_s3::Client::from_conf(config), "chunked");
    let key = ObjectKey::new("photo.jpg").unwrap();
    match store.get(&key, 1500).await {
        Err(StorageError::TooLarge { size, limit, .. }) => {
            assert_eq!(limit, 1500);
            assert!(size > 1500, "{size}");
        }
        other => panic!(
            "a 3000-byte body read under a 1500-byte limit: {:?}",
            other.map(|object| object.bytes.len())
        ),
    }
    let object = store.get(&key, 10_000).await.unwrap();
    assert_eq!((object.bytes.len(), object.info.size), (3000, 3000));
}
