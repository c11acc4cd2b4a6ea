//! Lingxi's offline understanding engine.
//!
//! Pure library: no I/O, no clock, no global mutable state. Models are values and training is a function.
//! See the crate README for the pipeline and measured figures.

#![warn(missing_docs)]

mod analyzer;
mod bm25;
mod calibration;
mod cluster;
mod error;
mod hash;
mod intent;
mod keywords;
mod linear;
mod matcher;
mod normalize;
mod sentiment;
mod triage;
mod vectorizer;

pub use analyzer::{Analyzer, Token, TokenKind};
pub use cluster::{Cluster, cluster_texts};
pub use error::NlpError;
pub use intent::{Candidate, IntentConfig, IntentDecision, IntentModel, Outcome, Policy, SentenceEncoder, Utterance};
pub use keywords::KeywordExtractor;
pub use normalize::{is_cjk, normalize, to_simplified};
pub use sentiment::{Emotion, Polarity, SentimentExample, SentimentModel, SentimentReading};
pub use triage::{DEFAULT_TRIAGE_THRESHOLD, TicketClass, TicketClassifier, ticket_text};
