//! Incoming e-mail: the addresses each tenant receives support mail at, and the messages already taken in.

use crate::rows::{id, millis, now, text};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use lingxi_types::{TenantId, TicketId};

impl Store {
    /// The addresses the tenant receives support mail at, sorted.
    pub async fn email_inboxes(&self, tenant_id: TenantId) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT address FROM email_inboxes WHERE tenant_id = $1 ORDER BY address")
            .bind(tid(tenant_id))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| text(r, "address")).collect()
    }

    /// Replaces the tenant's addresses (lower-case, already checked). An address another tenant holds answers
    /// `AlreadyExists` and changes nothing.
    pub async fn set_email_inboxes(&self, tenant_id: TenantId, addresses: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM email_inboxes WHERE tenant_id = $1").bind(tid(tenant_id)).execute(&mut *tx).await?;
        for a in addresses {
            let r = sqlx::query("INSERT INTO email_inboxes (address, tenant_id, created_at) VALUES ($1, $2, $3)")
                .bind(a)
                .bind(tid(tenant_id))
                .bind(millis(now()))
                .execute(&mut *tx)
                .await;
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists("e-mail address")),
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The tenant that receives mail at this address (lower-case), if any.
    pub async fn email_inbox_tenant(&self, address: &str) -> StoreResult<Option<TenantId>> {
        let row = sqlx::query("SELECT tenant_id FROM email_inboxes WHERE address = $1")
            .bind(address)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| id(r, "tenant_id")).transpose()
    }

    /// The ticket a message (by Message-ID) was taken into as a reply, if it was.
    pub async fn inbound_email(&self, tenant_id: TenantId, message_id: &str) -> StoreResult<Option<TicketId>> {
        let row = sqlx::query("SELECT ticket_id FROM inbound_emails WHERE tenant_id = $1 AND message_id = $2")
            .bind(tid(tenant_id))
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| id(r, "ticket_id")).transpose()
    }
}
