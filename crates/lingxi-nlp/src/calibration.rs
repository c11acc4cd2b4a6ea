//! The confidence model: a small logistic regression from candidate features to P(candidate is right).
//!
//! It is fitted on out-of-fold predictions of the knowledge base itself (see `intent.rs`), by Newton's method with
//! an L2 penalty that pulls the weights towards a fixed prior, so a knowledge base too small to calibrate on gets the
//! prior's behaviour rather than a degenerate fit.

/// The number of candidate features (see `CandidateFeatures::to_array`).
pub(crate) const N_FEATURES: usize = 16;

/// What the confidence model knows about one candidate label for one query.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CandidateFeatures {
    /// Classifier probability of the label.
    pub prob: f32,
    /// Its probability minus the best probability of any other label.
    pub prob_margin: f32,
    /// Best BM25 score of the label's questions relative to the query's self-score.
    pub bm25: f32,
    /// That score minus the best score of any other label.
    pub bm25_margin: f32,
    /// Whether the label is the classifier's first choice.
    pub clf_top: bool,
    /// Whether the label is retrieval's first choice.
    pub bm25_top: bool,
    /// Share of the query's feature weight known to the knowledge base.
    pub coverage: f32,
    /// Classifier probability of the out-of-scope class (0 without out-of-scope examples).
    pub oos_prob: f32,
    /// Best BM25 score of an out-of-scope example.
    pub oos_bm25: f32,
    /// Best embedding cosine of the label's questions, as a z-score over the labels for this query, ÷ 4 (0 without an
    /// encoder).
    pub emb: f32,
    /// That score minus the best score of any other label.
    pub emb_margin: f32,
    /// Probability of the label under the softmax head over embeddings (0 without an encoder).
    pub emb_prob: f32,
    /// That probability minus the best of any other label.
    pub emb_prob_margin: f32,
}

impl CandidateFeatures {
    /// The feature vector, with a leading constant.
    pub(crate) fn to_array(self) -> [f32; N_FEATURES] {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        [
            1.0,
            self.prob,
            (self.prob + 1e-4).ln() / 5.0,
            self.prob_margin,
            self.bm25,
            self.bm25_margin,
            flag(self.clf_top),
            flag(self.bm25_top),
            self.coverage,
            self.oos_prob,
            self.oos_bm25,
            self.emb,
            self.emb_margin,
            self.bm25 * self.prob,
            self.emb_prob,
            self.emb_prob_margin,
        ]
    }
}

/// Weights used when there is nothing to learn from, and the centre the fit is pulled towards.
pub(crate) const PRIOR: [f32; N_FEATURES] =
    [-5.0, 2.0, 0.5, 2.0, 3.0, 3.0, 0.5, 0.5, 1.5, -2.0, -1.0, 0.0, 0.0, 1.0, 1.5, 1.5];

/// One training sample of the confidence model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub x: [f32; N_FEATURES],
    pub correct: bool,
    pub weight: f32,
}

/// A fitted confidence model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Calibrator {
    w: [f32; N_FEATURES],
}

impl Default for Calibrator {
    fn default() -> Self {
        Calibrator { w: PRIOR }
    }
}

impl Calibrator {
    /// Fits the model by Newton's method; `strength` is the L2 pull towards the prior.
    #[allow(clippy::needless_range_loop)] // Index loops read like the textbook algorithm.
    pub(crate) fn fit(samples: &[Sample], strength: f64) -> Calibrator {
        let prior: Vec<f64> = PRIOR.iter().map(|&v| f64::from(v)).collect();
        let mut w = prior.clone();
        for _ in 0..25 {
            let mut grad = vec![0.0f64; N_FEATURES];
            let mut hess = vec![vec![0.0f64; N_FEATURES]; N_FEATURES];
            for s in samples {
                let x: Vec<f64> = s.x.iter().map(|&v| f64::from(v)).collect();
                let z: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
                let p = 1.0 / (1.0 + (-z).exp());
                let y = if s.correct { 1.0 } else { 0.0 };
                let sw = f64::from(s.weight);
                let r = p * (1.0 - p) * sw;
                for i in 0..N_FEATURES {
                    grad[i] += sw * (p - y) * x[i];
                    for j in 0..N_FEATURES {
                        hess[i][j] += r * x[i] * x[j];
                    }
                }
            }
            for i in 0..N_FEATURES {
                grad[i] += strength * (w[i] - prior[i]);
                hess[i][i] += strength;
            }
            let Some(step) = solve(hess, grad) else { break };
            // Damped Newton: halve the step until the penalised loss does not increase, so the fit cannot diverge.
            let current = objective(samples, &w, &prior, strength);
            let mut alpha = 1.0f64;
            let mut accepted = false;
            for _ in 0..30 {
                let trial: Vec<f64> = w.iter().zip(&step).map(|(wi, si)| wi - alpha * si).collect();
                if objective(samples, &trial, &prior, strength) <= current {
                    w = trial;
                    accepted = true;
                    break;
                }
                alpha /= 2.0;
            }
            let max_step = step.iter().fold(0.0f64, |m, s| m.max((alpha * s).abs()));
            if !accepted || max_step < 1e-6 {
                break;
            }
        }
        let mut out = [0.0f32; N_FEATURES];
        for (o, v) in out.iter_mut().zip(&w) {
            *o = *v as f32;
        }
        Calibrator { w: out }
    }

    /// P(candidate is right) for a candidate's features.
    pub(crate) fn confidence(&self, features: &CandidateFeatures) -> f32 {
        let x = features.to_array();
        let z: f32 = x.iter().zip(&self.w).map(|(a, b)| a * b).sum();
        1.0 / (1.0 + (-z).exp())
    }
}

/// The penalised negative log-likelihood minimised by `Calibrator::fit`.
fn objective(samples: &[Sample], w: &[f64], prior: &[f64], strength: f64) -> f64 {
    let mut loss = 0.0;
    for s in samples {
        let z: f64 = s.x.iter().zip(w).map(|(a, b)| f64::from(*a) * b).sum();
        // log(1 + e^z) − y·z, computed without overflow.
        let softplus = if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() };
        let y = if s.correct { z } else { 0.0 };
        loss += f64::from(s.weight) * (softplus - y);
    }
    let penalty: f64 = w.iter().zip(prior).map(|(a, b)| (a - b) * (a - b)).sum();
    loss + 0.5 * strength * penalty
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
#[allow(clippy::needless_range_loop)] // Index loops read like the textbook algorithm.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(prob: f32, bm25: f32, correct: bool) -> Sample {
        let features = CandidateFeatures { prob, prob_margin: prob - 0.5, bm25, coverage: 1.0, ..Default::default() };
        Sample { x: features.to_array(), correct, weight: 1.0 }
    }

    /// Regression: undamped Newton steps diverged (weights in the thousands) on nearly separable data.
    #[test]
    fn fit_stays_bounded_on_separable_data() {
        let mut samples = Vec::new();
        for i in 0..500 {
            let p = i as f32 / 500.0;
            samples.push(sample(p, p, p > 0.5));
        }
        let calibrator = Calibrator::fit(&samples, 2.0);
        assert!(calibrator.w.iter().all(|w| w.is_finite() && w.abs() < 100.0), "{calibrator:?}");
        let low = calibrator.confidence(&CandidateFeatures { prob: 0.1, bm25: 0.1, ..Default::default() });
        let high =
            calibrator.confidence(&CandidateFeatures { prob: 0.9, bm25: 0.9, prob_margin: 0.8, ..Default::default() });
        assert!(low < 0.5 && high > 0.5, "low {low}, high {high}");
    }

    #[test]
    fn no_samples_keep_the_prior() {
        let calibrator = Calibrator::fit(&[], 2.0);
        assert_eq!(calibrator.w, PRIOR);
    }
}
