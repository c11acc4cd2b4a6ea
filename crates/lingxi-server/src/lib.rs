//! Lingxi's HTTP surface: the axum router for the widget, the agent workspace and administration, the
//! WebSockets, authentication extractors and the mapping of errors to HTTP.
//!
//! Architecture invariant: this is the only crate that knows HTTP and JSON framing. Handlers parse and validate,
//! call `lingxi-service`, and format the result; they hold no business rules.

pub mod admin;
pub mod agent;
pub mod auth;
pub mod bot;
pub mod error;
pub mod intake;
pub mod kb;
pub mod limits;
pub mod routing;
pub mod smtp;
pub mod tickets;
mod web;
pub mod widget;
pub mod workspace;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use lingxi_service::Services;
use lingxi_types::{ApiError, ErrorCode};
use tower_http::cors::{Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The initial read buffer of a WebSocket (it grows for a larger frame): small, so an idle connection costs little.
pub const WS_BUFFER: usize = 4 * 1024;
/// The largest WebSocket frame accepted.
pub const MAX_WS_FRAME: usize = 16 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub services: Services,
    /// The slug of the tenant whose widget the demo shop page embeds.
    pub demo_tenant: Option<String>,
    /// Rate limits per client address.
    pub limits: std::sync::Arc<limits::RateLimits>,
    /// The open WebSockets, and the signal that closes them when the node shuts down.
    pub drain: std::sync::Arc<Drain>,
}

/// The node's open WebSockets and the signal that tells them to close ("going away", code 1001) when the node
/// shuts down, so clients reconnect to another node at once and resume there.
#[derive(Debug)]
pub struct Drain {
    stop: tokio::sync::watch::Sender<bool>,
    open: std::sync::atomic::AtomicUsize,
}

impl Default for Drain {
    fn default() -> Self {
        Drain { stop: tokio::sync::watch::channel(false).0, open: Default::default() }
    }
}

/// Counts a socket as open while it lives.
pub(crate) struct OpenSocket(std::sync::Arc<Drain>);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drain {
    /// Tells every open socket to close.
    pub fn begin(&self) {
        self.stop.send_replace(true);
    }

    /// How many sockets are open.
    pub fn open(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until every socket has closed, at most `limit`; returns how many are still open.
    pub async fn settled(&self, limit: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        while self.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.open()
    }

    /// Registers a socket: its guard and the shutdown signal it watches.
    pub(crate) fn socket(self: &std::sync::Arc<Self>) -> (OpenSocket, tokio::sync::watch::Receiver<bool>) {
        self.open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (OpenSocket(self.clone()), self.stop.subscribe())
    }
}

/// Waits until the node shuts down (immediately if it already does).
pub(crate) async fn shutting_down(stop: &mut tokio::sync::watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The close frame of a node going away.
pub(crate) fn going_away() -> axum::extract::ws::Message {
    axum::extract::ws::Message::Close(Some(axum::extract::ws::CloseFrame {
        code: 1001,
        reason: "server restarting, reconnect".into(),
    }))
}

impl AppState {
    /// The state of a node with default rate limits.
    pub fn new(services: Services, demo_tenant: Option<String>) -> AppState {
        Self::with_limits(services, demo_tenant, limits::RateLimitConfig::default())
    }

    /// The state of a node with the given rate limits.
    pub fn with_limits(services: Services, demo_tenant: Option<String>, config: limits::RateLimitConfig) -> AppState {
        AppState {
            services,
            demo_tenant,
            limits: std::sync::Arc::new(limits::RateLimits::new(config)),
            drain: std::sync::Arc::default(),
        }
    }
}

/// The OpenAPI document of the whole HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lingxi API",
        description = "Lingxi (灵犀) customer service platform. WebSocket frames: docs/protocol.md."
    ),
    paths(
        health,
        widget::config,
        widget::create_session,
        widget::ws,
        agent::login,
        agent::change_password,
        agent::logout,
        agent::me,
        agent::sessions,
        agent::revoke_session,
        agent::list,
        agent::get_one,
        agent::messages,
        agent::reply,
        agent::claim,
        agent::close,
        agent::ws,
        admin::list_users,
        admin::create_user,
        admin::unlock_user,
        admin::issue_password_reset,
        agent::reset_password,
        admin::set_role,
        admin::roles,
        admin::create_role,
        admin::update_role,
        admin::delete_role,
        admin::api_tokens,
        admin::create_api_token,
        admin::revoke_api_token,
        admin::security,
        admin::save_security,
        admin::audit_export,
        workspace::export_visitor,
        workspace::erase_visitor,
        admin::audit_log,
        admin::tenant,
        kb::list_entries,
        kb::create_entry,
        kb::get_entry,
        kb::update_entry,
        kb::delete_entry,
        kb::import,
        kb::export,
        kb::template,
        kb::test,
        bot::settings,
        bot::save_settings,
        bot::list_flows,
        bot::create_flow,
        bot::update_flow,
        bot::delete_flow,
        bot::assist,
        bot::take_back,
        bot::decisions,
        routing::set_status,
        routing::list_agents,
        routing::set_agent_profile,
        routing::list_groups,
        routing::create_group,
        routing::update_group,
        routing::delete_group,
        routing::list_rules,
        routing::replace_rules,
        routing::transfer,
        routing::take_over,
        routing::add_note,
        routing::assignments,
        routing::get_visitor,
        routing::set_segments,
        tickets::list,
        tickets::create,
        tickets::get_one,
        tickets::update,
        tickets::comments,
        tickets::add_comment,
        tickets::history,
        tickets::bulk,
        tickets::from_conversation,
        tickets::leave_message,
        tickets::settings,
        tickets::save_settings,
        workspace::mark_read,
        workspace::upload,
        workspace::download,
        workspace::widget_upload,
        workspace::widget_download,
        workspace::list_canned,
        workspace::create_canned,
        workspace::update_canned,
        workspace::delete_canned,
        workspace::card,
        workspace::patch_visitor,
        workspace::visitor_orders,
        workspace::track,
        workspace::identify,
        workspace::upsert_order,
        workspace::import_orders,
        intake::list_sources,
        intake::create_source,
        intake::update_source,
        intake::delete_source,
        intake::shipped,
        intake::shipped_sample,
        intake::import,
        intake::runs,
        intake::run,
        tickets::sla_report,
        tickets::webhooks,
        tickets::submit_form,
        tickets::upload_attachment,
        tickets::download_attachment,
        tickets::fields,
        tickets::receive_email,
        tickets::email_inbox,
        tickets::save_email_inbox,
    ),
    components(schemas(ApiError, ErrorCode))
)]
pub struct ApiDoc;

/// `{"status":"ok"}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
}

/// Liveness and readiness: 200 once the database answers, 503 otherwise.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health), (status = 503, body = ApiError)))]
pub async fn health(State(state): State<AppState>) -> Response {
    match state.services.store.ping().await {
        Ok(()) => axum::Json(Health { status: "ok".into() }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(ApiError::new(ErrorCode::Unavailable, "database unavailable")))
                .into_response()
        }
    }
}

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

/// The API routes, without pages: the list the OpenAPI document describes.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/openapi.json", get(openapi))
        .merge(widget_public_router())
        .route("/api/v1/widget/ws", get(widget::ws))
        .route("/api/v1/auth/login", post(agent::login))
        .route("/api/v1/auth/logout", post(agent::logout))
        .route("/api/v1/me", get(agent::me))
        .route("/api/v1/auth/sessions", get(agent::sessions))
        .route("/api/v1/auth/sessions/{id}", delete(agent::revoke_session))
        .route("/api/v1/auth/password", post(agent::change_password))
        .route("/api/v1/auth/password-reset", post(agent::reset_password))
        .route("/api/v1/conversations", get(agent::list))
        .route("/api/v1/conversations/{id}", get(agent::get_one))
        .route("/api/v1/conversations/{id}/messages", get(agent::messages).post(agent::reply))
        .route("/api/v1/conversations/{id}/claim", post(agent::claim))
        .route("/api/v1/conversations/{id}/close", post(agent::close))
        .route("/api/v1/agent/ws", get(agent::ws))
        .route("/api/v1/admin/users", get(admin::list_users).post(admin::create_user))
        .route("/api/v1/admin/users/{id}/unlock", post(admin::unlock_user))
        .route("/api/v1/admin/users/{id}/password-reset", post(admin::issue_password_reset))
        .route("/api/v1/admin/users/{id}/role", put(admin::set_role))
        .route("/api/v1/admin/roles", get(admin::roles).post(admin::create_role))
        .route("/api/v1/admin/roles/{id}", put(admin::update_role).delete(admin::delete_role))
        .route("/api/v1/admin/api-tokens", get(admin::api_tokens).post(admin::create_api_token))
        .route("/api/v1/admin/api-tokens/{id}", delete(admin::revoke_api_token))
        .route("/api/v1/admin/audit", get(admin::audit_log))
        .route("/api/v1/admin/audit/export", get(admin::audit_export))
        .route("/api/v1/admin/security", get(admin::security).put(admin::save_security))
        .route("/api/v1/admin/tenant", get(admin::tenant))
        .route("/api/v1/kb/entries", get(kb::list_entries).post(kb::create_entry))
        .route("/api/v1/kb/entries/{id}", get(kb::get_entry).put(kb::update_entry).delete(kb::delete_entry))
        .route("/api/v1/kb/import", post(kb::import).layer(DefaultBodyLimit::max(kb::IMPORT_MAX_BYTES)))
        .route("/api/v1/kb/export", get(kb::export))
        .route("/api/v1/kb/template", get(kb::template))
        .route("/api/v1/kb/test", post(kb::test))
        .route("/api/v1/admin/bot", get(bot::settings).put(bot::save_settings))
        .route("/api/v1/admin/flows", get(bot::list_flows).post(bot::create_flow))
        .route("/api/v1/admin/flows/{id}", put(bot::update_flow).delete(bot::delete_flow))
        .route("/api/v1/conversations/{id}/assist", get(bot::assist))
        .route("/api/v1/conversations/{id}/bot", post(bot::take_back))
        .route("/api/v1/conversations/{id}/decisions", get(bot::decisions))
        .route("/api/v1/me/status", put(routing::set_status))
        .route("/api/v1/agents", get(routing::list_agents))
        .route("/api/v1/admin/agents/{id}", put(routing::set_agent_profile))
        .route("/api/v1/groups", get(routing::list_groups))
        .route("/api/v1/admin/groups", post(routing::create_group))
        .route("/api/v1/admin/groups/{id}", put(routing::update_group).delete(routing::delete_group))
        .route("/api/v1/admin/routing-rules", get(routing::list_rules).put(routing::replace_rules))
        .route("/api/v1/conversations/{id}/transfer", post(routing::transfer))
        .route("/api/v1/conversations/{id}/takeover", post(routing::take_over))
        .route("/api/v1/conversations/{id}/notes", post(routing::add_note))
        .route("/api/v1/conversations/{id}/assignments", get(routing::assignments))
        .route("/api/v1/visitors/{id}", get(routing::get_visitor).patch(workspace::patch_visitor))
        .route("/api/v1/visitors/{id}/card", get(workspace::card))
        .route("/api/v1/visitors/{id}/export", get(workspace::export_visitor))
        .route("/api/v1/visitors/{id}/erase", post(workspace::erase_visitor))
        .route("/api/v1/visitors/{id}/orders", get(workspace::visitor_orders))
        .route("/api/v1/conversations/{id}/read", post(workspace::mark_read))
        .route(
            "/api/v1/conversations/{id}/attachments",
            post(workspace::upload).layer(DefaultBodyLimit::max(workspace::UPLOAD_BODY_LIMIT)),
        )
        .route("/api/v1/attachments/{id}", get(workspace::download))
        .route("/api/v1/widget/attachments/{id}", get(workspace::widget_download))
        .route("/api/v1/canned-replies", get(workspace::list_canned).post(workspace::create_canned))
        .route("/api/v1/canned-replies/{id}", put(workspace::update_canned).delete(workspace::delete_canned))
        .route("/api/v1/orders", post(workspace::upsert_order))
        .route(
            "/api/v1/orders/import",
            post(workspace::import_orders).layer(DefaultBodyLimit::max(workspace::ORDERS_IMPORT_MAX_BYTES)),
        )
        .route("/api/v1/visitors/{id}/segments", put(routing::set_segments))
        .route("/api/v1/tickets", get(tickets::list).post(tickets::create))
        .route("/api/v1/tickets/bulk", post(tickets::bulk))
        .route("/api/v1/tickets/fields", get(tickets::fields))
        .route(
            "/api/v1/tickets/email",
            post(tickets::receive_email).layer(DefaultBodyLimit::max(lingxi_service::inbound::MAX_EMAIL_BYTES)),
        )
        .route("/api/v1/tickets/{id}", get(tickets::get_one).patch(tickets::update))
        .route("/api/v1/tickets/{id}/comments", get(tickets::comments).post(tickets::add_comment))
        .route("/api/v1/tickets/{id}/history", get(tickets::history))
        .route(
            "/api/v1/tickets/{id}/attachments",
            post(tickets::upload_attachment).layer(DefaultBodyLimit::max(workspace::UPLOAD_BODY_LIMIT)),
        )
        .route("/api/v1/ticket-attachments/{id}", get(tickets::download_attachment))
        .route("/api/v1/conversations/{id}/ticket", post(tickets::from_conversation))
        .route("/api/v1/admin/ticket-settings", get(tickets::settings).put(tickets::save_settings))
        .route("/api/v1/admin/email-inbox", get(tickets::email_inbox).put(tickets::save_email_inbox))
        .route("/api/v1/admin/intake/sources", get(intake::list_sources).post(intake::create_source))
        .route("/api/v1/admin/intake/sources/{id}", put(intake::update_source).delete(intake::delete_source))
        .route("/api/v1/admin/intake/shipped", get(intake::shipped))
        .route("/api/v1/admin/intake/shipped/{id}/sample", get(intake::shipped_sample))
        .route(
            "/api/v1/admin/intake/import",
            post(intake::import).layer(DefaultBodyLimit::max(lingxi_service::INTAKE_MAX_BYTES)),
        )
        .route("/api/v1/sla/report", get(tickets::sla_report))
        .route("/api/v1/admin/webhooks", get(tickets::webhooks))
        .route("/api/v1/admin/intake/runs", get(intake::runs))
        .route("/api/v1/admin/intake/runs/{id}", get(intake::run))
        .route("/api/{*rest}", axum::routing::any(agent::not_found))
}

/// The widget's session routes, callable from any site that embeds the widget (CORS without credentials).
/// The widget WebSocket needs no CORS; per-key allowed origins come with issue 7.
fn widget_public_router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(3600));
    Router::new()
        .route("/api/v1/widget/config", get(widget::config))
        .route("/api/v1/widget/sessions", post(widget::create_session))
        .route("/api/v1/widget/leave-message", post(tickets::leave_message))
        .route(
            "/api/v1/widget/attachments",
            post(workspace::widget_upload).layer(DefaultBodyLimit::max(workspace::UPLOAD_BODY_LIMIT)),
        )
        .route("/api/v1/forms/ticket", post(tickets::submit_form))
        .route("/api/v1/track", post(workspace::track))
        .route("/api/v1/track/identify", post(workspace::identify))
        .layer(cors)
}

/// The Content-Security-Policy of every response: scripts only from this server, no inline script, framed only by
/// this server's own pages.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'";

/// [`DEFAULT_CSP`] with more origins allowed to frame the page.
pub fn csp_framed_by(origins: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for o in origins {
        ancestors.push(' ');
        ancestors.push_str(o);
    }
    DEFAULT_CSP.replace("frame-ancestors 'self'", &format!("frame-ancestors {ancestors}"))
}

/// The whole application: API, pages and the security headers on every response.
pub fn app(state: AppState) -> Router {
    api_router()
        .merge(web::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A page that may be framed elsewhere (the support form) sets its own policy.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN")))
        .with_state(state)
}
