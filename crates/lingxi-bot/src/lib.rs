//! The bot's behaviour: for one visitor message, answer from the knowledge base, suggest candidates, admit not
//! knowing, reply to chit-chat, run a task flow, or ask for a human.
//!
//! The bot is pure: the knowledge base arrives as a trained [`KnowledgeBase`] value, the tenant's [`BotSettings`]
//! and the conversation's [`BotState`] as values; [`respond`] returns what to say, the state to remember and a
//! [`Trace`] of the decision. The service persists and delivers it, and calls the webhooks of task flows.
//!
//! The order of the checks for one message: a clicked suggestion; chit-chat (whole short messages); an explicit
//! request for a human; a business-rule keyword; strong anger; a running task flow; a VIP visitor; a typed pick
//! ("2") among the offered suggestions; then the knowledge base, reading the message as a follow-up of the previous
//! question when it looks like one ("那退货呢？", "and for express?").

pub mod flows;
pub mod guess;
pub mod settings;
pub mod summary;

use flows::Flow;
use lingxi_domain::Lang;
use lingxi_domain::handoff::is_human_request;
use lingxi_nlp::{Emotion, IntentConfig, IntentDecision, IntentModel, Outcome, SentimentModel, Utterance, normalize};
use lingxi_types::model::DateTimeUtc;
use lingxi_types::{Channel, EntryId, HandoffReason, KbEntry};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use settings::{BotSettings, ChitChatRule, default_chitchat};

/// The label prefix of a task flow's triggers in the intent model.
const FLOW_LABEL: &str = "flow:";

/// A knowledge base ready to answer: the entries live at training time (enabled and inside their validity period),
/// the enabled task flows, and the intent model trained on their questions and triggers.
#[derive(Clone, Debug)]
pub struct KnowledgeBase {
    entries: HashMap<String, KbEntry>,
    flows: HashMap<String, Flow>,
    model: Option<IntentModel>,
    sentiment: SentimentModel,
    refresh_at: Option<DateTimeUtc>,
}

/// Training the knowledge base failed.
#[derive(Debug, thiserror::Error)]
#[error("training the knowledge base failed: {0}")]
pub struct TrainError(String);

impl KnowledgeBase {
    /// An empty knowledge base: the bot admits not knowing to everything but chit-chat.
    pub fn empty() -> KnowledgeBase {
        KnowledgeBase {
            entries: HashMap::new(),
            flows: HashMap::new(),
            model: None,
            sentiment: SentimentModel::shipped(),
            refresh_at: None,
        }
    }

    /// Trains on the entries live at `now` (enabled and inside their validity period): each entry is one intent,
    /// its standard and similar questions the examples.
    pub fn train(entries: &[KbEntry], now: DateTimeUtc) -> Result<KnowledgeBase, TrainError> {
        KnowledgeBase::train_with_flows(entries, &[], now, &IntentConfig::default())
    }

    /// [`KnowledgeBase::train`] with task flows (each enabled flow is one more intent, its triggers the examples)
    /// and an engine configuration (e.g. with a sentence encoder).
    pub fn train_with_flows(
        entries: &[KbEntry],
        flows: &[Flow],
        now: DateTimeUtc,
        config: &IntentConfig,
    ) -> Result<KnowledgeBase, TrainError> {
        let refresh_at = entries
            .iter()
            .filter(|e| e.enabled)
            .flat_map(|e| [e.valid_from, e.valid_until])
            .flatten()
            .filter(|t| *t > now)
            .min();
        let enabled: Vec<&KbEntry> = entries.iter().filter(|e| e.is_live(now)).collect();
        let flows: Vec<&Flow> = flows.iter().filter(|f| f.spec().enabled).collect();
        if enabled.is_empty() && flows.is_empty() {
            return Ok(KnowledgeBase { refresh_at, ..KnowledgeBase::empty() });
        }
        let mut examples: Vec<Utterance> = enabled
            .iter()
            .flat_map(|e| {
                std::iter::once(&e.question)
                    .chain(e.similar_questions.iter())
                    .map(move |q| Utterance { text: q.clone(), label: e.id.to_string() })
            })
            .collect();
        for flow in &flows {
            let label = format!("{FLOW_LABEL}{}", flow.name());
            examples.extend(flow.spec().triggers.iter().map(|t| Utterance { text: t.clone(), label: label.clone() }));
        }
        let model = IntentModel::train(&examples, &[], config).map_err(|e| TrainError(e.to_string()))?;
        Ok(KnowledgeBase {
            entries: enabled.into_iter().map(|e| (e.id.to_string(), e.clone())).collect(),
            flows: flows.into_iter().map(|f| (f.name().to_owned(), f.clone())).collect(),
            model: Some(model),
            sentiment: SentimentModel::shipped(),
            refresh_at,
        })
    }

    /// When an entry's validity period starts or ends after training: the knowledge base should be retrained then.
    pub fn refresh_at(&self) -> Option<DateTimeUtc> {
        self.refresh_at
    }

    /// The best candidate entries for a text (at most five, best first) with their calibrated confidence, leaving
    /// out entries not live at `now` and task flows.
    pub fn candidates(&self, text: &str, now: DateTimeUtc) -> Vec<Suggestion> {
        let Some(model) = &self.model else { return Vec::new() };
        self.suggestions(&model.decide(text, &BotSettings::default().policy()), now)
    }

    fn suggestions(&self, decision: &IntentDecision, now: DateTimeUtc) -> Vec<Suggestion> {
        decision
            .candidates
            .iter()
            .filter_map(|c| self.entries.get(&c.label).map(|e| (e, c.confidence)))
            .filter(|(e, _)| e.is_live(now))
            .map(|(e, confidence)| Suggestion { entry_id: e.id, question: e.question.clone(), confidence })
            .collect()
    }

    /// A live entry by id.
    pub fn entry(&self, id: EntryId, now: DateTimeUtc) -> Option<&KbEntry> {
        self.entries.get(&id.to_string()).filter(|e| e.is_live(now))
    }

    /// A task flow by name.
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.get(name)
    }

    /// The entries the bot answers from (live at training time).
    pub fn entries(&self) -> impl Iterator<Item = &KbEntry> {
        self.entries.values()
    }

    /// How many entries the bot can answer from.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the bot has nothing to answer from.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn decide(&self, text: &str, settings: &BotSettings) -> Option<IntentDecision> {
        self.model.as_ref().map(|m| m.decide(text, &settings.policy()))
    }
}

/// A running task flow: which one, and the slots collected so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowProgress {
    /// The flow's name.
    pub flow: String,
    /// Slot values collected.
    pub slots: BTreeMap<String, String>,
    /// Answers in a row that did not fill the slot asked for.
    pub attempts: u32,
}

/// What the bot remembers of a conversation between turns (stored with the conversation as JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotState {
    /// Consecutive visitor messages the bot could not answer (admitted, or rated "not useful").
    pub consecutive_failures: i64,
    /// The question last answered (as the bot read it), for follow-ups.
    pub last_question: Option<String>,
    /// The entry last answered.
    pub last_entry: Option<EntryId>,
    /// The candidates last offered ("did you mean"), so that "2" picks one.
    pub offered: Vec<EntryId>,
    /// A task flow in progress.
    pub flow: Option<FlowProgress>,
    /// The visitor's language as last seen (`zh` / `en`), for messages that show none ("12345", "LX20261203").
    pub lang: Option<String>,
}

/// One visitor message and what is known of the visitor.
#[derive(Clone, Debug)]
pub struct Turn<'a> {
    /// The message.
    pub text: &'a str,
    /// An entry the visitor clicked (a suggestion or a guess).
    pub choice: Option<EntryId>,
    /// The visitor's VIP flag.
    pub vip: bool,
    /// The visitor's tags.
    pub tags: &'a [String],
    /// The channel the visitor writes on (answers may have a variant for it).
    pub channel: Channel,
    /// Now.
    pub now: DateTimeUtc,
}

impl<'a> Turn<'a> {
    /// A typed message from a visitor with no tags.
    pub fn text(text: &'a str, now: DateTimeUtc) -> Turn<'a> {
        Turn { text, choice: None, vip: false, tags: &[], channel: Channel::Web, now }
    }
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
    /// A confident answer from an entry (or the entry the visitor picked).
    Answer {
        /// The entry answered from.
        entry_id: EntryId,
        /// The answer text.
        text: String,
        /// Calibrated confidence (1 for a picked entry).
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
    /// Small talk (greeting, thanks, goodbye, "are you a robot?").
    ChitChat {
        /// The reply.
        text: String,
    },
    /// A task flow asks for a slot (or asks again after an answer that did not fit).
    FlowAsk {
        /// The flow.
        flow: String,
        /// The question.
        text: String,
    },
    /// A task flow has every slot: the service calls its webhook and renders the reply with
    /// [`Flow::render_reply`] (or says [`Flow::failure_text`]).
    FlowCall {
        /// The flow.
        flow: String,
        /// The collected slots.
        slots: BTreeMap<String, String>,
    },
    /// A task flow ended without a call: the visitor cancelled, or could not give a valid value.
    FlowEnd {
        /// The flow.
        flow: String,
        /// What to say.
        text: String,
        /// Whether to offer a human.
        offer_human: bool,
    },
    /// The visitor should be served by a human.
    Handoff {
        /// Why.
        reason: HandoffReason,
        /// What triggered it (the keyword, the category, the emotion's strength), for the record.
        detail: Option<String>,
    },
}

impl BotReply {
    /// The outcome's name as stored with the decision.
    pub fn outcome(&self) -> &'static str {
        match self {
            BotReply::Answer { .. } => "answer",
            BotReply::Suggest { .. } => "suggest",
            BotReply::Admit { .. } => "admit",
            BotReply::ChitChat { .. } => "chitchat",
            BotReply::FlowAsk { .. } | BotReply::FlowCall { .. } | BotReply::FlowEnd { .. } => "flow",
            BotReply::Handoff { .. } => "handoff",
        }
    }
}

/// How the bot read the message: for the stored decision and the "test the bot" panel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The text matched, when the message was read as a follow-up of the previous question.
    pub resolved_text: Option<String>,
    /// Whether the message was read as a follow-up.
    pub follow_up: bool,
    /// Whether the visitor picked the entry (a clicked or typed choice among suggestions or guesses).
    pub picked: bool,
    /// The ranked candidate entries behind the decision.
    pub candidates: Vec<Suggestion>,
}

/// The bot's turn: its reply, its state after it and how it decided.
#[derive(Clone, Debug, PartialEq)]
pub struct BotTurn {
    /// What to do.
    pub reply: BotReply,
    /// State to remember for the next turn.
    pub state: BotState,
    /// How it decided.
    pub trace: Trace,
}

fn zh(lang: Lang) -> bool {
    lang == Lang::Zh
}

/// Decides the bot's reply to one visitor message: entries that are not live at `turn.now` are never offered, even
/// if the knowledge base was trained while they were.
pub fn respond(kb: &KnowledgeBase, settings: &BotSettings, state: &BotState, turn: &Turn) -> BotTurn {
    let lang = language(state, turn.text);
    let mut out = respond_in(kb, settings, state, turn, lang);
    out.state.lang = Some(if zh(lang) { "zh" } else { "en" }.to_owned());
    out
}

/// The language of a message, or the one remembered when the message shows none (only ids and numbers).
fn language(state: &BotState, text: &str) -> Lang {
    let neutral = text
        .split_whitespace()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .all(|w| !w.chars().any(char::is_alphabetic));
    match (neutral, state.lang.as_deref()) {
        (true, Some("zh")) => Lang::Zh,
        (true, Some("en")) => Lang::En,
        _ => Lang::of(text),
    }
}

fn respond_in(kb: &KnowledgeBase, settings: &BotSettings, state: &BotState, turn: &Turn, lang: Lang) -> BotTurn {
    let now = turn.now;
    let done = |reply: BotReply, state: BotState| BotTurn { reply, state, trace: Trace::default() };
    let handoff = |reason: HandoffReason, detail: Option<String>| BotTurn {
        reply: BotReply::Handoff { reason, detail },
        state: BotState::default(),
        trace: Trace::default(),
    };

    // A clicked suggestion or guess.
    if let Some(entry) = turn.choice.and_then(|id| kb.entry(id, now)) {
        return answer_entry(settings, entry, 1.0, turn.channel, Trace { picked: true, ..Trace::default() });
    }
    if let Some(text) = settings::chitchat_reply(&settings.chitchat, turn.text, zh(lang)) {
        return done(BotReply::ChitChat { text: text.to_owned() }, BotState { flow: None, ..state.clone() });
    }
    if is_human_request(turn.text) {
        return handoff(HandoffReason::VisitorRequest, None);
    }
    if let Some(keyword) = settings.handoff_keyword(turn.text) {
        return handoff(HandoffReason::Rule, Some(format!("keyword: {keyword}")));
    }
    if settings.emotion_handoff {
        let reading = kb.sentiment.analyze(turn.text);
        let anger = reading.emotions.iter().find(|(e, _)| *e == Emotion::Anger).map_or(0.0, |(_, s)| *s);
        let disappointment =
            reading.emotions.iter().find(|(e, _)| *e == Emotion::Disappointment).map_or(0.0, |(_, s)| *s);
        // A cue alone is not enough ("滚筒洗衣机" holds 滚): the message must not read as positive.
        let strong = (anger >= settings.emotion_threshold && reading.score <= -0.2)
            || (disappointment >= settings.emotion_threshold && reading.score <= -0.6);
        if strong {
            return handoff(
                HandoffReason::NegativeEmotion,
                Some(format!("anger {anger:.2}, disappointment {disappointment:.2}, polarity {:.2}", reading.score)),
            );
        }
    }
    if let Some(progress) = &state.flow
        && let Some(flow) = kb.flow(&progress.flow)
        && let Some(turn) = continue_flow(kb, settings, state, flow, progress, turn, lang)
    {
        return turn;
    }
    if settings.vip_handoff && settings.is_vip(turn.vip, turn.tags) {
        return handoff(HandoffReason::Vip, None);
    }
    // "2" / "第二个" picks among the suggestions just offered.
    if let Some(i) = typed_pick(turn.text)
        && let Some(entry) = state.offered.get(i).and_then(|id| kb.entry(*id, now))
    {
        return answer_entry(settings, entry, 1.0, turn.channel, Trace { picked: true, ..Trace::default() });
    }
    let Some(standalone) = kb.decide(turn.text, settings) else {
        return admit(settings, state, lang, Trace::default());
    };
    let (decision, trace) = resolve_follow_up(kb, settings, state, turn.text, standalone);
    decide(kb, settings, state, turn, lang, decision, trace)
}

/// Turns the knowledge base's decision into the bot's reply.
fn decide(
    kb: &KnowledgeBase,
    settings: &BotSettings,
    state: &BotState,
    turn: &Turn,
    lang: Lang,
    decision: IntentDecision,
    mut trace: Trace,
) -> BotTurn {
    let now = turn.now;
    let best = decision.candidates.first();
    // A task flow's trigger, confidently: start it.
    if decision.outcome == Outcome::Answer
        && let Some(name) = best.and_then(|c| c.label.strip_prefix(FLOW_LABEL))
        && let Some(flow) = kb.flow(name)
    {
        let slots = flow.prefill(turn.text);
        return flow_step(flow, BotState { flow: None, offered: Vec::new(), ..state.clone() }, slots, lang, trace);
    }
    let best_is_live = best.is_some_and(|c| kb.entries.get(&c.label).is_some_and(|e| e.is_live(now)));
    trace.candidates = kb.suggestions(&decision, now);
    let candidates: Vec<Suggestion> = trace
        .candidates
        .iter()
        .enumerate()
        // The best candidate, then only those not far below it: a list of long shots helps nobody.
        .filter(|(i, s)| *i == 0 || s.confidence >= settings.suggest_threshold / 3.0)
        .map(|(_, s)| s.clone())
        .take(3)
        .collect();
    let outcome = match decision.outcome {
        // The best entry expired since training (or is a flow, which is not offered as a suggestion): offer the
        // others rather than answer with the runner-up.
        Outcome::Answer if !best_is_live => Outcome::Suggest,
        other => other,
    };
    match (outcome, candidates.first()) {
        (Outcome::Answer, Some(best)) => {
            let entry = kb.entries.get(&best.entry_id.to_string()).expect("a candidate is a known entry");
            answer_entry(settings, entry, best.confidence, turn.channel, trace)
        }
        (Outcome::Suggest, Some(_)) => {
            let mut text = if zh(lang) { "您是不是想问：".to_owned() } else { "Did you mean:".to_owned() };
            for (i, s) in candidates.iter().enumerate() {
                text.push_str(&format!("\n{}. {}", i + 1, s.question));
            }
            let next = BotState {
                consecutive_failures: 0,
                offered: candidates.iter().map(|s| s.entry_id).collect(),
                flow: None,
                ..state.clone()
            };
            BotTurn { reply: BotReply::Suggest { text, suggestions: candidates }, state: next, trace }
        }
        _ => admit(settings, state, lang, trace),
    }
}

fn answer_entry(settings: &BotSettings, entry: &KbEntry, confidence: f32, channel: Channel, trace: Trace) -> BotTurn {
    if settings.is_handoff_category(&entry.category) {
        return BotTurn {
            reply: BotReply::Handoff {
                reason: HandoffReason::Rule,
                detail: Some(format!("category: {}", entry.category.trim())),
            },
            state: BotState::default(),
            trace,
        };
    }
    BotTurn {
        reply: BotReply::Answer { entry_id: entry.id, text: entry.answer_text_for(channel).to_owned(), confidence },
        state: BotState {
            consecutive_failures: 0,
            last_question: Some(entry.question.clone()),
            last_entry: Some(entry.id),
            offered: Vec::new(),
            flow: None,
            lang: None,
        },
        trace,
    }
}

fn admit(settings: &BotSettings, state: &BotState, lang: Lang, trace: Trace) -> BotTurn {
    let failures = state.consecutive_failures + 1;
    if failures >= settings.max_failures {
        return BotTurn {
            reply: BotReply::Handoff { reason: HandoffReason::LowConfidence, detail: None },
            state: BotState::default(),
            trace,
        };
    }
    let text = if zh(lang) {
        "抱歉，这个问题我暂时还不会回答。您可以换个说法再问一次，或者输入“转人工”联系人工客服。"
    } else {
        "Sorry, I don't know the answer to that yet. You can rephrase the question, or type \"talk to a human\" to \
         reach an agent."
    };
    BotTurn {
        reply: BotReply::Admit { text: text.to_owned() },
        state: BotState { consecutive_failures: failures, offered: Vec::new(), flow: None, ..state.clone() },
        trace,
    }
}

/// The visitor rated an answer "not useful": it counts as a failure. Returns the state after it, and whether the
/// conversation should now go to a human.
pub fn reject(settings: &BotSettings, state: &BotState) -> (BotState, bool) {
    let failures = state.consecutive_failures + 1;
    if failures >= settings.max_failures {
        return (BotState::default(), true);
    }
    (BotState { consecutive_failures: failures, ..state.clone() }, false)
}

// ---- task flows ----

const CANCEL_WORDS: &[&str] =
    &["取消", "算了", "不查了", "不用了", "退出", "cancel", "stop", "never mind", "nevermind", "quit"];

fn is_cancel(text: &str) -> bool {
    let norm = normalize(text).to_lowercase();
    let bare: String = norm.chars().filter(|c| c.is_alphanumeric() || c.is_whitespace()).collect();
    let bare = bare.trim();
    CANCEL_WORDS.iter().any(|w| bare == *w || bare.trim_end_matches(['吧', '了', '啊']) == *w)
}

/// The next step of a flow with these slots: ask for the next one, or call the webhook.
fn flow_step(flow: &Flow, state: BotState, slots: BTreeMap<String, String>, lang: Lang, trace: Trace) -> BotTurn {
    match flow.next_slot(&slots) {
        Some((_, slot)) => {
            let text = if zh(lang) { slot.prompt_zh.clone() } else { slot.prompt_en.clone() };
            BotTurn {
                reply: BotReply::FlowAsk { flow: flow.name().to_owned(), text },
                state: BotState {
                    consecutive_failures: 0,
                    flow: Some(FlowProgress { flow: flow.name().to_owned(), slots, attempts: 0 }),
                    ..state
                },
                trace,
            }
        }
        None => BotTurn {
            reply: BotReply::FlowCall { flow: flow.name().to_owned(), slots },
            state: BotState { consecutive_failures: 0, flow: None, last_question: None, last_entry: None, ..state },
            trace,
        },
    }
}

/// A message while a flow waits for a slot. `None`: the message is something else (a confident question of the
/// knowledge base), so the flow is dropped and the message decided as usual.
fn continue_flow(
    kb: &KnowledgeBase,
    settings: &BotSettings,
    state: &BotState,
    flow: &Flow,
    progress: &FlowProgress,
    turn: &Turn,
    lang: Lang,
) -> Option<BotTurn> {
    let end = |text: String, offer_human: bool| BotTurn {
        reply: BotReply::FlowEnd { flow: flow.name().to_owned(), text, offer_human },
        state: BotState { flow: None, ..state.clone() },
        trace: Trace::default(),
    };
    if is_cancel(turn.text) {
        let text = if zh(lang) {
            "好的，已为您取消。还有什么可以帮您？"
        } else {
            "OK, cancelled. Anything else I can help with?"
        };
        return Some(end(text.to_owned(), false));
    }
    let (index, slot) = flow.next_slot(&progress.slots)?;
    if let Some(value) = flow.extract(index, turn.text) {
        let mut slots = progress.slots.clone();
        slots.insert(slot.name.clone(), value);
        return Some(flow_step(flow, state.clone(), slots, lang, Trace::default()));
    }
    // Not the slot: maybe a different question the knowledge base knows well.
    if let Some(decision) = kb.decide(turn.text, settings)
        && decision.outcome == Outcome::Answer
        && decision.candidates.first().is_some_and(|c| kb.entries.contains_key(&c.label))
    {
        return None;
    }
    let attempts = progress.attempts + 1;
    if attempts >= 3 {
        let text = if zh(lang) {
            "抱歉，我没能识别您提供的信息。您可以稍后再试，或者转人工客服为您处理。"
        } else {
            "Sorry, I couldn't read that. You can try again later, or talk to an agent."
        };
        return Some(end(text.to_owned(), true));
    }
    let own = if zh(lang) { &slot.invalid_zh } else { &slot.invalid_en };
    let prompt = if zh(lang) { &slot.prompt_zh } else { &slot.prompt_en };
    let text = if own.trim().is_empty() {
        if zh(lang) { format!("格式好像不对。{prompt}") } else { format!("That doesn't look right. {prompt}") }
    } else {
        own.clone()
    };
    Some(BotTurn {
        reply: BotReply::FlowAsk { flow: flow.name().to_owned(), text },
        state: BotState { flow: Some(FlowProgress { attempts, ..progress.clone() }), ..state.clone() },
        trace: Trace::default(),
    })
}

// ---- picks and follow-ups ----

/// "1"–"3", "第二个", "the second one": the index of a typed pick.
fn typed_pick(text: &str) -> Option<usize> {
    let norm = normalize(text).to_lowercase();
    let bare: String = norm.chars().filter(|c| c.is_alphanumeric() || c.is_whitespace()).collect();
    let bare = bare.trim();
    let picks: [&[&str]; 3] = [
        &["1", "第一个", "第一", "一", "first", "the first", "the first one", "first one", "no 1"],
        &["2", "第二个", "第二", "二", "second", "the second", "the second one", "second one", "no 2"],
        &["3", "第三个", "第三", "三", "third", "the third", "the third one", "third one", "no 3"],
    ];
    picks.iter().position(|set| set.contains(&bare))
}

const ZH_FOLLOW_UP_STARTS: &[&str] =
    &["那么", "那如果", "那要是", "那", "如果是", "要是", "还有", "另外", "换成", "至于"];
const EN_FOLLOW_UP_STARTS: &[&str] =
    &["and ", "what about", "how about", "what if", "and if", "also ", "same for", "and for", "or ", "but what about"];

/// Whether a message reads like a follow-up of the previous question.
fn looks_like_follow_up(text: &str) -> bool {
    let norm = normalize(text).to_lowercase();
    let bare = norm.trim().trim_end_matches(|c: char| !c.is_alphanumeric());
    if bare.chars().any(lingxi_nlp::is_cjk) {
        ZH_FOLLOW_UP_STARTS.iter().any(|p| bare.starts_with(p)) || bare.ends_with('呢')
    } else {
        let padded = format!("{bare} ");
        EN_FOLLOW_UP_STARTS.iter().any(|p| padded.starts_with(p))
    }
}

/// Whether a message is too short to stand on its own.
fn is_short(text: &str) -> bool {
    let cjk = text.chars().filter(|c| lingxi_nlp::is_cjk(*c)).count();
    if cjk > 0 { cjk <= 6 } else { text.split_whitespace().count() <= 4 }
}

/// Reads the message with the previous question when it looks like a follow-up: the combined text is decided
/// without the previous entry (a follow-up asks about something else), whose share of the confidence is given to
/// the others, but never more than doubling a candidate the message alone does not point to.
fn resolve_follow_up(
    kb: &KnowledgeBase,
    settings: &BotSettings,
    state: &BotState,
    text: &str,
    standalone: IntentDecision,
) -> (IntentDecision, Trace) {
    let Some(previous) = &state.last_question else { return (standalone, Trace::default()) };
    let marked = looks_like_follow_up(text);
    if !marked && (standalone.outcome == Outcome::Answer || !is_short(text)) {
        return (standalone, Trace::default());
    }
    let combined_text = format!("{text} {previous}");
    let Some(combined) = kb.decide(&combined_text, settings) else { return (standalone, Trace::default()) };
    let previous_label = state.last_entry.map(|e| e.to_string());
    let previous_share =
        combined.candidates.iter().find(|c| Some(&c.label) == previous_label.as_ref()).map_or(0.0, |c| c.confidence);
    let mut candidates: Vec<lingxi_nlp::Candidate> = combined
        .candidates
        .into_iter()
        .filter(|c| Some(&c.label) != previous_label.as_ref())
        .map(|mut c| {
            let own = standalone.candidates.iter().any(|s| s.label == c.label);
            let lifted = c.confidence / (1.0 - previous_share).max(0.05);
            c.confidence = lifted.min(if own { 1.0 } else { 2.0 * c.confidence });
            c
        })
        .collect();
    candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let best = candidates.first().map_or(0.0, |c| c.confidence);
    let outcome = if best >= settings.answer_threshold {
        Outcome::Answer
    } else if best >= settings.suggest_threshold {
        Outcome::Suggest
    } else {
        Outcome::Admit
    };
    let standalone_best = standalone.candidates.first().map_or(0.0, |c| c.confidence);
    // A marked follow-up ("那换货呢？") alone often reads confidently as the wrong entry ("怎么换货"): the combined
    // reading wins when it answers, or when it is at least as sure.
    let better = outcome == Outcome::Answer || (marked && best >= standalone_best);
    if !better || candidates.is_empty() {
        return (standalone, Trace::default());
    }
    (
        IntentDecision { outcome, candidates },
        Trace { resolved_text: Some(combined_text), follow_up: true, ..Trace::default() },
    )
}

#[cfg(test)]
mod tests;
