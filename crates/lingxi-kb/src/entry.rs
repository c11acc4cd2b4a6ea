//! The rules every entry obeys, whether typed in the admin page, sent to the API or read from a file.

use crate::answer::sanitize_answer;
use chrono::{DateTime, Utc};
use lingxi_types::{Channel, ChannelAnswer};
use std::collections::BTreeMap;

/// The channels an entry may have its own answer for.
pub const CHANNELS: [&str; 2] = ["web", "api"];

/// The longest standard or similar question, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// The most similar questions per entry.
pub const MAX_SIMILAR: usize = 200;
/// The longest answer (rich text as given), in characters.
pub const MAX_ANSWER_CHARS: usize = 20_000;
/// The longest category path, in characters.
pub const MAX_CATEGORY_CHARS: usize = 200;
/// The most tags per entry.
pub const MAX_TAGS: usize = 20;
/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;

/// An entry as its author wrote it, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryInput {
    /// Standard question.
    pub question: String,
    /// Similar questions.
    pub similar_questions: Vec<String>,
    /// Answer, rich text (HTML) or plain text.
    pub answer: String,
    /// Answers for particular channels (`web`, `api`), rich text; empty ones are left out.
    pub channel_answers: BTreeMap<String, String>,
    /// Category path (`/`-separated).
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether the bot uses it.
    pub enabled: bool,
    /// Start of validity.
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity (exclusive).
    pub valid_until: Option<DateTime<Utc>>,
}

/// A valid entry, normalised: trimmed texts, no duplicate or empty similar questions and tags, sanitised answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryFields {
    /// Standard question.
    pub question: String,
    /// Similar questions, distinct and different from the standard question.
    pub similar_questions: Vec<String>,
    /// Sanitised rich-text answer.
    pub answer: String,
    /// Plain-text answer.
    pub answer_text: String,
    /// Sanitised answers for particular channels.
    pub channel_answers: BTreeMap<String, ChannelAnswer>,
    /// Normalised category path (`售后/退货`).
    pub category: String,
    /// Distinct tags.
    pub tags: Vec<String>,
    /// Whether the bot uses it.
    pub enabled: bool,
    /// Start of validity.
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity (exclusive).
    pub valid_until: Option<DateTime<Utc>>,
}

/// Why an entry is invalid: the field and a message for the author.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field (the column name of the import template).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into() }
}

/// Trims, drops empty values and duplicates (keeping the first), and drops values in `except`.
fn distinct(values: Vec<String>, except: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let v = v.trim();
        if !v.is_empty() && v != except && !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

/// Normalises a category path: segments split on `/` (or the full-width `／`), trimmed, empty ones dropped.
pub fn normalize_category(category: &str) -> String {
    category.split(['/', '／']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/")
}

impl EntryInput {
    /// Checks and normalises the entry.
    pub fn validate(self) -> Result<EntryFields, FieldError> {
        let question = self.question.trim().to_owned();
        if question.is_empty() {
            return Err(invalid("question", "the standard question is empty"));
        }
        if question.chars().count() > MAX_QUESTION_CHARS {
            return Err(invalid(
                "question",
                format!("the standard question is longer than {MAX_QUESTION_CHARS} characters"),
            ));
        }
        let similar_questions = distinct(self.similar_questions, &question);
        if similar_questions.len() > MAX_SIMILAR {
            return Err(invalid("similar_questions", format!("more than {MAX_SIMILAR} similar questions")));
        }
        if similar_questions.iter().any(|q| q.chars().count() > MAX_QUESTION_CHARS) {
            return Err(invalid(
                "similar_questions",
                format!("a similar question is longer than {MAX_QUESTION_CHARS} characters"),
            ));
        }
        if self.answer.chars().count() > MAX_ANSWER_CHARS {
            return Err(invalid("answer", format!("the answer is longer than {MAX_ANSWER_CHARS} characters")));
        }
        let answer = sanitize_answer(self.answer.trim());
        if answer.text.trim().is_empty() {
            return Err(invalid("answer", "the answer is empty"));
        }
        let mut channel_answers = BTreeMap::new();
        for (channel, text) in self.channel_answers {
            let channel = channel.trim().to_lowercase();
            if Channel::parse(&channel).is_none() {
                return Err(invalid(
                    "channel_answers",
                    format!("\"{channel}\" is not a channel (one of {})", CHANNELS.join(", ")),
                ));
            }
            if text.chars().count() > MAX_ANSWER_CHARS {
                return Err(invalid(
                    "channel_answers",
                    format!("the {channel} answer is longer than {MAX_ANSWER_CHARS} characters"),
                ));
            }
            let a = sanitize_answer(text.trim());
            if !a.text.trim().is_empty() {
                channel_answers.insert(channel, ChannelAnswer { answer: a.html, answer_text: a.text });
            }
        }
        let category = normalize_category(&self.category);
        if category.chars().count() > MAX_CATEGORY_CHARS {
            return Err(invalid("category", format!("the category is longer than {MAX_CATEGORY_CHARS} characters")));
        }
        let tags = distinct(self.tags, "");
        if tags.len() > MAX_TAGS || tags.iter().any(|t| t.chars().count() > MAX_TAG_CHARS) {
            return Err(invalid("tags", format!("at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters")));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            return Err(invalid("valid_until", "the end of validity must come after its start"));
        }
        Ok(EntryFields {
            question,
            similar_questions,
            answer: answer.html,
            answer_text: answer.text,
            channel_answers,
            category,
            tags,
            enabled: self.enabled,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(question: &str, answer: &str) -> EntryInput {
        EntryInput { question: question.into(), answer: answer.into(), enabled: true, ..Default::default() }
    }

    #[test]
    fn valid_entries_are_normalised() -> Result<(), FieldError> {
        let e = EntryInput {
            similar_questions: vec![" 如何退货 ".into(), "".into(), "如何退货".into(), "怎么退货".into()],
            category: " 售后 / 退货 /".into(),
            tags: vec!["退货".into(), " 退货".into(), "".into()],
            ..input(" 怎么退货 ", "<b>七天</b>无理由")
        }
        .validate()?;
        assert_eq!(e.question, "怎么退货");
        assert_eq!(e.similar_questions, vec!["如何退货"]);
        assert_eq!(e.category, "售后/退货");
        assert_eq!(e.tags, vec!["退货"]);
        assert_eq!((e.answer.as_str(), e.answer_text.as_str()), ("<b>七天</b>无理由", "七天无理由"));
        Ok(())
    }

    #[test]
    fn channel_answers_are_sanitised_and_only_known_channels_are_taken() -> Result<(), FieldError> {
        let mut e = input("怎么退货", "七天");
        e.channel_answers =
            [("API ".to_owned(), "<b>小程序</b><script>x</script>".to_owned()), ("web".into(), " ".into())].into();
        let v = e.clone().validate()?;
        assert_eq!(v.channel_answers.len(), 1, "the empty web answer is left out");
        assert_eq!(
            (v.channel_answers["api"].answer.as_str(), v.channel_answers["api"].answer_text.as_str()),
            ("<b>小程序</b>", "小程序")
        );
        e.channel_answers = [("fax".to_owned(), "x".to_owned())].into();
        assert_eq!(e.validate().map_err(|e| e.field), Err("channel_answers"));
        Ok(())
    }

    #[test]
    fn invalid_entries_name_their_field() {
        let long = "问".repeat(MAX_QUESTION_CHARS + 1);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).ok();
        let cases = [
            (input("  ", "a"), "question"),
            (input(&long, "a"), "question"),
            (input("q", "<script>x</script>"), "answer"),
            (input("q", " "), "answer"),
            (EntryInput { similar_questions: vec![long.clone()], ..input("q", "a") }, "similar_questions"),
            (EntryInput { tags: (0..=MAX_TAGS).map(|i| i.to_string()).collect(), ..input("q", "a") }, "tags"),
            (
                EntryInput {
                    valid_from: t("2026-02-01T00:00:00Z"),
                    valid_until: t("2026-01-01T00:00:00Z"),
                    ..input("q", "a")
                },
                "valid_until",
            ),
        ];
        for (case, field) in cases {
            assert_eq!(case.validate().err().map(|e| e.field), Some(field));
        }
    }
}
