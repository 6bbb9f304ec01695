//! Settings are checked before the worker does anything: a bad value, from a TOML file, the
//! environment or `--set`, stops it at once with a usage error naming the setting and its source.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn worker(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .args(args)
        .env("THUMBNAIL_LOCAL_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (output, started.elapsed())
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("settings-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Exits 2 at once, saying `expected` on standard error. "At once" is well under the 20 s a
/// receive would wait, with room for a slow start on a busy machine.
fn refused(output: Output, took: Duration, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
}

#[test]
fn zero_concurrency_visibility_and_unknown_variables_are_refused_from_every_source() {
    let dir = scratch("refused");
    for (key, value, why) in [
        ("concurrency", "0", "concurrency must be at least 1"),
        (
            "visibility",
            "0",
            "visibility must be from 1 to 43200 seconds",
        ),
    ] {
        let file = dir.join(format!("{key}.toml"));
        std::fs::write(&file, format!("{key} = {value}\n")).unwrap();
        let (output, took) = worker(&dir, &["run", "--config", file.to_str().unwrap()], &[]);
        refused(output, took, &format!("{key}.toml: {key} = {value}: {why}"));

        let variable = format!("THUMBNAIL_{}", key.to_uppercase());
        let (output, took) = worker(&dir, &["run"], &[(&variable, value)]);
        refused(output, took, &format!("{variable}={value}: {why}"));

        let set = format!("{key}={value}");
        let (output, took) = worker(&dir, &["run", "--set", &set], &[]);
        refused(output, took, &format!("--set {set}: {why}"));
    }
    let (output, took) = worker(&dir, &["run"], &[("THUMBNAIL_CONCURENCY", "4")]);
    refused(
        output,
        took,
        "THUMBNAIL_CONCURENCY: unknown setting \"concurency\"",
    );
    let (output, took) = worker(&dir, &["upload", "--set", "colour=blue", "x.jpg"], &[]);
    refused(
        output,
        took,
        "--set colour=blue: unknown setting \"colour\"",
    );
    // Nothing was started: no data folder was made.
    assert!(!dir.join("data").exists());
}

/// Thumbnails in the source bucket under no prefix would come back as uploads, each then failing:
/// refused when the settings load, before anything runs (the check is the settings', the same for
/// either backend and for the Lambda function).
#[test]
fn thumbnails_in_the_source_bucket_without_a_prefix_are_refused() {
    let dir = scratch("same-bucket");
    let (output, took) = worker(
        &dir,
        &["run", "--exit-when-idle"],
        &[("THUMBNAIL_DEST_BUCKET", "uploads")],
    );
    refused(
        output,
        took,
        "thumbnails in the source bucket need a dest_prefix",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_lists_every_variable_and_the_exit_codes() {
    let output = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    for setting in thumbnail_config::SETTINGS {
        assert!(
            help.contains(&setting.variable()),
            "{help} lacks {}",
            setting.key
        );
    }
    let output = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 usage error"));
    let output = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .args(["run", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}
