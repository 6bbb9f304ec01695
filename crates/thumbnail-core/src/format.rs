//! Input formats, detected from the bytes, and output formats.

use std::fmt;

use crate::Error;

/// An input format the engine decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// JPEG (baseline, progressive, arithmetic; gray, YCbCr, CMYK, YCCK).
    Jpeg,
    /// PNG (1 to 16 bits, palette, gray, alpha).
    Png,
    /// WebP (lossy, lossless, alpha; the first frame of an animation).
    WebP,
    /// GIF (the first frame).
    Gif,
    /// TIFF (the first page).
    Tiff,
    /// BMP.
    Bmp,
    /// HEIF with HEVC (HEIC): iPhone photos, grid-tiled, 8 or 10 bit (with the `heic` feature).
    Heif,
    /// AVIF (AV1 in HEIF), 8 to 12 bit, alpha (with the `avif-input` feature).
    Avif,
}

impl ImageFormat {
    /// The MIME type, for a `Content-Type` header.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::WebP => "image/webp",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Bmp => "image/bmp",
            ImageFormat::Heif => "image/heic",
            ImageFormat::Avif => "image/avif",
        }
    }

    /// Detects the format from the first bytes of `data` (the file name is never consulted).
    ///
    /// Recognised but unsupported formats (SVG, PDF, video) and unknown data give
    /// [`Error::UnsupportedFormat`] naming what was seen.
    pub fn detect(data: &[u8]) -> Result<Self, Error> {
        let starts = |sig: &[u8]| data.starts_with(sig);
        let format = if starts(&[0xFF, 0xD8, 0xFF]) {
            ImageFormat::Jpeg
        } else if starts(b"\x89PNG\r\n\x1a\n") {
            ImageFormat::Png
        } else if data.len() >= 12 && starts(b"RIFF") && &data[8..12] == b"WEBP" {
            ImageFormat::WebP
        } else if starts(b"GIF87a") || starts(b"GIF89a") {
            ImageFormat::Gif
        } else if starts(b"II*\0") || starts(b"MM\0*") || starts(b"II+\0") || starts(b"MM\0+") {
            ImageFormat::Tiff
        } else if starts(b"BM") && data.len() >= 26 {
            ImageFormat::Bmp
        } else if let Some(brand) = heif_brand(data) {
            match brand {
                HeifBrand::Hevc => ImageFormat::Heif,
                HeifBrand::Av1 => ImageFormat::Avif,
            }
        } else {
            return Err(Error::UnsupportedFormat {
                reason: describe_unknown(data),
            });
        };
        Ok(format)
    }

    /// Whether this build decodes the format: HEIF needs the `heic` feature (a default), AVIF the
    /// `avif-input` feature; the others are always there.
    // In a build with neither feature every arm is a literal, which clippy would have as `matches!`.
    #[allow(clippy::match_like_matches_macro)]
    pub fn decodable(self) -> bool {
        match self {
            ImageFormat::Heif => cfg!(feature = "heic"),
            ImageFormat::Avif => cfg!(feature = "avif-input"),
            _ => true,
        }
    }

    /// The lower-case name, e.g. `"jpeg"`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::WebP => "webp",
            ImageFormat::Gif => "gif",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Bmp => "bmp",
            ImageFormat::Heif => "heif",
            ImageFormat::Avif => "avif",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an ISO media file (`ftyp` box) holds, from its major and compatible brands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeifBrand {
    /// HEVC-coded images (HEIC): the brands `heic`, `heix`, `heim`, `heis`, `hevc`, `hevx`.
    Hevc,
    /// AV1-coded images (AVIF): `avif`, `avis`.
    Av1,
}

fn heif_brand(data: &[u8]) -> Option<HeifBrand> {
    if data.len() < 16 || &data[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(data[..4].try_into().expect("4 bytes")) as usize;
    let end = size.clamp(16, data.len().min(4096));
    // The major brand, then (after the minor version) the compatible brands.
    let brands = std::iter::once(&data[8..12]).chain(data[16..end].chunks_exact(4));
    let mut found = None;
    for brand in brands {
        match brand {
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => {
                return Some(HeifBrand::Hevc);
            }
            b"avif" | b"avis" => found = Some(HeifBrand::Av1),
            _ => {}
        }
    }
    found
}

/// Says what unknown bytes look like, so an error tells a user what they actually uploaded.
fn describe_unknown(data: &[u8]) -> String {
    if data.is_empty() {
        return "the input is empty (0 bytes)".into();
    }
    let head = &data[..data.len().min(512)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let named =
        if trimmed.starts_with("<svg") || (trimmed.starts_with("<?xml") && text.contains("<svg")) {
            Some("SVG (vector graphics) is not supported")
        } else if data.starts_with(b"%PDF") {
            Some("PDF is not supported")
        } else if data.len() >= 12 && &data[4..8] == b"ftyp" {
            Some("ISO media (video or an unknown HEIF codec) is not supported")
        } else if trimmed.starts_with("<!doctype html") || trimmed.starts_with("<html") {
            Some("the input is an HTML document, not an image")
        } else {
            None
        };
    match named {
        Some(reason) => reason.into(),
        None => {
            let hex: Vec<String> = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("no known image signature (first bytes: {})", hex.join(" "))
        }
    }
}

/// An output format for thumbnails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// JPEG, 4:2:0, baseline or progressive; alpha is flattened onto the spec's background.
    #[default]
    Jpeg,
    /// Lossless PNG, keeps alpha.
    Png,
    /// Lossy WebP at the spec's quality, keeps alpha.
    WebP,
    /// AVIF (AV1) at the spec's quality, 4:2:0, keeps alpha (with the `avif` feature).
    Avif,
}

impl OutputFormat {
    /// The usual file extension, without a dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::WebP => "webp",
            OutputFormat::Avif => "avif",
        }
    }

    /// The MIME type, for a `Content-Type` header.
    pub fn mime_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::WebP => "image/webp",
            OutputFormat::Avif => "image/avif",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::WebP => "webp",
            OutputFormat::Avif => "avif",
        })
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Ok(OutputFormat::Jpeg),
            "png" => Ok(OutputFormat::Png),
            "webp" => Ok(OutputFormat::WebP),
            "avif" if cfg!(feature = "avif") => Ok(OutputFormat::Avif),
            "avif" => Err(Error::invalid_spec(
                s,
                "this build has no AVIF encoder (thumbnail-core's `avif` feature)",
            )),
            _ => Err(Error::invalid_spec(
                s,
                "output format must be jpeg, png, webp or avif",
            )),
        }
    }
}

/// The formats a spec writes: one or more fixed formats, each made from the same resize (for a
/// `<picture>` element's sources), or `auto`: JPEG for an opaque image, WebP when it has transparent
/// pixels (JPEG would flatten them; WebP keeps them at a fraction of PNG's size).
///
/// Written `jpeg`, `avif+webp+jpeg` or `auto`.
///
/// ```
/// use thumbnail_core::{Formats, OutputFormat};
/// let formats: Formats = "webp+jpeg".parse()?;
/// assert_eq!(formats.resolve(false), [OutputFormat::WebP, OutputFormat::Jpeg]);
/// let auto: Formats = "auto".parse()?;
/// assert_eq!(auto.resolve(true), [OutputFormat::WebP]);
/// # Ok::<(), thumbnail_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Formats {
    /// These formats, in this order; never empty, never one twice.
    Fixed(Vec<OutputFormat>),
    /// JPEG, or WebP when the image has transparent pixels.
    Auto,
}

impl Formats {
    /// The formats to write for an image with (`transparent`) or without transparent pixels.
    pub fn resolve(&self, transparent: bool) -> Vec<OutputFormat> {
        match self {
            Formats::Fixed(formats) => formats.clone(),
            Formats::Auto if transparent => vec![OutputFormat::WebP],
            Formats::Auto => vec![OutputFormat::Jpeg],
        }
    }

    /// Every format this may write, e.g. to plan file names before decoding.
    pub fn possible(&self) -> Vec<OutputFormat> {
        match self {
            Formats::Fixed(formats) => formats.clone(),
            Formats::Auto => vec![OutputFormat::Jpeg, OutputFormat::WebP],
        }
    }
}

impl Default for Formats {
    fn default() -> Self {
        Formats::Fixed(vec![OutputFormat::Jpeg])
    }
}

impl From<OutputFormat> for Formats {
    fn from(format: OutputFormat) -> Self {
        Formats::Fixed(vec![format])
    }
}

impl fmt::Display for Formats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Formats::Auto => f.write_str("auto"),
            Formats::Fixed(formats) => {
                for (i, format) in formats.iter().enumerate() {
                    if i > 0 {
                        f.write_str("+")?;
                    }
                    write!(f, "{format}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Formats {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(Formats::Auto);
        }
        let mut formats: Vec<OutputFormat> = Vec::new();
        for part in s.split('+').map(str::trim) {
            if part.eq_ignore_ascii_case("auto") {
                return Err(Error::invalid_spec(
                    s,
                    "auto picks one format itself and cannot be listed with others",
                ));
            }
            let format: OutputFormat = part.parse()?;
            if formats.contains(&format) {
                return Err(Error::invalid_spec(s, format!("{format} is listed twice")));
            }
            formats.push(format);
        }
        Ok(Formats::Fixed(formats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_from_signatures() {
        let cases: [(&[u8], ImageFormat); 8] = [
            (&[0xFF, 0xD8, 0xFF, 0xE0], ImageFormat::Jpeg),
            (b"\x89PNG\r\n\x1a\n....", ImageFormat::Png),
            (b"RIFF\0\0\0\0WEBPVP8 ", ImageFormat::WebP),
            (b"GIF89a", ImageFormat::Gif),
            (b"MM\0*\0\0\0\x08", ImageFormat::Tiff),
            // An iPhone's brands: major `heic`, compatible `mif1` and `heic`.
            (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", ImageFormat::Heif),
            // Major `mif1` with `heic` among the compatible brands.
            (b"\0\0\0\x1cftypmif1\0\0\0\0mif1miafheic", ImageFormat::Heif),
            (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf", ImageFormat::Avif),
        ];
        for (bytes, format) in cases {
            assert_eq!(ImageFormat::detect(bytes).unwrap(), format, "{bytes:?}");
        }
    }

    #[test]
    fn names_what_it_cannot_decode() {
        let reason = |d: &[u8]| match ImageFormat::detect(d) {
            Err(Error::UnsupportedFormat { reason }) => reason,
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        };
        assert!(reason(b"").contains("empty"));
        assert!(reason(b"<?xml version=\"1.0\"?>\n<svg xmlns=").contains("SVG"));
        assert!(reason(b"%PDF-1.7").contains("PDF"));
        assert!(reason(b"\0\0\0\x18ftypisom\0\0\0\0isommp41").contains("ISO media"));
        assert!(reason(b"<!DOCTYPE html><html>").contains("HTML"));
        assert!(reason(b"hello world").contains("68 65 6c 6c"));
    }

    #[test]
    fn formats_parse_lists_and_auto() {
        let parse = |s: &str| s.parse::<Formats>();
        assert_eq!(
            parse("webp+jpeg").unwrap(),
            Formats::Fixed(vec![OutputFormat::WebP, OutputFormat::Jpeg])
        );
        assert_eq!(parse("jpg").unwrap(), Formats::default());
        assert_eq!(parse("auto").unwrap().resolve(false), [OutputFormat::Jpeg]);
        assert_eq!(parse("auto").unwrap().resolve(true), [OutputFormat::WebP]);
        assert_eq!(parse("png+webp").unwrap().to_string(), "png+webp");
        for bad in ["jpeg+jpg", "auto+webp", "gif", "", "webp+"] {
            assert!(
                matches!(parse(bad), Err(Error::InvalidSpec { .. })),
                "{bad:?} was accepted"
            );
        }
    }
}
