//! What a visitor types, through everything that reads it before the bot decides: normalisation, the mixed
//! Chinese/English analyzer, sentiment, and a task flow's slot patterns.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lingxi_nlp::{Analyzer, SentimentModel, normalize};

fn parts() -> &'static (Analyzer, SentimentModel) {
    static PARTS: OnceLock<(Analyzer, SentimentModel)> = OnceLock::new();
    PARTS.get_or_init(|| {
        (Analyzer::new(&["灵犀".to_owned()], &[vec!["退货".to_owned(), "退款".to_owned()]]), SentimentModel::shipped())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (analyzer, sentiment) = parts();
    let normal = normalize(text);
    // Normalising is idempotent: the bot normalises texts that were normalised when stored.
    assert_eq!(normalize(&normal), normal, "normalize is not idempotent on {text:?}");
    let _ = analyzer.tokens(text);
    let reading = sentiment.analyze(text);
    assert!(reading.score.is_finite());
});
