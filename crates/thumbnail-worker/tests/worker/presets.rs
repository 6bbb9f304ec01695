//! One preset model everywhere: the extended `THUMBNAIL_PRESETS` syntax, the same presets as TOML
//! tables, and `convert --define` give byte-identical thumbnails, each with its extension, content
//! type and manifest entry, on the local backend (the moto run is in run_aws.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use thumbnail_core::ImageFormat;
use thumbnail_storage::{LocalStore, ObjectKey, ObjectStore};
use thumbnail_tests::{
    EXTENDED_OUTPUTS, EXTENDED_PRESETS, EXTENDED_PRESETS_TOML, JpegOptions, encoded_size,
    extended_thumbnails, fixture, jpeg, quadrants, size_of, succeeded,
};

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("presets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn worker(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"));
    command.env("THUMBNAIL_LOCAL_DIR", data);
    command
}

/// What `convert` writes for each preset with the definitions given by `--define`, by output name.
fn convert(dir: &Path, photo: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = dir.join("converted");
    let mut command = worker(&dir.join("unused"));
    command.arg("convert").arg("-o").arg(&out);
    for definition in EXTENDED_PRESETS.split(',') {
        command.args(["--define", definition]);
    }
    succeeded(
        &command
            .args(["--preset", "profile", "--preset", "album"])
            .arg(photo)
            .output()
            .unwrap(),
    );
    EXTENDED_OUTPUTS
        .iter()
        .map(|(name, _)| {
            let file = out.join(format!("photo-{name}"));
            (name.to_string(), std::fs::read(&file).unwrap())
        })
        .collect()
}

/// Uploads `photo` and runs the worker until idle with `settings` (`--config FILE` or the
/// environment); returns the thumbnails by name, after checking their content types.
async fn pipeline(
    data: &Path,
    photo: &Path,
    settings: &[&str],
    env: &[(&str, &str)],
) -> BTreeMap<String, Vec<u8>> {
    for args in [
        vec!["upload", photo.to_str().unwrap()],
        vec!["run", "--exit-when-idle"],
    ] {
        let mut command = worker(data);
        command.args(&args).args(settings).envs(env.iter().copied());
        succeeded(&command.output().unwrap());
    }
    let store = LocalStore::new(data.join("buckets/thumbnails")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("buckets/thumbnails/photo.jpg/manifest.json")).unwrap(),
    )
    .unwrap();
    let listed: Vec<(&str, &str)> = manifest["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap(),
                t["content_type"].as_str().unwrap(),
            )
        })
        .collect();
    let mut made = BTreeMap::new();
    for (name, content_type) in EXTENDED_OUTPUTS {
        let key = format!("photo.jpg/{name}");
        assert!(
            listed.contains(&(key.as_str(), content_type)),
            "{key} in {listed:?}"
        );
        let info = store
            .head(&ObjectKey::new(key.as_str()).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.content_type.as_deref(), Some(content_type), "{key}");
        made.insert(
            name.to_owned(),
            std::fs::read(data.join("buckets/thumbnails").join(&key)).unwrap(),
        );
    }
    assert_eq!(listed.len(), EXTENDED_OUTPUTS.len(), "{listed:?}");
    made
}

#[tokio::test]
async fn the_extended_syntax_toml_tables_and_convert_make_the_same_thumbnails() {
    let dir = scratch("same");
    let photo = dir.join("photo.jpg");
    let bytes = jpeg(&quadrants(800, 600), &JpegOptions::default());
    std::fs::write(&photo, &bytes).unwrap();
    let engine = extended_thumbnails(&bytes);
    let config = dir.join("presets.toml");
    std::fs::write(&config, EXTENDED_PRESETS_TOML).unwrap();

    let converted = convert(&dir, &photo);
    let from_env = pipeline(
        &dir.join("env"),
        &photo,
        &[],
        &[("THUMBNAIL_PRESETS", EXTENDED_PRESETS)],
    )
    .await;
    let from_toml = pipeline(
        &dir.join("toml"),
        &photo,
        &["--config", config.to_str().unwrap()],
        &[],
    )
    .await;
    for (name, _) in EXTENDED_OUTPUTS {
        assert!(
            converted[name] == from_env[name],
            "{name}: convert and THUMBNAIL_PRESETS differ"
        );
        assert!(
            from_env[name] == from_toml[name],
            "{name}: THUMBNAIL_PRESETS and TOML differ"
        );
        assert!(
            engine[name] == from_env[name],
            "{name}: the engine and the worker differ"
        );
    }
    assert_eq!(encoded_size(&from_env["profile.webp"]), (128, 128));
    assert_eq!(encoded_size(&from_env["album.avif"]), (300, 300));
    assert_eq!(encoded_size(&from_env["album.jpg"]), (300, 300));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The formats phones and browsers send, through the worker: an iPhone-style HEIC (and an AVIF, in
/// a build with AVIF input) get upright thumbnails in the preset's formats.
#[tokio::test]
async fn heic_and_avif_uploads_get_thumbnails() {
    let dir = scratch("phones");
    let mut uploads = vec![("phone.heic", fixture("heif/rotated.heic"))];
    if ImageFormat::Avif.decodable() {
        uploads.push(("web.avif", fixture("avif/8bit.avif")));
    } else {
        // A skip must not read as a pass where the AVIF branch is meant to run.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI runs the tests with --features thumbnail-core/avif-input"
        );
    }
    let data = dir.join("data");
    for (name, bytes) in &uploads {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        succeeded(&worker(&data).args(["upload"]).arg(&file).output().unwrap());
    }
    succeeded(
        &worker(&data)
            .args([
                "run",
                "--exit-when-idle",
                "--set",
                "presets=fit=64x64:contain:format=webp+jpeg",
            ])
            .output()
            .unwrap(),
    );
    let thumbnails = data.join("buckets/thumbnails");
    // Upright, the sideways-stored HEIC is a 3:4 portrait; the AVIF is 4:3.
    assert_eq!(size_of(&thumbnails.join("phone.heic/fit.webp")), (48, 64));
    assert_eq!(size_of(&thumbnails.join("phone.heic/fit.jpg")), (48, 64));
    if uploads.len() == 2 {
        assert_eq!(size_of(&thumbnails.join("web.avif/fit.jpg")), (64, 48));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
