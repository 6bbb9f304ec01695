//! The queue conformance suite against every implementation. The SQS run needs an SQS-compatible
//! server: `scripts/test` starts moto on loopback (see `thumbnail_test_aws::config`).

use thumbnail_queue::{LocalQueue, MemoryQueue, SqsQueue, conformance};

#[tokio::test]
async fn memory_queue_conforms() {
    conformance::run(&MemoryQueue::new("memory")).await;
}

#[tokio::test]
async fn local_queue_conforms() {
    let root = std::env::temp_dir().join(format!(
        "thumbnail-queue-conformance-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    conformance::run(&LocalQueue::open(&root).unwrap()).await;
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn sqs_queue_conforms() {
    let Some(config) = thumbnail_test_aws::config().await else {
        return;
    };
    let client = aws_sdk_sqs::Client::new(&config);
    let name = format!(
        "conformance-{}-{}",
        std::process::id(),
        thumbnail_queue_test_suffix()
    );
    thumbnail_test_aws::queue(&config, &name).await;
    // By name, as THUMBNAIL_QUEUE may give it.
    let queue = SqsQueue::from_client(client, &name)
        .await
        .expect("the queue is found by name");
    conformance::run(&queue).await;

    let missing = SqsQueue::from_client(aws_sdk_sqs::Client::new(&config), "no-such-queue").await;
    assert!(
        matches!(missing, Err(thumbnail_queue::QueueError::NotFound { .. })),
        "{missing:?}"
    );
}

fn thumbnail_queue_test_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
