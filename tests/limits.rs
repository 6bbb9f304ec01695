//! Hostile headers are refused before the pixel buffer exists, and `Engine::memory_estimate` is an
//! upper bound of what making thumbnails allocates: measured with a counting allocator, not a clock,
//! so the tests cannot flake on a busy machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use thumbnail_core::{Engine, Error, Fit, Limits, Size, ThumbnailSpec};
use thumbnail_tests::{
    JpegOptions, encode, fixture, heic_claiming, jpeg, jpeg_claiming, png_claiming,
    png16_with_alpha, textured,
};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth while `work` runs.
fn peak_growth(work: impl FnOnce()) -> usize {
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    work();
    PEAK.load(Ordering::SeqCst) - before
}

// One test function: the counters are process-wide, so nothing may run beside it.
#[test]
fn memory_is_bounded_before_and_during_decoding() {
    huge_headers_fail_fast_with_little_memory();
    estimates_bound_what_is_allocated();
    huge_outputs_are_refused_before_they_are_allocated();
}

/// An output box far larger than the image, enlarging allowed (`convert -s 16384` of a 1x1 PNG:
/// a 16384x16384 thumbnail, 2.3 GiB at its peak before), counts against the pixel limit as an
/// input does: refused before its pixels exist. Within the limit it is made.
fn huge_outputs_are_refused_before_they_are_allocated() {
    let dot = encode(
        &image::DynamicImage::new_rgb8(1, 1),
        image::ImageFormat::Png,
    );
    let huge = ThumbnailSpec::new("huge", Size::new(16384, 16384).unwrap());
    let mut engine = Engine::new(Limits::default());
    let mut result = None;
    let peak = peak_growth(|| result = Some(engine.thumbnail(&dot, &huge)));
    match result {
        Some(Err(Error::OutputTooLarge {
            width: 16384,
            height: 16384,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    assert!(peak < 1 << 20, "{peak} bytes allocated before refusing");
    let fits = ThumbnailSpec::new("fits", Size::new(256, 256).unwrap());
    assert_eq!(engine.thumbnail(&dot, &fits).unwrap().width, 256);
}

/// The estimate covers the Rust heap's peak (libjpeg's own buffers are outside the counting
/// allocator, so JPEG cases check the Rust side only) and is not wildly above it for whole decodes.
fn estimates_bound_what_is_allocated() {
    let specs = [
        ThumbnailSpec::new("small", Size::new(128, 128).unwrap()).with_fit(Fit::Cover),
        ThumbnailSpec::new("large", Size::new(600, 600).unwrap()).with_fit(Fit::Cover),
    ];
    let photo = textured(2400, 1600);
    let cases = [
        ("baseline jpeg", jpeg(&photo, &JpegOptions::default()), None),
        (
            "progressive jpeg",
            jpeg(
                &photo,
                &JpegOptions {
                    progressive: true,
                    ..JpegOptions::default()
                },
            ),
            None,
        ),
        (
            "png",
            encode(&photo.clone().into(), image::ImageFormat::Png),
            Some(3),
        ),
        (
            "16-bit png with alpha",
            png16_with_alpha(1200, 900),
            Some(3),
        ),
        // At 400x300 the 600x600 output's share of the estimate dominates: an upper bound only.
        ("heic grid", fixture("heif/grid.heic"), None),
        (
            "gif",
            encode(&textured(1200, 800).into(), image::ImageFormat::Gif),
            Some(3),
        ),
        (
            "gif with no colour table",
            fixture("damaged/no-palette.gif"),
            None,
        ),
    ];
    // TIFFs this crate's own code reads (small: upper bounds only).
    let tiffs = [
        "palette.tif",
        "lab.tif",
        "signed16.tif",
        "fax3.tif",
        "lzma16.tif",
        "jpeg-tiles.tif",
    ]
    .map(|name| (name, fixture(&format!("tiff/{name}")), None));
    let cases = cases.into_iter().chain(tiffs);
    for (name, input, within) in cases {
        let mut engine = Engine::new(Limits::default());
        let estimate = engine.memory_estimate(&engine.probe(&input).unwrap(), &specs);
        let peak = peak_growth(|| {
            engine.thumbnails(&input, &specs).unwrap();
        }) as u64;
        assert!(
            peak <= estimate,
            "{name}: peak {peak} > estimate {estimate}"
        );
        if let Some(factor) = within {
            assert!(
                estimate <= peak * factor,
                "{name}: estimate {estimate} over {factor}x the peak {peak}"
            );
        }
    }

    // One small thumbnail: shrunk on load by 8 (or 4), a progressive JPEG from its DC scans
    // (and lowest AC bands) alone and a PNG as its rows arrive. None holds the decoded image: each
    // peaks far below its 11 MiB.
    let small = [specs[0].clone()];
    let progressive = jpeg(
        &photo,
        &JpegOptions {
            progressive: true,
            ..JpegOptions::default()
        },
    );
    let png = encode(&photo.clone().into(), image::ImageFormat::Png);
    // A 300x300 cover needs 1/4: the progressive file's DC and lowest AC bands.
    let quarter = [ThumbnailSpec::new("q", Size::new(300, 300).unwrap()).with_fit(Fit::Cover)];
    // (case, input, thumbnails, the bound on the peak: a fraction of the decoded image's bytes;
    // libjpeg alone would hold 11.5 MB of coefficients for the progressive file)
    let decoded = 2400 * 1600 * 3;
    for (name, input, specs, bound) in [
        (
            "progressive jpeg at 1/8",
            progressive.clone(),
            &small,
            decoded / 8,
        ),
        (
            "progressive jpeg at 1/4",
            progressive,
            &quarter,
            decoded / 3,
        ),
        ("png at 1/8", png, &small, decoded / 8),
    ] {
        let mut engine = Engine::new(Limits::default());
        let estimate = engine.memory_estimate(&engine.probe(&input).unwrap(), specs);
        let peak = peak_growth(|| {
            engine.thumbnails(&input, specs).unwrap();
        }) as u64;
        eprintln!("{name}: peak {peak} bytes, estimate {estimate}");
        assert!(
            peak <= estimate,
            "{name}: peak {peak} > estimate {estimate}"
        );
        assert!(peak < bound, "{name}: peak {peak}");
        assert!(
            estimate <= peak * 4,
            "{name}: estimate {estimate} over 4x the peak {peak}"
        );
    }
}

fn huge_headers_fail_fast_with_little_memory() {
    let spec = ThumbnailSpec::new("t", Size::new(256, 256).unwrap()).with_fit(Fit::Cover);
    let cases = [
        ("png 100000x100000", png_claiming(100_000, 100_000)),
        ("jpeg 65000x65000", jpeg_claiming(65_000, 65_000)),
        // 200 megapixels, in the grid of an otherwise valid 75 KB file.
        ("heic 20000x10000", heic_claiming(20_000, 10_000)),
    ];
    for (name, input) in cases {
        assert!(
            input.len() < 100 << 10,
            "{name} fixture is {} bytes",
            input.len()
        );
        let mut engine = Engine::new(Limits::default());
        let mut result = None;
        let peak = peak_growth(|| result = Some(engine.thumbnail(&input, &spec)));
        assert!(
            matches!(result, Some(Err(Error::TooManyPixels { .. }))),
            "{name}: {result:?}"
        );
        assert!(
            peak < 1 << 20,
            "{name}: {peak} bytes allocated before refusing"
        );
    }
}
