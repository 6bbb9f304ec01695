//! AVIF input. The container is read by `avif-parse` (pure Rust) in every build, so a file's size
//! is known and a damaged one is called corrupt whatever the build; the AV1 frame is decoded by
//! libaom (built from source by `libaom-sys`, statically linked) through its small safe wrapper
//! `aom-decode`, with the `avif-input` feature, which also converts YUV to RGB with the file's matrix
//! and range. 10- and 12-bit samples are rounded to 8. The container's `irot`/`imir` and an ICC
//! profile are not read (AVIF encoders rarely write either; nclx-tagged sRGB is the norm).

use avif_parse::AvifData;

use super::{ImageInfo, guarded};
use crate::raster::Raster;
use crate::{Error, ImageFormat, Limits};

pub(super) fn probe(input: &[u8]) -> Result<ImageInfo, Error> {
    guarded(ImageFormat::Avif, || info(input).map(|(info, _)| info))
}

pub(super) fn decode(input: &[u8], limits: &Limits) -> Result<(Raster, ImageInfo), Error> {
    guarded(ImageFormat::Avif, || {
        let (info, parsed) = info(input)?;
        super::check_pixels(&info, limits)?;
        frame::decode(info, parsed)
    })
}

/// The header of the primary image, and the container parsed.
fn info(input: &[u8]) -> Result<(ImageInfo, AvifData), Error> {
    top_level_boxes_fit(input)?;
    let parsed = avif_parse::read_avif(&mut &input[..]).map_err(parse_error)?;
    let header = parsed.primary_item_metadata().map_err(parse_error)?;
    let info = ImageInfo {
        format: ImageFormat::Avif,
        width: header.max_frame_width.get(),
        height: header.max_frame_height.get(),
        orientation: 1,
        bytes_per_pixel: if parsed.alpha_item.is_some() { 4 } else { 3 },
        interlaced: false,
    };
    Ok((info, parsed))
}

/// Refuses a file whose top-level boxes claim more bytes than it has. The container parser
/// allocates a box's declared size before reading it: a 2 KiB file whose first box claimed
/// 2.1 GiB took that much (found by the fuzz target).
fn top_level_boxes_fit(input: &[u8]) -> Result<(), Error> {
    let corrupt = |message: String| Error::Corrupt {
        format: ImageFormat::Avif,
        message,
    };
    let mut rest = input;
    while rest.len() >= 8 {
        let (size, header) = match u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) {
            // To the end of the file.
            0 => return Ok(()),
            1 => match rest.get(8..16) {
                Some(large) => (u64::from_be_bytes(large.try_into().expect("8 bytes")), 16),
                None => return Err(corrupt("a box header cut short".into())),
            },
            size => (u64::from(size), 8),
        };
        if size < header || size > rest.len() as u64 {
            return Err(corrupt(format!(
                "a box of {size} bytes where {} remain",
                rest.len()
            )));
        }
        rest = &rest[size as usize..];
    }
    Ok(())
}

fn parse_error(e: avif_parse::Error) -> Error {
    match e {
        avif_parse::Error::Unsupported(what) => Error::UnsupportedFormat {
            reason: format!("avif: {what}"),
        },
        other => Error::Corrupt {
            format: ImageFormat::Avif,
            message: other.to_string(),
        },
    }
}

/// The AV1 frame, through libaom.
#[cfg(feature = "avif-input")]
mod frame {
    use aom_decode::Config;
    use aom_decode::avif::{Avif, Image};
    use avif_parse::AvifData;

    use super::super::{ImageInfo, sized_raster};
    use crate::raster::{PixelLayout, Raster};
    use crate::{Error, ImageFormat};

    pub(super) fn decode(info: ImageInfo, parsed: AvifData) -> Result<(Raster, ImageInfo), Error> {
        // One thread: the engine runs one image per thread, as for every other format.
        let mut avif =
            Avif::from_parsed_avif_data(parsed, &Config { threads: 1 }).map_err(avif_error)?;
        let image = avif.convert().map_err(avif_error)?;
        let (size, layout, pixels) = eight_bit(image);
        let raster = sized_raster(&info, size, layout, pixels)?;
        Ok((raster, info))
    }

    /// 8-bit RGB or RGBA pixels and their size: 16-bit samples (10 and 12 bits come scaled to 16)
    /// rounded, grey spread.
    fn eight_bit(image: Image) -> ((usize, usize), PixelLayout, Vec<u8>) {
        let eight = |v: u16| ((u32::from(v) + 128) * 255 / 65535) as u8;
        let (width, height, layout, pixels): (usize, usize, _, Vec<u8>) = match image {
            Image::RGB8(i) => (
                i.width(),
                i.height(),
                PixelLayout::Rgb8,
                i.pixels().flat_map(|p| [p.r, p.g, p.b]).collect(),
            ),
            Image::RGBA8(i) => (
                i.width(),
                i.height(),
                PixelLayout::Rgba8,
                i.pixels().flat_map(|p| [p.r, p.g, p.b, p.a]).collect(),
            ),
            Image::RGB16(i) => (
                i.width(),
                i.height(),
                PixelLayout::Rgb8,
                i.pixels()
                    .flat_map(|p| [eight(p.r), eight(p.g), eight(p.b)])
                    .collect(),
            ),
            Image::RGBA16(i) => (
                i.width(),
                i.height(),
                PixelLayout::Rgba8,
                i.pixels()
                    .flat_map(|p| [eight(p.r), eight(p.g), eight(p.b), eight(p.a)])
                    .collect(),
            ),
            Image::Gray8(i) => (
                i.width(),
                i.height(),
                PixelLayout::Rgb8,
                i.pixels().flat_map(|v| [v, v, v]).collect(),
            ),
            Image::Gray16(i) => (
                i.width(),
                i.height(),
                PixelLayout::Rgb8,
                i.pixels().flat_map(|v| [eight(v); 3]).collect(),
            ),
        };
        ((width, height), layout, pixels)
    }

    fn avif_error(e: aom_decode::Error) -> Error {
        match e {
            aom_decode::Error::Unsupported(what) => Error::UnsupportedFormat {
                reason: format!("avif: {what}"),
            },
            other => Error::Corrupt {
                format: ImageFormat::Avif,
                message: other.to_string(),
            },
        }
    }
}

/// Without the `avif-input` feature, AVIF is read as far as its header and refused with the reason.
#[cfg(not(feature = "avif-input"))]
mod frame {
    use avif_parse::AvifData;

    use super::super::ImageInfo;
    use crate::Error;
    use crate::raster::Raster;

    pub(super) fn decode(_: ImageInfo, _: AvifData) -> Result<(Raster, ImageInfo), Error> {
        Err(Error::UnsupportedFormat {
            reason: "AVIF input needs thumbnail-core's `avif-input` feature (libaom, built with \
                     cmake), which this build leaves out"
                .into(),
        })
    }
}
