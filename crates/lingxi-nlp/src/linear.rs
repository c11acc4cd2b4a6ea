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
        LinearParams { epochs: 12, eta0: 0.5, lambda: 1e-5, negatives: 8, easy: 0.98, seed: 17 }
    }
}

/// A trained sparse linear classifier.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinearModel {
    bias: Vec<f32>,
    /// Per feature: its weights as sparse entries, or as a dense slice over all classes.
    rows: Vec<StoredRow>,
    entries: Vec<(u32, f32)>,
    dense: Vec<f32>,
}

/// Where one feature's weights live.
#[derive(Debug, Clone, Copy)]
enum StoredRow {
    Sparse { from: u32, to: u32 },
    Dense { from: u32 },
}

const ABSENT: f32 = -1.0e9;

/// Random extra negatives per step when training with confusable classes.
const RANDOM_NEGATIVES: usize = 4;

/// Rows with more classes than this (or than half the classes) switch to dense storage during training.
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
                } else if row.len() < DENSE_AFTER.min(n_classes / 2 + 1) {
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

    fn get(&self, class: u32) -> f32 {
        match self {
            Row::Dense(row) => row.get(class as usize).copied().unwrap_or(0.0),
            Row::Sparse(row) => row.iter().find(|e| e.0 == class).map_or(0.0, |e| e.1),
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
            Row::Dense(row) => row.into_iter().enumerate().map(|(c, w)| (c as u32, w)).collect(),
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
        confusable: Option<&[Vec<u32>]>,
        params: &LinearParams,
    ) -> LinearModel {
        let mut slot = vec![u32::MAX; n_classes];
        let mut present = vec![false; n_classes];
        for &y in ys {
            if let Some(p) = present.get_mut(y as usize) {
                *p = true;
            }
        }
        let mut rows: Vec<Row> = vec![Row::Sparse(Vec::new()); n_features];
        let mut bias: Vec<f32> = present.iter().map(|&p| if p { 0.0 } else { ABSENT }).collect();
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
                cand.clear();
                match confusable.and_then(|c| c.get(y as usize)) {
                    Some(near) => {
                        // Many classes: score only the classes this one is confusable with, plus a few at random.
                        for &c in near.iter().filter(|&&c| c != y && present[c as usize]) {
                            cand.push((c, 0.0));
                        }
                        for _ in 0..RANDOM_NEGATIVES {
                            let c = rng.below(n_classes) as u32;
                            if c != y && present[c as usize] && !cand.iter().any(|e| e.0 == c) {
                                cand.push((c, 0.0));
                            }
                        }
                        cand.push((y, 0.0));
                        for (j, e) in cand.iter_mut().enumerate() {
                            slot[e.0 as usize] = j as u32;
                            e.1 = bias[e.0 as usize];
                        }
                        for &(f, v) in x.iter() {
                            let vs = v * scale;
                            match &rows[f as usize] {
                                Row::Sparse(row) => {
                                    for &(c, w) in row {
                                        if let Some(e) = cand.get_mut(slot[c as usize] as usize) {
                                            e.1 += vs * w;
                                        }
                                    }
                                }
                                Row::Dense(row) => {
                                    for e in cand.iter_mut() {
                                        e.1 += vs * row[e.0 as usize];
                                    }
                                }
                            }
                        }
                        for e in &cand {
                            slot[e.0 as usize] = u32::MAX;
                        }
                        cand.pop();
                        scores[y as usize] = bias[y as usize];
                        for &(f, v) in x.iter() {
                            scores[y as usize] += v * scale * rows[f as usize].get(y);
                        }
                    }
                    None => {
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
        let mut stored = Vec::with_capacity(n_features);
        let mut entries = Vec::new();
        let mut dense = Vec::new();
        for row in rows {
            let kept: Vec<(u32, f32)> = row
                .into_entries()
                .into_iter()
                .filter(|e| e.1.abs() * scale > 1e-6)
                .map(|(c, w)| (c, w * scale))
                .collect();
            if kept.len() * 4 > n_classes && kept.len() > 8 {
                let from = dense.len() as u32;
                dense.resize(dense.len() + n_classes, 0.0);
                for (c, w) in kept {
                    dense[from as usize + c as usize] = w;
                }
                stored.push(StoredRow::Dense { from });
            } else {
                let from = entries.len() as u32;
                entries.extend(kept);
                stored.push(StoredRow::Sparse { from, to: entries.len() as u32 });
            }
        }
        LinearModel { bias, rows: stored, entries, dense }
    }

    /// Class probabilities (softmax over the classes seen in training; unseen classes get 0).
    pub(crate) fn probabilities(&self, x: &SparseVec) -> Vec<f32> {
        let mut scores = self.bias.clone();
        let n = scores.len();
        for &(f, v) in x {
            match self.rows.get(f as usize) {
                Some(StoredRow::Sparse { from, to }) => {
                    for &(c, w) in self.entries.get(*from as usize..*to as usize).unwrap_or(&[]) {
                        if let Some(s) = scores.get_mut(c as usize) {
                            *s += v * w;
                        }
                    }
                }
                Some(StoredRow::Dense { from }) => {
                    let row = self.dense.get(*from as usize..*from as usize + n).unwrap_or(&[]);
                    for (s, w) in scores.iter_mut().zip(row) {
                        *s += v * w;
                    }
                }
                None => {}
            }
        }
        let max = scores.iter().copied().fold(f32::MIN, f32::max);
        let mut z = 0.0;
        for s in &mut scores {
            *s = if *s <= ABSENT / 2.0 { 0.0 } else { (*s - max).exp() };
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

/// For each class, the `k` classes whose examples look most alike (cosine of their summed tf-idf vectors).
pub(crate) fn confusable_classes(xs: &[&SparseVec], ys: &[u32], n_classes: usize, k: usize) -> Vec<Vec<u32>> {
    let mut triples: Vec<(u32, u32, f32)> = Vec::new();
    for (x, &y) in xs.iter().zip(ys) {
        triples.extend(x.iter().map(|&(f, v)| (y, f, v)));
    }
    triples.sort_unstable_by_key(|t| (t.0, t.1));
    let mut centroids: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_classes];
    for (y, f, v) in triples {
        let Some(centroid) = centroids.get_mut(y as usize) else {
            continue;
        };
        match centroid.last_mut() {
            Some(last) if last.0 == f => last.1 += v,
            _ => centroid.push((f, v)),
        }
    }
    let mut postings: std::collections::HashMap<u32, Vec<(u32, f32)>> = std::collections::HashMap::new();
    for (c, centroid) in centroids.iter_mut().enumerate() {
        let norm = centroid.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt().max(1e-9);
        for e in centroid.iter_mut() {
            e.1 /= norm;
            postings.entry(e.0).or_default().push((c as u32, e.1));
        }
    }
    let mut acc = vec![0.0f32; n_classes];
    centroids
        .iter()
        .enumerate()
        .map(|(c, centroid)| {
            acc.iter_mut().for_each(|a| *a = 0.0);
            // The class's strongest features are enough to find its neighbours.
            let mut strongest = centroid.clone();
            strongest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            strongest.truncate(32);
            for (f, v) in &strongest {
                for &(other, w) in postings.get(f).map_or(&[][..], Vec::as_slice) {
                    acc[other as usize] += v * w;
                }
            }
            let mut ranked: Vec<(u32, f32)> =
                acc.iter().enumerate().filter(|&(o, &s)| o != c && s > 0.0).map(|(o, &s)| (o as u32, s)).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.into_iter().take(k).map(|e| e.0).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class `c` is told apart by feature `c`; feature `n` is shared noise.
    fn toy(n_classes: usize) -> (Vec<SparseVec>, Vec<u32>) {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for c in 0..n_classes as u32 {
            for _ in 0..3 {
                xs.push(vec![(c, 0.8), (n_classes as u32, 0.6)]);
                ys.push(c);
            }
        }
        (xs, ys)
    }

    fn accuracy(model: &LinearModel, xs: &[SparseVec], ys: &[u32]) -> f32 {
        let right = xs
            .iter()
            .zip(ys)
            .filter(|(x, y)| {
                let p = model.probabilities(x);
                let best = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as u32);
                best == Some(**y)
            })
            .count();
        right as f32 / xs.len() as f32
    }

    #[test]
    fn learns_with_full_and_with_confusable_negatives() {
        for (n_classes, use_confusable) in [(5, false), (300, true)] {
            let (xs, ys) = toy(n_classes);
            let refs: Vec<&SparseVec> = xs.iter().collect();
            let confusable = use_confusable.then(|| confusable_classes(&refs, &ys, n_classes, 12));
            let model = LinearModel::train(
                &refs,
                &ys,
                n_classes + 1,
                n_classes,
                confusable.as_deref(),
                &LinearParams::default(),
            );
            assert!(accuracy(&model, &xs, &ys) > 0.99, "{n_classes} classes");
            let p = model.probabilities(&xs[0]);
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        }
    }

    #[test]
    fn classes_never_seen_get_no_probability() {
        let xs = [vec![(0u32, 1.0f32)], vec![(1, 1.0)]];
        let refs: Vec<&SparseVec> = xs.iter().collect();
        let model = LinearModel::train(&refs, &[0, 2], 2, 3, None, &LinearParams::default());
        assert_eq!(model.probabilities(&xs[0])[1], 0.0);
    }
}
