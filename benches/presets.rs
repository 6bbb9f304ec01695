//! One full thumbnail (decode, resize, encode) per built-in preset, and all of them plus a 256x256
//! cover from one decode: the target is that five cost under 1.5x one.

use criterion::{Criterion, criterion_group, criterion_main};
use thumbnail_benches::{cover_256, largest_jpeg};
use thumbnail_core::{Engine, Limits, Presets, ThumbnailSpec};

fn presets(c: &mut Criterion) {
    let photo = largest_jpeg();
    let presets = Presets::builtin();
    let mut all: Vec<ThumbnailSpec> = presets
        .names()
        .map(|n| presets.require(n).expect("listed").clone())
        .collect();
    all.push(cover_256());
    let mut group = c.benchmark_group(format!("thumbnail {}", photo.name));
    group.sample_size(20);
    let mut engine = Engine::new(Limits::default());
    for spec in &all {
        group.bench_function(format!("preset {}", spec.name), |b| {
            b.iter(|| engine.thumbnail(&photo.bytes, spec).expect("made"))
        });
    }
    group.bench_function(format!("all {} from one decode", all.len()), |b| {
        b.iter(|| engine.thumbnails(&photo.bytes, &all).expect("made"))
    });
    group.finish();
}

criterion_group!(benches, presets);
criterion_main!(benches);
