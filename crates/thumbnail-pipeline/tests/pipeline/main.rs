//! The pipeline's integration tests, in one binary: whole messages, owners, and processing one
//! object end to end on the in-memory backends.

mod common;
mod message;
mod owner;
mod process;
