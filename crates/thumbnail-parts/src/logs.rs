//! The log of the worker and the Lambda function: `RUST_LOG` (default `info`), with the SDK's
//! chatty crates capped, as human-readable lines or JSON.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event, coloured on a terminal.
    #[default]
    Human,
    /// One JSON object per event, for log pipelines.
    Json,
}

/// Log directives added after `RUST_LOG`, whatever it says: at debug level the AWS SDK's endpoint
/// resolution prints the credentials' access key id (the secret is redacted), and lower levels of
/// the SDK, signing and HTTP crates print request headers. Their warnings and errors still show.
pub const LOG_CAPS: [&str; 6] = [
    "aws_smithy_runtime=info",
    "aws_runtime=info",
    "aws_sigv4=info",
    "aws_config=info",
    "hyper=info",
    "h2=info",
];

/// The filter: `RUST_LOG` (default `info`), with [`LOG_CAPS`] on top.
pub fn filter() -> EnvFilter {
    LOG_CAPS.iter().fold(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        |filter, cap| filter.add_directive(cap.parse().expect("a valid directive")),
    )
}

/// Sends the process's log to standard error in `format`. `timestamps: false` where the platform
/// stamps every line already (Lambda).
pub fn init(format: LogFormat, timestamps: bool) {
    let ansi = format == LogFormat::Human && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match (format, timestamps) {
        (LogFormat::Human, true) => logs.init(),
        (LogFormat::Human, false) => logs.without_time().init(),
        (LogFormat::Json, true) => logs.json().init(),
        (LogFormat::Json, false) => logs.json().without_time().init(),
    }
}
