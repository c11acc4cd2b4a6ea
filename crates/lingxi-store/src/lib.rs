//! Persistence of Lingxi: one repository layer over SQLite (the embedded default) and PostgreSQL.
//!
//! Every query is written once in the portable subset of SQL both engines share (`TEXT` ids, `BIGINT`
//! millisecond times, `$n` placeholders) and runs through sqlx's `Any` driver. Each backend owns its migration
//! folder so that later migrations can use engine-specific features.
//!
//! Architecture invariant: every function that reads or writes tenant data takes the [`TenantId`] and puts it in
//! the `WHERE` clause. There is no "get by id" without a tenant.

mod access;
mod audit;
mod bot;
mod conversations;
mod customers;
mod email;
mod events;
mod intake;
mod kb;
mod privacy;
mod routing;
mod rows;
mod tenants;
pub mod testing;
mod tickets;
mod users;
mod webhooks;
mod workspace;

pub use access::{ApiTokenRecord, NewApiToken, SecuritySettings};
pub use audit::{AuditRecord, NewAudit};
pub use bot::{DecisionRecord, FlowRecord, NewDecision};
pub use conversations::{Appended, BotTurnWrite, ConversationFilter, NewMessage};
pub use customers::{
    Identity, IdentityKind, NOT_COUNTED_STATUSES, NewOrder, NewVisitorEvent, Order, OrderItem, OrderTotals,
    OrderUpsert, TicketBrief, VisitorEvent, VisitorPatch,
};
pub use events::StoredEvent;
pub use intake::{IntakeApplied, IntakeRow, IntakeRun, IntakeSource};
pub use kb::{KbFilter, KbUpsertCounts, NewKbEntry};
pub use privacy::{ERASED_NAME, ERASED_TEXT, Erased};
pub use routing::{AssignChecks, AssignOutcome, AvailableAgent, GroupInput, HEARTBEAT_TTL_MS};
pub use tickets::{
    Actor, BatchTicket, BreachEffects, NewTicket, SlaFact, Ticket, TicketChange, TicketComment, TicketFilter,
    TicketSettingsRow, diff as ticket_diff,
};
pub use users::{LoginCandidate, NewSession, SessionRecord};
pub use webhooks::{WebhookDelivery, WebhookRecord};
pub use workspace::{CannedReply, ListedConversation, StoredAttachment};

use lingxi_types::TenantId;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (e.g. the e-mail already exists).
    #[error("already exists: {0}")]
    AlreadyExists(&'static str),
    /// The row does not exist in this tenant.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A stored value could not be decoded (a bug or a corrupted row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A storage result.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which engine a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The repository: a connection pool and the functions over it.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let pool = match backend {
            Backend::Sqlite => {
                let connections = std::env::var("LINGXI_SQLITE_CONNECTIONS")
                    .ok()
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|n| (1..=64).contains(n))
                    .unwrap_or(8);
                AnyPoolOptions::new()
                    .max_connections(connections)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect(url).await?
            }
        };
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// After a large import on PostgreSQL: refreshes the planner's statistics of a table now (autovacuum would,
    /// within minutes), so that the next import's lookups by key use the key's index instead of scanning a table
    /// believed small. Nothing to do on SQLite.
    pub async fn refresh_statistics(&self, table: &'static str) -> StoreResult<()> {
        if self.backend == Backend::Postgres && matches!(table, "intake_records" | "tickets") {
            sqlx::query(&format!("ANALYZE {table}")).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether an error is a uniqueness violation.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation() || db.message().contains("UNIQUE constraint failed"),
        _ => false,
    }
}

/// Renders a tenant id for binding.
fn tid(t: TenantId) -> String {
    t.0.to_string()
}
