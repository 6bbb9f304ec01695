//! Placeholders: what a page shows in a thumbnail's place while it loads, computed once per image
//! from its decoded pixels: the dominant colour from the image shrunk to at most 100x100, the
//! hashes from it shrunk to at most 32x32.

use base64::Engine as _;

use crate::{PixelLayout, Raster};

/// The longest side of the image the dominant colour is taken from (and ThumbHash's limit).
pub(crate) const PLACEHOLDER_SIDE: u32 = 100;

/// The longest side of the image the hashes are computed from: what a ThumbHash decodes to. They
/// keep a few cosine terms a side (at most 7), which 32 samples resolve as well as 100; their
/// cost grows with the pixels, so this makes them ten times cheaper than at 100x100.
pub(crate) const HASH_SIDE: u32 = 32;

/// A tiny stand-in for an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placeholder {
    /// The [ThumbHash](https://evanw.github.io/thumbhash/), base64: about 25 bytes that decode to
    /// a blurred image with the right aspect ratio and alpha.
    pub thumbhash: String,
    /// The [BlurHash](https://blurha.sh) (4x3 components), which more front-end libraries read.
    pub blurhash: String,
    /// The dominant colour, `#rrggbb`: the centre of the most common of 4096 colour bins, so a
    /// photo of a red car on grey asphalt gives grey, not the muddy average of both.
    pub dominant_colour: String,
}

impl Placeholder {
    /// The placeholders of an image: `small`, the image within [`PLACEHOLDER_SIDE`] pixels a
    /// side, gives the dominant colour; `tiny`, within [`HASH_SIDE`], the hashes.
    pub(crate) fn of(small: &Raster, tiny: &Raster) -> Self {
        debug_assert!(small.width() <= PLACEHOLDER_SIDE && small.height() <= PLACEHOLDER_SIDE);
        debug_assert!(tiny.width() <= HASH_SIDE && tiny.height() <= HASH_SIDE);
        let (w, h) = (tiny.width(), tiny.height());
        let tiny = rgba(tiny);
        let thumbhash = thumbhash::rgba_to_thumb_hash(w as usize, h as usize, &tiny);
        Placeholder {
            thumbhash: base64::engine::general_purpose::STANDARD.encode(thumbhash),
            blurhash: blurhash::encode(4, 3, w, h, &tiny)
                .expect("4x3 components are within BlurHash's range"),
            dominant_colour: dominant_colour(&rgba(small)),
        }
    }
}

/// The pixels of `raster` as RGBA, what both hash encoders take.
fn rgba(raster: &Raster) -> Vec<u8> {
    match raster.layout() {
        PixelLayout::Rgba8 => raster.pixels().to_vec(),
        PixelLayout::Rgb8 => raster
            .pixels()
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
    }
}

/// The mean of the pixels in the most populated bin of 16 levels per channel (transparent pixels
/// left out; an image with none opaque is white).
fn dominant_colour(rgba: &[u8]) -> String {
    let bin = |p: &[u8]| {
        (usize::from(p[0]) >> 4) << 8 | (usize::from(p[1]) >> 4) << 4 | usize::from(p[2]) >> 4
    };
    let opaque = || rgba.chunks_exact(4).filter(|p| p[3] >= 128);
    let mut counts = vec![0u32; 4096];
    for p in opaque() {
        counts[bin(p)] += 1;
    }
    let Some((top, _)) = counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .max_by_key(|(_, n)| **n)
    else {
        return "#ffffff".into();
    };
    let mut sums = [0u64; 3];
    let mut n = 0u64;
    for p in opaque().filter(|p| bin(p) == top) {
        for (sum, &v) in sums.iter_mut().zip(p) {
            *sum += u64::from(v);
        }
        n += 1;
    }
    let [r, g, b] = sums.map(|sum| (sum + n / 2) / n);
    format!("#{r:02x}{g:02x}{b:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dominant_colour_is_the_commonest_not_the_mean() {
        // Two thirds grey, one third red: the mean would be a brownish grey.
        let rgba: Vec<u8> = (0..300)
            .flat_map(|i| {
                if i % 3 == 0 {
                    [220, 20, 30, 255]
                } else {
                    [120, 120, 120, 255]
                }
            })
            .collect();
        assert_eq!(dominant_colour(&rgba), "#787878");
        assert_eq!(dominant_colour(&[0, 0, 0, 0]), "#ffffff");
    }
}
