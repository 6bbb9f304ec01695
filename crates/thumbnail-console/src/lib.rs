//! The thumbnail worker's web console, and its operations endpoints.
//!
//! [`Console::router`] serves, for people:
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page: an upload drop zone, recent uploads with their thumbnails as they are made, the queue, dead letters, presets |
//! | `POST /uploads` | images (multipart) into the source bucket, where the upload event takes them on; streamed, bounded ([`upload`]) |
//! | `GET /events` | server-sent events: each change to the recent uploads, as an HTML fragment |
//! | `GET /fragments/status` | the queue and dead letters, as an HTML fragment |
//! | `POST /dead-letters/{id}/replay` | moves a dead letter back to the queue |
//! | `GET /files/{key}?expires=&signature=` | a thumbnail, for a signed link ([`LinkSigner`]) |
//!
//! and, like [`ops_router`] alone, `GET /healthz` and `GET /metrics` for machines. Every key and
//! message is escaped where the HTML is made; state-changing requests need the
//! `X-Thumbnail-Console` header, which a page of another site cannot send without the console's
//! consent (it never gives it), so no other site can upload or replay through a visitor's browser.
//! The console answers only for its own host names ([`Console::hosts`], and `localhost`,
//! `127.0.0.1`, `[::1]`): a page whose name is made to point at 127.0.0.1 (DNS rebinding) gets
//! 421. With a [`Console::token`] every page and action asks for it (HTTP basic authentication);
//! without one, serve the console on loopback, or behind a proxy that authenticates.
//!
//! ```
//! use std::sync::Arc;
//! use thumbnail_console::{Console, Feed};
//! use thumbnail_storage::MemoryStore;
//! use thumbnail_queue::MemoryQueue;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let feed = Feed::new(); // give it to the pipeline as one of its notifiers
//! let console = Console {
//!     source: Arc::new(MemoryStore::new("uploads")),
//!     thumbnails: Arc::new(MemoryStore::new("thumbnails")),
//!     queue: Arc::new(MemoryQueue::new("jobs")),
//!     dead_letters: None,
//!     presets: vec![],
//!     links: None,
//!     reserved_prefix: None,
//!     hosts: vec![],
//!     token: None,
//!     max_upload_bytes: 100 << 20,
//!     feed,
//! };
//! let (_stopping, stopped) = tokio::sync::watch::channel(false);
//! let router = console.router(Default::default(), stopped);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(async move { axum::serve(listener, router).await });
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

mod feed;
mod page;
pub mod upload;

pub use feed::Feed;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use prometheus_client::registry::Registry;
use thumbnail_core::ThumbnailSpec;
use thumbnail_pipeline::dead_letters;
use thumbnail_queue::Queue;
use thumbnail_storage::links::LinkSigner;
use thumbnail_storage::{ObjectKey, ObjectStore, StorageError};
use tokio::sync::{broadcast, watch};

/// The largest thumbnail a signed link serves.
const MAX_FILE: u64 = 64 << 20;

/// The content types a signed link serves as such: those of the thumbnails (and manifests are
/// not served as pages).
const SERVED_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "image/avif"];

/// `t`, one of [`SERVED_TYPES`], as a static string for a header.
fn served_type(t: &str) -> &'static str {
    SERVED_TYPES
        .into_iter()
        .find(|served| *served == t)
        .unwrap_or("application/octet-stream")
}

/// The header state-changing requests carry (see the crate docs).
pub const CONSOLE_HEADER: &str = "X-Thumbnail-Console";

/// What the console shows and works on.
#[derive(Debug)]
pub struct Console {
    /// Where uploads go.
    pub source: Arc<dyn ObjectStore>,
    /// Where signed links are served from, and from nowhere else.
    pub thumbnails: Arc<dyn ObjectStore>,
    /// The job queue, for its depth and for replayed dead letters.
    pub queue: Arc<dyn Queue>,
    /// The dead-letter queue, if any.
    pub dead_letters: Option<Arc<dyn Queue>>,
    /// The presets, as the page lists them.
    pub presets: Vec<ThumbnailSpec>,
    /// Checks signed links; `None` serves none (on AWS, preview links are S3's).
    pub links: Option<LinkSigner>,
    /// Where thumbnails share the source bucket, their prefix: uploads under it are refused (the
    /// pipeline never takes them, and one could replace a thumbnail that links point to).
    pub reserved_prefix: Option<String>,
    /// The host names the console answers for, besides `localhost`, `127.0.0.1` and `[::1]`
    /// (that of the URL others reach it by).
    pub hosts: Vec<String>,
    /// The password its pages and actions ask for (any user name); `None`: no login.
    pub token: Option<String>,
    /// The largest file an upload may hold: the engine's byte limit (`Limits::max_bytes`), past
    /// which no thumbnail could be made of it.
    pub max_upload_bytes: u64,
    /// The recent uploads: this feed must also be one of the pipeline's notifiers.
    pub feed: Feed,
}

/// `/healthz` (200 while running, 503 once `stopping` is true) and `/metrics` (OpenMetrics text).
pub fn ops_router(registry: Arc<Registry>, stopping: watch::Receiver<bool>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(move || {
                let stopping = *stopping.borrow();
                async move {
                    match stopping {
                        true => (StatusCode::SERVICE_UNAVAILABLE, "stopping\n"),
                        false => (StatusCode::OK, "ok\n"),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || async move {
                let mut text = String::new();
                match prometheus_client::encoding::text::encode(&mut text, &registry) {
                    Ok(()) => (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    )
                        .into_response(),
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
                }
            }),
        )
}

/// At most this many connections are served at once; the next wait in the kernel's listen
/// backlog, which costs the process no file descriptor, until one closes.
pub const MAX_CONNECTIONS: usize = 256;

/// A request's header must arrive within this: a connection that sends half of one is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `addr` from a task for as long as the runtime runs; returns the address
/// bound (port 0 picks one). HTTP/1.1, at most [`MAX_CONNECTIONS`] at once, each request's header
/// within [`HEADER_TIMEOUT`]: connections that open and stall can neither pile up nor take the
/// descriptors the worker needs. An accept that fails (no descriptor left) is tried again a second
/// later, never ending the server.
pub async fn serve(
    addr: std::net::SocketAddr,
    router: Router,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(accept(listener, router));
    Ok(bound)
}

async fn accept(listener: tokio::net::TcpListener, router: Router) {
    use tower::ServiceExt as _;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection; trying again in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let router = router.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(
                move |request: axum::http::Request<hyper::body::Incoming>| {
                    router.clone().oneshot(request.map(axum::body::Body::new))
                },
            );
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "a connection ended in error");
            }
        });
    }
}

impl Console {
    /// The console's routes and the operations routes.
    pub fn router(self, registry: Arc<Registry>, stopping: watch::Receiver<bool>) -> Router {
        let console = Arc::new(self);
        Router::new()
            .route("/", get(index))
            .route("/console.js", get(script))
            .route("/events", get(events))
            .route("/fragments/status", get(status))
            .route("/uploads", post(upload::upload))
            .route("/dead-letters/{id}/replay", post(replay))
            .route("/files/{*key}", get(file))
            .layer(DefaultBodyLimit::max(upload::MAX_REQUEST))
            .layer(axum::Extension(upload::Slots::new()))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&console),
                guard,
            ))
            .with_state(console)
            .merge(ops_router(registry, stopping))
    }

    /// Whether `host` (a `Host` header: a name or address, and a port) is one of the console's.
    fn answers_for(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().map(|v6| format!("[{v6}]")),
            None => host.split(':').next().map(str::to_owned),
        };
        let Some(name) = name.map(|n| n.to_ascii_lowercase()) else {
            return false;
        };
        ["localhost", "127.0.0.1", "[::1]"].contains(&name.as_str())
            || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(&name))
    }

    /// Whether `key` lies under the thumbnails' prefix in a bucket they share with uploads.
    pub(crate) fn is_reserved(&self, key: &ObjectKey) -> bool {
        self.reserved_prefix.as_deref().is_some_and(|prefix| {
            key.as_str()
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    async fn status_html(&self) -> String {
        let depth = self.queue.depth().await.map_err(|e| e.to_string());
        let dead = match &self.dead_letters {
            Some(queue) => dead_letters::list(queue.as_ref())
                .await
                .map_err(|e| e.to_string()),
            None => Err("no dead-letter queue is configured (THUMBNAIL_DLQ)".into()),
        };
        page::status(depth, dead)
    }
}

type Shared = State<Arc<Console>>;

/// The page's answers carry a policy that runs no script but the console's own: an escaping
/// mistake would show markup, never run it.
fn html(body: String) -> Response {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: http: https:; style-src 'self' 'unsafe-inline'; script-src 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(body),
    )
        .into_response()
}

async fn index(State(console): Shared) -> Response {
    let status = console.status_html().await;
    html(page::page(
        &console.presets,
        &console.feed.entries(),
        &status,
    ))
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("console.js"),
    )
        .into_response()
}

async fn status(State(console): Shared) -> Response {
    html(console.status_html().await)
}

fn entry_event(entry: &feed::Entry) -> Event {
    let data = serde_json::json!({"id": entry.id, "html": page::entry(entry)});
    Event::default().event("entry").data(data.to_string())
}

/// Every entry at once (so a page that connects late misses nothing), then each change.
async fn events(State(console): Shared) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = console.feed.subscribe();
    let snapshot: Vec<Event> = console
        .feed
        .entries()
        .iter()
        .rev()
        .map(entry_event)
        .collect();
    let live = stream::unfold((changes, console), |(mut changes, console)| async move {
        let events = match changes.recv().await {
            Ok(entry) => vec![entry_event(&entry)],
            // A slow page missed changes: it gets every entry again.
            Err(broadcast::error::RecvError::Lagged(_)) => console
                .feed
                .entries()
                .iter()
                .rev()
                .map(entry_event)
                .collect(),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((stream::iter(events.into_iter().map(Ok)), (changes, console)))
    });
    let all = stream::iter(snapshot.into_iter().map(Ok)).chain(live.flatten());
    Sse::new(all).keep_alive(KeepAlive::default())
}

/// Answers only requests for the console's host names (421 otherwise: a rebound DNS name), and,
/// with a token, only those that give it (401), signed links aside: they carry their own proof.
async fn guard(
    State(console): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !console.answers_for(host) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this console does not answer for that host name; set THUMBNAIL_CONSOLE_URL to the one it is reached by\n",
        )
            .into_response();
    }
    let signed_link = request
        .uri()
        .path()
        .starts_with(thumbnail_storage::links::FILES_PATH);
    if let Some(token) = &console.token
        && !signed_link
        && !authorized(request.headers(), token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"thumbnail console\", charset=\"UTF-8\"",
            )],
            "this console asks for its password\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether the request's basic authentication gives `token` as the password (any user name).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    use base64::Engine as _;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|pair| String::from_utf8(pair).ok());
    let Some(password) = given
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .map(|(_, p)| p)
    else {
        return false;
    };
    // Compared as digests, so the time taken says nothing of how much of it matched.
    use sha2::Digest as _;
    sha2::Sha256::digest(password.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
}

/// The refusal of a state-changing request that does not come from the console's page.
pub(crate) fn unless_from_console(headers: &HeaderMap) -> Option<Response> {
    (!headers.contains_key(CONSOLE_HEADER)).then(|| {
        (
            StatusCode::FORBIDDEN,
            format!("requests that change something need the {CONSOLE_HEADER} header\n"),
        )
            .into_response()
    })
}

async fn replay(State(console): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refused) = unless_from_console(&headers) {
        return refused;
    }
    let Some(dead) = &console.dead_letters else {
        return (StatusCode::NOT_FOUND, "no dead-letter queue\n").into_response();
    };
    match dead_letters::redrive(dead.as_ref(), console.queue.as_ref(), |l| l.id == id).await {
        Ok(0) => (StatusCode::NOT_FOUND, "no such dead letter\n").into_response(),
        Ok(_) => {
            tracing::info!(id, "dead letter replayed from the console");
            (StatusCode::OK, "replayed\n").into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Signed {
    expires: u64,
    signature: String,
}

/// A thumbnail for a signed link: 403 for an expired or altered link, 404 for anything the
/// thumbnail bucket does not hold.
async fn file(
    State(console): Shared,
    Path(key): Path<String>,
    signed: Result<Query<Signed>, QueryRejection>,
) -> Response {
    let Some(links) = &console.links else {
        return (StatusCode::NOT_FOUND, "this console serves no links\n").into_response();
    };
    let Ok(Query(signed)) = signed else {
        return (StatusCode::FORBIDDEN, "the link is not signed\n").into_response();
    };
    if let Err(e) = links.verify(&key, signed.expires, &signed.signature, SystemTime::now()) {
        return (StatusCode::FORBIDDEN, format!("{e}\n")).into_response();
    }
    let Ok(key) = ObjectKey::new(key) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    match console.thumbnails.get(&key, MAX_FILE).await {
        Ok(object) => {
            // Served as an image only if it is one the pipeline writes; anything else (an
            // object put there by other means) as a download, never as a page or a script.
            let image = object
                .info
                .content_type
                .as_deref()
                .filter(|t| SERVED_TYPES.contains(t));
            let (content_type, disposition) = match image {
                Some(t) => (HeaderValue::from_static(served_type(t)), "inline"),
                None => (
                    HeaderValue::from_static("application/octet-stream"),
                    "attachment",
                ),
            };
            let left = signed.expires.saturating_sub(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    ),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static("default-src 'none'; sandbox"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_static(disposition),
                    ),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_str(&format!("private, max-age={}", left.min(86_400)))
                            .expect("ASCII"),
                    ),
                ],
                object.bytes,
            )
                .into_response()
        }
        Err(StorageError::NotFound { .. } | StorageError::InvalidKey { .. }) => {
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response(),
    }
}
