//! What the service suites share: run one body on SQLite always and on PostgreSQL when `LINGXI_TEST_POSTGRES_URL`
//! is set, each time with two stores over one database (two nodes' pools).

/// The result type of the suites.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// `both_backends!(test_name, body_fn)` declares `#[tokio::test] test_name` that runs
/// `body_fn(store_a, store_b).await` on each configured backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> $crate::common::TestResult {
            use lingxi_store::Store;
            use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("lingxi.db").display());
            $body(Store::connect(&url).await?, Store::connect(&url).await?).await?;
            if let Some(pg) = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty()) {
                let url = scratch_postgres_url(&pg).await?;
                $body(Store::connect(&url).await?, Store::connect(&url).await?).await?;
            }
            Ok(())
        }
    };
}
