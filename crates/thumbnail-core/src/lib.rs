//! `thumbnail-core`: a thumbnail engine. Bytes in, encoded thumbnails out; no I/O, no async
//! runtime, no cloud SDK.
//!
//! It decodes JPEG (baseline, progressive, gray, CMYK/YCCK), PNG (8/16-bit, palette, alpha), WebP,
//! GIF (first frame), TIFF and BMP, detected from the bytes; applies the EXIF orientation; converts
//! embedded ICC profiles (Adobe RGB, Display P3, CMYK) to sRGB; resizes with a SIMD Lanczos3 (or
//! another [`Filter`]) with correct alpha; fits by [`Fit::Cover`] (with [`Gravity`], including an
//! entropy-based and an attention-based smart crop), [`Fit::Contain`] or [`Fit::Fill`]; and encodes JPEG, PNG or WebP with no
//! metadata, so no EXIF or GPS location leaks into a public thumbnail.
//!
//! ```
//! use thumbnail_core::{Engine, Limits, Presets};
//!
//! // Any encoded image; here a 640x480 PNG made on the spot.
//! let photo = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 128]));
//! let mut png = Vec::new();
//! photo.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
//!
//! let presets = Presets::builtin();
//! let specs = [presets.require("profile")?.clone(), presets.require("album-art-small")?.clone()];
//! let mut engine = Engine::new(Limits::default()); // keep it: it reuses its buffers
//! let thumbnails = engine.thumbnails(&png, &specs)?; // one decode, two thumbnails
//!
//! assert_eq!((thumbnails[0].width, thumbnails[0].height), (128, 128));
//! assert_eq!((thumbnails[1].width, thumbnails[1].height), (300, 300));
//! assert!(thumbnails[0].bytes.starts_with(&[0xFF, 0xD8])); // JPEG
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Speed and memory
//!
//! Decoding is nearly all the cost of a thumbnail, so JPEGs are decoded by libjpeg-turbo (through the
//! `mozjpeg` crate) directly at 1/2, 1/4 or 1/8 scale when every requested output allows it
//! ("shrink-on-load", as libvips and Pillow's `draft()` do), into a buffer the [`Engine`] reuses. A 20 MP
//! JPEG made into a 256x256 thumbnail is decoded to 754x424 pixels and never exists at full size. A
//! progressive JPEG at those scales is decoded by our own decoder from the scans the scale uses (the
//! DC scans at 1/8; the first scans of the bands it needs at 1/4 and 1/2, refinements skipped), not
//! by libjpeg, which would buffer every coefficient of every scan first.
//!
//! The decoder was chosen by measurement on five real 5-20 MP JPEGs (2-core AMD EPYC, one thread, median
//! decode time of all five):
//!
//! | decoder | at 1/8 | full size | notes |
//! |---|---|---|---|
//! | `mozjpeg` 0.10 (libjpeg-turbo with SIMD) | **257 ms** | **407 ms** | streams rows into our buffer; lenient on damage |
//! | `turbojpeg` 1.5 | 292 ms | 410 ms | needs cmake, no EXIF access, rejects files with minor damage |
//! | `jpeg-decoder` 0.3 | 460 ms | 551 ms | pure Rust, but in maintenance mode with open fuzz panics |
//! | `zune-jpeg` 0.5 (`image`'s default) | no scaled decode | 517 ms | |
//!
//! Progressive JPEGs gain less from scaled decoding, since all their coefficients must be read first.
//!
//! # Limits and errors
//!
//! [`Limits`] are checked on the header, before any pixel buffer is allocated: a 1 KB file claiming
//! 100000x100000 pixels fails in microseconds with [`Error::TooManyPixels`]. Every failure is an
//! [`Error`] that says what was wrong with which input; no input makes the engine panic. A truncated
//! JPEG is an error (not a half-grey thumbnail); minor damage that every viewer tolerates is tolerated.
//!
//! libjpeg reports fatal errors by unwinding, which the engine catches: build with `panic = "unwind"`
//! (the default), not `"abort"`.
//!
//! # What it does not do
//!
//! No file, network or object-store I/O (the caller brings bytes), no animation (the first frame of a
//! GIF or WebP is used), no HEIF/AVIF/SVG/PDF input (they fail with [`Error::UnsupportedFormat`]).

#![warn(missing_docs)]

mod attention;
mod color;
mod decode;
mod encode;
mod engine;
mod error;
mod format;
mod geometry;
mod placeholder;
mod preset;
mod raster;
pub mod resize;
mod spec;

pub use decode::ImageInfo;
pub use engine::{Engine, Rendering, Thumbnail};
pub use error::Error;
pub use format::{Formats, ImageFormat, OutputFormat};
pub use placeholder::Placeholder;
pub use preset::Presets;
pub use raster::{PixelLayout, Raster};
pub use spec::{FailOn, Filter, Fit, Gravity, Limits, Size, ThumbnailSpec};
