//! Processing one object end to end on the in-memory backends, with mocks only to inject failures.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::MockNotifier;
use thumbnail_core::{Fit, OutputFormat, Presets, Size, ThumbnailSpec};
use thumbnail_events::CreatedObject;
use thumbnail_notify::{MemoryNotifier, NotifyError};
use thumbnail_pipeline::{Outcome, PRESET, Pipeline, PipelineConfig, ProcessError, SOURCE_ETAG};
use thumbnail_storage::conformance::fetch;
use thumbnail_storage::{
    ListPage, MemoryStore, Object, ObjectInfo, ObjectKey, ObjectStore, PutOptions, StorageError,
};
use thumbnail_tests::{JpegOptions, QUADRANT_COLOURS, encode, jpeg, near, png_claiming, quadrants};

fn specs() -> Vec<ThumbnailSpec> {
    let presets = Presets::builtin();
    vec![
        presets.require("profile").unwrap().clone(),
        ThumbnailSpec::new("wide", Size::width_only(200).unwrap())
            .with_fit(Fit::Contain)
            .with_format(OutputFormat::WebP),
    ]
}

/// A source store holding one photo, and the event announcing it.
async fn upload(key: &str, bytes: Vec<u8>) -> (MemoryStore, CreatedObject) {
    let source = MemoryStore::new("uploads");
    let key = ObjectKey::new(key).unwrap();
    let info = source
        .put(&key, bytes, &PutOptions::new("image/jpeg"))
        .await
        .unwrap();
    let event = CreatedObject {
        bucket: "uploads".into(),
        key,
        size: Some(info.size),
        etag: Some(info.etag),
        event_name: "ObjectCreated:Put".into(),
    };
    (source, event)
}

/// The pipeline from `source` to an empty `thumbs` store, announcing in memory.
fn pipeline(
    source: MemoryStore,
    config: PipelineConfig,
    threads: usize,
) -> Pipeline<MemoryStore, MemoryStore, MemoryNotifier> {
    Pipeline::new(
        source,
        MemoryStore::new("thumbs"),
        MemoryNotifier::new(),
        config,
        threads,
    )
}

fn photo() -> Vec<u8> {
    jpeg(&quadrants(800, 600), &JpegOptions::default())
}

#[tokio::test]
async fn thumbnails_are_stored_with_metadata_and_announced_with_working_links() {
    let (source, event) = upload("photos/My Photo é+1.jpg", photo()).await;
    let pipeline = pipeline(source, PipelineConfig::new(specs()), 2);
    let Outcome::Made { keys } = pipeline.process(&event).await.unwrap() else {
        panic!("made")
    };
    let keys: Vec<&str> = keys.iter().map(ObjectKey::as_str).collect();
    assert_eq!(
        keys,
        [
            "photos/My Photo é+1.jpg/profile.jpg",
            "photos/My Photo é+1.jpg/wide.webp"
        ]
    );

    let profile = pipeline
        .dest()
        .get(&ObjectKey::new(keys[0]).unwrap(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(profile.info.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        profile.info.metadata[SOURCE_ETAG],
        *event.etag.as_ref().unwrap()
    );
    assert_eq!(profile.info.metadata[PRESET], "profile");
    assert!(
        profile
            .info
            .cache_control
            .as_deref()
            .unwrap()
            .contains("max-age=")
    );
    let image = image::load_from_memory(&profile.bytes).unwrap();
    assert_eq!((image.width(), image.height()), (128, 128));

    let manifest = pipeline
        .dest()
        .get(
            &ObjectKey::new("photos/My Photo é+1.jpg/manifest.json").unwrap(),
            1 << 20,
        )
        .await
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    assert_eq!(manifest["source"]["key"], "photos/My Photo é+1.jpg");
    // The placeholders: hashes to draw a blur from, and the dominant colour, one of the photo's
    // four (each covers a quarter; which one wins is the clustering's choice).
    let placeholder = &manifest["placeholder"];
    for hash in ["thumbhash", "blurhash"] {
        assert!(
            placeholder[hash].as_str().is_some_and(|h| h.len() > 10),
            "{placeholder}"
        );
    }
    let colour = placeholder["dominant_colour"].as_str().unwrap();
    let rgb: Vec<u8> = (0..3)
        .map(|i| u8::from_str_radix(&colour[1 + 2 * i..3 + 2 * i], 16).unwrap())
        .collect();
    assert!(
        colour.len() == 7 && QUADRANT_COLOURS.iter().any(|q| near(&rgb, q, 24)),
        "{colour}"
    );

    let notifier = pipeline.notifier().published();
    assert_eq!(notifier.len(), 1);
    let data = &notifier[0].data;
    assert_eq!(data, &manifest, "the notification carries the manifest");
    let wide = &data["thumbnails"][1];
    assert_eq!(
        (
            wide["preset"].as_str(),
            wide["width"].as_u64(),
            wide["height"].as_u64()
        ),
        (Some("wide"), Some(200), Some(150))
    );
    assert_eq!(wide["content_type"], "image/webp");
    let fetched = fetch(wide["url"].as_str().unwrap());
    let image = image::load_from_memory(&fetched).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (200, 150),
        "the preview link serves the thumbnail"
    );
    assert!(
        notifier[0].text.contains("wide (200x150"),
        "{}",
        notifier[0].text
    );
}

#[tokio::test]
async fn a_duplicate_delivery_does_nothing_and_a_new_version_is_redone() {
    let (source, event) = upload("cat.jpg", photo()).await;
    let pipeline = pipeline(source, PipelineConfig::new(specs()), 1);
    assert!(matches!(
        pipeline.process(&event).await.unwrap(),
        Outcome::Made { .. }
    ));
    assert_eq!(
        pipeline.process(&event).await.unwrap(),
        Outcome::AlreadyDone
    );
    assert_eq!(pipeline.notifier().published().len(), 1, "announced once");

    // The same key uploaded again with other content: a new ETag, new thumbnails.
    let newer = jpeg(&quadrants(400, 600), &JpegOptions::default());
    let info = pipeline
        .source()
        .put(&event.key, newer, &PutOptions::new("image/jpeg"))
        .await
        .unwrap();
    let event = CreatedObject {
        etag: Some(info.etag),
        ..event
    };
    assert!(matches!(
        pipeline.process(&event).await.unwrap(),
        Outcome::Made { .. }
    ));
    assert_eq!(pipeline.notifier().published().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_object_delivered_twice_at_once_is_decoded_once() {
    let (source, event) = upload("twice.jpg", photo()).await;
    let pipeline = pipeline(source, PipelineConfig::new(specs()), 2);
    let (first, second) = tokio::join!(pipeline.process(&event), pipeline.process(&event));
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, Outcome::AlreadyDone));
    assert!(
        matches!(outcomes[0], Outcome::Made { .. }) && outcomes[1] == Outcome::AlreadyDone,
        "{outcomes:?}"
    );
    assert_eq!(pipeline.notifier().published().len(), 1);
}

#[tokio::test]
async fn a_corrupt_image_fails_permanently_and_writes_nothing() {
    let good = photo();
    let (source, event) = upload("broken.jpg", good[..good.len() / 3].to_vec()).await;
    let pipeline = pipeline(source, PipelineConfig::new(specs()), 1);
    let error = pipeline.process(&event).await.unwrap_err();
    assert!(
        matches!(error, ProcessError::Image { .. }) && !error.is_retryable(),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("broken.jpg") && error.to_string().contains("corrupt"),
        "{error}"
    );
    assert!(pipeline.dest().keys().is_empty());
    assert!(pipeline.notifier().published().is_empty());
}

#[tokio::test]
async fn its_own_thumbnails_are_never_sources() {
    let (source, event) = upload("thumbs/cat/profile.jpg", photo()).await;
    let config = PipelineConfig {
        dest_prefix: "thumbs".into(),
        same_bucket: true,
        ..PipelineConfig::new(specs())
    };
    let pipeline = Pipeline::new(
        source,
        MemoryStore::new("same"),
        MemoryNotifier::new(),
        config,
        1,
    );
    assert_eq!(pipeline.process(&event).await.unwrap(), Outcome::Ours);

    // Elsewhere, but carrying our metadata (e.g. copied by hand): also ours.
    let marked = ObjectKey::new("copied/profile.jpg").unwrap();
    pipeline
        .source()
        .put(
            &marked,
            photo(),
            &PutOptions::new("image/jpeg").with_metadata(PRESET, "profile"),
        )
        .await
        .unwrap();
    let event = CreatedObject {
        key: marked,
        etag: None,
        ..event
    };
    assert_eq!(pipeline.process(&event).await.unwrap(), Outcome::Ours);
    assert!(pipeline.dest().keys().is_empty());
}

#[tokio::test]
async fn a_notifier_outage_is_retryable_and_the_retry_completes() {
    let (source, event) = upload("cat.jpg", photo()).await;
    let mut down = MockNotifier::new();
    down.expect_name().return_const("mock".to_owned());
    down.expect_publish().times(1).returning(|_| {
        Err(NotifyError::Transient {
            target: "topic".into(),
            message: "connection refused".into(),
        })
    });
    let pipeline = Pipeline::new(
        source,
        MemoryStore::new("thumbs"),
        down,
        PipelineConfig::new(specs()),
        1,
    );
    let error = pipeline.process(&event).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    // Thumbnails may be there, but no manifest: the retry is not mistaken for a finished job.
    assert!(
        !pipeline
            .dest()
            .keys()
            .iter()
            .any(|k| k.as_str().ends_with("manifest.json"))
    );

    let (source, dest) = pipeline.into_stores();
    let mut up = MockNotifier::new();
    up.expect_publish()
        .times(1)
        .returning(|_| Ok("id-1".into()));
    let retry = Pipeline::new(source, dest, up, PipelineConfig::new(specs()), 1);
    assert!(matches!(
        retry.process(&event).await.unwrap(),
        Outcome::Made { .. }
    ));
}

#[tokio::test]
async fn oversized_sources_are_refused_before_download() {
    let (source, event) = upload("huge.jpg", photo()).await;
    let mut config = PipelineConfig::new(specs());
    config.limits.max_bytes = 1000;
    let pipeline = pipeline(source, config, 1);
    let error = pipeline.process(&event).await.unwrap_err();
    assert!(
        matches!(
            error,
            ProcessError::Storage(thumbnail_storage::StorageError::TooLarge { .. })
        ),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

/// With a memory budget, an image whose header says it cannot fit fails permanently, with a
/// reason, before it is downloaded; one that fits is made as usual.
#[tokio::test]
async fn images_that_cannot_fit_the_memory_budget_are_refused_from_their_header() {
    let budget = |mib: u64| {
        let mut config = PipelineConfig::new(specs());
        config.memory_budget = Some(mib << 20);
        config
    };
    // 3000x2000: under the JPEG estimate (3 bytes a pixel of coefficients) about 18 MiB.
    let big = jpeg(&quadrants(3000, 2000), &JpegOptions::default());
    let (source, event) = upload("big.jpg", big.clone()).await;
    let tight = pipeline(source, budget(8), 1);
    let error = tight.process(&event).await.unwrap_err();
    assert!(
        matches!(error, ProcessError::WontFit { budget, .. } if budget == 8 << 20),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(error.reason(), "wont_fit");
    assert!(error.to_string().contains("big.jpg"), "{error}");
    assert!(tight.dest().keys().is_empty());

    let (source, event) = upload("big.jpg", big).await;
    let roomy = pipeline(source, budget(64), 1);
    assert!(matches!(
        roomy.process(&event).await.unwrap(),
        Outcome::Made { .. }
    ));

    // A header behind more APPn data (here a 400 KiB ICC profile in APP2 chunks) than the first
    // bytes read before the download: checked against the budget once the file is whole, before
    // any pixel is decoded.
    let padded = jpeg(
        &quadrants(3000, 2000),
        &JpegOptions {
            icc: Some(vec![7; 400 << 10]),
            ..Default::default()
        },
    );
    let (source, event) = upload("padded.jpg", padded).await;
    let tight = pipeline(source, budget(8), 1);
    let error = tight.process(&event).await.unwrap_err();
    assert_eq!(error.reason(), "wont_fit", "{error}");
    assert!(tight.dest().keys().is_empty());

    // A header over the pixel limit fails for that plainer reason, budget or not.
    let (source, event) = upload("huge.png", png_claiming(100_000, 100_000)).await;
    let refused = pipeline(source, budget(64), 1);
    let error = refused.process(&event).await.unwrap_err();
    assert_eq!(error.reason(), "too_many_pixels", "{error}");

    // And so does one over the byte limit.
    let (source, event) = upload(
        "heavy.jpg",
        jpeg(&quadrants(300, 200), &JpegOptions::default()),
    )
    .await;
    let mut config = budget(64);
    config.limits.max_bytes = 1000;
    let refused = pipeline(source, config, 1);
    let error = refused.process(&event).await.unwrap_err();
    assert_eq!(error.reason(), "too_large", "{error}");
}

/// A memory store that counts the reads of its objects: whole, and of their first bytes.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryStore,
    gets: AtomicUsize,
    prefix_gets: AtomicUsize,
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<Object, StorageError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key, max_bytes).await
    }

    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<Object, StorageError> {
        self.prefix_gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_prefix(key, len).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        self.inner.head(key).await
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        self.inner.put(key, bytes, options).await
    }

    async fn preview_url(
        &self,
        key: &ObjectKey,
        expires_in: std::time::Duration,
    ) -> Result<String, StorageError> {
        self.inner.preview_url(key, expires_in).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        self.inner.list(prefix, start_after, limit).await
    }
}

/// With a memory budget the first 256 KiB are read before the download; an upload no larger
/// than that (most profile pictures) was read whole by it, and is not read again. A larger one is
/// then downloaded, once.
#[tokio::test]
async fn an_upload_the_header_read_got_whole_is_not_downloaded_again() {
    let mut config = PipelineConfig::new(specs());
    config.memory_budget = Some(64 << 20);
    let small = photo();
    assert!(small.len() < 256 << 10, "{} bytes", small.len());
    // Past 256 KiB with noise after the image, which decoders ignore.
    let mut large = small.clone();
    large.resize(300 << 10, 0x5a);
    for (bytes, downloads) in [(small, 0), (large, 1)] {
        let (inner, event) = upload("cat.jpg", bytes).await;
        let source = CountingStore {
            inner,
            gets: AtomicUsize::new(0),
            prefix_gets: AtomicUsize::new(0),
        };
        let pipeline = Pipeline::new(
            source,
            MemoryStore::new("thumbs"),
            MemoryNotifier::new(),
            config.clone(),
            1,
        );
        assert!(matches!(
            pipeline.process(&event).await.unwrap(),
            Outcome::Made { .. }
        ));
        assert_eq!(pipeline.source().prefix_gets.load(Ordering::SeqCst), 1);
        assert_eq!(pipeline.source().gets.load(Ordering::SeqCst), downloads);
    }
}

#[tokio::test]
async fn a_source_needs_thumbnails_until_its_version_is_made_with_these_specs() {
    let (source, event) = upload("cat.jpg", photo()).await;
    let etag = event.etag.clone().unwrap();
    let pipeline = pipeline(source, PipelineConfig::new(specs()), 1);
    assert!(pipeline.needs_thumbnails(&event.key, &etag).await.unwrap());
    pipeline.process(&event).await.unwrap();
    assert!(!pipeline.needs_thumbnails(&event.key, &etag).await.unwrap());
    assert!(
        pipeline
            .needs_thumbnails(&event.key, "another-version")
            .await
            .unwrap(),
        "a new version"
    );

    // The same stores with one preset changed: everything needs doing again.
    let (source, dest) = pipeline.into_stores();
    let mut changed = specs();
    changed[1] = changed[1].clone().with_format(OutputFormat::Jpeg);
    let changed = Pipeline::new(
        source,
        dest,
        MemoryNotifier::new(),
        PipelineConfig::new(changed),
        1,
    );
    assert!(changed.needs_thumbnails(&event.key, &etag).await.unwrap());

    // Thumbnails under the prefix of a shared bucket are never sources.
    let config = PipelineConfig {
        dest_prefix: "thumbs".into(),
        same_bucket: true,
        ..PipelineConfig::new(specs())
    };
    let shared = Pipeline::new(
        MemoryStore::new("same"),
        MemoryStore::new("same"),
        MemoryNotifier::new(),
        config,
        1,
    );
    let ours = ObjectKey::new("thumbs/cat/profile.jpg").unwrap();
    assert!(!shared.needs_thumbnails(&ours, "e").await.unwrap());
}

#[tokio::test]
async fn sources_that_differ_only_by_extension_keep_their_own_thumbnails() {
    // An iPhone export: IMG_0001.HEIC beside IMG_0001.JPG, here a JPEG and a PNG of other sizes.
    let jpg = photo();
    let png = encode(
        &image::DynamicImage::ImageRgb8(quadrants(300, 600)),
        image::ImageFormat::Png,
    );
    let source = MemoryStore::with_objects("uploads", &[("a.jpg", jpg), ("a.png", png)]).unwrap();
    let pipeline = pipeline(source, PipelineConfig::new(specs()), 1);
    let mut made = Vec::new();
    for key in ["a.jpg", "a.png"] {
        let key = ObjectKey::new(key).unwrap();
        let etag = stored(pipeline.source(), key.as_str()).await.info.etag;
        let event = CreatedObject {
            bucket: "uploads".into(),
            key: key.clone(),
            size: None,
            etag: Some(etag.clone()),
            event_name: "ObjectCreated:Put".into(),
        };
        let Outcome::Made { keys } = pipeline.process(&event).await.unwrap() else {
            panic!("made")
        };
        made.push((key, etag, keys));
    }
    assert_eq!(made[0].2[0].as_str(), "a.jpg/profile.jpg");
    assert_eq!(made[1].2[0].as_str(), "a.png/profile.jpg");
    // Each keeps its own picture: 200x150 of the 4:3 JPEG, 200x400 of the 1:2 PNG.
    for ((_, _, keys), size) in made.iter().zip([(200, 150), (200, 400)]) {
        let wide = stored(pipeline.dest(), made_key(keys, "wide").as_str()).await;
        let wide = image::load_from_memory(&wide.bytes).unwrap();
        assert_eq!((wide.width(), wide.height()), size);
    }
    for (key, etag, _) in &made {
        let manifest = stored(pipeline.dest(), &format!("{key}/manifest.json")).await;
        let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(manifest["source"]["key"], key.as_str());
        // A backfill settles: neither needs doing again.
        assert!(
            !pipeline.needs_thumbnails(key, etag).await.unwrap(),
            "{key}"
        );
    }

    // A bucket written by the earlier layout (`a/manifest.json`, the extension dropped): its
    // manifest still counts for the source it names, and only for that one.
    let (source, dest) = pipeline.into_stores();
    let old = stored(&dest, "a.jpg/manifest.json").await;
    let earlier = MemoryStore::with_objects("thumbs", &[("a/manifest.json", old.bytes)]).unwrap();
    let earlier = Pipeline::new(
        source,
        earlier,
        MemoryNotifier::new(),
        PipelineConfig::new(specs()),
        1,
    );
    let [(jpg, jpg_etag, _), (png, png_etag, _)] = &made[..] else {
        unreachable!()
    };
    assert!(!earlier.needs_thumbnails(jpg, jpg_etag).await.unwrap());
    assert!(earlier.needs_thumbnails(png, png_etag).await.unwrap());
}

/// The key of the `preset` thumbnail among `keys`.
fn made_key(keys: &[ObjectKey], preset: &str) -> ObjectKey {
    keys.iter()
        .find(|k| k.as_str().rsplit('/').next().unwrap().starts_with(preset))
        .unwrap()
        .clone()
}

async fn stored(store: &MemoryStore, key: &str) -> Object {
    store
        .get(&ObjectKey::new(key).unwrap(), 1 << 30)
        .await
        .unwrap()
}
