//! BM25 retrieval over every similar question of every entry.

use std::collections::HashMap;

use crate::hash::HashKeyMap;

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// An inverted index of utterances, each tagged with the label of its entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bm25Index {
    terms: HashKeyMap<u32>,
    idf: Vec<f32>,
    offsets: Vec<u32>,
    /// (document, its BM25 term weight without idf).
    postings: Vec<(u32, f32)>,
    doc_label: Vec<u32>,
    avg_len: f32,
}

impl Bm25Index {
    /// Indexes documents given as their term hashes with their label.
    pub(crate) fn build(docs: &[(&[u64], u32)]) -> Bm25Index {
        let mut terms: HashKeyMap<u32> = HashKeyMap::default();
        let mut lists: Vec<Vec<(u32, u16)>> = Vec::new();
        let mut lens = Vec::with_capacity(docs.len());
        let mut counts: HashMap<u32, u16> = HashMap::new();
        for (d, (doc, _)) in docs.iter().enumerate() {
            counts.clear();
            for h in doc.iter() {
                let next = terms.len() as u32;
                let id = *terms.entry(*h).or_insert(next);
                if id as usize == lists.len() {
                    lists.push(Vec::new());
                }
                *counts.entry(id).or_insert(0) += 1;
            }
            let mut sorted: Vec<(u32, u16)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
            sorted.sort_unstable();
            for (id, tf) in sorted {
                lists[id as usize].push((d as u32, tf));
            }
            lens.push(doc.len() as f32);
        }
        let n = docs.len() as f32;
        let avg_len = if docs.is_empty() { 1.0 } else { (lens.iter().sum::<f32>() / n).max(1.0) };
        let idf = lists.iter().map(|l| (1.0 + (n - l.len() as f32 + 0.5) / (l.len() as f32 + 0.5)).ln()).collect();
        let mut offsets = Vec::with_capacity(lists.len() + 1);
        let doc_norm: Vec<f32> = lens.iter().map(|l| K1 * (1.0 - B + B * l / avg_len)).collect();
        let mut postings = Vec::new();
        offsets.push(0);
        for l in lists {
            postings.extend(l.into_iter().map(|(d, tf)| {
                let tf = f32::from(tf);
                (d, tf * (K1 + 1.0) / (tf + doc_norm[d as usize]))
            }));
            offsets.push(postings.len() as u32);
        }
        let doc_label = docs.iter().map(|(_, l)| *l).collect();
        Bm25Index { terms, idf, offsets, postings, doc_label, avg_len }
    }

    /// Scores every label by its best document relative to the query's score against itself (0 when no document
    /// of the label shares a term with the query).
    pub(crate) fn search(&self, query: &[u64], n_labels: usize) -> Vec<f32> {
        let mut ids: Vec<u32> = query.iter().filter_map(|h| self.terms.get(h).copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        let qlen = query.len() as f32;
        let self_norm = K1 * (1.0 - B + B * qlen / self.avg_len);
        let mut self_score = 0.0f32;
        let mut seen = query.to_vec();
        seen.sort_unstable();
        seen.dedup();
        let n = self.doc_label.len() as f32;
        let unknown_idf = (1.0 + (n + 0.5) / 0.5).ln();
        for h in &seen {
            let idf = self.terms.get(h).and_then(|&id| self.idf.get(id as usize)).copied().unwrap_or(unknown_idf);
            self_score += idf * (K1 + 1.0) / (1.0 + self_norm);
        }
        if ids.is_empty() || self_score <= 0.0 {
            return vec![0.0; n_labels];
        }
        let mut scores = vec![0.0f32; self.doc_label.len()];
        let mut touched: Vec<u32> = Vec::new();
        for id in ids {
            let idf = self.idf.get(id as usize).copied().unwrap_or(0.0);
            let (from, to) = (
                self.offsets.get(id as usize).copied().unwrap_or(0) as usize,
                self.offsets.get(id as usize + 1).copied().unwrap_or(0) as usize,
            );
            for &(doc, weight) in self.postings.get(from..to).unwrap_or(&[]) {
                let d = doc as usize;
                if scores[d] == 0.0 {
                    touched.push(doc);
                }
                scores[d] += idf * weight;
            }
        }
        let mut best = vec![0.0f32; n_labels];
        for doc in touched {
            let label = self.doc_label[doc as usize];
            if let Some(slot) = best.get_mut(label as usize) {
                *slot = slot.max(scores[doc as usize] / self_score);
            }
        }
        for slot in &mut best {
            *slot = slot.min(1.5);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_labels_by_their_best_document() {
        let docs: Vec<Vec<u64>> = vec![vec![1, 2, 3], vec![1, 4], vec![5, 6], vec![2, 3, 7]];
        let labelled: Vec<(&[u64], u32)> = docs.iter().zip([0u32, 0, 1, 2]).map(|(d, l)| (d.as_slice(), l)).collect();
        let index = Bm25Index::build(&labelled);
        let cases: [(&[u64], [bool; 3]); 3] =
            [(&[1, 2, 3], [true, false, true]), (&[5, 6], [false, true, false]), (&[99], [false, false, false])];
        for (query, touched) in cases {
            let scores = index.search(query, 3);
            let got: Vec<bool> = scores.iter().map(|s| *s > 0.0).collect();
            assert_eq!(got, touched, "query {query:?}: {scores:?}");
        }
        let exact = index.search(&[1, 2, 3], 3);
        assert!(exact[0] > exact[2], "{exact:?}");
    }
}
