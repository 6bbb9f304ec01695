//! BMP variants the `image` crate refuses as they are (`fixtures/bmp/make.sh`: Pillow's pixels,
//! headers rewritten): an OS/2 2.x header, its 16-byte short form, a header size no format names,
//! and a run-length-encoded image stored top-down. Each decodes to the reference's pixels, the
//! right way up.

use thumbnail_core::{Engine, Limits, Raster};
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
