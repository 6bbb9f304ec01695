//! TIFF variants the `image` crate refuses (`fixtures/tiff/make.sh`: Pillow's pixels, libtiff's
//! `tiffcp` compressions, a byte-level writer for what neither writes). Each decodes to what its
//! `.expect.png` (made by Pillow from the same source) shows, within what its coding loses.

use thumbnail_core::{Engine, Error, FailOn, ImageFormat, Limits, Raster};
use thumbnail_tests::fixture;

fn decoded(name: &str, limits: Limits) -> Result<Raster, Error> {
    Engine::new(limits).decode(&fixture(&format!("tiff/{name}")), &[])
}

/// The mean difference, per channel value, between `raster`'s RGB and the expected PNG's.
fn difference(raster: &Raster, expected: &str) -> f64 {
    let expected = image::load_from_memory(&fixture(&format!("tiff/{expected}")))
        .unwrap()
        .into_rgb8();
    assert_eq!(
        (raster.width(), raster.height()),
        expected.dimensions(),
        "{expected:?} size"
    );
    let mut total = 0u64;
    for (x, y, want) in expected.enumerate_pixels() {
        let got = raster.pixel(x, y);
        total += (0..3)
            .map(|c| u64::from(got[c].abs_diff(want[c])))
            .sum::<u64>();
    }
    total as f64 / (f64::from(raster.width() * raster.height()) * 3.0)
}

#[test]
fn each_variant_decodes_to_what_its_source_shows() {
    // (file, expected picture, the largest mean difference its coding explains)
    let cases = [
        ("palette.tif", "palette.expect.png", 0.5),
        ("palette-pages.tif", "palette.expect.png", 0.5),
        ("palette1.tif", "palette1.expect.png", 0.5),
        ("grey2.tif", "grey2.expect.png", 0.5),
        ("grey4.tif", "grey4.expect.png", 0.5),
        ("grey4-white.tif", "grey4-white.expect.png", 0.5),
        ("signed8.tif", "signed.expect.png", 0.5),
        ("signed16.tif", "signed.expect.png", 0.5),
        ("signed8-planar.tif", "signed.expect.png", 0.5),
        // Lab kept at 8 bits, written against D50 (littleCMS's Lab), read against D65 (what
        // libvips and libtiff assume when the file names no white point).
        ("lab.tif", "lab.expect.png", 5.0),
        ("jpeg-strips.tif", "jpeg.expect.png", 4.0),
        ("jpeg-tiles.tif", "jpeg.expect.png", 4.0),
        ("fax3.tif", "fax.expect.png", 0.5),
        ("fax4-lsb.tif", "fax.expect.png", 0.5),
        ("ccitt-rle.tif", "fax.expect.png", 0.5),
        // The first page, not its child.
        ("child-ifd.tif", "signed.expect.png", 0.5),
        ("lzma.tif", "lossless.expect.png", 0.5),
        ("lzma-predictor.tif", "lossless.expect.png", 0.5),
        ("lzma16.tif", "signed.expect.png", 0.5),
        ("webp.tif", "lossless.expect.png", 6.0),
    ];
    let mut report = Vec::new();
    for (name, expected, within) in cases {
        let raster = decoded(name, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let diff = difference(&raster, expected);
        report.push(format!("{name}: mean difference {diff:.2}"));
        assert!(
            diff <= within,
            "{name}: mean difference {diff:.2} > {within}"
        );
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn the_header_is_read_without_the_pixels_and_limits_hold() {
    let engine = Engine::new(Limits::default());
    let info = engine.probe(&fixture("tiff/palette.tif")).unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (ImageFormat::Tiff, 96, 64)
    );
    let small = Limits {
        max_pixels: 96 * 64 - 1,
        ..Limits::default()
    };
    for name in ["palette.tif", "fax3.tif", "lzma.tif", "lab.tif"] {
        assert!(
            matches!(decoded(name, small), Err(Error::TooManyPixels { .. })),
            "{name}"
        );
    }
}

#[test]
fn cut_files_are_refused_and_damaged_strips_are_errors() {
    // Cut in half (which, as tiffcp writes the directory last, loses it too): refused.
    for name in ["lzma.tif", "fax3.tif"] {
        let whole = fixture(&format!("tiff/{name}"));
        let cut = &whole[..whole.len() / 2];
        let mut engine = Engine::new(Limits::default());
        assert!(
            matches!(engine.decode(cut, &[]), Err(Error::Corrupt { .. })),
            "{name} cut"
        );
    }
    // LZMA data with bytes overwritten mid-stream: an error-class fault, tolerated at the default
    // (the rows it did decode are kept), refused at `error`.
    let mut damaged = fixture("tiff/lzma.tif");
    let middle = damaged.len() / 2;
    damaged[middle..middle + 64].fill(0x55);
    let at = |fail_on| {
        Engine::new(Limits {
            fail_on,
            ..Limits::default()
        })
        .decode(&damaged, &[])
    };
    assert!(at(FailOn::Truncated).is_ok());
    assert!(matches!(at(FailOn::Error), Err(Error::Corrupt { .. })));
}
