//! Term-frequency × inverse-document-frequency vectors over hashed features.

use crate::hash::HashKeyMap;

/// A sparse vector: (feature id, value) sorted by id.
pub(crate) type SparseVec = Vec<(u32, f32)>;

/// The feature vocabulary of one knowledge base with its idf weights.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vectorizer {
    ids: HashKeyMap<u32>,
    idf: Vec<f32>,
    unknown_idf: f32,
}

impl Vectorizer {
    /// Learns the vocabulary and idf from the raw features of each document.
    pub(crate) fn fit<'a>(docs: impl Iterator<Item = &'a [(u64, f32)]>) -> Vectorizer {
        let mut ids: HashKeyMap<u32> = HashKeyMap::default();
        let mut df: Vec<u32> = Vec::new();
        let mut n_docs = 0usize;
        let mut seen: Vec<u32> = Vec::new();
        for doc in docs {
            n_docs += 1;
            seen.clear();
            for (h, _) in doc {
                let next = ids.len() as u32;
                let id = *ids.entry(*h).or_insert(next);
                if id as usize == df.len() {
                    df.push(0);
                }
                seen.push(id);
            }
            seen.sort_unstable();
            seen.dedup();
            for id in &seen {
                df[*id as usize] += 1;
            }
        }
        let n = n_docs as f32;
        let idf = df.iter().map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0).collect();
        Vectorizer { ids, idf, unknown_idf: (1.0 + n).ln() + 1.0 }
    }

    /// The number of features.
    pub(crate) fn len(&self) -> usize {
        self.idf.len()
    }

    /// The L2-normalised tf-idf vector of raw features, and the share of its weight carried by known features.
    pub(crate) fn transform(&self, raw: &[(u64, f32)]) -> (SparseVec, f32) {
        let mut known: Vec<(u32, f32, u32)> = Vec::with_capacity(raw.len());
        let mut unknown_mass = 0.0f32;
        for (h, w) in raw {
            match self.ids.get(h) {
                Some(&id) => known.push((id, *w, 1)),
                None => unknown_mass += w * self.unknown_idf,
            }
        }
        known.sort_unstable_by_key(|e| e.0);
        let mut vec: SparseVec = Vec::with_capacity(known.len());
        let mut last: Option<(u32, f32, u32)> = None;
        let mut known_mass = 0.0f32;
        for e in known.into_iter().chain(std::iter::once((u32::MAX, 0.0, 0))) {
            match last {
                Some(mut l) if l.0 == e.0 => {
                    l.2 += 1;
                    last = Some(l);
                }
                _ => {
                    if let Some((id, w, count)) = last {
                        let idf = self.idf.get(id as usize).copied().unwrap_or(self.unknown_idf);
                        known_mass += w * idf;
                        if idf > 0.0 {
                            vec.push((id, w * (1.0 + (count as f32).ln()) * idf));
                        }
                    }
                    last = Some(e);
                }
            }
        }
        let norm = vec.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, v) in &mut vec {
                *v /= norm;
            }
        }
        let total = known_mass + unknown_mass;
        let coverage = if total > 0.0 { known_mass / total } else { 0.0 };
        (vec, coverage)
    }
}
