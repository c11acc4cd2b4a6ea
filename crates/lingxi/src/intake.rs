//! `lingxi intake import`: marketplace exports (orders, refunds, reviews) through a saved or shipped mapping.

use crate::DbArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use lingxi_intake::{ApplyPolicy, Format};
use lingxi_service::Services;
use std::path::PathBuf;
use std::sync::Arc;

/// `lingxi intake …`.
#[derive(Subcommand)]
pub(crate) enum IntakeCommand {
    /// Imports an export (CSV, xlsx or JSON by its extension), idempotently by platform + kind + external id;
    /// refunds and negative reviews become tickets once.
    Import {
        /// The export file.
        file: PathBuf,
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// A saved source's name, or a shipped mapping (`tmall-refunds`, `jd-reviews`).
        #[arg(long)]
        source: String,
        /// Store the valid rows and report the bad ones (default: any bad row, nothing is stored).
        #[arg(long)]
        valid_rows: bool,
        /// Store the records only; make no tickets (e.g. to load past exports).
        #[arg(long)]
        no_tickets: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Runs an `intake` subcommand.
pub(crate) async fn run(command: IntakeCommand) -> anyhow::Result<()> {
    match command {
        IntakeCommand::Import { file, tenant, source, valid_rows, no_tickets, db } => {
            let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("csv");
            let format =
                Format::parse(extension).with_context(|| format!("{}: not .csv, .xlsx or .json", file.display()))?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let store = db.open().await?;
            let t = store.tenant_by_slug(&tenant).await?.with_context(|| format!("no tenant {tenant}"))?;
            let services = Services::new(store.clone(), lingxi_bus::Bus::default());
            let mut plan = services.intake_plan(t.id, &source).await?;
            if no_tickets {
                plan.create_tickets = false;
            }
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file");
            let run = store.start_intake_run(t.id, &plan.source, name, Some("cli")).await?;
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{msg:8} {bar:40} {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let shown = bar.clone();
            let progress = Arc::new(move |phase: &str, done: usize, total: usize| {
                shown.set_message(phase.to_owned());
                shown.set_length(total.max(done) as u64);
                shown.set_position(done as u64);
            });
            let policy = if valid_rows { ApplyPolicy::ValidRows } else { ApplyPolicy::AllOrNothing };
            let outcome = services.run_intake(t.id, &run.id, &plan, format, &bytes, policy, progress).await;
            bar.finish_and_clear();
            let (status, report) = match &outcome {
                Ok(r) => ("done", serde_json::to_value(r)?),
                Err(e) => ("failed", serde_json::json!({"error": e.to_string()})),
            };
            store.finish_intake_run(t.id, &run.id, status, &report).await?;
            let r = outcome?;
            for e in &r.errors {
                eprintln!(
                    "row {}{}: {} / {}",
                    e.row,
                    e.column.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
                    e.message,
                    e.message_zh
                );
            }
            if r.errors_left_out > 0 {
                eprintln!("… and {} more errors", r.errors_left_out);
            }
            if !r.applied {
                bail!(
                    "{} bad row(s) of {}: nothing was stored (use --valid-rows to store the others)",
                    r.rejected,
                    r.rows_read
                );
            }
            println!(
                "{} rows: {} created, {} updated, {} unchanged, {} rejected, {} duplicates; {} tickets in {:.1}s",
                r.rows_read, r.created, r.updated, r.unchanged, r.rejected, r.duplicates, r.tickets_created, r.seconds
            );
            Ok(())
        }
    }
}
