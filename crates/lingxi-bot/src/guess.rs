//! "Guess what you want to ask" (猜你想问): the questions most likely for a visitor right now, from the business
//! context the page passes in, the visitor's tags and what is asked most this week.

use crate::{KnowledgeBase, Suggestion};
use lingxi_domain::Lang;
use lingxi_types::EntryId;
use lingxi_types::model::DateTimeUtc;

/// What is known when guessing.
#[derive(Clone, Debug, Default)]
pub struct GuessInput<'a> {
    /// Business context (`order_status` → `payment_failed`, `page` → `/product/12`).
    pub context: &'a [(String, String)],
    /// The visitor's tags.
    pub tags: &'a [String],
    /// Entries answered most recently, with how often (most first).
    pub popular: &'a [(EntryId, u64)],
    /// The visitor's language, once known: only entries whose question is in it are offered.
    pub lang: Option<Lang>,
    /// Entries not to offer (the one just answered).
    pub exclude: &'a [EntryId],
}

/// Up to `n` guesses, best first. Ranking: entries tagged with a context value (`payment_failed` or
/// `order_status=payment_failed`), then entries the context's words retrieve confidently, then entries tagged with
/// one of the visitor's tags, then the most asked.
pub fn guesses(kb: &KnowledgeBase, input: &GuessInput, n: usize, now: DateTimeUtc) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = Vec::new();
    let push = |out: &mut Vec<Suggestion>, id: EntryId, confidence: f32| {
        if out.len() >= n || out.iter().any(|s| s.entry_id == id) || input.exclude.contains(&id) {
            return;
        }
        let Some(entry) = kb.entry(id, now) else { return };
        if let Some(lang) = input.lang
            && Lang::of(&entry.question) != lang
        {
            return;
        }
        out.push(Suggestion { entry_id: id, question: entry.question.clone(), confidence });
    };
    let mut entries: Vec<_> = kb.entries().collect();
    entries.sort_by(|a, b| a.question.cmp(&b.question));
    let has_tag = |tags: &[String], wanted: &str| tags.iter().any(|t| t.trim().eq_ignore_ascii_case(wanted.trim()));
    for (key, value) in input.context {
        if value.trim().is_empty() {
            continue;
        }
        let pair = format!("{key}={value}");
        for e in &entries {
            if has_tag(&e.tags, value) || has_tag(&e.tags, &pair) {
                push(&mut out, e.id, 1.0);
            }
        }
    }
    // The context's words as a query: "payment_failed" → "payment failed".
    let words: Vec<String> = input
        .context
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("page") && !k.eq_ignore_ascii_case("url"))
        .map(|(_, v)| v.replace(['_', '-'], " "))
        .filter(|v| !v.trim().is_empty() && !v.trim().chars().all(|c| c.is_ascii_digit()))
        .collect();
    if !words.is_empty() {
        for s in kb.candidates(&words.join(" "), now) {
            if s.confidence >= 0.3 {
                push(&mut out, s.entry_id, s.confidence);
            }
        }
    }
    for tag in input.tags {
        for e in &entries {
            if has_tag(&e.tags, tag) {
                push(&mut out, e.id, 0.5);
            }
        }
    }
    for (id, _) in input.popular {
        push(&mut out, *id, 0.2);
    }
    out
}

/// One question per top-level category, for the way out of an admitted question ("or pick a topic"): the
/// categories with the most live entries first (at most `n`), each with its most asked entry (else the first by
/// question), in the visitor's language when known. Entries without a category are left out.
pub fn by_category(
    kb: &KnowledgeBase,
    popular: &[(EntryId, u64)],
    lang: Option<Lang>,
    n: usize,
    now: DateTimeUtc,
) -> Vec<(String, Suggestion)> {
    let mut groups: std::collections::BTreeMap<String, Vec<&lingxi_types::KbEntry>> = Default::default();
    for e in kb.entries().filter(|e| e.is_live(now)) {
        if lang.is_some_and(|l| Lang::of(&e.question) != l) {
            continue;
        }
        let top = e.category.split('/').next().unwrap_or_default().trim();
        if !top.is_empty() {
            groups.entry(top.to_owned()).or_default().push(e);
        }
    }
    let mut ranked: Vec<(String, Vec<&lingxi_types::KbEntry>)> = groups.into_iter().collect();
    ranked.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    let asked = |id: EntryId| popular.iter().find(|(e, _)| *e == id).map_or(0, |(_, n)| *n);
    ranked
        .into_iter()
        .take(n)
        .filter_map(|(category, mut entries)| {
            entries.sort_by(|a, b| asked(b.id).cmp(&asked(a.id)).then_with(|| a.question.cmp(&b.question)));
            entries
                .first()
                .map(|e| (category, Suggestion { entry_id: e.id, question: e.question.clone(), confidence: 0.0 }))
        })
        .collect()
}
