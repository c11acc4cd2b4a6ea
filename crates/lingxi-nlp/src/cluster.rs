//! Short-text clustering: groups questions that say the same thing (e.g. unanswered queries to review).

use crate::analyzer::Analyzer;
use crate::vectorizer::{SparseVec, Vectorizer};

/// One group of similar texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Indices of the member texts in the input, in input order.
    pub members: Vec<usize>,
    /// The member closest to the group's centre.
    pub representative: usize,
}

/// Groups texts whose tf-idf cosine (words and character n-grams) to a cluster's centre reaches `threshold`
/// (0..1; 0.5 is a sensible start). Single pass in input order, so deterministic; clusters are returned largest
/// first (ties by first member).
pub fn cluster_texts(texts: &[String], threshold: f32, analyzer: &Analyzer) -> Vec<Cluster> {
    let raws: Vec<Vec<(u64, f32)>> = texts
        .iter()
        .map(|t| {
            let mut raw = Vec::new();
            analyzer.features(&analyzer.tokens(t), &mut raw);
            raw
        })
        .collect();
    let vectorizer = Vectorizer::fit(raws.iter().map(Vec::as_slice));
    let vectors: Vec<SparseVec> = raws.iter().map(|r| vectorizer.transform(r).0).collect();
    let mut centres: Vec<Vec<f32>> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        let best = centres
            .iter()
            .enumerate()
            .map(|(c, centre)| (c, cosine_to_centre(v, centre)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match best {
            Some((c, sim)) if sim >= threshold => {
                for &(f, x) in v {
                    if let Some(slot) = centres[c].get_mut(f as usize) {
                        *slot += x;
                    }
                }
                members[c].push(i);
            }
            _ => {
                let mut centre = vec![0.0f32; vectorizer.len()];
                for &(f, x) in v {
                    if let Some(slot) = centre.get_mut(f as usize) {
                        *slot = x;
                    }
                }
                centres.push(centre);
                members.push(vec![i]);
            }
        }
    }
    let mut clusters: Vec<Cluster> = members
        .into_iter()
        .zip(&centres)
        .map(|(m, centre)| {
            let representative = m
                .iter()
                .copied()
                .max_by(|&a, &b| {
                    cosine_to_centre(&vectors[a], centre)
                        .total_cmp(&cosine_to_centre(&vectors[b], centre))
                        .then(b.cmp(&a))
                })
                .unwrap_or(0);
            Cluster { members: m, representative }
        })
        .collect();
    clusters.sort_by(|a, b| b.members.len().cmp(&a.members.len()).then(a.members.first().cmp(&b.members.first())));
    clusters
}

fn cosine_to_centre(v: &SparseVec, centre: &[f32]) -> f32 {
    let norm = centre.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        return 0.0;
    }
    v.iter().map(|&(f, x)| x * centre.get(f as usize).copied().unwrap_or(0.0)).sum::<f32>() / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_paraphrases_apart_from_other_topics() {
        let texts: Vec<String> = [
            "怎么申请退款",
            "我要退款怎么申请",
            "how do i reset my password",
            "退款申请在哪里",
            "reset password please",
            "今天天气怎么样",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let clusters = cluster_texts(&texts, 0.25, &Analyzer::default());
        let groups: Vec<Vec<usize>> = clusters.iter().map(|c| c.members.clone()).collect();
        assert_eq!(groups, vec![vec![0, 1, 3], vec![2, 4], vec![5]]);
    }

    #[test]
    fn empty_input_gives_no_cluster() {
        assert!(cluster_texts(&[], 0.5, &Analyzer::default()).is_empty());
    }
}
