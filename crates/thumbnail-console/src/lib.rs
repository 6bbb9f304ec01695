//! The thumbnail worker's web console, and its operations endpoints.
//!
//! [`Console::router`] serves, for people:
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page: an upload drop zone, recent uploads with their thumbnails as they are made, the queue, dead letters, presets |
//! | `POST /uploads` | images (multipart) into the source bucket, where the upload event takes them on |
//! | `GET /events` | server-sent events: each change to the recent uploads, as an HTML fragment |
//! | `GET /fragments/status` | the queue and dead letters, as an HTML fragment |
//! | `POST /dead-letters/{id}/replay` | moves a dead letter back to the queue |
//! | `GET /files/{key}?expires=&signature=` | a thumbnail, for a signed link ([`LinkSigner`]) |
//!
//! and, like [`ops_router`] alone, `GET /healthz` and `GET /metrics` for machines. Every key and
//! message is escaped where the HTML is made; state-changing requests need the
//! `X-Thumbnail-Console` header, which a page of another site cannot send without the console's
//! consent (it never gives it), so no other site can upload or replay through a visitor's browser.
//! The console has no login: serve it on loopback, or behind a proxy that authenticates.
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

pub use feed::Feed;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
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
use thumbnail_storage::{ObjectKey, ObjectStore, PutOptions, StorageError};
use tokio::sync::{broadcast, watch};

/// The largest upload request: several photos at once.
const MAX_UPLOAD: usize = 256 << 20;

/// The largest thumbnail a signed link serves.
const MAX_FILE: u64 = 64 << 20;

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

/// Serves `router` on `addr` from a task for as long as the runtime runs; returns the address
/// bound (port 0 picks one).
pub async fn serve(
    addr: std::net::SocketAddr,
    router: Router,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the HTTP server stopped");
        }
    });
    Ok(bound)
}

impl Console {
    /// The console's routes and the operations routes.
    pub fn router(self, registry: Arc<Registry>, stopping: watch::Receiver<bool>) -> Router {
        Router::new()
            .route("/", get(index))
            .route("/console.js", get(script))
            .route("/events", get(events))
            .route("/fragments/status", get(status))
            .route("/uploads", post(upload))
            .route("/dead-letters/{id}/replay", post(replay))
            .route("/files/{*key}", get(file))
            .layer(DefaultBodyLimit::max(MAX_UPLOAD))
            .with_state(Arc::new(self))
            .merge(ops_router(registry, stopping))
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

/// The refusal of a state-changing request that does not come from the console's page.
fn unless_from_console(headers: &HeaderMap) -> Option<Response> {
    (!headers.contains_key(CONSOLE_HEADER)).then(|| {
        (
            StatusCode::FORBIDDEN,
            format!("requests that change something need the {CONSOLE_HEADER} header\n"),
        )
            .into_response()
    })
}

/// Each file of the form into the source bucket under its file name.
async fn upload(State(console): Shared, headers: HeaderMap, mut form: Multipart) -> Response {
    if let Some(refused) = unless_from_console(&headers) {
        return refused;
    }
    let mut uploaded = Vec::new();
    let mut refused = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        let content_type = field
            .content_type()
            .filter(|t| !t.is_empty())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        let stored = match ObjectKey::new(name.clone()) {
            Ok(key) => console
                .source
                .put(&key, bytes.to_vec(), &PutOptions::new(content_type))
                .await
                .map(|_| key),
            Err(e) => Err(e),
        };
        match stored {
            Ok(key) => {
                console.feed.uploaded(key.as_str());
                uploaded.push(key.to_string());
            }
            Err(e) => {
                tracing::warn!(file = %name, error = %e, "console upload refused");
                refused.push(serde_json::json!({"name": name, "reason": e.to_string()}));
            }
        }
    }
    axum::Json(serde_json::json!({"uploaded": uploaded, "refused": refused})).into_response()
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
            let content_type = object
                .info
                .content_type
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok())
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
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
