//! The bot per tenant: its settings document, its task flows, the decisions it made (with the visitor's rating)
//! and the business context of a conversation.

use crate::rows::{id, int, millis, now, opt_id, opt_int, opt_text, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::{ConversationId, EntryId, MessageId, TenantId, Uuid};
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// Inserts one decision of the bot through `e` (the pool, or a transaction's connection).
pub(crate) async fn insert_decision<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    tenant_id: TenantId,
    conversation_id: ConversationId,
    d: &NewDecision,
) -> StoreResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(&format!(
        "INSERT INTO bot_decisions (tenant_id, {DECISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(tid(tenant_id))
    .bind(id.to_string())
    .bind(conversation_id.to_string())
    .bind(d.message_id.map(|m| m.to_string()))
    .bind(d.reply_message_id.map(|m| m.to_string()))
    .bind(&d.text)
    .bind(d.resolved_text.clone())
    .bind(&d.outcome)
    .bind(d.entry_id.map(|e| e.to_string()))
    .bind(d.confidence.map(|c| (f64::from(c) * 1e6).round() as i64))
    .bind(&d.candidates)
    .bind(d.reason.clone())
    .bind(d.flow.clone())
    .bind(i64::from(d.follow_up))
    .bind(d.source.clone())
    .bind(None::<i64>)
    .bind(d.latency_us)
    .bind(millis(now()))
    .execute(e)
    .await?;
    Ok(id)
}

/// A task flow as stored: the spec is the flow's JSON document (`lingxi_bot::FlowSpec`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// Its id.
    pub id: Uuid,
    /// Its name (unique per tenant).
    pub name: String,
    /// The flow's JSON document.
    pub spec: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
}

/// One decision of the bot, to store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewDecision {
    /// The visitor message decided on.
    pub message_id: Option<MessageId>,
    /// The bot message that answered it, if one did.
    pub reply_message_id: Option<MessageId>,
    /// The visitor's text.
    pub text: String,
    /// The text matched when read as a follow-up.
    pub resolved_text: Option<String>,
    /// `answer`, `suggest`, `admit`, `chitchat`, `flow`, `handoff` or `choice`.
    pub outcome: String,
    /// The entry answered or picked.
    pub entry_id: Option<EntryId>,
    /// Its calibrated confidence.
    pub confidence: Option<f32>,
    /// The ranked candidates as JSON (`[{"entry_id","question","confidence"}]`).
    pub candidates: String,
    /// The handoff reason.
    pub reason: Option<String>,
    /// The task flow.
    pub flow: Option<String>,
    /// Whether the message was read as a follow-up.
    pub follow_up: bool,
    /// For a picked entry: `suggestion`, `guess` or `typed`.
    pub source: Option<String>,
    /// How long the decision took, in microseconds.
    pub latency_us: i64,
}

/// A stored decision.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionRecord {
    /// Its id.
    pub id: Uuid,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// What was decided.
    pub decision: NewDecision,
    /// The visitor's rating of the reply (`true` useful).
    pub feedback: Option<bool>,
    /// Decided at.
    pub created_at: DateTime<Utc>,
}

const DECISION_COLUMNS: &str = "id, conversation_id, message_id, reply_message_id, text, resolved_text, outcome, \
     entry_id, confidence_ppm, candidates, reason, flow, follow_up, source, feedback, latency_us, created_at";

fn decision(row: &AnyRow) -> StoreResult<DecisionRecord> {
    Ok(DecisionRecord {
        id: id(row, "id")?,
        conversation_id: id(row, "conversation_id")?,
        decision: NewDecision {
            message_id: opt_id(row, "message_id")?,
            reply_message_id: opt_id(row, "reply_message_id")?,
            text: text(row, "text")?,
            resolved_text: opt_text(row, "resolved_text")?,
            outcome: text(row, "outcome")?,
            entry_id: opt_id(row, "entry_id")?,
            confidence: opt_int(row, "confidence_ppm")?.map(|p| p as f32 / 1e6),
            candidates: text(row, "candidates")?,
            reason: opt_text(row, "reason")?,
            flow: opt_text(row, "flow")?,
            follow_up: int(row, "follow_up")? != 0,
            source: opt_text(row, "source")?,
            latency_us: int(row, "latency_us")?,
        },
        feedback: opt_int(row, "feedback")?.map(|f| f != 0),
        created_at: ts(row, "created_at")?,
    })
}

fn flow(row: &AnyRow) -> StoreResult<FlowRecord> {
    Ok(FlowRecord {
        id: id(row, "id")?,
        name: text(row, "name")?,
        spec: text(row, "spec")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

impl Store {
    /// The tenant's bot settings document, if it saved one.
    pub async fn bot_settings(&self, tenant_id: TenantId) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT settings FROM bot_settings WHERE tenant_id = $1")
            .bind(tid(tenant_id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| text(&r, "settings")).transpose()
    }

    /// Saves the tenant's bot settings document.
    pub async fn save_bot_settings(&self, tenant_id: TenantId, settings: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO bot_settings (tenant_id, settings, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET settings = $2, updated_at = $3",
        )
        .bind(tid(tenant_id))
        .bind(settings)
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant's task flows, by name.
    pub async fn bot_flows(&self, tenant_id: TenantId) -> StoreResult<Vec<FlowRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, spec, created_at, updated_at FROM bot_flows WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tid(tenant_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(flow).collect()
    }

    /// One task flow.
    pub async fn bot_flow(&self, tenant_id: TenantId, flow_id: Uuid) -> StoreResult<FlowRecord> {
        let row = sqlx::query(
            "SELECT id, name, spec, created_at, updated_at FROM bot_flows WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tid(tenant_id))
        .bind(flow_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(flow).transpose()?.ok_or(StoreError::NotFound("flow"))
    }

    /// Adds a task flow; a taken name is `AlreadyExists`.
    pub async fn create_bot_flow(&self, tenant_id: TenantId, name: &str, spec: &str) -> StoreResult<FlowRecord> {
        let id = Uuid::now_v7();
        let at = millis(now());
        let done = sqlx::query(
            "INSERT INTO bot_flows (id, tenant_id, name, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id.to_string())
        .bind(tid(tenant_id))
        .bind(name)
        .bind(spec)
        .bind(at)
        .execute(&self.pool)
        .await;
        match done {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists("flow name")),
            r => r?,
        };
        self.bot_flow(tenant_id, id).await
    }

    /// Replaces a task flow.
    pub async fn update_bot_flow(
        &self,
        tenant_id: TenantId,
        flow_id: Uuid,
        name: &str,
        spec: &str,
    ) -> StoreResult<FlowRecord> {
        let done =
            sqlx::query("UPDATE bot_flows SET name = $1, spec = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5")
                .bind(name)
                .bind(spec)
                .bind(millis(now()))
                .bind(tid(tenant_id))
                .bind(flow_id.to_string())
                .execute(&self.pool)
                .await;
        match done {
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists("flow name")),
            Err(e) => Err(e.into()),
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound("flow")),
            Ok(_) => self.bot_flow(tenant_id, flow_id).await,
        }
    }

    /// Deletes a task flow.
    pub async fn delete_bot_flow(&self, tenant_id: TenantId, flow_id: Uuid) -> StoreResult<()> {
        let r = sqlx::query("DELETE FROM bot_flows WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(flow_id.to_string())
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound("flow"));
        }
        Ok(())
    }

    /// Stores one decision of the bot in a conversation.
    pub async fn record_bot_decision(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        d: &NewDecision,
    ) -> StoreResult<Uuid> {
        insert_decision(&self.pool, tenant_id, conversation_id, d).await
    }

    /// Every decision of the bot in a conversation, oldest first.
    pub async fn bot_decisions(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<DecisionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM bot_decisions WHERE tenant_id = $1 AND conversation_id = $2 \
             ORDER BY created_at, id"
        ))
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision).collect()
    }

    /// Records the visitor's rating of a bot reply of the conversation. Returns the decision behind it as it was
    /// before (its `feedback` the previous rating), or `None` when the message is no bot reply of this
    /// conversation. Rating again replaces the rating.
    pub async fn rate_bot_reply(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        reply: MessageId,
        useful: bool,
    ) -> StoreResult<Option<DecisionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM bot_decisions WHERE tenant_id = $1 AND conversation_id = $2 \
             AND reply_message_id = $3"
        ))
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .bind(reply.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(before) = row.as_ref().map(decision).transpose()? else { return Ok(None) };
        sqlx::query("UPDATE bot_decisions SET feedback = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(i64::from(useful))
            .bind(tid(tenant_id))
            .bind(before.id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(Some(before))
    }

    /// The entries answered most often since `since`, with their counts, most first (at most `limit`).
    pub async fn popular_entries(
        &self,
        tenant_id: TenantId,
        since: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(EntryId, i64)>> {
        let rows = sqlx::query(
            "SELECT entry_id, COUNT(*) AS n FROM bot_decisions WHERE tenant_id = $1 AND created_at >= $2 \
             AND outcome IN ('answer', 'choice') AND entry_id IS NOT NULL GROUP BY entry_id ORDER BY n DESC, entry_id \
             LIMIT $3",
        )
        .bind(tid(tenant_id))
        .bind(millis(since))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((id(r, "entry_id")?, int(r, "n")?))).collect()
    }

    /// Stores the business context the page passed in with a conversation.
    pub async fn set_conversation_business_context(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        context: &BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let encoded = serde_json::to_string(context).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE conversations SET context = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(encoded)
            .bind(tid(tenant_id))
            .bind(conversation_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
