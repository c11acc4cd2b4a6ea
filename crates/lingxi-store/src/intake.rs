//! Multi-shop intake: saved sources (column mappings), imported records keyed by platform + kind + external id,
//! and import runs with their progress.

use crate::rows::{int, millis, now, opt_text, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::*;

/// A saved source: a name, its mapping (JSON) and whether its refunds and negative reviews become tickets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntakeSource {
    /// Id.
    pub id: String,
    /// Unique name in the tenant.
    pub name: String,
    /// The mapping, as JSON.
    pub mapping: String,
    /// Whether ticket candidates become tickets.
    pub create_tickets: bool,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// One record to store.
#[derive(Clone, Debug)]
pub struct IntakeRow {
    /// Platform.
    pub platform: String,
    /// `order`, `refund` or `review`.
    pub kind: String,
    /// The platform's number.
    pub external_id: String,
    /// Shop.
    pub shop: Option<String>,
    /// The order it belongs to.
    pub order_id: Option<String>,
    /// Customer.
    pub customer: Option<String>,
    /// Amount in minor units.
    pub amount_cents: Option<i64>,
    /// Currency.
    pub currency: String,
    /// Status.
    pub status: Option<String>,
    /// Rating.
    pub rating: Option<i64>,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The whole record as JSON.
    pub record: String,
    /// A hash of the record: the same fingerprint means nothing changed.
    pub fingerprint: String,
}

/// What storing one record did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntakeApplied {
    /// The stored record's id.
    pub id: String,
    /// `created`, `updated` or `unchanged`.
    pub outcome: &'static str,
    /// The ticket made from it earlier, if any.
    pub ticket_id: Option<TicketId>,
}

/// An import run.
#[derive(Clone, Debug, PartialEq)]
pub struct IntakeRun {
    /// Id.
    pub id: String,
    /// The source's name.
    pub source: String,
    /// The file's name.
    pub file_name: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// `reading`, `storing`, `tickets` or `finished`.
    pub phase: String,
    /// Progress within the phase.
    pub done: i64,
    /// Of.
    pub total: i64,
    /// The final report (JSON).
    pub report: Option<serde_json::Value>,
    /// Who started it.
    pub created_by: Option<String>,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
}

const SOURCE_COLUMNS: &str = "id, name, mapping, create_tickets, updated_at";
const RUN_COLUMNS: &str =
    "id, source, file_name, status, phase, done, total, report, created_by, created_at, finished_at";

fn source(r: &sqlx::any::AnyRow) -> StoreResult<IntakeSource> {
    Ok(IntakeSource {
        id: text(r, "id")?,
        name: text(r, "name")?,
        mapping: text(r, "mapping")?,
        create_tickets: int(r, "create_tickets")? != 0,
        updated_at: ts(r, "updated_at")?,
    })
}

fn run(r: &sqlx::any::AnyRow) -> StoreResult<IntakeRun> {
    Ok(IntakeRun {
        id: text(r, "id")?,
        source: text(r, "source")?,
        file_name: text(r, "file_name")?,
        status: text(r, "status")?,
        phase: text(r, "phase")?,
        done: int(r, "done")?,
        total: int(r, "total")?,
        report: opt_text(r, "report")?.and_then(|t| serde_json::from_str(&t).ok()),
        created_by: opt_text(r, "created_by")?,
        created_at: ts(r, "created_at")?,
        finished_at: crate::rows::opt_ts(r, "finished_at")?,
    })
}

/// (platform, kind, external id).
type RecordKeyParts = (String, String, String);
/// (record id, fingerprint, ticket).
type StoredRecord = (String, String, Option<TicketId>);

impl Store {
    /// The tenant's saved sources, by name.
    pub async fn intake_sources(&self, tenant_id: TenantId) -> StoreResult<Vec<IntakeSource>> {
        let rows =
            sqlx::query(&format!("SELECT {SOURCE_COLUMNS} FROM intake_sources WHERE tenant_id = $1 ORDER BY name"))
                .bind(tid(tenant_id))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(source).collect()
    }

    /// One saved source by id.
    pub async fn intake_source(&self, tenant_id: TenantId, source_id: &str) -> StoreResult<IntakeSource> {
        let row = sqlx::query(&format!("SELECT {SOURCE_COLUMNS} FROM intake_sources WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(source_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source).transpose()?.ok_or(StoreError::NotFound("intake source"))
    }

    /// One saved source by name.
    pub async fn intake_source_named(&self, tenant_id: TenantId, name: &str) -> StoreResult<Option<IntakeSource>> {
        let row =
            sqlx::query(&format!("SELECT {SOURCE_COLUMNS} FROM intake_sources WHERE tenant_id = $1 AND name = $2"))
                .bind(tid(tenant_id))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(source).transpose()
    }

    /// Creates a source (`AlreadyExists` for a taken name), or replaces the one with `id`.
    pub async fn save_intake_source(
        &self,
        tenant_id: TenantId,
        id: Option<&str>,
        name: &str,
        mapping: &str,
        create_tickets: bool,
    ) -> StoreResult<IntakeSource> {
        let at = millis(now());
        let result =
            match id {
                Some(id) => {
                    sqlx::query(
                        "UPDATE intake_sources SET name = $1, mapping = $2, create_tickets = $3, updated_at = $4 \
                     WHERE tenant_id = $5 AND id = $6",
                    )
                    .bind(name)
                    .bind(mapping)
                    .bind(i64::from(create_tickets))
                    .bind(at)
                    .bind(tid(tenant_id))
                    .bind(id)
                    .execute(&self.pool)
                    .await
                }
                None => sqlx::query(
                    "INSERT INTO intake_sources (id, tenant_id, name, mapping, create_tickets, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(tid(tenant_id))
                .bind(name)
                .bind(mapping)
                .bind(i64::from(create_tickets))
                .bind(at)
                .execute(&self.pool)
                .await,
            };
        match result {
            Ok(done) if done.rows_affected() == 0 => Err(StoreError::NotFound("intake source")),
            Ok(_) => self.intake_source_named(tenant_id, name).await?.ok_or(StoreError::NotFound("intake source")),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists("intake source name")),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a source (records and runs stay).
    pub async fn delete_intake_source(&self, tenant_id: TenantId, id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM intake_sources WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("intake source"));
        }
        Ok(())
    }

    /// Stores records in one transaction (all or nothing): new keys are inserted, changed ones updated, the same
    /// ones left alone. `progress(done)` is called every 1,000 records.
    pub async fn apply_intake(
        &self,
        tenant_id: TenantId,
        run_id: &str,
        rows: &[IntakeRow],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> StoreResult<Vec<IntakeApplied>> {
        let at = millis(now());
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE intake_runs SET phase = 'storing' WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        // The records already stored, found by key in chunks before anything is written (one lookup per row
        // inside the transaction would make PostgreSQL scan a table its planner believes empty: quadratic).
        let mut known: std::collections::HashMap<RecordKeyParts, StoredRecord> = std::collections::HashMap::new();
        let mut groups: std::collections::BTreeMap<(&str, &str), Vec<&str>> = std::collections::BTreeMap::new();
        for r in rows {
            groups.entry((r.platform.as_str(), r.kind.as_str())).or_default().push(r.external_id.as_str());
        }
        for ((platform, kind), ids) in &groups {
            for chunk in ids.chunks(500) {
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
                let sql = format!(
                    "SELECT id, external_id, fingerprint, ticket_id FROM intake_records \
                     WHERE tenant_id = $1 AND platform = $2 AND kind = $3 AND external_id IN ({})",
                    marks.join(", ")
                );
                let mut q = sqlx::query(&sql).bind(tid(tenant_id)).bind(*platform).bind(*kind);
                for id in chunk {
                    q = q.bind(*id);
                }
                for e in q.fetch_all(&mut *tx).await? {
                    let key = (platform.to_string(), kind.to_string(), text(&e, "external_id")?);
                    known.insert(
                        key,
                        (text(&e, "id")?, text(&e, "fingerprint")?, crate::rows::opt_id(&e, "ticket_id")?),
                    );
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        let mut inserts: Vec<(String, &IntakeRow)> = Vec::new();
        let mut pending: std::collections::HashSet<String> = std::collections::HashSet::new();
        for (i, r) in rows.iter().enumerate() {
            if i % 1000 == 0 {
                progress(i);
            }
            let key = (r.platform.clone(), r.kind.clone(), r.external_id.clone());
            if let Some((rid, fingerprint, ticket_id)) = known.get(&key).cloned() {
                if fingerprint == r.fingerprint {
                    out.push(IntakeApplied { id: rid, outcome: "unchanged", ticket_id });
                    continue;
                }
                if pending.contains(&rid) {
                    // The same key twice in one file and not yet written: the later row wins.
                    inserts.retain(|(id, _)| *id != rid);
                    inserts.push((rid.clone(), r));
                    known.insert(key, (rid.clone(), r.fingerprint.clone(), ticket_id));
                    out.push(IntakeApplied { id: rid, outcome: "updated", ticket_id });
                    continue;
                }
                sqlx::query(
                    "UPDATE intake_records SET shop = $1, order_id = $2, customer = $3, amount_cents = $4, \
                     currency = $5, status = $6, rating = $7, occurred_at = $8, record = $9, fingerprint = $10, \
                     run_id = $11, updated_at = $12 WHERE tenant_id = $13 AND id = $14",
                )
                .bind(r.shop.clone())
                .bind(r.order_id.clone())
                .bind(r.customer.clone())
                .bind(r.amount_cents)
                .bind(&r.currency)
                .bind(r.status.clone())
                .bind(r.rating)
                .bind(r.occurred_at.map(millis))
                .bind(&r.record)
                .bind(&r.fingerprint)
                .bind(run_id)
                .bind(at)
                .bind(tid(tenant_id))
                .bind(&rid)
                .execute(&mut *tx)
                .await?;
                known.insert(key, (rid.clone(), r.fingerprint.clone(), ticket_id));
                out.push(IntakeApplied { id: rid, outcome: "updated", ticket_id });
                continue;
            }
            let rid = uuid::Uuid::now_v7().to_string();
            known.insert(key, (rid.clone(), r.fingerprint.clone(), None));
            pending.insert(rid.clone());
            inserts.push((rid.clone(), r));
            out.push(IntakeApplied { id: rid, outcome: "created", ticket_id: None });
        }
        const COLS: usize = 17;
        for chunk in inserts.chunks(50) {
            let groups: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p: Vec<String> = (1..=COLS).map(|k| format!("${}", r * COLS + k)).collect();
                    format!("({}, {})", p.join(", "), p[COLS - 1])
                })
                .collect();
            let sql = format!(
                "INSERT INTO intake_records (id, tenant_id, platform, kind, external_id, shop, order_id, customer, \
                 amount_cents, currency, status, rating, occurred_at, record, fingerprint, run_id, created_at, \
                 updated_at) VALUES {}",
                groups.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (rid, r) in chunk {
                q = q
                    .bind(rid.clone())
                    .bind(tid(tenant_id))
                    .bind(r.platform.clone())
                    .bind(r.kind.clone())
                    .bind(r.external_id.clone())
                    .bind(r.shop.clone())
                    .bind(r.order_id.clone())
                    .bind(r.customer.clone())
                    .bind(r.amount_cents)
                    .bind(r.currency.clone())
                    .bind(r.status.clone())
                    .bind(r.rating)
                    .bind(r.occurred_at.map(millis))
                    .bind(r.record.clone())
                    .bind(r.fingerprint.clone())
                    .bind(run_id.to_owned())
                    .bind(at);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        if inserts.len() >= 1000 {
            self.refresh_statistics("intake_records").await?;
        }
        progress(rows.len());
        Ok(out)
    }

    /// Links a stored record to the ticket made from it.
    pub async fn set_intake_ticket(&self, tenant_id: TenantId, record_id: &str, ticket: TicketId) -> StoreResult<()> {
        sqlx::query("UPDATE intake_records SET ticket_id = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(ticket.to_string())
            .bind(tid(tenant_id))
            .bind(record_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many records of a kind the tenant holds.
    pub async fn count_intake_records(&self, tenant_id: TenantId, kind: &str) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM intake_records WHERE tenant_id = $1 AND kind = $2")
            .bind(tid(tenant_id))
            .bind(kind)
            .fetch_one(&self.pool)
            .await?;
        int(&row, "n")
    }

    /// Starts a run.
    pub async fn start_intake_run(
        &self,
        tenant_id: TenantId,
        source: &str,
        file_name: &str,
        created_by: Option<&str>,
    ) -> StoreResult<IntakeRun> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO intake_runs (id, tenant_id, source, file_name, status, phase, created_by, created_at) \
             VALUES ($1, $2, $3, $4, 'running', 'reading', $5, $6)",
        )
        .bind(&id)
        .bind(tid(tenant_id))
        .bind(source)
        .bind(file_name)
        .bind(created_by)
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        self.intake_run(tenant_id, &id).await
    }

    /// Records a run's progress.
    pub async fn intake_progress(
        &self,
        tenant_id: TenantId,
        id: &str,
        phase: &str,
        done: i64,
        total: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE intake_runs SET phase = $1, done = $2, total = $3 WHERE tenant_id = $4 AND id = $5")
            .bind(phase)
            .bind(done)
            .bind(total)
            .bind(tid(tenant_id))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a run with its report.
    pub async fn finish_intake_run(
        &self,
        tenant_id: TenantId,
        id: &str,
        status: &str,
        report: &serde_json::Value,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE intake_runs SET status = $1, phase = 'finished', report = $2, finished_at = $3 \
             WHERE tenant_id = $4 AND id = $5",
        )
        .bind(status)
        .bind(report.to_string())
        .bind(millis(now()))
        .bind(tid(tenant_id))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One run.
    pub async fn intake_run(&self, tenant_id: TenantId, id: &str) -> StoreResult<IntakeRun> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM intake_runs WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run).transpose()?.ok_or(StoreError::NotFound("import run"))
    }

    /// The newest runs.
    pub async fn intake_runs(&self, tenant_id: TenantId, limit: i64) -> StoreResult<Vec<IntakeRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM intake_runs WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(tid(tenant_id))
        .bind(limit.clamp(1, 200))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run).collect()
    }
}
