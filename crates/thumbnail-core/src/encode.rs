//! Encoding thumbnails. Nothing of the input's metadata is copied: no EXIF, GPS, XMP or ICC
//! reaches an output, and pixels are already sRGB, the web's default.

use std::panic::{self, AssertUnwindSafe};

use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use mozjpeg::{ColorSpace, Compress};

use crate::raster::{PixelLayout, Raster};
use crate::{Error, OutputFormat, ThumbnailSpec};

/// Encodes `raster` as `spec` asks in `format`, flattening alpha where the format has none.
pub(crate) fn encode(
    raster: &Raster,
    spec: &ThumbnailSpec,
    format: OutputFormat,
) -> Result<Vec<u8>, Error> {
    let failed = |message: String| Error::Encode {
        format,
        name: spec.name.clone(),
        message,
    };
    match format {
        OutputFormat::Jpeg if raster.layout() == PixelLayout::Rgba8 => {
            jpeg(&raster.clone().flatten(spec.background), spec).map_err(failed)
        }
        OutputFormat::Jpeg => jpeg(raster, spec).map_err(failed),
        OutputFormat::Png => png(raster).map_err(failed),
        OutputFormat::WebP => webp(raster, spec).map_err(failed),
        OutputFormat::Avif => avif(raster, spec).map_err(failed),
    }
}

fn jpeg(raster: &Raster, spec: &ThumbnailSpec) -> Result<Vec<u8>, String> {
    // libjpeg unwinds on fatal errors (see decode::jpeg); catch that here too.
    let encoded = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut compress = Compress::new(ColorSpace::JCS_RGB);
        // libjpeg-turbo's settings (mozjpeg's trellis search costs more time than its bytes are
        // worth at thumbnail sizes), with optimised Huffman tables, which are nearly free.
        compress.set_fastest_defaults();
        compress.set_optimize_coding(true);
        compress.set_size(raster.width() as usize, raster.height() as usize);
        compress.set_quality(f32::from(spec.quality));
        compress.set_chroma_sampling_pixel_sizes((2, 2), (2, 2));
        if spec.progressive {
            compress.set_progressive_mode();
        }
        let mut started = compress.start_compress(Vec::with_capacity(raster.pixels().len() / 8))?;
        started.write_scanlines(raster.pixels())?;
        started.finish()
    }));
    match encoded {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "libjpeg failed".into())),
    }
}

fn png(raster: &Raster) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let color = match raster.layout() {
        PixelLayout::Rgb8 => image::ExtendedColorType::Rgb8,
        PixelLayout::Rgba8 => image::ExtendedColorType::Rgba8,
    };
    PngEncoder::new(&mut out)
        .write_image(raster.pixels(), raster.width(), raster.height(), color)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn webp(raster: &Raster, spec: &ThumbnailSpec) -> Result<Vec<u8>, String> {
    let layout = match raster.layout() {
        PixelLayout::Rgb8 => webp::PixelLayout::Rgb,
        PixelLayout::Rgba8 => webp::PixelLayout::Rgba,
    };
    let encoder = webp::Encoder::new(raster.pixels(), layout, raster.width(), raster.height());
    let memory = encoder
        .encode_simple(false, f32::from(spec.quality))
        .map_err(|e| format!("libwebp: {e:?}"))?;
    Ok(memory.to_vec())
}

/// rav1e's speed 8 of 1 (slowest) to 10: at thumbnail sizes it is within a few per cent of the bytes
/// of speed 6 at a third of the time, the trade libvips' and ravif's defaults make for stills.
#[cfg(feature = "avif")]
const AVIF_SPEED: u8 = 8;

#[cfg(feature = "avif")]
fn avif(raster: &Raster, spec: &ThumbnailSpec) -> Result<Vec<u8>, String> {
    use image::codecs::avif::AvifEncoder;
    let mut out = Vec::new();
    let color = match raster.layout() {
        PixelLayout::Rgb8 => image::ExtendedColorType::Rgb8,
        PixelLayout::Rgba8 => image::ExtendedColorType::Rgba8,
    };
    AvifEncoder::new_with_speed_quality(&mut out, AVIF_SPEED, spec.quality)
        .write_image(raster.pixels(), raster.width(), raster.height(), color)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(not(feature = "avif"))]
fn avif(_: &Raster, _: &ThumbnailSpec) -> Result<Vec<u8>, String> {
    Err("this build has no AVIF encoder (thumbnail-core's `avif` feature)".into())
}
