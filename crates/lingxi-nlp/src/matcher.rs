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
    emb: Vec<(Vec<f32>, u32)>,
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
        let emb = items.iter().filter_map(|(p, y)| p.emb.as_ref().map(|e| (e.clone(), *y))).collect();
        Core { vectorizer, linear, bm25, n_labels, has_oos, emb }
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
        let probs = probs.get(..n).unwrap_or(&[]);
        let bm25 = bm25.get(..n).unwrap_or(&[]);
        let by_prob = top_k(probs, POOL, f32::MIN);
        let by_bm25 = top_k(bm25, POOL, 0.0);
        let by_emb = emb.as_deref().map(|e| top_k(e, POOL, f32::MIN)).unwrap_or_default();

        let mut pool: Vec<u32> = Vec::with_capacity(3 * POOL);
        for (l, _) in by_prob.iter().chain(&by_bm25).chain(&by_emb) {
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
                };
                (label, features)
            })
            .collect()
    }

    /// The best embedding cosine of each in-scope label (`None` without an encoder).
    fn embedding_scores(&self, query: &Prepared) -> Option<Vec<f32>> {
        let q = query.emb.as_ref()?;
        let mut best = vec![-1.0f32; self.n_labels];
        for (e, label) in &self.emb {
            if let Some(slot) = best.get_mut(*label as usize) {
                *slot = slot.max(cosine(q, e));
            }
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

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na > 0.0 && nb > 0.0 { dot / (na.sqrt() * nb.sqrt()) } else { 0.0 }
}

/// Texts are matched on their first this many characters: questions are short, and a pasted log or e-mail must not
/// cost more than a few milliseconds.
const MAX_CHARS: usize = 600;

pub(crate) fn prepare(analyzer: &Analyzer, encoder: Option<&Arc<dyn SentenceEncoder>>, text: &str) -> Prepared {
    let text = match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    };
    let tokens = analyzer.tokens(text);
    let mut raw = Vec::new();
    analyzer.features(&tokens, &mut raw);
    let mut terms = Vec::new();
    analyzer.terms(&tokens, &mut terms);
    let emb = encoder.map(|e| e.encode(text));
    Prepared { raw, terms, emb }
}
