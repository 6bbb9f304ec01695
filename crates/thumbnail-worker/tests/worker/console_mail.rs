//! Without AWS, a person still gets the e-mail: a worker on the local backend with its console,
//! an SMTP server (aiosmtpd) and a webhook receiver on loopback. An upload through the console
//! produces an e-mail whose signed links download the thumbnails, a tampered link gets 403, and
//! the webhook's signature checks out.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thumbnail_test_aws::servers::{Smtpd, WebhookReceiver, listening, multipart, request};
use thumbnail_tests::{JpegOptions, encoded_size, free_port, jpeg, quadrants, sigterm};

fn wait_for<T>(what: &str, timeout: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The path and query of an `http://127.0.0.1:PORT/...` link.
fn path_of(link: &str) -> &str {
    let rest = link
        .strip_prefix("http://127.0.0.1:")
        .expect("a loopback link");
    &rest[rest.find('/').expect("a path")..]
}

#[test]
fn an_upload_through_the_console_is_emailed_with_links_that_download_its_thumbnails() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("console-mail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let Some(smtpd) = Smtpd::start(&dir) else {
        return;
    };
    let hook = WebhookReceiver::start("hook-secret", vec![]);
    let port = free_port();
    let worker = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .arg("run")
        .env("THUMBNAIL_LOCAL_DIR", dir.join("data"))
        .env("THUMBNAIL_PRESETS", "profile,wide=300x")
        .env("THUMBNAIL_CONSOLE_ADDR", format!("127.0.0.1:{port}"))
        .env("THUMBNAIL_SMTP_URL", smtpd.url())
        .env(
            "THUMBNAIL_EMAIL_FROM",
            "Thumbnails <thumbnails@example.com>",
        )
        .env("THUMBNAIL_EMAIL_TO", "alice@example.com")
        .env("THUMBNAIL_WEBHOOK_URL", &hook.url)
        .env("THUMBNAIL_WEBHOOK_SECRET", "hook-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    listening(port, "the console");

    let photo = jpeg(&quadrants(800, 600), &JpegOptions::default());
    let (content_type, body) = multipart(&[("holiday photo.jpg", &photo)]);
    let (status, _, answer) = request(
        port,
        &format!("POST /uploads\n{content_type}\nX-Thumbnail-Console: 1"),
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

    let mail = wait_for("the e-mail", Duration::from_secs(60), || {
        smtpd.messages().pop()
    });
    let mail = mail_parser::MessageParser::default().parse(&mail).unwrap();
    assert_eq!(mail.subject(), Some("Thumbnails ready: holiday photo.jpg"));
    let text = mail.body_text(0).unwrap().into_owned();
    assert!(
        text.contains("Thumbnails of holiday photo.jpg in uploads"),
        "{text}"
    );
    let links: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with("http://"))
        .collect();
    assert_eq!(links.len(), 2, "a link per thumbnail: {text}");
    let thumbnails = dir.join("data/buckets/thumbnails/holiday photo.jpg");
    for (link, (file, size)) in links
        .iter()
        .zip([("profile.jpg", (128, 128)), ("wide.jpg", (300, 225))])
    {
        assert!(
            link.starts_with(&format!("http://127.0.0.1:{port}/files/")),
            "{link}"
        );
        let (status, head, bytes) = request(port, &format!("GET {}", path_of(link)), b"");
        assert_eq!(status, 200, "{link}: {head}");
        assert_eq!(
            bytes,
            std::fs::read(thumbnails.join(file)).unwrap(),
            "{link}"
        );
        assert_eq!(encoded_size(&bytes), size, "{link}");
        let last = link.chars().last().unwrap();
        let tampered = format!(
            "{}{}",
            &link[..link.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        assert_eq!(
            request(port, &format!("GET {}", path_of(&tampered)), b"").0,
            403,
            "{tampered}"
        );
    }

    let delivery = wait_for("the webhook", Duration::from_secs(20), || {
        hook.deliveries().pop()
    });
    assert!(delivery.signature_valid, "{}", delivery.body);
    assert_eq!(delivery.body["data"]["source"]["key"], "holiday photo.jpg");
    assert_eq!(delivery.body["attributes"]["outcome"], "made");
    let urls: Vec<&str> = delivery.body["data"]["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls, links,
        "the webhook and the e-mail carry the same links"
    );

    let status = sigterm(worker, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
