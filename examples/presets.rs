//! Using `thumbnail-core` as a library: every built-in preset of one image from a single decode,
//! written into a folder of its own (never next to the input: `examples/photos/` holds the sources
//! the README's first command uploads).
//!
//! ```sh
//! cargo run --release -p thumbnail-examples --example presets -- examples/photos/landscape.jpg target/presets
//! ```

use std::error::Error;
use std::path::Path;

use thumbnail_core::{Engine, Limits, Presets, ThumbnailSpec};

fn main() -> Result<(), Box<dyn Error>> {
    let usage = "usage: presets IMAGE OUTPUT_DIR";
    let path = std::env::args().nth(1).ok_or(usage)?;
    let output_dir = std::path::PathBuf::from(std::env::args().nth(2).ok_or(usage)?);
    std::fs::create_dir_all(&output_dir)?;
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

    let stem = Path::new(&path)
        .file_stem()
        .ok_or("IMAGE names no file")?
        .to_string_lossy();
    for thumbnail in engine.thumbnails(&input, &specs)? {
        let out = output_dir.join(format!(
            "{stem}-{}.{}",
            thumbnail.name,
            thumbnail.format.extension()
        ));
        std::fs::write(&out, &thumbnail.bytes)?;
        println!(
            "{}: {}x{}, {} bytes",
            out.display(),
            thumbnail.width,
            thumbnail.height,
            thumbnail.bytes.len()
        );
    }
    Ok(())
}
