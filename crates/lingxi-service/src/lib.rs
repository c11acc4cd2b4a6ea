//! Lingxi's use cases, free of HTTP: the path of a message through storage, the bus, the bot and routing;
//! authentication and sessions; agent presence.
//!
//! The HTTP layer (`lingxi-server`) parses requests, calls these functions and formats their results. Tests of
//! behaviour that does not depend on HTTP belong here.

mod auth;
mod flow;
mod presence;

pub use flow::{WidgetGrant, WidgetSession};

pub use auth::{AuthError, Authenticated, hash_password, new_token, token_hash};
pub use presence::PresenceGuard;

use lingxi_bot::KnowledgeBase;
use lingxi_bus::Bus;
use lingxi_store::{Store, StoreError};
use lingxi_types::TenantId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Why a use case did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The thing does not exist in the caller's tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// The widget key is unknown.
    #[error("unknown widget key")]
    UnknownWidgetKey,
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            other => ServiceError::Store(other),
        }
    }
}

/// A use-case result.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// The longest message text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Everything the use cases need, shared by all requests. Cloning is cheap.
#[derive(Clone)]
pub struct Services {
    /// The repository.
    pub store: Store,
    /// The event bus.
    pub bus: Bus,
    presence: presence::Presence,
    kbs: Arc<RwLock<HashMap<TenantId, Arc<KnowledgeBase>>>>,
}

impl Services {
    /// Services over a store and a bus.
    pub fn new(store: Store, bus: Bus) -> Services {
        Services { store, bus, presence: presence::Presence::default(), kbs: Arc::default() }
    }

    /// The tenant's trained knowledge base, training it on first use.
    pub async fn knowledge_base(&self, tenant_id: TenantId) -> ServiceResult<Arc<KnowledgeBase>> {
        if let Some(kb) = self.kbs.read().ok().and_then(|m| m.get(&tenant_id).cloned()) {
            return Ok(kb);
        }
        self.retrain(tenant_id).await
    }

    /// Retrains the tenant's knowledge base from storage; the previous one answers until the new one is ready.
    pub async fn retrain(&self, tenant_id: TenantId) -> ServiceResult<Arc<KnowledgeBase>> {
        let entries = self.store.list_kb_entries(tenant_id).await?;
        let kb = tokio::task::spawn_blocking(move || KnowledgeBase::train(&entries))
            .await
            .map_err(|e| ServiceError::Conflict(format!("training stopped: {e}")))?
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let kb = Arc::new(kb);
        if let Ok(mut map) = self.kbs.write() {
            map.insert(tenant_id, kb.clone());
        }
        Ok(kb)
    }
}

/// Validates a message text: not blank, not too long.
pub fn validate_text(text: &str) -> ServiceResult<&str> {
    if text.trim().is_empty() {
        return Err(ServiceError::Invalid("text must not be empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ServiceError::Invalid(format!("text is longer than {MAX_TEXT_CHARS} characters")));
    }
    Ok(text)
}
