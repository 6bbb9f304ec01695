//! Resampling on `fast_image_resize` (SIMD chosen at run time: AVX2, SSE4.1, NEON, or scalar).

use fast_image_resize as fir;
use fir::images::{Image, ImageRef};
use fir::{FilterType, PixelType, ResizeAlg, ResizeOptions};

use crate::geometry::{Plan, Window};
use crate::raster::{PixelLayout, Raster};
use crate::{Error, Filter};

/// A reusable resampler: keeps its convolution and alpha buffers between calls.
///
/// Alpha is premultiplied before filtering and divided out after, so transparent pixels do not
/// bleed dark fringes into their neighbours.
#[derive(Debug, Default)]
pub struct Resizer {
    inner: fir::Resizer,
}

impl Resizer {
    /// A resizer using the best SIMD extensions of this CPU.
    pub fn new() -> Self {
        Resizer::default()
    }

    /// Resamples the whole of `src` to `width` x `height` with `filter`.
    pub fn resize(
        &mut self,
        src: &Raster,
        width: u32,
        height: u32,
        filter: Filter,
    ) -> Result<Raster, Error> {
        if width == 0 || height == 0 {
            return Err(Error::invalid_spec(
                format!("{width}x{height}"),
                "a resize target needs two non-zero sides",
            ));
        }
        let plan = Plan {
            window: Window {
                x: 0.0,
                y: 0.0,
                width: f64::from(src.width()),
                height: f64::from(src.height()),
            },
            width,
            height,
        };
        Ok(self.resample(src, &plan, filter, Vec::new()))
    }

    /// Frees the convolution and alpha buffers kept from earlier calls.
    pub fn release_buffers(&mut self) {
        self.inner.reset_internal_buffers();
    }

    /// Resamples `plan.window` of `src` to the plan's size, into `buffer` (reused).
    pub(crate) fn resample(
        &mut self,
        src: &Raster,
        plan: &Plan,
        filter: Filter,
        buffer: Vec<u8>,
    ) -> Raster {
        let algorithm = ResizeAlg::Convolution(match filter {
            Filter::Box => FilterType::Box,
            Filter::Bilinear => FilterType::Bilinear,
            Filter::CatmullRom => FilterType::CatmullRom,
            Filter::Mitchell => FilterType::Mitchell,
            Filter::Lanczos3 => FilterType::Lanczos3,
        });
        let w = plan.window;
        let options = ResizeOptions::new()
            .resize_alg(algorithm)
            .crop(w.x, w.y, w.width, w.height);
        self.run(src, plan.width, plan.height, &options, buffer)
    }

    /// Halves `src` with a 2x2 box average: the cheap first stage of a large reduction, as libvips does.
    pub(crate) fn halve(&mut self, src: &Raster, buffer: Vec<u8>) -> Raster {
        let (width, height) = ((src.width() / 2).max(1), (src.height() / 2).max(1));
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
        self.run(src, width, height, &options, buffer)
    }

    fn run(
        &mut self,
        src: &Raster,
        width: u32,
        height: u32,
        options: &ResizeOptions,
        mut buffer: Vec<u8>,
    ) -> Raster {
        let pixel_type = match src.layout() {
            PixelLayout::Rgb8 => PixelType::U8x3,
            PixelLayout::Rgba8 => PixelType::U8x4,
        };
        let source = ImageRef::new(src.width(), src.height(), src.pixels(), pixel_type)
            .expect("a raster's buffer matches its size; u8 pixels need no alignment");
        buffer.clear();
        buffer.resize(
            width as usize * height as usize * src.layout().channels(),
            0,
        );
        let mut target = Image::from_vec_u8(width, height, buffer, pixel_type)
            .expect("the buffer was sized for the target");
        self.inner
            .resize(&source, &mut target, options)
            .expect("same pixel type on both sides and a window inside the source");
        Raster::from_parts(width, height, src.layout(), target.into_vec())
    }
}

/// Where a crop window of `window_w` x `window_h` pixels holds the most detail, as an anchor (0 to 1
/// on each axis). Like libvips' smartcrop, it trims the image towards the window size, each step
/// cutting a strip from whichever end has the lower luminance entropy, so flat sky or wall goes first.
pub(crate) fn entropy_anchor(src: &Raster, window_w: f64, window_h: f64) -> (f64, f64) {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (cw, ch) = (
        (window_w.round() as usize).clamp(1, w),
        (window_h.round() as usize).clamp(1, h),
    );
    // Trims one axis of length `len` to `keep`; `strip(start, width)` measures a strip on that axis.
    let trim = |len: usize, keep: usize, strip: &dyn Fn(usize, usize) -> f64| -> f64 {
        if len == keep {
            return 0.5;
        }
        let (mut start, mut end) = (0, len);
        let step = ((len - keep) / 16).max(1);
        while end - start > keep {
            let cut = step.min(end - start - keep);
            if strip(start, cut) <= strip(end - cut, cut) {
                start += cut;
            } else {
                end -= cut;
            }
        }
        start as f64 / (len - keep) as f64
    };
    let ax = trim(w, cw, &|x, width| entropy(src, x, 0, width, h));
    let ay = trim(h, ch, &|y, height| entropy(src, 0, y, w, height));
    (ax, ay)
}

/// Shannon entropy (bits) of the luminance histogram of a window, sampling every other pixel.
fn entropy(src: &Raster, x0: usize, y0: usize, ww: usize, wh: usize) -> f64 {
    let mut histogram = [0u32; 256];
    let channels = src.layout().channels();
    let stride = src.width() as usize * channels;
    let pixels = src.pixels();
    for y in (y0..y0 + wh).step_by(2) {
        for x in (x0..x0 + ww).step_by(2) {
            let p = &pixels[y * stride + x * channels..];
            let luma = (u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8;
            histogram[luma as usize] += 1;
        }
    }
    let total: u32 = histogram.iter().sum();
    histogram
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / f64::from(total);
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::rgba;

    #[test]
    fn transparent_neighbours_leave_no_dark_fringe() {
        // Left half opaque white, right half fully transparent black.
        let src = rgba(64, 64, |x, _| {
            if x < 32 {
                [255, 255, 255, 255]
            } else {
                [0, 0, 0, 0]
            }
        });
        let out = Resizer::new()
            .resize(&src, 16, 16, Filter::Lanczos3)
            .unwrap();
        for x in 0..16 {
            let p = out.pixel(x, 8);
            if p[3] > 16 {
                assert!(p[0] > 240, "pixel {x} darkened: {p:?}");
            }
        }
    }

    #[test]
    fn halving_averages_two_by_two() {
        let src = rgba(4, 2, |x, _| {
            if x % 2 == 0 {
                [200, 0, 0, 255]
            } else {
                [100, 0, 0, 255]
            }
        });
        let half = Resizer::new().halve(&src, Vec::new());
        assert_eq!((half.width(), half.height()), (2, 1));
        assert_eq!(half.pixel(0, 0), &[150, 0, 0, 255]);
    }

    #[test]
    fn entropy_finds_the_detailed_part() {
        // Flat grey except for a noisy block on the right.
        let src = rgba(300, 100, |x, y| {
            let v = if x >= 200 {
                ((x * 7919 + y * 104729) % 251) as u8
            } else {
                128
            };
            [v, v, v, 255]
        });
        let (ax, ay) = entropy_anchor(&src, 100.0, 100.0);
        assert!(ax > 0.9, "anchor {ax}");
        assert_eq!(ay, 0.5);
    }
}
