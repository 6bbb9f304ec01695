//! Fixtures made in code for the integration tests: small images with exactly the property a test
//! needs (an EXIF orientation, an ICC profile, CMYK, a lying header), so no test depends on files
//! from outside the repository.

mod hostile;

pub use hostile::{Expect, Hostile, hostile_corpus};

use std::io::Cursor;

use image::{DynamicImage, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};
use mozjpeg::{ColorSpace, Compress, Marker};

/// Red, green, blue and white quadrants (top-left, top-right, bottom-left, bottom-right).
pub fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb(match (x < width / 2, y < height / 2) {
            (true, true) => QUADRANT_COLOURS[0],
            (false, true) => QUADRANT_COLOURS[1],
            (true, false) => QUADRANT_COLOURS[2],
            (false, false) => QUADRANT_COLOURS[3],
        })
    })
}

/// The colours of [`quadrants`], in reading order.
pub const QUADRANT_COLOURS: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];

/// What goes into a JPEG made by [`jpeg`].
#[derive(Clone, Debug, Default)]
pub struct JpegOptions {
    /// EXIF orientation tag to write (any value, even invalid ones).
    pub orientation: Option<u16>,
    /// Also write GPS-looking EXIF text (`SECRET-GPS-51.5074N`) that must never reach an output.
    pub private_exif: bool,
    /// An ICC profile to embed.
    pub icc: Option<Vec<u8>>,
    /// Progressive encoding.
    pub progressive: bool,
    /// Quality (default 92).
    pub quality: Option<u8>,
    /// Zero bytes added to the end of the EXIF block (which then is written even without a tag).
    pub exif_padding: usize,
}

/// The text [`JpegOptions::private_exif`] plants in the EXIF block.
pub const PRIVATE_TEXT: &[u8] = b"SECRET-GPS-51.5074N";

/// Encodes `image` as a JPEG with the given markers.
pub fn jpeg(image: &RgbImage, options: &JpegOptions) -> Vec<u8> {
    let mut compress = Compress::new(ColorSpace::JCS_RGB);
    compress.set_fastest_defaults();
    compress.set_size(image.width() as usize, image.height() as usize);
    compress.set_quality(f32::from(options.quality.unwrap_or(92)));
    if options.progressive {
        compress.set_progressive_mode();
    }
    let mut started = compress.start_compress(Vec::new()).unwrap();
    if options.orientation.is_some() || options.private_exif || options.exif_padding > 0 {
        let mut block = exif(options.orientation, options.private_exif);
        block.resize(block.len() + options.exif_padding, 0);
        started.write_marker(Marker::APP(1), &block);
    }
    if let Some(icc) = &options.icc {
        started.write_icc_profile(icc);
    }
    started.write_scanlines(image.as_raw()).unwrap();
    started.finish().unwrap()
}

/// A JPEG of one flat CMYK colour (values as stored, Adobe convention: 255 = no ink), as CMYK or YCCK.
pub fn cmyk_jpeg(width: u32, height: u32, stored_cmyk: [u8; 4], ycck: bool) -> Vec<u8> {
    let mut compress = Compress::new(ColorSpace::JCS_CMYK);
    if ycck {
        compress.set_color_space(ColorSpace::JCS_YCCK);
    }
    compress.set_size(width as usize, height as usize);
    compress.set_quality(95.0);
    let pixels: Vec<u8> = (0..width * height).flat_map(|_| stored_cmyk).collect();
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

/// A grayscale JPEG with a horizontal ramp.
pub fn gray_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut compress = Compress::new(ColorSpace::JCS_GRAYSCALE);
    compress.set_size(width as usize, height as usize);
    compress.set_quality(95.0);
    let pixels: Vec<u8> = (0..height)
        .flat_map(|_| (0..width).map(move |x| (x * 255 / (width - 1)) as u8))
        .collect();
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

/// A big-endian TIFF-structured EXIF block (with the `Exif\0\0` prefix of a JPEG APP1).
pub fn exif(orientation: Option<u16>, private: bool) -> Vec<u8> {
    let mut entries: Vec<(u16, u16, u32, [u8; 4])> = Vec::new();
    let mut extra = Vec::new();
    let ifd_len = |n: usize| 2 + 12 * n + 4;
    let count = usize::from(orientation.is_some()) + usize::from(private);
    let data_at = 8 + ifd_len(count) as u32;
    if private {
        // ImageDescription (0x010E), ASCII, stored after the IFD.
        extra.extend_from_slice(PRIVATE_TEXT);
        extra.push(0);
        entries.push((0x010E, 2, extra.len() as u32, data_at.to_be_bytes()));
    }
    if let Some(value) = orientation {
        let v = value.to_be_bytes();
        entries.push((0x0112, 3, 1, [v[0], v[1], 0, 0]));
    }
    entries.sort_by_key(|e| e.0);
    let mut out = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for (tag, kind, n, value) in entries {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&value);
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&extra);
    out
}

/// Encodes with one of `image`'s encoders (PNG, GIF, TIFF, BMP, lossless WebP).
pub fn encode(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// A PNG carrying an ICC profile.
pub fn png_with_icc(image: &RgbImage, icc: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut out);
    encoder.set_icc_profile(icc).unwrap();
    encoder
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// A palette PNG: left half colour 0, right half colour 1.
pub fn palette_png(width: u32, height: u32, palette: [[u8; 3]; 2]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette.concat());
    let mut writer = encoder.write_header().unwrap();
    let data: Vec<u8> = (0..height)
        .flat_map(|_| (0..width).map(move |x| u8::from(x >= width / 2)))
        .collect();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

/// A 16-bit RGBA PNG: opaque red square in the middle of a transparent field.
pub fn png16_with_alpha(width: u32, height: u32) -> Vec<u8> {
    let image = image::ImageBuffer::<Rgba<u16>, Vec<u16>>::from_fn(width, height, |x, y| {
        let inside = x >= width / 4 && x < width * 3 / 4 && y >= height / 4 && y < height * 3 / 4;
        if inside {
            Rgba([65535, 0, 0, 65535])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    encode(&DynamicImage::ImageRgba16(image), image::ImageFormat::Png)
}

/// An 8-bit RGBA image, half opaque white and half fully transparent black.
pub fn half_transparent(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgba([255, 255, 255, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    })
}

/// A PNG whose header claims `width` x `height`, followed by a tiny (wrong) IDAT: a decompression
/// bomb's shape without the bomb.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    push_png_chunk(&mut out, b"IHDR", &ihdr);
    push_png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    push_png_chunk(&mut out, b"IEND", &[]);
    out
}

pub(crate) fn push_png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid small JPEG whose frame header is rewritten to claim `width` x `height`.
pub fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut data = jpeg(&quadrants(16, 16), &JpegOptions::default());
    claim_size(&mut data, width, height);
    data
}

/// Rewrites the frame header of `jpeg` to claim `width` x `height`; returns where it is.
pub fn claim_size(jpeg: &mut [u8], width: u16, height: u16) -> usize {
    let sof = jpeg
        .windows(2)
        .position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2))
        .expect("a frame header");
    // FF Cx, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    sof
}

/// Decodes an output thumbnail for checking its pixels.
pub fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("the thumbnail decodes")
}

/// Whether two colours are within `tolerance` on every channel.
pub fn near(actual: &[u8], expected: &[u8], tolerance: u8) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(*e) <= tolerance)
}

/// The marker bytes of every segment before the image data of a JPEG (APPn, DQT, SOF, ...).
pub fn jpeg_segments(data: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut at = 2;
    while at + 4 <= data.len() && data[at] == 0xFF {
        let marker = data[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let length = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        at += 2 + length;
    }
    markers
}

/// The Adobe RGB (1998) ICC profile.
pub fn adobe_rgb_profile() -> Vec<u8> {
    moxcms::ColorProfile::new_adobe_rgb().encode().unwrap()
}

/// The Display P3 ICC profile.
pub fn display_p3_profile() -> Vec<u8> {
    moxcms::ColorProfile::new_display_p3().encode().unwrap()
}

/// A photo-like test image: smooth colour gradients with a fine texture on top, so it neither
/// compresses to nothing nor is pure noise.
pub fn textured(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let grain = ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 13) as u8 & 31;
        Rgb([
            ((x * 200 / width) as u8).wrapping_add(grain),
            ((y * 200 / height) as u8).wrapping_add(grain),
            (((x + y) * 100 / (width + height)) as u8 + 60).wrapping_add(grain),
        ])
    })
}

/// A TCP port on loopback that was free a moment ago, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Sends SIGTERM to `child` and waits for it to exit, failing the test if that takes longer than
/// `within`; returns how it exited.
pub fn sigterm(
    child: std::process::Child,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    signal(child.id(), "TERM");
    wait_for_exit(child, within)
}

/// Waits for `child` to exit, failing the test if that takes longer than `within`; returns how it
/// exited.
pub fn wait_for_exit(
    mut child: std::process::Child,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status;
        }
        assert!(
            start.elapsed() < within,
            "the process did not stop within {within:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Sends the signal `name` (`TERM`, `STOP`, `CONT`, ...) to the process `pid`, failing the test if
/// it cannot be sent. `STOP` holds a process exactly where it is, whatever the machine's speed,
/// until `CONT`.
pub fn signal(pid: u32, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIG{name} could not be sent to {pid}");
}

/// Fails the test, showing the process's standard error, unless it exited successfully.
pub fn succeeded(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The width and height of the image file at `path`, decoded by the `image` crate.
pub fn size_of(path: &std::path::Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width(), image.height())
}

/// A checked-in fixture under `tests/fixtures/`, e.g. `heif/grid.heic` (see the `make` script
/// beside each: they are made by encoders independent of ours).
pub fn fixture(path: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The reference decode of a fixture, `NAME.reference.png` beside it: an independent decoder's,
/// upright and in sRGB.
pub fn reference(path: &str) -> RgbImage {
    let (stem, _) = path.rsplit_once('.').expect("a fixture has an extension");
    let bytes = fixture(&format!("{stem}.reference.png"));
    image::load_from_memory(&bytes)
        .unwrap_or_else(|e| panic!("{stem}.reference.png: {e}"))
        .into_rgb8()
}

/// The `grid` HEIC fixture with its grid claiming `width` x `height` pixels: a header that a
/// decoder must refuse before it allocates the picture.
pub fn heic_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut data = fixture("heif/grid.heic");
    // The grid item's body: version 0, flags 0 (16-bit sizes), 3 rows, 4 columns, 400x300.
    let grid = [0, 0, 2, 3, 0x01, 0x90, 0x01, 0x2C];
    let at = data
        .windows(grid.len())
        .position(|w| w == grid)
        .expect("the grid fixture has its 400x300 grid item");
    data[at + 4..at + 6].copy_from_slice(&width.to_be_bytes());
    data[at + 6..at + 8].copy_from_slice(&height.to_be_bytes());
    data
}

/// Peak signal-to-noise ratio of two 8-bit images of the same layout, in dB (infinite when equal).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images of different sizes");
    let squared: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = squared / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// Presets in the extended syntax: a WebP attention-cropped profile picture, and an album cover in
/// AVIF with a JPEG fallback, both from one resize.
pub const EXTENDED_PRESETS: &str = "profile=128x128:cover:gravity=attention:format=webp:quality=75,album=300x300:cover:format=avif+jpeg";

/// [`EXTENDED_PRESETS`] as the TOML tables of a settings file.
pub const EXTENDED_PRESETS_TOML: &str = "[presets.profile]\nsize = \"128x128\"\nfit = \"cover\"\ngravity = \"attention\"\nformat = \"webp\"\nquality = 75\n\n[presets.album]\nsize = \"300x300\"\nfit = \"cover\"\nformat = [\"avif\", \"jpeg\"]\n";

/// What [`EXTENDED_PRESETS`] make of an image: (file name under the image's folder, content type).
pub const EXTENDED_OUTPUTS: [(&str, &str); 3] = [
    ("profile.webp", "image/webp"),
    ("album.avif", "image/avif"),
    ("album.jpg", "image/jpeg"),
];

/// What the engine makes of `photo` with [`EXTENDED_PRESETS`] as the settings parser reads them,
/// by output name (`profile.webp`): what every path through the pipeline must write.
pub fn extended_thumbnails(photo: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let env = [("THUMBNAIL_PRESETS".to_owned(), EXTENDED_PRESETS.to_owned())];
    let settings = thumbnail_config::Settings::load(None, env, &[]).unwrap();
    let mut engine = thumbnail_core::Engine::new(thumbnail_core::Limits::default());
    engine
        .thumbnails(photo, &settings.presets)
        .unwrap()
        .into_iter()
        .map(|t| (format!("{}.{}", t.name, t.format.extension()), t.bytes))
        .collect()
}

/// Width and height of an encoded thumbnail: from its `ispe` box for AVIF (which the tests' image
/// decoders do not read), otherwise by decoding it.
pub fn encoded_size(bytes: &[u8]) -> (u32, u32) {
    if bytes.len() > 12 && &bytes[4..12] == b"ftypavif" {
        let at = bytes
            .windows(4)
            .position(|w| w == b"ispe")
            .expect("an AVIF has an ispe box");
        let word = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        // `ispe`, then version and flags, then width and height.
        return (word(at + 8), word(at + 12));
    }
    let image = decode(bytes);
    (image.width(), image.height())
}
