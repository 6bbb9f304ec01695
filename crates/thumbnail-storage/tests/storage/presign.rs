//! Preview URLs against a server that checks SigV4 (moto does not): s3s-fs, which `scripts/test`
//! installs and names in `TEST_THUMBNAIL_S3S`. A fresh URL serves the thumbnail; the same URL with
//! its signature, its key or its expiry changed is refused, and so is one past its expiry; a
//! store with the wrong secret cannot write at all.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use thumbnail_storage::{ObjectKey, ObjectStore, PutOptions, S3Store, StorageError};

const ACCESS_KEY: &str = "AKIDPRESIGNTEST";
const SECRET: &str = "presign-test-secret-0123456789";

/// s3s-fs on a free loopback port over a fresh folder; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    root: std::path::PathBuf,
}

impl Server {
    fn start(binary: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let root =
            std::env::temp_dir().join(format!("thumbnail-s3s-{}-{port}", std::process::id()));
        std::fs::create_dir_all(root.join("thumbnails")).unwrap(); // a bucket is a folder
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        thumbnail_test_aws::servers::listening(port, "s3s-fs");
        Server { child, port, root }
    }

    fn store(&self, secret: &str) -> S3Store {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .credentials_provider(Credentials::new(ACCESS_KEY, secret, None, None, "test"))
            .force_path_style(true)
            .build();
        S3Store::from_client(aws_sdk_s3::Client::from_conf(config), "thumbnails")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The HTTP status of a GET of `url`, and the body when it is 200.
fn get(url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} missing from {url}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_and_expired_preview_urls_are_refused() {
    let Some(binary) = thumbnail_test_aws::provided("TEST_THUMBNAIL_S3S") else {
        return;
    };
    let server = Server::start(&binary);
    let store = server.store(SECRET);
    let key = ObjectKey::new("photos/cat/profile.jpg").unwrap();
    let other = ObjectKey::new("photos/dog/profile.jpg").unwrap();
    let options = PutOptions::new("image/jpeg");
    store
        .put(&key, b"cat thumbnail".to_vec(), &options)
        .await
        .unwrap();
    store
        .put(&other, b"dog thumbnail".to_vec(), &options)
        .await
        .unwrap();

    let url = store
        .preview_url(&key, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(param(&url, "X-Amz-Expires"), "300");
    assert_eq!(param(&url, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    let signature = param(&url, "X-Amz-Signature");
    assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
    tokio::task::spawn_blocking(move || {
        assert_eq!(get(&url), (200, b"cat thumbnail".to_vec()), "a fresh URL");

        let flipped: String = signature
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i == 10 {
                    if c == '0' { '1' } else { '0' }
                } else {
                    c
                }
            })
            .collect();
        let tampered = [
            (
                "the signature",
                with_param(&url, "X-Amz-Signature", &flipped),
            ),
            ("the expiry", with_param(&url, "X-Amz-Expires", "604800")),
            ("the key", url.replace("/cat/", "/dog/")),
        ];
        for (what, changed) in tampered {
            assert_ne!(changed, url, "{what} was not changed");
            let (status, _) = get(&changed);
            assert_eq!(status, 403, "a URL with {what} changed: {changed}");
        }
    })
    .await
    .unwrap();

    // Expired: valid for one second, used after two.
    let short = store
        .preview_url(&key, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(param(&short, "X-Amz-Expires"), "1");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _) = tokio::task::spawn_blocking(move || get(&short))
        .await
        .unwrap();
    assert_eq!(status, 403, "an expired URL");

    // Longer than SigV4 allows: capped at seven days, and still accepted.
    let long = store
        .preview_url(&key, Duration::from_secs(30 * 24 * 3600))
        .await
        .unwrap();
    assert_eq!(param(&long, "X-Amz-Expires"), "604800");
    let (status, _) = tokio::task::spawn_blocking(move || get(&long))
        .await
        .unwrap();
    assert_eq!(status, 200);

    // The wrong secret signs nothing the server accepts.
    let impostor = server.store("not-the-secret");
    let refused = impostor
        .put(&ObjectKey::new("x.jpg").unwrap(), b"x".to_vec(), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StorageError::AccessDenied { .. }),
        "{refused:?}"
    );
}
