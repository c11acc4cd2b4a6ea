//! `lingxi kb import|export`: the knowledge base as files, from the command line.

use crate::DbArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use lingxi_kb::TableFormat;
use lingxi_service::{ImportMode, Services};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `lingxi kb …`.
#[derive(Subcommand)]
pub(crate) enum KbCommand {
    /// Imports a CSV or xlsx file in the template's shape (docs/knowledge-base.md), upserting by standard question.
    Import {
        /// The file; its extension (.csv or .xlsx) gives the format.
        file: PathBuf,
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Import the valid rows and report the invalid ones (default: any invalid row, nothing is imported).
        #[arg(long)]
        skip_invalid: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Exports the knowledge base to a CSV or xlsx file (format from the extension).
    Export {
        /// The file to write.
        file: PathBuf,
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn format_of(file: &Path) -> anyhow::Result<TableFormat> {
    file.to_str()
        .and_then(TableFormat::from_file_name)
        .with_context(|| format!("{}: the file name must end in .csv or .xlsx", file.display()))
}

/// Runs a `kb` subcommand.
pub(crate) async fn run(command: KbCommand) -> anyhow::Result<()> {
    match command {
        KbCommand::Import { file, tenant, skip_invalid, db } => {
            let format = format_of(&file)?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let store = db.open().await?;
            let t = store.tenant_by_slug(&tenant).await?.with_context(|| format!("no tenant {tenant}"))?;
            let services = Services::new(store.clone(), lingxi_bus::Bus::default());
            let mode = if skip_invalid { ImportMode::SkipInvalid } else { ImportMode::AllOrNothing };
            let started = Instant::now();
            let bar = ProgressBar::new_spinner().with_message(format!("reading {}", file.display()));
            bar.enable_steady_tick(Duration::from_millis(100));
            let style = ProgressStyle::with_template("{bar:40} {pos}/{len} entries {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            let mut styled = false;
            let report = services
                .import_kb(t.id, None, format, bytes, mode, &mut |done, total| {
                    if !styled {
                        bar.set_style(style.clone());
                        bar.set_length(total as u64);
                        styled = true;
                    }
                    bar.set_position(done as u64);
                })
                .await?;
            bar.finish_and_clear();
            for e in report.errors.iter().take(100) {
                eprintln!(
                    "row {}{}: {}",
                    e.row,
                    e.column.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
                    e.message
                );
            }
            if report.errors.len() > 100 {
                eprintln!("… and {} more invalid rows", report.errors.len() - 100);
            }
            store.close().await;
            if !report.applied {
                bail!(
                    "{} of {} rows are invalid: nothing was imported (fix them, or pass --skip-invalid)",
                    report.errors.len(),
                    report.total_rows
                );
            }
            println!(
                "imported {} rows into {} in {:.2} s: {} created, {} updated, {} unchanged, {} skipped",
                report.total_rows,
                t.slug,
                started.elapsed().as_secs_f64(),
                report.created,
                report.updated,
                report.unchanged,
                report.skipped
            );
        }
        KbCommand::Export { file, tenant, db } => {
            let format = format_of(&file)?;
            let store = db.open().await?;
            let t = store.tenant_by_slug(&tenant).await?.with_context(|| format!("no tenant {tenant}"))?;
            let services = Services::new(store.clone(), lingxi_bus::Bus::default());
            let bytes = services.export_kb(t.id, format).await?;
            std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            store.close().await;
            println!("exported the knowledge base of {} to {}", t.slug, file.display());
        }
    }
    Ok(())
}
