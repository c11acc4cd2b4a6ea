//! Errors returned by the understanding engine.

/// Everything that can go wrong when training or loading a model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NlpError {
    /// Training was asked for with no usable example.
    #[error("no training example has both a non-empty text and a non-empty label")]
    NoExamples,
    /// A sentiment training set holds only one polarity.
    #[error("sentiment training needs both positive and negative examples")]
    OnePolarityOnly,
    /// A serialised model could not be read.
    #[error("malformed model at line {line}: {reason}")]
    MalformedModel {
        /// The 1-based line of the model text where reading failed.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },
}
