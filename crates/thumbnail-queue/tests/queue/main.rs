//! The local queue's integration tests, in one binary: the conformance suite on every backend, and
//! a message held by a killed process.

mod conformance;
mod descriptors;
mod local_crash;
