//! GIF through the `gif` crate: the first frame, placed on the logical screen, in RGBA. Its
//! colours come from the frame's own table, else the global one; a frame with neither (a damaged
//! file, which browsers draw anyway) is drawn in a grey ramp, a fault the tolerance judges. Later
//! frames are not read.

use std::borrow::Cow;
use std::io::Cursor;
use std::num::NonZeroU64;

use super::{ImageInfo, check_pixels};
use crate::raster::{PixelLayout, Raster};
use crate::spec::Fault;
use crate::{Error, ImageFormat, Limits};

/// A GIF decoder over the input, or over a copy given a colour table.
type Reader<'a> = gif::Decoder<Cursor<Cow<'a, [u8]>>>;

/// The header: the logical screen's size.
pub(super) fn probe(input: &[u8], limits: &Limits) -> Result<ImageInfo, Error> {
    open(input, limits).map(|(_, info, _)| info)
}

/// The decoder past the header, giving palette indices; one frame may take at most the pixel
/// limit in bytes (an index a pixel). Whether the file has a global colour table: without one
/// (the `gif` crate refuses a frame with no table at all), a grey one is put in its place.
fn open<'a>(input: &'a [u8], limits: &Limits) -> Result<(Reader<'a>, ImageInfo, bool), Error> {
    // The logical screen descriptor's flags, after the 6-byte signature and two 2-byte sizes.
    let has_global = input.get(10).is_none_or(|flags| flags & 0x80 != 0);
    let input = match has_global {
        true => Cow::Borrowed(input),
        // A 256-entry table (size field 7) of greys, the other flags kept.
        false => Cow::Owned(
            [
                &input[..10],
                &[(input[10] & 0x70) | 0x87],
                &input[11..13.min(input.len())],
                &(0..=255u8).flat_map(|v| [v, v, v]).collect::<Vec<_>>(),
                input.get(13..).unwrap_or_default(),
            ]
            .concat(),
        ),
    };
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    options.set_memory_limit(gif::MemoryLimit::Bytes(
        NonZeroU64::new(limits.max_pixels.max(1)).expect("at least 1"),
    ));
    let decoder = options.read_info(Cursor::new(input)).map_err(corrupt)?;
    let info = ImageInfo {
        format: ImageFormat::Gif,
        width: u32::from(decoder.width()),
        height: u32::from(decoder.height()),
        orientation: 1,
        bytes_per_pixel: 4,
        interlaced: false,
    };
    Ok((decoder, info, has_global))
}

pub(super) fn decode(input: &[u8], limits: &Limits) -> Result<(Raster, ImageInfo), Error> {
    let (mut decoder, info, has_global) = open(input, limits)?;
    check_pixels(&info, limits)?;
    let (width, height) = (info.width, info.height);
    let global = decoder.global_palette().map(<[u8]>::to_vec);
    let frame = decoder
        .read_next_frame()
        .map_err(corrupt)?
        .ok_or_else(|| corrupt("no image in the file"))?;
    let palette = match (&frame.palette, global) {
        (Some(local), _) => local.clone(),
        (None, Some(global)) => {
            if !has_global {
                super::fault(
                    limits.fail_on,
                    Fault::Error,
                    ImageFormat::Gif,
                    "a frame with no colour table, local or global (drawn in greys where tolerated)",
                )?;
            }
            global
        }
        (None, None) => unreachable!("a global table is put in when the file has none"),
    };
    let (w, h) = (width as usize, height as usize);
    let mut pixels = vec![0u8; w * h * 4];
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let frame_width = usize::from(frame.width);
    for (i, &index) in frame.buffer.iter().enumerate() {
        let (x, y) = (left + i % frame_width.max(1), top + i / frame_width.max(1));
        if x >= w || y >= h || Some(index) == frame.transparent {
            continue;
        }
        // An index past the table is drawn black, as browsers do.
        let rgb = palette
            .get(usize::from(index) * 3..usize::from(index) * 3 + 3)
            .unwrap_or(&[0, 0, 0]);
        let at = (y * w + x) * 4;
        pixels[at..at + 3].copy_from_slice(rgb);
        pixels[at + 3] = 255;
    }
    Ok((
        Raster::from_parts(width, height, PixelLayout::Rgba8, pixels),
        info,
    ))
}

fn corrupt(e: impl ToString) -> Error {
    Error::Corrupt {
        format: ImageFormat::Gif,
        message: e.to_string(),
    }
}
