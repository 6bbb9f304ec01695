//! Colour: embedded ICC profiles to sRGB, and CMYK to RGB.
//!
//! A profile that cannot be parsed or connected is ignored (the pixels are kept as they are), as
//! libvips and browsers do: a broken tag must not cost the user the image.

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use crate::raster::{PixelLayout, Raster};

/// Converts `raster` from the colour space of `icc` to sRGB in place. sRGB-equivalent, invalid or
/// non-RGB profiles leave it unchanged.
pub(crate) fn to_srgb(raster: &mut Raster, icc: &[u8]) {
    let Ok(profile) = ColorProfile::new_from_slice(icc) else {
        return;
    };
    if profile.color_space != DataColorSpace::Rgb || is_srgb(&profile) {
        return;
    }
    let layout = match raster.layout() {
        PixelLayout::Rgb8 => Layout::Rgb,
        PixelLayout::Rgba8 => Layout::Rgba,
    };
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) =
        profile.create_transform_8bit(layout, &srgb, layout, TransformOptions::default())
    else {
        return;
    };
    let stride = raster.width() as usize * raster.layout().channels();
    let mut out = vec![0u8; stride];
    for row in raster.pixels_mut().chunks_exact_mut(stride) {
        if transform.transform(row, &mut out).is_err() {
            return;
        }
        row.copy_from_slice(&out);
    }
}

/// Whether the profile has sRGB's primaries, so converting would change nothing visible; saves the
/// work on the most common embedded profile. (Tone curves are not compared: a profile with sRGB
/// primaries and another curve is rare enough to pass through.)
fn is_srgb(profile: &ColorProfile) -> bool {
    let srgb = ColorProfile::new_srgb();
    let close = |a: moxcms::Xyzd, b: moxcms::Xyzd| {
        (a.x - b.x).abs() < 2e-3 && (a.y - b.y).abs() < 2e-3 && (a.z - b.z).abs() < 2e-3
    };
    close(profile.red_colorant, srgb.red_colorant)
        && close(profile.green_colorant, srgb.green_colorant)
        && close(profile.blue_colorant, srgb.blue_colorant)
}

/// Converts packed CMYK (4 bytes a pixel) in `pixels` to packed RGB, in place, and truncates.
///
/// `adobe_inverted`: Adobe (Photoshop) writes CMYK JPEGs with inverted values, and libjpeg returns
/// them as stored. With a usable CMYK `icc` profile the conversion is colour-managed; otherwise it is
/// the plain `(1 - C)(1 - K)` formula, as most viewers do.
pub(crate) fn cmyk_to_rgb(
    pixels: &mut Vec<u8>,
    width: usize,
    icc: Option<&[u8]>,
    adobe_inverted: bool,
) {
    if adobe_inverted && icc.is_some() {
        // Profiles expect true ink amounts.
        pixels.iter_mut().for_each(|v| *v = 255 - *v);
    }
    let managed = icc.is_some_and(|icc| cmyk_with_profile(pixels, width, icc));
    if !managed {
        let inverted = adobe_inverted && icc.is_none();
        let n = pixels.len() / 4;
        for i in 0..n {
            let [c, m, y, k] = [0, 1, 2, 3].map(|j| u32::from(pixels[i * 4 + j]));
            let (c, m, y, k) = if inverted {
                (c, m, y, k)
            } else {
                (255 - c, 255 - m, 255 - y, 255 - k)
            };
            // i*3+j never overtakes i*4+j, so packing in place is safe.
            pixels[i * 3] = ((c * k + 127) / 255) as u8;
            pixels[i * 3 + 1] = ((m * k + 127) / 255) as u8;
            pixels[i * 3 + 2] = ((y * k + 127) / 255) as u8;
        }
    }
    pixels.truncate(pixels.len() / 4 * 3);
}

/// Row by row through the profile, packing into the same buffer; false if the profile is unusable.
fn cmyk_with_profile(pixels: &mut [u8], width: usize, icc: &[u8]) -> bool {
    let Ok(profile) = ColorProfile::new_from_slice(icc) else {
        return false;
    };
    if profile.color_space != DataColorSpace::Cmyk {
        return false;
    }
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) = profile.create_transform_8bit(
        Layout::Rgba,
        &srgb,
        Layout::Rgb,
        TransformOptions::default(),
    ) else {
        return false;
    };
    let mut out = vec![0u8; width * 3];
    let rows = pixels.len() / (width * 4);
    for row in 0..rows {
        let src = row * width * 4..(row + 1) * width * 4;
        if transform.transform(&pixels[src], &mut out).is_err() {
            return false;
        }
        // Row `row` of RGB ends before row `row + 1` of CMYK starts, so nothing unread is overwritten.
        pixels[row * width * 3..(row + 1) * width * 3].copy_from_slice(&out);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_cmyk_converts_both_conventions() {
        // Pure cyan ink, no black: normal convention stores C=255.
        let mut normal = vec![255, 0, 0, 0];
        cmyk_to_rgb(&mut normal, 1, None, false);
        assert_eq!(normal, vec![0, 255, 255]);
        // Adobe stores inverted values: C=0 means full cyan.
        let mut adobe = vec![0, 255, 255, 255];
        cmyk_to_rgb(&mut adobe, 1, None, true);
        assert_eq!(adobe, vec![0, 255, 255]);
    }

    #[test]
    fn adobe_rgb_is_converted_and_srgb_left_alone() {
        let adobe = ColorProfile::new_adobe_rgb().encode().unwrap();
        let mut raster = Raster::new(1, 1, PixelLayout::Rgb8, vec![60, 170, 60]).unwrap();
        to_srgb(&mut raster, &adobe);
        let [r, g, b] = [raster.pixels()[0], raster.pixels()[1], raster.pixels()[2]];
        // Adobe RGB's green primary is more saturated than sRGB's: the same colour needs less red in sRGB.
        assert!(r < 50 && g > 165 && b < 60, "got {r},{g},{b}");

        let srgb = ColorProfile::new_srgb().encode().unwrap();
        let mut raster = Raster::new(1, 1, PixelLayout::Rgb8, vec![60, 170, 60]).unwrap();
        to_srgb(&mut raster, &srgb);
        assert_eq!(raster.pixels(), &[60, 170, 60]);
    }

    #[test]
    fn garbage_profile_keeps_pixels() {
        let mut raster = Raster::new(1, 1, PixelLayout::Rgb8, vec![1, 2, 3]).unwrap();
        to_srgb(
            &mut raster,
            b"not an icc profile at all, just some bytes that are long enough...",
        );
        assert_eq!(raster.pixels(), &[1, 2, 3]);
    }
}
