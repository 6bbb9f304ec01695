//! The worker's configuration: one typed struct, from defaults, then a TOML file, then `THUMBNAIL_*`
//! environment variables, then flags. The Lambda function reads the same variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use thumbnail_core::{Presets, ThumbnailSpec};

/// Where the parts live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Folders as buckets, a spool folder as the queue, notifications in the log: no account needed.
    #[default]
    Local,
    /// S3, SQS and SNS (or compatible servers), through the standard `AWS_*` configuration.
    Aws,
}

/// Every setting, with its environment variable (`THUMBNAIL_` + the key in upper case) and TOML key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `THUMBNAIL_BACKEND`: `local` (default) or `aws`.
    pub backend: Backend,
    /// `THUMBNAIL_LOCAL_DIR`: root of the local backend (default `thumbnail-data`).
    pub local_dir: PathBuf,
    /// `THUMBNAIL_SOURCE_BUCKET`: where uploads land (default `uploads`).
    pub source_bucket: String,
    /// `THUMBNAIL_DEST_BUCKET`: where thumbnails go (default `thumbnails`; may equal the source).
    pub dest_bucket: String,
    /// `THUMBNAIL_DEST_PREFIX`: key prefix of thumbnails (default none).
    pub dest_prefix: String,
    /// `THUMBNAIL_QUEUE`: queue name or URL (default `thumbnail-jobs`).
    pub queue: String,
    /// `THUMBNAIL_DLQ`: dead-letter queue name or URL (default: `thumbnail-dead-letters` locally, none on AWS,
    /// where the redrive policy moves messages).
    pub dlq: Option<String>,
    /// `THUMBNAIL_TOPIC`: SNS topic name or ARN (AWS; without it, notifications go to the log).
    pub topic: Option<String>,
    /// `THUMBNAIL_PRESETS`: comma-separated preset names or definitions
    /// (`profile,album=600x600:cover`; default `profile,album-art`).
    pub presets: String,
    /// `THUMBNAIL_URL_EXPIRY`: preview URL lifetime in seconds (default 86400, at most 604800).
    pub url_expiry: u64,
    /// `THUMBNAIL_S3_PATH_STYLE`: path-style S3 addressing, for most S3-compatible servers (default false).
    pub s3_path_style: bool,
    /// `THUMBNAIL_CONCURRENCY`: messages worked on at once (default: the number of cores).
    pub concurrency: usize,
    /// `THUMBNAIL_VISIBILITY`: seconds a received message stays hidden, extended while it is worked on (default 120).
    pub visibility: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backend: Backend::Local,
            local_dir: PathBuf::from("thumbnail-data"),
            source_bucket: "uploads".into(),
            dest_bucket: "thumbnails".into(),
            dest_prefix: String::new(),
            queue: "thumbnail-jobs".into(),
            dlq: None,
            topic: None,
            presets: "profile,album-art".into(),
            url_expiry: 86_400,
            s3_path_style: false,
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            visibility: 120,
        }
    }
}

/// The keys, for `--set` and the environment.
pub const KEYS: [&str; 13] = [
    "backend",
    "local_dir",
    "source_bucket",
    "dest_bucket",
    "dest_prefix",
    "queue",
    "dlq",
    "topic",
    "presets",
    "url_expiry",
    "s3_path_style",
    "concurrency",
    "visibility",
];

impl Settings {
    /// Defaults, then `file` (TOML), then the `THUMBNAIL_*` variables of `env`, then `overrides`
    /// (`key=value`, from flags).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[String],
    ) -> Result<Settings> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid configuration file {}", path.display()))?
            }
            None => Settings::default(),
        };
        for (name, value) in env {
            if let Some(key) = name.strip_prefix("THUMBNAIL_") {
                let key = key.to_ascii_lowercase();
                if KEYS.contains(&key.as_str()) {
                    settings
                        .set(&key, &value)
                        .with_context(|| format!("environment variable {name}"))?;
                }
            }
        }
        for assignment in overrides {
            let (key, value) = assignment
                .split_once('=')
                .with_context(|| format!("--set {assignment}: expected KEY=VALUE"))?;
            settings
                .set(key.trim(), value)
                .with_context(|| format!("--set {assignment}"))?;
        }
        settings.specs()?;
        Ok(settings)
    }

    /// Sets one key from text.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .with_context(|| format!("{key} takes a whole number, not {v:?}"))
        };
        let optional = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        match key {
            "backend" => {
                self.backend = match value.trim() {
                    "local" => Backend::Local,
                    "aws" => Backend::Aws,
                    other => bail!("backend is local or aws, not {other:?}"),
                }
            }
            "local_dir" => self.local_dir = PathBuf::from(value),
            "source_bucket" => self.source_bucket = value.trim().to_owned(),
            "dest_bucket" => self.dest_bucket = value.trim().to_owned(),
            "dest_prefix" => self.dest_prefix = value.trim().trim_matches('/').to_owned(),
            "queue" => self.queue = value.trim().to_owned(),
            "dlq" => self.dlq = optional(value),
            "topic" => self.topic = optional(value),
            "presets" => self.presets = value.to_owned(),
            "url_expiry" => self.url_expiry = number(value)?,
            "s3_path_style" => {
                self.s3_path_style = match value.trim() {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" | "" => false,
                    other => bail!("s3_path_style is true or false, not {other:?}"),
                }
            }
            "concurrency" => self.concurrency = number(value)?.max(1) as usize,
            "visibility" => self.visibility = number(value)?.max(1),
            other => bail!("unknown setting {other:?}; known: {}", KEYS.join(", ")),
        }
        Ok(())
    }

    /// The thumbnail specs named or defined by `presets`.
    pub fn specs(&self) -> Result<Vec<ThumbnailSpec>> {
        let mut presets = Presets::builtin();
        let template = presets.require("profile").expect("built in").clone();
        let mut specs = Vec::new();
        for item in self
            .presets
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let spec = if item.contains('=') {
                presets.define(item, &template)?.clone()
            } else {
                presets.require(item)?.clone()
            };
            specs.push(spec);
        }
        if specs.is_empty() {
            bail!("presets: at least one preset is needed");
        }
        Ok(specs)
    }

    /// How long preview URLs stay valid.
    pub fn url_expiry(&self) -> Duration {
        Duration::from_secs(self.url_expiry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = std::env::temp_dir().join(format!("thumbnail-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("worker.toml");
        std::fs::write(
            &file,
            "queue = \"from-file\"\ndest_prefix = \"thumbs\"\nurl_expiry = 60\n",
        )
        .unwrap();
        let settings = Settings::load(
            Some(&file),
            env(&[
                ("THUMBNAIL_QUEUE", "from-env"),
                ("THUMBNAIL_TOPIC", "alerts"),
                ("HOME", "/root"),
            ]),
            &["topic=from-flag".into()],
        )
        .unwrap();
        assert_eq!(settings.queue, "from-env");
        assert_eq!(settings.dest_prefix, "thumbs");
        assert_eq!(settings.url_expiry(), Duration::from_secs(60));
        assert_eq!(settings.topic.as_deref(), Some("from-flag"));
        assert_eq!(settings.backend, Backend::Local);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn presets_take_names_and_definitions() {
        let mut settings = Settings::default();
        settings
            .set("presets", "profile, album=600x600:cover,wide=800x")
            .unwrap();
        let specs = settings.specs().unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["profile", "album", "wide"]);
        assert_eq!(specs[2].size.width(), Some(800));
    }

    #[test]
    fn bad_values_are_explained() {
        let load = |pairs: &[(&str, &str)]| {
            Settings::load(None, env(pairs), &[])
                .unwrap_err()
                .to_string()
        };
        assert!(load(&[("THUMBNAIL_BACKEND", "gcp")]).contains("THUMBNAIL_BACKEND"));
        assert!(
            format!(
                "{:#}",
                Settings::load(None, env(&[("THUMBNAIL_URL_EXPIRY", "soon")]), &[]).unwrap_err()
            )
            .contains("whole number")
        );
        assert!(
            format!(
                "{:#}",
                Settings::load(None, env(&[("THUMBNAIL_PRESETS", "huge")]), &[]).unwrap_err()
            )
            .contains("known presets")
        );
        assert!(Settings::load(None, env(&[]), &["colour=blue".into()]).is_err());
    }
}
