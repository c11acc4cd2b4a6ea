//! Knowledge-base (FAQ) entries.

use crate::rows::{id, int, millis, now, text, ts};
use crate::{Store, StoreError, StoreResult, tid};
use lingxi_types::{EntryId, KbEntry, TenantId};
use sqlx::any::AnyRow;

/// A new entry.
#[derive(Clone, Debug, Default)]
pub struct NewKbEntry {
    /// The standard question.
    pub question: String,
    /// Other ways to ask it.
    pub similar_questions: Vec<String>,
    /// The answer.
    pub answer: String,
    /// Category path.
    pub category: String,
}

const COLUMNS: &str = "id, tenant_id, question, similar_questions, answer, category, enabled, created_at, updated_at";

fn entry(row: &AnyRow) -> StoreResult<KbEntry> {
    let similar = text(row, "similar_questions")?;
    Ok(KbEntry {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        question: text(row, "question")?,
        similar_questions: serde_json::from_str(&similar)
            .map_err(|e| StoreError::Corrupt(format!("similar_questions: {e}")))?,
        answer: text(row, "answer")?,
        category: text(row, "category")?,
        enabled: int(row, "enabled")? != 0,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

impl Store {
    /// Adds an entry to the tenant's knowledge base.
    pub async fn create_kb_entry(&self, tenant_id: TenantId, new: NewKbEntry) -> StoreResult<KbEntry> {
        let at = now();
        let e = KbEntry {
            id: EntryId::generate(),
            tenant_id,
            question: new.question,
            similar_questions: new.similar_questions,
            answer: new.answer,
            category: new.category,
            enabled: true,
            created_at: at,
            updated_at: at,
        };
        let similar = serde_json::to_string(&e.similar_questions)
            .map_err(|err| StoreError::Corrupt(format!("similar_questions: {err}")))?;
        sqlx::query(&format!("INSERT INTO kb_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)"))
            .bind(e.id.to_string())
            .bind(tid(tenant_id))
            .bind(&e.question)
            .bind(similar)
            .bind(&e.answer)
            .bind(&e.category)
            .bind(millis(at))
            .execute(&self.pool)
            .await?;
        Ok(e)
    }

    /// Every entry of the tenant's knowledge base, oldest first.
    pub async fn list_kb_entries(&self, tenant_id: TenantId) -> StoreResult<Vec<KbEntry>> {
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS} FROM kb_entries WHERE tenant_id = $1 ORDER BY created_at, id"))
                .bind(tid(tenant_id))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(entry).collect()
    }

    /// Deletes an entry of the tenant.
    pub async fn delete_kb_entry(&self, tenant_id: TenantId, id: EntryId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM kb_entries WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("kb entry"));
        }
        Ok(())
    }
}
