//! The handler called directly with events built from real JSON samples: the SQS and SNS shapes AWS
//! documents, S3 records as AWS sends them and as moto does, on the in-memory backends.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use thumbnail_core::Presets;
use thumbnail_lambda::{DEADLINE_MARGIN, Handler, Invocation, InvocationError};
use thumbnail_notify::{MemoryNotifier, Notification, Notifier, NotifyError};
use thumbnail_pipeline::{FAILURE_REASON, Pipeline, PipelineConfig};
use thumbnail_queue::{MemoryQueue, Queue, ReceiveOptions};
use thumbnail_storage::conformance::Stalling;
use thumbnail_storage::{MemoryStore, ObjectStore};
use thumbnail_tests::{JpegOptions, fixture, jpeg, quadrants};

fn sample(path: &str) -> Value {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// An S3 event for `key` (encoded as S3 encodes it), from AWS's sample or moto's.
fn s3_event(shape: &str, key: &str) -> Value {
    let mut event = sample(&format!("../thumbnail-events/tests/samples/{shape}.json"));
    let record = &mut event["Records"][0];
    record["s3"]["bucket"]["name"] = json!("uploads");
    record["s3"]["object"]["key"] = json!(key.replace(' ', "+"));
    if let Some(object) = record["s3"]["object"].as_object_mut() {
        object.remove("eTag");
    }
    event
}

/// An SQS event of messages `(id, body)`, on AWS's sample.
fn sqs_event(messages: &[(&str, String)]) -> Value {
    let template = sample("tests/samples/sqs-event.json")["Records"][0].clone();
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(id);
            record["body"] = json!(body);
            record
        })
        .collect();
    json!({ "Records": records })
}

fn sns_event(message: &Value) -> Value {
    let mut event = sample("tests/samples/sns-event.json");
    event["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    event
}

/// Fails, as an outage would, to announce anything about a key containing "flaky".
#[derive(Debug, Default)]
struct FlakyNotifier(MemoryNotifier);

#[async_trait]
impl Notifier for FlakyNotifier {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        if notification.subject.contains("flaky") {
            return Err(NotifyError::Transient {
                target: "flaky".into(),
                message: "throttled".into(),
            });
        }
        self.0.publish(notification).await
    }
}

async fn handler(
    files: &[(&str, Vec<u8>)],
    dead_letters: Option<Arc<dyn Queue>>,
) -> Handler<MemoryStore, MemoryStore, FlakyNotifier> {
    let uploads = MemoryStore::with_objects("uploads", files).unwrap();
    let specs = vec![Presets::builtin().require("profile").unwrap().clone()];
    let pipeline = Pipeline::new(
        uploads,
        MemoryStore::new("thumbnails"),
        FlakyNotifier::default(),
        PipelineConfig::new(specs),
        1,
    );
    Handler::new(pipeline, dead_letters)
}

fn photo() -> Vec<u8> {
    jpeg(&quadrants(640, 480), &JpegOptions::default())
}

fn made<S: ObjectStore>(handler: &Handler<S, MemoryStore, FlakyNotifier>, key: &str) -> bool {
    handler
        .pipeline()
        .dest()
        .keys()
        .iter()
        .any(|k| k.as_str() == key)
}

#[tokio::test]
async fn an_sqs_batch_reports_only_the_messages_to_retry() {
    let dlq = Arc::new(MemoryQueue::new("dead-letters"));
    let handler = handler(
        &[
            ("photos/My Photo é+1.jpg", photo()),
            ("flaky.jpg", photo()),
            ("broken.jpg", photo()[..2000].to_vec()),
            ("moto.jpg", photo()),
            ("phone.heic", fixture("heif/rotated.heic")),
        ],
        Some(dlq.clone()),
    )
    .await;
    let test_event = sample("../thumbnail-events/tests/samples/moto-test-event.json");
    let event = sqs_event(&[
        (
            "good",
            s3_event("aws-object-created", "photos/My Photo %C3%A9%2B1.jpg").to_string(),
        ),
        (
            "flaky",
            s3_event("aws-object-created", "flaky.jpg").to_string(),
        ),
        (
            "broken",
            s3_event("aws-object-created", "broken.jpg").to_string(),
        ),
        (
            "moto",
            s3_event("moto-object-created", "moto.jpg").to_string(),
        ),
        (
            "heic",
            s3_event("aws-object-created", "phone.heic").to_string(),
        ),
        ("test-event", test_event.to_string()),
        ("not-an-event", "<html>".to_owned()),
    ]);

    let answer = handler.handle(event).await.unwrap();

    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "flaky"}]})
    );
    assert!(made(&handler, "photos/My Photo é+1.jpg/profile.jpg"));
    assert!(made(&handler, "moto.jpg/profile.jpg"));
    assert!(
        made(&handler, "phone.heic/profile.jpg"),
        "an iPhone-style HEIC"
    );
    assert!(!made(&handler, "broken.jpg/profile.jpg"));
    let subjects: Vec<String> = handler
        .pipeline()
        .notifier()
        .0
        .published()
        .into_iter()
        .map(|n| n.subject)
        .collect();
    // Three ready, one failed; the body that is no event names no object and is only dead-lettered.
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    // The two permanent failures wait in the dead-letter queue with their reasons.
    let buried = dlq
        .receive(&ReceiveOptions {
            max_messages: 10,
            wait: Duration::ZERO,
            visibility: Duration::from_secs(30),
        })
        .await
        .unwrap();
    let mut reasons: Vec<&str> = buried
        .iter()
        .map(|d| d.attributes[FAILURE_REASON].as_str())
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[0].contains("broken.jpg") && reasons[0].contains("corrupt"));
    assert!(reasons[1].contains("not JSON"), "{}", reasons[1]);
}

/// An SQS event Lambda could not have meant (a message id that is not a string) acknowledges
/// nothing: an error, so the whole batch comes back.
#[tokio::test]
async fn an_unreadable_sqs_event_is_an_error_not_an_empty_answer() {
    let handler = handler(&[("a.jpg", photo())], None).await;
    let mut event = sqs_event(&[("good", s3_event("aws-object-created", "a.jpg").to_string())]);
    event["Records"][0]["messageId"] = json!(42);
    assert!(matches!(
        handler.handle(event).await,
        Err(InvocationError::Retry(reason)) if reason.contains("unreadable SQS event")
    ));
}

#[tokio::test]
async fn a_direct_s3_event_fails_as_an_error_for_lambda_to_retry() {
    let handler = handler(
        &[
            ("a.jpg", photo()),
            ("flaky.jpg", photo()),
            ("broken.jpg", b"GIF89a not really".to_vec()),
        ],
        None,
    )
    .await;
    assert_eq!(
        handler
            .handle(s3_event("aws-object-created", "a.jpg"))
            .await
            .unwrap(),
        json!({})
    );
    assert!(made(&handler, "a.jpg/profile.jpg"));
    assert!(matches!(
        handler
            .handle(s3_event("moto-object-created", "flaky.jpg"))
            .await,
        Err(InvocationError::Retry(_))
    ));
    // Permanent, and no dead-letter queue: an error, so the on-failure destination gets it.
    match handler
        .handle(s3_event("aws-object-created", "broken.jpg"))
        .await
    {
        Err(InvocationError::Failed(reason)) => assert!(reason.contains("broken.jpg"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// Several SNS records, the first failing: the others are still made, then the failure reported.
#[tokio::test]
async fn an_sns_record_that_fails_does_not_stop_the_next() {
    let handler = handler(&[("flaky.jpg", photo()), ("b.jpg", photo())], None).await;
    let mut event = sns_event(&s3_event("aws-object-created", "flaky.jpg"));
    let mut second = event["Records"][0].clone();
    second["Sns"]["Message"] = json!(s3_event("aws-object-created", "b.jpg").to_string());
    event["Records"].as_array_mut().unwrap().push(second);
    assert!(matches!(
        handler.handle(event).await,
        Err(InvocationError::Retry(_))
    ));
    assert!(made(&handler, "b.jpg/profile.jpg"));
}

#[tokio::test]
async fn an_sns_wrapped_event_is_unwrapped() {
    let handler = handler(&[("from sns.jpg", photo())], None).await;
    let event = sns_event(&s3_event("aws-object-created", "from sns.jpg"));
    assert_eq!(handler.handle(event).await.unwrap(), json!({}));
    assert!(made(&handler, "from sns.jpg/profile.jpg"));
    // Delivered again: done already, nothing announced twice.
    let again = sns_event(&s3_event("aws-object-created", "from sns.jpg"));
    handler.handle(again).await.unwrap();
    assert_eq!(handler.pipeline().notifier().0.published().len(), 1);
}

/// A batch of ten photos, the `stall`th of which never finishes downloading, over a handler with
/// `job_timeout`.
fn stalling_batch(
    stall: usize,
    job_timeout: Duration,
) -> (
    Handler<Stalling<MemoryStore>, MemoryStore, FlakyNotifier>,
    Value,
) {
    let names: Vec<String> = (0..10)
        .map(|i| {
            if i == stall {
                "stall.jpg".to_owned()
            } else {
                format!("p{i}.jpg")
            }
        })
        .collect();
    let files: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (n.as_str(), photo())).collect();
    let pipeline = Pipeline::new(
        Stalling(MemoryStore::with_objects("uploads", &files).unwrap()),
        MemoryStore::new("thumbnails"),
        FlakyNotifier::default(),
        PipelineConfig::new(vec![Presets::builtin().require("profile").unwrap().clone()]),
        1,
    );
    let messages: Vec<(&str, String)> = names
        .iter()
        .map(|n| (n.as_str(), s3_event("aws-object-created", n).to_string()))
        .collect();
    let handler = Handler::new(pipeline, None).with_job_timeout(job_timeout);
    (handler, sqs_event(&messages))
}

/// The nine others are made; the stalled one alone is listed for a retry.
fn nine_made_one_to_retry(
    handler: &Handler<Stalling<MemoryStore>, MemoryStore, FlakyNotifier>,
    answer: &Value,
) {
    assert_eq!(
        answer,
        &json!({"batchItemFailures": [{"itemIdentifier": "stall.jpg"}]})
    );
    let made_count = (0..10)
        .filter(|i| made(handler, &format!("p{i}.jpg/profile.jpg")))
        .count();
    assert_eq!(made_count, 9);
}

#[tokio::test]
async fn a_message_past_the_job_timeout_is_returned_and_the_batch_goes_on() {
    let (handler, event) = stalling_batch(4, Duration::from_secs(1));
    let answer = handler.handle(event).await.unwrap();
    nine_made_one_to_retry(&handler, &answer);
}

#[tokio::test]
async fn the_function_answers_before_its_deadline_with_what_it_could_not_finish() {
    // The stalled message last, a job timeout far away: only the invocation's deadline stops it.
    let (handler, event) = stalling_batch(9, Duration::from_secs(300));
    let started = std::time::Instant::now();
    let deadline = started + DEADLINE_MARGIN + Duration::from_secs(3);
    let answer = handler
        .invoke(Invocation::from_json(event).unwrap(), Some(deadline))
        .await
        .unwrap();
    let answered = started.elapsed();
    assert!(
        started + answered < deadline,
        "answered after {answered:?}, past the deadline"
    );
    nine_made_one_to_retry(&handler, &answer);
}
