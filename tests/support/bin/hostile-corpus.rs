//! Writes the hostile corpus to a folder, with `expected.tsv` (file, expected outcome, what it is):
//! `cargo run -p thumbnail-tests --bin hostile-corpus -- DIR`.

use std::io::Write;
use std::path::PathBuf;

use thumbnail_tests::{Expect, hostile_corpus};

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: hostile-corpus DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir)?;
    let mut expected = std::fs::File::create(dir.join("expected.tsv"))?;
    for file in hostile_corpus() {
        std::fs::write(dir.join(&file.name), &file.bytes)?;
        let outcome = match file.expect {
            Expect::Thumbnails => "thumbnails",
            Expect::Fails(reason) => reason,
        };
        writeln!(expected, "{}\t{outcome}\t{}", file.name, file.what)?;
    }
    println!("{}", dir.display());
    Ok(())
}
