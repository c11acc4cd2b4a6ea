//! `lingxi orders import`: customers' orders from a CSV file, for the visitor card.

use crate::DbArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use lingxi_service::Services;
use std::path::PathBuf;
use std::time::Instant;

/// `lingxi orders …`.
#[derive(Subcommand)]
pub(crate) enum OrdersCommand {
    /// Imports orders (header `order_id,user_id,email,phone,name,status,amount,currency,items,placed_at`;
    /// `order_id` and `amount` required), upserting by order id. A file with any bad row changes nothing.
    Import {
        /// The CSV file (UTF-8).
        file: PathBuf,
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Runs an `orders` subcommand.
pub(crate) async fn run(command: OrdersCommand) -> anyhow::Result<()> {
    match command {
        OrdersCommand::Import { file, tenant, db } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let store = db.open().await?;
            let t = store.tenant_by_slug(&tenant).await?.with_context(|| format!("no tenant {tenant}"))?;
            let services = Services::new(store, lingxi_bus::Bus::default());
            let started = Instant::now();
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} orders {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let report = services
                .import_orders_into(t.id, &bytes, &mut |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                })
                .await?;
            bar.finish_and_clear();
            for e in &report.errors {
                eprintln!("row {} ({}): {} / {}", e.row, e.column, e.message, e.message_zh);
            }
            if !report.errors.is_empty() {
                bail!("{} bad row(s): nothing was imported", report.errors.len());
            }
            println!(
                "{} created, {} updated, {} unchanged in {:.1}s",
                report.created,
                report.updated,
                report.unchanged,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
