//! The resize kernels alone: each filter, RGB and RGBA, a 20 MP image (6000x3400) to 256 and to
//! 1024 pixels wide. This is the work left after decoding when no shrink-on-load applies.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use thumbnail_core::resize::Resizer;
use thumbnail_core::{Filter, PixelLayout, Raster};

const SOURCE: (u32, u32) = (6000, 3400);

fn source(layout: PixelLayout) -> Raster {
    let rgb = thumbnail_tests::textured(SOURCE.0, SOURCE.1).into_raw();
    let pixels = match layout {
        PixelLayout::Rgb8 => rgb,
        PixelLayout::Rgba8 => rgb
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], (p[0] ^ p[1]) | 0x80])
            .collect(),
    };
    Raster::new(SOURCE.0, SOURCE.1, layout, pixels).expect("sized")
}

fn resize(c: &mut Criterion) {
    let mut group = c.benchmark_group("resize 6000x3400");
    group.sample_size(10);
    for layout in [PixelLayout::Rgb8, PixelLayout::Rgba8] {
        let src = source(layout);
        let mut resizer = Resizer::new();
        for width in [256u32, 1024] {
            let height = width * SOURCE.1 / SOURCE.0;
            for filter in Filter::ALL {
                let id = BenchmarkId::new(
                    format!("{layout:?} to {width}x{height}"),
                    format!("{filter:?}"),
                );
                group.bench_function(id, |b| {
                    b.iter(|| {
                        resizer
                            .resize(&src, width, height, filter)
                            .expect("resized")
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, resize);
criterion_main!(benches);
