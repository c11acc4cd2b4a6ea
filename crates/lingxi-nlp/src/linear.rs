//! A sparse multinomial logistic-regression classifier trained by SGD with a sampled softmax.
//!
//! Weights are stored per feature as a short list of (class, weight), so memory grows with the number of
//! (feature, class) pairs that actually co-occur, not with features × classes; a knowledge base with thousands of
//! entries stays small. Each SGD step updates the true class and the few highest-scoring wrong classes.

use crate::hash::Rng;
use crate::vectorizer::SparseVec;

/// Hyper-parameters of the classifier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinearParams {
    pub epochs: usize,
    pub eta0: f32,
    pub lambda: f32,
    pub negatives: usize,
    /// An example whose true class gets more than this probability counts as easy.
    pub easy: f32,
    pub seed: u64,
}

impl Default for LinearParams {
    fn default() -> Self {
        LinearParams {
            epochs: 12,
            eta0: 0.5,
            lambda: 1e-5,
            negatives: 8,
            easy: 0.98,
            seed: 17,
        }
    }
}

/// A trained sparse linear classifier.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinearModel {
    bias: Vec<f32>,
    offsets: Vec<u32>,
    entries: Vec<(u32, f32)>,
}

const ABSENT: f32 = -1.0e9;

/// Rows with more classes than this switch to dense storage during training.
const DENSE_AFTER: usize = 24;

/// The weights of one feature during training.
#[derive(Debug, Clone)]
enum Row {
    Sparse(Vec<(u32, f32)>),
    Dense(Vec<f32>),
}

impl Row {
    fn add(&mut self, class: u32, delta: f32, n_classes: usize) {
        match self {
            Row::Dense(row) => {
                if let Some(w) = row.get_mut(class as usize) {
                    *w += delta;
                }
            }
            Row::Sparse(row) => {
                if let Some(e) = row.iter_mut().find(|e| e.0 == class) {
                    e.1 += delta;
                } else if row.len() < DENSE_AFTER {
                    row.push((class, delta));
                } else {
                    let mut dense = vec![0.0f32; n_classes];
                    for &(c, w) in row.iter() {
                        dense[c as usize] = w;
                    }
                    if let Some(w) = dense.get_mut(class as usize) {
                        *w += delta;
                    }
                    *self = Row::Dense(dense);
                }
            }
        }
    }

    fn scale(&mut self, by: f32) {
        match self {
            Row::Dense(row) => row.iter_mut().for_each(|w| *w *= by),
            Row::Sparse(row) => row.iter_mut().for_each(|e| e.1 *= by),
        }
    }

    fn into_entries(self) -> Vec<(u32, f32)> {
        match self {
            Row::Sparse(mut row) => {
                row.sort_unstable_by_key(|e| e.0);
                row
            }
            Row::Dense(row) => row
                .into_iter()
                .enumerate()
                .map(|(c, w)| (c as u32, w))
                .collect(),
        }
    }
}

impl LinearModel {
    /// Trains on vectors `xs` with classes `ys` (all below `n_classes`); classes never seen are never predicted.
    pub(crate) fn train(
        xs: &[&SparseVec],
        ys: &[u32],
        n_features: usize,
        n_classes: usize,
        params: &LinearParams,
    ) -> LinearModel {
        let mut present = vec![false; n_classes];
        for &y in ys {
            if let Some(p) = present.get_mut(y as usize) {
                *p = true;
            }
        }
        let mut rows: Vec<Row> = vec![Row::Sparse(Vec::new()); n_features];
        let mut bias: Vec<f32> = present
            .iter()
            .map(|&p| if p { 0.0 } else { ABSENT })
            .collect();
        let mut scale = 1.0f32;
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = Rng::new(params.seed);
        let mut scores = vec![0.0f32; n_classes];
        let mut cand: Vec<(u32, f32)> = Vec::with_capacity(params.negatives + 1);
        let mut t = 0usize;
        let n_present = present.iter().filter(|p| **p).count();
        // Examples the model already gets right with a wide margin are revisited only every other epoch.
        let mut easy = vec![false; xs.len()];
        for epoch in 0..params.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                if easy[i] && (i + epoch) % 2 == 0 {
                    continue;
                }
                let (x, y) = (xs[i], ys[i]);
                scores.copy_from_slice(&bias);
                for &(f, v) in x.iter() {
                    let vs = v * scale;
                    match &rows[f as usize] {
                        Row::Sparse(row) => {
                            for &(c, w) in row {
                                scores[c as usize] += vs * w;
                            }
                        }
                        Row::Dense(row) => {
                            for (s, w) in scores.iter_mut().zip(row) {
                                *s += vs * w;
                            }
                        }
                    }
                }
                cand.clear();
                for (c, &s) in scores.iter().enumerate() {
                    if c as u32 == y || s <= ABSENT / 2.0 {
                        continue;
                    }
                    if cand.len() < params.negatives {
                        cand.push((c as u32, s));
                        cand.sort_by(|a, b| b.1.total_cmp(&a.1));
                    } else if cand.last().is_some_and(|l| s > l.1) {
                        cand.pop();
                        let pos = cand.partition_point(|e| e.1 >= s);
                        cand.insert(pos, (c as u32, s));
                    }
                }
                cand.push((y, scores[y as usize]));
                let max = cand.iter().map(|e| e.1).fold(f32::MIN, f32::max);
                let z: f32 = cand.iter().map(|e| (e.1 - max).exp()).sum();
                easy[i] = (scores[y as usize] - max).exp() / z > params.easy;
                let eta = params.eta0 / (1.0 + params.eta0 * params.lambda * t as f32);
                t += 1;
                scale *= 1.0 - eta * params.lambda;
                for &(c, s) in &cand {
                    let p = (s - max).exp() / z;
                    let g = if c == y { p - 1.0 } else { p };
                    if g.abs() < 1e-4 || n_present < 2 {
                        continue;
                    }
                    let step = -eta * g / scale;
                    for &(f, v) in x.iter() {
                        rows[f as usize].add(c, step * v, n_classes);
                    }
                    bias[c as usize] -= eta * g * 0.1;
                }
                if scale < 1e-3 {
                    for row in &mut rows {
                        row.scale(scale);
                    }
                    scale = 1.0;
                }
            }
        }
        let mut offsets = Vec::with_capacity(n_features + 1);
        let mut entries = Vec::new();
        offsets.push(0);
        for row in rows {
            let kept = row
                .into_entries()
                .into_iter()
                .filter(|e| e.1.abs() * scale > 1e-6);
            entries.extend(kept.map(|(c, w)| (c, w * scale)));
            offsets.push(entries.len() as u32);
        }
        LinearModel {
            bias,
            offsets,
            entries,
        }
    }

    /// Class probabilities (softmax over the classes seen in training; unseen classes get 0).
    pub(crate) fn probabilities(&self, x: &SparseVec) -> Vec<f32> {
        let mut scores = self.bias.clone();
        for &(f, v) in x {
            let from = self.offsets.get(f as usize).copied().unwrap_or(0) as usize;
            let to = self.offsets.get(f as usize + 1).copied().unwrap_or(0) as usize;
            for &(c, w) in self.entries.get(from..to).unwrap_or(&[]) {
                if let Some(s) = scores.get_mut(c as usize) {
                    *s += v * w;
                }
            }
        }
        let max = scores.iter().copied().fold(f32::MIN, f32::max);
        let mut z = 0.0;
        for s in &mut scores {
            *s = if *s <= ABSENT / 2.0 {
                0.0
            } else {
                (*s - max).exp()
            };
            z += *s;
        }
        if z > 0.0 {
            for s in &mut scores {
                *s /= z;
            }
        }
        scores
    }
}
