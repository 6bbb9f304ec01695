//! `thumbnail-worker`: the thumbnail pipeline's binary, a list of parts being connected.

mod aws;
mod convert;
mod http;
mod local_events;
mod run;
#[cfg(feature = "aws")]
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use thumbnail_config::Settings;

#[derive(Parser, Debug)]
#[command(
    name = "thumbnail-worker",
    version,
    about = "Make thumbnails of uploaded images."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Process uploads from the queue until stopped (SIGTERM/SIGINT finish what is in flight).
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// Process what is pending, then exit.
        #[arg(long)]
        exit_when_idle: bool,
    },
    /// Put image files into the source bucket.
    Upload {
        #[command(flatten)]
        config: ConfigArgs,
        /// Key prefix for the uploaded files.
        #[arg(long)]
        prefix: Option<String>,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Create the AWS resources the configuration names (idempotent) and print the settings to run with.
    #[cfg(feature = "aws")]
    Setup {
        #[command(flatten)]
        config: ConfigArgs,
        /// Subscribe this e-mail address to the topic.
        #[arg(long)]
        email: Option<String>,
        /// Only announce uploads whose key starts with this.
        #[arg(long)]
        filter_prefix: Option<String>,
        /// Only announce uploads whose key ends with this (e.g. `.jpg`).
        #[arg(long)]
        filter_suffix: Option<String>,
    },
    /// Make thumbnails of local files (vipsthumbnail-style).
    Convert(convert::ConvertArgs),
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
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Settings> {
        let filter = thumbnail_config::log_filter();
        let logs = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Human => logs.init(),
            LogFormat::Json => logs.json().init(),
        }
        Ok(Settings::load(
            self.config.as_deref(),
            std::env::vars(),
            &self.overrides,
        )?)
    }
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Convert(args) => return convert::run(args),
        Command::Run {
            config,
            exit_when_idle,
        } => runtime()
            .and_then(|rt| rt.block_on(async { run::run(&config.load()?, exit_when_idle).await })),
        #[cfg(feature = "aws")]
        Command::Setup {
            config,
            email,
            filter_prefix,
            filter_suffix,
        } => runtime().and_then(|rt| {
            rt.block_on(async {
                let options = setup::SetupOptions {
                    email,
                    prefix: filter_prefix,
                    suffix: filter_suffix,
                };
                setup::setup(&config.load()?, &options).await
            })
        }),
        Command::Upload {
            config,
            prefix,
            files,
        } => runtime().and_then(|rt| {
            rt.block_on(async {
                run::upload(&config.load()?, &files, prefix.as_deref())
                    .await
                    .map(|_| ())
            })
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
