//! HEIF-family input: HEIC files made by pillow-heif (libheif with x265) and AVIF files made by
//! avifenc (libaom) decode upright and in sRGB, matching an independent decoder's output (libheif's
//! with libde265; avifdec's with dav1d); damaged files are typed failures.

use thumbnail_core::{
    Engine, Error, Fit, Formats, ImageFormat, Limits, OutputFormat, Size, ThumbnailSpec,
};
use thumbnail_tests::{decode, fixture, psnr, reference};

/// Decodes each fixture at full size and compares it with its reference decode.
fn matches_reference(format: ImageFormat, fixtures: &[(&str, &str)]) {
    for (path, what) in fixtures {
        let input = fixture(path);
        let mut engine = Engine::new(Limits::default());
        let info = engine.probe(&input).unwrap();
        assert_eq!(info.format, format, "{path}");
        let decoded = engine.decode(&input, &[]).unwrap();
        let reference = reference(path);
        assert_eq!(
            (decoded.width(), decoded.height()),
            reference.dimensions(),
            "{path} ({what}): size"
        );
        let db = psnr(decoded.pixels(), reference.as_raw());
        println!("{path} ({what}): {db:.1} dB PSNR against the reference decode");
        assert!(db >= 30.0, "{path} ({what}): {db:.1} dB");
    }
}

#[test]
fn iphone_style_heic_files_match_libheifs_decode() {
    matches_reference(
        ImageFormat::Heif,
        &[
            (
                "heif/grid.heic",
                "a 4x3 grid of 128-pixel tiles, cropped to 400x300",
            ),
            ("heif/10bit.heic", "10-bit HEVC"),
            ("heif/rotated.heic", "stored sideways with an irot box"),
            ("heif/p3.heic", "Display P3 pixels with their ICC profile"),
        ],
    );
}

#[test]
fn avif_files_match_dav1ds_decode() {
    if !ImageFormat::Avif.decodable() {
        // A build without AVIF input names the feature; CI must build with it.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI runs the tests with --features thumbnail-core/avif-input"
        );
        // The container is read in every build: the size is known, the frame is refused.
        let mut engine = Engine::new(Limits::default());
        let info = engine.probe(&fixture("avif/8bit.avif")).unwrap();
        assert_eq!(info.format, ImageFormat::Avif);
        let spec = ThumbnailSpec::new("t", Size::new(16, 16).unwrap());
        let error = engine
            .thumbnail(&fixture("avif/8bit.avif"), &spec)
            .unwrap_err();
        assert!(error.to_string().contains("avif-input"), "{error}");
        println!("skipped: this build has no AVIF input (feature avif-input)");
        return;
    }
    matches_reference(
        ImageFormat::Avif,
        &[
            ("avif/8bit.avif", "8-bit 4:4:4"),
            ("avif/10bit.avif", "10-bit 4:4:4"),
        ],
    );
    // Transparent AVIF with `format=auto`: WebP, alpha kept.
    let spec = ThumbnailSpec::new("t", Size::new(80, 60).unwrap()).with_formats(Formats::Auto);
    let made = Engine::new(Limits::default())
        .thumbnail(&fixture("avif/alpha.avif"), &spec)
        .unwrap();
    assert_eq!(made.format, OutputFormat::WebP);
    assert_eq!(decode(&made.bytes).into_rgba8().get_pixel(10, 30).0[3], 255);
}

#[test]
fn heic_thumbnails_are_upright_in_every_format() {
    let spec = ThumbnailSpec::new("t", Size::new(64, 64).unwrap())
        .with_fit(Fit::Contain)
        .with_formats("avif+webp+jpeg".parse().unwrap());
    let mut engine = Engine::new(Limits::default());
    let made = engine
        .thumbnails(&fixture("heif/rotated.heic"), &[spec])
        .unwrap();
    let formats: Vec<OutputFormat> = made.iter().map(|t| t.format).collect();
    assert_eq!(
        formats,
        [OutputFormat::Avif, OutputFormat::WebP, OutputFormat::Jpeg]
    );
    // Upright, the stored 320x240 is a 240x320 portrait: 48x64 in a 64 box.
    for thumbnail in &made {
        assert_eq!((thumbnail.width, thumbnail.height), (48, 64));
    }
    // The red block is top-left once upright (the JPEG, read back by an independent decoder).
    let jpeg = decode(&made[2].bytes).into_rgb8();
    let corner = jpeg.get_pixel(4, 4).0;
    assert!(
        corner[0] > 180 && corner[1] < 80 && corner[2] < 80,
        "top-left is {corner:?}, not red"
    );
}

#[test]
fn transparent_heic_with_auto_format_becomes_webp_with_alpha() {
    let spec = ThumbnailSpec::new("t", Size::new(80, 60).unwrap()).with_formats(Formats::Auto);
    let mut engine = Engine::new(Limits::default());
    let made = engine
        .thumbnail(&fixture("heif/alpha.heic"), &spec)
        .unwrap();
    assert_eq!(made.format, OutputFormat::WebP);
    let image = decode(&made.bytes).into_rgba8();
    // The left half is opaque, the right half at alpha 96 (lossy: near it).
    assert_eq!(image.get_pixel(10, 30).0[3], 255);
    let right = image.get_pixel(70, 30).0[3];
    assert!((80..=112).contains(&right), "right half alpha {right}");
    // The same spec on an opaque image makes a JPEG.
    let opaque = engine.thumbnail(&fixture("heif/grid.heic"), &spec).unwrap();
    assert_eq!(opaque.format, OutputFormat::Jpeg);
}

#[test]
fn damaged_heif_files_are_typed_failures() {
    damaged_files_fail_typed("heif/grid.heic", ImageFormat::Heif);
    if ImageFormat::Avif.decodable() {
        damaged_files_fail_typed("avif/8bit.avif", ImageFormat::Avif);
        // Its first box claiming 2.1 GiB (the fuzz target's find): refused, not allocated.
        let mut lying = fixture("avif/8bit.avif");
        lying[..4].copy_from_slice(&0x8950_4E20_u32.to_be_bytes());
        match Engine::new(Limits::default()).probe(&lying) {
            Err(Error::Corrupt { message, .. }) => {
                assert!(message.contains("a box of 2303741472 bytes"), "{message}")
            }
            other => panic!("a box past the end of the file: {other:?}"),
        }
    }
}

/// Cut short, the file is `Corrupt`; with flipped bytes it makes a thumbnail or a typed error,
/// never a panic (the engine would turn one into `Corrupt`, so that is checked too).
fn damaged_files_fail_typed(path: &str, format: ImageFormat) {
    let input = fixture(path);
    let spec = ThumbnailSpec::new("t", Size::new(64, 64).unwrap());
    let mut engine = Engine::new(Limits::default());
    for cut in [200, input.len() / 2, input.len() - 10] {
        match engine.thumbnail(&input[..cut], &spec) {
            Err(Error::Corrupt { format: seen, .. }) => assert_eq!(seen, format, "{path}"),
            other => panic!("{path} cut at {cut}: {other:?}"),
        }
    }
    let mut state = 0x2545_f491_u32;
    for _ in 0..60 {
        let mut damaged = input.clone();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = 32 + state as usize % (damaged.len() - 32);
            damaged[at] ^= (state >> 24) as u8 | 1;
        }
        if let Err(Error::Corrupt { message, .. }) = engine.thumbnail(&damaged, &spec) {
            assert!(!message.contains("panicked"), "{path}: {message}");
        }
    }
}
