//! The one error type of the engine.

use crate::format::{ImageFormat, OutputFormat};

/// Why an image could not be turned into thumbnails.
///
/// Every variant is about the input or the requested output, never about the machine, so a caller can
/// treat them all as permanent for that image: retrying the same bytes gives the same error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not an image format the engine decodes (or are empty).
    #[error("unsupported image format: {reason}")]
    UnsupportedFormat {
        /// What was recognised, e.g. "SVG (vector) is not supported" or "no known image signature".
        reason: String,
    },

    /// The format was recognised but the data could not be decoded.
    #[error("corrupt {format} data: {message}")]
    Corrupt {
        /// The format the signature announced.
        format: ImageFormat,
        /// The decoder's own message.
        message: String,
    },

    /// The header announces more pixels than [`Limits::max_pixels`](crate::Limits::max_pixels).
    #[error(
        "{format} image is {width}x{height} = {pixels} pixels, over the limit of {limit} pixels"
    )]
    TooManyPixels {
        /// The format of the input.
        format: ImageFormat,
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// `width * height`.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },

    /// A thumbnail would have more pixels than [`Limits::max_pixels`](crate::Limits::max_pixels):
    /// a box larger than the image, with enlarging allowed (`convert -s 16384` of a 1x1 PNG).
    #[error(
        "thumbnail '{name}' would be {width}x{height} = {pixels} pixels, over the limit of {limit} pixels"
    )]
    OutputTooLarge {
        /// The name of the spec.
        name: String,
        /// Width of the thumbnail.
        width: u32,
        /// Height of the thumbnail.
        height: u32,
        /// `width * height`.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },

    /// The input is larger than [`Limits::max_bytes`](crate::Limits::max_bytes).
    #[error("input is {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        bytes: u64,
        /// The configured limit.
        limit: u64,
    },

    /// A decoder refused to allocate what the data asked for (e.g. a compression bomb in a metadata chunk).
    #[error("{format} decoder limit exceeded: {message}")]
    DecoderLimit {
        /// The format of the input.
        format: ImageFormat,
        /// The decoder's own message.
        message: String,
    },

    /// Encoding a thumbnail failed.
    #[error("cannot encode {format} thumbnail '{name}': {message}")]
    Encode {
        /// The output format.
        format: OutputFormat,
        /// The name of the spec being encoded.
        name: String,
        /// The encoder's own message.
        message: String,
    },

    /// A size, preset or spec given by the caller is not valid.
    #[error("invalid thumbnail spec '{input}': {reason}")]
    InvalidSpec {
        /// The text or spec name that was rejected.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid_spec(input: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidSpec {
            input: input.into(),
            reason: reason.into(),
        }
    }
}
