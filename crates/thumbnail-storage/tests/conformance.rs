//! The storage conformance suite against every implementation. The S3 run needs an S3-compatible
//! server: `scripts/test` starts moto on loopback (see `thumbnail_test_aws::config`).

use std::time::Duration;

use thumbnail_storage::{
    LocalStore, MemoryStore, ObjectKey, ObjectStore, PutOptions, S3Store, conformance,
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
