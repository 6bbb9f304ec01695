//! Notifications as signed HTTP POSTs, for programs: a chat bot, a CMS, a queue of one's own.
//!
//! The body is the notification's JSON document ([`Notification::document`]). Two headers let
//! the receiver check it came from this worker and is fresh:
//!
//! - `X-Thumbnail-Timestamp`: seconds since the Unix epoch when it was signed;
//! - `X-Thumbnail-Signature`: `sha256=` and the hex HMAC-SHA256, under the shared secret, of the
//!   timestamp, a `.`, and the body exactly as received.
//!
//! A receiver recomputes the HMAC over the raw body, compares in constant time, and refuses
//! timestamps more than a few minutes old (a replayed request). See [`signature`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Notification, Notifier, NotifyError};

/// The header carrying the signing time.
pub const TIMESTAMP_HEADER: &str = "X-Thumbnail-Timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Thumbnail-Signature";

/// Waits between attempts: a failed POST is tried four times in about 3.5 s before the
/// notification fails as transient (and the message is retried from the queue).
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// The `X-Thumbnail-Signature` value of `body` signed at `timestamp` with `secret`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs each notification to a URL, signed; retries connection failures, 429, 5xx and 3xx
/// answers (a redirect is never followed).
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
    name: String,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier posting to `url` (http or https), signing with `secret`.
    pub fn new(url: &str, secret: &[u8]) -> Result<Self, NotifyError> {
        let config = |message: String| NotifyError::Config {
            target: "webhook_url".into(),
            message,
        };
        let url = reqwest::Url::parse(url).map_err(|e| config(format!("'{url}': {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config(format!("'{url}' is not an http(s) URL")));
        }
        if secret.is_empty() {
            return Err(NotifyError::Config {
                target: "webhook_secret".into(),
                message: "a webhook needs a secret to sign with".into(),
            });
        }
        // No redirects: a 301/302 would turn the POST into a GET without body that counts as
        // delivered, and a 307 would re-post the signed body to another host; a 3xx is a failure.
        // No `Referer` either: it would carry the URL's token.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|e| config(e.to_string()))?;
        // The URL may carry a token in its query: the name keeps the host and path only.
        let name = format!(
            "webhook:{}{}",
            url.host_str().unwrap_or_default(),
            url.path()
        );
        Ok(WebhookNotifier {
            client,
            url,
            secret: secret.to_vec(),
            name,
        })
    }

    /// One POST: `Ok` on 2xx; `Err(retryable, message)` otherwise.
    async fn post(&self, body: &[u8]) -> Result<(), (bool, String)> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, body))
            .body(body.to_vec())
            .send()
            .await
            // Without the URL, whose query may hold a token: the message reaches the log.
            .map_err(|e| (true, format!("{}", e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // A redirect is retried, as a receiver that moved may be configured again meanwhile.
        let retryable = status.is_server_error()
            || status.is_redirection()
            || status.as_u16() == 429
            || status.as_u16() == 408;
        Err((retryable, format!("the receiver answered {status}")))
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let document = notification.document();
        let id = format!("webhook-{}", document["published_at_ms"]);
        let body = serde_json::to_vec(&document).expect("JSON serialises");
        let mut waits = BACKOFF.iter();
        loop {
            let (retryable, message) = match self.post(&body).await {
                Ok(()) => return Ok(id),
                Err(failure) => failure,
            };
            let target = self.name.clone();
            match (retryable, waits.next()) {
                (false, _) => return Err(NotifyError::Permanent { target, message }),
                (true, None) => return Err(NotifyError::Transient { target, message }),
                (true, Some(wait)) => {
                    tracing::debug!(webhook = %self.name, %message, "retrying the webhook");
                    tokio::time::sleep(*wait).await;
                }
            }
        }
    }
}
