//! Helpers for tests that need a fresh database of either backend.

use crate::{Store, StoreResult};
use sqlx::Executor;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

/// The environment variable that names a PostgreSQL server for the PostgreSQL runs of the test suites.
pub const POSTGRES_URL_VAR: &str = "LINGXI_TEST_POSTGRES_URL";

/// Creates an empty, uniquely named database on the PostgreSQL server at `url` and returns its URL.
pub async fn scratch_postgres_url(url: &str) -> StoreResult<String> {
    install_default_drivers();
    let name = format!("lingxi_test_{}", uuid::Uuid::new_v4().simple());
    let admin = AnyPoolOptions::new().max_connections(1).connect(url).await?;
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    admin.close().await;
    let base = match url.rfind('/') {
        Some(i) if i > "postgres://".len() => &url[..i],
        _ => url,
    };
    let query = url.find('?').map(|i| &url[i..]).unwrap_or("");
    Ok(format!("{base}/{name}{query}"))
}

/// A fresh store on SQLite in `dir`.
pub async fn sqlite_store(dir: &std::path::Path) -> StoreResult<Store> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("lingxi.db").display());
    Store::connect(&url).await
}

/// A fresh store on a new scratch database of the PostgreSQL server named by [`POSTGRES_URL_VAR`], if set.
pub async fn postgres_store() -> Option<StoreResult<Store>> {
    let url = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty())?;
    Some(async { Store::connect(&scratch_postgres_url(&url).await?).await }.await)
}

impl Store {
    /// Runs a raw statement: for tests that check what the database itself refuses.
    pub async fn raw_execute(&self, sql: &str) -> StoreResult<u64> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }

    /// The first column of every row of a raw query, as text: for tests that look at what is stored.
    pub async fn raw_texts(&self, sql: &str) -> StoreResult<Vec<String>> {
        use sqlx::Row;
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
    }
}
