//! The knowledge base as the supervisor uses it: validated changes, imports and exports, "test the bot", and the
//! per-tenant trained model that is retrained in the background after every change.
//!
//! Retraining: a change asks for a retrain and returns at once. One background task per tenant waits a moment (so
//! that a burst of changes is trained once), trains from storage and swaps the new model in; the old model answers
//! until then. A change that arrives while a training runs makes the task train once more when it ends.

use crate::{ServiceError, ServiceResult, Services};
use chrono::Utc;
use lingxi_bot::{BotReply, BotState, KnowledgeBase, Suggestion, Turn, respond};
use lingxi_kb::{EntryFields, EntryInput, RowError, TableFormat, read_table, write_table};
use lingxi_store::NewKbEntry;
use lingxi_types::{EntryId, KbEntry, TenantId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a retrain waits for more changes before it starts.
pub const RETRAIN_DELAY: Duration = Duration::from_millis(200);

/// The per-tenant models and the retrains under way.
#[derive(Default)]
pub(crate) struct KbModels {
    models: std::sync::RwLock<HashMap<TenantId, Arc<KnowledgeBase>>>,
    /// Tenants with a retrain task; `true` when another change arrived while it was training.
    pending: Mutex<HashMap<TenantId, bool>>,
    settled: Notify,
    /// One first training per tenant: the requests that find no model wait for it instead of training their own
    /// (a node restarted under traffic would otherwise train once per visitor).
    first: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
}

impl KbModels {
    fn pending(&self) -> MutexGuard<'_, HashMap<TenantId, bool>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn first(&self) -> MutexGuard<'_, HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>> {
        self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, tenant_id: TenantId) -> Option<Arc<KnowledgeBase>> {
        self.models.read().ok().and_then(|m| m.get(&tenant_id).cloned())
    }
}

/// How an import treats invalid rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Any invalid row: nothing is imported (the default).
    AllOrNothing,
    /// Import the valid rows, report the invalid ones.
    SkipInvalid,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Non-blank data rows in the file.
    pub total_rows: usize,
    /// Whether the valid rows were written (false only when all-or-nothing met an invalid row).
    pub applied: bool,
    /// New entries.
    pub created: usize,
    /// Entries (matched by standard question) that changed.
    pub updated: usize,
    /// Entries that already held exactly the row's content.
    pub unchanged: usize,
    /// Invalid rows left out.
    pub skipped: usize,
    /// The invalid rows, with row numbers as a spreadsheet shows them.
    pub errors: Vec<RowError>,
}

/// What the bot would do with a question, for the "test the bot" panel.
#[derive(Clone, Debug, PartialEq)]
pub struct BotTest {
    /// `answer`, `suggest`, `admit`, `chitchat` or `handoff`.
    pub outcome: &'static str,
    /// The reply the visitor would see (empty for a handoff).
    pub reply: String,
    /// The entry answered from.
    pub entry_id: Option<EntryId>,
    /// The best candidates with their calibrated confidence, best first.
    pub candidates: Vec<Suggestion>,
    /// How many entries the model in use answers from.
    pub live_entries: usize,
    /// Whether a newer model is being trained (the result comes from the previous one).
    pub retraining: bool,
}

fn new_entry(fields: EntryFields, author: Option<UserId>) -> NewKbEntry {
    NewKbEntry {
        question: fields.question,
        similar_questions: fields.similar_questions,
        answer: fields.answer,
        answer_text: fields.answer_text,
        channel_answers: fields.channel_answers,
        category: fields.category,
        tags: fields.tags,
        enabled: fields.enabled,
        valid_from: fields.valid_from,
        valid_until: fields.valid_until,
        author,
    }
}

fn validate(input: EntryInput) -> ServiceResult<EntryFields> {
    input.validate().map_err(|e| ServiceError::Invalid(e.to_string()))
}

impl Services {
    /// The tenant's trained knowledge base, training it on first use. When an entry's validity period has begun or
    /// ended since it was trained, a retrain is started (entries that ended are never offered meanwhile).
    pub async fn knowledge_base(&self, tenant_id: TenantId) -> ServiceResult<Arc<KnowledgeBase>> {
        if let Some(kb) = self.kb.get(tenant_id) {
            if kb.refresh_at().is_some_and(|at| at <= Utc::now()) {
                self.schedule_retrain(tenant_id);
            }
            return Ok(kb);
        }
        let gate = self.kb.first().entry(tenant_id).or_default().clone();
        let _turn = gate.lock().await;
        if let Some(kb) = self.kb.get(tenant_id) {
            return Ok(kb);
        }
        let trained = self.retrain(tenant_id).await;
        if trained.is_ok() {
            self.kb.first().remove(&tenant_id);
        }
        trained
    }

    /// Retrains the tenant's knowledge base from storage now and swaps it in; the previous one answers until then.
    pub async fn retrain(&self, tenant_id: TenantId) -> ServiceResult<Arc<KnowledgeBase>> {
        let entries = self.store.list_kb_entries(tenant_id).await?;
        let flows = self.runnable_flows(tenant_id).await?;
        let now = Utc::now();
        let config = self.intent_config();
        let kb = tokio::task::spawn_blocking(move || KnowledgeBase::train_with_flows(&entries, &flows, now, &config))
            .await
            .map_err(|e| ServiceError::Conflict(format!("training stopped: {e}")))?
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let kb = Arc::new(kb);
        if let Ok(mut map) = self.kb.models.write() {
            map.insert(tenant_id, kb.clone());
        }
        Ok(kb)
    }

    /// Asks for a background retrain of the tenant's knowledge base after a change, here and on the other nodes;
    /// bursts of requests are trained once.
    pub fn request_retrain(&self, tenant_id: TenantId) {
        self.bus.publish_others(lingxi_bus::Event::KbChanged(tenant_id));
        self.schedule_retrain(tenant_id);
    }

    /// Follows the other nodes' news: a knowledge base changed there is retrained here (when this node has a model
    /// of it: otherwise it trains at first use), bot settings saved there are read again; after events may have
    /// been missed, every model held is retrained and every tenant's settings read again. Runs
    /// until the bus closes.
    pub fn spawn_bus_listener(&self) -> tokio::task::JoinHandle<()> {
        let services = self.clone();
        let mut events = self.bus.subscribe();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(lingxi_bus::Event::KbChanged(t)) => {
                        let held = services.kb.models.read().is_ok_and(|m| m.contains_key(&t));
                        if held {
                            services.schedule_retrain(t);
                        }
                    }
                    Ok(lingxi_bus::Event::BotSettingsChanged(t)) => services.bot_settings.forget(Some(t)),
                    Ok(lingxi_bus::Event::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        services.bot_settings.forget(None);
                        let held: Vec<TenantId> =
                            services.kb.models.read().map(|m| m.keys().copied().collect()).unwrap_or_default();
                        for t in held {
                            services.schedule_retrain(t);
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }

    /// Starts (or extends) this node's background retrain of the tenant's knowledge base.
    fn schedule_retrain(&self, tenant_id: TenantId) {
        {
            let mut pending = self.kb.pending();
            if let Some(again) = pending.get_mut(&tenant_id) {
                *again = true;
                return;
            }
            pending.insert(tenant_id, false);
        }
        let services = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRAIN_DELAY).await;
                if let Some(again) = services.kb.pending().get_mut(&tenant_id) {
                    *again = false;
                }
                if let Err(e) = services.retrain(tenant_id).await {
                    tracing::warn!(tenant = %tenant_id, error = %e, "retraining the knowledge base failed");
                }
                let mut pending = services.kb.pending();
                if pending.get(&tenant_id) == Some(&true) {
                    continue;
                }
                pending.remove(&tenant_id);
                services.kb.settled.notify_waiters();
                break;
            }
        });
    }

    /// Whether a retrain of the tenant's knowledge base is waiting or running.
    pub fn is_retraining(&self, tenant_id: TenantId) -> bool {
        self.kb.pending().contains_key(&tenant_id)
    }

    /// Waits until no retrain of the tenant's knowledge base is waiting or running.
    pub async fn kb_settled(&self, tenant_id: TenantId) {
        loop {
            let notified = self.kb.settled.notified();
            if !self.is_retraining(tenant_id) {
                return;
            }
            notified.await;
        }
    }

    /// Adds a validated entry; the bot learns it in the background.
    pub async fn create_kb_entry(&self, tenant_id: TenantId, by: UserId, input: EntryInput) -> ServiceResult<KbEntry> {
        let fields = validate(input)?;
        let entry = self.store.create_kb_entry(tenant_id, new_entry(fields, Some(by))).await?;
        self.request_retrain(tenant_id);
        Ok(entry)
    }

    /// Replaces an entry's fields; the bot learns the change in the background.
    pub async fn update_kb_entry(
        &self,
        tenant_id: TenantId,
        id: EntryId,
        by: UserId,
        input: EntryInput,
    ) -> ServiceResult<KbEntry> {
        let fields = validate(input)?;
        let entry = self.store.update_kb_entry(tenant_id, id, new_entry(fields, Some(by))).await?;
        self.request_retrain(tenant_id);
        Ok(entry)
    }

    /// Deletes an entry; the bot forgets it in the background.
    pub async fn delete_kb_entry(&self, tenant_id: TenantId, id: EntryId) -> ServiceResult<()> {
        self.store.delete_kb_entry(tenant_id, id).await?;
        self.request_retrain(tenant_id);
        Ok(())
    }

    /// Imports a file in the template's shape, upserting by standard question in one transaction. `progress` is
    /// called with the rows written so far and the rows to write.
    pub async fn import_kb(
        &self,
        tenant_id: TenantId,
        by: Option<UserId>,
        format: TableFormat,
        bytes: Vec<u8>,
        mode: ImportMode,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> ServiceResult<ImportReport> {
        let table = tokio::task::spawn_blocking(move || read_table(format, &bytes))
            .await
            .map_err(|e| ServiceError::Conflict(format!("reading stopped: {e}")))?
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let mut report = ImportReport {
            total_rows: table.total_rows,
            skipped: table.errors.len(),
            errors: table.errors,
            ..ImportReport::default()
        };
        if mode == ImportMode::AllOrNothing && !report.errors.is_empty() {
            report.skipped = report.total_rows;
            return Ok(report);
        }
        let entries: Vec<NewKbEntry> = table.rows.into_iter().map(|r| new_entry(r.entry, by)).collect();
        let total = entries.len();
        let counts = self.store.upsert_kb_entries(tenant_id, &entries, &mut |done| progress(done, total)).await?;
        (report.applied, report.created, report.updated, report.unchanged) =
            (true, counts.created, counts.updated, counts.unchanged);
        if counts.created + counts.updated > 0 {
            self.request_retrain(tenant_id);
        }
        Ok(report)
    }

    /// The tenant's whole knowledge base as a file in the template's shape.
    pub async fn export_kb(&self, tenant_id: TenantId, format: TableFormat) -> ServiceResult<Vec<u8>> {
        let entries = self.store.list_kb_entries(tenant_id).await?;
        tokio::task::spawn_blocking(move || write_table(format, &entries))
            .await
            .map_err(|e| ServiceError::Conflict(format!("writing stopped: {e}")))?
            .map_err(|e| ServiceError::Invalid(e.to_string()))
    }

    /// What the bot would answer to `text` now, with its best candidates; nothing is stored.
    pub async fn test_bot(&self, tenant_id: TenantId, text: &str) -> ServiceResult<BotTest> {
        let text = crate::validate_text(text)?;
        let kb = self.knowledge_base(tenant_id).await?;
        let settings = self.bot_settings(tenant_id).await?;
        let now = Utc::now();
        let turn = respond(&kb, &settings, &BotState::default(), &Turn::text(text, now));
        let (outcome, reply, entry_id) = match turn.reply {
            BotReply::Answer { entry_id, text, .. } => ("answer", text, Some(entry_id)),
            BotReply::Suggest { text, .. } => ("suggest", text, None),
            BotReply::Admit { text } => ("admit", text, None),
            BotReply::ChitChat { text } => ("chitchat", text, None),
            BotReply::FlowAsk { text, .. } | BotReply::FlowEnd { text, .. } => ("flow", text, None),
            BotReply::FlowCall { .. } => ("flow", String::new(), None),
            BotReply::Handoff { .. } => ("handoff", String::new(), None),
        };
        Ok(BotTest {
            outcome,
            reply,
            entry_id,
            candidates: kb.candidates(text, now),
            live_entries: kb.len(),
            retraining: self.is_retraining(tenant_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lingxi_bus::Bus;

    type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    async fn services()
    -> Result<(Services, TenantId, UserId, tempfile::TempDir), Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let store = lingxi_store::testing::sqlite_store(dir.path()).await?;
        let t = store.create_tenant("kb", "KB", "wk_kb").await?;
        let u = store.create_user(t.id, "a@kb.test", "A", lingxi_types::Role::Admin, "x").await?;
        Ok((Services::new(store, Bus::default()), t.id, u.id, dir))
    }

    fn input(question: &str, similar: &[&str], answer: &str) -> EntryInput {
        EntryInput {
            question: question.into(),
            similar_questions: similar.iter().map(|s| s.to_string()).collect(),
            answer: answer.into(),
            enabled: true,
            ..Default::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_find_no_model_wait_for_one_training() -> TestResult {
        let (s, t, u, _dir) = services().await?;
        s.create_kb_entry(t, u, input("怎么退货", &["如何退货", "退货流程", "how do I return an item"], "RETURN"))
            .await?;
        s.kb_settled(t).await;
        s.kb.models.write().map_err(|_| "lock")?.clear();
        let asking: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.knowledge_base(t).await })
            })
            .collect();
        let mut models = Vec::new();
        for a in asking {
            models.push(a.await??);
        }
        assert!(models.iter().all(|m| Arc::ptr_eq(m, &models[0])), "every request got the one model trained");
        assert_eq!(models[0].len(), 1);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_reach_the_bot_in_the_background_while_the_old_model_answers() -> TestResult {
        let (s, t, u, _dir) = services().await?;
        s.create_kb_entry(t, u, input("怎么退货", &["如何退货", "退货流程", "how do I return an item"], "RETURN"))
            .await?;
        s.kb_settled(t).await;
        let old = s.knowledge_base(t).await?;
        assert_eq!(old.len(), 1);
        // The change returns before the retrain; the model in use stays the old one until the new one is ready.
        s.create_kb_entry(t, u, input("多久发货", &["什么时候发货", "发货时间", "when will my order ship"], "SHIP"))
            .await?;
        assert!(s.is_retraining(t));
        assert!(Arc::ptr_eq(&s.knowledge_base(t).await?, &old), "the old model answers meanwhile");
        // More changes during the retrain are coalesced into it or into one more.
        for i in 0..5 {
            s.create_kb_entry(t, u, input(&format!("问题{i}"), &[], "x")).await?;
        }
        s.kb_settled(t).await;
        let new = s.knowledge_base(t).await?;
        assert_eq!(new.len(), 7);
        let test = s.test_bot(t, "什么时候发货").await?;
        assert_eq!((test.outcome, test.reply.as_str()), ("answer", "SHIP"));
        assert_eq!(test.candidates.first().map(|c| c.question.as_str()), Some("多久发货"));
        Ok(())
    }

    /// Records the texts it embeds; every vector is the same, so answers stay lexical.
    #[derive(Default)]
    struct Recording(std::sync::Mutex<Vec<String>>);

    impl lingxi_nlp::SentenceEncoder for Recording {
        fn encode(&self, text: &str) -> Vec<f32> {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(text.to_string());
            }
            vec![1.0, 0.0]
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_node_s_sentence_encoder_embeds_the_questions_and_the_visitor_s_text() -> TestResult {
        let (s, t, u, _dir) = services().await?;
        let encoder = Arc::new(Recording::default());
        s.set_sentence_encoder(Some(encoder.clone()));
        s.create_kb_entry(t, u, input("怎么退货", &["如何退货", "how do I return an item"], "RETURN")).await?;
        s.create_kb_entry(t, u, input("多久发货", &["什么时候发货"], "SHIP")).await?;
        s.kb_settled(t).await;
        let seen = encoder.0.lock().map(|v| v.clone()).unwrap_or_default();
        for q in ["怎么退货", "如何退货", "how do I return an item", "多久发货", "什么时候发货"] {
            assert!(seen.iter().any(|t| t == q), "{q} was not embedded: {seen:?}");
        }
        let test = s.test_bot(t, "退货流程是什么").await?;
        assert_eq!(test.reply, "RETURN");
        assert!(encoder.0.lock().map(|v| v.iter().any(|t| t == "退货流程是什么")).unwrap_or(false));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn imports_are_all_or_nothing_unless_told_to_skip_bad_rows() -> TestResult {
        let (s, t, u, _dir) = services().await?;
        let file =
            "question,similar_questions,answer\n怎么退货,如何退货||退货流程,七天\n,x,no question\n多久发货,,当天\n";
        let strict = s
            .import_kb(t, Some(u), TableFormat::Csv, file.as_bytes().to_vec(), ImportMode::AllOrNothing, &mut |_, _| {})
            .await?;
        assert_eq!((strict.applied, strict.created, strict.skipped, strict.errors.len()), (false, 0, 3, 1));
        assert_eq!(strict.errors[0].row, 3);
        assert!(s.store.list_kb_entries(t).await?.is_empty());
        let lenient = s
            .import_kb(t, Some(u), TableFormat::Csv, file.as_bytes().to_vec(), ImportMode::SkipInvalid, &mut |_, _| {})
            .await?;
        assert_eq!((lenient.applied, lenient.created, lenient.skipped), (true, 2, 1));
        let again = s
            .import_kb(t, Some(u), TableFormat::Csv, file.as_bytes().to_vec(), ImportMode::SkipInvalid, &mut |_, _| {})
            .await?;
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2), "re-importing is idempotent");
        let back = s.export_kb(t, TableFormat::Xlsx).await?;
        let table = read_table(TableFormat::Xlsx, &back)?;
        assert_eq!(table.rows.len(), 2);
        Ok(())
    }
}
