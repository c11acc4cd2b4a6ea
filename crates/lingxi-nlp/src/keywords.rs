//! Keyword extraction: the tokens of a text that are frequent in it and rare in a reference corpus.

use std::collections::HashMap;

use crate::analyzer::{Analyzer, STOP_WORDS, TokenKind};

/// Scores keywords against the document frequencies of a reference corpus (e.g. a tenant's conversations).
#[derive(Debug, Clone, Default)]
pub struct KeywordExtractor {
    analyzer: Analyzer,
    df: HashMap<String, u32>,
    n_docs: u32,
}

impl KeywordExtractor {
    /// Learns document frequencies from a reference corpus (may be empty: every word is then equally rare).
    pub fn fit(corpus: &[String], analyzer: Analyzer) -> KeywordExtractor {
        let mut df: HashMap<String, u32> = HashMap::new();
        for doc in corpus {
            let mut terms: Vec<String> = analyzer.tokens(doc).into_iter().map(|t| t.term).collect();
            terms.sort();
            terms.dedup();
            for t in terms {
                *df.entry(t).or_insert(0) += 1;
            }
        }
        KeywordExtractor { analyzer, df, n_docs: corpus.len() as u32 }
    }

    /// The `top_n` keywords of `text` with their tf-idf score, best first (ties by first appearance).
    pub fn extract(&self, text: &str, top_n: usize) -> Vec<(String, f32)> {
        let mut order: Vec<String> = Vec::new();
        let mut tf: HashMap<String, (f32, String)> = HashMap::new();
        for token in self.analyzer.tokens(text) {
            let short_cjk = token.kind == TokenKind::Cjk && token.text.chars().count() < 2;
            let short_word = token.kind == TokenKind::Word && token.text.len() < 3;
            if short_cjk || short_word || token.kind == TokenKind::Number || STOP_WORDS.contains(&token.text.as_str()) {
                continue;
            }
            let entry = tf.entry(token.term.clone()).or_insert_with(|| {
                order.push(token.term.clone());
                (0.0, token.text.clone())
            });
            entry.0 += 1.0;
        }
        let n = self.n_docs as f32;
        let mut scored: Vec<(usize, String, f32)> = order
            .iter()
            .enumerate()
            .filter_map(|(i, term)| {
                let (count, surface) = tf.get(term)?;
                let df = self.df.get(term).copied().unwrap_or(0) as f32;
                let idf = ((1.0 + n) / (1.0 + df)).ln() + 1.0;
                Some((i, surface.clone(), count * idf))
            })
            .collect();
        scored.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        scored.into_iter().take(top_n).map(|(_, s, score)| (s, score)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_rare_content_words() {
        let corpus: Vec<String> =
            ["我想查询订单", "订单怎么取消", "怎么修改收货地址", "my order is late", "cancel my order"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let extractor = KeywordExtractor::fit(&corpus, Analyzer::default());
        let cases = [
            ("我的订单怎么退款", vec!["退款", "订单"]),
            ("How do I get a refund for my order", vec!["refund", "order"]),
            ("的了吗", vec![]),
        ];
        for (text, expected) in cases {
            let got: Vec<String> = extractor.extract(text, 3).into_iter().map(|(k, _)| k).collect();
            assert_eq!(got, expected, "text: {text}");
        }
    }
}
