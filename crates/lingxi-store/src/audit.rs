//! The append-only audit log of sensitive actions (the database refuses updates and deletes of its rows).

use crate::rows::{millis, now, opt_id, opt_text, text, ts};
use crate::{Store, StoreResult, tid};
use chrono::{DateTime, Utc};
use lingxi_types::{TenantId, UserId};

/// One audited action.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Its id.
    pub id: String,
    /// The tenant it concerns (none for failed logins of unknown accounts).
    pub tenant_id: Option<TenantId>,
    /// Who did it.
    pub actor_user: Option<UserId>,
    /// From where.
    pub actor_ip: Option<String>,
    /// What, e.g. `login.failure`, `user.create`.
    pub action: String,
    /// On what, e.g. a user id or an e-mail.
    pub target: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An action to audit.
#[derive(Clone, Debug, Default)]
pub struct NewAudit {
    /// The tenant.
    pub tenant_id: Option<TenantId>,
    /// Who.
    pub actor_user: Option<UserId>,
    /// From where.
    pub actor_ip: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Details (never secrets).
    pub detail: serde_json::Value,
}

fn record(r: &sqlx::any::AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: text(r, "id")?,
        tenant_id: opt_id(r, "tenant_id")?,
        actor_user: opt_id(r, "actor_user")?,
        actor_ip: opt_text(r, "actor_ip")?,
        action: text(r, "action")?,
        target: opt_text(r, "target")?,
        detail: serde_json::from_str(&text(r, "detail")?).unwrap_or(serde_json::Value::Null),
        created_at: ts(r, "created_at")?,
    })
}

impl Store {
    /// Appends an entry to the audit log.
    pub async fn audit(&self, new: NewAudit) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, actor_user, actor_ip, action, target, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(new.tenant_id.map(tid))
        .bind(new.actor_user.map(|u| u.to_string()))
        .bind(new.actor_ip)
        .bind(new.action)
        .bind(new.target)
        .bind(new.detail.to_string())
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant's audit log, newest first, at most `limit` entries.
    pub async fn audit_log(&self, tenant_id: TenantId, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, actor_user, actor_ip, action, target, detail, created_at FROM audit_log \
             WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(tid(tenant_id))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }
    /// The tenant's audit entries created in `[from, to)`, oldest first, at most `limit` (an export).
    pub async fn audit_range(
        &self,
        tenant_id: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, actor_user, actor_ip, action, target, detail, created_at FROM audit_log \
             WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id LIMIT $4",
        )
        .bind(tid(tenant_id))
        .bind(millis(from))
        .bind(millis(to))
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Deletes the tenant's audit entries older than `cutoff`, recording the purge first (the database refuses a
    /// cut-off less than 30 days back and any other delete). Returns how many entries went.
    pub async fn purge_audit(&self, tenant_id: TenantId, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO audit_purges (id, tenant_id, cutoff, created_at) VALUES ($1, $2, $3, $4)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(tid(tenant_id))
            .bind(millis(cutoff))
            .bind(millis(now()))
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM audit_log WHERE tenant_id = $1 AND created_at < $2")
            .bind(tid(tenant_id))
            .bind(millis(cutoff))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Whether the tenant has audit entries older than `cutoff` (a purge is due).
    pub async fn audit_older_than(&self, tenant_id: TenantId, cutoff: DateTime<Utc>) -> StoreResult<bool> {
        let row = sqlx::query("SELECT id FROM audit_log WHERE tenant_id = $1 AND created_at < $2 LIMIT 1")
            .bind(tid(tenant_id))
            .bind(millis(cutoff))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
