//! `thumbnail-worker convert`: thumbnails of local files, vipsthumbnail's habits.

use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use thumbnail_core::{Engine, Fit, Gravity, Limits, OutputFormat, Presets, Size, ThumbnailSpec};

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Target box: WxH, W (a WxW box), Wx, xH; end with '>' to only shrink. Default 128 when no --preset.
    #[arg(short, long)]
    size: Option<Size>,
    /// How the image fits the box given by --size: cover (fill, then crop), contain, fill (stretch).
    #[arg(long, default_value = "contain")]
    fit: Fit,
    /// Which part a cover crop keeps: centre, north, south, east, west, north-east, ..., entropy.
    #[arg(long, default_value = "centre")]
    gravity: Gravity,
    /// Encoder quality, 1-100 (JPEG and WebP).
    #[arg(short, long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Output format: jpeg, png or webp.
    #[arg(short, long, default_value = "jpeg")]
    format: OutputFormat,
    /// Progressive JPEG output.
    #[arg(long)]
    progressive: bool,
    /// A named preset (profile, album-art, album-art-small, preview, or one from --define); repeatable.
    #[arg(short, long = "preset", value_name = "NAME")]
    presets: Vec<String>,
    #[arg(
        long = "define",
        value_name = "NAME=SIZE[:FIT]",
        help = "Define a preset NAME=SIZE[:FIT], e.g. banner=1200x400:cover; repeatable. Use it with --preset NAME."
    )]
    definitions: Vec<String>,
    /// Files processed in parallel (default: the number of cores).
    #[arg(short = 'j', long)]
    threads: Option<usize>,
    /// Refuse inputs with more pixels than this.
    #[arg(long, default_value_t = Limits::default().max_pixels)]
    max_pixels: u64,
    /// Refuse inputs larger than this many bytes.
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    max_bytes: u64,
    /// Where thumbnails are written (created if missing).
    #[arg(short, long)]
    output_dir: PathBuf,
    /// Image files, or folders whose files are all taken (not recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run(args: ConvertArgs) -> ExitCode {
    match convert(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Converts every input; `Ok(false)` when some failed (each already reported).
fn convert(args: &ConvertArgs) -> Result<bool> {
    let (specs, named) = specs(args)?;
    let files = expand(&args.inputs)?;
    fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let limits = Limits {
        max_pixels: args.max_pixels,
        max_bytes: args.max_bytes,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, files.len().max(1));
    let progress = progress_bar(files.len());
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(0usize);
    let written = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut engine = Engine::new(limits);
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    match convert_one(&mut engine, file, &specs, named, &args.output_dir) {
                        Ok(n) => {
                            written.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => {
                            *failures.lock().expect("no panics while counting") += 1;
                            progress.suspend(|| eprintln!("{}: {e:#}", file.display()));
                        }
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let failed = failures.into_inner().expect("no panics while counting");
    eprintln!(
        "{} of {} files converted, {} thumbnails written to {}, {failed} failed, in {:.2} s",
        files.len() - failed,
        files.len(),
        written.into_inner(),
        args.output_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(failed == 0)
}

/// The specs to make, and whether outputs are named after presets (`stem-preset.ext`).
fn specs(args: &ConvertArgs) -> Result<(Vec<ThumbnailSpec>, bool)> {
    let size = args.size.unwrap_or(Size::new(128, 128)?);
    let base = ThumbnailSpec::new("", size)
        .with_fit(args.fit)
        .with_gravity(args.gravity)
        .with_format(args.format)
        .with_quality(args.quality)
        .with_progressive(args.progressive);
    if args.presets.is_empty() {
        if !args.definitions.is_empty() {
            bail!("--define only defines presets; name them with --preset");
        }
        return Ok((vec![base], false));
    }
    let mut presets = Presets::builtin();
    for definition in &args.definitions {
        presets.define(definition, &base)?;
    }
    let mut specs = Vec::new();
    for name in &args.presets {
        // The output flags apply to every preset; the preset gives size, fit and gravity.
        let preset = presets.require(name)?;
        specs.push(ThumbnailSpec {
            name: name.clone(),
            size: preset.size,
            fit: preset.fit,
            gravity: preset.gravity,
            ..base.clone()
        });
    }
    if args.size.is_some() {
        specs.insert(0, base);
    }
    Ok((specs, true))
}

/// Files as given, and the files directly inside folders (sorted, hidden ones skipped).
fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut inside: Vec<PathBuf> = fs::read_dir(input)
                .with_context(|| format!("cannot list {}", input.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.is_file())
                .filter(|path| {
                    !path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        bail!("no input files");
    }
    Ok(files)
}

fn convert_one(
    engine: &mut Engine,
    file: &Path,
    specs: &[ThumbnailSpec],
    named: bool,
    output_dir: &Path,
) -> Result<usize> {
    let input = read_limited(file, engine.limits().max_bytes)?;
    let thumbnails = engine.thumbnails(&input, specs)?;
    let stem = file
        .file_stem()
        .unwrap_or(file.as_os_str())
        .to_string_lossy();
    for thumbnail in &thumbnails {
        let name = if named && !thumbnail.name.is_empty() {
            format!("{stem}-{}.{}", thumbnail.name, thumbnail.format.extension())
        } else {
            format!("{stem}.{}", thumbnail.format.extension())
        };
        write_atomically(&output_dir.join(name), &thumbnail.bytes)?;
    }
    Ok(thumbnails.len())
}

/// Reads a file, refusing one over `limit` bytes before reading it.
fn read_limited(file: &Path, limit: u64) -> Result<Vec<u8>> {
    let size = fs::metadata(file)
        .with_context(|| "cannot read the file")?
        .len();
    if size > limit {
        bail!("file is {size} bytes, over the limit of {limit} bytes");
    }
    fs::read(file).context("cannot read the file")
}

/// Writes through a temporary file and a rename, so an interrupted run never leaves half a thumbnail.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    fs::write(&temporary, bytes)
        .and_then(|()| fs::rename(&temporary, path))
        .with_context(|| format!("cannot write {}", path.display()))
        .inspect_err(|_| {
            let _ = fs::remove_file(&temporary);
        })
}

/// A bar on a terminal for more than one file; hidden otherwise (the summary line still prints).
fn progress_bar(files: usize) -> ProgressBar {
    if files < 2 || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(files as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    bar
}
