//! `thumbnail-worker convert`: thumbnails of local files, vipsthumbnail's habits.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use thumbnail_core::{
    Engine, FailOn, Fit, Formats, Gravity, Limits, OutputFormat, Presets, Size, ThumbnailSpec,
};

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Target box: WxH, W (a WxW box), Wx, xH; end with '>' to only shrink. Default 128 when no --preset.
    #[arg(short, long)]
    size: Option<Size>,
    /// How the image fits the box given by --size: cover (fill, then crop), contain, fill (stretch).
    #[arg(long, default_value = "contain")]
    fit: Fit,
    /// Which part a cover crop keeps: centre, north, south, east, west, north-east, ..., entropy, attention.
    #[arg(long, default_value = "centre")]
    gravity: Gravity,
    /// Encoder quality, 1-100 (JPEG and WebP); default 80, or a preset's own.
    #[arg(short, long, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: Option<u8>,
    /// Output format: jpeg, png, webp or avif, several joined by `+` (avif+webp+jpeg, each from
    /// one resize), or auto (JPEG, or WebP for transparent images); default jpeg, or a preset's own.
    #[arg(short, long)]
    format: Option<Formats>,
    /// Progressive JPEG output (for presets too).
    #[arg(long)]
    progressive: bool,
    /// A named preset (profile, album-art, album-art-small, preview, or one from --define); repeatable.
    #[arg(short, long = "preset", value_name = "NAME")]
    presets: Vec<String>,
    #[arg(
        long = "define",
        value_name = "NAME=SIZE[:OPTION]...",
        help = "Define a preset NAME=SIZE[:OPTION]..., options being a fit or fit=, gravity=, format=, quality=, progressive=, background=; e.g. banner=1200x400:cover:format=webp. Repeatable; use it with --preset NAME."
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
    /// Which faults in an image's data refuse it: none, truncated, error or warning (libvips's
    /// fail_on). Tolerated faults are printed as warnings.
    #[arg(long, default_value_t = FailOn::default())]
    fail_on: FailOn,
    /// Where thumbnails are written (created if missing).
    #[arg(short, long)]
    output_dir: PathBuf,
    /// Image files, or folders whose files are all taken (not recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

/// Runs `convert`: exit code 0 when every file was converted, 1 when some failed (each reported)
/// or the output folder cannot be made, 2 for a usage error (a bad preset, no input, inputs whose
/// outputs would collide, an output that would replace an input), refused before anything is
/// written.
pub fn run(args: ConvertArgs) -> ExitCode {
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match convert(&args, &plan) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `convert` will do: the specs, and each input with the stem of its outputs.
#[derive(Debug)]
struct Plan {
    specs: Vec<ThumbnailSpec>,
    /// Whether outputs are named after presets (`stem-preset.ext`).
    named: bool,
    files: Vec<(PathBuf, String)>,
}

fn plan(args: &ConvertArgs) -> Result<Plan> {
    let (specs, named) = specs(args)?;
    let files = output_stems(expand(&args.inputs)?)?;
    let plan = Plan {
        specs,
        named,
        files,
    };
    plan.check_outputs_are_distinct()?;
    plan.check_inputs_are_kept(&args.output_dir)?;
    Ok(plan)
}

impl Plan {
    /// The file name of the `preset` thumbnail, in `format`, of the input with this stem.
    fn output_name(&self, stem: &str, preset: &str, format: OutputFormat) -> String {
        if self.named && !preset.is_empty() {
            format!("{stem}-{preset}.{}", format.extension())
        } else {
            format!("{stem}.{}", format.extension())
        }
    }

    /// Two inputs must never write the same output: refused before anything is written.
    fn check_outputs_are_distinct(&self) -> Result<()> {
        let mut seen: HashMap<String, &Path> = HashMap::new();
        for (file, stem) in &self.files {
            for spec in &self.specs {
                for format in spec.formats.possible() {
                    let name = self.output_name(stem, &spec.name, format);
                    if let Some(other) = seen.insert(name.clone(), file) {
                        bail!(
                            "{} and {} would both be written to {name}; convert them into separate output folders",
                            other.display(),
                            file.display()
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    /// No output may be an input: `convert -o . .` would replace the photos with their thumbnails.
    /// Compared as files on disk (device and inode), so a symbolic or hard link to an input, or
    /// the input reached by another path, counts as the input.
    fn check_inputs_are_kept(&self, output_dir: &Path) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let identity = |path: &Path| fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        let inputs: HashMap<(u64, u64), &Path> = self
            .files
            .iter()
            .filter_map(|(file, _)| Some((identity(file)?, file.as_path())))
            .collect();
        for (_, stem) in &self.files {
            for spec in &self.specs {
                for format in spec.formats.possible() {
                    let output = output_dir.join(self.output_name(stem, &spec.name, format));
                    if let Some(input) = identity(&output).and_then(|id| inputs.get(&id)) {
                        bail!(
                            "{} would be overwritten by its thumbnail {}; write the thumbnails to another folder (--output-dir)",
                            input.display(),
                            output.display()
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// Each file with the stem of its outputs: its name without extension, or, where two inputs share
/// that stem (`a.jpg`, `a.png`), the whole name with its dot as a dash (`a-jpg`, `a-png`). The same
/// file given twice is taken once.
fn output_stems(files: Vec<PathBuf>) -> Result<Vec<(PathBuf, String)>> {
    let mut unique = Vec::new();
    let mut seen = HashSet::new();
    for file in files {
        let identity = fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if seen.insert(identity) {
            unique.push(file);
        }
    }
    let stem = |file: &Path| {
        file.file_stem()
            .unwrap_or(file.as_os_str())
            .to_string_lossy()
            .into_owned()
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for file in &unique {
        *counts.entry(stem(file)).or_default() += 1;
    }
    Ok(unique
        .into_iter()
        .map(|file| {
            let mut name = stem(&file);
            if counts[&name] > 1 {
                name = file
                    .file_name()
                    .unwrap_or(file.as_os_str())
                    .to_string_lossy()
                    .replace('.', "-");
            }
            (file, name)
        })
        .collect())
}

/// Converts every input; `Ok(false)` when some failed (each already reported).
fn convert(args: &ConvertArgs, plan: &Plan) -> Result<bool> {
    let files = &plan.files;
    fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let limits = Limits {
        max_pixels: args.max_pixels,
        max_bytes: args.max_bytes,
        fail_on: args.fail_on,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, files.len().max(1));
    // The largest files first (their size standing for their cost): a large one taken last would
    // leave the other threads idle while it alone is decoded.
    let mut order: Vec<&(PathBuf, String)> = files.iter().collect();
    order.sort_by_cached_key(|(file, _)| {
        std::cmp::Reverse(fs::metadata(file).map_or(0, |m| m.len()))
    });
    let progress = progress_bar(files.len());
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(0usize);
    let written = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut engine = Engine::new(limits);
                while let Some((file, stem)) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    match convert_one(&mut engine, file, stem, plan, &args.output_dir) {
                        Ok(n) => {
                            written.fetch_add(n, Ordering::Relaxed);
                            for fault in engine.faults() {
                                progress.suspend(|| {
                                    eprintln!("{}: warning: tolerated {fault}", file.display())
                                });
                            }
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
        .with_formats(args.format.clone().unwrap_or_default())
        .with_quality(args.quality.unwrap_or(80))
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
        // A preset as defined, but for the output flags given, which apply to every preset.
        let mut spec = presets.require(name)?.clone();
        if let Some(formats) = &args.format {
            spec.formats = formats.clone();
        }
        if let Some(quality) = args.quality {
            spec.quality = quality;
        }
        spec.progressive |= args.progressive;
        specs.push(spec);
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
    stem: &str,
    plan: &Plan,
    output_dir: &Path,
) -> Result<usize> {
    let input = read_limited(file, engine.limits().max_bytes)?;
    let thumbnails = engine.thumbnails(&input, &plan.specs)?;
    for thumbnail in &thumbnails {
        let path = output_dir.join(plan.output_name(stem, &thumbnail.name, thumbnail.format));
        write_atomically(&path, &thumbnail.bytes)?;
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

/// Writes through a temporary file of its own in the same folder and a rename, so an interrupted
/// run never leaves half a thumbnail, and parallel writers never share a temporary file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    // Created 0666 less the umask, as any program's new file: a temporary file is 0600 otherwise.
    let mut temporary = tempfile::Builder::new()
        .prefix(".thumbnail-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(folder)
        .with_context(|| format!("cannot write in {}", folder.display()))?;
    temporary
        .write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    temporary
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
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
