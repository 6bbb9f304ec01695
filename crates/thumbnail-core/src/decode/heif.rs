//! HEIC (HEIF with HEVC) through `heic-decoder`, a pure-Rust decoder. It applies the container's
//! crop, rotation and mirror (`clap`, `irot`, `imir`) itself; a HEIF file's EXIF orientation is only
//! informative and is ignored, as libheif and browsers do. Samples of 10 or 12 bits are rounded to 8
//! and an ICC profile (Display P3 on iPhones) is converted to sRGB.

#[cfg(feature = "heic")]
pub(super) use decoder::{decode, probe};
#[cfg(not(feature = "heic"))]
pub(super) use missing::{decode, probe};

#[cfg(feature = "heic")]
mod decoder {
    use super::super::{ImageInfo, check_pixels, guarded, sized_raster};
    use crate::raster::{PixelLayout, Raster};
    use crate::{Error, ImageFormat, Limits};

    pub(in crate::decode) fn probe(input: &[u8]) -> Result<ImageInfo, Error> {
        guarded(ImageFormat::Heif, || {
            let header = heic_decoder::probe(input).map_err(heif_error)?;
            let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            Ok(ImageInfo {
                format: ImageFormat::Heif,
                width: side(header.width),
                height: side(header.height),
                orientation: 1,
                bytes_per_pixel: if header.alpha_bit_depth.is_some() {
                    4
                } else {
                    3
                },
                interlaced: false,
            })
        })
    }

    pub(in crate::decode) fn decode(
        input: &[u8],
        limits: &Limits,
    ) -> Result<(Raster, ImageInfo), Error> {
        let info = probe(input)?;
        check_pixels(&info, limits)?;
        guarded(ImageFormat::Heif, || {
            let image = heic_decoder::decode(input).map_err(heif_error)?;
            let (width, height, layout, pixels) = if image.alpha.is_some() {
                let rgba = image.to_rgba8().map_err(heif_error)?;
                (rgba.width, rgba.height, PixelLayout::Rgba8, rgba.data)
            } else {
                let rgb = image.to_rgb8().map_err(heif_error)?;
                (rgb.width, rgb.height, PixelLayout::Rgb8, rgb.data)
            };
            let mut raster = sized_raster(&info, (width, height), layout, pixels)?;
            if let Some(icc) = &image.metadata.icc_profile {
                crate::color::to_srgb(&mut raster, icc);
            }
            Ok((raster, info))
        })
    }

    fn heif_error(e: heic_decoder::HeifError) -> Error {
        use heic_decoder::HeifError;
        match e {
            HeifError::Unsupported(what) => Error::UnsupportedFormat {
                reason: format!("heif: {what}"),
            },
            HeifError::LimitExceeded(what) => Error::DecoderLimit {
                format: ImageFormat::Heif,
                message: what.into(),
            },
            other => Error::Corrupt {
                format: ImageFormat::Heif,
                message: other.to_string(),
            },
        }
    }
}

/// Without the `heic` feature, HEIC is recognised and refused with the reason.
#[cfg(not(feature = "heic"))]
mod missing {
    use super::super::ImageInfo;
    use crate::raster::Raster;
    use crate::{Error, Limits};

    fn not_built() -> Error {
        Error::UnsupportedFormat {
            reason: "HEIC input needs thumbnail-core's `heic` feature, which this build leaves out"
                .into(),
        }
    }

    pub(in crate::decode) fn probe(_: &[u8]) -> Result<ImageInfo, Error> {
        Err(not_built())
    }

    pub(in crate::decode) fn decode(_: &[u8], _: &Limits) -> Result<(Raster, ImageInfo), Error> {
        Err(not_built())
    }
}
