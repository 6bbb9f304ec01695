//! The other real servers tests talk to: an SMTP server (aiosmtpd, which `scripts/test` installs
//! and names in `TEST_THUMBNAIL_SMTPD`) and a webhook receiver that checks signatures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A port free on loopback now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
///
/// # Panics
///
/// After 30 s without, naming `what` was to listen.
pub fn listening(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An SMTP server on loopback that keeps every message it is sent in a Maildir; stopped when
/// dropped.
#[derive(Debug)]
pub struct Smtpd {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    maildir: PathBuf,
}

impl Smtpd {
    /// Starts aiosmtpd with the Python `TEST_THUMBNAIL_SMTPD` names, keeping mail under `dir`;
    /// `None` (skipped) when unset, outside CI.
    ///
    /// # Panics
    ///
    /// Under `CI=true` when it is unset, and when the server does not answer within 20 s.
    pub fn start(dir: &Path) -> Option<Smtpd> {
        let python = crate::provided("TEST_THUMBNAIL_SMTPD")?;
        let maildir = dir.join("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("a mail folder");
        }
        let port = free_port();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd starts");
        let server = Smtpd {
            child,
            port,
            maildir,
        };
        listening(port, "aiosmtpd");
        Some(server)
    }

    /// The server's URL, as `smtp_url` takes it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, raw, oldest first.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .filter_map(|e| {
                let e = e.ok()?;
                Some((e.metadata().ok()?.modified().ok()?, e.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read(path).ok())
            .collect()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a [`WebhookReceiver`] took, its signature checked.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The body, parsed.
    pub body: serde_json::Value,
    /// Whether `X-Thumbnail-Signature` is the HMAC-SHA256 of `timestamp.body` under the secret
    /// (checked here with the `hmac` crate, not the notifier's code).
    pub signature_valid: bool,
}

#[derive(Debug, Default)]
struct Inbox {
    deliveries: Vec<Delivery>,
    /// Statuses to answer the next requests with, before 200s.
    failures: Vec<StatusCode>,
}

/// An HTTP server on loopback taking webhook POSTs, on a thread and runtime of its own (so
/// blocking and async tests alike can use it); stopped when dropped.
#[derive(Debug)]
pub struct WebhookReceiver {
    /// Where to POST.
    pub url: String,
    inbox: Arc<Mutex<Inbox>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl WebhookReceiver {
    /// Listens on a free port, checking signatures with `secret`; the first requests are answered
    /// with `failures` (one each), the rest with 200.
    pub fn start(secret: &str, failures: Vec<StatusCode>) -> WebhookReceiver {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let inbox = Arc::new(Mutex::new(Inbox {
            deliveries: Vec::new(),
            failures,
        }));
        let (shared, secret) = (Arc::clone(&inbox), secret.as_bytes().to_vec());
        let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
            let (inbox, secret) = (Arc::clone(&shared), secret.clone());
            async move {
                let mut inbox = inbox.lock().unwrap();
                if !inbox.failures.is_empty() {
                    return inbox.failures.remove(0);
                }
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
                mac.update(format!("{}.", header("x-thumbnail-timestamp")).as_bytes());
                mac.update(&body);
                let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                inbox.deliveries.push(Delivery {
                    body: serde_json::from_slice(&body).unwrap_or_default(),
                    signature_valid: header("x-thumbnail-signature") == expected,
                });
                StatusCode::OK
            }
        };
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a port");
                let addr: SocketAddr = listener.local_addr().expect("bound");
                bound_tx.send(addr).expect("the test waits");
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            })
        });
        let addr = bound.recv().expect("the receiver listens");
        WebhookReceiver {
            url: format!("http://{addr}/hook"),
            inbox,
            stop: Some(stop),
        }
    }

    /// What was received so far (the failed requests left out).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inbox.lock().unwrap().deliveries.clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One raw HTTP/1.1 request to 127.0.0.1:`port`, `head` being the request line (`GET /path`,
/// sent exactly as given, unnormalised) and header lines after it: status, response head, body.
pub fn request(port: u16, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (method_path, extra) = head.split_once('\n').unwrap_or((head, ""));
    write!(
        stream,
        "{method_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        extra.lines().map(|l| format!("{l}\r\n")).collect::<String>()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

/// A multipart form of `files` (name, bytes) as browsers send it: its `Content-Type` header
/// line and its body.
pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "thumbnailboundary42";
    let mut body = Vec::new();
    for (name, bytes) in files {
        write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (
        format!("Content-Type: multipart/form-data; boundary={boundary}"),
        body,
    )
}

/// The value of the first `name="..."` attribute in `html` (e.g. a console button's
/// `data-replay`).
///
/// # Panics
///
/// When there is none.
pub fn attribute(html: &str, name: &str) -> String {
    let start = format!("{name}=\"");
    html.split(start.as_str())
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} attribute in {html}"))
        .to_owned()
}
