//! The outbox of outgoing webhooks: rows are written in the transaction of the event they announce, then claimed
//! (with a lease, so one node delivers each) and marked delivered, retried later, or given up.

use crate::rows::{id, int, opt_text, text};
use crate::{Store, StoreResult, tid};
use lingxi_types::TenantId;

/// A delivery to attempt.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Event name (`sla.breach`).
    pub event: String,
    /// Where.
    pub url: String,
    /// The JSON body.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// A delivery as an administrator sees it.
#[derive(Clone, Debug)]
pub struct WebhookRecord {
    /// Id.
    pub id: String,
    /// Event.
    pub event: String,
    /// URL.
    pub url: String,
    /// Attempts.
    pub attempts: i64,
    /// Delivered at (ms).
    pub delivered_at: Option<i64>,
    /// Given up at (ms).
    pub failed_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Queued at (ms).
    pub created_at: i64,
}

impl Store {
    /// Claims up to `limit` deliveries that are due and not leased by another node.
    pub async fn claim_webhooks(
        &self,
        now_ms: i64,
        node: &str,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let rows = sqlx::query(
            "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2 \
             WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
               AND (claimed_until IS NULL OR claimed_until < $3) \
               AND id IN (SELECT id FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL \
                          AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
                          ORDER BY next_attempt_at LIMIT $4) \
             RETURNING id, tenant_id, event, url, payload, attempts",
        )
        .bind(node)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WebhookDelivery {
                    id: text(r, "id")?,
                    tenant_id: id(r, "tenant_id")?,
                    event: text(r, "event")?,
                    url: text(r, "url")?,
                    payload: text(r, "payload")?,
                    attempts: int(r, "attempts")?,
                })
            })
            .collect()
    }

    /// Records the outcome of an attempt made under this node's lease: delivered, or failed with the time of the
    /// next attempt (`None`: give up).
    pub async fn webhook_attempted(
        &self,
        delivery_id: &str,
        node: &str,
        now_ms: i64,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> StoreResult<()> {
        let q = match (error, retry_at) {
            (None, _) => sqlx::query(
                "UPDATE webhook_deliveries SET delivered_at = $1, attempts = attempts + 1, claimed_until = NULL, \
                 last_error = $2 WHERE id = $3 AND claimed_by = $4",
            )
            .bind(now_ms)
            .bind(None::<String>),
            (Some(e), Some(next)) => sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1, claimed_until = NULL, \
                 last_error = $2 WHERE id = $3 AND claimed_by = $4",
            )
            .bind(next)
            .bind(Some(e.to_owned())),
            (Some(e), None) => sqlx::query(
                "UPDATE webhook_deliveries SET failed_at = $1, attempts = attempts + 1, claimed_until = NULL, \
                 last_error = $2 WHERE id = $3 AND claimed_by = $4",
            )
            .bind(now_ms)
            .bind(Some(e.to_owned())),
        };
        q.bind(delivery_id).bind(node).execute(&self.pool).await?;
        Ok(())
    }

    /// Queues a notification outside an event's transaction (a ticket reply e-mailed to its requester): `url` is
    /// an http(s) webhook or a `mailto:` address.
    pub async fn queue_notification(
        &self,
        tenant_id: TenantId,
        event: &str,
        url: &str,
        payload: &serde_json::Value,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, tenant_id, event, url, payload, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(tid(tenant_id))
        .bind(event)
        .bind(url)
        .bind(payload.to_string())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant's newest deliveries.
    pub async fn webhook_records(&self, tenant_id: TenantId, limit: i64) -> StoreResult<Vec<WebhookRecord>> {
        let rows = sqlx::query(
            "SELECT id, event, url, attempts, delivered_at, failed_at, last_error, created_at FROM webhook_deliveries \
             WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(tid(tenant_id))
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WebhookRecord {
                    id: text(r, "id")?,
                    event: text(r, "event")?,
                    url: text(r, "url")?,
                    attempts: int(r, "attempts")?,
                    delivered_at: crate::rows::opt_int(r, "delivered_at")?,
                    failed_at: crate::rows::opt_int(r, "failed_at")?,
                    last_error: opt_text(r, "last_error")?,
                    created_at: int(r, "created_at")?,
                })
            })
            .collect()
    }
}
