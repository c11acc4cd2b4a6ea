//! The matcher trained on one set of examples: tf-idf classifier, BM25 index and embedding table, and the candidate
//! features they give a query.

use std::sync::Arc;

use crate::analyzer::Analyzer;
use crate::bm25::Bm25Index;
use crate::calibration::CandidateFeatures;
use crate::intent::SentenceEncoder;
use crate::linear::{LinearModel, LinearParams, confusable_classes};
use crate::vectorizer::{SparseVec, Vectorizer};

/// A query or training text, analysed once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prepared {
    raw: Vec<(u64, f32)>,
    terms: Vec<u64>,
    emb: Option<Vec<f32>>,
}

/// The retrieval index, classifier and embedding table trained on one set of examples.
#[derive(Debug, Default)]
pub(crate) struct Core {
    vectorizer: Vectorizer,
    linear: LinearModel,
    bm25: Bm25Index,
    /// In-scope labels are `0..n_labels`; the out-of-scope class, when trained, is `n_labels`.
    n_labels: usize,
    has_oos: bool,
    /// The unit-length embeddings of the training texts, one row of `emb_dim` values each, and their labels.
    emb: Vec<f32>,
    emb_labels: Vec<u32>,
    emb_dim: usize,
    /// A softmax head over the embeddings (with an encoder only).
    emb_linear: Option<LinearModel>,
}

/// Up to this many classes the classifier scores every class at every training step; above it, only each class's
/// confusable classes and a few random ones (training cost then stops growing with the number of entries).
const FULL_SOFTMAX_CLASSES: usize = 200;
const POOL: usize = 5;

impl Core {
    pub(crate) fn fit(items: &[(&Prepared, u32)], n_labels: usize, has_oos: bool, params: &LinearParams) -> Core {
        let vectorizer = Vectorizer::fit(items.iter().map(|(p, _)| p.raw.as_slice()));
        let xs: Vec<SparseVec> = items.iter().map(|(p, _)| vectorizer.transform(&p.raw).0).collect();
        let refs: Vec<&SparseVec> = xs.iter().collect();
        let ys: Vec<u32> = items.iter().map(|(_, y)| *y).collect();
        let n_classes = n_labels + usize::from(has_oos);
        let confusable = (n_classes > FULL_SOFTMAX_CLASSES).then(|| confusable_classes(&refs, &ys, n_classes, 12));
        let linear = LinearModel::train(&refs, &ys, vectorizer.len(), n_classes, confusable.as_deref(), params);
        let docs: Vec<(&[u64], u32)> = items.iter().map(|(p, y)| (p.terms.as_slice(), *y)).collect();
        let bm25 = Bm25Index::build(&docs);
        let emb_dim = items.iter().find_map(|(p, _)| p.emb.as_ref().map(Vec::len)).unwrap_or(0);
        let all_embedded = emb_dim > 0 && items.iter().all(|(p, _)| p.emb.as_ref().is_some_and(|e| e.len() == emb_dim));
        let (mut emb, mut emb_labels) = (Vec::new(), Vec::new());
        let mut emb_linear = None;
        if all_embedded {
            emb.reserve(items.len() * emb_dim);
            for (p, y) in items {
                emb.extend_from_slice(p.emb.as_deref().unwrap_or(&[]));
                emb_labels.push(*y);
            }
            let xs: Vec<SparseVec> = emb.chunks_exact(emb_dim).map(dense_to_sparse).collect();
            let refs: Vec<&SparseVec> = xs.iter().collect();
            let confusable = (n_classes > FULL_SOFTMAX_CLASSES).then(|| confusable_classes(&refs, &ys, n_classes, 12));
            let params = LinearParams { eta0: 2.0, ..*params };
            emb_linear = Some(LinearModel::train(&refs, &ys, emb_dim, n_classes, confusable.as_deref(), &params));
        }
        Core { vectorizer, linear, bm25, n_labels, has_oos, emb, emb_labels, emb_dim, emb_linear }
    }

    /// The share of the query's idf-weighted features that the knowledge base knows.
    pub(crate) fn coverage(&self, query: &Prepared) -> f32 {
        self.vectorizer.transform(&query.raw).1
    }

    /// The candidate pool of a query with the features the confidence model needs.
    pub(crate) fn candidates(&self, query: &Prepared) -> Vec<(u32, CandidateFeatures)> {
        let n = self.n_labels;
        let (x, coverage) = self.vectorizer.transform(&query.raw);
        let probs = self.linear.probabilities(&x);
        let oos_prob = if self.has_oos { probs.get(n).copied().unwrap_or(0.0) } else { 0.0 };
        let bm25 = self.bm25.search(&query.terms, n + usize::from(self.has_oos));
        let oos_bm25 = if self.has_oos { bm25.get(n).copied().unwrap_or(0.0) } else { 0.0 };
        let emb = self.embedding_scores(query);
        let emb_probs = match (&self.emb_linear, &query.emb) {
            (Some(model), Some(q)) => model.probabilities(&dense_to_sparse(q)),
            _ => Vec::new(),
        };
        let emb_probs = emb_probs.get(..n).unwrap_or(&[]);
        let by_emb_prob = top_k(emb_probs, POOL, f32::MIN);
        let probs = probs.get(..n).unwrap_or(&[]);
        let bm25 = bm25.get(..n).unwrap_or(&[]);
        let by_prob = top_k(probs, POOL, f32::MIN);
        let by_bm25 = top_k(bm25, POOL, 0.0);
        let by_emb = emb.as_deref().map(|e| top_k(e, POOL, f32::MIN)).unwrap_or_default();

        let mut pool: Vec<u32> = Vec::with_capacity(3 * POOL);
        for (l, _) in by_prob.iter().chain(&by_bm25).chain(&by_emb).chain(&by_emb_prob) {
            if !pool.contains(l) {
                pool.push(*l);
            }
        }
        let best_other = |ranked: &[(u32, f32)], label: u32| -> f32 {
            ranked.iter().find(|(l, _)| *l != label).map_or(0.0, |(_, s)| *s)
        };
        let at = |v: &[f32], label: u32| v.get(label as usize).copied().unwrap_or(0.0);
        pool.iter()
            .map(|&label| {
                let prob = at(probs, label);
                let bm25_score = at(bm25, label);
                let emb_score = emb.as_deref().map_or(0.0, |e| at(e, label));
                let emb_prob = at(emb_probs, label);
                let features = CandidateFeatures {
                    prob,
                    prob_margin: prob - best_other(&by_prob, label),
                    bm25: bm25_score,
                    bm25_margin: bm25_score - best_other(&by_bm25, label),
                    clf_top: by_prob.first().is_some_and(|(l, _)| *l == label),
                    bm25_top: by_bm25.first().is_some_and(|(l, _)| *l == label),
                    coverage,
                    oos_prob,
                    oos_bm25,
                    emb: emb_score,
                    emb_margin: if by_emb.is_empty() { 0.0 } else { emb_score - best_other(&by_emb, label) },
                    emb_prob,
                    emb_prob_margin: if by_emb_prob.is_empty() {
                        0.0
                    } else {
                        emb_prob - best_other(&by_emb_prob, label)
                    },
                };
                (label, features)
            })
            .collect()
    }

    /// The best embedding cosine of each in-scope label (`None` without an encoder).
    fn embedding_scores(&self, query: &Prepared) -> Option<Vec<f32>> {
        let q = query.emb.as_ref().filter(|q| q.len() == self.emb_dim && self.emb_dim > 0)?;
        let mut best = vec![-1.0f32; self.n_labels];
        for (row, label) in self.emb.chunks_exact(self.emb_dim).zip(&self.emb_labels) {
            if let Some(slot) = best.get_mut(*label as usize) {
                *slot = slot.max(dot(q, row));
            }
        }
        // Models spread their cosines differently (MiniLM over 0–1, E5 over 0.7–0.95): each label's score is how
        // many standard deviations it stands above the labels' mean for this query (scaled by 1/4), which means the
        // same for every model.
        let seen: Vec<f32> = best.iter().copied().filter(|&c| c > -1.0).collect();
        if seen.len() >= 2 {
            let mean = seen.iter().sum::<f32>() / seen.len() as f32;
            let var = seen.iter().map(|c| (c - mean) * (c - mean)).sum::<f32>() / seen.len() as f32;
            let sd = var.sqrt().max(1e-4);
            best.iter_mut().for_each(|c| *c = if *c > -1.0 { (*c - mean) / sd / 4.0 } else { -1.0 });
        }
        Some(best)
    }
}

/// The `k` best (index, score) pairs with a score above `floor`, best first (ties by index).
fn top_k(scores: &[f32], k: usize, floor: f32) -> Vec<(u32, f32)> {
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &s) in scores.iter().enumerate() {
        if s <= floor || (top.len() == k && top.last().is_some_and(|l| s <= l.1)) {
            continue;
        }
        let pos = top.partition_point(|e| e.1 >= s);
        top.insert(pos, (i as u32, s));
        top.truncate(k);
    }
    top
}

/// A dense vector as the classifier's sparse input (index = dimension).
fn dense_to_sparse(v: &[f32]) -> SparseVec {
    v.iter().enumerate().map(|(i, &x)| (i as u32, x)).collect()
}

/// The dot product, in eight lanes so the compiler vectorises it (embeddings are stored at unit length, so this is
/// their cosine).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for ((lane, a), b) in lanes.iter_mut().zip(x).zip(y) {
            *lane += a * b;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `v` scaled to unit length (a zero vector stays zero).
fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Texts are matched on their first this many characters: questions are short, and a pasted log or e-mail must not
/// cost more than a few milliseconds.
const MAX_CHARS: usize = 600;

fn head(text: &str) -> &str {
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The lexical analysis of one text (no embedding).
fn analyse(analyzer: &Analyzer, text: &str) -> Prepared {
    let tokens = analyzer.tokens(head(text));
    let mut raw = Vec::new();
    analyzer.features(&tokens, &mut raw);
    let mut terms = Vec::new();
    analyzer.terms(&tokens, &mut terms);
    Prepared { raw, terms, emb: None }
}

pub(crate) fn prepare(analyzer: &Analyzer, encoder: Option<&Arc<dyn SentenceEncoder>>, text: &str) -> Prepared {
    let mut prepared = analyse(analyzer, text);
    prepared.emb = encoder.map(|e| unit(e.encode(head(text))));
    prepared
}

/// [`prepare`] for many texts, embedding them in one batch call.
pub(crate) fn prepare_all(
    analyzer: &Analyzer,
    encoder: Option<&Arc<dyn SentenceEncoder>>,
    texts: &[&str],
) -> Vec<Prepared> {
    let mut prepared: Vec<Prepared> = texts.iter().map(|t| analyse(analyzer, t)).collect();
    if let Some(encoder) = encoder {
        let heads: Vec<&str> = texts.iter().map(|t| head(t)).collect();
        for (p, e) in prepared.iter_mut().zip(encoder.encode_batch(&heads)) {
            p.emb = Some(unit(e));
        }
    }
    prepared
}
