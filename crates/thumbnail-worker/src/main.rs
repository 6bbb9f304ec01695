//! `thumbnail-worker`: parses the command line and hands each command to the library.
//!
//! Exit codes: 0 success; 1 a runtime failure (or, for `convert`, some files failed); 2 a usage
//! error: a bad flag or setting, refused before anything was done.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use thumbnail_config::Settings;
use thumbnail_parts::logs::{self, LogFormat};
use thumbnail_worker::{backfill, convert, dead_letters, run, status, upload};

#[derive(Parser, Debug)]
#[command(
    name = "thumbnail-worker",
    version,
    about = "Make thumbnails of uploaded images.",
    after_help = "Exit codes: 0 success, 1 runtime failure, 2 usage error (bad flag or setting)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Process uploads from the queue until stopped (SIGTERM/SIGINT finish what is in flight).
    #[command(after_help = thumbnail_config::help())]
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// Process what is pending, then exit.
        #[arg(long)]
        exit_when_idle: bool,
    },
    /// Put image files into the source bucket.
    #[command(after_help = thumbnail_config::help())]
    Upload {
        #[command(flatten)]
        config: ConfigArgs,
        /// Key prefix for the uploaded files.
        #[arg(long)]
        prefix: Option<String>,
        /// The uploader: stored as the objects' `owner` metadata (`x-amz-meta-owner`), which
        /// notifications then carry.
        #[arg(long, value_parser = owner)]
        owner: Option<String>,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Create the AWS resources the settings name (idempotent) and print `export` lines to run with.
    #[cfg(feature = "aws")]
    #[command(after_help = thumbnail_config::help())]
    Setup {
        #[command(flatten)]
        config: ConfigArgs,
        /// Subscribe this e-mail address to the topic.
        #[arg(long)]
        email: Option<String>,
        /// With --email: only this owner's uploads reach the address (a filter policy).
        #[arg(long, requires = "email", value_parser = owner)]
        owner: Option<String>,
        /// Only announce uploads whose key starts with this.
        #[arg(long)]
        filter_prefix: Option<String>,
        /// Only announce uploads whose key ends with this (e.g. `.jpg`).
        #[arg(long)]
        filter_suffix: Option<String>,
    },
    /// Queue every source object whose thumbnails are missing or were made with other presets.
    #[command(after_help = thumbnail_config::help())]
    Backfill {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only source keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Print the keys that would be queued; queue nothing.
        #[arg(long)]
        dry_run: bool,
        /// Queue at most this many messages a second.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        rate: u32,
    },
    /// Show how many messages wait, are in flight or are delayed, in the queue and the dead-letter queue.
    #[command(after_help = thumbnail_config::help())]
    Status {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List dead letters with their reasons, or move them back to the queue.
    #[command(after_help = thumbnail_config::help())]
    DeadLetters {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(subcommand)]
        action: DeadLetterAction,
    },
    /// Make thumbnails of local files (vipsthumbnail-style).
    Convert(convert::ConvertArgs),
}

#[derive(Subcommand, Debug)]
enum DeadLetterAction {
    /// Print each dead letter: id, failure codes, keys, reason (tab-separated).
    List,
    /// Move dead letters back to the queue, to be made again.
    Redrive {
        /// Only those that failed for this reason code (e.g. `wont_fit`, `corrupt`).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Configuration: a TOML file, then THUMBNAIL_* variables, then these flags.
#[derive(Args, Debug)]
struct ConfigArgs {
    /// A TOML file with the settings (keys as the THUMBNAIL_* variables, lower case, without the prefix).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Set one setting, e.g. `--set presets=profile,album-art`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogArg::Human)]
    log_format: LogArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogArg {
    Human,
    Json,
}

impl ConfigArgs {
    /// Starts the log, then loads the settings; a bad setting is a usage error.
    fn settings(&self) -> Result<Settings, ExitCode> {
        logs::init(
            match self.log_format {
                LogArg::Human => LogFormat::Human,
                LogArg::Json => LogFormat::Json,
            },
            true,
        );
        Settings::load(self.config.as_deref(), std::env::vars(), &self.overrides).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })
    }
}

fn main() -> ExitCode {
    let (config, work): (ConfigArgs, Box<dyn FnOnce(Settings) -> anyhow::Result<()>>) =
        match Cli::parse().command {
            Command::Convert(args) => return convert::run(args),
            Command::Run {
                config,
                exit_when_idle,
            } => (
                config,
                Box::new(move |settings| block_on(run::run(settings, exit_when_idle))),
            ),
            Command::Upload {
                config,
                prefix,
                owner,
                files,
            } => {
                // Refused before the settings load or any file is read: a usage error.
                let uploads = match upload::plan(&files, prefix.as_deref()) {
                    Ok(uploads) => uploads,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        return ExitCode::from(2);
                    }
                };
                (
                    config,
                    Box::new(move |settings| {
                        block_on(upload::upload(settings, &uploads, owner.as_deref())).map(drop)
                    }),
                )
            }
            Command::Backfill {
                config,
                prefix,
                dry_run,
                rate,
            } => (
                config,
                Box::new(move |settings| {
                    let options = backfill::BackfillOptions {
                        prefix,
                        dry_run,
                        rate,
                    };
                    block_on(backfill::backfill(settings, &options)).map(drop)
                }),
            ),
            Command::Status { config } => (
                config,
                Box::new(|settings| block_on(status::status(settings))),
            ),
            Command::DeadLetters { config, action } => (
                config,
                Box::new(move |settings| match action {
                    DeadLetterAction::List => block_on(dead_letters::list(settings)),
                    DeadLetterAction::Redrive { reason } => {
                        block_on(dead_letters::redrive(settings, reason.as_deref())).map(drop)
                    }
                }),
            ),
            #[cfg(feature = "aws")]
            Command::Setup {
                config,
                email,
                owner,
                filter_prefix,
                filter_suffix,
            } => (
                config,
                Box::new(move |settings| {
                    let options = thumbnail_worker::setup::SetupOptions {
                        email,
                        owner,
                        prefix: filter_prefix,
                        suffix: filter_suffix,
                    };
                    block_on(thumbnail_worker::setup::setup(&settings, &options))
                }),
            ),
        };
    let settings = match config.settings() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    match work(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An owner as the pipeline accepts it.
fn owner(value: &str) -> Result<String, String> {
    thumbnail_pipeline::check_owner(value).map(|()| value.to_owned())
}

fn block_on<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let done = runtime.block_on(work);
    // What is left on the blocking pool is work a job timeout abandoned (a read that never
    // returns, a decode of minutes): its message is already released, so the process need not
    // wait for it, and dropping the runtime would wait for ever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    done
}
