//! Inputs for the benchmarks: real photos when a folder of them is at hand, synthetic ones otherwise.
//!
//! Set `BENCH_THUMBNAIL_PHOTOS` to a folder of JPEGs and PNGs; by default `../shared/corpus` beside the
//! workspace is used when it exists (the project's measured 5-20 MP photos), else synthetic
//! photo-sized images are made, so `cargo bench` runs anywhere.

use std::path::PathBuf;

use thumbnail_core::{Fit, Size, ThumbnailSpec};
use thumbnail_tests::{JpegOptions, jpeg};

/// A named encoded input.
#[derive(Debug)]
pub struct Photo {
    /// File name, or a description of the synthetic image.
    pub name: String,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
}

/// The folder of photos, if there is one.
pub fn folder() -> Option<PathBuf> {
    let folder = std::env::var_os("BENCH_THUMBNAIL_PHOTOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    folder.is_dir().then_some(folder)
}

/// The largest JPEG of the folder (the 20 MP baseline one in the project corpus), or a synthetic 20 MP JPEG.
pub fn largest_jpeg() -> Photo {
    largest_where(&["jpg", "jpeg"], |_| true).unwrap_or_else(|| synthetic(6000, 3400, false))
}

/// The largest progressive JPEG of the folder (the 16 MP one in the project corpus), or a synthetic
/// progressive 16 MP JPEG.
pub fn largest_progressive_jpeg() -> Photo {
    // A progressive frame header: SOF2.
    largest_where(&["jpg", "jpeg"], |bytes| {
        bytes.windows(2).any(|w| w == [0xFF, 0xC2])
    })
    .unwrap_or_else(|| synthetic(5312, 2988, true))
}

/// The largest PNG of the folder (the 6 MP one in the project corpus), or a synthetic 6 MP PNG.
pub fn largest_png() -> Photo {
    largest_where(&["png"], |_| true).unwrap_or_else(|| Photo {
        name: "synthetic 3000x2000 PNG".into(),
        bytes: thumbnail_tests::encode(
            &thumbnail_tests::textured(3000, 2000).into(),
            image::ImageFormat::Png,
        ),
    })
}

/// The largest file of the folder with one of `extensions` whose bytes `keep` accepts.
fn largest_where(extensions: &[&str], keep: impl Fn(&[u8]) -> bool) -> Option<Photo> {
    let mut jpegs: Vec<(u64, PathBuf)> = std::fs::read_dir(folder()?)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| extensions.iter().any(|e| x.eq_ignore_ascii_case(e)))
        })
        .filter_map(|p| Some((p.metadata().ok()?.len(), p)))
        .collect();
    jpegs.sort();
    jpegs.into_iter().rev().find_map(|(_, path)| {
        let bytes = std::fs::read(&path).expect("a readable photo");
        keep(&bytes).then(|| Photo {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            bytes,
        })
    })
}

/// A synthetic photo-sized JPEG: smooth gradients with fine texture, so it does not compress to nothing.
pub fn synthetic(width: u32, height: u32, progressive: bool) -> Photo {
    let image = thumbnail_tests::textured(width, height);
    Photo {
        name: format!("synthetic {width}x{height}"),
        bytes: jpeg(
            &image,
            &JpegOptions {
                quality: Some(85),
                progressive,
                ..Default::default()
            },
        ),
    }
}

/// The thumbnail the project's targets are stated for: 256x256 cover, JPEG quality 80.
pub fn cover_256() -> ThumbnailSpec {
    ThumbnailSpec::new("cover-256", Size::new(256, 256).expect("valid")).with_fit(Fit::Cover)
}

/// Fit inside 1024x1024, JPEG quality 80.
pub fn contain_1024() -> ThumbnailSpec {
    ThumbnailSpec::new("contain-1024", Size::new(1024, 1024).expect("valid")).with_fit(Fit::Contain)
}
