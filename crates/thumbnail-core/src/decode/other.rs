//! WebP, BMP and the common TIFFs (`tiff` picks them) through the `image` crate's decoders, at full
//! size; BMP headers it refuses rewritten first, and damaged runs expanded (`bmp`).

use std::io::{BufReader, Cursor};

use image::{ColorType, DynamicImage, ImageDecoder, ImageError, ImageReader};

use super::{ImageInfo, bmp, check_pixels, fault, guarded};
use crate::color;
use crate::raster::{PixelLayout, Raster};
use crate::spec::Fault;
use crate::{Error, ImageFormat, Limits};

pub(super) fn probe(
    input: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<ImageInfo, Error> {
    guarded(format, || {
        let (mut decoder, _) = open(input, format, limits)?;
        Ok(info(format, &mut decoder))
    })
}

pub(super) fn decode(
    input: &[u8],
    format: ImageFormat,
    limits: &Limits,
    pixels: Vec<u8>,
) -> Result<(Raster, ImageInfo), Error> {
    match read(input, format, limits, pixels) {
        // Damaged runs: decoded as far as they go, where the tolerance allows such an error.
        Err(Error::Corrupt { message, .. })
            if format == ImageFormat::Bmp
                && let Some((expanded, cut)) = bmp::expanded_runs(input, limits.max_pixels) =>
        {
            let kind = if cut { Fault::Truncated } else { Fault::Error };
            fault(
                limits.fail_on,
                kind,
                format,
                format!("damaged run-length data ({message})"),
            )?;
            read(&expanded, format, limits, Vec::new())
        }
        decoded => decoded,
    }
}

fn read(
    input: &[u8],
    format: ImageFormat,
    limits: &Limits,
    mut pixels: Vec<u8>,
) -> Result<(Raster, ImageInfo), Error> {
    guarded(format, move || {
        let (mut decoder, flip) = open(input, format, limits)?;
        let info = info(format, &mut decoder);
        check_pixels(&info, limits)?;
        let icc = decoder.icc_profile().ok().flatten();
        let failed = |e| image_error(format, e);
        let (width, height) = decoder.dimensions();
        let mut raster = match decoder.color_type() {
            // The common cases decode straight into the reused buffer.
            ColorType::Rgb8 | ColorType::Rgba8 => {
                let layout = if decoder.color_type() == ColorType::Rgb8 {
                    PixelLayout::Rgb8
                } else {
                    PixelLayout::Rgba8
                };
                pixels.clear();
                pixels.resize(decoder.total_bytes() as usize, 0);
                decoder.read_image(&mut pixels).map_err(failed)?;
                Raster::from_parts(width, height, layout, pixels)
            }
            // Gray, 16-bit and float images are converted to 8-bit RGB(A).
            color_type => {
                let image = DynamicImage::from_decoder(decoder).map_err(failed)?;
                if color_type.has_alpha() {
                    Raster::from_parts(
                        width,
                        height,
                        PixelLayout::Rgba8,
                        image.into_rgba8().into_raw(),
                    )
                } else {
                    Raster::from_parts(
                        width,
                        height,
                        PixelLayout::Rgb8,
                        image.into_rgb8().into_raw(),
                    )
                }
            }
        };
        if flip {
            let (width, height, layout) = (raster.width(), raster.height(), raster.layout());
            let mut pixels = raster.into_pixels();
            bmp::flip_rows(&mut pixels, width as usize * layout.channels());
            raster = Raster::from_parts(width, height, layout, pixels);
        }
        if let Some(icc) = icc {
            color::to_srgb(&mut raster, &icc);
        }
        Ok((raster, info))
    })
}

/// The decoder, and whether its rows come out upside down (a BMP given to it bottom-up).
fn open<'a>(
    input: &'a [u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<(Box<dyn ImageDecoder + 'a>, bool), Error> {
    let image_format = match format {
        ImageFormat::WebP => image::ImageFormat::WebP,
        ImageFormat::Tiff => image::ImageFormat::Tiff,
        ImageFormat::Bmp => image::ImageFormat::Bmp,
        ImageFormat::Jpeg
        | ImageFormat::Png
        | ImageFormat::Gif
        | ImageFormat::Heif
        | ImageFormat::Avif => {
            unreachable!("decoded by their own modules")
        }
    };
    // Our pixel limit is checked on the header; this caps what a decoder may allocate besides
    // (metadata chunks, 16-bit RGBA at the pixel limit).
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(512 << 20));
    let failed = |e| image_error(format, e);
    if format == ImageFormat::Bmp
        && let Some(normalised) = bmp::normalise(input)
    {
        let flip = normalised.flip;
        let mut reader = ImageReader::with_format(BufReader::new(normalised), image_format);
        reader.limits(decoder_limits);
        return Ok((Box::new(reader.into_decoder().map_err(failed)?), flip));
    }
    let mut reader = ImageReader::with_format(Cursor::new(input), image_format);
    reader.limits(decoder_limits);
    Ok((Box::new(reader.into_decoder().map_err(failed)?), false))
}

fn info(format: ImageFormat, decoder: &mut impl ImageDecoder) -> ImageInfo {
    let (width, height) = decoder.dimensions();
    let orientation = decoder.orientation().map_or(1, |o| o.to_exif());
    ImageInfo {
        format,
        width,
        height,
        orientation,
        bytes_per_pixel: decoder.color_type().bytes_per_pixel(),
        // Only JPEG and PNG decode differently when interlaced, and have modules of their own.
        interlaced: false,
    }
}

fn image_error(format: ImageFormat, e: ImageError) -> Error {
    match e {
        ImageError::Limits(limit) => Error::DecoderLimit {
            format,
            message: limit.to_string(),
        },
        ImageError::Unsupported(what) => Error::UnsupportedFormat {
            reason: format!("{format}: {what}"),
        },
        other => Error::Corrupt {
            format,
            message: other.to_string(),
        },
    }
}
