//! `POST /uploads`: each file of a multipart form, written to an unnamed temporary file as it
//! arrives and streamed from there into the source bucket, so an upload costs the console a buffer,
//! not its size. Bounded: each file at [`Console::max_upload_bytes`] (the engine's byte limit: a
//! larger one could never get thumbnails), [`MAX_FILES`] a request, [`AT_ONCE`] requests at once,
//! and a body that sends nothing for [`STALL`] ends its request.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use thumbnail_storage::{ObjectKey, PutOptions, StorageError};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::{Console, unless_from_console};

/// Files one upload request may hold.
pub const MAX_FILES: usize = 100;

/// Upload requests served at once; another is answered 503 until one ends.
pub const AT_ONCE: usize = 4;

/// An upload whose body sends nothing for this long is ended.
pub const STALL: Duration = Duration::from_secs(30);

/// The largest upload request, all its files together.
pub(crate) const MAX_REQUEST: usize = 1 << 30;

/// Enough of a file to tell its format from.
const HEAD: usize = 4096;

/// The slots of [`AT_ONCE`] uploads.
#[derive(Clone)]
pub(crate) struct Slots(Arc<Semaphore>);

impl Slots {
    pub(crate) fn new() -> Self {
        Slots(Arc::new(Semaphore::new(AT_ONCE)))
    }
}

/// What a request did, as the page shows it: with `error` when it ended early or a file was
/// refused for its size.
#[derive(Default, serde::Serialize)]
struct Answer {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    uploaded: Vec<String>,
    refused: Vec<Refusal>,
}

#[derive(serde::Serialize)]
struct Refusal {
    name: String,
    reason: String,
}

/// Why a request ended early: its status and the sentence for the page.
type Ended = (StatusCode, String);

pub(crate) async fn upload(
    State(console): State<Arc<Console>>,
    Extension(slots): Extension<Slots>,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    if let Some(refused) = unless_from_console(&headers) {
        return refused;
    }
    let mut answer = Answer::default();
    let status = match slots.0.try_acquire() {
        Ok(_slot) => match receive(&console, form, &mut answer).await {
            Ok(()) => StatusCode::OK,
            Err((status, error)) => {
                answer.error = Some(error);
                status
            }
        },
        Err(_) => {
            answer.error = Some(format!(
                "{AT_ONCE} uploads are under way; try again when one ends"
            ));
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (status, axum::Json(answer)).into_response()
}

/// Stores each file of `form`, noting in `answer` what was stored and what refused.
async fn receive(console: &Console, mut form: Multipart, answer: &mut Answer) -> Result<(), Ended> {
    let limit = console.max_upload_bytes;
    let (mut files, mut too_large, mut beyond) = (0, 0, 0);
    while let Some(mut field) = stalled(form.next_field()).await? {
        // Each refused or skipped field is read to its end here, where a stall is caught.
        let Some(name) = field.file_name().map(str::to_owned) else {
            drain(&mut field).await?;
            continue;
        };
        files += 1;
        // Read to the end rather than answered at once: a browser still sending would see the
        // connection reset, not the answer.
        if files > MAX_FILES {
            drain(&mut field).await?;
            beyond += 1;
            continue;
        }
        let key = match ObjectKey::new(name.clone()) {
            Ok(key) if console.is_reserved(&key) => Err(format!(
                "{} is where thumbnails are kept; uploads go elsewhere",
                console.reserved_prefix.as_deref().unwrap_or_default()
            )),
            Ok(key) => Ok(key),
            Err(e) => Err(e.to_string()),
        };
        let key = match key {
            Ok(key) => key,
            Err(reason) => {
                drain(&mut field).await?;
                refuse(answer, name, reason);
                continue;
            }
        };
        match spool(&mut field, limit).await? {
            Some((file, head)) => store(console, &key, file, &head, answer).await,
            None => {
                too_large += 1;
                let reason = format!("over the limit of {} MiB", limit >> 20);
                refuse(answer, name, reason);
            }
        }
    }
    let mut errors = Vec::new();
    if too_large > 0 {
        errors.push(format!(
            "{too_large} file(s) over the limit of {} MiB a file were not stored",
            limit >> 20
        ));
    }
    if beyond > 0 {
        errors.push(format!(
            "at most {MAX_FILES} files an upload: the last {beyond} were not stored"
        ));
    }
    match errors.is_empty() {
        true => Ok(()),
        false => Err((StatusCode::PAYLOAD_TOO_LARGE, errors.join("; "))),
    }
}

fn refuse(answer: &mut Answer, name: String, reason: String) {
    tracing::warn!(file = %name, %reason, "console upload refused");
    answer.refused.push(Refusal { name, reason });
}

/// The field written to an unnamed temporary file, and its first bytes; `None` when it passed
/// `limit` bytes (the rest is read and dropped, so that the next file can be).
async fn spool(
    field: &mut Field<'_>,
    limit: u64,
) -> Result<Option<(std::fs::File, Vec<u8>)>, Ended> {
    let kept = |e: std::io::Error| {
        tracing::error!(error = %e, "cannot keep a console upload in a temporary file");
        (
            StatusCode::INSUFFICIENT_STORAGE,
            "the console has no room to receive the upload".to_owned(),
        )
    };
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .expect("making a file does not panic")
        .map_err(kept)?;
    let mut file = tokio::fs::File::from_std(file);
    let (mut size, mut head) = (0u64, Vec::with_capacity(HEAD));
    while let Some(chunk) = stalled(field.chunk()).await? {
        size += chunk.len() as u64;
        if size > limit {
            drain(field).await?;
            return Ok(None);
        }
        let wanted = (HEAD - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..wanted]);
        file.write_all(&chunk).await.map_err(kept)?;
    }
    file.flush().await.map_err(kept)?;
    Ok(Some((file.into_std().await, head)))
}

/// Reads the rest of `field`, keeping nothing.
async fn drain(field: &mut Field<'_>) -> Result<(), Ended> {
    while stalled(field.chunk()).await?.is_some() {}
    Ok(())
}

/// `file` into the source bucket as `key`, typed from its first bytes, never from what the
/// browser claims (`text/html` would be served back as a page on the console's origin).
async fn store(
    console: &Console,
    key: &ObjectKey,
    file: std::fs::File,
    head: &[u8],
    answer: &mut Answer,
) {
    let content_type = thumbnail_core::ImageFormat::detect(head)
        .map_or("application/octet-stream", |format| format.mime_type());
    match console
        .source
        .put_file(key, file, &PutOptions::new(content_type))
        .await
    {
        Ok(_) => {
            console.feed.uploaded(key.as_str());
            answer.uploaded.push(key.to_string());
        }
        Err(e) => {
            tracing::warn!(%key, error = %e, "console upload not stored");
            let reason = stored_reason(&e);
            answer.refused.push(Refusal {
                name: key.to_string(),
                reason,
            });
        }
    }
}

/// What the page is told of a failed write: the kind of failure, never the store's own words
/// (a local store's name is a folder on the server).
fn stored_reason(e: &StorageError) -> String {
    match e {
        StorageError::InvalidKey { reason, .. } => reason.clone(),
        StorageError::AccessDenied { .. } => "the source bucket refused it".to_owned(),
        e if e.is_retryable() => "the source bucket is unavailable; try again later".to_owned(),
        _ => "the source bucket could not store it".to_owned(),
    }
}

/// `read`, unless the body sends nothing for [`STALL`]; a malformed or oversized body ends the
/// request with the status axum gives it (400, or 413 past [`MAX_REQUEST`]).
async fn stalled<T>(read: impl Future<Output = Result<T, MultipartError>>) -> Result<T, Ended> {
    match tokio::time::timeout(STALL, read).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(e)) => Err((e.status(), e.body_text())),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the upload sent nothing for {} s and was ended",
                STALL.as_secs()
            ),
        )),
    }
}
