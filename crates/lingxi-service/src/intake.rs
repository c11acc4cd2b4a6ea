//! Multi-shop intake: marketplace exports read through a saved mapping (`lingxi-intake`), stored idempotently by
//! platform + kind + external id in one transaction, refunds and negative reviews turned into tickets (once per
//! record), with the run's progress recorded so the UI can show it.

use crate::{ServiceError, ServiceResult, Services, TicketInput};
use lingxi_domain::ticket::TicketPriority;
use lingxi_intake::{ApplyPolicy, Format, Mapping, Record, RowError};
use lingxi_store::{Actor, IntakeRow, IntakeRun, IntakeSource};
use lingxi_types::*;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The largest export accepted, in bytes.
pub const INTAKE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Which mapping an import reads through.
#[derive(Clone, Debug)]
pub struct IntakePlan {
    /// The source's name (saved or shipped), for the run's record.
    pub source: String,
    /// The mapping.
    pub mapping: Mapping,
    /// Whether refunds and negative reviews become tickets.
    pub create_tickets: bool,
}

/// An uploaded export to import.
#[derive(Clone, Debug)]
pub struct IntakeUpload {
    /// Its file name, for the run's record.
    pub file_name: String,
    /// Its format.
    pub format: Format,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What to do with bad rows.
    pub policy: ApplyPolicy,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IntakeReport {
    /// Whether records were stored (false when all-or-nothing met a bad row).
    pub applied: bool,
    /// Non-blank data rows.
    pub rows_read: usize,
    /// New records.
    pub created: usize,
    /// Changed records.
    pub updated: usize,
    /// Records stored already as they are.
    pub unchanged: usize,
    /// Rows with errors.
    pub rejected: usize,
    /// Rows repeating an earlier row exactly.
    pub duplicates: usize,
    /// Tickets made from refunds and negative reviews.
    pub tickets_created: usize,
    /// Bad rows (the first 1,000), by row number.
    pub errors: Vec<IntakeRowError>,
    /// Errors beyond those listed.
    pub errors_left_out: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// A bad row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IntakeRowError {
    /// Row number as the file shows it.
    pub row: usize,
    /// The column.
    pub column: Option<String>,
    /// English.
    pub message: String,
    /// Chinese.
    pub message_zh: String,
}

impl From<&RowError> for IntakeRowError {
    fn from(e: &RowError) -> Self {
        IntakeRowError {
            row: e.row,
            column: e.column.clone(),
            message: e.message.clone(),
            message_zh: e.message_zh.clone(),
        }
    }
}

/// Progress as `(phase, done, total)`: `reading` (rows), `storing` (records), `tickets` (candidates).
pub type IntakeProgress = Arc<dyn Fn(&str, usize, usize) + Send + Sync>;

fn fingerprint(json: &str) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

fn row_of(r: &Record) -> ServiceResult<IntakeRow> {
    let mut stable = r.clone();
    stable.row = 0; // the same record on another row of another file is the same record
    let record = serde_json::to_string(&stable).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    Ok(IntakeRow {
        platform: r.platform.clone(),
        kind: r.kind.to_string(),
        external_id: r.external_id.clone(),
        shop: r.shop.clone(),
        order_id: r.order_id.clone(),
        customer: r.customer.clone(),
        amount_cents: r.amount_cents,
        currency: r.currency.clone(),
        status: r.status.clone(),
        rating: r.rating.map(i64::from),
        occurred_at: r.created_at,
        fingerprint: fingerprint(&record),
        record,
    })
}

fn check_name(name: &str) -> ServiceResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(ServiceError::Invalid("name must be 1 to 80 characters".into()));
    }
    Ok(name)
}

/// Reads and checks a mapping in JSON.
pub fn mapping_from_json(json: &str) -> ServiceResult<Mapping> {
    let m =
        Mapping::from_json(json).map_err(|e| ServiceError::Invalid(format!("the mapping is not valid JSON: {e}")))?;
    m.validate().map_err(|errs| {
        ServiceError::Invalid(format!(
            "the mapping is invalid: {}",
            errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ))
    })?;
    Ok(m)
}

impl Services {
    /// The tenant's saved sources.
    pub async fn intake_sources(&self, tenant_id: TenantId) -> ServiceResult<Vec<IntakeSource>> {
        Ok(self.store.intake_sources(tenant_id).await?)
    }

    /// Saves a source (new when `id` is `None`) after checking its mapping.
    pub async fn save_intake_source(
        &self,
        tenant_id: TenantId,
        id: Option<&str>,
        name: &str,
        mapping_json: &str,
        create_tickets: bool,
    ) -> ServiceResult<IntakeSource> {
        let name = check_name(name)?;
        if mapping_json.len() > 64 * 1024 {
            return Err(ServiceError::Invalid("the mapping is larger than 64 KiB".into()));
        }
        let mapping = mapping_from_json(mapping_json)?;
        Ok(self.store.save_intake_source(tenant_id, id, name, &mapping.to_json(), create_tickets).await?)
    }

    /// Deletes a saved source.
    pub async fn delete_intake_source(&self, tenant_id: TenantId, id: &str) -> ServiceResult<()> {
        Ok(self.store.delete_intake_source(tenant_id, id).await?)
    }

    /// The plan for a saved source (by id or name) or a shipped mapping (by its id, e.g. `tmall-refunds`).
    pub async fn intake_plan(&self, tenant_id: TenantId, source: &str) -> ServiceResult<IntakePlan> {
        let saved = match self.store.intake_source_named(tenant_id, source).await? {
            Some(s) => Some(s),
            None if uuid::Uuid::parse_str(source).is_ok() => match self.store.intake_source(tenant_id, source).await {
                Ok(s) => Some(s),
                Err(lingxi_store::StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        if let Some(s) = saved {
            return Ok(IntakePlan {
                source: s.name,
                mapping: mapping_from_json(&s.mapping)?,
                create_tickets: s.create_tickets,
            });
        }
        let shipped = lingxi_intake::shipped(source).ok_or(ServiceError::NotFound("intake source"))?;
        let mapping = shipped.mapping().map_err(|e| ServiceError::Invalid(e.to_string()))?;
        Ok(IntakePlan { source: shipped.id.to_owned(), mapping, create_tickets: true })
    }

    /// Starts an import in the background and returns its run at once; follow it with `Store::intake_run`.
    pub async fn start_intake(
        &self,
        tenant_id: TenantId,
        created_by: Option<&User>,
        plan: IntakePlan,
        upload: IntakeUpload,
    ) -> ServiceResult<IntakeRun> {
        let IntakeUpload { file_name, format, bytes, policy } = upload;
        let run = self
            .store
            .start_intake_run(tenant_id, &plan.source, &file_name, created_by.map(|u| u.name.as_str()))
            .await?;
        let latest: Arc<Mutex<(String, usize, usize)>> = Arc::new(Mutex::new(("reading".into(), 0, 0)));
        let sink = latest.clone();
        let progress: IntakeProgress = Arc::new(move |phase: &str, done, total| {
            if let Ok(mut l) = sink.lock() {
                *l = (phase.to_owned(), done, total);
            }
        });
        let services = self.clone();
        let run_id = run.id.clone();
        tokio::spawn(async move {
            // Flush the progress to the run row twice a second while the import works.
            let flusher = {
                let (services, run_id, latest) = (services.clone(), run_id.clone(), latest.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        let now = latest.lock().map(|l| l.clone()).unwrap_or_default();
                        let _ = services
                            .store
                            .intake_progress(tenant_id, &run_id, &now.0, now.1 as i64, now.2 as i64)
                            .await;
                    }
                })
            };
            let outcome = services.run_intake(tenant_id, &run_id, &plan, format, &bytes, policy, progress).await;
            flusher.abort();
            let (status, report) = match outcome {
                Ok(r) => ("done", serde_json::to_value(&r).unwrap_or_default()),
                Err(e) => ("failed", serde_json::json!({"error": e.to_string()})),
            };
            if let Err(e) = services.store.finish_intake_run(tenant_id, &run_id, status, &report).await {
                tracing::warn!(error = %e, "could not finish the import run");
            }
        });
        Ok(run)
    }

    /// Runs an import to the end: read, store (one transaction), make tickets. `run_id` names the run the records
    /// are stamped with (create it with `Store::start_intake_run`).
    #[allow(clippy::too_many_arguments)]
    pub async fn run_intake(
        &self,
        tenant_id: TenantId,
        run_id: &str,
        plan: &IntakePlan,
        format: Format,
        bytes: &[u8],
        policy: ApplyPolicy,
        progress: IntakeProgress,
    ) -> ServiceResult<IntakeReport> {
        let started = Instant::now();
        if bytes.len() > INTAKE_MAX_BYTES {
            return Err(ServiceError::TooLarge(format!("an export may have at most {INTAKE_MAX_BYTES} bytes")));
        }
        let (mapping, data, reading) = (plan.mapping.clone(), bytes.to_vec(), progress.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            lingxi_intake::parse_with_progress(&data, format, &mapping, |p| {
                reading("reading", p.rows_done, p.rows_total.unwrap_or(0));
            })
        })
        .await
        .map_err(|e| ServiceError::Invalid(format!("the import stopped: {e}")))?
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let mut report = IntakeReport {
            rows_read: outcome.rows_read,
            rejected: outcome.rows_rejected,
            duplicates: outcome.duplicates,
            errors: outcome.errors.iter().map(IntakeRowError::from).collect(),
            errors_left_out: outcome.errors_left_out,
            ..Default::default()
        };
        let Ok(records) = outcome.to_apply(policy) else {
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        };
        let rows = records.iter().map(row_of).collect::<ServiceResult<Vec<_>>>()?;
        let total = rows.len();
        let storing = progress.clone();
        let applied =
            self.store.apply_intake(tenant_id, run_id, &rows, &mut |done| storing("storing", done, total)).await?;
        report.applied = true;
        for a in &applied {
            match a.outcome {
                "created" => report.created += 1,
                "updated" => report.updated += 1,
                _ => report.unchanged += 1,
            }
        }
        if plan.create_tickets {
            let candidates: Vec<_> = records
                .iter()
                .zip(&applied)
                .filter(|(_, a)| a.ticket_id.is_none())
                .filter_map(|(r, a)| r.ticket_facts(&plan.mapping).map(|h| (h, a)))
                .collect();
            let actor = Actor { user_id: None, name: format!("import: {}", plan.source) };
            // A record's fields may be longer than a ticket's (the records are already stored): the ticket gets
            // them cut to its limits rather than failing the run.
            let clip = |v: &Option<String>, n: usize| v.as_ref().map(|v| v.trim().chars().take(n).collect());
            let items: Vec<(String, TicketInput)> = candidates
                .iter()
                .map(|(hints, applied)| {
                    let input = TicketInput {
                        title: hints.subject.chars().take(200).collect(),
                        description: hints.body.chars().take(20_000).collect(),
                        shop: clip(&hints.shop, 100),
                        platform: clip(&Some(hints.platform.clone()), 100),
                        ticket_type: clip(&hints.ticket_type, 60),
                        category: clip(&hints.category, 100),
                        priority: TicketPriority::ALL.iter().copied().find(|p| p.as_str() == hints.priority),
                        tags: hints.tags.iter().take(30).map(|t| t.trim().chars().take(40).collect()).collect(),
                        external_key: Some(hints.key.to_string()),
                        ..Default::default()
                    };
                    (applied.id.clone(), input)
                })
                .collect();
            let ticketing = progress.clone();
            let count = items.len();
            report.tickets_created += self
                .create_import_tickets(tenant_id, &actor, items, &move |done, _| ticketing("tickets", done, count))
                .await?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_ignores_the_row_number() -> ServiceResult<()> {
        let shipped = lingxi_intake::shipped("tmall-refunds").ok_or(ServiceError::NotFound("shipped"))?;
        let mapping = shipped.mapping().map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let outcome = lingxi_intake::parse(shipped.sample, Format::Csv, &mapping)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let mut moved = outcome.records[0].clone();
        moved.row += 10;
        assert_eq!(row_of(&outcome.records[0])?.fingerprint, row_of(&moved)?.fingerprint);
        moved.status = Some("closed".into());
        assert_ne!(row_of(&outcome.records[0])?.fingerprint, row_of(&moved)?.fingerprint);
        Ok(())
    }
}
