//! What a thumbnail should look like: size, fit, crop gravity, filter and encoding.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Formats, OutputFormat};

/// A target box, valid by construction: at least one side is set and no side is zero.
///
/// Parsed from vipsthumbnail's syntax: `WxH`, `W` (a `WxW` box), `Wx` (width only), `xH` (height only),
/// each optionally followed by `>` (only shrink, never enlarge).
///
/// ```
/// use thumbnail_core::Size;
/// let size: Size = "1024x>".parse()?;
/// assert_eq!((size.width(), size.height(), size.only_shrink()), (Some(1024), None, true));
/// # Ok::<(), thumbnail_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size {
    width: Option<u32>,
    height: Option<u32>,
    only_shrink: bool,
}

/// The largest side accepted in a size, far above any sensible thumbnail.
const MAX_SIDE: u32 = 16_384;

impl Size {
    /// A `width` x `height` box.
    pub fn new(width: u32, height: u32) -> Result<Self, Error> {
        Self::checked(Some(width), Some(height), false)
    }

    /// A box constrained in width only.
    pub fn width_only(width: u32) -> Result<Self, Error> {
        Self::checked(Some(width), None, false)
    }

    /// A box constrained in height only.
    pub fn height_only(height: u32) -> Result<Self, Error> {
        Self::checked(None, Some(height), false)
    }

    /// The same box, never enlarging an image smaller than it.
    pub fn shrink_only(self) -> Self {
        Size {
            only_shrink: true,
            ..self
        }
    }

    fn checked(width: Option<u32>, height: Option<u32>, only_shrink: bool) -> Result<Self, Error> {
        let text = || {
            Size {
                width,
                height,
                only_shrink,
            }
            .to_string()
        };
        if width.is_none() && height.is_none() {
            return Err(Error::invalid_spec(
                text(),
                "a size needs a width or a height",
            ));
        }
        for side in [width, height].into_iter().flatten() {
            if side == 0 || side > MAX_SIDE {
                return Err(Error::invalid_spec(
                    text(),
                    format!("each side must be 1 to {MAX_SIDE} pixels"),
                ));
            }
        }
        Ok(Size {
            width,
            height,
            only_shrink,
        })
    }

    /// The box width, if constrained.
    pub fn width(&self) -> Option<u32> {
        self.width
    }

    /// The box height, if constrained.
    pub fn height(&self) -> Option<u32> {
        self.height
    }

    /// Whether images smaller than the box are left at their size.
    pub fn only_shrink(&self) -> bool {
        self.only_shrink
    }
}

impl FromStr for Size {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::invalid_spec(text, reason);
        let (body, only_shrink) = match text.trim().strip_suffix('>') {
            Some(body) => (body, true),
            None => (text.trim(), false),
        };
        let side = |s: &str| -> Result<Option<u32>, Error> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<u32>().map(Some).map_err(|_| {
                bad("expected WxH, W, Wx or xH with whole numbers, optionally ending in '>'")
            })
        };
        let (width, height) = match body.split_once(['x', 'X']) {
            Some((w, h)) => (side(w)?, side(h)?),
            None => {
                let w = side(body)?;
                (w, w)
            }
        };
        Size::checked(width, height, only_shrink).map_err(|e| match e {
            Error::InvalidSpec { reason, .. } => bad(&reason),
            other => other,
        })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(w) = self.width {
            write!(f, "{w}")?;
        }
        f.write_str("x")?;
        if let Some(h) = self.height {
            write!(f, "{h}")?;
        }
        if self.only_shrink {
            f.write_str(">")?;
        }
        Ok(())
    }
}

/// How the image is fitted to the box.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Fill the whole box, keeping the aspect ratio, and crop what overflows (by [`Gravity`]).
    #[default]
    Cover,
    /// Fit inside the box, keeping the aspect ratio; the result may be smaller than the box on one side.
    Contain,
    /// Stretch to exactly the box, ignoring the aspect ratio.
    Fill,
}

impl FromStr for Fit {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "cover" | "crop" => Ok(Fit::Cover),
            "contain" | "inside" => Ok(Fit::Contain),
            "fill" | "stretch" => Ok(Fit::Fill),
            _ => Err(Error::invalid_spec(s, "fit must be cover, contain or fill")),
        }
    }
}

/// Which part of the image a [`Fit::Cover`] crop keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Gravity {
    /// The middle.
    #[default]
    Centre,
    /// The top edge, centred horizontally.
    North,
    /// The bottom edge.
    South,
    /// The right edge.
    East,
    /// The left edge.
    West,
    /// The top-left corner.
    NorthWest,
    /// The top-right corner.
    NorthEast,
    /// The bottom-left corner.
    SouthWest,
    /// The bottom-right corner.
    SouthEast,
    /// The window with the most detail (Shannon entropy of luminance), computed on the decoded pixels.
    Entropy,
    /// The window a viewer looks at: edges, skin tones and saturated colour, as libvips'
    /// `attention`; the subject-aware crop for profile pictures.
    Attention,
}

impl Gravity {
    /// Where the crop window sits along each axis: 0 = left/top, 0.5 = centre, 1 = right/bottom.
    /// `None` for content-aware gravities.
    pub(crate) fn anchor(self) -> Option<(f64, f64)> {
        Some(match self {
            Gravity::Centre => (0.5, 0.5),
            Gravity::North => (0.5, 0.0),
            Gravity::South => (0.5, 1.0),
            Gravity::East => (1.0, 0.5),
            Gravity::West => (0.0, 0.5),
            Gravity::NorthWest => (0.0, 0.0),
            Gravity::NorthEast => (1.0, 0.0),
            Gravity::SouthWest => (0.0, 1.0),
            Gravity::SouthEast => (1.0, 1.0),
            Gravity::Entropy | Gravity::Attention => return None,
        })
    }
}

impl FromStr for Gravity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(
            match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
                "centre" | "center" => Gravity::Centre,
                "north" | "top" => Gravity::North,
                "south" | "bottom" => Gravity::South,
                "east" | "right" => Gravity::East,
                "west" | "left" => Gravity::West,
                "northwest" => Gravity::NorthWest,
                "northeast" => Gravity::NorthEast,
                "southwest" => Gravity::SouthWest,
                "southeast" => Gravity::SouthEast,
                "entropy" | "smart" => Gravity::Entropy,
                "attention" => Gravity::Attention,
                _ => {
                    return Err(Error::invalid_spec(
                        s,
                        "gravity must be centre, north, south, east, west, north-west, north-east, south-west, south-east, entropy or attention",
                    ));
                }
            },
        )
    }
}

/// The resampling filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Filter {
    /// Box (area average): fastest, softest.
    Box,
    /// Bilinear.
    Bilinear,
    /// Catmull-Rom bicubic.
    CatmullRom,
    /// Mitchell-Netravali bicubic.
    Mitchell,
    /// Lanczos with 3 lobes: the sharpest, and the default.
    #[default]
    Lanczos3,
}

impl Filter {
    /// Every filter, for benchmarks and tests.
    pub const ALL: [Filter; 5] = [
        Filter::Box,
        Filter::Bilinear,
        Filter::CatmullRom,
        Filter::Mitchell,
        Filter::Lanczos3,
    ];
}

/// Everything needed to make one thumbnail.
///
/// Build one with [`ThumbnailSpec::new`] and the `with_*` methods, or take a preset from
/// [`Presets`](crate::Presets).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThumbnailSpec {
    /// A name for the output (the preset name; used in output file names and errors).
    pub name: String,
    /// The target box.
    pub size: Size,
    /// How the image is fitted to the box.
    pub fit: Fit,
    /// What a cover crop keeps.
    pub gravity: Gravity,
    /// The resampling filter.
    pub filter: Filter,
    /// The output format or formats, each made from the same resize.
    pub formats: Formats,
    /// Encoder quality, 1 to 100 (JPEG and WebP; PNG is lossless).
    pub quality: u8,
    /// Progressive JPEG (ignored by other formats).
    pub progressive: bool,
    /// The colour transparent pixels are flattened onto for formats without alpha (JPEG).
    pub background: [u8; 3],
}

impl ThumbnailSpec {
    /// A spec with the defaults: cover, centre gravity, Lanczos3, JPEG quality 80, baseline, white background.
    pub fn new(name: impl Into<String>, size: Size) -> Self {
        ThumbnailSpec {
            name: name.into(),
            size,
            fit: Fit::default(),
            gravity: Gravity::default(),
            filter: Filter::default(),
            formats: Formats::default(),
            quality: 80,
            progressive: false,
            background: [255, 255, 255],
        }
    }

    /// Sets the fit.
    pub fn with_fit(mut self, fit: Fit) -> Self {
        self.fit = fit;
        self
    }

    /// Sets the crop gravity.
    pub fn with_gravity(mut self, gravity: Gravity) -> Self {
        self.gravity = gravity;
        self
    }

    /// Sets the filter.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Sets one output format.
    pub fn with_format(mut self, format: OutputFormat) -> Self {
        self.formats = format.into();
        self
    }

    /// Sets the output formats (several, or `auto`).
    pub fn with_formats(mut self, formats: Formats) -> Self {
        self.formats = formats;
        self
    }

    /// Sets the quality (clamped to 1..=100).
    pub fn with_quality(mut self, quality: u8) -> Self {
        self.quality = quality.clamp(1, 100);
        self
    }

    /// Sets progressive JPEG output.
    pub fn with_progressive(mut self, progressive: bool) -> Self {
        self.progressive = progressive;
        self
    }
}

/// Bounds checked before any pixel buffer is allocated, and how much damage a decode tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most pixels (width x height, from the header) an input may have. Default 100 megapixels.
    pub max_pixels: u64,
    /// The most bytes an input may have. Default 100 MiB.
    pub max_bytes: u64,
    /// Which faults in the data refuse the image. Default [`FailOn::Truncated`].
    pub fail_on: FailOn,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 100_000_000,
            max_bytes: 100 * 1024 * 1024,
            fail_on: FailOn::default(),
        }
    }
}

/// Which faults in an image's data refuse it (libvips's `fail_on`, with its values). A fault not
/// refused is tolerated: the image is thumbnailed from what decodes, and the fault reported
/// ([`Rendering::faults`](crate::Rendering::faults)).
///
/// | fault | examples | refused at |
/// |---|---|---|
/// | warning | stray bytes between JPEG markers | `warning` |
/// | error | damaged entropy-coded JPEG data, a PNG chunk whose CRC does not match, a GIF frame with no colour table | `error`, `warning` |
/// | truncated | the data stops before the image does (the rest would be grey) | `truncated`, `error`, `warning` |
///
/// ```
/// use thumbnail_core::FailOn;
/// assert_eq!("warning".parse::<FailOn>(), Ok(FailOn::Warning));
/// assert_eq!(FailOn::default(), FailOn::Truncated);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FailOn {
    /// Nothing is refused: whatever decodes is thumbnailed, a truncated file's missing rows grey.
    None,
    /// Truncated data is refused; damage that leaves the image whole (as browsers show it) is not.
    /// The default: a photo a browser shows without a visible fault gets its thumbnail, a file
    /// cut short does not silently become a half-grey one.
    #[default]
    Truncated,
    /// Truncation and damaged data are refused.
    Error,
    /// Every fault is refused, warnings included.
    Warning,
}

/// How serious a fault in the data is, in [`FailOn`]'s terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fault {
    Warning,
    Error,
    Truncated,
}

impl FailOn {
    /// Whether a fault of this kind refuses the image.
    pub(crate) fn refuses(self, fault: Fault) -> bool {
        match self {
            FailOn::None => false,
            FailOn::Truncated => fault == Fault::Truncated,
            FailOn::Error => fault >= Fault::Error,
            FailOn::Warning => true,
        }
    }

    /// Its name, as parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::None => "none",
            FailOn::Truncated => "truncated",
            FailOn::Error => "error",
            FailOn::Warning => "warning",
        }
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailOn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            FailOn::None,
            FailOn::Truncated,
            FailOn::Error,
            FailOn::Warning,
        ]
        .into_iter()
        .find(|f| f.as_str() == s.trim().to_ascii_lowercase())
        .ok_or_else(|| format!("is none, truncated, error or warning, not {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vipsthumbnail_sizes() {
        let p = |s: &str| s.parse::<Size>().unwrap();
        assert_eq!(
            (p("256x128").width(), p("256x128").height()),
            (Some(256), Some(128))
        );
        assert_eq!(
            (p("300").width(), p("300").height()),
            (Some(300), Some(300))
        );
        assert_eq!((p("300x").width(), p("300x").height()), (Some(300), None));
        assert_eq!((p("x200").width(), p("x200").height()), (None, Some(200)));
        assert!(p("640x480>").only_shrink());
        assert!(!p("640x480").only_shrink());
        assert_eq!(p("640x>").to_string(), "640x>");
    }

    #[test]
    fn rejects_bad_sizes() {
        for bad in ["", "x", "0x10", "10x0", "axb", "-5", "100000x1", "12x34x56"] {
            assert!(
                matches!(bad.parse::<Size>(), Err(Error::InvalidSpec { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn parses_fit_and_gravity_names() {
        assert_eq!("contain".parse::<Fit>().unwrap(), Fit::Contain);
        assert_eq!("north-east".parse::<Gravity>().unwrap(), Gravity::NorthEast);
        assert_eq!("center".parse::<Gravity>().unwrap(), Gravity::Centre);
        assert!("sideways".parse::<Fit>().is_err());
    }
}
