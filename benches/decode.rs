//! Decoding the largest photo, and the largest progressive one, at full size and with JPEG
//! shrink-on-load (as chosen for a 1024 box, 1/4, and for a 256 cover, 1/8): the cost that dominates
//! a thumbnail. A progressive file at 1/8 takes the DC-only path (its DC scans alone, the rest
//! skipped); at other scales libjpeg decodes every scan.

use criterion::{Criterion, criterion_group, criterion_main};
use thumbnail_benches::{contain_1024, cover_256, largest_jpeg, largest_progressive_jpeg};
use thumbnail_core::{Engine, Limits, ThumbnailSpec};

fn decode(c: &mut Criterion) {
    for (photo, eighth) in [
        (largest_jpeg(), "for cover 256"),
        (
            largest_progressive_jpeg(),
            "for cover 256: progressive DC-only",
        ),
    ] {
        let mut group = c.benchmark_group(format!("decode {}", photo.name));
        group.sample_size(20);
        let mut engine = Engine::new(Limits::default());
        let cases: [(&str, Vec<ThumbnailSpec>); 3] = [
            ("full size", vec![]),
            ("for contain 1024", vec![contain_1024()]),
            (eighth, vec![cover_256()]),
        ];
        for (name, specs) in cases {
            let raster = engine.decode(&photo.bytes, &specs).expect("decodes");
            let label = format!("{name} ({}x{})", raster.width(), raster.height());
            group.bench_function(label, |b| {
                b.iter(|| engine.decode(&photo.bytes, &specs).expect("decodes"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
