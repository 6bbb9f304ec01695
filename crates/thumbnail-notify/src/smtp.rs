//! Notifications by e-mail, through any SMTP server: what the SNS topic's e-mail subscribers get,
//! without AWS.

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{Notification, Notifier, NotifyError};

/// Where and to whom e-mail goes.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The server: `smtp://HOST[:PORT]` (plain), `smtp://USER:PASSWORD@HOST:587?tls=required`
    /// (STARTTLS, authenticated) or `smtps://HOST` (TLS from the start); lettre's URL syntax.
    pub url: String,
    /// The sender, e.g. `Thumbnails <thumbnails@example.com>`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("SmtpSettings")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// Sends each notification as an e-mail: the subject, the text (which image, a preview link per
/// thumbnail) as the body, and the JSON document ([`Notification::document`]) attached as
/// `notification.json` for programs that read mail.
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    name: String,
}

impl std::fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl SmtpNotifier {
    /// A notifier sending as `settings` say; nothing is sent, nor connected to, until the first
    /// notification.
    pub fn new(settings: &SmtpSettings) -> Result<Self, NotifyError> {
        let config = |target: &str, message: String| NotifyError::Config {
            target: target.into(),
            message,
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            // lettre's message may quote the URL, password and all.
            .map_err(|_| {
                config(
                    "smtp_url",
                    "not an smtp:// or smtps:// URL lettre reads".into(),
                )
            })?
            .build();
        let mailbox = |target: &str, address: &str| {
            address
                .parse::<Mailbox>()
                .map_err(|e| config(target, format!("'{address}': {e}")))
        };
        let from = mailbox("email_from", &settings.from)?;
        let to = settings
            .to
            .iter()
            .map(|address| mailbox("email_to", address))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(config("email_to", "no recipient".into()));
        }
        let name = format!(
            "smtp:{}",
            to.iter()
                .map(|m| m.email.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        Ok(SmtpNotifier {
            transport,
            from,
            to,
            name,
        })
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, notification: &Notification) -> Result<String, NotifyError> {
        let json = serde_json::to_string_pretty(&notification.document()).expect("JSON serialises");
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(notification.subject_line());
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(notification.text.clone()))
                    .singlepart(
                        Attachment::new("notification.json".into())
                            .body(json, ContentType::parse("application/json").expect("valid")),
                    ),
            )
            .map_err(|e| NotifyError::Permanent {
                target: self.name.clone(),
                message: e.to_string(),
            })?;
        let response = self.transport.send(message).await.map_err(|e| {
            let (target, message) = (self.name.clone(), e.to_string());
            match e.is_permanent() {
                true => NotifyError::Permanent { target, message },
                // Connection refused, timeouts, 4xx replies: the server may take it later.
                false => NotifyError::Transient { target, message },
            }
        })?;
        Ok(response.message().collect::<Vec<_>>().join(" "))
    }
}
