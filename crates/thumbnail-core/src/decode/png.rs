//! PNG through the `png` crate, row by row, shrunk as the rows arrive: a box average over
//! `shrink` x `shrink` pixels, so only one row of the image and the shrunk result are ever held,
//! never the whole decoded image. Interlaced (Adam7) files send their rows in seven passes over the
//! whole image, so those are decoded whole first, then shrunk the same way. Colour is averaged
//! with alpha as weight (premultiplied), so a transparent pixel's colour never bleeds into its
//! opaque neighbours; 16-bit samples are taken to 8 bits as they are read.

use std::io::Cursor;

use image::metadata::Orientation;
use png::{BitDepth, ColorType, Transformations};

use super::{ImageInfo, check_pixels};
use crate::color;
use crate::raster::{PixelLayout, Raster};
use crate::spec::Fault;
use crate::{Error, FailOn, ImageFormat, Limits};

/// A PNG decoder past the header, over bytes in memory.
type Reader<'a> = png::Reader<Cursor<&'a [u8]>>;

/// What the decoder may allocate besides the rows: metadata chunks, an ICC profile inflated
/// (a few KB in practice; a hostile one inflates to whatever it is allowed).
const METADATA_BYTES: usize = 16 << 20;

/// The header of `input` (checksums unchecked: faults in the data are the decode's to judge).
pub(super) fn probe(input: &[u8]) -> Result<ImageInfo, Error> {
    open(input, true).map(|(_, info)| info).map_err(corrupt)
}

/// The decoder, past the header (and the metadata before the pixels), and what it says.
fn open(
    input: &[u8],
    ignore_checksums: bool,
) -> Result<(Reader<'_>, ImageInfo), png::DecodingError> {
    // The pixel limit is checked on the header, by the caller; rows are small. What is left to
    // bound is what metadata may inflate to. An ICC profile past that bound is a bomb, not a
    // profile: the image is read without it, as browsers show an image whose profile they
    // cannot use.
    let reader = match reader(input, false, ignore_checksums) {
        Err(png::DecodingError::LimitsExceeded) => reader(input, true, ignore_checksums),
        other => other,
    }?;
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

/// A decoder of `input` past its header, within [`METADATA_BYTES`] of metadata.
fn reader(
    input: &[u8],
    ignore_icc: bool,
    ignore_checksums: bool,
) -> Result<Reader<'_>, png::DecodingError> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(input),
        png::Limits {
            bytes: METADATA_BYTES,
        },
    );
    decoder.set_ignore_iccp_chunk(ignore_icc);
    decoder.ignore_checksums(ignore_checksums);
    // Palettes and low bit depths expanded, tRNS to alpha, 16 bits to 8: rows of 1 to 4 bytes a
    // pixel, grey or RGB, with or without alpha.
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    decoder.read_info()
}

/// Decodes `input`, shrunk by the factor `choose_shrink` picks (1, 2, 4 or 8), into `pixels`
/// (taken): row by row as the rows arrive, or, interlaced, from the whole image once decoded.
///
/// A first pass checks every checksum. Where the tolerance allows damaged data, a file that fails
/// it is read again without checksums: if that succeeds, the fault was only a checksum (a
/// tolerated error); if its rows stop early, the file was cut (refused unless nothing is).
pub(super) fn decode(
    input: &[u8],
    limits: &Limits,
    pixels: &mut Vec<u8>,
    choose_shrink: impl FnOnce(&ImageInfo) -> u32,
) -> Result<(Raster, ImageInfo), Error> {
    let lenient = (!limits.fail_on.refuses(Fault::Error)).then_some(limits.fail_on);
    // The checked pass's reader; where its header fails and damage is tolerated, the header is
    // read again unchecked for the limits and the shrink, and the second pass does the rest.
    let (checked, info) = match open(input, false) {
        Ok((reader, info)) => (Ok(reader), info),
        Err(e) if lenient.is_some() => (Err(corrupt(e)), probe(input)?),
        Err(e) => return Err(corrupt(e)),
    };
    check_pixels(&info, limits)?;
    let shrink = choose_shrink(&info).clamp(1, 8) as usize;
    let first = checked.and_then(|reader| shrunk(reader, &info, shrink, pixels, None));
    let raster = match (first, lenient) {
        (Err(Error::Corrupt { message, .. }), Some(fail_on)) => {
            let (reader, _) = open(input, true).map_err(corrupt)?;
            let raster = shrunk(reader, &info, shrink, pixels, Some(fail_on))?;
            super::tolerate(message);
            raster
        }
        (first, _) => first?,
    };
    Ok((raster, info))
}

/// One pass over the rows of `reader` (opened with checksums unchecked when `lenient`). `lenient`:
/// data that stops early is a truncation judged by that tolerance (the missing rows grey);
/// `None`: any fault fails.
fn shrunk(
    mut reader: Reader<'_>,
    info: &ImageInfo,
    shrink: usize,
    pixels: &mut Vec<u8>,
    lenient: Option<FailOn>,
) -> Result<Raster, Error> {
    // The png crate panics expanding a palette of part of a colour (found by fuzzing).
    if (reader.info().palette.as_ref()).is_some_and(|p| p.len() % 3 != 0) {
        return Err(corrupt(
            "a palette whose length is not a whole number of colours",
        ));
    }
    let icc = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let (color_type, depth) = reader.output_color_type();
    let (channels, alpha) = match (color_type, depth) {
        (ColorType::Grayscale, BitDepth::Eight) => (1, false),
        (ColorType::GrayscaleAlpha, BitDepth::Eight) => (2, true),
        (ColorType::Rgb, BitDepth::Eight) => (3, false),
        (ColorType::Rgba, BitDepth::Eight) => (4, true),
        other => unreachable!("EXPAND and STRIP_16 give 8-bit grey or RGB, not {other:?}"),
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let (out_w, out_h) = (width.div_ceil(shrink), height.div_ceil(shrink));
    let mut band = Band::new(out_w, alpha);
    pixels.clear();
    pixels.reserve(out_w * out_h * if alpha { 4 } else { 3 });
    let mut add = |row: &[u8], y: usize| {
        band.add(row, channels, shrink);
        if band.rows == shrink || y + 1 == height {
            band.emit(pixels, width, shrink);
        }
    };
    // Rows decoded, and why decoding stopped early, if it did.
    let (rows, stopped) = if info.interlaced {
        // Adam7 sends seven passes over the whole image: only the whole image has whole rows.
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| corrupt("the image does not fit in memory"))?;
        let mut whole = vec![0; size];
        let stopped = reader.next_frame(&mut whole).err();
        // A cut interlaced file has every row, each missing what later passes bring.
        for (y, row) in whole.chunks_exact(width * channels).enumerate() {
            add(row, y);
        }
        (if stopped.is_some() { 0 } else { height }, stopped)
    } else {
        let mut y = 0;
        let stopped = loop {
            match reader.next_row() {
                Ok(Some(row)) => add(row.data(), y),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
            y += 1;
        };
        (y, stopped)
    };
    if rows < height {
        let why = stopped.map(|e| format!(": {e}")).unwrap_or_default();
        let message = format!("the image ends after {rows} of {height} rows{why}");
        match lenient {
            Some(fail_on) => super::fault(fail_on, Fault::Truncated, ImageFormat::Png, message)?,
            None => return Err(corrupt(message)),
        }
        if !info.interlaced {
            let grey = vec![128; width * channels];
            for y in rows..height {
                add(&grey, y);
            }
        }
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
    Ok(raster)
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
