//! JPEG through libjpeg-turbo (the `mozjpeg` crate): DCT-domain shrink-on-load, and rows decoded
//! straight into the caller's buffer, so time and memory follow the output size; progressive files
//! below full size through our own decoder of the scans each scale uses (`progressive`).
//!
//! libjpeg reports fatal errors through a callback that must not return; the `mozjpeg` crate (and the
//! handler below) unwind out of it, and every call into the library here runs under `catch_unwind`,
//! which turns such an unwind into [`Error::Corrupt`]. The engine therefore needs `panic = "unwind"`.

use std::cell::Cell;
use std::ffi::c_int;
use std::mem;
use std::panic::{self, AssertUnwindSafe};

use image::metadata::Orientation;
use mozjpeg::{ColorSpace, Decompress, Marker};
use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr};

use super::{ImageInfo, check_pixels, progressive};
use crate::color;
use crate::raster::{PixelLayout, Raster};
use crate::spec::Fault;
use crate::{Error, FailOn, ImageFormat, Limits};

/// APP1 holds EXIF, APP2 ICC profiles, APP14 the Adobe marker that flags inverted CMYK.
const MARKERS: &[Marker] = &[Marker::APP(1), Marker::APP(2), Marker::APP(14)];

pub(super) fn probe(input: &[u8]) -> Result<ImageInfo, Error> {
    // The header only: faults in the image data are the decode's to judge.
    POLICY.set(Policy {
        fail_on: FailOn::None,
        whole: true,
    });
    guarded(|| Ok(info(&open(input)?, input)))
}

/// What the warning handler of the decode running on this thread judges by.
#[derive(Clone, Copy)]
struct Policy {
    fail_on: FailOn,
    /// Whether the input ended with its end-of-image marker: data that ends early in a file that
    /// has one is damage; in one that lacks it, the file was cut.
    whole: bool,
}

thread_local! {
    // libjpeg's callbacks get only its own struct; a decode runs on one thread from start to end.
    static POLICY: Cell<Policy> = const {
        Cell::new(Policy {
            fail_on: FailOn::Truncated,
            whole: true,
        })
    };
}

pub(super) fn decode(
    input: &[u8],
    limits: &Limits,
    mut pixels: Vec<u8>,
    choose_shrink: impl FnOnce(&ImageInfo) -> u32,
) -> Result<(Raster, ImageInfo), Error> {
    // libjpeg's memory source reports the end of the input as soon as it reads ahead into it, even
    // when every byte of image data is there. A file that lacks only its end marker (some cameras
    // write none; some copies are cut just there) is given one, so it decodes as viewers show it;
    // one cut inside its image data then runs into that marker early: a truncation, which the
    // tolerance judges (see `classify`).
    let completed;
    let whole = input.ends_with(&[0xFF, 0xD9]);
    let input = if whole {
        input
    } else {
        completed = [input, &[0xFF, 0xD9]].concat();
        &completed[..]
    };
    POLICY.set(Policy {
        fail_on: limits.fail_on,
        whole,
    });
    guarded(move || {
        let mut jpeg = open(input)?;
        let info = info(&jpeg, input);
        check_pixels(&info, limits)?;
        let shrink = choose_shrink(&info).clamp(1, 8);
        jpeg.scale((8 / shrink) as u8);
        let icc = icc_profile(&jpeg);
        let cmyk = matches!(
            jpeg.color_space(),
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
        );
        let adobe = jpeg
            .markers()
            .any(|m| m.marker == Marker::APP(14) && m.data.starts_with(b"Adobe"));
        // At 1/8 a progressive file needs only its DC scans, at 1/4 those and its lowest AC
        // bands, at 1/2 the first scan of every band (see `progressive`); libjpeg would decode
        // and buffer every coefficient of every scan first. What a cut in a later scan loses (a
        // refinement, or a band the scale does not use), this path never reads: the thumbnail
        // is what the whole file gives. Damage in the scans it reads is refused at 1/8 and 1/4
        // whatever the tolerance: libjpeg, which might decode past it, needs the memory the
        // estimate saved. At 1/2 the estimate is libjpeg's own, so libjpeg takes a file this path
        // refuses and judges the damage by the tolerance, as before this path took 1/2.
        if matches!(shrink, 2 | 4 | 8) && !cmyk {
            let scaled = match progressive::decode_scaled(input, shrink, &mut pixels) {
                Err(_) if shrink == 2 => None,
                decoded => decoded?,
            };
            if let Some(mut raster) = scaled {
                if let Some(icc) = icc {
                    color::to_srgb(&mut raster, &icc);
                }
                return Ok((raster, info));
            }
        }
        let mut started = if cmyk {
            jpeg.to_colorspace(ColorSpace::JCS_CMYK)
        } else {
            jpeg.rgb()
        }
        .map_err(corrupt)?;
        let (width, height) = (started.width(), started.height());
        let channels = if cmyk { 4 } else { 3 };
        pixels.clear();
        pixels.resize(width * height * channels, 0);
        started
            .read_scanlines_into(&mut pixels[..])
            .map_err(corrupt)?;
        started.finish().map_err(corrupt)?;
        if cmyk {
            color::cmyk_to_rgb(&mut pixels, width, icc.as_deref(), adobe);
        }
        let mut raster = Raster::from_parts(width as u32, height as u32, PixelLayout::Rgb8, pixels);
        if let (false, Some(icc)) = (cmyk, icc) {
            color::to_srgb(&mut raster, &icc);
        }
        Ok((raster, info))
    })
}

fn open(input: &[u8]) -> Result<Decompress<&[u8]>, Error> {
    Decompress::builder()
        .with_err(strict_error_mgr())
        .with_markers(MARKERS)
        .from_mem(input)
        .map_err(corrupt)
}

fn info(jpeg: &Decompress<&[u8]>, input: &[u8]) -> ImageInfo {
    let orientation = jpeg
        .markers()
        .filter(|m| m.marker == Marker::APP(1))
        .find_map(|m| m.data.strip_prefix(b"Exif\0\0"))
        .and_then(Orientation::from_exif_chunk)
        .map_or(1, Orientation::to_exif);
    ImageInfo {
        format: ImageFormat::Jpeg,
        width: jpeg.width() as u32,
        height: jpeg.height() as u32,
        orientation,
        // Gray is decoded to RGB, CMYK and YCCK to four channels.
        bytes_per_pixel: if jpeg.components().len() == 4 { 4 } else { 3 },
        interlaced: progressive::is_progressive(input),
    }
}

/// Reassembles an ICC profile split over APP2 chunks (`ICC_PROFILE\0`, sequence number, count, data).
fn icc_profile(jpeg: &Decompress<&[u8]>) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = jpeg
        .markers()
        .filter(|m| m.marker == Marker::APP(2))
        .filter_map(|m| m.data.strip_prefix(b"ICC_PROFILE\0"))
        .filter(|rest| rest.len() > 2)
        .map(|rest| (rest[0], &rest[2..]))
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|(seq, _)| *seq);
    Some(
        chunks
            .into_iter()
            .flat_map(|(_, data)| data.iter().copied())
            .collect(),
    )
}

fn corrupt(e: impl ToString) -> Error {
    Error::Corrupt {
        format: ImageFormat::Jpeg,
        message: e.to_string(),
    }
}

/// Runs libjpeg work, turning its unwinding fatal errors into [`Error::Corrupt`].
fn guarded<T>(work: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "libjpeg failed".into());
        Err(corrupt(message))
    })
}

/// libjpeg's standard error manager, except that fatal errors unwind (libjpeg must not continue),
/// and warnings (libjpeg decodes past them, padding what is lost with grey) are judged by the
/// decode's [`FailOn`]: refused ones unwind as fatal errors, tolerated ones are reported.
fn strict_error_mgr() -> jpeg_error_mgr {
    // SAFETY: jpeg_error_mgr is a plain C struct for which all-zero is a valid value, and
    // jpeg_std_error fills in every field it needs.
    let mut err: jpeg_error_mgr = unsafe { mem::zeroed() };
    unsafe { mozjpeg_sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(raise_fatal);
    err.emit_message = Some(on_message);
    err
}

unsafe extern "C-unwind" fn raise_fatal(cinfo: &mut jpeg_common_struct) {
    let message = format!("libjpeg: {}", message_text(cinfo));
    // resume_unwind skips the panic hook: nothing is printed, the guard above catches it.
    panic::resume_unwind(Box::new(message));
}

/// What a libjpeg warning means: data that ends early is a cut file unless the file has its end
/// marker; damaged entropy-coded data is an error; the rest (stray bytes between markers, common
/// in camera files; an odd ICC or JFIF field) is a warning.
fn classify(code: c_int, policy: Policy) -> Fault {
    use mozjpeg_sys::*;
    let is = |codes: &[J_MESSAGE_CODE]| codes.iter().any(|&c| code == c as c_int);
    if is(&[JWRN_JPEG_EOF, JWRN_HIT_MARKER]) {
        return match policy.whole {
            true => Fault::Error,
            false => Fault::Truncated,
        };
    }
    if is(&[
        JWRN_HUFF_BAD_CODE,
        JWRN_MUST_RESYNC,
        JWRN_NOT_SEQUENTIAL,
        JWRN_BOGUS_PROGRESSION,
        JWRN_TOO_MUCH_DATA,
    ]) {
        return Fault::Error;
    }
    Fault::Warning
}

unsafe extern "C-unwind" fn on_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    // Levels 0 and up are trace messages; below 0, a warning.
    if level >= 0 {
        return;
    }
    // SAFETY: libjpeg calls this with its own cinfo, whose `err` points at our live error manager.
    let code = unsafe { (*cinfo.err).msg_code };
    let policy = POLICY.get();
    if policy.fail_on.refuses(classify(code, policy)) {
        // SAFETY: as above; raise_fatal never returns.
        unsafe { raise_fatal(cinfo) }
    }
    super::tolerate(format!("libjpeg: {}", message_text(cinfo)));
}

fn message_text(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: `err` points at the live error manager; format_message writes at most 80 bytes
    // (JMSG_LENGTH_MAX) into the buffer. The declared signature takes `&[u8; 80]` although C writes
    // into it, so it is called through a pointer-typed signature with the same ABI.
    unsafe {
        let Some(format) = (*cinfo.err).format_message else {
            return format!("error code {}", (*cinfo.err).msg_code);
        };
        let format: unsafe extern "C-unwind" fn(&mut jpeg_common_struct, *mut u8) =
            mem::transmute(format);
        let mut buffer = [0u8; 80];
        format(cinfo, buffer.as_mut_ptr());
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}
