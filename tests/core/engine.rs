//! The engine end to end: encoded bytes in, encoded thumbnails out, checked by decoding them again.

use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView, ImageFormat as Codec, RgbImage};
use thumbnail_core::{
    Engine, Error, Fit, Gravity, ImageFormat, Limits, OutputFormat, Presets, Size, ThumbnailSpec,
};
use thumbnail_tests::*;

fn spec(size: &str, fit: Fit) -> ThumbnailSpec {
    ThumbnailSpec::new(size, size.parse::<Size>().unwrap()).with_fit(fit)
}

fn make(input: &[u8], spec: &ThumbnailSpec) -> Result<DynamicImage, Error> {
    let thumbnail = Engine::new(Limits::default()).thumbnail(input, spec)?;
    let image = decode(&thumbnail.bytes);
    assert_eq!(
        (image.width(), image.height()),
        (thumbnail.width, thumbnail.height)
    );
    Ok(image)
}

fn pixel(image: &DynamicImage, x: u32, y: u32) -> [u8; 4] {
    image.get_pixel(x, y).0
}

/// Checks the quadrant colours of an upright 2:3 or 3:2 thumbnail of [`quadrants`].
fn assert_quadrants(image: &DynamicImage, what: &str) {
    let (w, h) = (image.width(), image.height());
    let probes = [
        (w / 4, h / 4),
        (w * 3 / 4, h / 4),
        (w / 4, h * 3 / 4),
        (w * 3 / 4, h * 3 / 4),
    ];
    for ((x, y), expected) in probes.into_iter().zip(QUADRANT_COLOURS) {
        let got = pixel(image, x, y);
        assert!(
            near(&got[..3], &expected, 40),
            "{what}: at ({x},{y}) got {got:?}, expected {expected:?}"
        );
    }
}

#[test]
fn every_exif_orientation_gives_an_upright_thumbnail() {
    let upright = DynamicImage::ImageRgb8(quadrants(96, 64));
    for value in 1..=8u8 {
        let orientation = Orientation::from_exif(value).unwrap();
        // Store the image so that a viewer applying `value` sees `upright`.
        let inverse = match orientation {
            Orientation::Rotate90 => Orientation::Rotate270,
            Orientation::Rotate270 => Orientation::Rotate90,
            other => other,
        };
        let mut stored = upright.clone();
        stored.apply_orientation(inverse);
        let input = jpeg(
            &stored.to_rgb8(),
            &JpegOptions {
                orientation: Some(u16::from(value)),
                ..Default::default()
            },
        );
        let out = make(&input, &spec("48x48", Fit::Contain)).unwrap();
        assert_eq!((out.width(), out.height()), (48, 32), "orientation {value}");
        assert_quadrants(&out, &format!("orientation {value}"));
    }
}

#[test]
fn invalid_orientation_is_ignored() {
    let input = jpeg(
        &quadrants(96, 64),
        &JpegOptions {
            orientation: Some(9),
            ..Default::default()
        },
    );
    assert_quadrants(
        &make(&input, &spec("48x48", Fit::Contain)).unwrap(),
        "orientation 9",
    );
}

#[test]
fn fit_modes_give_the_right_size_and_crop() {
    // Left half red, right half blue, 400x200.
    let image = RgbImage::from_fn(400, 200, |x, _| {
        image::Rgb(if x < 200 { [255, 0, 0] } else { [0, 0, 255] })
    });
    let input = encode(&DynamicImage::ImageRgb8(image), Codec::Png);
    let size = |fit, s: &str| {
        let out = make(&input, &spec(s, fit)).unwrap();
        (out.width(), out.height())
    };
    assert_eq!(size(Fit::Cover, "100x100"), (100, 100));
    assert_eq!(size(Fit::Contain, "100x100"), (100, 50));
    assert_eq!(size(Fit::Fill, "100x100"), (100, 100));
    assert_eq!(size(Fit::Contain, "x40"), (80, 40));
    assert_eq!(size(Fit::Contain, "1000x1000>"), (400, 200));
    assert_eq!(size(Fit::Contain, "1000x1000"), (1000, 500));

    let cover = |gravity| make(&input, &spec("100x100", Fit::Cover).with_gravity(gravity)).unwrap();
    let west = cover(Gravity::West);
    assert!(
        near(&pixel(&west, 90, 50)[..3], &[255, 0, 0], 10),
        "west crop keeps the left"
    );
    let east = cover(Gravity::East);
    assert!(
        near(&pixel(&east, 10, 50)[..3], &[0, 0, 255], 10),
        "east crop keeps the right"
    );
    let centre = cover(Gravity::Centre);
    assert!(
        near(&pixel(&centre, 10, 50)[..3], &[255, 0, 0], 10)
            && near(&pixel(&centre, 90, 50)[..3], &[0, 0, 255], 10)
    );
    // Fill squeezes both halves in.
    let fill = make(&input, &spec("100x100", Fit::Fill)).unwrap();
    assert!(
        near(&pixel(&fill, 10, 50)[..3], &[255, 0, 0], 10)
            && near(&pixel(&fill, 90, 50)[..3], &[0, 0, 255], 10)
    );
}

#[test]
fn entropy_gravity_keeps_the_detail() {
    // Flat grey on the left two thirds, a checkerboard on the right third.
    let image = RgbImage::from_fn(600, 200, |x, y| {
        let v = if x >= 400 && (x / 4 + y / 4) % 2 == 0 {
            255
        } else if x >= 400 {
            0
        } else {
            128
        };
        image::Rgb([v, v, v])
    });
    let input = encode(&DynamicImage::ImageRgb8(image), Codec::Png);
    let out = make(
        &input,
        &spec("100x100", Fit::Cover).with_gravity(Gravity::Entropy),
    )
    .unwrap();
    let values: Vec<u8> = (0..100).map(|x| pixel(&out, x, 50)[0]).collect();
    let flat = values.iter().filter(|&&v| v.abs_diff(128) < 8).count();
    assert!(
        flat < 20,
        "the crop should show the checkerboard, got {flat}/100 flat grey pixels"
    );
}

#[test]
fn attention_gravity_keeps_a_subject_placed_off_centre() {
    // A face (skin tone, dark eyes and mouth) near the right edge of a plain blue-grey wall.
    let (cx, cy) = (560i32, 190i32);
    let image = RgbImage::from_fn(640, 320, |x, y| {
        let (dx, dy) = (x as i32 - cx, y as i32 - cy);
        let eye = dy > -22 && dy < -12 && (dx.abs() - 20).abs() < 7;
        let mouth = dy > 18 && dy < 24 && dx.abs() < 18;
        if dx * dx + dy * dy < 55 * 55 {
            image::Rgb(if eye || mouth {
                [40, 25, 25]
            } else {
                [226, 176, 146]
            })
        } else {
            image::Rgb([110, 118, 128])
        }
    });
    let input = encode(&DynamicImage::ImageRgb8(image), Codec::Png);
    let skin = |out: &DynamicImage| {
        (0..128)
            .flat_map(|y| (0..128).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = pixel(out, x, y);
                p[0] > 190 && p[1] > 140 && p[0] > p[2] + 50
            })
            .count()
    };
    let centre = make(&input, &spec("128x128", Fit::Cover)).unwrap();
    let attention = make(
        &input,
        &spec("128x128", Fit::Cover).with_gravity(Gravity::Attention),
    )
    .unwrap();
    // A centre crop (x 160..480) misses the face (x 505..615); the attention crop keeps it: about
    // 1440 skin pixels at the thumbnail's scale (0.4).
    assert_eq!(skin(&centre), 0);
    let kept = skin(&attention);
    assert!(kept > 1000, "{kept} skin pixels kept");
}

/// The mean colour of an image, in sRGB values, or averaged in linear light (as BlurHash does).
fn mean(image: &DynamicImage, linear: bool) -> [f64; 3] {
    let to = |v: u8| {
        let v = f64::from(v) / 255.0;
        if !linear {
            v
        } else if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let from = |v: f64| {
        let v = if !linear {
            v
        } else if v <= 0.0031308 {
            v * 12.92
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        };
        v * 255.0
    };
    let rgb = image.to_rgb8();
    let mut sums = [0f64; 3];
    for p in rgb.pixels() {
        for (sum, &v) in sums.iter_mut().zip(&p.0) {
            *sum += to(v);
        }
    }
    let n = f64::from(rgb.width() * rgb.height());
    sums.map(|sum| from(sum / n))
}

#[test]
fn placeholders_decode_to_the_thumbnails_colours() {
    use base64::Engine as _;
    // A warm, low-contrast gradient: a sky at dusk.
    let image = RgbImage::from_fn(800, 500, |x, y| {
        image::Rgb([
            200 - (y / 10) as u8,
            120 + (x / 20) as u8,
            90 + (y / 8) as u8,
        ])
    });
    let input = encode(&DynamicImage::ImageRgb8(image), Codec::Png);
    let mut engine = Engine::new(Limits::default());
    let rendering = engine
        .render(&input, &[spec("300x300", Fit::Cover)])
        .unwrap();
    let thumbnail = image::load_from_memory(&rendering.thumbnails[0].bytes).unwrap();
    let placeholder = &rendering.placeholder;

    let hash = base64::engine::general_purpose::STANDARD
        .decode(&placeholder.thumbhash)
        .unwrap();
    let (r, g, b, a) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
    let expected = mean(&thumbnail, false);
    for (got, want) in [r, g, b].iter().zip(expected) {
        assert!(
            (f64::from(*got) * 255.0 - want).abs() < 12.0,
            "thumbhash {r} {g} {b} vs {expected:?}"
        );
    }
    assert!(a > 0.99);

    let blurred = blurhash::decode(&placeholder.blurhash, 40, 25, 1.0).unwrap();
    let blurred = DynamicImage::ImageRgba8(image::RgbaImage::from_raw(40, 25, blurred).unwrap());
    let (got, want) = (mean(&blurred, true), mean(&thumbnail, true));
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 12.0, "blurhash {got:?} vs {want:?}");
    }

    let dominant = &placeholder.dominant_colour;
    assert!(
        dominant.starts_with('#') && dominant.len() == 7,
        "{dominant}"
    );
}

#[test]
fn adobe_rgb_and_display_p3_come_out_in_srgb() {
    let colour = [60, 170, 60];
    let flat = RgbImage::from_pixel(64, 64, image::Rgb(colour));
    for (name, icc) in [
        ("Adobe RGB", adobe_rgb_profile()),
        ("Display P3", display_p3_profile()),
    ] {
        let inputs = [
            jpeg(
                &flat,
                &JpegOptions {
                    icc: Some(icc.clone()),
                    quality: Some(100),
                    ..Default::default()
                },
            ),
            png_with_icc(&flat, icc.clone()),
        ];
        for input in inputs {
            let out = make(
                &input,
                &spec("32x32", Fit::Cover).with_format(OutputFormat::Png),
            )
            .unwrap();
            let [r, g, _, _] = pixel(&out, 16, 16);
            // Both gamuts are wider than sRGB in green: the same colour needs less red, more green.
            assert!(r + 10 < colour[0] && g > colour[1], "{name}: got {r},{g}");
        }
    }
    // Without a profile the pixels are taken as sRGB and kept.
    let out = make(
        &encode(&DynamicImage::ImageRgb8(flat), Codec::Png),
        &spec("32x32", Fit::Cover).with_format(OutputFormat::Png),
    )
    .unwrap();
    assert!(near(&pixel(&out, 16, 16)[..3], &colour, 1));
}

#[test]
fn outputs_carry_no_exif_gps_or_profile() {
    let input = jpeg(
        &quadrants(64, 64),
        &JpegOptions {
            orientation: Some(1),
            private_exif: true,
            icc: Some(adobe_rgb_profile()),
            ..Default::default()
        },
    );
    assert!(
        input.windows(PRIVATE_TEXT.len()).any(|w| w == PRIVATE_TEXT),
        "the fixture carries the text"
    );
    for format in [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::WebP] {
        let out = Engine::new(Limits::default())
            .thumbnail(&input, &spec("32x32", Fit::Cover).with_format(format))
            .unwrap();
        for needle in [PRIVATE_TEXT, b"Exif", b"ICC_PROFILE", b"iCCP", b"eXIf"] {
            assert!(
                !out.bytes.windows(needle.len()).any(|w| w == needle),
                "{format} output contains {:?}",
                String::from_utf8_lossy(needle)
            );
        }
        if format == OutputFormat::Jpeg {
            let segments = jpeg_segments(&out.bytes);
            assert!(
                !segments.iter().any(|&m| (0xE1..=0xEF).contains(&m)),
                "APP1-15 segments: {segments:x?}"
            );
        }
    }
}

#[test]
fn progressive_gray_cmyk_and_ycck_jpegs_decode() {
    let progressive = jpeg(
        &quadrants(96, 64),
        &JpegOptions {
            progressive: true,
            ..Default::default()
        },
    );
    assert_quadrants(
        &make(&progressive, &spec("48x48", Fit::Contain)).unwrap(),
        "progressive",
    );

    let gray = make(&gray_jpeg(256, 64), &spec("64x16", Fit::Fill)).unwrap();
    let (left, right) = (pixel(&gray, 2, 8), pixel(&gray, 61, 8));
    assert!(
        left[0] < 30 && right[0] > 225 && left[0] == left[1],
        "ramp {left:?} .. {right:?}"
    );

    // Adobe-convention stored values: 0 = full ink. Full cyan, no other ink: RGB (0, 255, 255).
    for ycck in [false, true] {
        let out = make(
            &cmyk_jpeg(64, 64, [0, 255, 255, 255], ycck),
            &spec("16x16", Fit::Cover),
        )
        .unwrap();
        let p = pixel(&out, 8, 8);
        assert!(near(&p[..3], &[0, 255, 255], 20), "ycck={ycck}: {p:?}");
    }
}

#[test]
fn every_input_format_decodes() {
    let rgb = DynamicImage::ImageRgb8(quadrants(96, 64));
    for codec in [Codec::Png, Codec::Gif, Codec::Tiff, Codec::Bmp, Codec::WebP] {
        let out = make(&encode(&rgb, codec), &spec("48x48", Fit::Contain)).unwrap();
        assert_quadrants(&out, &format!("{codec:?}"));
    }
    let gray16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(64, 64, |x, _| {
        image::Luma([if x < 32 { 0 } else { 65535 }])
    }));
    let out = make(&encode(&gray16, Codec::Png), &spec("16x16", Fit::Fill)).unwrap();
    assert!(pixel(&out, 2, 8)[0] < 10 && pixel(&out, 13, 8)[0] > 245);

    let palette = palette_png(64, 64, [[255, 0, 0], [0, 0, 255]]);
    let out = make(&palette, &spec("16x16", Fit::Fill)).unwrap();
    assert!(
        near(&pixel(&out, 2, 8)[..3], &[255, 0, 0], 10)
            && near(&pixel(&out, 13, 8)[..3], &[0, 0, 255], 10)
    );
}

#[test]
fn alpha_is_kept_without_dark_fringes_and_flattened_for_jpeg() {
    let input = encode(
        &DynamicImage::ImageRgba8(half_transparent(128, 64)),
        Codec::Png,
    );
    for format in [OutputFormat::Png, OutputFormat::WebP] {
        let out = make(&input, &spec("32x16", Fit::Fill).with_format(format)).unwrap();
        assert_eq!(
            pixel(&out, 30, 8)[3],
            0,
            "{format}: right side stays transparent"
        );
        for x in 0..32 {
            let p = pixel(&out, x, 8);
            if p[3] > 32 {
                assert!(p[0] > 235, "{format}: dark fringe at x={x}: {p:?}");
            }
        }
    }
    let jpeg = make(&input, &spec("32x16", Fit::Fill)).unwrap();
    assert!(
        near(&pixel(&jpeg, 30, 8)[..3], &[255, 255, 255], 8),
        "transparent flattens onto white"
    );

    let out = make(
        &png16_with_alpha(64, 64),
        &spec("32x32", Fit::Fill).with_format(OutputFormat::Png),
    )
    .unwrap();
    assert!(near(&pixel(&out, 16, 16), &[255, 0, 0, 255], 2) && pixel(&out, 1, 1)[3] == 0);
}

#[test]
fn five_presets_come_from_one_call_in_order() {
    let presets = Presets::builtin();
    let mut specs: Vec<ThumbnailSpec> = ["profile", "album-art-small", "album-art", "preview"]
        .iter()
        .map(|name| presets.require(name).unwrap().clone())
        .collect();
    specs.push(spec("256x", Fit::Contain).with_format(OutputFormat::WebP));
    let input = jpeg(&quadrants(2400, 1600), &JpegOptions::default());
    let thumbnails = Engine::new(Limits::default())
        .thumbnails(&input, &specs)
        .unwrap();
    let sizes: Vec<(String, u32, u32)> = thumbnails
        .iter()
        .map(|t| (t.name.clone(), t.width, t.height))
        .collect();
    assert_eq!(
        sizes,
        [
            ("profile", 128, 128),
            ("album-art-small", 300, 300),
            ("album-art", 600, 600),
            ("preview", 1024, 683),
            ("256x", 256, 171)
        ]
        .map(|(n, w, h)| (n.to_string(), w, h))
    );
    for t in &thumbnails {
        let image = decode(&t.bytes);
        assert_eq!(
            (image.width(), image.height()),
            (t.width, t.height),
            "{}",
            t.name
        );
    }
}

#[test]
fn a_reused_engine_gives_the_same_bytes_as_a_fresh_one() {
    let inputs = [
        jpeg(&quadrants(800, 600), &JpegOptions::default()),
        encode(
            &DynamicImage::ImageRgba8(half_transparent(300, 500)),
            Codec::Png,
        ),
        jpeg(
            &quadrants(640, 480),
            &JpegOptions {
                progressive: true,
                orientation: Some(6),
                ..Default::default()
            },
        ),
    ];
    let specs = [
        spec("128x128", Fit::Cover),
        spec("200x200", Fit::Contain).with_format(OutputFormat::Png),
    ];
    let mut reused = Engine::new(Limits::default());
    for _round in 0..2 {
        for input in &inputs {
            let fresh = Engine::new(Limits::default())
                .thumbnails(input, &specs)
                .unwrap();
            assert_eq!(reused.thumbnails(input, &specs).unwrap(), fresh);
        }
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    let engine_error = |input: &[u8]| {
        Engine::new(Limits::default())
            .thumbnail(input, &spec("64x64", Fit::Cover))
            .unwrap_err()
    };
    let good_jpeg = jpeg(&quadrants(400, 300), &JpegOptions::default());
    let good_png = encode(&DynamicImage::ImageRgb8(quadrants(400, 300)), Codec::Png);

    assert!(
        matches!(engine_error(&[]), Error::UnsupportedFormat { reason } if reason.contains("empty"))
    );
    assert!(matches!(
        engine_error(b"<html><body>not a photo</body></html>"),
        Error::UnsupportedFormat { .. }
    ));
    for cut in [good_jpeg.len() / 2, good_jpeg.len() - 10, 400] {
        let error = engine_error(&good_jpeg[..cut]);
        assert!(
            matches!(
                error,
                Error::Corrupt {
                    format: ImageFormat::Jpeg,
                    ..
                }
            ),
            "JPEG cut at {cut}: {error:?}"
        );
    }
    // Found by the decode fuzz target: a PLTE chunk of 58 bytes (not a multiple of 3) makes the png
    // crate (0.18.1) index past its palette and panic. The engine's guard turns that into this
    // image's error, so a worker thread survives it.
    let odd_palette = include_bytes!("../fixtures/png-odd-palette.png");
    let error = engine_error(odd_palette);
    assert!(
        matches!(
            error,
            Error::Corrupt {
                format: ImageFormat::Png,
                ..
            }
        ),
        "{error:?}"
    );
    // Only the end marker missing: every row is there, so it decodes, as viewers show it.
    let no_end = &good_jpeg[..good_jpeg.len() - 2];
    assert_quadrants(
        &make(no_end, &spec("400x300", Fit::Contain)).unwrap(),
        "a JPEG without its end marker",
    );
    for cut in [good_png.len() / 2, 40] {
        let error = engine_error(&good_png[..cut]);
        assert!(
            matches!(
                error,
                Error::Corrupt {
                    format: ImageFormat::Png,
                    ..
                }
            ),
            "PNG cut at {cut}: {error:?}"
        );
    }
    let error = engine_error(&png_claiming(100_000, 100_000));
    assert!(
        matches!(
            error,
            Error::TooManyPixels {
                width: 100_000,
                height: 100_000,
                pixels: 10_000_000_000,
                limit: 100_000_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("100000x100000"), "{error}");
    let error = engine_error(&jpeg_claiming(65_000, 65_000));
    assert!(
        matches!(
            error,
            Error::TooManyPixels {
                format: ImageFormat::Jpeg,
                width: 65_000,
                ..
            }
        ),
        "{error:?}"
    );

    let tight = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let error = Engine::new(tight)
        .thumbnail(&good_jpeg, &spec("64x64", Fit::Cover))
        .unwrap_err();
    assert!(
        matches!(error, Error::TooLarge { limit: 1000, .. }),
        "{error:?}"
    );
}

#[test]
fn probe_reads_only_the_header() {
    let engine = Engine::new(Limits::default());
    let input = jpeg(
        &quadrants(640, 480),
        &JpegOptions {
            orientation: Some(8),
            ..Default::default()
        },
    );
    let info = engine.probe(&input).unwrap();
    assert_eq!(
        (info.format, info.width, info.height, info.orientation),
        (ImageFormat::Jpeg, 640, 480, 8)
    );
    assert_eq!(info.oriented_size(), (480, 640));
    // A lying header is still just a header.
    let info = engine.probe(&png_claiming(100_000, 100_000)).unwrap();
    assert_eq!((info.format, info.width), (ImageFormat::Png, 100_000));
}

#[test]
fn a_png_shrunk_as_its_rows_arrive_matches_a_full_decode() {
    // The same pixels as PNG (shrunk row by row, 1/4 here) and as TIFF (decoded whole, then
    // resized): thumbnails within 35 dB of each other, in colour, grey and with alpha.
    let photo = textured(1200, 900);
    let with_alpha = image::RgbaImage::from_fn(1200, 900, |x, y| {
        let [r, g, b] = photo.get_pixel(x, y).0;
        // Opaque, half transparent and clear regions, with edges between them.
        let a = match (x / 300 + y / 300) % 3 {
            0 => 255,
            1 => 128,
            _ => 0,
        };
        image::Rgba([r, g, b, a])
    });
    let cases = [
        ("rgb", DynamicImage::ImageRgb8(photo.clone())),
        (
            "grey",
            DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(photo.clone()).to_luma8()),
        ),
        ("rgba", DynamicImage::ImageRgba8(with_alpha)),
    ];
    let spec = spec("128x128", Fit::Cover).with_format(OutputFormat::Png);
    for (name, image) in cases {
        // Compared as seen: colour weighted by alpha (a clear pixel's colour is no one's).
        let seen = |input: Vec<u8>| -> Vec<u8> {
            let image = make(&input, &spec).unwrap().to_rgba8();
            image
                .pixels()
                .flat_map(|p| {
                    let [r, g, b, a] = p.0;
                    let weigh = |c: u8| (u16::from(c) * u16::from(a) / 255) as u8;
                    [weigh(r), weigh(g), weigh(b), a]
                })
                .collect()
        };
        let streamed = seen(encode(&image, Codec::Png));
        let whole = seen(encode(&image, Codec::Tiff));
        let quality = psnr(&streamed, &whole);
        eprintln!("{name}: {quality:.1} dB");
        assert!(quality >= 35.0, "{name}: {quality:.1} dB");
    }
}

#[test]
fn an_interlaced_png_gives_what_the_same_pixels_plain_give() {
    // optipng's Adam7 and plain encodings of one RGBA image (tests/fixtures/png/make.sh): the
    // interlaced one is decoded whole, then shrunk as the plain one is row by row.
    let spec = spec("100x100", Fit::Cover).with_format(OutputFormat::Png);
    let plain = make(&fixture("png/plain.png"), &spec).unwrap();
    let interlaced = make(&fixture("png/interlaced.png"), &spec).unwrap();
    assert_eq!(plain.to_rgba8().as_raw(), interlaced.to_rgba8().as_raw());
    assert_eq!((plain.width(), plain.height()), (100, 100));
}

/// One rounding rule for every decoder, vipsthumbnail's: the output size is planned on the
/// image's full size, not on what a decoder shrank it to on load (a 1600x1067 JPEG at 1/8 is
/// 200x134, rounded up; it used to come out 200x134 where the TIFF came out 200x133).
#[test]
fn every_decoder_gives_one_output_size() {
    let photo = DynamicImage::ImageRgb8(quadrants(1600, 1067));
    let inputs = [
        (
            "jpeg",
            jpeg(photo.as_rgb8().unwrap(), &JpegOptions::default()),
        ),
        ("png", encode(&photo, Codec::Png)),
        ("tiff", encode(&photo, Codec::Tiff)),
    ];
    for (size, fit, expected) in [
        ("200x200", Fit::Contain, (200, 133)),
        ("x100", Fit::Contain, (150, 100)),
        ("150x150", Fit::Cover, (150, 150)),
        ("90x", Fit::Contain, (90, 60)),
    ] {
        for (name, input) in &inputs {
            let made = make(input, &spec(size, fit)).unwrap();
            assert_eq!(
                (made.width(), made.height()),
                expected,
                "{name} at {size} {fit:?}"
            );
            assert_quadrants(&made, &format!("{name} at {size}"));
        }
    }
}
