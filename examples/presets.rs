//! Using `thumbnail-core` as a library: every built-in preset of one image from a single decode,
//! written next to the input.
//!
//! ```sh
//! cargo run --release -p thumbnail-examples --example presets -- examples/photos/landscape.jpg
//! ```

use std::error::Error;
use std::path::Path;

use thumbnail_core::{Engine, Limits, Presets, ThumbnailSpec};

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args().nth(1).ok_or("usage: presets IMAGE")?;
    let input = std::fs::read(&path)?;
    let presets = Presets::builtin();
    let specs: Vec<ThumbnailSpec> = presets
        .names()
        .map(|name| presets.require(name).cloned())
        .collect::<Result<_, _>>()?;

    let mut engine = Engine::new(Limits::default());
    let info = engine.probe(&input)?;
    println!(
        "{path}: {} {}x{}, EXIF orientation {}",
        info.format, info.width, info.height, info.orientation
    );

    let stem = Path::new(&path).with_extension("");
    for thumbnail in engine.thumbnails(&input, &specs)? {
        let out = format!(
            "{}-{}.{}",
            stem.display(),
            thumbnail.name,
            thumbnail.format.extension()
        );
        std::fs::write(&out, &thumbnail.bytes)?;
        println!(
            "{out}: {}x{}, {} bytes",
            thumbnail.width,
            thumbnail.height,
            thumbnail.bytes.len()
        );
    }
    Ok(())
}
