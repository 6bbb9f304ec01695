//! Decoding: header first (limits checked before any pixel buffer exists), then pixels, upright and in sRGB.

mod avif;
mod bmp;
mod gif;
mod heif;
mod jpeg;
mod other;
mod png;
mod progressive;
mod tiff;

use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer};

use crate::raster::{PixelLayout, Raster};
use crate::spec::Fault;
use crate::{Error, FailOn, ImageFormat, Limits};

/// What the header says about an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// The detected format.
    pub format: ImageFormat,
    /// Width as stored (before orientation).
    pub width: u32,
    /// Height as stored (before orientation).
    pub height: u32,
    /// EXIF orientation, 1 to 8 (1 when absent or invalid).
    pub orientation: u8,
    /// Bytes a pixel takes as decoded: 3 for RGB, 4 for RGBA or CMYK, up to 8 for 16-bit RGBA.
    pub bytes_per_pixel: u8,
    /// Whether the pixels arrive in passes over the whole image (a progressive JPEG, an
    /// interlaced PNG), which decides how a decoder may shrink it and what it must hold.
    pub interlaced: bool,
}

impl ImageInfo {
    /// Width and height once the EXIF orientation is applied (swapped for orientations 5 to 8).
    pub fn oriented_size(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// Width times height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Reads only the header of `input`.
pub(crate) fn probe(input: &[u8], limits: &Limits) -> Result<ImageInfo, Error> {
    check_bytes(input, limits)?;
    match ImageFormat::detect(input)? {
        ImageFormat::Jpeg => jpeg::probe(input),
        ImageFormat::Png => guarded(ImageFormat::Png, || png::probe(input)),
        ImageFormat::Gif => guarded(ImageFormat::Gif, || gif::probe(input, limits)),
        ImageFormat::Heif => heif::probe(input),
        ImageFormat::Avif => avif::probe(input),
        ImageFormat::Tiff => tiff::probe(input, limits),
        format => other::probe(input, format, limits),
    }
}

/// Decodes `input` upright and in sRGB. `choose_shrink` sees the header (after the limits passed) and
/// returns the shrink-on-load factor, 1, 2, 4 or 8, which JPEG (DCT scaling) and PNG (a box average
/// as rows arrive) take; other formats always decode at full size.
/// `scratch` is reused for the pixels when the decoder allows it. Returns, beside the pixels and
/// the header, the faults tolerated under `limits.fail_on`.
pub(crate) fn decode(
    input: &[u8],
    limits: &Limits,
    mut scratch: Vec<u8>,
    choose_shrink: impl FnOnce(&ImageInfo) -> u32,
) -> Result<(Raster, ImageInfo, Vec<String>), Error> {
    check_bytes(input, limits)?;
    TOLERATED.with_borrow_mut(Vec::clear);
    let decoded = match ImageFormat::detect(input)? {
        ImageFormat::Jpeg => jpeg::decode(input, limits, scratch, choose_shrink),
        ImageFormat::Png => guarded(ImageFormat::Png, || {
            png::decode(input, limits, &mut scratch, choose_shrink)
        }),
        ImageFormat::Gif => guarded(ImageFormat::Gif, || gif::decode(input, limits)),
        ImageFormat::Heif => heif::decode(input, limits),
        ImageFormat::Avif => avif::decode(input, limits),
        ImageFormat::Tiff => tiff::decode(input, limits, scratch),
        format => other::decode(input, format, limits, scratch),
    };
    let tolerated = TOLERATED.take();
    let (raster, info) = decoded?;
    Ok((orient(raster, info.orientation), info, tolerated))
}

thread_local! {
    /// The faults the decode running on this thread has tolerated so far. A decode runs on one
    /// thread from start to end, and [`decode`] empties this before and takes it after.
    static TOLERATED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most faults one decode reports: a damaged file can have thousands.
const MAX_REPORTED: usize = 8;

/// A fault found in the data: refused as [`Error::Corrupt`] when `fail_on` says so, otherwise
/// noted as tolerated and the decode goes on.
fn fault(
    fail_on: FailOn,
    kind: Fault,
    format: ImageFormat,
    message: impl Into<String>,
) -> Result<(), Error> {
    let message = message.into();
    if fail_on.refuses(kind) {
        return Err(Error::Corrupt { format, message });
    }
    tolerate(message);
    Ok(())
}

/// Notes a tolerated fault (the first few different ones).
fn tolerate(message: String) {
    TOLERATED.with_borrow_mut(|tolerated| {
        if tolerated.len() < MAX_REPORTED && !tolerated.contains(&message) {
            tolerated.push(message);
        }
    });
}

fn check_bytes(input: &[u8], limits: &Limits) -> Result<(), Error> {
    let bytes = input.len() as u64;
    if bytes > limits.max_bytes {
        return Err(Error::TooLarge {
            bytes,
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Refuses a header over the pixel limit; called before the pixel buffer is allocated.
fn check_pixels(info: &ImageInfo, limits: &Limits) -> Result<(), Error> {
    if info.width == 0 || info.height == 0 {
        return Err(Error::Corrupt {
            format: info.format,
            message: format!(
                "header gives an empty image ({}x{})",
                info.width, info.height
            ),
        });
    }
    if info.pixels() > limits.max_pixels {
        return Err(Error::TooManyPixels {
            format: info.format,
            width: info.width,
            height: info.height,
            pixels: info.pixels(),
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// Pixels a decoder gave, as a raster, refused as `Corrupt` unless they have the size the header
/// gave: the limits and the memory estimate were checked on the header.
#[cfg(any(feature = "heic", feature = "avif-input"))]
fn sized_raster(
    info: &ImageInfo,
    (width, height): (usize, usize),
    layout: PixelLayout,
    pixels: Vec<u8>,
) -> Result<Raster, Error> {
    if (width, height) != (info.width as usize, info.height as usize) {
        return Err(Error::Corrupt {
            format: info.format,
            message: format!(
                "the header gives {}x{} but the image decodes to {width}x{height}",
                info.width, info.height
            ),
        });
    }
    Ok(Raster::from_parts(info.width, info.height, layout, pixels))
}

/// Decoders are not supposed to panic; should one do so on hostile input, that image fails alone
/// instead of the process.
fn guarded<T>(format: ImageFormat, work: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(Error::Corrupt {
            format,
            message: "the decoder panicked on this input".into(),
        })
    })
}

/// Applies the EXIF orientation, so the raster is upright.
fn orient(raster: Raster, orientation: u8) -> Raster {
    let Some(orientation) =
        Orientation::from_exif(orientation).filter(|o| *o != Orientation::NoTransforms)
    else {
        return raster;
    };
    let (width, height, layout) = (raster.width(), raster.height(), raster.layout());
    let pixels = raster.into_pixels();
    let mut image = match layout {
        PixelLayout::Rgb8 => DynamicImage::ImageRgb8(
            ImageBuffer::from_raw(width, height, pixels).expect("raster length"),
        ),
        PixelLayout::Rgba8 => DynamicImage::ImageRgba8(
            ImageBuffer::from_raw(width, height, pixels).expect("raster length"),
        ),
    };
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    Raster::from_parts(width, height, layout, image.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose pixels are numbered 0..6 in the red channel.
    fn numbered() -> Raster {
        let pixels = (0..6u8).flat_map(|i| [i, 0, 0]).collect();
        Raster::new(3, 2, PixelLayout::Rgb8, pixels).unwrap()
    }

    fn reds(r: &Raster) -> Vec<u8> {
        r.pixels().chunks(3).map(|p| p[0]).collect()
    }

    #[test]
    fn every_exif_orientation_turns_upright() {
        // Stored:  0 1 2 / 3 4 5. Each row gives what a viewer shows for that EXIF value.
        let expected: [(u8, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (value, size, pixels) in expected {
            let out = orient(numbered(), value);
            assert_eq!((out.width(), out.height()), size, "orientation {value}");
            assert_eq!(reds(&out), pixels, "orientation {value}");
        }
        // An invalid value (9) leaves the image as stored.
        assert_eq!(reds(&orient(numbered(), 9)), [0, 1, 2, 3, 4, 5]);
    }
}
