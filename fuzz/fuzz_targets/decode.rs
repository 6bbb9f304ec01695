//! Any bytes through the whole engine path: format detection, header probe, limits, decode (with and
//! without JPEG and PNG shrink-on-load; HEIC and AVIF from the seeds, AVIF as far as its container
//! without `avif-input`), orientation, colour conversion, resize, both smart crops, the
//! placeholders and the encoders; at the default decode tolerance and at `none`.
//! The engine must answer with a thumbnail or an `Error`, never a panic, abort or overflow.
//! Inputs that once failed are kept in `fuzz/regressions/decode/` and replayed by `fuzz/run`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thumbnail_core::{
    Engine, FailOn, Fit, Formats, Gravity, Limits, OutputFormat, Size, ThumbnailSpec,
};

/// libfuzzer-sys aborts on every panic, even one that is caught. The engine catches the panics of
/// the third-party decoders it guards (a decoder bug becomes that image's `Error::Corrupt`, as in
/// production), so those must not count; a panic that escapes the engine still aborts, in
/// libfuzzer-sys's own wrapper, and is a crash.
static QUIET_CAUGHT_PANICS: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_CAUGHT_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    // Small limits keep each run fast; the limit checks themselves are part of what is fuzzed.
    let limits = Limits {
        max_pixels: 4_000_000,
        max_bytes: 4 << 20,
        fail_on: FailOn::default(),
    };
    let mut engine = Engine::new(limits);
    let _ = engine.probe(data);
    let specs = [
        ThumbnailSpec::new("cover", Size::new(48, 48).unwrap()),
        ThumbnailSpec::new("contain", Size::new(300, 200).unwrap().shrink_only())
            .with_fit(Fit::Contain)
            .with_format(OutputFormat::Png),
        ThumbnailSpec::new("smart", Size::width_only(20).unwrap())
            .with_gravity(Gravity::Entropy)
            .with_format(OutputFormat::WebP),
        ThumbnailSpec::new("attention", Size::new(30, 60).unwrap())
            .with_gravity(Gravity::Attention)
            .with_formats(Formats::Auto),
    ];
    let _ = engine.render(data, &specs);
    // A thumbnail an eighth of the seeds' size or less: the shrink-on-load paths (the DC-only
    // decode of progressive JPEGs, PNG rows shrunk as they arrive).
    let _ = engine.thumbnail(data, &ThumbnailSpec::new("tiny", Size::new(4, 4).unwrap()));
    // Between an eighth and a quarter of the small seeds (40x30): a progressive JPEG's
    // band-limited 1/4 decode.
    let _ = engine.thumbnail(data, &ThumbnailSpec::new("quarter", Size::new(8, 8).unwrap()));
    // Between a quarter and a half (the same seeds): its 1/2 decode from every first scan.
    let _ = engine.thumbnail(data, &ThumbnailSpec::new("half", Size::new(12, 12).unwrap()));
    let _ = engine.decode(data, &[]);
    // The most lenient tolerance takes the paths that decode past damage: libjpeg's padding, a
    // PNG read again without checksums and its missing rows filled, a GIF frame with no palette.
    let mut lenient = Engine::new(Limits {
        fail_on: FailOn::None,
        ..limits
    });
    let _ = lenient.thumbnail(data, &specs[0]);
    let _ = lenient.thumbnail(data, &ThumbnailSpec::new("tiny", Size::new(4, 4).unwrap()));
});
