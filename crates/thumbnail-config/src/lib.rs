//! The thumbnail pipeline's settings: one typed struct, from defaults, then a TOML file, then
//! `THUMBNAIL_*` environment variables, then overrides (the worker's `--set` flags). The worker and
//! the Lambda function read the same variables, named once here.
//!
//! ```
//! use thumbnail_config::{Backend, Settings};
//!
//! let env = [("THUMBNAIL_PRESETS".to_owned(), "profile,album=600x600:cover".to_owned())];
//! let settings = Settings::load(None, env, &["dest_prefix=thumbs/".to_owned()])?;
//! assert_eq!(settings.backend, Backend::Local);
//! assert_eq!(settings.dest_prefix, "thumbs");
//! let config = settings.pipeline_config()?;
//! assert_eq!(config.specs.len(), 2);
//! assert_eq!(config.specs[1].name, "album");
//! # Ok::<(), thumbnail_config::ConfigError>(())
//! ```
//!
//! With the `aws` feature, [`aws`] connects the S3 buckets, SQS queues and SNS topic the settings
//! name, through the standard `AWS_*` configuration.

#[cfg(feature = "aws")]
pub mod aws;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thumbnail_core::{Presets, ThumbnailSpec};
use thumbnail_pipeline::PipelineConfig;

/// The log filter of the worker and the Lambda: `RUST_LOG` (default `info`), with [`LOG_CAPS`] on top.
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    LOG_CAPS.iter().fold(
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        |filter, cap| filter.add_directive(cap.parse().expect("a valid directive")),
    )
}

/// Log directives added after `RUST_LOG`, whatever it says: at debug level the AWS SDK's endpoint
/// resolution prints the credentials' access key id (the secret is redacted), and lower levels of
/// the SDK, signing and HTTP crates print request headers. Their warnings and errors still show.
pub const LOG_CAPS: [&str; 6] = [
    "aws_smithy_runtime=info",
    "aws_runtime=info",
    "aws_sigv4=info",
    "aws_config=info",
    "hyper=info",
    "h2=info",
];

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for these settings.
    #[error("invalid configuration file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        source: Box<toml::de::Error>,
    },
    /// A value is not valid for its setting.
    #[error("{origin}: {reason}")]
    Invalid {
        /// Where the value came from: `THUMBNAIL_URL_EXPIRY`, `--set url_expiry=soon`, ...
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A preset name is unknown or a definition is invalid.
    #[error("presets: {0}")]
    Presets(#[from] thumbnail_core::Error),
}

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
    /// `THUMBNAIL_METRICS_ADDR`: address of the worker's `/healthz` and `/metrics` HTTP endpoint (default: none).
    pub metrics_addr: Option<SocketAddr>,
    /// `THUMBNAIL_SHUTDOWN_GRACE`: seconds the worker gives the messages in flight to finish after
    /// SIGTERM before it lets them go (default 25, under the 30 s most orchestrators wait).
    pub shutdown_grace: u64,
    /// `THUMBNAIL_MEMORY_BUDGET`: MiB one image may take (its bytes and the engine's working
    /// memory), checked from its header before it is downloaded; an image over it fails
    /// (`wont_fit`) instead of running the process out of memory. The worker may use `concurrency`
    /// times this. Default: none in the worker; the Lambda takes its memory size less 32 MiB.
    pub memory_budget: Option<u64>,
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
            metrics_addr: None,
            shutdown_grace: 25,
            memory_budget: None,
        }
    }
}

/// The keys, for `--set` and the environment.
pub const KEYS: [&str; 16] = [
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
    "metrics_addr",
    "shutdown_grace",
    "memory_budget",
];

impl Settings {
    /// Defaults, then `file` (TOML), then the `THUMBNAIL_*` variables of `env`, then `overrides`
    /// (`key=value`, from flags).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[String],
    ) -> Result<Settings, ConfigError> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::File {
                    path: path.to_owned(),
                    source: Box::new(source),
                })?
            }
            None => Settings::default(),
        };
        for (name, value) in env {
            if let Some(key) = name.strip_prefix("THUMBNAIL_") {
                let key = key.to_ascii_lowercase();
                if KEYS.contains(&key.as_str()) {
                    settings
                        .apply(&key, &value)
                        .map_err(|reason| ConfigError::Invalid {
                            origin: name.clone(),
                            reason,
                        })?;
                }
            }
        }
        for assignment in overrides {
            let invalid = |reason: String| ConfigError::Invalid {
                origin: format!("--set {assignment}"),
                reason,
            };
            let (key, value) = assignment
                .split_once('=')
                .ok_or_else(|| invalid("expected KEY=VALUE".into()))?;
            settings.apply(key.trim(), value).map_err(invalid)?;
        }
        settings.specs()?;
        Ok(settings)
    }

    /// The settings of a process configured by its environment alone (the Lambda convention).
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::load(None, std::env::vars(), &[])
    }

    /// Sets one key from text; the error says why the value does not fit.
    fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{key} takes a whole number, not {v:?}"))
        };
        let optional = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        match key {
            "backend" => {
                self.backend = match value.trim() {
                    "local" => Backend::Local,
                    "aws" => Backend::Aws,
                    other => return Err(format!("backend is local or aws, not {other:?}")),
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
                    other => return Err(format!("s3_path_style is true or false, not {other:?}")),
                }
            }
            "concurrency" => self.concurrency = number(value)?.max(1) as usize,
            "visibility" => self.visibility = number(value)?.max(1),
            "shutdown_grace" => self.shutdown_grace = number(value)?,
            "memory_budget" => {
                self.memory_budget = match optional(value) {
                    Some(mib) => Some(number(&mib)?).filter(|&mib| mib > 0),
                    None => None,
                }
            }
            "metrics_addr" => {
                self.metrics_addr = match optional(value) {
                    Some(addr) => Some(addr.parse().map_err(|_| {
                        format!(
                            "metrics_addr is an address and port like 127.0.0.1:9100, not {addr:?}"
                        )
                    })?),
                    None => None,
                }
            }
            other => {
                return Err(format!(
                    "unknown setting {other:?}; known: {}",
                    KEYS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The thumbnail specs named or defined by `presets`.
    pub fn specs(&self) -> Result<Vec<ThumbnailSpec>, ConfigError> {
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
            return Err(ConfigError::Invalid {
                origin: "presets".into(),
                reason: "at least one preset is needed".into(),
            });
        }
        Ok(specs)
    }

    /// How long the worker waits for the messages in flight after SIGTERM.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }

    /// How long preview URLs stay valid.
    pub fn url_expiry(&self) -> Duration {
        Duration::from_secs(self.url_expiry)
    }

    /// The pipeline these settings describe: the presets, the thumbnail prefix, whether sources
    /// and thumbnails share a bucket, the URL expiry.
    pub fn pipeline_config(&self) -> Result<PipelineConfig, ConfigError> {
        let mut config = PipelineConfig::new(self.specs()?);
        config.dest_prefix = self.dest_prefix.clone();
        config.same_bucket = self.source_bucket == self.dest_bucket;
        config.url_expiry = self.url_expiry();
        config.memory_budget = self.memory_budget.map(|mib| mib << 20);
        Ok(config)
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
                ("THUMBNAIL_METRICS_ADDR", "127.0.0.1:9100"),
                ("THUMBNAIL_MEMORY_BUDGET", "96"),
            ]),
            &["topic=from-flag".into()],
        )
        .unwrap();
        assert_eq!(
            settings.pipeline_config().unwrap().memory_budget,
            Some(96 << 20)
        );
        assert_eq!(settings.queue, "from-env");
        assert_eq!(settings.dest_prefix, "thumbs");
        assert_eq!(settings.url_expiry(), Duration::from_secs(60));
        assert_eq!(settings.topic.as_deref(), Some("from-flag"));
        assert_eq!(settings.backend, Backend::Local);
        assert_eq!(
            settings.metrics_addr,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn presets_take_names_and_definitions() {
        let mut settings = Settings::default();
        settings
            .apply("presets", "profile, album=600x600:cover,wide=800x")
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
        assert!(load(&[("THUMBNAIL_METRICS_ADDR", "port 9100")]).contains("127.0.0.1:9100"));
    }
}
