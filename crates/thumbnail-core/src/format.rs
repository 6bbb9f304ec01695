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
}

impl ImageFormat {
    /// Detects the format from the first bytes of `data` (the file name is never consulted).
    ///
    /// Recognised but unsupported formats (SVG, PDF, HEIF/AVIF) and unknown data give
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
        } else {
            return Err(Error::UnsupportedFormat {
                reason: describe_unknown(data),
            });
        };
        Ok(format)
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
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
            Some("HEIF/AVIF (ISO media) is not supported")
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
}

impl OutputFormat {
    /// The usual file extension, without a dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::WebP => "webp",
        }
    }

    /// The MIME type, for a `Content-Type` header.
    pub fn mime_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::WebP => "image/webp",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::WebP => "webp",
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
            _ => Err(Error::invalid_spec(
                s,
                "output format must be jpeg, png or webp",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_from_signatures() {
        assert_eq!(
            ImageFormat::detect(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(),
            ImageFormat::Jpeg
        );
        assert_eq!(
            ImageFormat::detect(b"\x89PNG\r\n\x1a\n....").unwrap(),
            ImageFormat::Png
        );
        assert_eq!(
            ImageFormat::detect(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(),
            ImageFormat::WebP
        );
        assert_eq!(ImageFormat::detect(b"GIF89a").unwrap(), ImageFormat::Gif);
        assert_eq!(
            ImageFormat::detect(b"MM\0*\0\0\0\x08").unwrap(),
            ImageFormat::Tiff
        );
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
        assert!(reason(b"<!DOCTYPE html><html>").contains("HTML"));
        assert!(reason(b"hello world").contains("68 65 6c 6c"));
    }
}
