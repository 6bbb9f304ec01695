//! The reusable engine: one decode, every requested thumbnail.

use std::cmp::Reverse;

use crate::attention::attention_anchor;
use crate::decode::{self, ImageInfo};
use crate::encode::encode;
use crate::geometry::{plan, plan_on};
use crate::placeholder::{HASH_SIDE, PLACEHOLDER_SIDE, Placeholder};
use crate::raster::Raster;
use crate::resize::{Resizer, entropy_anchor};
use crate::{Error, Filter, Fit, Gravity, ImageFormat, Limits, OutputFormat, Size, ThumbnailSpec};

/// One encoded thumbnail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// The name of the spec it was made for.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The encoding of `bytes`.
    pub format: OutputFormat,
    /// The encoded image.
    pub bytes: Vec<u8>,
}

/// The thumbnails of one image, and its placeholder.
#[derive(Clone, Debug)]
pub struct Rendering {
    /// One per spec and format, in the order of the specs, then of each spec's formats.
    pub thumbnails: Vec<Thumbnail>,
    /// What a page shows while they load.
    pub placeholder: Placeholder,
    /// Faults in the image's data that the limits' [`FailOn`](crate::FailOn) tolerated (a damaged
    /// JPEG segment, a PNG checksum, ...), the first few, each once; empty for a sound image.
    pub faults: Vec<String>,
}

/// Makes thumbnails. Keep one per thread and reuse it.
///
/// While it makes one image's thumbnails it recycles pixel buffers (a halving or an output reuses
/// what an earlier output freed); when the image is done it frees them, and its resampler's
/// buffers, rather than keeping them for the next. Kept, they would sit beside the next image's
/// decode: six photos in one Lambda process peaked 11 MiB higher that way, and reuse across images
/// was not measurably faster (`benches/lambda.sh`, criterion's presets bench).
///
/// For each input it reads the header, checks the [`Limits`], decodes once (a JPEG directly at 1/2,
/// 1/4 or 1/8 scale when every requested output allows it), orients and colour-converts, then makes
/// each thumbnail from the smallest adequate intermediate: the decode, or a 2x2-box halving of it,
/// leaving the final Lanczos (or other) filter a reduction of less than 4x.
#[derive(Debug, Default)]
pub struct Engine {
    limits: Limits,
    resizer: Resizer,
    buffers: Vec<Vec<u8>>,
    faults: Vec<String>,
}

impl Engine {
    /// An engine enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Engine {
            limits,
            ..Engine::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads only the header: format, size and orientation. Cheap, and bounded by the header's size.
    pub fn probe(&self, input: &[u8]) -> Result<ImageInfo, Error> {
        decode::probe(input, &self.limits)
    }

    /// A conservative estimate of the memory, beyond the input bytes, that making `specs` of an
    /// image with this header takes at its peak: the decoded pixels (at the JPEG shrink-on-load
    /// scale), a progressive JPEG's coefficients, the conversion and resize buffers and the outputs.
    /// Callers with a memory budget (a small Lambda function) compare it with what they have
    /// before downloading the image.
    pub fn memory_estimate(&self, info: &ImageInfo, specs: &[ThumbnailSpec]) -> u64 {
        let pixels = info.pixels();
        let scale = u64::from(shrink_on_load(info, specs));
        let decoded = match info.format {
            // A progressive file at 1/8 is decoded from its DC scans alone: per 8x8 block, a
            // 32-bit DC value of each component, its 8-bit sample, and the RGB pixel.
            ImageFormat::Jpeg if info.interlaced && scale == 8 && info.bytes_per_pixel == 3 => {
                pixels.div_ceil(64) * (3 * 4 + 3 + 3) + (64 << 10)
            }
            // At 1/4, from its DC and lowest AC bands: per block, besides that, three 16-bit AC
            // terms of each component, and four 8-bit samples and RGB pixels.
            ImageFormat::Jpeg if info.interlaced && scale == 4 && info.bytes_per_pixel == 3 => {
                pixels.div_ceil(64) * (3 * (4 + 6 + 4) + 4 * 3) + (64 << 10)
            }
            ImageFormat::Jpeg => {
                // libjpeg keeps every DCT coefficient of a progressive file (2 bytes each, 1.5
                // per pixel in 4:2:0) until its last scan; baseline files are counted alike.
                pixels * 3 + pixels.div_ceil(scale * scale) * 4 * 2
            }
            // Shrunk as its rows arrive: two rows at up to 8 bytes a pixel, the sums of one row
            // of output (16 bytes a pixel), the shrunk RGBA image and a copy (to turn it upright),
            // and the inflater's buffers.
            // (Interlaced, it is decoded whole first: the formula below.)
            ImageFormat::Png if !info.interlaced => {
                let width = u64::from(info.width);
                width * 8 * 2
                    + width.div_ceil(scale) * 16
                    + pixels.div_ceil(scale * scale) * 4 * 2
                    + (1 << 20)
            }
            // 32-bit sample planes (Y, Cb, Cr: 12 bytes a pixel in 4:4:4 at worst), an alpha plane
            // (4) and the 8-bit RGBA result (4).
            ImageFormat::Heif => pixels * 20,
            // libaom's frame (16-bit samples with borders, and its working buffers), the RGB(A)
            // conversion at 16 bits (8), and the 8-bit result (4): about 2x what was measured.
            ImageFormat::Avif => pixels * 40,
            // The frame's palette indices (1 a pixel), the RGBA canvas, and a second full buffer
            // as below.
            ImageFormat::Gif => pixels * (1 + 4 + 4),
            // Decoded whole, then converted to 8 bits, to sRGB or upright: a second full buffer.
            _ => pixels * (u64::from(info.bytes_per_pixel) + 4),
        };
        let (width, height) = info.oriented_size();
        let outputs: u64 = specs
            .iter()
            .map(|spec| {
                let plan = plan(width, height, spec, (0.5, 0.5));
                // The resized pixels, a copy for cropping or encoding, and the encoded bytes.
                u64::from(plan.width) * u64::from(plan.height) * 4 * 3
            })
            .sum();
        decoded + outputs
    }

    /// Decodes `input` upright and in sRGB, at the smallest JPEG scale that still serves every spec
    /// (full size when `specs` is empty). For callers that want pixels rather than encoded thumbnails.
    pub fn decode(&mut self, input: &[u8], specs: &[ThumbnailSpec]) -> Result<Raster, Error> {
        self.faults.clear();
        let (raster, _, faults) = decode::decode(input, &self.limits, Vec::new(), |info| {
            shrink_on_load(info, specs)
        })?;
        self.faults = faults;
        Ok(raster)
    }

    /// The faults in the last image's data that the limits' [`FailOn`](crate::FailOn) tolerated
    /// (see [`Rendering::faults`]); empty after a sound image, or one refused.
    pub fn faults(&self) -> &[String] {
        &self.faults
    }

    /// Makes one thumbnail.
    pub fn thumbnail(&mut self, input: &[u8], spec: &ThumbnailSpec) -> Result<Thumbnail, Error> {
        let mut made = self.thumbnails(input, std::slice::from_ref(spec))?;
        Ok(made.remove(0))
    }

    /// Makes a thumbnail for each spec from a single decode, returned in the order of `specs`: one per
    /// format of a spec, in the order of its [`Formats`](crate::Formats).
    pub fn thumbnails(
        &mut self,
        input: &[u8],
        specs: &[ThumbnailSpec],
    ) -> Result<Vec<Thumbnail>, Error> {
        self.make_all(input, specs, false)
            .map(|(thumbnails, _)| thumbnails)
    }

    /// [`Engine::thumbnails`], and the image's [`Placeholder`] from the same decode.
    pub fn render(&mut self, input: &[u8], specs: &[ThumbnailSpec]) -> Result<Rendering, Error> {
        let (thumbnails, placeholder) = self.make_all(input, specs, true)?;
        Ok(Rendering {
            thumbnails,
            placeholder: placeholder.expect("asked for"),
            faults: self.faults.clone(),
        })
    }

    /// Every spec from one decode, and the placeholder when `with_placeholder` (which costs a
    /// small resample and two hashes, wasted on a caller that does not want it).
    fn make_all(
        &mut self,
        input: &[u8],
        specs: &[ThumbnailSpec],
        with_placeholder: bool,
    ) -> Result<(Vec<Thumbnail>, Option<Placeholder>), Error> {
        self.faults.clear();
        let mut shrink = 1;
        let (decoded, info, faults) = decode::decode(input, &self.limits, Vec::new(), |info| {
            shrink = shrink_on_load(info, specs);
            shrink
        })?;
        self.faults = faults;
        let original = original_size(&decoded, &info, shrink);
        // Outputs count against the pixel limit as inputs do: refused before any is allocated.
        for spec in specs {
            let p = plan(original.0, original.1, spec, (0.5, 0.5));
            let pixels = u64::from(p.width) * u64::from(p.height);
            if pixels > self.limits.max_pixels {
                return Err(Error::OutputTooLarge {
                    name: spec.name.clone(),
                    width: p.width,
                    height: p.height,
                    pixels,
                    limit: self.limits.max_pixels,
                });
            }
        }
        let mut levels = vec![decoded];
        // Largest output first, so the pyramid of halvings grows only as far as the smallest needs.
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by_key(|&i| {
            let p = plan(original.0, original.1, &specs[i], (0.5, 0.5));
            Reverse(u64::from(p.width) * u64::from(p.height))
        });
        let mut made: Vec<Option<Vec<Thumbnail>>> = vec![None; specs.len()];
        let mut outcome = Ok(());
        for i in order {
            match self.make(&mut levels, original, &specs[i]) {
                Ok(thumbnails) => made[i] = Some(thumbnails),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let placeholder = outcome
            .map(|()| with_placeholder.then(|| self.placeholder(levels.last().expect("decoded"))));
        drop(levels);
        self.buffers = Vec::new();
        self.resizer.release_buffers();
        placeholder.map(|placeholder| {
            let thumbnails = made
                .into_iter()
                .flat_map(|t| t.expect("every spec was made"))
                .collect();
            (thumbnails, placeholder)
        })
    }

    /// The placeholders, from the smallest level shrunk to fit [`PLACEHOLDER_SIDE`] pixels, and
    /// to fit [`HASH_SIDE`].
    fn placeholder(&mut self, smallest: &Raster) -> Placeholder {
        let mut shrink = |side| {
            let side = Size::new(side, side).expect("a valid size").shrink_only();
            let spec = ThumbnailSpec::new("placeholder", side).with_fit(Fit::Contain);
            let plan = plan(smallest.width(), smallest.height(), &spec, (0.5, 0.5));
            self.resizer
                .resample(smallest, &plan, Filter::Bilinear, Vec::new())
        };
        Placeholder::of(&shrink(PLACEHOLDER_SIDE), &shrink(HASH_SIDE))
    }

    /// One resize for `spec`, planned on the `original` size, then one encoding per format it
    /// asks for.
    fn make(
        &mut self,
        levels: &mut Vec<Raster>,
        original: (u32, u32),
        spec: &ThumbnailSpec,
    ) -> Result<Vec<Thumbnail>, Error> {
        let level = self.level_for(levels, original, spec);
        let source = &levels[level];
        let size = (source.width(), source.height());
        let anchor = spec.gravity.anchor().unwrap_or_else(|| {
            let window = plan_on(size, original, spec, (0.5, 0.5)).window;
            match spec.gravity {
                Gravity::Attention => attention_anchor(source, window.width, window.height),
                _ => entropy_anchor(source, window.width, window.height),
            }
        });
        let plan = plan_on(size, original, spec, anchor);
        let buffer = self.take_buffer();
        let resized = self.resizer.resample(source, &plan, spec.filter, buffer);
        let (width, height) = (resized.width(), resized.height());
        let formats = spec.formats.resolve(resized.has_transparency());
        let thumbnails = formats
            .into_iter()
            .map(|format| {
                Ok(Thumbnail {
                    name: spec.name.clone(),
                    width,
                    height,
                    format,
                    bytes: encode(&resized, spec, format)?,
                })
            })
            .collect();
        self.give_back(resized.into_pixels());
        thumbnails
    }

    /// The index of the smallest level the spec can be made from without enlarging, halving the
    /// smallest level while that still leaves the final filter at least a 2x reduction.
    fn level_for(
        &mut self,
        levels: &mut Vec<Raster>,
        original: (u32, u32),
        spec: &ThumbnailSpec,
    ) -> usize {
        let room = |level: &Raster| {
            plan_on((level.width(), level.height()), original, spec, (0.5, 0.5)).room()
        };
        let mut chosen = levels
            .iter()
            .rposition(|level| room(level) >= 1.0)
            .unwrap_or(0);
        while chosen == levels.len() - 1 && room(&levels[chosen]) >= 4.0 {
            let buffer = self.take_buffer();
            let half = self.resizer.halve(&levels[chosen], buffer);
            levels.push(half);
            chosen += 1;
        }
        chosen
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        self.buffers.pop().unwrap_or_default()
    }

    fn give_back(&mut self, buffer: Vec<u8>) {
        self.buffers.push(buffer);
    }
}

/// The size of the upright image at full scale, which every output is planned on: the header's,
/// when the decoder shrank it on load by `shrink` to `decoded` (sides rounded either way); else
/// the decoded size itself (a header's size can differ from what is shown, e.g. a HEIF's crop).
fn original_size(decoded: &Raster, info: &ImageInfo, shrink: u32) -> (u32, u32) {
    let (width, height) = info.oriented_size();
    let shrunk = |full: u32, side: u32| full.div_ceil(shrink).abs_diff(side) <= 1;
    if shrink > 1 && shrunk(width, decoded.width()) && shrunk(height, decoded.height()) {
        (width, height)
    } else {
        (decoded.width(), decoded.height())
    }
}

/// The largest JPEG DCT scaling (1/8, 1/4, 1/2) after which every spec still has at least as many
/// source pixels as output pixels; 1 if none, or if there are no specs.
fn shrink_on_load(info: &ImageInfo, specs: &[ThumbnailSpec]) -> u32 {
    if specs.is_empty() {
        return 1;
    }
    let (width, height) = info.oriented_size();
    let room = specs
        .iter()
        .map(|spec| plan(width, height, spec, (0.5, 0.5)).room())
        .fold(f64::INFINITY, f64::min);
    [8, 4, 2]
        .into_iter()
        .find(|&d| f64::from(d) <= room)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fit, ImageFormat, Size};

    fn info(width: u32, height: u32, orientation: u8) -> ImageInfo {
        ImageInfo {
            format: ImageFormat::Jpeg,
            width,
            height,
            orientation,
            bytes_per_pixel: 3,
            interlaced: false,
        }
    }

    fn spec(size: &str, fit: Fit) -> ThumbnailSpec {
        ThumbnailSpec::new(size, size.parse::<Size>().unwrap()).with_fit(fit)
    }

    #[test]
    fn shrink_on_load_follows_the_largest_output() {
        let photo = info(6028, 3391, 1);
        assert_eq!(shrink_on_load(&photo, &[spec("256x256", Fit::Cover)]), 8);
        assert_eq!(
            shrink_on_load(&photo, &[spec("1024x1024", Fit::Contain)]),
            4
        );
        assert_eq!(
            shrink_on_load(
                &photo,
                &[spec("256x256", Fit::Cover), spec("2000x2000", Fit::Contain)]
            ),
            2
        );
        assert_eq!(
            shrink_on_load(&photo, &[spec("4000x4000", Fit::Contain)]),
            1
        );
        // A portrait photo stored sideways (orientation 6): the box is compared with the upright size.
        assert_eq!(
            shrink_on_load(&info(4000, 3000, 6), &[spec("x1000", Fit::Contain)]),
            4
        );
        assert_eq!(
            shrink_on_load(&info(4000, 3000, 1), &[spec("x1000", Fit::Contain)]),
            2
        );
    }
}
