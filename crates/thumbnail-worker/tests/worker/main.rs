//! The worker's integration tests: the real `thumbnail-worker` binary as users run it, on the
//! local backend and on the S3/SQS/SNS test server. One test binary, not one per file, so that
//! the AWS SDK and the engine are linked into it once.

mod browser;
mod common;
mod console_mail;
mod convert;
mod presets;
mod reliability;
mod run_aws;
mod run_local;
mod settings;
