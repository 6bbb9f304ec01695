//! Whole queue messages: several records, failures announced, and the message settled on real
//! (in-memory) queues.

use std::time::Duration;

use crate::common::MockNotifier;
use thumbnail_core::Presets;
use thumbnail_notify::{MemoryNotifier, NotifyError};
use thumbnail_pipeline::{
    Disposition, FAILURE_CODES, FAILURE_REASON, FailureReason, MAX_RECEIVES, Pipeline,
    PipelineConfig, retry_delay, settle,
};
use thumbnail_queue::{MemoryQueue, OutgoingMessage, Queue, ReceiveOptions};
use thumbnail_storage::{MemoryStore, ObjectKey, ObjectStore, PutOptions};
use thumbnail_tests::{JpegOptions, jpeg, quadrants};

fn event(records: &[(&str, &str)]) -> String {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(name, key)| serde_json::json!({"eventName": name, "s3": {"bucket": {"name": "uploads"}, "object": {"key": key}}}))
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

async fn pipeline_with(
    files: &[(&str, Vec<u8>)],
) -> Pipeline<MemoryStore, MemoryStore, MemoryNotifier> {
    let source = MemoryStore::with_objects("uploads", files).unwrap();
    let specs = vec![Presets::builtin().require("profile").unwrap().clone()];
    Pipeline::new(
        source,
        MemoryStore::new("thumbs"),
        MemoryNotifier::new(),
        PipelineConfig::new(specs),
        2,
    )
}

#[tokio::test]
async fn a_bad_record_is_announced_and_dead_lettered_without_losing_the_good_ones() {
    let good = jpeg(&quadrants(400, 300), &JpegOptions::default());
    let pipeline = pipeline_with(&[
        ("My Photo é+1.jpg", good.clone()),
        ("broken.jpg", good[..good.len() / 2].to_vec()),
    ])
    .await;
    let body = event(&[
        ("ObjectCreated:Put", "My+Photo+%C3%A9%2B1.jpg"),
        ("ObjectCreated:Put", "broken.jpg"),
        ("ObjectRemoved:Delete", "gone.jpg"),
    ]);
    let disposition = pipeline.handle(&body, 1).await;
    let Disposition::DeadLetter { reason, .. } = disposition else {
        panic!("{disposition:?}")
    };
    assert!(
        reason.contains("broken.jpg") && reason.contains("corrupt"),
        "{reason}"
    );
    assert!(
        pipeline
            .dest()
            .exists(&ObjectKey::new("My Photo é+1.jpg/profile.jpg").unwrap())
            .await
            .unwrap()
    );
    let published = pipeline.notifier().published();
    let subjects: Vec<&str> = published.iter().map(|n| n.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "Thumbnails ready: My Photo ?+1.jpg",
            "Thumbnails failed: broken.jpg"
        ]
    );
    assert!(
        published[1].data["error"]
            .as_str()
            .unwrap()
            .contains("corrupt")
    );
    assert_eq!(published[1].data["reason"], "corrupt");
}

#[tokio::test]
async fn a_message_received_too_often_is_given_up_on_without_decoding() {
    let photo = jpeg(&quadrants(400, 300), &JpegOptions::default());
    let body = event(&[("ObjectCreated:Put", "cat.jpg")]);

    let pipeline = pipeline_with(&[("cat.jpg", photo.clone())]).await;
    let disposition = pipeline.handle(&body, MAX_RECEIVES).await;
    let Disposition::DeadLetter { reason, .. } = disposition else {
        panic!("{disposition:?}")
    };
    assert!(reason.contains("received 5 times"), "{reason}");
    assert!(pipeline.dest().keys().is_empty(), "nothing decoded");
    let published = pipeline.notifier().published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].subject, "Thumbnails failed: cat.jpg");
    assert_eq!(published[0].data["reason"], "too_many_receives");

    // Before the last receive it is still worked on.
    let pipeline = pipeline_with(&[("cat.jpg", photo)]).await;
    assert_eq!(
        pipeline.handle(&body, MAX_RECEIVES - 1).await,
        Disposition::Ack
    );
    assert!(!pipeline.dest().keys().is_empty());
}

/// An event naming another bucket must not be served from this one: had the source bucket an
/// object of that key, its thumbnails would be announced as the other bucket's upload.
#[tokio::test]
async fn an_event_naming_another_bucket_is_refused_and_nothing_read() {
    let photo = jpeg(&quadrants(400, 300), &JpegOptions::default());
    let source = MemoryStore::with_objects("uploads", &[("secret.jpg", photo)]).unwrap();
    let mut config =
        PipelineConfig::new(vec![Presets::builtin().require("profile").unwrap().clone()]);
    config.source_bucket = Some("uploads".into());
    let pipeline = Pipeline::new(
        source,
        MemoryStore::new("thumbs"),
        MemoryNotifier::new(),
        config,
        1,
    );
    let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"someone-elses"},"object":{"key":"secret.jpg"}}}]}"#;
    let Disposition::DeadLetter { reason, .. } = pipeline.handle(body, 1).await else {
        panic!("not dead-lettered")
    };
    assert!(reason.contains("someone-elses"), "{reason}");
    assert!(pipeline.dest().keys().is_empty(), "nothing made");
    let published = pipeline.notifier().published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].data["reason"], "foreign_bucket");
    assert_eq!(published[0].data["source"]["bucket"], "someone-elses");
    // The same key from the source bucket is made.
    let body = body.replace("someone-elses", "uploads");
    assert_eq!(pipeline.handle(&body, 1).await, Disposition::Ack);
    assert!(!pipeline.dest().keys().is_empty());
}

#[tokio::test]
async fn test_events_and_other_events_are_acknowledged() {
    let pipeline = pipeline_with(&[]).await;
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"uploads"}"#;
    assert_eq!(pipeline.handle(test_event, 1).await, Disposition::Ack);
    assert_eq!(
        pipeline
            .handle(&event(&[("ObjectRemoved:Delete", "x.jpg")]), 1)
            .await,
        Disposition::Ack
    );
    assert!(pipeline.notifier().published().is_empty());
}

#[tokio::test]
async fn a_message_that_is_not_an_event_is_dead_lettered() {
    let pipeline = pipeline_with(&[]).await;
    let Disposition::DeadLetter { reason, .. } = pipeline.handle("hello", 1).await else {
        panic!()
    };
    assert!(reason.contains("not JSON"), "{reason}");
}

#[tokio::test]
async fn a_missing_source_is_dead_lettered() {
    let pipeline = pipeline_with(&[]).await;
    let missing = pipeline
        .handle(&event(&[("ObjectCreated:Put", "nope.jpg")]), 1)
        .await;
    assert!(
        matches!(missing, Disposition::DeadLetter { ref reason, .. } if reason.contains("not found")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_outage_asks_for_a_retry_later_each_time_later() {
    let source = MemoryStore::new("uploads");
    let good = jpeg(&quadrants(400, 300), &JpegOptions::default());
    source
        .put(
            &ObjectKey::new("cat.jpg").unwrap(),
            good,
            &PutOptions::new("image/jpeg"),
        )
        .await
        .unwrap();
    let mut notifier = MockNotifier::new();
    notifier.expect_publish().returning(|_| {
        Err(NotifyError::Transient {
            target: "topic".into(),
            message: "throttled".into(),
        })
    });
    let specs = vec![Presets::builtin().require("profile").unwrap().clone()];
    let pipeline = Pipeline::new(
        source,
        MemoryStore::new("thumbs"),
        notifier,
        PipelineConfig::new(specs),
        1,
    );
    let body = event(&[("ObjectCreated:Put", "cat.jpg")]);
    assert_eq!(
        pipeline.handle(&body, 1).await,
        Disposition::Retry {
            delay: retry_delay(1)
        }
    );
    assert_eq!(
        pipeline.handle(&body, 3).await,
        Disposition::Retry {
            delay: retry_delay(3)
        }
    );
    assert!(retry_delay(3) > retry_delay(1));
    // On the last receive the message is dead-lettered, though its failure cannot be announced
    // either: an outage of the notifier must not keep it in the queue for ever.
    let Disposition::DeadLetter { reason, codes } = pipeline.handle(&body, MAX_RECEIVES).await
    else {
        panic!("not dead-lettered on the last receive")
    };
    assert_eq!(codes, [FailureReason::TooManyReceives]);
    assert!(
        reason.contains("received 5 times")
            && reason.contains("not announced: ")
            && reason.contains("throttled"),
        "{reason}"
    );
}

#[tokio::test]
async fn settling_acks_releases_and_dead_letters_with_the_reason() {
    let queue = MemoryQueue::new("jobs");
    let dead = MemoryQueue::new("dead");
    let options = ReceiveOptions {
        max_messages: 10,
        wait: Duration::ZERO,
        visibility: Duration::from_secs(30),
    };
    for body in ["ack me", "retry me", "bury me"] {
        queue.send(OutgoingMessage::new(body)).await.unwrap();
    }
    let mut deliveries = queue.receive(&options).await.unwrap();
    assert_eq!(deliveries.len(), 3);
    let bury = deliveries.pop().unwrap();
    let retry = deliveries.pop().unwrap();
    let ack = deliveries.pop().unwrap();
    settle(&queue, Some(&dead), ack, Disposition::Ack)
        .await
        .unwrap();
    settle(
        &queue,
        Some(&dead),
        retry,
        Disposition::Retry {
            delay: Duration::ZERO,
        },
    )
    .await
    .unwrap();
    settle(
        &queue,
        Some(&dead),
        bury,
        Disposition::DeadLetter {
            reason: "corrupt jpeg data".into(),
            codes: vec![FailureReason::Corrupt, FailureReason::WontFit],
        },
    )
    .await
    .unwrap();

    let again = queue.receive(&options).await.unwrap();
    assert_eq!(
        again
            .iter()
            .map(|d| (d.body.as_str(), d.receive_count))
            .collect::<Vec<_>>(),
        [("retry me", 2)]
    );
    let buried = dead.receive(&options).await.unwrap();
    assert_eq!(buried.len(), 1);
    assert_eq!(
        (
            buried[0].body.as_str(),
            buried[0].attributes[FAILURE_REASON].as_str(),
            buried[0].attributes[FAILURE_CODES].as_str()
        ),
        ("bury me", "corrupt jpeg data", "corrupt,wont_fit")
    );

    // Without a dead-letter queue, a dead letter is acknowledged so it cannot poison the queue.
    queue
        .release(again.into_iter().next().unwrap(), Duration::ZERO)
        .await
        .unwrap();
    let last = queue.receive(&options).await.unwrap().remove(0);
    settle(
        &queue,
        None,
        last,
        Disposition::DeadLetter {
            reason: "x".into(),
            codes: vec![FailureReason::Corrupt],
        },
    )
    .await
    .unwrap();
    assert!(queue.is_empty());
}
