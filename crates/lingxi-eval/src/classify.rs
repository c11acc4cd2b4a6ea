//! `eval classify`: the ticket classifier ([`lingxi_nlp::TicketClassifier`]) as ticket routing uses it.
//!
//! Train on labelled tickets, classify every test ticket, and report top-1 accuracy and macro F1 over all of them,
//! then what the triage threshold does: the share of tickets whose confidence is below it (they would go to a
//! triage group) and the accuracy of the others (routed automatically), with a sweep of thresholds and the
//! calibration error of the confidence. Either `--test` names a test file, or `--holdout F --seed N` splits the
//! training file: a deterministic stratified split (within each label, a seeded shuffle, then the first
//! `round(F × n)` rows are held out, always leaving at least one row of the label to train on).
//!
//! Ticket text is long: the analyser reads the first 600 characters of each text, which bounds training and
//! prediction time whatever the length (see the crate README of `lingxi-nlp`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use lingxi_nlp::{DEFAULT_TRIAGE_THRESHOLD, IntentConfig, TicketClassifier, Utterance};
use serde_json::{Value, json};

use crate::Format;
use crate::data::{Row, read_rows};
use crate::metrics::{macro_f1, quantile_ms};

/// Arguments of `eval classify`.
#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// Labelled tickets: CSV with `text` and `label` (text = subject, then body).
    #[arg(long)]
    pub train: PathBuf,
    /// Test tickets: CSV with `text` and `label`. Without it, `--holdout` splits `--train`.
    #[arg(long, conflicts_with = "holdout")]
    pub test: Option<PathBuf>,
    /// Hold out this fraction of `--train` (stratified by label) as the test set.
    #[arg(long)]
    pub holdout: Option<f64>,
    /// The seed of the holdout split and of training.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Confidence below which a ticket goes to triage (default: the engine's, 0.5).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Also write every test row's classification to this CSV (text, label, predicted, confidence, triage).
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

/// A SplitMix64 generator: the split must not depend on a crate's version.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Splits rows into (train, test): within each label, a seeded shuffle, then `round(fraction × n)` rows to test,
/// at most `n − 1`. Rows keep their file order within each side.
pub(crate) fn stratified_split(rows: Vec<Row>, fraction: f64, seed: u64) -> (Vec<Row>, Vec<Row>) {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        by_label.entry(row.label.as_str()).or_default().push(i);
    }
    let mut rng = SplitMix(seed);
    let mut is_test = vec![false; rows.len()];
    for indices in by_label.values_mut() {
        rng.shuffle(indices);
        let n = indices.len();
        let k = ((fraction * n as f64).round() as usize).min(n.saturating_sub(1));
        for &i in indices.iter().take(k) {
            is_test[i] = true;
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (row, t) in rows.into_iter().zip(is_test) {
        if t { test.push(row) } else { train.push(row) }
    }
    (train, test)
}

pub(crate) fn run(args: &ClassifyArgs) -> anyhow::Result<Value> {
    let rows = read_rows(&args.train)?;
    let (train, test) = match (&args.test, args.holdout) {
        (Some(path), None) => (rows, read_rows(path)?),
        (None, Some(f)) if f > 0.0 && f < 1.0 => stratified_split(rows, f, args.seed),
        (None, Some(f)) => bail!("--holdout must be between 0 and 1 (got {f})"),
        (Some(_), Some(_)) => bail!("give either --test or --holdout, not both"),
        (None, None) => bail!("give --test FILE, or --holdout FRACTION to split --train"),
    };
    let threshold = args.threshold.unwrap_or(DEFAULT_TRIAGE_THRESHOLD);
    if !(0.0..=1.0).contains(&threshold) {
        bail!("--threshold must be between 0 and 1 (got {threshold})");
    }
    let examples: Vec<Utterance> = train.iter().map(|r| Utterance::new(r.text.clone(), r.label.clone())).collect();
    eprintln!("training on {} tickets", examples.len());
    let started = Instant::now();
    let config = IntentConfig { seed: args.seed, ..IntentConfig::default() };
    let classifier = TicketClassifier::train(&examples, &config)?.with_threshold(threshold);
    let train_seconds = started.elapsed().as_secs_f64();
    eprintln!("trained in {train_seconds:.2} s; classifying {} test tickets", test.len());

    let mut dump = match &args.dump {
        Some(path) => {
            let mut w = csv::Writer::from_path(path)?;
            w.write_record(["text", "label", "predicted", "confidence", "triage"])?;
            Some(w)
        }
        None => None,
    };
    let mut latencies: Vec<Duration> = Vec::with_capacity(test.len());
    let mut pairs: Vec<(String, Option<String>)> = Vec::with_capacity(test.len());
    let mut scored: Vec<(f32, bool)> = Vec::with_capacity(test.len());
    let predict_started = Instant::now();
    for row in &test {
        let started = Instant::now();
        let class = classifier.classify(&row.text);
        latencies.push(started.elapsed());
        let right = class.label.as_deref() == Some(row.label.as_str());
        scored.push((class.confidence, right));
        if let Some(w) = dump.as_mut() {
            w.write_record([
                row.text.as_str(),
                row.label.as_str(),
                class.label.as_deref().unwrap_or(""),
                &format!("{:.4}", class.confidence),
                if class.needs_triage { "1" } else { "0" },
            ])?;
        }
        pairs.push((row.label.clone(), class.label));
    }
    let predict_seconds = predict_started.elapsed().as_secs_f64();
    if let Some(mut w) = dump {
        w.flush()?;
    }

    let share = |a: usize, b: usize| if b == 0 { Value::Null } else { json!(a as f64 / b as f64) };
    let right = scored.iter().filter(|s| s.1).count();
    let routed: Vec<&(f32, bool)> = scored.iter().filter(|s| s.0 >= threshold).collect();
    let routed_right = routed.iter().filter(|s| s.1).count();
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in &train {
        counts.entry(r.label.as_str()).or_default().0 += 1;
    }
    for r in &test {
        counts.entry(r.label.as_str()).or_default().1 += 1;
    }
    let majority = train_majority(&train);
    let majority_right = test.iter().filter(|r| Some(r.label.as_str()) == majority.as_deref()).count();
    let labels: Vec<Value> =
        counts.iter().map(|(l, (a, b))| json!({ "label": l, "n_train": a, "n_test": b })).collect();
    Ok(json!({
        "n_train": train.len(),
        "n_test": test.len(),
        "n_labels": classifier.labels().len(),
        "labels": labels,
        "split": match args.holdout {
            Some(f) => json!({ "holdout": f, "seed": args.seed, "stratified": true }),
            None => Value::Null,
        },
        "accuracy": share(right, test.len()),
        "majority_baseline_accuracy": share(majority_right, test.len()),
        "macro_f1": macro_f1(&pairs),
        "threshold": threshold,
        "triage_share": share(test.len() - routed.len(), test.len()),
        "auto_routed_share": share(routed.len(), test.len()),
        "accuracy_when_auto_routed": share(routed_right, routed.len()),
        "mean_confidence": if scored.is_empty() { Value::Null } else {
            json!(scored.iter().map(|s| f64::from(s.0)).sum::<f64>() / scored.len() as f64)
        },
        "calibration_error": expected_calibration_error(&scored),
        "threshold_sweep": sweep(&scored),
        "train_seconds": train_seconds,
        "predict_seconds": predict_seconds,
        "predict_p50_ms": quantile_ms(&mut latencies, 0.5),
        "predict_p99_ms": quantile_ms(&mut latencies, 0.99),
    }))
}

/// The most frequent training label (ties: the first in label order).
fn train_majority(train: &[Row]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in train {
        *counts.entry(r.label.as_str()).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(l, _)| l.to_owned())
}

/// Expected calibration error of the best label's confidence (10 equal-width bins).
fn expected_calibration_error(scored: &[(f32, bool)]) -> f64 {
    let mut bins = [(0.0f64, 0.0f64, 0usize); 10];
    for &(c, right) in scored {
        let b = ((c * 10.0) as usize).min(9);
        bins[b].0 += f64::from(c);
        bins[b].1 += if right { 1.0 } else { 0.0 };
        bins[b].2 += 1;
    }
    let n = scored.len().max(1) as f64;
    bins.iter().filter(|b| b.2 > 0).map(|b| (b.0 - b.1).abs() / n).sum()
}

/// Triage share and accuracy of the routed tickets for a few thresholds.
fn sweep(scored: &[(f32, bool)]) -> Value {
    let n = scored.len().max(1) as f64;
    let rows: Vec<Value> = [0.3f32, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        .iter()
        .map(|&t| {
            let routed: Vec<&(f32, bool)> = scored.iter().filter(|s| s.0 >= t).collect();
            let right = routed.iter().filter(|s| s.1).count() as f64;
            json!({
                "threshold": t,
                "triage_share": 1.0 - routed.len() as f64 / n,
                "accuracy_when_auto_routed": if routed.is_empty() { Value::Null } else { json!(right / routed.len() as f64) },
            })
        })
        .collect();
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> anyhow::Result<PathBuf> {
        let path = std::env::temp_dir().join(format!("lingxi-eval-classify-{}-{name}", std::process::id()));
        std::fs::write(&path, body)?;
        Ok(path)
    }

    const TICKETS: &str = "text,label\n\
        退款申请. 商品破损要求退款,refund\n\
        申请退款. 订单取消了钱没退,refund\n\
        退款什么时候到账. 已经一周了,refund\n\
        Refund request. My headphones arrived broken,refund\n\
        Refund not received. I returned the item weeks ago,refund\n\
        Please refund my order. It arrived damaged,refund\n\
        物流没有更新. 快递到哪里了,shipping\n\
        快递还没到. 请查一下物流,shipping\n\
        什么时候发货. 发货太慢了,shipping\n\
        Where is my package. Tracking has not moved,shipping\n\
        Parcel late. The courier never came,shipping\n\
        Order not shipped. Still not dispatched,shipping\n\
        发票抬头错了. 需要重新开发票,invoice\n\
        开增值税专用发票. 公司报销用,invoice\n\
        发票什么时候寄出. 急用,invoice\n\
        VAT invoice. I need one for my company,invoice\n\
        Wrong invoice. The company name is wrong,invoice\n\
        Invoice request. Please send the invoice for order 1234,invoice\n";

    fn args(train: PathBuf) -> ClassifyArgs {
        ClassifyArgs {
            train,
            test: None,
            holdout: Some(0.34),
            seed: 7,
            threshold: None,
            format: Format::Json,
            dump: None,
        }
    }

    #[test]
    fn reports_every_contract_field_on_a_holdout() -> anyhow::Result<()> {
        let train = write("tickets.csv", TICKETS)?;
        let report = run(&args(train))?;
        for field in [
            "n_train",
            "n_test",
            "labels",
            "accuracy",
            "macro_f1",
            "threshold",
            "triage_share",
            "accuracy_when_auto_routed",
            "calibration_error",
            "threshold_sweep",
            "train_seconds",
            "predict_seconds",
        ] {
            assert!(report.get(field).is_some(), "missing {field}: {report}");
        }
        assert_eq!(report["n_train"], 12);
        assert_eq!(report["n_test"], 6, "two of six per label");
        assert_eq!(report["n_labels"], 3);
        assert_eq!(report["threshold"], f64::from(DEFAULT_TRIAGE_THRESHOLD));
        assert_eq!(report["labels"][0], json!({ "label": "invoice", "n_train": 4, "n_test": 2 }));
        let accuracy = report["accuracy"].as_f64().expect("a number");
        assert!(accuracy >= 0.5, "{report}");
        Ok(())
    }

    #[test]
    fn takes_a_separate_test_file_and_a_threshold() -> anyhow::Result<()> {
        let train = write("train.csv", TICKETS)?;
        let test = write("test.csv", "label,text\nrefund,我要退款 东西坏了\nshipping,where is my parcel\n")?;
        let dump = std::env::temp_dir().join(format!("lingxi-eval-classify-{}-dump.csv", std::process::id()));
        let a = ClassifyArgs {
            test: Some(test),
            holdout: None,
            threshold: Some(0.0),
            dump: Some(dump.clone()),
            ..args(train)
        };
        let report = run(&a)?;
        assert_eq!(report["n_train"], 18);
        assert_eq!(report["n_test"], 2);
        assert_eq!(report["triage_share"], 0.0, "nothing is below 0");
        assert_eq!(report["split"], Value::Null);
        let written = std::fs::read_to_string(dump)?;
        assert_eq!(written.lines().count(), 3);
        Ok(())
    }

    #[test]
    fn refuses_a_missing_test_set_and_bad_numbers() -> anyhow::Result<()> {
        let train = write("refuse.csv", TICKETS)?;
        assert!(run(&ClassifyArgs { holdout: None, ..args(train.clone()) }).is_err());
        assert!(run(&ClassifyArgs { holdout: Some(1.0), ..args(train.clone()) }).is_err());
        assert!(run(&ClassifyArgs { threshold: Some(1.5), ..args(train) }).is_err());
        Ok(())
    }

    #[test]
    fn the_split_is_stratified_and_deterministic() {
        let rows: Vec<Row> = (0..100)
            .map(|i| Row { text: format!("t{i}"), label: if i % 10 == 0 { "rare".into() } else { "common".into() } })
            .chain(std::iter::once(Row { text: "single".into(), label: "one".into() }))
            .collect();
        let (train, test) = stratified_split(rows.clone(), 0.2, 7);
        assert_eq!(test.len(), 20);
        assert_eq!(test.iter().filter(|r| r.label == "rare").count(), 2);
        assert!(train.iter().any(|r| r.label == "one"), "a lone label stays in training");
        let (_, again) = stratified_split(rows.clone(), 0.2, 7);
        assert_eq!(test.iter().map(|r| &r.text).collect::<Vec<_>>(), again.iter().map(|r| &r.text).collect::<Vec<_>>());
        let (_, other) = stratified_split(rows, 0.2, 8);
        assert_ne!(test.iter().map(|r| &r.text).collect::<Vec<_>>(), other.iter().map(|r| &r.text).collect::<Vec<_>>());
    }
}
