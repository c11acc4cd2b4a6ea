//! Segmentation of mixed Chinese/English text into tokens and hashed features.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};

use crate::hash::{hash_chars, hash_pair, hash_str};
use crate::normalize::{is_cjk, normalize};

/// The shared jieba segmenter with its default dictionary, built once (an immutable constant).
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Function words: never keywords, and weighted down in matching (small knowledge bases cannot learn that
/// they carry little meaning).
pub(crate) const STOP_WORDS: &[&str] = &[
    "的",
    "了",
    "是",
    "我",
    "你",
    "他",
    "她",
    "它",
    "们",
    "我们",
    "你们",
    "在",
    "有",
    "和",
    "就",
    "不",
    "也",
    "都",
    "吗",
    "吧",
    "呢",
    "啊",
    "呀",
    "怎么",
    "什么",
    "为什么",
    "这个",
    "那个",
    "一个",
    "可以",
    "能",
    "要",
    "会",
    "还",
    "没有",
    "请问",
    "一下",
    "这",
    "那",
    "how",
    "what",
    "why",
    "when",
    "where",
    "who",
    "which",
    "the",
    "a",
    "an",
    "is",
    "are",
    "was",
    "were",
    "be",
    "to",
    "of",
    "and",
    "or",
    "in",
    "on",
    "at",
    "for",
    "with",
    "my",
    "your",
    "i",
    "you",
    "it",
    "do",
    "does",
    "did",
    "get",
    "can",
    "could",
    "would",
    "should",
    "me",
    "this",
    "that",
    "there",
    "please",
    "have",
    "has",
];

/// Feature namespaces.
pub(crate) mod kind {
    /// A word (Chinese word, English stem, number or id).
    pub const WORD: u8 = 1;
    /// Two consecutive words.
    pub const BIGRAM: u8 = 2;
    /// One Chinese character.
    pub const CHAR1: u8 = 3;
    /// Two consecutive Chinese characters.
    pub const CHAR2: u8 = 4;
    /// Three consecutive Chinese characters.
    pub const CHAR3: u8 = 5;
    /// A character n-gram of an English word.
    pub const SUBWORD: u8 = 6;
    /// The shape of a token (number, id).
    pub const SHAPE: u8 = 7;
}

/// What a token is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A Chinese (or other unspaced script) word.
    Cjk,
    /// A word in a spaced script (English), letters only.
    Word,
    /// Digits, possibly with "." or ",".
    Number,
    /// Letters mixed with digits or joiners: an order id, a model number.
    Code,
}

/// One token of normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token as it appears in the normalised text.
    pub text: String,
    /// The matching form: the stem for English words, the text otherwise.
    pub term: String,
    /// What the token is made of.
    pub kind: TokenKind,
}

/// A tenant's vocabulary: custom words kept whole and synonym groups mapped to one canonical form.
#[derive(Clone)]
pub struct Analyzer {
    /// Synonym variants → index of their canonical form in `canonical`.
    synonyms: Option<(AhoCorasick, Vec<usize>, Vec<String>)>,
    /// Custom words (and canonical synonyms) that segmentation never splits.
    custom: Option<AhoCorasick>,
    stemmer: std::sync::Arc<Stemmer>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").finish_non_exhaustive()
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::new(&[], &[])
    }
}

impl Analyzer {
    /// Builds an analyzer from custom words and synonym groups (the first member of a group is its canonical form).
    pub fn new(custom_words: &[String], synonyms: &[Vec<String>]) -> Analyzer {
        let mut variants = Vec::new();
        let mut targets = Vec::new();
        let mut canonical = Vec::new();
        let mut protected: Vec<String> = custom_words.iter().map(|w| normalize(w)).filter(|w| !w.is_empty()).collect();
        for group in synonyms {
            let forms: Vec<String> = group.iter().map(|w| normalize(w)).filter(|w| !w.is_empty()).collect();
            let Some(first) = forms.first() else { continue };
            let index = canonical.len();
            canonical.push(first.clone());
            protected.push(first.clone());
            for form in &forms[1..] {
                if form != first {
                    variants.push(form.clone());
                    targets.push(index);
                }
            }
        }
        let synonyms = if variants.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&variants)
                .ok()
                .map(|ac| (ac, targets, canonical))
        };
        protected.retain(|w| w.chars().any(is_cjk));
        protected.sort();
        protected.dedup();
        let custom = if protected.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new().match_kind(MatchKind::LeftmostLongest).build(&protected).ok()
        };
        Analyzer { synonyms, custom, stemmer: std::sync::Arc::new(Stemmer::create(Algorithm::English)) }
    }

    /// Normalises `text` and replaces synonym variants by their canonical form.
    pub fn prepare(&self, text: &str) -> String {
        let text = normalize(text);
        let Some((ac, targets, canonical)) = &self.synonyms else {
            return text;
        };
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in ac.find_iter(&text) {
            if !at_word_boundary(&text, m.start(), m.end()) {
                continue;
            }
            out.push_str(&text[last..m.start()]);
            if let Some(form) = targets.get(m.pattern().as_usize()).and_then(|&i| canonical.get(i)) {
                out.push_str(form);
            }
            last = m.end();
        }
        out.push_str(&text[last..]);
        out
    }

    /// Splits text into tokens (normalising it first).
    pub fn tokens(&self, text: &str) -> Vec<Token> {
        let prepared = self.prepare(text);
        let mut tokens = Vec::new();
        for chunk in prepared.split(' ') {
            let mut start = 0;
            let mut current_cjk = None;
            for (i, c) in chunk.char_indices() {
                let cjk = is_cjk(c);
                if current_cjk != Some(cjk) {
                    if let Some(was_cjk) = current_cjk {
                        self.push_run(&chunk[start..i], was_cjk, &mut tokens);
                    }
                    start = i;
                    current_cjk = Some(cjk);
                }
            }
            if let Some(was_cjk) = current_cjk {
                self.push_run(&chunk[start..], was_cjk, &mut tokens);
            }
        }
        tokens
    }

    fn push_run(&self, run: &str, cjk: bool, tokens: &mut Vec<Token>) {
        if run.is_empty() {
            return;
        }
        if !cjk {
            let kind = if run.chars().all(|c| c.is_ascii_digit() || c == '.') {
                TokenKind::Number
            } else if run.chars().all(char::is_alphabetic) {
                TokenKind::Word
            } else {
                TokenKind::Code
            };
            let term = if kind == TokenKind::Word { self.stemmer.stem(run).into_owned() } else { run.to_string() };
            tokens.push(Token { text: run.to_string(), term, kind });
            return;
        }
        let mut last = 0;
        if let Some(custom) = &self.custom {
            for m in custom.find_iter(run) {
                cut_into(&run[last..m.start()], tokens);
                let word = &run[m.start()..m.end()];
                tokens.push(Token { text: word.to_string(), term: word.to_string(), kind: TokenKind::Cjk });
                last = m.end();
            }
        }
        cut_into(&run[last..], tokens);
    }

    /// Extracts the weighted sparse features of `text` used by the classifier (hash, raw count).
    pub(crate) fn features(&self, tokens: &[Token], out: &mut Vec<(u64, f32)>) {
        out.clear();
        let mut prev: Option<u64> = None;
        let mut cjk_run: Vec<char> = Vec::new();
        for token in tokens {
            let word = hash_str(kind::WORD, &token.term);
            out.push((word, if is_stop_word(token) { 0.3 } else { 1.0 }));
            if let Some(p) = prev {
                out.push((hash_pair(kind::BIGRAM, p, word), 0.7));
            }
            prev = Some(word);
            match token.kind {
                TokenKind::Cjk => cjk_run.extend(token.text.chars()),
                other => {
                    flush_cjk(&mut cjk_run, out);
                    match other {
                        TokenKind::Word => subwords(&token.text, out),
                        TokenKind::Number => out.push((hash_str(kind::SHAPE, "<num>"), 0.5)),
                        _ => out.push((hash_str(kind::SHAPE, "<code>"), 0.5)),
                    }
                }
            }
        }
        flush_cjk(&mut cjk_run, out);
    }

    /// Extracts the retrieval terms of `text` (words and Chinese character bigrams).
    pub(crate) fn terms(&self, tokens: &[Token], out: &mut Vec<u64>) {
        out.clear();
        let mut cjk_run: Vec<char> = Vec::new();
        let mut prev: Option<u64> = None;
        let all_stop = tokens.iter().all(is_stop_word);
        for token in tokens {
            let word = hash_str(kind::WORD, &token.term);
            if all_stop || !is_stop_word(token) {
                out.push(word);
            }
            if let Some(p) = prev {
                out.push(hash_pair(kind::BIGRAM, p, word));
            }
            prev = Some(word);
            if token.kind == TokenKind::Cjk {
                cjk_run.extend(token.text.chars());
            } else {
                push_char_terms(&cjk_run, out);
                cjk_run.clear();
            }
        }
        push_char_terms(&cjk_run, out);
    }
}

fn is_stop_word(token: &Token) -> bool {
    STOP_WORDS.contains(&token.text.as_str())
}

fn push_char_terms(run: &[char], out: &mut Vec<u64>) {
    for w in run.windows(2) {
        out.push(hash_chars(kind::CHAR2, w));
    }
    if run.len() == 1 {
        out.push(hash_chars(kind::CHAR1, run));
    }
}

fn at_word_boundary(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let first = text[start..].chars().next();
    let last = text[..end].chars().next_back();
    let after = text[end..].chars().next();
    let spaced = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() && !is_cjk(c));
    !((spaced(before) && spaced(first)) || (spaced(last) && spaced(after)))
}

fn cut_into(text: &str, tokens: &mut Vec<Token>) {
    if text.is_empty() {
        return;
    }
    for word in JIEBA.cut(text, true) {
        tokens.push(Token { text: word.to_string(), term: word.to_string(), kind: TokenKind::Cjk });
    }
}

fn flush_cjk(run: &mut Vec<char>, out: &mut Vec<(u64, f32)>) {
    for c in run.iter() {
        out.push((hash_chars(kind::CHAR1, std::slice::from_ref(c)), 1.0));
    }
    for w in run.windows(2) {
        out.push((hash_chars(kind::CHAR2, w), 0.7));
    }
    for w in run.windows(3) {
        out.push((hash_chars(kind::CHAR3, w), 0.5));
    }
    run.clear();
}

fn subwords(word: &str, out: &mut Vec<(u64, f32)>) {
    let mut chars = Vec::with_capacity(word.len() + 2);
    chars.push('<');
    chars.extend(word.chars());
    chars.push('>');
    for n in 3..=5 {
        for w in chars.windows(n) {
            out.push((hash_chars(kind::SUBWORD, w), 0.4));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(analyzer: &Analyzer, text: &str) -> String {
        analyzer.tokens(text).iter().map(|t| t.term.clone()).collect::<Vec<_>>().join("|")
    }

    #[test]
    fn segments_mixed_text() {
        let analyzer = Analyzer::default();
        let cases = [
            ("Refunds are PROCESSING", "refund|are|process"),
            ("我想退款", "我|想|退款"),
            ("订单SO-2023-0042还没到", "订单|so-2023-0042|还|没到"),
            ("打开uc浏览器", "打开|uc|浏览器"),
        ];
        for (input, expected) in cases {
            assert_eq!(show(&analyzer, input), expected, "input: {input}");
        }
    }

    #[test]
    fn applies_synonyms_and_custom_words() {
        let analyzer = Analyzer::new(
            &["灵犀会员".to_string()],
            &[vec!["花呗".into(), "蚂蚁花呗".into()], vec!["refund".into(), "money back".into()]],
        );
        let cases = [
            ("蚂蚁花呗怎么还款", "花呗|怎么|还款"),
            ("I want my money back", "i|want|my|refund"),
            ("moneyback", "moneyback"),
            ("灵犀会员怎么开通", "灵犀会员|怎么|开通"),
        ];
        for (input, expected) in cases {
            assert_eq!(show(&analyzer, input), expected, "input: {input}");
        }
    }
}
