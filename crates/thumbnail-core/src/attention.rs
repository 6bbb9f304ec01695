//! `Gravity::Attention`: where a cover crop keeps what a viewer looks at. Following the idea of
//! libvips' `attention` smartcrop, each pixel scores for edges (detail), skin tones (faces, people)
//! and saturation (a coloured subject against a dull background); the crop window with the
//! highest total wins. It runs on the already shrunk image, on a sampling grid of at most
//! [`GRID`] x [`GRID`] points, so it costs little next to the decode.

use crate::Raster;

/// The most sample points along each axis.
const GRID: usize = 128;

/// How much a skin-toned point counts, against edges (0 to 255).
const SKIN_WEIGHT: f32 = 160.0;

/// How much a saturated point counts, against edges (0 to 255).
const SATURATION_WEIGHT: f32 = 96.0;

/// The anchor (0 to 1 on each axis) of the `window_w` x `window_h` crop window of `src` (in
/// `src`'s pixels) that holds the most attention.
pub(crate) fn attention_anchor(src: &Raster, window_w: f64, window_h: f64) -> (f64, f64) {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let step = w.max(h).div_ceil(GRID).max(1);
    let (gw, gh) = (w.div_ceil(step), h.div_ceil(step));
    let scores = scores(src, step, gw, gh);
    // A summed-area table: any window's total in four lookups.
    let mut sums = vec![0f64; (gw + 1) * (gh + 1)];
    for y in 0..gh {
        let mut row = 0f64;
        for x in 0..gw {
            row += f64::from(scores[y * gw + x]);
            sums[(y + 1) * (gw + 1) + x + 1] = sums[y * (gw + 1) + x + 1] + row;
        }
    }
    let total = |x: usize, y: usize, ww: usize, wh: usize| {
        let at = |x: usize, y: usize| sums[y * (gw + 1) + x];
        at(x + ww, y + wh) - at(x, y + wh) - at(x + ww, y) + at(x, y)
    };
    let ww = ((window_w / step as f64).round() as usize).clamp(1, gw);
    let wh = ((window_h / step as f64).round() as usize).clamp(1, gh);
    let mut best = (f64::MIN, 0, 0);
    for y in 0..=gh - wh {
        for x in 0..=gw - ww {
            let score = total(x, y, ww, wh);
            if score > best.0 {
                best = (score, x, y);
            }
        }
    }
    // No window better than the centre one (a flat image): crop as `Centre` does.
    if best.0 <= total((gw - ww) / 2, (gh - wh) / 2, ww, wh) + 1e-6 {
        return (0.5, 0.5);
    }
    let anchor = |start: usize, grid: usize, window: usize| {
        if grid == window {
            0.5
        } else {
            start as f64 / (grid - window) as f64
        }
    };
    (anchor(best.1, gw, ww), anchor(best.2, gh, wh))
}

/// Each grid point's score: edge strength, plus the skin and saturation weights where they apply.
fn scores(src: &Raster, step: usize, gw: usize, gh: usize) -> Vec<f32> {
    let channels = src.layout().channels();
    let stride = src.width() as usize * channels;
    let pixels = src.pixels();
    let rgb = |x: usize, y: usize| {
        let p = &pixels[y * stride + x * channels..];
        [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
    };
    let luma = |[r, g, b]: [f32; 3]| 0.299 * r + 0.587 * g + 0.114 * b;
    let mut lumas = vec![0f32; gw * gh];
    for gy in 0..gh {
        for gx in 0..gw {
            lumas[gy * gw + gx] = luma(rgb(gx * step, gy * step));
        }
    }
    let mut scores = vec![0f32; gw * gh];
    for gy in 0..gh {
        for gx in 0..gw {
            let at = |x: usize, y: usize| lumas[y.min(gh - 1) * gw + x.min(gw - 1)];
            let here = at(gx, gy);
            // A Laplacian on the grid: detail at the scale the crop is judged at.
            let around = at(gx.saturating_sub(1), gy)
                + at(gx + 1, gy)
                + at(gx, gy.saturating_sub(1))
                + at(gx, gy + 1);
            let edge = (4.0 * here - around).abs().min(255.0);
            let colour = rgb(gx * step, gy * step);
            scores[gy * gw + gx] = edge
                + SKIN_WEIGHT * skin(colour, here)
                + SATURATION_WEIGHT * saturation(colour, here);
        }
    }
    scores
}

/// How close a colour is to a skin tone, 0 to 1: its chromaticity near the skin direction, for
/// colours neither too dark nor blown out.
fn skin([r, g, b]: [f32; 3], luma: f32) -> f32 {
    if !(40.0..=245.0).contains(&luma) {
        return 0.0;
    }
    let sum = r + g + b;
    // Normalised chromaticity, and the skin tones' (as measured across skin types) around it.
    let (cr, cg) = (r / sum, g / sum);
    let distance = ((cr - 0.45).powi(2) + (cg - 0.31).powi(2)).sqrt();
    (1.0 - distance / 0.08).max(0.0)
}

/// How saturated a colour is, 0 to 1, counting only clearly coloured, not too dark points.
fn saturation([r, g, b]: [f32; 3], luma: f32) -> f32 {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if luma < 30.0 || max <= 0.0 {
        return 0.0;
    }
    let s = (max - min) / max;
    ((s - 0.4) / 0.6).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::rgba;

    /// An opaque raster of `f`'s colours.
    fn raster(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Raster {
        rgba(w, h, |x, y| {
            let [r, g, b] = f(x, y);
            [r, g, b, 255]
        })
    }

    #[test]
    fn a_subject_off_centre_on_a_plain_background_is_kept() {
        // A skin-toned face with eyes, low on the right of a grey wall.
        let src = raster(600, 300, |x, y| {
            let (dx, dy) = (x as i32 - 480, y as i32 - 200);
            if dx * dx + dy * dy < 50 * 50 {
                if (dy == -15 || dy == -14) && (dx.abs() - 18).abs() < 6 {
                    [30, 20, 20]
                } else {
                    [224, 172, 140]
                }
            } else {
                [128, 128, 130]
            }
        });
        let (ax, ay) = attention_anchor(&src, 150.0, 150.0);
        // The window's left edge: the face (430..530, 150..250) lies inside it.
        let (left, top) = (ax * (600.0 - 150.0), ay * (300.0 - 150.0));
        assert!(left <= 430.0 && left + 150.0 >= 530.0, "left {left}");
        assert!(top <= 150.0 && top + 150.0 >= 250.0, "top {top}");
    }

    #[test]
    fn a_flat_image_crops_at_the_centre() {
        let src = raster(400, 200, |_, _| [90, 90, 90]);
        assert_eq!(attention_anchor(&src, 100.0, 100.0), (0.5, 0.5));
    }
}
