//! Metrics shared by the evaluation commands.

use std::collections::BTreeMap;
use std::time::Duration;

/// The `q`-quantile (0..=1) of latencies in milliseconds.
pub(crate) fn quantile_ms(latencies: &mut [Duration], q: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.sort_unstable();
    let idx = ((latencies.len() - 1) as f64 * q).round() as usize;
    latencies[idx.min(latencies.len() - 1)].as_secs_f64() * 1000.0
}

/// Macro-averaged F1 over the gold labels, from (gold, predicted) pairs; `None` predictions count as wrong.
pub(crate) fn macro_f1(pairs: &[(String, Option<String>)]) -> f64 {
    let mut tp: BTreeMap<&str, f64> = BTreeMap::new();
    let mut gold: BTreeMap<&str, f64> = BTreeMap::new();
    let mut pred: BTreeMap<&str, f64> = BTreeMap::new();
    for (g, p) in pairs {
        *gold.entry(g).or_default() += 1.0;
        if let Some(p) = p {
            *pred.entry(p).or_default() += 1.0;
            if p == g {
                *tp.entry(g).or_default() += 1.0;
            }
        }
    }
    if gold.is_empty() {
        return 0.0;
    }
    let mut sum = 0.0;
    for (label, n_gold) in &gold {
        let t = tp.get(label).copied().unwrap_or(0.0);
        let n_pred = pred.get(label).copied().unwrap_or(0.0);
        if t > 0.0 {
            let precision = t / n_pred;
            let recall = t / n_gold;
            sum += 2.0 * precision * recall / (precision + recall);
        }
    }
    sum / gold.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_of_a_perfect_and_a_half_wrong_prediction() {
        let s = |v: &str| v.to_string();
        assert!((macro_f1(&[(s("a"), Some(s("a"))), (s("b"), Some(s("b")))]) - 1.0).abs() < 1e-9);
        let f = macro_f1(&[(s("a"), Some(s("a"))), (s("b"), Some(s("a")))]);
        assert!((f - (2.0 / 3.0) / 2.0).abs() < 1e-9, "{f}");
    }

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((quantile_ms(&mut v, 0.5) - 51.0).abs() < 1e-9);
        assert!((quantile_ms(&mut v, 0.99) - 99.0).abs() < 1e-9);
    }
}
