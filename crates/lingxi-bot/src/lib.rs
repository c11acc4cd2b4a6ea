//! The bot's behaviour: for one visitor message, answer from the knowledge base, suggest candidates, admit not
//! knowing, reply to chit-chat, or ask for a human.
//!
//! The bot is pure: the knowledge base arrives as a trained [`KnowledgeBase`] value and the conversation's state as
//! [`BotState`]; [`respond`] returns what to say and whether to hand off. The server persists and delivers it.

mod chitchat;

use lingxi_domain::Lang;
use lingxi_domain::handoff::{is_human_request, too_many_failures};
use lingxi_nlp::{IntentConfig, IntentModel, Outcome, Policy, Utterance};
use lingxi_types::model::DateTimeUtc;
use lingxi_types::{EntryId, HandoffReason, KbEntry};
use std::collections::HashMap;

/// A knowledge base ready to answer: the entries live at training time (enabled and inside their validity period)
/// and the intent model trained on their questions.
#[derive(Clone, Debug)]
pub struct KnowledgeBase {
    entries: HashMap<String, KbEntry>,
    model: Option<IntentModel>,
    policy: Policy,
    refresh_at: Option<DateTimeUtc>,
}

/// Training the knowledge base failed.
#[derive(Debug, thiserror::Error)]
#[error("training the knowledge base failed: {0}")]
pub struct TrainError(String);

impl KnowledgeBase {
    /// An empty knowledge base: the bot admits not knowing to everything but chit-chat.
    pub fn empty() -> KnowledgeBase {
        KnowledgeBase { entries: HashMap::new(), model: None, policy: Policy::default(), refresh_at: None }
    }

    /// Trains on the entries live at `now` (enabled and inside their validity period): each entry is one intent,
    /// its standard and similar questions the examples.
    pub fn train(entries: &[KbEntry], now: DateTimeUtc) -> Result<KnowledgeBase, TrainError> {
        let refresh_at = entries
            .iter()
            .filter(|e| e.enabled)
            .flat_map(|e| [e.valid_from, e.valid_until])
            .flatten()
            .filter(|t| *t > now)
            .min();
        let enabled: Vec<&KbEntry> = entries.iter().filter(|e| e.is_live(now)).collect();
        if enabled.is_empty() {
            return Ok(KnowledgeBase { refresh_at, ..KnowledgeBase::empty() });
        }
        let examples: Vec<Utterance> = enabled
            .iter()
            .flat_map(|e| {
                std::iter::once(&e.question)
                    .chain(e.similar_questions.iter())
                    .map(move |q| Utterance { text: q.clone(), label: e.id.to_string() })
            })
            .collect();
        let model =
            IntentModel::train(&examples, &[], &IntentConfig::default()).map_err(|e| TrainError(e.to_string()))?;
        Ok(KnowledgeBase {
            entries: enabled.into_iter().map(|e| (e.id.to_string(), e.clone())).collect(),
            model: Some(model),
            policy: Policy::default(),
            refresh_at,
        })
    }

    /// When an entry's validity period starts or ends after training: the knowledge base should be retrained then.
    pub fn refresh_at(&self) -> Option<DateTimeUtc> {
        self.refresh_at
    }

    /// The best candidate entries for a text (at most five, best first) with their calibrated confidence, leaving
    /// out entries not live at `now`.
    pub fn candidates(&self, text: &str, now: DateTimeUtc) -> Vec<Suggestion> {
        let Some(model) = &self.model else { return Vec::new() };
        model
            .decide(text, &self.policy)
            .candidates
            .iter()
            .filter_map(|c| self.entries.get(&c.label).map(|e| (e, c.confidence)))
            .filter(|(e, _)| e.is_live(now))
            .map(|(e, confidence)| Suggestion { entry_id: e.id, question: e.question.clone(), confidence })
            .collect()
    }

    /// How many entries the bot can answer from.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the bot has nothing to answer from.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What the bot remembers of a conversation between turns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BotState {
    /// Consecutive visitor messages the bot could not answer.
    pub consecutive_failures: i64,
}

/// A candidate entry offered to the visitor.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// The entry.
    pub entry_id: EntryId,
    /// Its standard question.
    pub question: String,
    /// Calibrated confidence.
    pub confidence: f32,
}

/// What the bot decided for one visitor message.
#[derive(Clone, Debug, PartialEq)]
pub enum BotReply {
    /// A confident answer from an entry.
    Answer {
        /// The entry answered from.
        entry_id: EntryId,
        /// The answer text.
        text: String,
        /// Calibrated confidence.
        confidence: f32,
    },
    /// "Did you mean…" with the best candidates.
    Suggest {
        /// The message listing the candidates.
        text: String,
        /// The candidates.
        suggestions: Vec<Suggestion>,
    },
    /// The bot does not know; it says so and shows the way out.
    Admit {
        /// The message.
        text: String,
    },
    /// Small talk (greeting, thanks, goodbye).
    ChitChat {
        /// The reply.
        text: String,
    },
    /// The visitor should be served by a human.
    Handoff {
        /// Why.
        reason: HandoffReason,
    },
}

/// The bot's turn: its reply and its state after it.
#[derive(Clone, Debug, PartialEq)]
pub struct BotTurn {
    /// What to do.
    pub reply: BotReply,
    /// State to remember for the next turn.
    pub state: BotState,
}

/// Decides the bot's reply to one visitor message at `now`: entries that are not live at `now` are never offered,
/// even if the knowledge base was trained while they were.
pub fn respond(kb: &KnowledgeBase, state: BotState, text: &str, now: DateTimeUtc) -> BotTurn {
    let lang = Lang::of(text);
    if is_human_request(text) {
        return BotTurn {
            reply: BotReply::Handoff { reason: HandoffReason::VisitorRequest },
            state: BotState::default(),
        };
    }
    if let Some(reply) = chitchat::reply(text, lang) {
        return BotTurn { reply: BotReply::ChitChat { text: reply.to_owned() }, state };
    }
    let decision = kb.model.as_ref().map(|m| m.decide(text, &kb.policy));
    let known: Vec<(&KbEntry, f32)> = decision
        .as_ref()
        .map(|d| d.candidates.iter().filter_map(|c| kb.entries.get(&c.label).map(|e| (e, c.confidence))).collect())
        .unwrap_or_default();
    let best_is_live = known.first().is_some_and(|(e, _)| e.is_live(now));
    let candidates: Vec<(&KbEntry, f32)> = known
        .into_iter()
        .filter(|(e, _)| e.is_live(now))
        .enumerate()
        // The best candidate, then only those not far below it: a list of long shots helps nobody.
        .filter(|(i, (_, c))| *i == 0 || *c >= kb.policy.suggest_threshold / 3.0)
        .map(|(_, ec)| ec)
        .take(3)
        .collect();
    let outcome = match decision.as_ref().map(|d| d.outcome).unwrap_or(Outcome::Admit) {
        // The best entry expired since training: offer the others rather than answer with the runner-up.
        Outcome::Answer if !best_is_live => Outcome::Suggest,
        other => other,
    };
    match (outcome, candidates.first()) {
        (Outcome::Answer, Some((entry, confidence))) => BotTurn {
            reply: BotReply::Answer { entry_id: entry.id, text: entry.answer_text.clone(), confidence: *confidence },
            state: BotState::default(),
        },
        (Outcome::Suggest, Some(_)) => {
            let suggestions: Vec<Suggestion> = candidates
                .iter()
                .map(|(e, c)| Suggestion { entry_id: e.id, question: e.question.clone(), confidence: *c })
                .collect();
            let mut text = match lang {
                Lang::Zh => "您是不是想问：".to_owned(),
                Lang::En => "Did you mean:".to_owned(),
            };
            for (i, s) in suggestions.iter().enumerate() {
                text.push_str(&format!("\n{}. {}", i + 1, s.question));
            }
            BotTurn { reply: BotReply::Suggest { text, suggestions }, state }
        }
        _ => {
            let failures = state.consecutive_failures + 1;
            let next = BotState { consecutive_failures: failures };
            if too_many_failures(failures) {
                return BotTurn {
                    reply: BotReply::Handoff { reason: HandoffReason::LowConfidence },
                    state: BotState::default(),
                };
            }
            let text = match lang {
                Lang::Zh => "抱歉，这个问题我暂时还不会回答。您可以换个说法再问一次，或者输入“转人工”联系人工客服。",
                Lang::En => {
                    "Sorry, I don't know the answer to that yet. You can rephrase the question, or type \
                     \"talk to a human\" to reach an agent."
                }
            };
            BotTurn { reply: BotReply::Admit { text: text.to_owned() }, state: next }
        }
    }
}

#[cfg(test)]
mod tests;
