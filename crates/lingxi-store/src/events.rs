//! Analytics events recorded from the message stream.

use crate::rows::{enum_col, id, millis, now, opt_id, text, ts};
use crate::{Store, StoreResult, tid};
use chrono::{DateTime, Utc};
use lingxi_types::{ConversationId, EventId, EventKind, TenantId};

/// Inserts an analytics event through `e` (the pool, or a transaction's connection).
pub(crate) async fn insert_event<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    e: E,
    tenant_id: TenantId,
    conversation_id: Option<ConversationId>,
    kind: EventKind,
    detail: &serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO events (id, tenant_id, conversation_id, kind, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(EventId::generate().to_string())
    .bind(tid(tenant_id))
    .bind(conversation_id.map(|c| c.to_string()))
    .bind(kind.as_str())
    .bind(detail.to_string())
    .bind(millis(now()))
    .execute(e)
    .await?;
    Ok(())
}

/// A recorded event.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Its id.
    pub id: EventId,
    /// The conversation it is about.
    pub conversation_id: Option<ConversationId>,
    /// What happened.
    pub kind: EventKind,
    /// Details (reason, agent, confidence…).
    pub detail: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Records an analytics event.
    pub async fn record_event(
        &self,
        tenant_id: TenantId,
        conversation_id: Option<ConversationId>,
        kind: EventKind,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        insert_event(&self.pool, tenant_id, conversation_id, kind, &detail).await
    }

    /// Whether an event of this kind was recorded for the conversation.
    pub async fn has_event(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        kind: EventKind,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS found FROM events WHERE tenant_id = $1 AND conversation_id = $2 AND kind = $3 LIMIT 1",
        )
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The events of one conversation of the tenant, in order.
    pub async fn conversation_events(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, kind, detail, created_at FROM events \
             WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY created_at, id",
        )
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    id: id(r, "id")?,
                    conversation_id: opt_id(r, "conversation_id")?,
                    kind: enum_col(r, "kind", EventKind::parse)?,
                    detail: serde_json::from_str(&text(r, "detail")?).unwrap_or(serde_json::Value::Null),
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }
}
