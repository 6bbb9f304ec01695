//! The console in a real browser: Debian's Chromium, driven over WebDriver by ChromeDriver (which
//! `scripts/test` installs and names in `TEST_THUMBNAIL_CHROMEDRIVER`). Through the page a person
//! uploads a photo, a corrupt file and a photo whose name is markup; sees the thumbnails appear
//! without reloading, the corrupt file's reason, the markup as text; replays a dead letter and
//! follows a preview link.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use thumbnail_parts::LocalEvents;
use thumbnail_queue::LocalQueue;
use thumbnail_test_aws::servers::listening;
use thumbnail_tests::{JpegOptions, free_port, jpeg, quadrants, sigterm};

const HOSTILE: &str = "<img src=x onerror=alert(1)>.jpg";

struct Stop(Option<Child>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Evaluates `script` every 200 ms until `done` accepts what it returns.
async fn until(client: &Client, what: &str, script: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let value = client
            .execute(script, vec![])
            .await
            .expect("the script runs");
        if done(&value) {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}; last: {value}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each upload in the list by its key, as the page shows it.
const UPLOADS: &str = r#"
const uploads = {};
for (const li of document.querySelectorAll('#uploads li.upload')) {
  uploads[li.querySelector('.key').textContent] = {
    state: li.classList.contains('made') ? 'made' : li.classList.contains('failed') ? 'failed' : 'waiting',
    reason: li.querySelector('.reason')?.textContent ?? null,
    images: [...li.querySelectorAll('.thumbs img')].map((img) => img.complete ? img.naturalWidth : 0),
  };
}
return uploads;"#;

fn made(uploads: &Value, key: &str) -> bool {
    uploads[key]["state"] == "made"
        && uploads[key]["images"]
            .as_array()
            .is_some_and(|images| images.len() == 2 && images.iter().all(|w| w.as_u64() > Some(0)))
}

/// A dead letter for `replayed.jpg`, as the watcher would have announced it before its message
/// was dead-lettered: the upload is in the bucket and the ledger, its event in the dead-letter queue.
async fn dead_letter(data: &Path) {
    let bucket = data.join("buckets/uploads");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::write(
        bucket.join("replayed.jpg"),
        jpeg(&quadrants(400, 300), &JpegOptions::default()),
    )
    .unwrap();
    let dead = LocalQueue::open(data.join("queues/thumbnail-dead-letters")).unwrap();
    let mut events = LocalEvents::open("uploads", &bucket, &data.join("ledger")).unwrap();
    assert_eq!(events.scan(&dead).await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_uploads_watches_replays_and_previews_in_chromium() {
    let Some(chromedriver) = thumbnail_test_aws::provided("TEST_THUMBNAIL_CHROMEDRIVER") else {
        return;
    };
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let data = dir.join("data");
    dead_letter(&data).await;

    let port = free_port();
    let worker = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .arg("run")
        .env("THUMBNAIL_LOCAL_DIR", &data)
        .env("THUMBNAIL_PRESETS", "profile,wide=300x")
        .env("THUMBNAIL_CONSOLE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    listening(port, "the console");
    let driver_port = free_port();
    let _driver = Stop(Some(
        Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    ));
    listening(driver_port, "chromedriver");
    let profile = dir.join("chromium-profile");
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            // Headless, as root in a container, and quiet: no connection leaves loopback.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1200,1400", format!("--user-data-dir={}", profile.display())],
        }
    });
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a Chromium session");
    let console = format!("http://127.0.0.1:{port}/");
    client.goto(&console).await.unwrap();

    // Upload three files at once through the file picker, as a person would.
    let photo = jpeg(&quadrants(800, 600), &JpegOptions::default());
    std::fs::write(files.join("photo.jpg"), &photo).unwrap();
    std::fs::write(files.join(HOSTILE), &photo).unwrap();
    std::fs::write(files.join("broken.jpg"), &photo[..photo.len() / 3]).unwrap();
    let picks: Vec<String> = ["photo.jpg", HOSTILE, "broken.jpg"]
        .iter()
        .map(|f| files.join(f).display().to_string())
        .collect();
    client
        .find(Locator::Css("#files"))
        .await
        .unwrap()
        .send_keys(&picks.join("\n"))
        .await
        .unwrap();

    let uploads = until(&client, "the thumbnails and the failure", UPLOADS, |u| {
        made(u, "photo.jpg") && made(u, HOSTILE) && u["broken.jpg"]["state"] == "failed"
    })
    .await;
    assert_eq!(uploads["broken.jpg"]["reason"], "corrupt", "{uploads}");
    assert_eq!(
        uploads["photo.jpg"]["images"],
        json!([128, 300]),
        "{uploads}"
    );
    // The markup in the name is shown as text: no element was made of it, no script ran.
    let injected = client
        .execute(
            "return document.querySelectorAll('img[src=\"x\"]').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(injected, json!(0));
    assert!(client.get_alert_text().await.is_err(), "no alert is open");

    // The dead letter is listed; its button sends it back, and its thumbnails appear.
    let replay = Locator::XPath(
        "//li[contains(@class,'dead-letter')][span[@class='key' and text()='replayed.jpg']]/button",
    );
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(replay)
        .await
        .expect("the dead letter is listed")
        .click()
        .await
        .unwrap();
    until(&client, "the replayed upload's thumbnails", UPLOADS, |u| {
        made(u, "replayed.jpg")
    })
    .await;
    until(
        &client,
        "the dead letter to leave the list",
        "return [...document.querySelectorAll('li.dead-letter .key')].map((k) => k.textContent)",
        |keys| !keys.as_array().unwrap().iter().any(|k| k == "replayed.jpg"),
    )
    .await;
    let screenshot = client.screenshot().await.unwrap();
    std::fs::write(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console.png"),
        screenshot,
    )
    .unwrap();

    // A preview link opens the thumbnail itself.
    let preview =
        Locator::XPath("//li[span[@class='key' and text()='photo.jpg']]//a[@class='preview']");
    client.find(preview).await.unwrap().click().await.unwrap();
    let opened = until(
        &client,
        "the preview",
        "return [location.pathname, document.contentType, document.images[0]?.naturalWidth ?? 0]",
        |v| v[0].as_str().is_some_and(|p| p.starts_with("/files/")),
    )
    .await;
    assert_eq!(
        opened,
        json!(["/files/photo.jpg/profile.jpg", "image/jpeg", 128])
    );

    client.close().await.unwrap();
    let status = sigterm(worker, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
