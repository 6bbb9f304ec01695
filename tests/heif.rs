//! HEIC input: files made by an independent encoder (pillow-heif: libheif with x265) decode upright
//! and in sRGB, matching libheif's own decode; damaged files are typed failures.

use thumbnail_core::{
    Engine, Error, Fit, Formats, ImageFormat, Limits, OutputFormat, Size, ThumbnailSpec,
};
use thumbnail_tests::{decode, heic, heic_reference, psnr};

#[test]
fn iphone_style_files_match_libheifs_decode() {
    // (fixture, what it exercises)
    for (name, what) in [
        ("grid", "a 4x3 grid of 128-pixel tiles, cropped to 400x300"),
        ("10bit", "10-bit HEVC"),
        ("rotated", "stored sideways with an irot box"),
        ("p3", "Display P3 pixels with their ICC profile"),
    ] {
        let input = heic(name);
        let mut engine = Engine::new(Limits::default());
        let info = engine.probe(&input).unwrap();
        assert_eq!(info.format, ImageFormat::Heif, "{name}");
        let decoded = engine.decode(&input, &[]).unwrap();
        let reference = heic_reference(name);
        assert_eq!(
            (decoded.width(), decoded.height()),
            reference.dimensions(),
            "{name} ({what}): size"
        );
        let db = psnr(decoded.pixels(), reference.as_raw());
        println!("{name} ({what}): {db:.1} dB PSNR against libheif");
        assert!(db >= 30.0, "{name} ({what}): {db:.1} dB against libheif");
    }
}

#[test]
fn heic_thumbnails_are_upright_in_every_format() {
    let spec = ThumbnailSpec::new("t", Size::new(64, 64).unwrap())
        .with_fit(Fit::Contain)
        .with_formats("avif+webp+jpeg".parse().unwrap());
    let mut engine = Engine::new(Limits::default());
    let made = engine.thumbnails(&heic("rotated"), &[spec]).unwrap();
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
    let made = engine.thumbnail(&heic("alpha"), &spec).unwrap();
    assert_eq!(made.format, OutputFormat::WebP);
    let image = decode(&made.bytes).into_rgba8();
    // The left half is opaque, the right half at alpha 96 (lossy: near it).
    assert_eq!(image.get_pixel(10, 30).0[3], 255);
    let right = image.get_pixel(70, 30).0[3];
    assert!((80..=112).contains(&right), "right half alpha {right}");
    // The same spec on an opaque image makes a JPEG.
    let opaque = engine.thumbnail(&heic("grid"), &spec).unwrap();
    assert_eq!(opaque.format, OutputFormat::Jpeg);
}

#[test]
fn damaged_heic_files_are_typed_failures() {
    let input = heic("grid");
    let spec = ThumbnailSpec::new("t", Size::new(64, 64).unwrap());
    let mut engine = Engine::new(Limits::default());
    for cut in [200, input.len() / 2, input.len() - 10] {
        match engine.thumbnail(&input[..cut], &spec) {
            Err(Error::Corrupt { format, .. }) => assert_eq!(format, ImageFormat::Heif),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Flipped bytes anywhere after the file type: a thumbnail or a typed error, never a panic
    // (the engine would turn one into Corrupt, so that is checked too).
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
            assert!(!message.contains("panicked"), "{message}");
        }
    }
}
