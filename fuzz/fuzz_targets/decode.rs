//! Any bytes through the whole engine path: format detection, header probe, limits, decode (with and
//! without JPEG shrink-on-load), orientation, colour conversion, resize and every encoder.
//! The engine must answer with a thumbnail or an `Error`, never a panic, abort or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thumbnail_core::{Engine, Fit, Gravity, Limits, OutputFormat, Size, ThumbnailSpec};

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the limit checks themselves are part of what is fuzzed.
    let mut engine = Engine::new(Limits {
        max_pixels: 4_000_000,
        max_bytes: 4 << 20,
    });
    let _ = engine.probe(data);
    let specs = [
        ThumbnailSpec::new("cover", Size::new(48, 48).unwrap()),
        ThumbnailSpec::new("contain", Size::new(300, 200).unwrap().shrink_only())
            .with_fit(Fit::Contain)
            .with_format(OutputFormat::Png),
        ThumbnailSpec::new("smart", Size::width_only(20).unwrap())
            .with_gravity(Gravity::Entropy)
            .with_format(OutputFormat::WebP),
    ];
    let _ = engine.thumbnails(data, &specs);
    let _ = engine.decode(data, &[]);
});
