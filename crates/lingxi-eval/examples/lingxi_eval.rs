//! Development entry point: `cargo run --release -p lingxi-eval --example lingxi_eval -- eval intents …`.

use clap::{Parser, Subcommand};
use lingxi_eval::{EvalCommand, NlpCommand, run_eval, run_nlp};

/// Lingxi evaluation commands, parsed as the `lingxi` binary does.
#[derive(Debug, Parser)]
#[command(name = "lingxi")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the understanding engine.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Build the engine's shipped models.
    #[command(subcommand)]
    Nlp(NlpCommand),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Eval(cmd) => run_eval(cmd),
        Command::Nlp(cmd) => run_nlp(cmd),
    }
}
