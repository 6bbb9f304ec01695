//! The cost of a subject-aware crop next to a centre crop: a whole 128x128 cover thumbnail (decode,
//! crop search, resize, encode) of the largest corpus JPEG with each gravity.

use criterion::{Criterion, criterion_group, criterion_main};
use thumbnail_benches::largest_jpeg;
use thumbnail_core::{Engine, Gravity, Limits, Presets};

fn crop(c: &mut Criterion) {
    let photo = largest_jpeg();
    let profile = Presets::builtin()
        .require("profile")
        .expect("built in")
        .clone();
    let mut group = c.benchmark_group(format!("profile 128x128 cover {}", photo.name));
    group.sample_size(20);
    let mut engine = Engine::new(Limits::default());
    for (name, gravity) in [
        ("centre", Gravity::Centre),
        ("entropy", Gravity::Entropy),
        ("attention", Gravity::Attention),
    ] {
        let spec = profile.clone().with_gravity(gravity);
        group.bench_function(format!("gravity {name}"), |b| {
            b.iter(|| engine.thumbnail(&photo.bytes, &spec).expect("made"))
        });
    }
    group.finish();
}

criterion_group!(benches, crop);
criterion_main!(benches);
