//! Each notification names the upload's owner, from its metadata or its key, so that a subscriber
//! can filter on it; a bad owner value is refused and the image is still made.

use thumbnail_core::Presets;
use thumbnail_events::CreatedObject;
use thumbnail_notify::{Attribute, MemoryNotifier, Notification};
use thumbnail_pipeline::{Manifest, OWNER_METADATA, Outcome, Pipeline, PipelineConfig};
use thumbnail_storage::{MemoryStore, ObjectKey, ObjectStore, PutOptions};
use thumbnail_tests::{JpegOptions, jpeg, quadrants};

type Memory = Pipeline<MemoryStore, MemoryStore, MemoryNotifier>;

/// A pipeline whose source holds `key` with `owner` metadata (if any), reading owners by `rules`.
async fn pipeline_with(key: &str, bytes: Vec<u8>, owner: Option<&str>, rules: &str) -> Memory {
    let source = MemoryStore::new("uploads");
    let mut options = PutOptions::new("image/jpeg");
    if let Some(owner) = owner {
        options = options.with_metadata(OWNER_METADATA, owner);
    }
    source
        .put(&ObjectKey::new(key).unwrap(), bytes, &options)
        .await
        .unwrap();
    let mut config =
        PipelineConfig::new(vec![Presets::builtin().require("profile").unwrap().clone()]);
    config.owners = rules.parse().unwrap();
    Pipeline::new(
        source,
        MemoryStore::new("thumbs"),
        MemoryNotifier::new(),
        config,
        1,
    )
}

fn event(key: &str) -> CreatedObject {
    CreatedObject {
        bucket: "uploads".into(),
        key: ObjectKey::new(key).unwrap(),
        size: None,
        etag: None,
        event_name: "ObjectCreated:Put".into(),
    }
}

fn photo() -> Vec<u8> {
    jpeg(&quadrants(400, 300), &JpegOptions::default())
}

fn text(value: &str) -> Attribute {
    Attribute::Text(value.into())
}

fn only(pipeline: &Memory) -> Notification {
    let published = pipeline.notifier().published();
    assert_eq!(published.len(), 1, "{published:?}");
    published.into_iter().next().unwrap()
}

async fn manifest(pipeline: &Memory, key: &str) -> Manifest {
    let object = pipeline
        .dest()
        .get(&ObjectKey::new(key).unwrap(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&object.bytes).unwrap()
}

#[tokio::test]
async fn the_owner_in_the_metadata_is_announced_and_recorded() {
    let pipeline = pipeline_with("cat.jpg", photo(), Some("alice"), "metadata").await;
    assert!(matches!(
        pipeline.process(&event("cat.jpg")).await.unwrap(),
        Outcome::Made { .. }
    ));
    let notification = only(&pipeline);
    assert_eq!(notification.attributes["owner"], text("alice"));
    assert_eq!(notification.attributes["outcome"], text("made"));
    assert_eq!(
        notification.attributes["preset"],
        Attribute::List(vec!["profile".into()])
    );
    assert_eq!(notification.data["owner"], "alice");
    assert_eq!(
        manifest(&pipeline, "cat.jpg/manifest.json")
            .await
            .owner
            .as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn the_owner_may_come_from_the_key() {
    let pipeline = pipeline_with(
        "users/bob/2026/cat.jpg",
        photo(),
        None,
        "metadata,users/{owner}/",
    )
    .await;
    pipeline
        .process(&event("users/bob/2026/cat.jpg"))
        .await
        .unwrap();
    assert_eq!(only(&pipeline).attributes["owner"], text("bob"));
}

#[tokio::test]
async fn an_owner_of_ten_kilobytes_or_with_control_characters_is_refused_and_the_image_made() {
    for bad in ["x".repeat(10 << 10), "eve\r\nBcc: everyone".to_owned()] {
        let pipeline = pipeline_with("cat.jpg", photo(), Some(&bad), "metadata").await;
        let outcome = pipeline.process(&event("cat.jpg")).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Made { ref keys } if keys.len() == 1),
            "{outcome:?}"
        );
        let notification = only(&pipeline);
        assert!(
            !notification.attributes.contains_key("owner"),
            "{notification:?}"
        );
        assert_eq!(notification.attributes["outcome"], text("made"));
        assert!(notification.data["owner"].is_null());
        assert_eq!(
            manifest(&pipeline, "cat.jpg/manifest.json").await.owner,
            None
        );
    }
}

#[tokio::test]
async fn a_failure_goes_to_the_owner_too() {
    let broken = photo()[..500].to_vec();
    let pipeline = pipeline_with("broken.jpg", broken, Some("carol"), "metadata").await;
    let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},"object":{"key":"broken.jpg"}}}]}"#;
    pipeline.handle(body, 1).await;
    let notification = only(&pipeline);
    assert_eq!(notification.attributes["owner"], text("carol"));
    assert_eq!(notification.attributes["outcome"], text("failed"));
    assert_eq!(notification.data["owner"], "carol");
    assert_eq!(notification.data["reason"], "corrupt");
}
