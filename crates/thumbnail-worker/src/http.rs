//! The worker's optional HTTP endpoint: `/healthz` (200 while running, 503 once stopping) and
//! `/metrics` (Prometheus text format). Two fixed GET routes on loopback or a private port need no
//! web framework: a request line in, one response out, connection closed.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Listens on `addr` and serves from a task for as long as the runtime runs; `stopping` turns
/// `/healthz` to 503.
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    stopping: watch::Receiver<bool>,
) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
    tracing::info!(addr = %listener.local_addr()?, "serving /healthz and /metrics");
    let registry = Arc::new(registry);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (registry, stopping) = (Arc::clone(&registry), stopping.clone());
            tokio::spawn(async move {
                let stopping = *stopping.borrow();
                if let Err(e) = answer(stream, &registry, stopping).await {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            });
        }
    });
    Ok(())
}

async fn answer(mut stream: TcpStream, registry: &Registry, stopping: bool) -> Result<()> {
    // The request line is all that matters; a short read bounds what a client can make us hold.
    let mut head = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut head))
        .await
        .context("request timed out")??;
    let request = String::from_utf8_lossy(&head[..read]);
    let mut words = request.split_whitespace();
    let (status, content_type, body) = match (words.next(), words.next()) {
        (Some("GET"), Some("/healthz")) if stopping => {
            ("503 Service Unavailable", "text/plain", "stopping\n".into())
        }
        (Some("GET"), Some("/healthz")) => ("200 OK", "text/plain", "ok\n".into()),
        (Some("GET"), Some("/metrics")) => {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, registry)?;
            (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            )
        }
        (Some("GET"), _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}
