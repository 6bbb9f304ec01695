//! The stores' integration tests, in one binary: the conformance suite on every backend, and
//! presigned links checked by a server that verifies signatures.

mod conformance;
mod presign;
