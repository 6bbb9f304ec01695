//! PNG row by row, shrunk as the rows arrive: a box average over `shrink` x `shrink` pixels, so
//! only one row of the image and the shrunk result are ever held, never the whole decoded image.
//!
//! Interlaced (Adam7) files send their rows in seven passes over the whole image, so they cannot
//! be shrunk as they arrive; those, and images needing no shrink, go to the full decode of
//! `other`. Colour is averaged with alpha as weight (premultiplied), so a transparent pixel's
//! colour never bleeds into its opaque neighbours.

use std::io::Cursor;

use image::metadata::Orientation;
use png::{BitDepth, ColorType, Transformations};

use super::{ImageInfo, check_pixels};
use crate::color;
use crate::raster::{PixelLayout, Raster};
use crate::{Error, ImageFormat, Limits};

/// A PNG decoder past the header, over bytes in memory.
type Reader<'a> = png::Reader<Cursor<&'a [u8]>>;

/// What the decoder may allocate besides the rows: metadata chunks, an ICC profile inflated
/// (a few KB in practice; a hostile one inflates to whatever it is allowed).
const METADATA_BYTES: usize = 16 << 20;

/// The header of `input`.
pub(super) fn probe(input: &[u8]) -> Result<ImageInfo, Error> {
    open(input).map(|(_, info)| info)
}

/// The decoder, past the header (and the metadata before the pixels), and what it says.
fn open(input: &[u8]) -> Result<(Reader<'_>, ImageInfo), Error> {
    // The pixel limit is checked on the header, by the caller; rows are small. What is left to
    // bound is what metadata may inflate to.
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(input),
        png::Limits {
            bytes: METADATA_BYTES,
        },
    );
    // Palettes and low bit depths expanded, tRNS to alpha, 16 bits to 8: rows of 1 to 4 bytes a
    // pixel, grey or RGB, with or without alpha.
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    let reader = decoder.read_info().map_err(corrupt)?;
    let header = reader.info();
    let info = ImageInfo {
        format: ImageFormat::Png,
        width: header.width,
        height: header.height,
        orientation: header
            .exif_metadata
            .as_deref()
            .and_then(Orientation::from_exif_chunk)
            .map_or(1, Orientation::to_exif),
        // As the full decode gives it: 16-bit samples stay 16-bit there.
        bytes_per_pixel: (header.color_type.samples()
            * if header.bit_depth == BitDepth::Sixteen {
                2
            } else {
                1
            }) as u8,
        interlaced: header.interlaced,
    };
    Ok((reader, info))
}

/// Decodes `input` shrunk by the factor `choose_shrink` picks (1, 2, 4 or 8), into `pixels`
/// (taken); `None` when this path does not apply (interlaced, or no shrink), for the full decode
/// to take it.
pub(super) fn decode(
    input: &[u8],
    limits: &Limits,
    pixels: &mut Vec<u8>,
    choose_shrink: impl FnOnce(&ImageInfo) -> u32,
) -> Result<Option<(Raster, ImageInfo)>, Error> {
    let (mut reader, info) = open(input)?;
    check_pixels(&info, limits)?;
    if info.interlaced {
        return Ok(None);
    }
    let shrink = choose_shrink(&info).clamp(1, 8) as usize;
    if shrink == 1 {
        return Ok(None);
    }
    let icc = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let (color_type, depth) = reader.output_color_type();
    if depth != BitDepth::Eight {
        return Ok(None);
    }
    let (channels, alpha) = match color_type {
        ColorType::Grayscale => (1, false),
        ColorType::GrayscaleAlpha => (2, true),
        ColorType::Rgb => (3, false),
        ColorType::Rgba => (4, true),
        ColorType::Indexed => return Ok(None),
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let (out_w, out_h) = (width.div_ceil(shrink), height.div_ceil(shrink));
    let out_channels = if alpha { 4 } else { 3 };
    let mut sums = Band::new(out_w, alpha);
    pixels.clear();
    pixels.reserve(out_w * out_h * out_channels);
    let mut y = 0;
    while let Some(row) = reader.next_row().map_err(corrupt)? {
        sums.add(row.data(), channels, shrink);
        y += 1;
        if sums.rows == shrink || y == height {
            sums.emit(pixels, width, shrink);
        }
    }
    if y != height {
        return Err(corrupt(format!(
            "the image ends after {y} of {height} rows"
        )));
    }
    let layout = if alpha {
        PixelLayout::Rgba8
    } else {
        PixelLayout::Rgb8
    };
    let mut raster = Raster::from_parts(out_w as u32, out_h as u32, layout, std::mem::take(pixels));
    if let Some(icc) = icc {
        color::to_srgb(&mut raster, &icc);
    }
    Ok(Some((raster, info)))
}

fn corrupt(e: impl ToString) -> Error {
    Error::Corrupt {
        format: ImageFormat::Png,
        message: e.to_string(),
    }
}

/// The running sums of one band of `shrink` rows, a column of output pixels each: colour
/// weighted by alpha, and alpha.
struct Band {
    colour: Vec<u32>,
    alpha: Vec<u32>,
    has_alpha: bool,
    /// Rows added since the last output row.
    rows: usize,
}

impl Band {
    fn new(width: usize, has_alpha: bool) -> Self {
        Band {
            colour: vec![0; width * 3],
            alpha: vec![0; width],
            has_alpha,
            rows: 0,
        }
    }

    /// Adds one decoded row (`channels` bytes a pixel: grey, grey+alpha, RGB or RGBA).
    fn add(&mut self, row: &[u8], channels: usize, shrink: usize) {
        for (x, pixel) in row.chunks_exact(channels).enumerate() {
            let out = x / shrink;
            let (rgb, a) = match *pixel {
                [g] => ([g, g, g], 255),
                [g, a] => ([g, g, g], a),
                [r, g, b] => ([r, g, b], 255),
                [r, g, b, a] => ([r, g, b], a),
                _ => unreachable!("one to four channels"),
            };
            let a = u32::from(a);
            for (sum, value) in self.colour[out * 3..out * 3 + 3].iter_mut().zip(rgb) {
                *sum += u32::from(value) * a;
            }
            self.alpha[out] += a;
        }
        self.rows += 1;
    }

    /// Appends the band's output row, averaged over the rows it holds, and starts afresh.
    fn emit(&mut self, pixels: &mut Vec<u8>, width: usize, shrink: usize) {
        for (out, alpha) in self.alpha.iter().enumerate() {
            let columns = shrink.min(width - out * shrink);
            let count = (columns * self.rows) as u32;
            for sum in &self.colour[out * 3..out * 3 + 3] {
                let value = match *alpha {
                    0 => 0,
                    alpha => (sum + alpha / 2) / alpha,
                };
                pixels.push(value as u8);
            }
            if self.has_alpha {
                pixels.push(((alpha + count / 2) / count) as u8);
            }
        }
        self.colour.iter_mut().for_each(|s| *s = 0);
        self.alpha.iter_mut().for_each(|s| *s = 0);
        self.rows = 0;
    }
}
