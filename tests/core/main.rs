//! The engine's integration tests, in one binary: whole images through `thumbnail-core` (the
//! engine suite, and the BMP, TIFF, HEIF/AVIF and damaged-file variants). The memory-limit tests
//! stay in a binary of their own: their counting allocator serves the whole process.

mod bmp;
mod engine;
mod heif;
mod tiff;
mod tolerance;
