//! `thumbnail-worker`: the thumbnail pipeline's binary. Today it has `convert`, a one-shot command
//! for local files; the queue-driven `run` joins it with the pipeline crate.

mod convert;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "thumbnail-worker",
    version,
    about = "Make thumbnails from images."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make thumbnails of local files (vipsthumbnail-style).
    Convert(convert::ConvertArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Convert(args) => convert::run(args),
    }
}
