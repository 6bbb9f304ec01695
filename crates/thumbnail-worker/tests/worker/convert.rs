//! `thumbnail-worker convert` as a user runs it: real files in a temporary folder, the real binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{DynamicImage, ImageFormat};
use thumbnail_tests::{JpegOptions, encode, jpeg, quadrants, size_of, succeeded};

/// A fresh folder under the target directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("convert-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("in")).unwrap();
        Scratch(dir)
    }

    fn input(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join("in").join(name);
        fs::write(&path, bytes).unwrap();
        path
    }

    fn out(&self) -> PathBuf {
        self.0.join("out")
    }

    fn outputs(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.out())
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn convert(args: &[&str], out: &Path, inputs: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .arg("convert")
        .args(args)
        .arg("--output-dir")
        .arg(out)
        .args(inputs)
        .output()
        .unwrap()
}

fn photo(width: u32, height: u32) -> Vec<u8> {
    jpeg(&quadrants(width, height), &JpegOptions::default())
}

#[test]
fn one_corrupt_file_fails_alone_and_the_exit_code_says_so() {
    let dir = Scratch::new("corrupt");
    dir.input("a.jpg", &photo(640, 480));
    let good = photo(800, 600);
    dir.input("b-truncated.jpg", &good[..good.len() / 2]);
    dir.input(
        "c.png",
        &encode(
            &DynamicImage::ImageRgb8(quadrants(300, 200)),
            ImageFormat::Png,
        ),
    );
    dir.input("d-notes.jpg", b"this is a text file named .jpg\n");
    let output = convert(
        &["--size", "128x128", "-j", "2"],
        &dir.out(),
        &[&dir.0.join("in")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(dir.outputs(), ["a.jpg", "c.jpg"]);
    assert!(
        stderr.contains("b-truncated.jpg: corrupt jpeg data"),
        "{stderr}"
    );
    assert!(
        stderr.contains("d-notes.jpg: unsupported image format"),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 4 files converted"), "{stderr}");
}

/// `--fail-on`: the default (`truncated`) refuses a file cut short; `none` thumbnails it and says
/// what it tolerated.
#[test]
fn fail_on_none_thumbnails_a_truncated_file_with_a_warning() {
    let dir = Scratch::new("fail-on");
    let good = photo(800, 600);
    let cut = dir.input("cut.jpg", &good[..good.len() * 3 / 4]);
    let refused = convert(&["--size", "128"], &dir.out(), &[&cut]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(dir.outputs(), Vec::<String>::new());
    let tolerated = convert(&["--size", "128", "--fail-on", "none"], &dir.out(), &[&cut]);
    let stderr = String::from_utf8_lossy(&tolerated.stderr);
    assert_eq!(tolerated.status.code(), Some(0), "{stderr}");
    assert_eq!(dir.outputs(), ["cut.jpg"]);
    assert!(stderr.contains("cut.jpg: warning: tolerated"), "{stderr}");
    assert_eq!(size_of(&dir.out().join("cut.jpg")), (128, 96));
}

#[test]
fn sizes_follow_vipsthumbnail_syntax() {
    let dir = Scratch::new("sizes");
    let input = dir.input("wide.jpg", &photo(800, 400));
    for (size, fit, expected) in [
        ("200x200", "contain", (200, 100)),
        ("200", "contain", (200, 100)),
        ("100x", "contain", (100, 50)),
        ("x100", "contain", (200, 100)),
        ("150x150", "cover", (150, 150)),
        ("90x60", "fill", (90, 60)),
        ("2000x2000>", "contain", (800, 400)),
    ] {
        let output = convert(&["--size", size, "--fit", fit], &dir.out(), &[&input]);
        assert!(
            output.status.success(),
            "{size}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            size_of(&dir.out().join("wide.jpg")),
            expected,
            "--size {size} --fit {fit}"
        );
    }
}

#[test]
fn presets_name_their_outputs_and_formats_their_extension() {
    let dir = Scratch::new("presets");
    let input = dir.input("cat photo.jpg", &photo(1200, 900));
    let output = convert(
        &[
            "--preset",
            "profile",
            "--preset",
            "album-art",
            "--preset",
            "banner",
            "--define",
            "banner=400x100:cover",
            "--format",
            "webp",
        ],
        &dir.out(),
        &[&input],
    );
    succeeded(&output);
    assert_eq!(
        dir.outputs(),
        [
            "cat photo-album-art.webp",
            "cat photo-banner.webp",
            "cat photo-profile.webp"
        ]
    );
    assert_eq!(
        size_of(&dir.out().join("cat photo-profile.webp")),
        (128, 128)
    );
    assert_eq!(
        size_of(&dir.out().join("cat photo-album-art.webp")),
        (600, 600)
    );
    assert_eq!(
        size_of(&dir.out().join("cat photo-banner.webp")),
        (400, 100)
    );
}

#[test]
fn bad_arguments_are_explained() {
    let dir = Scratch::new("args");
    let input = dir.input("a.jpg", &photo(64, 64));
    let output = convert(&["--preset", "huge"], &dir.out(), &[&input]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("known presets: album-art"));
    let output = convert(&["--size", "0x10"], &dir.out(), &[&input]);
    assert_eq!(output.status.code(), Some(2), "clap rejects it");
    let output = convert(&[], &dir.out(), &[&dir.0.join("missing.jpg")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.jpg: cannot read the file"));
}

#[test]
fn parallel_runs_give_the_same_thumbnails() {
    let dir = Scratch::new("parallel");
    let inputs: Vec<PathBuf> = (0..6)
        .map(|i| dir.input(&format!("p{i}.jpg"), &photo(300 + i * 50, 200 + i * 40)))
        .collect();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    assert!(
        convert(&["-j", "1"], &dir.0.join("one"), &inputs)
            .status
            .success()
    );
    assert!(
        convert(&["-j", "3"], &dir.0.join("three"), &inputs)
            .status
            .success()
    );
    for i in 0..6 {
        let name = format!("p{i}.jpg");
        assert_eq!(
            fs::read(dir.0.join("one").join(&name)).unwrap(),
            fs::read(dir.0.join("three").join(&name)).unwrap()
        );
    }
}

#[test]
fn inputs_that_share_a_name_get_outputs_of_their_own() {
    let dir = Scratch::new("collide");
    let jpeg = dir.input("a.jpg", &photo(400, 300));
    let png = dir.input(
        "a.png",
        &encode(
            &DynamicImage::ImageRgb8(quadrants(200, 400)),
            ImageFormat::Png,
        ),
    );
    // The same file twice is converted once.
    let output = convert(&["--size", "100"], &dir.out(), &[&jpeg, &png, &jpeg]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(dir.outputs(), ["a-jpg.jpg", "a-png.jpg"]);
    assert!(stderr.contains("2 of 2 files converted"), "{stderr}");
    // Each output is its own input's thumbnail: the landscape one and the portrait one.
    assert_eq!(size_of(&dir.out().join("a-jpg.jpg")), (100, 75));
    assert_eq!(size_of(&dir.out().join("a-png.jpg")), (50, 100));

    // Two folders' a.jpg cannot be told apart by name: refused before anything is written.
    fs::create_dir_all(dir.0.join("other")).unwrap();
    let twin = dir.0.join("other").join("a.jpg");
    fs::write(&twin, photo(64, 64)).unwrap();
    let refused = dir.0.join("refused");
    let output = convert(&["--size", "100"], &refused, &[&jpeg, &twin]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("would both be written to a-jpg.jpg"),
        "{stderr}"
    );
    assert!(!refused.exists());
}

#[test]
fn a_preset_keeps_its_own_format_unless_a_flag_says_otherwise() {
    let dir = Scratch::new("own-format");
    let input = dir.input("a.jpg", &photo(800, 600));
    let define = "card=200x100:cover:format=png";
    let output = convert(
        &[
            "--define", define, "--preset", "card", "--preset", "profile",
        ],
        &dir.out(),
        &[&input],
    );
    succeeded(&output);
    assert_eq!(dir.outputs(), ["a-card.png", "a-profile.jpg"]);
    assert_eq!(size_of(&dir.out().join("a-card.png")), (200, 100));
    let flagged = dir.0.join("flagged");
    let output = convert(
        &["--define", define, "--preset", "card", "--format", "webp"],
        &flagged,
        &[&input],
    );
    assert!(output.status.success());
    assert!(flagged.join("a-card.webp").exists());
    let output = convert(
        &["--define", "card=200x100:quality=0", "--preset", "card"],
        &dir.0.join("refused"),
        &[&input],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("preset card: quality"));
}

/// `convert` never writes over one of its inputs, however it is reached: the output folder being
/// the input's (`-o p2 p2/landscape.jpg`, `-o . .`), or a symbolic or hard link to an input where
/// an output would go. Refused before any work (exit 2, naming the file); the input is intact.
#[test]
fn an_input_is_never_overwritten() {
    let dir = Scratch::new("inputs-kept");
    let original = photo(640, 480);
    let input = dir.input("landscape.jpg", &original);
    let folder = dir.0.join("in");
    let refused = |output: Output, what: &str| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains("landscape.jpg would be overwritten by its thumbnail"),
            "{what}: {stderr}"
        );
        assert_eq!(
            fs::read(&input).unwrap(),
            original,
            "{what}: the input changed"
        );
    };
    refused(convert(&[], &folder, &[&input]), "the input's own folder");
    refused(convert(&[], &folder, &[&folder]), "a folder into itself");
    let other = dir.0.join("other");
    fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(&input, other.join("landscape.jpg")).unwrap();
    refused(
        convert(&[], &other, &[&input]),
        "a symbolic link to the input",
    );
    let hard = dir.0.join("hard");
    fs::create_dir_all(&hard).unwrap();
    fs::hard_link(&input, hard.join("landscape.jpg")).unwrap();
    refused(convert(&[], &hard, &[&input]), "a hard link to the input");
    // Named after a preset, the outputs do not collide with the input: converted.
    succeeded(&convert(&["--preset", "profile"], &folder, &[&input]));
    assert_eq!(fs::read(&input).unwrap(), original);
    assert_eq!(size_of(&folder.join("landscape-profile.jpg")), (128, 128));
}

/// Thumbnails are created as any program's files are: 0666 less the umask.
#[test]
fn outputs_honour_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("umask");
    let input = dir.input("a.jpg", &photo(320, 240));
    for (umask, mode) in [("022", 0o644), ("077", 0o600)] {
        let out = dir.0.join(format!("out-{umask}"));
        let run = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" convert --output-dir \"$1\" \"$2\""
            ))
            .arg(env!("CARGO_BIN_EXE_thumbnail-worker"))
            .arg(&out)
            .arg(&input)
            .output()
            .unwrap();
        succeeded(&run);
        let written = fs::metadata(out.join("a.jpg"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(written, mode, "umask {umask}");
    }
}

/// A box far larger than the image (`-s 16384` of a 1x1 PNG) is refused with the pixel limit's
/// reason, as an input with too many pixels is, instead of allocating gigabytes.
#[test]
fn a_thumbnail_over_the_pixel_limit_is_refused() {
    let dir = Scratch::new("huge-output");
    let dot = dir.input(
        "dot.png",
        &encode(&DynamicImage::new_rgb8(1, 1), ImageFormat::Png),
    );
    let output = convert(&["-s", "16384"], &dir.out(), &[&dot]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("would be 16384x16384 = 268435456 pixels, over the limit of"),
        "{stderr}"
    );
}
