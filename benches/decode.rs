//! Decoding the largest photo, and the largest progressive one, at full size and with JPEG
//! shrink-on-load (as chosen for a 1024 box, and for a 256 cover, 1/8): the cost that dominates a
//! thumbnail. A progressive file at 1/8 takes the DC-only path (its DC scans alone, the rest
//! skipped), at 1/4 (here for a 512 cover) the band-limited one (its DC scans and the first scans
//! of its lowest AC bands), at 1/2 (for the 1024 box of the corpus' 8 MP one) the first scans of
//! every band, refinements skipped; at full size libjpeg decodes every scan. The largest PNG, whole and
//! row-streamed (each row shrunk as it is inflated, the full image never held).

use criterion::{Criterion, criterion_group, criterion_main};
use thumbnail_benches::{
    Photo, contain_1024, cover_256, largest_jpeg, largest_png, largest_progressive_jpeg,
};
use thumbnail_core::{Engine, Fit, Limits, Size, ThumbnailSpec};

fn decode(c: &mut Criterion) {
    let cover_512 =
        ThumbnailSpec::new("cover-512", Size::new(512, 512).expect("a size")).with_fit(Fit::Cover);
    bench(
        c,
        &largest_jpeg(),
        vec![
            ("full size", vec![]),
            ("for contain 1024", vec![contain_1024()]),
            ("for cover 256", vec![cover_256()]),
        ],
    );
    bench(
        c,
        &largest_progressive_jpeg(),
        vec![
            ("full size", vec![]),
            (
                "for contain 1024: progressive first scans",
                vec![contain_1024()],
            ),
            ("for cover 512: progressive band-limited", vec![cover_512]),
            ("for cover 256: progressive DC-only", vec![cover_256()]),
        ],
    );
    bench(
        c,
        &largest_png(),
        vec![
            ("full size", vec![]),
            ("for cover 256: row-streamed PNG", vec![cover_256()]),
        ],
    );
}

/// One group per photo: its decode for each case's thumbnails, labelled with the size decoded.
fn bench(c: &mut Criterion, photo: &Photo, cases: Vec<(&str, Vec<ThumbnailSpec>)>) {
    let mut group = c.benchmark_group(format!("decode {}", photo.name));
    group.sample_size(20);
    let mut engine = Engine::new(Limits::default());
    for (name, specs) in cases {
        let raster = engine.decode(&photo.bytes, &specs).expect("decodes");
        let label = format!("{name} ({}x{})", raster.width(), raster.height());
        group.bench_function(label, |b| {
            b.iter(|| engine.decode(&photo.bytes, &specs).expect("decodes"))
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
