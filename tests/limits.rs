//! Hostile headers are refused before the pixel buffer exists: measured with a counting allocator,
//! not a clock, so the test cannot flake on a busy machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use thumbnail_core::{Engine, Error, Fit, Limits, Size, ThumbnailSpec};
use thumbnail_tests::{jpeg_claiming, png_claiming};

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
fn huge_headers_fail_fast_with_little_memory() {
    let spec = ThumbnailSpec::new("t", Size::new(256, 256).unwrap()).with_fit(Fit::Cover);
    let cases = [
        ("png 100000x100000", png_claiming(100_000, 100_000)),
        ("jpeg 65000x65000", jpeg_claiming(65_000, 65_000)),
    ];
    for (name, input) in cases {
        assert!(
            input.len() < 2048,
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
