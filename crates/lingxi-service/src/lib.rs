//! Lingxi's use cases, free of HTTP: the path of a message through storage, the bus, the bot and routing;
//! authentication and sessions; agent presence; the knowledge base and its background retraining.
//!
//! The HTTP layer (`lingxi-server`) parses requests, calls these functions and formats their results. Tests of
//! behaviour that does not depend on HTTP belong here.

mod access;
mod auth;
mod bot;
mod customers;
mod flow;
pub mod inbound;
mod intake;
mod kb;
pub mod mail;
pub mod outbound;
mod presence;
mod routing;
mod sla;
mod tickets;
mod workspace;

pub use customers::{
    CustomerRef, MAX_ORDER_ROWS, MAX_TRACK_BATCH, OrderImportReport, OrderInput, OrderRowError, TRACK_KINDS,
    TrackInput, VisitorCard, identities_of, normalise_email, normalise_phone,
};
pub use flow::{WidgetGrant, WidgetSession};
pub use intake::{
    INTAKE_MAX_BYTES, IntakePlan, IntakeProgress, IntakeReport, IntakeRowError, IntakeUpload, mapping_from_json,
};
pub use sla::{ClockCompliance, ComplianceLine, MAX_WEBHOOK_ATTEMPTS, ReportBy};
pub use workspace::{ListRequest, ListView, MAX_CANNED_CHARS, MAX_QUERY_CHARS, parse_bound};

pub use access::{API_TOKEN_PREFIX, MAX_TOKEN_DAYS, SecurityInput, normalise_origin};
pub use auth::{
    AuthError, Authenticated, ClientInfo, LOCK_THRESHOLD, hash_password, new_token, token_hash, validate_new_password,
};
pub use bot::{Assist, AssistItem, BotChoice, ChoiceSource, FLOW_WEBHOOK_TIMEOUT, GUESSES, StoredFlow};
pub use kb::{BotTest, ImportMode, ImportReport, RETRAIN_DELAY};
pub use presence::PresenceGuard;
pub use routing::{ABSENT_GRACE_MS, GroupSpec, QueueInfo, TransferTarget};
pub use tickets::{MIN_CLASSIFIER_EXAMPLES, TICKET_SOURCES, TicketInput, TicketPatch, TicketSettings};

use lingxi_bus::Bus;
use lingxi_store::{Store, StoreError};
use std::sync::Arc;

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
    /// The caller's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The upload is too big.
    #[error("{0}")]
    TooLarge(String),
    /// The upload's type is not accepted.
    #[error("{0}")]
    UnsupportedMedia(String),
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
    kb: Arc<kb::KbModels>,
    tickets: Arc<tickets::TicketModels>,
    /// This node's name in claims (SLA timers).
    node: String,
    /// Where webhooks may go (public addresses, plus what the operator allowed: the `lingxi` binary adds its own
    /// port on loopback for the demo webhook).
    outbound: Arc<std::sync::RwLock<outbound::Outbound>>,
    /// The operator's SMTP server, when e-mail is on.
    mailer: Arc<std::sync::RwLock<Option<mail::Mailer>>>,
    /// The optional sentence-embedding layer every model of this node trains with.
    encoder: Arc<std::sync::RwLock<Option<Arc<dyn lingxi_nlp::SentenceEncoder>>>>,
    /// Whether this node takes in mail (its SMTP listener runs).
    email_listening: Arc<std::sync::atomic::AtomicBool>,
    /// The most-asked entries behind 猜你想问, per tenant, recounted at most once a minute.
    popular: Arc<bot::PopularCache>,
    /// The bot settings per tenant, read once and forgotten when saved (here or, told over the bus, elsewhere).
    bot_settings: Arc<bot::SettingsCache>,
    /// When this node last ran the audit retention upkeep (ms since the epoch).
    audit_upkeep_at: Arc<std::sync::atomic::AtomicI64>,
}

impl Services {
    /// Services over a store and a bus.
    pub fn new(store: Store, bus: Bus) -> Services {
        Services {
            store,
            bus,
            presence: presence::Presence::default(),
            kb: Arc::default(),
            tickets: Arc::default(),
            node: format!("node-{}", uuid::Uuid::now_v7()),
            outbound: Arc::new(std::sync::RwLock::new(outbound::Outbound::new(
                outbound::OutboundPolicy::default(),
                OUTBOUND_TIMEOUT,
                "Lingxi/1",
            ))),
            mailer: Arc::default(),
            encoder: Arc::default(),
            email_listening: Arc::default(),
            popular: Arc::default(),
            bot_settings: Arc::default(),
            audit_upkeep_at: Arc::default(),
        }
    }
}

/// The longest a webhook may take (task-flow lookups have their own, shorter limit).
const OUTBOUND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Services {
    /// Sets where webhooks may go: public addresses and what `policy` allows.
    pub fn set_outbound_policy(&self, policy: outbound::OutboundPolicy) {
        if let Ok(mut o) = self.outbound.write() {
            *o = outbound::Outbound::new(policy, OUTBOUND_TIMEOUT, "Lingxi/1");
        }
    }

    /// Records that this node's SMTP listener runs (shown in the admin console).
    pub fn set_email_listening(&self, on: bool) {
        self.email_listening.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this node takes in mail.
    pub fn email_listening(&self) -> bool {
        self.email_listening.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Turns e-mail on (or off with `None`).
    pub fn set_mailer(&self, mailer: Option<mail::Mailer>) {
        if let Ok(mut m) = self.mailer.write() {
            *m = mailer;
        }
    }

    /// Sets the sentence-embedding layer the knowledge-base and ticket models train with from now on (`None`: the
    /// lexical engine alone). Models trained before keep theirs until their next retrain.
    pub fn set_sentence_encoder(&self, encoder: Option<Arc<dyn lingxi_nlp::SentenceEncoder>>) {
        if let Ok(mut e) = self.encoder.write() {
            *e = encoder;
        }
    }

    /// How this node's models are trained: the default engine, with the sentence encoder when one is set.
    pub(crate) fn intent_config(&self) -> lingxi_nlp::IntentConfig {
        let encoder = self.encoder.read().ok().and_then(|e| e.clone());
        lingxi_nlp::IntentConfig { encoder, ..lingxi_nlp::IntentConfig::default() }
    }

    /// The mailer, when e-mail is on.
    pub(crate) fn mailer(&self) -> Option<mail::Mailer> {
        self.mailer.read().ok().and_then(|m| m.clone())
    }

    /// The outbound clients and their policy.
    pub(crate) fn outbound(&self) -> outbound::Outbound {
        match self.outbound.read() {
            Ok(o) => o.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
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
