//! The bot in a conversation: the tenant's settings and task flows, one decision per visitor message (stored with
//! its candidates, scores and outcome), the interactive part of its messages (suggestions, guesses, rating, the
//! human button), the task flows' webhook calls, the visitor's ratings, the handoff summary, agent assist and the
//! bot taking a conversation back.

use crate::auth::Authenticated;
use crate::outbound::with_causes;
use crate::workspace::is_supervisor;
use crate::{ServiceError, ServiceResult, Services, WidgetGrant};
use chrono::{TimeDelta, Utc};
use lingxi_bot::flows::{Flow, FlowSpec, check_webhook_url};
use lingxi_bot::guess::{GuessInput, by_category, guesses};
use lingxi_bot::summary::{SummaryTurn, summarise};
use lingxi_bot::{BotReply, BotSettings, BotState, KnowledgeBase, Suggestion, Turn, respond};
use lingxi_bus::Event;
use lingxi_domain::Lang;
use lingxi_store::{DecisionRecord, NewDecision, NewMessage, StoreError};
use lingxi_types::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a task flow's webhook may take.
pub const FLOW_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// How many 猜你想问 questions are offered at a time.
pub const GUESSES: usize = 4;

/// How long the most-asked counts behind the guesses are reused.
const POPULAR_TTL: Duration = Duration::from_secs(60);

/// The tenants' bot settings as last read. `generation` moves on every invalidation, so a read that raced with a
/// save is not cached.
#[derive(Default)]
pub(crate) struct SettingsCache {
    map: std::sync::RwLock<std::collections::HashMap<TenantId, Arc<BotSettings>>>,
    generation: std::sync::atomic::AtomicU64,
}

impl SettingsCache {
    /// Forgets a tenant's settings (all tenants' with `None`).
    pub(crate) fn forget(&self, tenant_id: Option<TenantId>) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut map) = self.map.write() {
            match tenant_id {
                Some(t) => {
                    map.remove(&t);
                }
                None => map.clear(),
            }
        }
    }
}

/// The most-asked entries per tenant, with when they were counted.
pub(crate) type PopularCache =
    std::sync::Mutex<std::collections::HashMap<TenantId, (Instant, Arc<Vec<(EntryId, u64)>>)>>;

/// How many "did you mean" candidates are offered.
const SUGGESTIONS: usize = 3;

/// A task flow as the admin sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredFlow {
    /// Its id.
    pub id: Uuid,
    /// The flow.
    pub spec: FlowSpec,
    /// Created at.
    pub created_at: chrono::DateTime<Utc>,
    /// Updated at.
    pub updated_at: chrono::DateTime<Utc>,
}

/// Where a clicked entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChoiceSource {
    /// A "did you mean" button.
    Suggestion,
    /// A 猜你想问 button.
    Guess,
}

impl ChoiceSource {
    fn as_str(self) -> &'static str {
        match self {
            ChoiceSource::Suggestion => "suggestion",
            ChoiceSource::Guess => "guess",
        }
    }
}

/// An entry the visitor clicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BotChoice {
    /// The entry.
    pub entry_id: EntryId,
    /// Which button.
    pub source: ChoiceSource,
}

/// One knowledge-base answer offered to the agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AssistItem {
    /// The entry.
    pub entry_id: EntryId,
    /// Its standard question.
    pub question: String,
    /// The answer as sanitised rich text.
    pub answer: String,
    /// The answer as plain text (what is inserted into the reply).
    pub answer_text: String,
    /// Calibrated confidence.
    pub confidence: f32,
}

/// What agent assist offers for a conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct Assist {
    /// The visitor's last message.
    pub text: Option<String>,
    /// The best answers for it, best first.
    pub suggestions: Vec<AssistItem>,
}

fn flow_record(r: lingxi_store::FlowRecord) -> ServiceResult<StoredFlow> {
    let spec: FlowSpec = serde_json::from_str(&r.spec)
        .map_err(|e| ServiceError::Store(StoreError::Corrupt(format!("flow {}: {e}", r.name))))?;
    Ok(StoredFlow { id: r.id, spec, created_at: r.created_at, updated_at: r.updated_at })
}

fn options(suggestions: &[Suggestion], n: usize) -> Vec<BotOption> {
    suggestions.iter().take(n).map(|s| BotOption { entry_id: s.entry_id, question: s.question.clone() }).collect()
}

fn meta(outcome: &str) -> BotMeta {
    BotMeta { outcome: outcome.to_owned(), ..BotMeta::default() }
}

fn lang_of(state: &BotState, text: &str) -> Lang {
    match state.lang.as_deref() {
        Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        _ => Lang::of(text),
    }
}

impl Services {
    /// The tenant's bot settings: the saved ones, or the defaults.
    pub async fn bot_settings(&self, tenant_id: TenantId) -> ServiceResult<BotSettings> {
        Ok(match self.store.bot_settings(tenant_id).await? {
            None => BotSettings::default(),
            Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(tenant = %tenant_id, error = %e, "stored bot settings do not read; using the defaults");
                BotSettings::default()
            }),
        })
    }

    /// Validates and saves the tenant's bot settings; the running bot uses them from its next message.
    pub async fn save_bot_settings(&self, tenant_id: TenantId, settings: BotSettings) -> ServiceResult<BotSettings> {
        let settings = settings.validated().map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let encoded = serde_json::to_string(&settings).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        self.store.save_bot_settings(tenant_id, &encoded).await?;
        self.bot_settings.forget(Some(tenant_id));
        self.bus.publish_others(Event::BotSettingsChanged(tenant_id));
        Ok(settings)
    }

    /// [`Services::bot_settings`] as the bot reads them for every message: from memory after the first read.
    pub(crate) async fn cached_bot_settings(&self, tenant_id: TenantId) -> ServiceResult<Arc<BotSettings>> {
        use std::sync::atomic::Ordering;
        let cache = &self.bot_settings;
        if let Some(s) = cache.map.read().ok().and_then(|m| m.get(&tenant_id).cloned()) {
            return Ok(s);
        }
        let generation = cache.generation.load(Ordering::SeqCst);
        let settings = Arc::new(self.bot_settings(tenant_id).await?);
        if let Ok(mut map) = cache.map.write()
            && cache.generation.load(Ordering::SeqCst) == generation
        {
            map.insert(tenant_id, settings.clone());
        }
        Ok(settings)
    }

    /// The tenant's task flows, by name.
    pub async fn bot_flows(&self, tenant_id: TenantId) -> ServiceResult<Vec<StoredFlow>> {
        self.store.bot_flows(tenant_id).await?.into_iter().map(flow_record).collect()
    }

    /// The tenant's flows ready to run (every stored flow that still validates; the others are logged and left out).
    pub(crate) async fn runnable_flows(&self, tenant_id: TenantId) -> ServiceResult<Vec<Flow>> {
        let mut out = Vec::new();
        for stored in self.store.bot_flows(tenant_id).await? {
            match flow_record(stored).and_then(|f| Flow::new(f.spec).map_err(|e| ServiceError::Invalid(e.0))) {
                Ok(flow) => out.push(flow),
                Err(e) => tracing::warn!(tenant = %tenant_id, error = %e, "a stored task flow does not validate"),
            }
        }
        Ok(out)
    }

    /// Checks a task flow's webhook URL against the outbound policy (its shape is checked by [`Flow::new`]).
    fn check_outbound(&self, url: &str) -> ServiceResult<()> {
        self.outbound().check(url).map_err(|e| ServiceError::Invalid(format!("webhook_url: {e}")))
    }

    fn checked_flow(&self, spec: FlowSpec) -> ServiceResult<(String, String)> {
        let flow = Flow::new(spec).map_err(|e| ServiceError::Invalid(e.0))?;
        self.check_outbound(&flow.spec().webhook_url)?;
        let spec = flow.spec();
        let encoded = serde_json::to_string(spec).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        Ok((spec.name.clone(), encoded))
    }

    /// Adds a task flow (validated: name, triggers, slots and their patterns, webhook URL, templates); the bot
    /// learns its triggers in the background.
    pub async fn create_bot_flow(&self, tenant_id: TenantId, spec: FlowSpec) -> ServiceResult<StoredFlow> {
        let (name, encoded) = self.checked_flow(spec)?;
        let stored = self.store.create_bot_flow(tenant_id, &name, &encoded).await.map_err(taken)?;
        self.request_retrain(tenant_id);
        flow_record(stored)
    }

    /// Replaces a task flow.
    pub async fn update_bot_flow(&self, tenant_id: TenantId, id: Uuid, spec: FlowSpec) -> ServiceResult<StoredFlow> {
        let (name, encoded) = self.checked_flow(spec)?;
        let stored = self.store.update_bot_flow(tenant_id, id, &name, &encoded).await.map_err(taken)?;
        self.request_retrain(tenant_id);
        flow_record(stored)
    }

    /// Deletes a task flow.
    pub async fn delete_bot_flow(&self, tenant_id: TenantId, id: Uuid) -> ServiceResult<()> {
        self.store.delete_bot_flow(tenant_id, id).await?;
        self.request_retrain(tenant_id);
        Ok(())
    }

    /// Lets the bot answer a stored visitor message if the bot is serving the conversation.
    pub async fn run_bot(&self, tenant_id: TenantId, message: &Message) -> ServiceResult<()> {
        self.run_bot_with(tenant_id, message, None).await
    }

    /// [`Services::run_bot`] for a message that is the visitor clicking an entry (a suggestion or a guess).
    pub async fn run_bot_with(
        &self,
        tenant_id: TenantId,
        message: &Message,
        choice: Option<BotChoice>,
    ) -> ServiceResult<()> {
        let (conversation, memory, visitor) = self.store.bot_context(tenant_id, message.conversation_id).await?;
        if conversation.status != ConversationStatus::Bot {
            return Ok(());
        }
        let kb = self.knowledge_base(tenant_id).await?;
        let settings = self.cached_bot_settings(tenant_id).await?;
        let state = read_memory(memory.as_deref(), &conversation);
        let now = Utc::now();
        let started = Instant::now();
        let turn = respond(
            &kb,
            &settings,
            &state,
            &Turn {
                text: &message.text,
                choice: choice.map(|c| c.entry_id),
                vip: visitor.vip,
                tags: &visitor.tags,
                channel: conversation.channel,
                now,
            },
        );
        let latency_us = started.elapsed().as_micros() as i64;
        let lang = lang_of(&turn.state, &message.text);
        let zh = lang == Lang::Zh;
        let candidates = json!(
            turn.trace
                .candidates
                .iter()
                .map(|s| json!({"entry_id": s.entry_id, "question": s.question, "confidence": s.confidence}))
                .collect::<Vec<_>>()
        )
        .to_string();
        let mut decision = NewDecision {
            message_id: Some(message.id),
            text: message.text.clone(),
            resolved_text: turn.trace.resolved_text.clone(),
            outcome: if turn.trace.picked { "choice".into() } else { turn.reply.outcome().into() },
            candidates,
            follow_up: turn.trace.follow_up,
            source: turn.trace.picked.then(|| choice.map_or("typed", |c| c.source.as_str()).to_owned()),
            latency_us,
            ..NewDecision::default()
        };
        // What the turn writes, in one transaction at its end.
        let mut events = Vec::new();
        let mut category = None;
        if let Some(c) = choice
            && c.source == ChoiceSource::Guess
        {
            events.push((EventKind::GuessClicked, json!({"entry_id": c.entry_id})));
        }
        let (text, kind, detail, bot) = match &turn.reply {
            BotReply::Answer { entry_id, text, confidence } => {
                category = new_category(&conversation, &kb, *entry_id);
                decision.entry_id = Some(*entry_id);
                decision.confidence = Some(*confidence);
                let guessed = self.guesses_for(&kb, &conversation, &visitor, Some(lang), &[*entry_id]).await?;
                let bot = BotMeta { entry_id: Some(*entry_id), guesses: guessed, feedback: true, ..meta("answer") };
                (text.clone(), EventKind::BotAnswered, json!({"entry_id": entry_id, "confidence": confidence}), bot)
            }
            BotReply::ChitChat { text } => {
                (text.clone(), EventKind::BotAnswered, json!({"chitchat": true}), meta("chitchat"))
            }
            BotReply::Suggest { text, suggestions } => {
                if let Some(best) = suggestions.first() {
                    category = new_category(&conversation, &kb, best.entry_id);
                    decision.entry_id = Some(best.entry_id);
                    decision.confidence = Some(best.confidence);
                }
                let bot = BotMeta { suggestions: options(suggestions, SUGGESTIONS), ..meta("suggest") };
                (text.clone(), EventKind::BotFailed, json!({"outcome": "suggest"}), bot)
            }
            BotReply::Admit { text } => {
                // The way out: rephrase, a human, or a topic to pick (one question per top-level category).
                let topics = self.topics(&kb, tenant_id, Some(lang)).await?;
                let mut text = text.clone();
                if !topics.is_empty() {
                    let names: Vec<&str> = topics.iter().map(|(c, _)| c.as_str()).collect();
                    text.push_str(&if zh {
                        format!("\n也可以从这些分类里找找：{}", names.join(" · "))
                    } else {
                        format!("\nOr pick a topic: {}", names.join(" · "))
                    });
                }
                let guesses =
                    topics.into_iter().map(|(_, s)| BotOption { entry_id: s.entry_id, question: s.question }).collect();
                (
                    text,
                    EventKind::BotFailed,
                    json!({"outcome": "admit"}),
                    BotMeta { human: true, guesses, ..meta("admit") },
                )
            }
            BotReply::FlowAsk { flow, text } => {
                decision.flow = Some(flow.clone());
                (text.clone(), EventKind::BotAnswered, json!({"outcome": "flow", "flow": flow}), meta("flow"))
            }
            BotReply::FlowEnd { flow, text, offer_human } => {
                decision.flow = Some(flow.clone());
                let bot = BotMeta { human: *offer_human, ..meta("flow") };
                (text.clone(), EventKind::BotFailed, json!({"outcome": "flow_end", "flow": flow}), bot)
            }
            BotReply::FlowCall { flow, slots } => {
                decision.flow = Some(flow.clone());
                match kb.flow(flow) {
                    Some(f) => match self.call_flow(f, slots, &conversation, &visitor, zh).await {
                        Ok(text) => {
                            (text, EventKind::BotAnswered, json!({"outcome": "flow", "flow": flow}), meta("flow"))
                        }
                        Err(error) => {
                            tracing::info!(%flow, %error, "task flow webhook failed");
                            (
                                f.failure_text(zh),
                                EventKind::BotFailed,
                                json!({"outcome": "flow_failed", "flow": flow, "error": error}),
                                BotMeta { human: true, ..meta("flow_failed") },
                            )
                        }
                    },
                    None => (String::new(), EventKind::BotFailed, json!({"outcome": "flow_failed"}), meta("flow")),
                }
            }
            BotReply::Handoff { reason, detail } => {
                decision.reason = Some(reason.as_str().to_owned());
                self.store.record_bot_decision(tenant_id, conversation.id, &decision).await?;
                for (kind, detail) in events {
                    self.store.record_event(tenant_id, Some(conversation.id), kind, detail).await?;
                }
                if *reason == HandoffReason::LowConfidence {
                    self.store
                        .record_event(
                            tenant_id,
                            Some(conversation.id),
                            EventKind::BotFailed,
                            json!({"outcome": "handoff"}),
                        )
                        .await?;
                }
                self.hand_over(tenant_id, &conversation, *reason, detail.as_deref(), lang).await?;
                return Ok(());
            }
        };
        let reply = (!text.trim().is_empty()).then(|| {
            let shown = bot.guesses.iter().map(|g| g.entry_id).collect::<Vec<_>>();
            if !shown.is_empty() {
                events.push((EventKind::GuessShown, json!({"entries": shown})));
            }
            NewMessage {
                author: Author::Bot,
                author_user: None,
                author_name: None,
                text,
                client_id: None,
                attachment: None,
                bot: Some(bot),
            }
        });
        events.push((kind, detail));
        let write = lingxi_store::BotTurnWrite {
            reply,
            decision,
            events,
            state: serde_json::to_string(&turn.state).unwrap_or_else(|_| "{}".into()),
            failures: turn.state.consecutive_failures,
            category,
        };
        if let Some(reply) = self.store.record_bot_turn(tenant_id, conversation.id, write).await? {
            self.bus.publish(Event::MessageStored(reply));
        }
        Ok(())
    }

    /// What the bot remembers of a conversation; a state written by another version that does not read starts
    /// afresh (keeping the failure count).
    async fn bot_memory(&self, conversation: &Conversation) -> ServiceResult<BotState> {
        let stored = self.store.bot_state(conversation.tenant_id, conversation.id).await?;
        Ok(read_memory(stored.as_deref(), conversation))
    }

    /// Stores what the bot remembers of a conversation.
    async fn remember(&self, tenant_id: TenantId, id: ConversationId, state: &BotState) -> ServiceResult<()> {
        let encoded = serde_json::to_string(state).unwrap_or_else(|_| "{}".into());
        Ok(self.store.set_bot_state(tenant_id, id, &encoded, state.consecutive_failures).await?)
    }

    /// Hands the conversation to the humans: the summary note for the agent, the bot's memory cleared, then the
    /// handoff itself.
    async fn hand_over(
        &self,
        tenant_id: TenantId,
        conversation: &Conversation,
        reason: HandoffReason,
        detail: Option<&str>,
        lang: Lang,
    ) -> ServiceResult<()> {
        let summary = self.summary(tenant_id, conversation.id, reason, detail, lang).await?;
        let note = NewMessage {
            author: Author::Note,
            author_user: None,
            author_name: Some(if lang == Lang::Zh { "机器人摘要" } else { "Bot summary" }.to_owned()),
            text: summary,
            client_id: None,
            attachment: None,
            bot: Some(meta("summary")),
        };
        self.post(tenant_id, conversation.id, note).await?;
        self.store.set_bot_state(tenant_id, conversation.id, "{}", 0).await?;
        self.handoff(tenant_id, conversation.id, reason).await?;
        Ok(())
    }

    /// The one-paragraph summary of the bot's part of the conversation, from its stored decisions.
    async fn summary(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        reason: HandoffReason,
        detail: Option<&str>,
        lang: Lang,
    ) -> ServiceResult<String> {
        let decisions = self.store.bot_decisions(tenant_id, id).await?;
        let kb = self.knowledge_base(tenant_id).await?;
        let now = Utc::now();
        let turns: Vec<SummaryTurn> = decisions
            .iter()
            .map(|d| SummaryTurn {
                visitor: d.decision.text.clone(),
                outcome: match d.decision.outcome.as_str() {
                    "choice" => "answer".to_owned(),
                    other => other.to_owned(),
                },
                entry_question: d.decision.entry_id.and_then(|e| kb.entry(e, now)).map(|e| e.question.clone()),
                rejected: d.feedback == Some(false),
            })
            .collect();
        Ok(summarise(&turns, reason, detail, lang))
    }

    /// Calls a task flow's webhook with the collected slots and renders its reply template from the JSON answer.
    /// `Err` says why the call failed (the bot then says the flow's failure text and offers a human).
    async fn call_flow(
        &self,
        flow: &Flow,
        slots: &BTreeMap<String, String>,
        conversation: &Conversation,
        visitor: &Visitor,
        zh: bool,
    ) -> Result<String, String> {
        let url = &flow.spec().webhook_url;
        check_webhook_url(url).map_err(|e| e.0)?;
        let body = json!({
            "flow": flow.name(),
            "slots": slots,
            "conversation_id": conversation.id,
            "visitor": {"id": visitor.id, "name": visitor.name},
            "language": if zh { "zh" } else { "en" },
        });
        let response = self
            .outbound()
            .post(url)
            .map_err(|e| e.to_string())?
            .timeout(FLOW_WEBHOOK_TIMEOUT)
            .header("user-agent", "Lingxi-Flow/1")
            .header("x-lingxi-flow", flow.name())
            .json(&body)
            .send()
            .await
            .map_err(|e| if e.is_timeout() { "the webhook timed out".to_owned() } else { with_causes(&e) })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the webhook answered HTTP {}", status.as_u16()));
        }
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() > 256 * 1024 {
            return Err("the webhook's answer is larger than 256 KiB".into());
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("the webhook's answer is not JSON: {e}"))?;
        Ok(flow.render_reply(zh, slots, &value))
    }

    async fn guesses_for(
        &self,
        kb: &KnowledgeBase,
        conversation: &Conversation,
        visitor: &Visitor,
        lang: Option<Lang>,
        exclude: &[EntryId],
    ) -> ServiceResult<Vec<BotOption>> {
        if kb.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let popular = self.popular(conversation.tenant_id).await?;
        let mut context: Vec<(String, String)> =
            conversation.context.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(page) = &conversation.entry_page
            && !conversation.context.contains_key("page")
        {
            context.push(("page".into(), page.clone()));
        }
        let input = GuessInput { context: &context, tags: &visitor.tags, popular: &popular, lang, exclude };
        Ok(options(&guesses(kb, &input, GUESSES, now), GUESSES))
    }

    /// The entries answered most in the last 7 days (at most 50, most first). Computed from the stored decisions
    /// at most once a minute per tenant: guesses follow every answer, and the count need not be to the second.
    async fn popular(&self, tenant_id: TenantId) -> ServiceResult<Arc<Vec<(EntryId, u64)>>> {
        let fresh = |at: &Instant| at.elapsed() < POPULAR_TTL;
        if let Ok(cache) = self.popular.lock()
            && let Some((at, list)) = cache.get(&tenant_id)
            && fresh(at)
        {
            return Ok(list.clone());
        }
        let since = Utc::now() - TimeDelta::days(7);
        let list: Arc<Vec<(EntryId, u64)>> = Arc::new(
            self.store
                .popular_entries(tenant_id, since, 50)
                .await?
                .into_iter()
                .map(|(e, n)| (e, n.max(0) as u64))
                .collect(),
        );
        if let Ok(mut cache) = self.popular.lock() {
            cache.insert(tenant_id, (Instant::now(), list.clone()));
        }
        Ok(list)
    }

    /// Up to four topics (top-level categories) with one question each, for an admitted question.
    async fn topics(
        &self,
        kb: &KnowledgeBase,
        tenant_id: TenantId,
        lang: Option<Lang>,
    ) -> ServiceResult<Vec<(String, Suggestion)>> {
        if kb.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let popular = self.popular(tenant_id).await?;
        Ok(by_category(kb, &popular, lang, GUESSES, now))
    }

    /// 猜你想问 for a widget that opens: questions likely for this visitor (recorded as shown).
    pub async fn widget_guesses(&self, grant: &WidgetGrant) -> ServiceResult<Vec<BotOption>> {
        let conversation = self.store.conversation(grant.tenant_id, grant.conversation_id).await?;
        if conversation.status != ConversationStatus::Bot {
            return Ok(Vec::new());
        }
        let kb = self.knowledge_base(grant.tenant_id).await?;
        let visitor = self.store.visitor(grant.tenant_id, conversation.visitor_id).await?;
        let lang = conversation.language.as_deref().map(|l| if l == "zh" { Lang::Zh } else { Lang::En });
        let out = self.guesses_for(&kb, &conversation, &visitor, lang, &[]).await?;
        if !out.is_empty() {
            let shown: Vec<EntryId> = out.iter().map(|g| g.entry_id).collect();
            self.store
                .record_event(grant.tenant_id, Some(conversation.id), EventKind::GuessShown, json!({"entries": shown}))
                .await?;
        }
        Ok(out)
    }

    /// The widget's language for a new conversation: the conversation's language until the visitor writes.
    pub async fn set_widget_language(&self, grant: &WidgetGrant, language: &str) -> ServiceResult<()> {
        Ok(self.store.set_conversation_context(grant.tenant_id, grant.conversation_id, Some(language), None).await?)
    }

    /// Stores the business context the page passed in with a new conversation (validated by the caller).
    pub async fn set_business_context(
        &self,
        grant: &WidgetGrant,
        context: &BTreeMap<String, String>,
    ) -> ServiceResult<()> {
        Ok(self.store.set_conversation_business_context(grant.tenant_id, grant.conversation_id, context).await?)
    }

    /// The visitor rates a bot answer of their conversation. A "not useful" counts like an admitted question: after
    /// `max_failures` in a row the conversation goes to a human. Rating again replaces the rating (and is not
    /// counted twice).
    pub async fn rate_bot_reply(&self, grant: &WidgetGrant, message_id: MessageId, useful: bool) -> ServiceResult<()> {
        let tenant_id = grant.tenant_id;
        let before = self
            .store
            .rate_bot_reply(tenant_id, grant.conversation_id, message_id, useful)
            .await?
            .ok_or(ServiceError::NotFound("bot answer"))?;
        self.store
            .record_event(
                tenant_id,
                Some(grant.conversation_id),
                EventKind::BotRated,
                json!({"message_id": message_id, "useful": useful, "entry_id": before.decision.entry_id}),
            )
            .await?;
        if useful || before.feedback == Some(false) {
            return Ok(());
        }
        let conversation = self.store.conversation(tenant_id, grant.conversation_id).await?;
        if conversation.status != ConversationStatus::Bot {
            return Ok(());
        }
        let settings = self.bot_settings(tenant_id).await?;
        let state = self.bot_memory(&conversation).await?;
        let lang = lang_of(&state, &before.decision.text);
        // The failures in a row, counted over the stored decisions: an admitted question or an answer rated "not
        // useful" is one; any other reply ends the run. (The answer itself had reset the bot's count when it was
        // given, before the visitor rated it.)
        let decisions = self.store.bot_decisions(tenant_id, conversation.id).await?;
        let failures =
            decisions.iter().rev().take_while(|d| d.decision.outcome == "admit" || d.feedback == Some(false)).count()
                as i64;
        if failures >= settings.max_failures {
            self.hand_over(tenant_id, &conversation, HandoffReason::LowConfidence, Some("rated not useful"), lang)
                .await?;
            return Ok(());
        }
        let after = BotState { consecutive_failures: failures, ..state };
        self.remember(tenant_id, conversation.id, &after).await?;
        let text = if lang == Lang::Zh {
            "抱歉没能帮到您。您可以换个说法再问一次，或点击“转人工”联系人工客服。"
        } else {
            "Sorry that didn't help. You can ask again in other words, or talk to a human."
        };
        let new = NewMessage {
            author: Author::Bot,
            author_user: None,
            author_name: None,
            text: text.to_owned(),
            client_id: None,
            attachment: None,
            bot: Some(BotMeta { human: true, ..meta("admit") }),
        };
        self.post(tenant_id, conversation.id, new).await?;
        Ok(())
    }

    /// Agent assist: the best knowledge-base answers for the visitor's last message.
    pub async fn assist(&self, who: &Authenticated, id: ConversationId) -> ServiceResult<Assist> {
        let tenant_id = who.tenant.id;
        self.store.conversation(tenant_id, id).await?;
        let Some(last) = self.store.last_visitor_message(tenant_id, id).await? else {
            return Ok(Assist { text: None, suggestions: Vec::new() });
        };
        let kb = self.knowledge_base(tenant_id).await?;
        let now = Utc::now();
        let suggestions = kb
            .candidates(&last.text, now)
            .into_iter()
            .filter_map(|s| {
                kb.entry(s.entry_id, now).map(|e| AssistItem {
                    entry_id: e.id,
                    question: e.question.clone(),
                    answer: e.answer.clone(),
                    answer_text: e.answer_text.clone(),
                    confidence: s.confidence,
                })
            })
            .take(SUGGESTIONS)
            .collect();
        Ok(Assist { text: Some(last.text), suggestions })
    }

    /// The take-back rule of the tenant's settings: conversations queued longer than `queue_takeback_secs` go back
    /// to the bot (logged as `bot_takeback` events with the rule). Returns how many.
    pub async fn take_back_long_waits(&self, tenant_id: TenantId) -> ServiceResult<usize> {
        let secs = self.bot_settings(tenant_id).await?.queue_takeback_secs;
        if secs == 0 {
            return Ok(0);
        }
        let before = Utc::now() - TimeDelta::seconds(i64::from(secs));
        let mut n = 0;
        for c in self.store.queued_before(tenant_id, before).await? {
            let detail = json!({"rule": "queue_takeback_secs", "secs": secs, "from_status": c.status});
            let text = "人工客服暂时都在忙，机器人助手先回来为您服务；您也可以留言，我们会尽快回复。 / All agents are \
                        still busy, so the bot assistant is back to help meanwhile; you can also leave a message and \
                        we will reply soon.";
            if self.give_back(tenant_id, c.id, &[ConversationStatus::Queued], detail, text).await?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Moves a conversation back to the bot (compare-and-set from `from`) with a fresh memory, logs it and tells
    /// the visitor; `None` when it was no longer in `from`.
    async fn give_back(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        from: &[ConversationStatus],
        detail: serde_json::Value,
        text: &str,
    ) -> ServiceResult<Option<Conversation>> {
        let Some(done) =
            self.store.transition_conversation(tenant_id, id, from, ConversationStatus::Bot, None, None).await?
        else {
            return Ok(None);
        };
        self.store.set_bot_state(tenant_id, id, "{}", 0).await?;
        self.store.record_event(tenant_id, Some(id), EventKind::BotTakeback, detail).await?;
        self.post_system(tenant_id, id, text).await?;
        self.changed(&done);
        self.bus.publish(Event::QueueChanged(tenant_id));
        Ok(Some(done))
    }

    /// The bot takes a conversation back from the humans (the serving agent, or a supervisor and above): it
    /// serves it again from the next visitor message, with a fresh memory. Logged as a `bot_takeback` event.
    pub async fn bot_takeback(&self, who: &Authenticated, id: ConversationId) -> ServiceResult<Conversation> {
        let tenant_id = who.tenant.id;
        let current = self.store.conversation(tenant_id, id).await?;
        match current.status {
            ConversationStatus::Assigned if current.assigned_agent == Some(who.user.id) || is_supervisor(who) => {}
            ConversationStatus::Queued if is_supervisor(who) => {}
            ConversationStatus::Assigned | ConversationStatus::Queued => {
                return Err(ServiceError::Forbidden(
                    "only the serving agent or a supervisor may give this conversation back to the bot".into(),
                ));
            }
            s => return Err(ServiceError::Conflict(format!("a conversation that is {s} is not with the humans"))),
        }
        let detail = json!({"by": who.user.id, "from_agent": current.assigned_agent, "from_status": current.status});
        let text = "机器人助手已回来为您服务。 / The bot assistant is back to help you.";
        self.give_back(tenant_id, id, &[ConversationStatus::Assigned, ConversationStatus::Queued], detail, text)
            .await?
            .ok_or_else(|| ServiceError::Conflict("the conversation changed meanwhile; try again".into()))
    }

    /// Every decision of the bot in a conversation, oldest first.
    pub async fn bot_decisions(&self, tenant_id: TenantId, id: ConversationId) -> ServiceResult<Vec<DecisionRecord>> {
        self.store.conversation(tenant_id, id).await?;
        Ok(self.store.bot_decisions(tenant_id, id).await?)
    }
}

fn taken(e: StoreError) -> ServiceError {
    match e {
        StoreError::AlreadyExists(_) => ServiceError::Conflict("a flow with this name already exists".into()),
        other => other.into(),
    }
}

/// What the bot remembers of a conversation from its stored JSON; a state written by another version that does not
/// read starts afresh (keeping the failure count).
fn read_memory(stored: Option<&str>, conversation: &Conversation) -> BotState {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(BotState { consecutive_failures: conversation.bot_failures, ..BotState::default() })
}

/// The category of the entry the bot matched, for routing, when it differs from the conversation's (the trained
/// model holds the entry: no read).
fn new_category(conversation: &Conversation, kb: &lingxi_bot::KnowledgeBase, entry: EntryId) -> Option<String> {
    let category = kb.entry(entry, Utc::now()).map(|e| e.category.trim()).filter(|c| !c.is_empty())?;
    (conversation.category.as_deref() != Some(category)).then(|| category.to_owned())
}
