//! The Lambda function's integration tests, in one binary: the handler called with hand-made and
//! recorded events, and the function under the runtime emulator against the S3/SQS/SNS test server.

mod handler;
mod usage;
mod watch_aws;
