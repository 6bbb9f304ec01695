//! Decoded pixels.

use crate::Error;

/// The pixel layouts the engine works in: 8 bits a channel, sRGB, alpha straight (not premultiplied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelLayout {
    /// Red, green, blue.
    Rgb8,
    /// Red, green, blue, alpha.
    Rgba8,
}

impl PixelLayout {
    /// Bytes a pixel.
    pub fn channels(self) -> usize {
        match self {
            PixelLayout::Rgb8 => 3,
            PixelLayout::Rgba8 => 4,
        }
    }
}

/// A packed, row-major image: `width * height * channels` bytes, no padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raster {
    width: u32,
    height: u32,
    layout: PixelLayout,
    pixels: Vec<u8>,
}

/// An RGBA raster whose pixel at (x, y) is `pixel(x, y)`: for the engine's unit tests.
#[cfg(test)]
pub(crate) fn rgba(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 4]) -> Raster {
    let mut pixels = Vec::new();
    for y in 0..height {
        for x in 0..width {
            pixels.extend(pixel(x, y));
        }
    }
    Raster::new(width, height, PixelLayout::Rgba8, pixels).expect("sized to match")
}

impl Raster {
    /// Wraps `pixels`, checking that their length matches the dimensions.
    pub fn new(
        width: u32,
        height: u32,
        layout: PixelLayout,
        pixels: Vec<u8>,
    ) -> Result<Self, Error> {
        let expected = width as usize * height as usize * layout.channels();
        if width == 0 || height == 0 || pixels.len() != expected {
            return Err(Error::invalid_spec(
                format!("{width}x{height} {layout:?} raster"),
                format!(
                    "needs {expected} bytes of pixels (and no zero side), got {}",
                    pixels.len()
                ),
            ));
        }
        Ok(Raster {
            width,
            height,
            layout,
            pixels,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixel layout.
    pub fn layout(&self) -> PixelLayout {
        self.layout
    }

    /// The pixel bytes.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixel at `(x, y)`, as 3 or 4 bytes.
    pub fn pixel(&self, x: u32, y: u32) -> &[u8] {
        let c = self.layout.channels();
        let at = (y as usize * self.width as usize + x as usize) * c;
        &self.pixels[at..at + c]
    }

    /// Gives the pixel buffer back (for reuse).
    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }

    /// Built only by the engine, which guarantees the length.
    pub(crate) fn from_parts(
        width: u32,
        height: u32,
        layout: PixelLayout,
        pixels: Vec<u8>,
    ) -> Self {
        debug_assert_eq!(
            pixels.len(),
            width as usize * height as usize * layout.channels()
        );
        Raster {
            width,
            height,
            layout,
            pixels,
        }
    }

    pub(crate) fn pixels_mut(&mut self) -> &mut Vec<u8> {
        &mut self.pixels
    }

    /// Flattens alpha onto `background`, giving RGB; an RGB raster is returned as it is.
    /// Whether any pixel is less than opaque.
    pub(crate) fn has_transparency(&self) -> bool {
        self.layout == PixelLayout::Rgba8 && self.pixels.chunks_exact(4).any(|p| p[3] != 255)
    }

    pub(crate) fn flatten(self, background: [u8; 3]) -> Raster {
        if self.layout == PixelLayout::Rgb8 {
            return self;
        }
        let (width, height) = (self.width, self.height);
        let mut pixels = self.pixels;
        let n = pixels.len() / 4;
        for i in 0..n {
            let alpha = u32::from(pixels[i * 4 + 3]);
            for c in 0..3 {
                let fg = u32::from(pixels[i * 4 + c]);
                let bg = u32::from(background[c]);
                // Rounded integer blend; i*3+c never overtakes i*4+c, so packing in place is safe.
                pixels[i * 3 + c] = ((fg * alpha + bg * (255 - alpha) + 127) / 255) as u8;
            }
        }
        pixels.truncate(n * 3);
        Raster::from_parts(width, height, PixelLayout::Rgb8, pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_buffer_length() {
        assert!(Raster::new(2, 2, PixelLayout::Rgb8, vec![0; 12]).is_ok());
        assert!(Raster::new(2, 2, PixelLayout::Rgba8, vec![0; 12]).is_err());
        assert!(Raster::new(0, 2, PixelLayout::Rgb8, vec![]).is_err());
    }

    #[test]
    fn flatten_blends_onto_background() {
        let rgba =
            Raster::new(2, 1, PixelLayout::Rgba8, vec![255, 0, 0, 255, 0, 0, 255, 0]).unwrap();
        let rgb = rgba.flatten([0, 255, 0]);
        assert_eq!(rgb.layout(), PixelLayout::Rgb8);
        // Opaque red stays red; fully transparent blue becomes the background.
        assert_eq!(rgb.pixels(), &[255, 0, 0, 0, 255, 0]);
    }
}
