//! `eval intents`: the intent pipeline as the bot runs it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lingxi_nlp::{IntentConfig, IntentModel, Outcome, Policy, Utterance};
use serde_json::{Value, json};

use crate::Format;
use crate::data::read_rows;
use crate::metrics::{macro_f1, quantile_ms};

/// Arguments of `eval intents`.
#[derive(Debug, clap::Args)]
pub struct IntentsArgs {
    /// Knowledge base: CSV with `text` and `label` (every label an entry, every text a similar question).
    #[arg(long)]
    pub train: PathBuf,
    /// Test queries: CSV with `text` and `label`.
    #[arg(long)]
    pub test: PathBuf,
    /// The label of out-of-scope rows (training rows with it become out-of-scope examples).
    #[arg(long)]
    pub oos_label: Option<String>,
    /// A local sentence-embedding model directory (the optional embeddings layer).
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Also write every test row's decision to this CSV (text, label, best, confidence, outcome).
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

pub(crate) fn run(args: &IntentsArgs) -> anyhow::Result<Value> {
    let mut config = IntentConfig::default();
    if let Some(dir) = &args.embeddings {
        let started = Instant::now();
        let encoder = lingxi_embed::BertEncoder::load(dir)?;
        eprintln!("loaded {encoder:?} in {:.2} s", started.elapsed().as_secs_f64());
        config.encoder = Some(Arc::new(encoder));
    }
    let oos = args.oos_label.as_deref();
    let train = read_rows(&args.train)?;
    let test = read_rows(&args.test)?;
    let mut examples = Vec::new();
    let mut out_of_scope = Vec::new();
    for row in train {
        if Some(row.label.as_str()) == oos {
            out_of_scope.push(row.text);
        } else {
            examples.push(Utterance { text: row.text, label: row.label });
        }
    }
    eprintln!("training on {} examples and {} out-of-scope texts", examples.len(), out_of_scope.len());
    let started = Instant::now();
    let model = IntentModel::train(&examples, &out_of_scope, &config)?;
    let train_seconds = started.elapsed().as_secs_f64();
    eprintln!("trained in {train_seconds:.2} s; deciding {} test rows", test.len());
    let policy = Policy::default();
    for row in test.iter().take(50) {
        let _ = model.decide(&row.text, &policy);
    }
    let (mut n_in, mut top1, mut top3, mut correct_answered) = (0usize, 0usize, 0usize, 0usize);
    let (mut answered, mut answered_right, mut n_oos, mut oos_not_answered) = (0usize, 0usize, 0usize, 0usize);
    let mut outcomes = [0usize; 3];
    let mut pairs = Vec::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(test.len());
    let mut dump = match &args.dump {
        Some(path) => {
            let mut w = csv::Writer::from_path(path)?;
            w.write_record(["text", "label", "best", "confidence", "outcome"])?;
            Some(w)
        }
        None => None,
    };
    let mut scored: Vec<(f32, bool, bool)> = Vec::with_capacity(test.len());
    for row in &test {
        let started = Instant::now();
        let decision = model.decide(&row.text, &policy);
        latencies.push(started.elapsed());
        let is_oos = Some(row.label.as_str()) == oos;
        let best = decision.candidates.first().map(|c| c.label.clone());
        let is_answer = decision.outcome == Outcome::Answer;
        let confidence = decision.candidates.first().map_or(0.0, |c| c.confidence);
        let right = !is_oos && best.as_deref() == Some(row.label.as_str());
        scored.push((confidence, right, is_oos));
        if let Some(w) = dump.as_mut() {
            w.write_record([
                row.text.as_str(),
                row.label.as_str(),
                best.as_deref().unwrap_or(""),
                &format!("{confidence:.4}"),
                &format!("{:?}", decision.outcome),
            ])?;
        }
        outcomes[match decision.outcome {
            Outcome::Answer => 0,
            Outcome::Suggest => 1,
            Outcome::Admit => 2,
        }] += 1;
        if is_answer {
            answered += 1;
            if !is_oos && best.as_deref() == Some(row.label.as_str()) {
                answered_right += 1;
            }
        }
        if is_oos {
            n_oos += 1;
            if !is_answer {
                oos_not_answered += 1;
            }
            continue;
        }
        n_in += 1;
        if best.as_deref() == Some(row.label.as_str()) {
            top1 += 1;
            if is_answer {
                correct_answered += 1;
            }
        }
        if decision.candidates.iter().take(3).any(|c| c.label == row.label) {
            top3 += 1;
        }
        pairs.push((row.label.clone(), if is_answer { best } else { None }));
    }
    if let Some(mut w) = dump {
        w.flush()?;
    }
    let share = |a: usize, b: usize| {
        if b == 0 { Value::Null } else { json!(a as f64 / b as f64) }
    };
    Ok(json!({
        "n_train": examples.len() + out_of_scope.len(),
        "n_train_out_of_scope": out_of_scope.len(),
        "n_labels": model.labels().len(),
        "n_test": test.len(),
        "n_test_in_scope": n_in,
        "top1_accuracy": share(top1, n_in),
        "top3_accuracy": share(top3, n_in),
        "accuracy": share(correct_answered, n_in),
        "macro_f1": macro_f1(&pairs),
        "answer_rate": share(answered, test.len()),
        "suggest_rate": share(outcomes[1], test.len()),
        "admit_rate": share(outcomes[2], test.len()),
        "answered_precision": share(answered_right, answered),
        "oos_recall": if oos.is_some() { share(oos_not_answered, n_oos) } else { Value::Null },
        "policy": { "answer_threshold": policy.answer_threshold, "suggest_threshold": policy.suggest_threshold },
        "calibration_error": expected_calibration_error(&scored),
        "threshold_sweep": sweep(&scored),
        "train_seconds": train_seconds,
        "p50_ms": quantile_ms(&mut latencies, 0.5),
        "p99_ms": quantile_ms(&mut latencies, 0.99),
    }))
}

/// Expected calibration error of the best candidate's confidence (10 equal-width bins; out-of-scope rows count as
/// wrong).
fn expected_calibration_error(scored: &[(f32, bool, bool)]) -> f64 {
    let mut bins = [(0.0f64, 0.0f64, 0usize); 10];
    for &(c, right, _) in scored {
        let b = ((c * 10.0) as usize).min(9);
        bins[b].0 += f64::from(c);
        bins[b].1 += if right { 1.0 } else { 0.0 };
        bins[b].2 += 1;
    }
    let n = scored.len().max(1) as f64;
    bins.iter().filter(|b| b.2 > 0).map(|b| (b.0 - b.1).abs() / n).sum()
}

/// In-scope accuracy, answered precision and out-of-scope recall if the answer threshold were each of a few values.
fn sweep(scored: &[(f32, bool, bool)]) -> Value {
    let n_in = scored.iter().filter(|s| !s.2).count().max(1) as f64;
    let n_oos = scored.iter().filter(|s| s.2).count();
    let rows: Vec<Value> = [0.2f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        .iter()
        .map(|&t| {
            let answered: Vec<&(f32, bool, bool)> = scored.iter().filter(|s| s.0 >= t).collect();
            let right = answered.iter().filter(|s| s.1).count() as f64;
            let oos_answered = answered.iter().filter(|s| s.2).count();
            json!({
                "answer_threshold": t,
                "accuracy": right / n_in,
                "answered_precision": if answered.is_empty() { Value::Null } else { json!(right / answered.len() as f64) },
                "oos_recall": if n_oos == 0 { Value::Null } else { json!(1.0 - oos_answered as f64 / n_oos as f64) },
            })
        })
        .collect();
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> anyhow::Result<PathBuf> {
        let path = std::env::temp_dir().join(format!("lingxi-eval-{}-{name}", std::process::id()));
        std::fs::write(&path, body)?;
        Ok(path)
    }

    #[test]
    fn reports_every_contract_field() -> anyhow::Result<()> {
        let train = write(
            "train.csv",
            "text,label,extra\n怎么退款,refund,x\n退款多久到账,refund,x\nwhere is my package,shipping,x\n\
             快递到哪了,shipping,x\n讲个笑话,oos,x\n",
        )?;
        let test = write("test.csv", "label,text\nrefund,我要退款\nshipping,my package\noos,今天天气\n")?;
        let args = IntentsArgs {
            train,
            test,
            oos_label: Some("oos".into()),
            embeddings: None,
            format: Format::Json,
            dump: None,
        };
        let report = run(&args)?;
        for field in [
            "n_train",
            "n_test",
            "top1_accuracy",
            "top3_accuracy",
            "accuracy",
            "macro_f1",
            "answer_rate",
            "answered_precision",
            "oos_recall",
            "train_seconds",
            "p50_ms",
            "p99_ms",
        ] {
            assert!(report.get(field).is_some(), "missing {field}: {report}");
        }
        assert_eq!(report["n_train"], 5);
        assert_eq!(report["n_test"], 3);
        assert!(report["oos_recall"].is_number());
        Ok(())
    }

    #[test]
    fn refuses_files_without_text_and_label() -> anyhow::Result<()> {
        let bad = write("bad.csv", "question,answer\na,b\n")?;
        let args = IntentsArgs {
            train: bad.clone(),
            test: bad,
            oos_label: None,
            embeddings: None,
            format: Format::Json,
            dump: None,
        };
        assert!(run(&args).is_err());
        Ok(())
    }
}
