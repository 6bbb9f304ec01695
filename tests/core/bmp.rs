//! BMP variants the `image` crate refuses as they are (`fixtures/bmp/make.sh`: Pillow's pixels,
//! headers rewritten): an OS/2 2.x header, its 16-byte short form, a header size no format names,
//! and a run-length-encoded image stored top-down. Each decodes to the reference's pixels, the
//! right way up. Damaged runs (one past its row's end) keep what fits, as `fail_on` allows.

use thumbnail_core::{Engine, Error, FailOn, Limits, Raster};
use thumbnail_tests::fixture;

fn decoded(name: &str) -> Raster {
    Engine::new(Limits::default())
        .decode(&fixture(&format!("bmp/{name}")), &[])
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn header_variants_and_top_down_runs_decode_as_the_reference() {
    let reference = decoded("plain.bmp");
    assert_eq!((reference.width(), reference.height()), (64, 48));
    // Top half red to blue (Pillow's 16-colour palette rounds it), bottom half green.
    assert!(reference.pixel(1, 1)[0] > 200 && reference.pixel(1, 1)[1] == 0);
    assert_eq!(&reference.pixel(1, 40)[..3], [0, 200, 0]);
    for name in ["os2v2.bmp", "odd-header.bmp", "rle8-top-down.bmp"] {
        let variant = decoded(name);
        assert_eq!((variant.width(), variant.height()), (64, 48), "{name}");
        assert!(
            variant.pixels() == reference.pixels(),
            "{name}: other pixels"
        );
    }
    let short = decoded("os2v2-short.bmp");
    assert_eq!((short.width(), short.height()), (64, 48));
    assert_eq!(&short.pixel(1, 1)[..3], [251, 0, 4]);
    assert_eq!(&short.pixel(1, 40)[..3], [0, 200, 0]);
}

#[test]
fn damaged_runs_keep_what_fits_where_the_tolerance_allows() {
    let damaged = fixture("bmp/rle8-overrun.bmp");
    let at = |fail_on, input: &[u8]| {
        Engine::new(Limits {
            fail_on,
            ..Limits::default()
        })
        .decode(input, &[])
    };
    // A run past its row's end (the `image` crate refuses the file): an error-class fault.
    let kept = at(FailOn::Truncated, &damaged).expect("thumbnailed at the default");
    assert!(
        kept.pixels() == decoded("plain.bmp").pixels(),
        "other pixels"
    );
    assert!(at(FailOn::None, &damaged).is_ok());
    for strict in [FailOn::Error, FailOn::Warning] {
        assert!(
            matches!(at(strict, &damaged), Err(Error::Corrupt { .. })),
            "{strict:?}"
        );
    }
    // Cut in half: truncation, refused at the default, its first rows kept at `none`.
    let cut = &damaged[..damaged.len() / 2];
    assert!(matches!(
        at(FailOn::Truncated, cut),
        Err(Error::Corrupt { .. })
    ));
    let partial = at(FailOn::None, cut).expect("thumbnailed at none");
    assert_eq!(&partial.pixel(1, 40)[..3], [0, 200, 0]);
}
