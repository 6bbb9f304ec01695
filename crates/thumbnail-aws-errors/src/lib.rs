//! How the thumbnail AWS adapters (S3 storage, SQS queue, SNS notifier) classify AWS SDK errors: turning one
//! into a [`Failure`] that says whether trying again can help.
//!
//! Retrying itself is the SDK's job (its standard retry mode, configured once on the `SdkConfig` by
//! the binary). What reaches an adapter has already exhausted those attempts; this classification
//! lets the pipeline choose between "release the message and let it come back later" and "dead-letter
//! it now", without matching on strings.
//!
//! ```
//! use thumbnail_aws_errors::{Class, classify_status};
//! assert_eq!(classify_status(503, Some("SlowDown")), Class::Transient);
//! assert_eq!(classify_status(404, Some("NoSuchKey")), Class::NotFound);
//! assert_eq!(classify_status(403, Some("AccessDenied")), Class::AccessDenied);
//! assert_eq!(classify_status(400, Some("InvalidParameterValue")), Class::Permanent);
//! ```

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an SDK error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The thing asked for does not exist (object, bucket, queue, topic).
    NotFound,
    /// The credentials are not allowed to do this.
    AccessDenied,
    /// Throttling, a timeout, a 5xx, or the endpoint could not be reached: worth trying again later.
    Transient,
    /// Anything else the service refused; trying again gives the same answer.
    Permanent,
}

impl Class {
    /// Whether trying again later may succeed.
    pub fn is_retryable(self) -> bool {
        self == Class::Transient
    }
}

/// A classified SDK failure, with the service's own code and message for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The kind of failure.
    pub class: Class,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The service's error code (e.g. `NoSuchKey`), when it sent one.
    pub code: Option<String>,
    /// A one-line description.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " ({code}")?;
            if let Some(status) = self.status {
                write!(f, ", HTTP {status}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Classifies any AWS SDK operation error.
pub fn classify<E>(error: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().map(str::to_owned);
            let message = context
                .err()
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the service answered HTTP {status}"));
            Failure {
                class: classify_status(status, code.as_deref()),
                status: Some(status),
                code,
                message,
            }
        }
        SdkError::TimeoutError(_) => transient("the request timed out"),
        SdkError::DispatchFailure(failure) if failure.is_user() => Failure {
            class: Class::Permanent,
            status: None,
            code: None,
            message: format!("the request could not be sent: {}", chain(error)),
        },
        SdkError::DispatchFailure(_) => transient(&format!(
            "the endpoint could not be reached: {}",
            chain(error)
        )),
        SdkError::ResponseError(_) => {
            transient(&format!("the response could not be read: {}", chain(error)))
        }
        SdkError::ConstructionFailure(_) => Failure {
            class: Class::Permanent,
            status: None,
            code: None,
            message: format!("the request could not be built: {}", chain(error)),
        },
        _ => transient(&chain(error)),
    }
}

/// Classifies a service answer by its HTTP status and error code.
pub fn classify_status(status: u16, code: Option<&str>) -> Class {
    const NOT_FOUND: &[&str] = &[
        "NoSuchKey",
        "NoSuchBucket",
        "NotFound",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFoundException",
    ];
    const THROTTLED: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KMSThrottlingException",
        "RequestLimitExceeded",
    ];
    // Expired temporary credentials and a skewed clock: refused now, but the SDK asks its
    // credentials provider again (a role's session is renewed) and clocks get corrected, so an
    // image must not be dead-lettered as if it were denied for good.
    const EXPIRED: &[&str] = &[
        "ExpiredToken",
        "ExpiredTokenException",
        "TokenRefreshRequired",
        "RequestExpired",
        "RequestTimeTooSkewed",
    ];
    match (status, code) {
        (_, Some(code)) if THROTTLED.contains(&code) || EXPIRED.contains(&code) => Class::Transient,
        (_, Some(code)) if NOT_FOUND.contains(&code) => Class::NotFound,
        (404, _) => Class::NotFound,
        (401 | 403, _) => Class::AccessDenied,
        (408 | 429, _) => Class::Transient,
        (500..=599, _) => Class::Transient,
        _ => Class::Permanent,
    }
}

fn transient(message: &str) -> Failure {
    Failure {
        class: Class::Transient,
        status: None,
        code: None,
        message: message.to_owned(),
    }
}

/// The error and its sources on one line (the SDK's top-level messages alone say little).
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_classify() {
        assert_eq!(classify_status(500, None), Class::Transient);
        assert_eq!(classify_status(429, None), Class::Transient);
        assert_eq!(
            classify_status(400, Some("ThrottlingException")),
            Class::Transient
        );
        assert_eq!(
            classify_status(400, Some("AWS.SimpleQueueService.NonExistentQueue")),
            Class::NotFound
        );
        assert_eq!(classify_status(404, None), Class::NotFound);
        assert_eq!(classify_status(403, None), Class::AccessDenied);
        assert_eq!(
            classify_status(403, Some("AccessDenied")),
            Class::AccessDenied
        );
        for expired in ["ExpiredToken", "RequestTimeTooSkewed", "RequestExpired"] {
            assert_eq!(
                classify_status(403, Some(expired)),
                Class::Transient,
                "{expired}"
            );
        }
        assert_eq!(
            classify_status(400, Some("ExpiredTokenException")),
            Class::Transient
        );
        assert_eq!(classify_status(400, None), Class::Permanent);
        assert!(Class::Transient.is_retryable() && !Class::NotFound.is_retryable());
    }
}
