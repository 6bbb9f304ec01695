//! The thumbnail pipeline's settings: one typed struct, from defaults, then a TOML file, then
//! `THUMBNAIL_*` environment variables, then overrides (the worker's `--set` flags). Every source
//! goes through the same parser and checks, so a value is refused the same way wherever it comes
//! from, with an error naming the setting and its source. The worker and the Lambda function read
//! the same variables.
//!
//! ```
//! use std::time::Duration;
//! use thumbnail_config::{Backend, Settings};
//!
//! let env = [("THUMBNAIL_PRESETS".to_owned(), "profile,album=600x600:cover".to_owned())];
//! let settings = Settings::load(None, env, &["url_expiry=3600".to_owned()])?;
//! assert_eq!(settings.backend, Backend::Local);
//! assert_eq!(settings.url_expiry, Duration::from_secs(3600));
//! assert_eq!(settings.presets[1].name, "album");
//!
//! // Refused, whichever source it comes from, naming the setting and the source.
//! let error = Settings::load(None, [], &["concurrency=0".to_owned()]).unwrap_err();
//! assert_eq!(error.to_string(), "--set concurrency=0: concurrency must be at least 1");
//! let unknown = [("THUMBNAIL_COLOR".to_owned(), "blue".to_owned())];
//! assert!(Settings::load(None, unknown, &[]).unwrap_err().to_string().starts_with("THUMBNAIL_COLOR: unknown setting"));
//! # Ok::<(), thumbnail_config::ConfigError>(())
//! ```
//!
//! A new setting is one entry in the `settings!` table below: its type, default, parser and doc.
//! The struct field, the default, the key list that `--help` prints and the parsing all come from it.

mod parse;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thumbnail_core::{FailOn, ThumbnailSpec};
use thumbnail_pipeline::{OwnerRules, PipelineConfig};

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
    /// The configuration file is not valid TOML.
    #[error("invalid configuration file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        source: Box<toml::de::Error>,
    },
    /// A value is not valid for its setting, or names no setting.
    #[error("{origin}: {reason}")]
    Invalid {
        /// Where the value came from: `THUMBNAIL_URL_EXPIRY=soon`, `--set url_expiry=soon`,
        /// `worker.toml: url_expiry = "soon"`.
        origin: String,
        /// What is wrong with it, naming the setting.
        reason: String,
    },
}

/// A setting's value that stays out of logs and `Debug` output: a password in a URL, a key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret of this value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where the parts live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Folders as buckets, a spool folder as the queue, notifications in the log: no account needed.
    #[default]
    Local,
    /// S3, SQS and SNS (or compatible servers), through the standard `AWS_*` configuration.
    Aws,
}

/// One setting, as `--help` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingInfo {
    /// The key: TOML key and `--set` key; the variable is `THUMBNAIL_` and the key in upper case.
    pub key: &'static str,
    /// What it is for, its values and default (its doc, as written).
    pub doc: &'static str,
}

impl SettingInfo {
    /// The environment variable: `THUMBNAIL_` and the key in upper case.
    pub fn variable(&self) -> String {
        format!("THUMBNAIL_{}", self.key.to_ascii_uppercase())
    }
}

/// Declares the settings: one entry each, from which the struct, its defaults, [`SETTINGS`] and
/// the parser of every source are made.
macro_rules! settings {
    ($( #[doc = $doc:literal] $(#[doc = $more:literal])* $key:ident : $ty:ty = $default:expr, $parse:expr; )*) => {
        /// Every setting, typed; see [`SETTINGS`] for the keys and variables.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Settings {
            $( #[doc = $doc] $(#[doc = $more])* pub $key: $ty, )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $key: $default, )* }
            }
        }

        /// Every setting: key and doc, in the order `--help` lists them.
        pub const SETTINGS: &[SettingInfo] = &[
            $( SettingInfo { key: stringify!($key), doc: concat!($doc $(, $more)*) }, )*
        ];

        impl Settings {
            /// Sets one key from text; the error says why the value does not fit, naming the key.
            fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
                match key {
                    $( stringify!($key) => {
                        self.$key = ($parse)(value).map_err(|reason| format!("{key} {reason}"))?;
                    } )*
                    other => return Err(parse::unknown_key(other)),
                }
                Ok(())
            }
        }
    };
}

settings! {
    /// `local` (folders, a spool queue, the log; default) or `aws` (S3, SQS, SNS).
    backend: Backend = Backend::Local, parse::backend;
    /// Root folder of the local backend (default `thumbnail-data`).
    local_dir: PathBuf = PathBuf::from("thumbnail-data"), parse::path;
    /// Bucket where uploads land (default `uploads`).
    source_bucket: String = "uploads".into(), parse::name;
    /// Bucket thumbnails are written to (default `thumbnails`; may equal the source bucket, with a
    /// `dest_prefix`).
    dest_bucket: String = "thumbnails".into(), parse::name;
    /// Key prefix of the thumbnails, without a slash at either end (default: none).
    dest_prefix: String = String::new(), parse::prefix;
    /// Queue name or URL (default `thumbnail-jobs`).
    queue: String = "thumbnail-jobs".into(), parse::name;
    /// Dead-letter queue name or URL (default: `thumbnail-dead-letters` locally; on AWS the one
    /// `setup` prints, else none and the redrive policy moves messages).
    dlq: Option<String> = None, parse::optional_name;
    /// SNS topic name or ARN (AWS; without it notifications only go to the log, with a warning).
    topic: Option<String> = None, parse::optional_name;
    /// Presets to make: comma-separated names or `NAME=SIZE[:OPTION]...` definitions, options
    /// being a fit or fit=, gravity=, format=, quality=, progressive=, background= (default
    /// `profile,album-art`; in TOML also `[presets.NAME]` tables of the same keys and `size`).
    presets: Vec<ThumbnailSpec> = parse::presets("profile,album-art").expect("built in"), parse::presets;
    /// Seconds preview URLs stay valid, 1 to 604800 (7 days, S3's limit; default 86400).
    url_expiry: Duration = Duration::from_secs(86_400), parse::seconds(1, 604_800);
    /// `Cache-Control` of the thumbnails written (default `public, max-age=86400`).
    cache_control: String = "public, max-age=86400".into(), parse::name;
    /// Path-style S3 addressing, for most S3-compatible servers: true or false (default false).
    s3_path_style: bool = false, parse::boolean;
    /// Messages worked on at once, at least 1 (default: twice the number of cores, so that
    /// while every core decodes, as many messages download their image or write their
    /// thumbnails).
    concurrency: usize = 2 * parse::cores(), parse::at_least_one;
    /// Seconds a received message stays hidden, extended while it is worked on, 1 to 43200 (default 120).
    visibility: Duration = Duration::from_secs(120), parse::seconds(1, 43_200);
    /// Seconds one message's work may take, 1 to 43200 (default 300): past it the work is
    /// abandoned and the message released for a retry (on Lambda, the invocation's remaining time
    /// less a margin bounds it too), so a stalled download or a runaway decode cannot hold a
    /// message for ever; after `max_receives` tries it is announced and dead-lettered.
    job_timeout: Duration = Duration::from_secs(300), parse::seconds(1, 43_200);
    /// Address of the worker's `/healthz` and `/metrics` HTTP endpoint, e.g. 127.0.0.1:9100 (default: none).
    metrics_addr: Option<SocketAddr> = None, parse::address;
    /// Seconds the worker gives messages in flight after SIGTERM (default 25, under the 30 s most
    /// orchestrators wait).
    shutdown_grace: Duration = Duration::from_secs(25), parse::seconds(0, 3_600);
    /// MiB one image may take (its bytes and the engine's working memory), checked from its header
    /// before download; over it the image fails as `wont_fit` (default: none in the worker; on
    /// Lambda the function's memory less 32 MiB).
    memory_budget: Option<u64> = None, parse::optional_mebibytes;
    /// Which faults in an image's data refuse it (libvips's `fail_on`): `none` (thumbnail
    /// whatever decodes), `truncated` (refuse files cut short; default), `error` (also damaged
    /// data: a JPEG segment, a PNG checksum) or `warning` (any fault). A tolerated fault is logged
    /// as a warning and counted in `/metrics`.
    fail_on: FailOn = FailOn::default(), parse::fail_on;
    /// Receives a message gets, 2 to 1000: on the last, the worker announces it as
    /// `too_many_receives` and dead-letters it, one receive before an SQS redrive with this
    /// `maxReceiveCount` (which `setup` writes) would move it silently (default 5).
    max_receives: u32 = thumbnail_pipeline::MAX_RECEIVES, parse::receives;
    /// Where an upload's owner is read from, in order: `metadata` (`x-amz-meta-owner`) and key
    /// patterns such as `users/{owner}/`, comma-separated; `none` for no owners (default
    /// `metadata`). Notifications carry the owner for subscription filter policies.
    owner_from: OwnerRules = OwnerRules::default(), parse::owner_rules;
    /// Address of the worker's web console, e.g. 127.0.0.1:8080 (default: none, off): upload
    /// images, watch thumbnails appear, see failures, replay dead letters. It also serves
    /// `/healthz` and `/metrics`, and on the local backend the signed preview links. Without a
    /// `console_token` it has no login: keep it on loopback or behind a proxy that authenticates
    /// (the worker warns when it listens elsewhere without one).
    console_addr: Option<SocketAddr> = None, parse::address;
    /// A password the console asks for (HTTP basic authentication, any user name; default: none).
    /// Signed preview links, `/healthz` and `/metrics` need none.
    console_token: Option<Secret> = None, parse::optional_secret;
    /// The console's address as others reach it, for preview links in e-mail, e.g.
    /// `https://thumbs.example.com` (default: `http://` and `console_addr`).
    console_url: Option<String> = None, parse::optional_http_url;
    /// SMTP server to e-mail notifications through: `smtp://HOST:PORT` (plain),
    /// `smtp://USER:PASSWORD@HOST:587?tls=required` (STARTTLS) or `smtps://USER:PASSWORD@HOST`
    /// (default: none). Needs `email_from` and `email_to`.
    smtp_url: Option<Secret> = None, parse::optional_secret;
    /// The e-mail sender, e.g. `Thumbnails <thumbnails@example.com>`.
    email_from: Option<String> = None, parse::optional_name;
    /// E-mail recipients, comma-separated.
    email_to: Vec<String> = Vec::new(), parse::list;
    /// URL to POST each notification to as JSON, signed with `webhook_secret` (default: none).
    webhook_url: Option<Secret> = None, parse::optional_secret;
    /// The secret the webhook's `X-Thumbnail-Signature` (HMAC-SHA256) is made with; the
    /// receiver holds the same one.
    webhook_secret: Option<Secret> = None, parse::optional_secret;
    /// The Lambda function's memory in MB, which sizes its engine threads and memory budget (set
    /// by Lambda as `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; default: none, not on Lambda).
    lambda_memory: Option<u64> = None, parse::optional_megabytes;
}

/// Variables from outside this project's namespace that set a setting: Lambda tells a function its
/// memory size in its own variable.
const ALIASES: [(&str, &str); 1] = [("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lambda_memory")];

/// Memory a Lambda function takes before any image: the runtime, the binary, the SDK clients and
/// their connection pools (measured at about 20 MiB; the rest is margin).
pub const LAMBDA_BASELINE_MEMORY: u64 = 32 << 20;

/// What the worker itself takes, outside the images: runtime, clients, buffers.
pub const WORKER_BASELINE_MEMORY: u64 = 64 << 20;

/// The default budget of one image: `limit` less [`WORKER_BASELINE_MEMORY`], shared by
/// `concurrency` messages; `None` when that leaves nothing.
fn default_budget(limit: u64, concurrency: usize) -> Option<u64> {
    let budget = limit.saturating_sub(WORKER_BASELINE_MEMORY) / concurrency.max(1) as u64;
    (budget > 0).then_some(budget)
}

/// Lambda gives a function one vCPU per 1769 MB of memory.
const LAMBDA_MB_PER_VCPU: u64 = 1769;

/// How much runs at once and in how much memory: decided here, together, because they decide the
/// process's memory together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// Images decoded and resized at once.
    pub engine_threads: usize,
    /// Messages worked on at once (downloads, uploads and waiting included).
    pub concurrency: usize,
    /// Bytes one image may take, checked before download; `None`: no check beyond the limits.
    pub memory_budget: Option<u64>,
}

impl Settings {
    /// Defaults, then `file` (TOML), then the `THUMBNAIL_*` variables of `env`, then `overrides`
    /// (`key=value`, from flags). An unknown key or `THUMBNAIL_*` variable is an error, not ignored.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[String],
    ) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        if let Some(path) = file {
            settings.apply_file(path)?;
        }
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        // Sorted, so that of several bad variables the same one is reported every time.
        env.sort();
        for (name, value) in &env {
            let key = match name.strip_prefix("THUMBNAIL_") {
                Some(key) => key.to_ascii_lowercase(),
                None => match ALIASES.iter().find(|(alias, _)| alias == name) {
                    Some((_, key)) => (*key).to_owned(),
                    None => continue,
                },
            };
            settings
                .apply(&key, value)
                .map_err(|reason| ConfigError::Invalid {
                    origin: if SETTINGS.iter().any(|s| s.key == key) {
                        format!("{name}={value}")
                    } else {
                        name.clone()
                    },
                    reason,
                })?;
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
        settings.check_buckets()?;
        Ok(settings)
    }

    /// Thumbnails written where uploads land, under no prefix of their own, would each come back
    /// as an upload: every manifest would then fail as an unsupported image.
    fn check_buckets(&self) -> Result<(), ConfigError> {
        if self.source_bucket == self.dest_bucket && self.dest_prefix.is_empty() {
            return Err(ConfigError::Invalid {
                origin: format!("dest_bucket = source_bucket = {}", self.dest_bucket),
                reason: "thumbnails in the source bucket need a dest_prefix (e.g. thumbnails), \
                         or each would come back as an upload"
                    .into(),
            });
        }
        Ok(())
    }

    /// The settings of a process configured by its environment alone (the Lambda convention).
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::load(None, std::env::vars(), &[])
    }

    /// Applies a TOML file: each value, as text, through the same parser as the other sources.
    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::File {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        for (key, value) in &table {
            let origin = format!("{}: {key} = {value}", path.display());
            let text = match (key.as_str(), value) {
                ("presets", toml::Value::Table(presets)) => parse::toml_presets(presets),
                _ => parse::toml_text(value),
            };
            let text = text.map_err(|reason| ConfigError::Invalid {
                origin: origin.clone(),
                reason: format!("{key} {reason}"),
            })?;
            self.apply(key, &text)
                .map_err(|reason| ConfigError::Invalid { origin, reason })?;
        }
        Ok(())
    }

    /// Engine threads, concurrency and memory budget. On Lambda (`lambda_memory` set) the
    /// function's memory decides: a thread per vCPU Lambda gives it, and what the memory leaves
    /// after the runtime, shared by those threads, as the budget (unless `memory_budget` is set).
    /// Elsewhere the budget, unless set, is what the process may use (its cgroup's limit, or the
    /// machine's memory) less the worker's own, shared by the messages worked on at once.
    pub fn sizing(&self) -> Sizing {
        let cores = parse::cores();
        match self.lambda_memory {
            Some(mb) => {
                let threads = usize::try_from(mb / LAMBDA_MB_PER_VCPU)
                    .unwrap_or(usize::MAX)
                    .clamp(1, cores);
                let budget = (mb << 20).saturating_sub(LAMBDA_BASELINE_MEMORY) / threads as u64;
                Sizing {
                    engine_threads: threads,
                    concurrency: threads,
                    memory_budget: Some(self.memory_budget.map_or(budget, |mib| mib << 20)),
                }
            }
            None => Sizing {
                engine_threads: cores,
                concurrency: self.concurrency,
                memory_budget: self
                    .memory_budget
                    .map(|mib| mib << 20)
                    .or_else(|| default_budget(parse::memory_limit()?, self.concurrency)),
            },
        }
    }

    /// The pipeline these settings describe: the presets, the thumbnail prefix, whether sources
    /// and thumbnails share a bucket, the URL expiry, the memory budget.
    pub fn pipeline_config(&self) -> PipelineConfig {
        let mut config = PipelineConfig::new(self.presets.clone());
        config.dest_prefix = self.dest_prefix.clone();
        config.same_bucket = self.source_bucket == self.dest_bucket;
        config.source_bucket = Some(self.source_bucket.clone());
        config.url_expiry = self.url_expiry;
        config.cache_control = self.cache_control.clone();
        config.memory_budget = self.sizing().memory_budget;
        config.limits.fail_on = self.fail_on;
        config.owners = self.owner_from.clone();
        config.max_receives = Some(self.max_receives);
        config
    }

    /// The base of the console's links: `console_url`, else `http://` and `console_addr` (an
    /// unspecified address such as 0.0.0.0 read as loopback); `None` without a console.
    pub fn console_base(&self) -> Option<String> {
        if let Some(url) = &self.console_url {
            return Some(url.clone());
        }
        let mut addr = self.console_addr?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Some(format!("http://{addr}"))
    }

    /// The preset names, for logs.
    pub fn preset_names(&self) -> String {
        let names: Vec<&str> = self.presets.iter().map(|s| s.name.as_str()).collect();
        names.join(",")
    }
}

/// The settings as `--help` lists them: each variable with its doc.
pub fn help() -> String {
    let mut text = String::from(
        "Settings (a TOML file's keys, `--set KEY=VALUE`, or THUMBNAIL_<KEY> variables; later wins):\n",
    );
    for setting in SETTINGS {
        text.push_str(&format!(
            "  {:<28} {}\n",
            setting.variable(),
            setting.doc.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    text
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

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("thumbnail-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The error of loading a settings file `name` holding `text`.
    fn file_error(name: &str, text: &str) -> String {
        let path = file(name, text);
        Settings::load(Some(&path), env(&[]), &[])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn file_then_environment_then_flags() {
        let path = file(
            "layers.toml",
            "queue = \"from-file\"\ndest_prefix = \"thumbs\"\nurl_expiry = 60\npresets = [\"profile\", \"wide=800x\"]\n",
        );
        let settings = Settings::load(
            Some(&path),
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
        assert_eq!(settings.pipeline_config().memory_budget, Some(96 << 20));
        assert_eq!(settings.queue, "from-env");
        assert_eq!(settings.dest_prefix, "thumbs");
        assert_eq!(settings.url_expiry, Duration::from_secs(60));
        assert_eq!(settings.preset_names(), "profile,wide");
        assert_eq!(settings.topic.as_deref(), Some("from-flag"));
        assert_eq!(settings.backend, Backend::Local);
        assert_eq!(
            settings.metrics_addr,
            Some("127.0.0.1:9100".parse().unwrap())
        );
    }

    #[test]
    fn presets_as_tables_are_the_presets_of_the_extended_syntax() {
        let path = file(
            "tables.toml",
            "cache_control = \"public, max-age=600\"\n\
             [presets.album]\nsize = \"600x600\"\nfit = \"cover\"\nformat = [\"avif\", \"webp\", \"jpeg\"]\n\
             [presets.profile]\ngravity = \"attention\"\nformat = \"webp\"\nquality = 75\nprogressive = true\n",
        );
        let from_tables = Settings::load(Some(&path), env(&[]), &[]).unwrap();
        let from_env = Settings::load(
            None,
            env(&[(
                "THUMBNAIL_PRESETS",
                "album=600x600:cover:format=avif+webp+jpeg,profile=128x128:gravity=attention:format=webp:quality=75:progressive=true",
            )]),
            &[],
        )
        .unwrap();
        assert_eq!(from_tables.presets, from_env.presets);
        assert_eq!(from_tables.presets[1].quality, 75);
        assert_eq!(from_tables.presets[0].formats.to_string(), "avif+webp+jpeg");
        assert_eq!(
            from_tables.pipeline_config().cache_control,
            "public, max-age=600"
        );
        let error = file_error("bad-table.toml", "[presets.poster]\nformat = \"webp\"\n");
        assert!(error.contains("poster needs a size"), "{error}");
        let error = file_error("bad-option.toml", "[presets.profile]\nquality = 0\n");
        assert!(error.contains("preset profile: quality"), "{error}");
        let error = file_error(
            "bad-format.toml",
            "[presets.profile]\nformat = [\"webp\", \"gif\"]\n",
        );
        assert!(error.contains("preset profile: format"), "{error}");
    }

    #[test]
    fn thumbnails_in_the_source_bucket_need_a_prefix() {
        let same = [
            ("THUMBNAIL_SOURCE_BUCKET", "photos"),
            ("THUMBNAIL_DEST_BUCKET", "photos"),
        ];
        let error = Settings::load(None, env(&same), &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "dest_bucket = source_bucket = photos: thumbnails in the source bucket need a \
             dest_prefix (e.g. thumbnails), or each would come back as an upload"
        );
        let prefixed = Settings::load(None, env(&same), &["dest_prefix=thumbs".to_owned()]);
        assert_eq!(prefixed.unwrap().dest_prefix, "thumbs");
    }

    #[test]
    fn each_source_refuses_the_same_values_naming_setting_and_source() {
        for (key, value, why) in [
            ("concurrency", "0", "concurrency must be at least 1"),
            (
                "visibility",
                "0",
                "visibility must be from 1 to 43200 seconds",
            ),
            (
                "url_expiry",
                "0",
                "url_expiry must be from 1 to 604800 seconds",
            ),
            (
                "dest_prefix",
                "thumbs/",
                "dest_prefix must not end with '/'",
            ),
            ("presets", "huge", "presets"),
        ] {
            let variable = format!("THUMBNAIL_{}", key.to_uppercase());
            let from_env = Settings::load(None, env(&[(&variable, value)]), &[])
                .unwrap_err()
                .to_string();
            assert!(
                from_env.starts_with(&format!("{variable}={value}: ")),
                "{from_env}"
            );
            assert!(from_env.contains(why), "{from_env}");
            let from_flag = Settings::load(None, env(&[]), &[format!("{key}={value}")])
                .unwrap_err()
                .to_string();
            assert!(
                from_flag.starts_with(&format!("--set {key}={value}: ")),
                "{from_flag}"
            );
            assert!(from_flag.contains(why), "{from_flag}");
            let toml_value = if value.parse::<u64>().is_ok() {
                value.to_owned()
            } else {
                format!("{value:?}")
            };
            let from_file = file_error(&format!("{key}.toml"), &format!("{key} = {toml_value}\n"));
            assert!(
                from_file.contains(&format!("{key}.toml: {key} = ")),
                "{from_file}"
            );
            assert!(from_file.contains(why), "{from_file}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_from_every_source() {
        let error = Settings::load(None, env(&[("THUMBNAIL_CONCURENCY", "4")]), &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("THUMBNAIL_CONCURENCY: unknown setting \"concurency\""),
            "{error}"
        );
        assert!(Settings::load(None, env(&[]), &["colour=blue".into()]).is_err());
        let error = file_error("unknown.toml", "colour = \"blue\"\n");
        assert!(error.contains("unknown setting \"colour\""), "{error}");
    }

    #[test]
    fn bad_values_are_explained() {
        let load = |pairs: &[(&str, &str)]| {
            Settings::load(None, env(pairs), &[])
                .unwrap_err()
                .to_string()
        };
        assert!(load(&[("THUMBNAIL_BACKEND", "gcp")]).contains("local or aws"));
        assert!(load(&[("THUMBNAIL_URL_EXPIRY", "soon")]).contains("whole number"));
        assert!(load(&[("THUMBNAIL_PRESETS", "huge")]).contains("known presets"));
        assert!(load(&[("THUMBNAIL_METRICS_ADDR", "port 9100")]).contains("127.0.0.1:9100"));
        assert!(load(&[("THUMBNAIL_PRESETS", " , ")]).contains("at least one preset"));
    }

    #[test]
    fn console_mail_and_webhook_settings_keep_their_secrets_out_of_debug_output() {
        let settings = Settings::load(
            None,
            env(&[
                ("THUMBNAIL_CONSOLE_ADDR", "0.0.0.0:8080"),
                ("THUMBNAIL_SMTP_URL", "smtp://mail:hunter2@127.0.0.1:2525"),
                ("THUMBNAIL_EMAIL_TO", "a@example.com, b@example.com,"),
                ("THUMBNAIL_WEBHOOK_SECRET", "w3bh00k"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            settings.console_base().as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(settings.email_to, ["a@example.com", "b@example.com"]);
        assert_eq!(
            settings.smtp_url.as_ref().map(Secret::expose),
            Some("smtp://mail:hunter2@127.0.0.1:2525")
        );
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("w3bh00k"),
            "{shown}"
        );
        let behind_proxy = Settings::load(
            None,
            [],
            &["console_url=https://thumbs.example.com/".into()],
        )
        .unwrap();
        assert_eq!(
            behind_proxy.console_base().as_deref(),
            Some("https://thumbs.example.com")
        );
        assert_eq!(Settings::default().console_base(), None);
        let error = Settings::load(None, [], &["console_url=ftp://x".into()]).unwrap_err();
        assert!(error.to_string().contains("http:// or https://"), "{error}");
    }

    #[test]
    fn lambda_memory_sizes_threads_and_budget() {
        let lambda = |mb: &str| {
            Settings::load(None, env(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb)]), &[])
                .unwrap()
                .sizing()
        };
        let small = lambda("128");
        assert_eq!(small.engine_threads, 1);
        assert_eq!(
            small.memory_budget,
            Some((128 << 20) - LAMBDA_BASELINE_MEMORY)
        );
        let large = lambda("10240");
        assert!(large.engine_threads >= 1 && large.engine_threads <= 6);
        let worker = Settings::default().sizing();
        assert_eq!(worker.concurrency, Settings::default().concurrency);
    }

    #[test]
    fn the_worker_budget_defaults_to_its_share_of_the_memory_it_may_use() {
        let limit = parse::memory_limit().expect("Linux tells the memory");
        let machine: u64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .strip_suffix(" kB")?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap()
            << 10;
        assert!(limit <= machine && limit > 0, "{limit} of {machine}");
        let worker = Settings::load(None, [], &["concurrency=4".into()])
            .unwrap()
            .sizing();
        assert_eq!(
            worker.memory_budget,
            Some((limit - WORKER_BASELINE_MEMORY) / 4)
        );
        let set = Settings::load(None, [], &["memory_budget=96".into()])
            .unwrap()
            .sizing();
        assert_eq!(set.memory_budget, Some(96 << 20));
        // A container of 512 MiB working on 4 images: 112 MiB each.
        assert_eq!(default_budget(512 << 20, 4), Some(112 << 20));
        assert_eq!(default_budget(32 << 20, 4), None);
    }
}
