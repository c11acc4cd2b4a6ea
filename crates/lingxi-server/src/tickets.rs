//! Tickets over HTTP: views with filters and search, create (API, from a conversation, the widget's "leave a
//! message"), change, comment, history and bulk actions.

use crate::AppState;
use crate::auth::Agent;
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lingxi_domain::ticket::{TicketPriority, TicketStatus};
use lingxi_service::{TicketInput, TicketPatch};
use lingxi_store::{Actor, Ticket, TicketComment, TicketFilter};
use lingxi_types::wire::ItemList;
use lingxi_types::*;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

fn parse_id(id: &str) -> AppResult<TicketId> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "ticket not found"))
}

/// Absent → `None` (unchanged); `null` → `Some(None)` (cleared); a value → `Some(Some(v))`.
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `GET /api/v1/tickets` query.
#[derive(Deserialize, IntoParams)]
pub struct TicketQuery {
    /// `mine` (assigned to me), `unassigned`, `groups` (my groups), `overdue` (past an SLA deadline), or `all`
    /// (default).
    pub view: Option<String>,
    /// Comma-separated statuses; `unsolved` = new, open, pending, on_hold.
    pub status: Option<String>,
    /// Only with this tag.
    pub tag: Option<String>,
    /// Words in the title or description.
    pub q: Option<String>,
    /// Page size (default 50, max 500).
    pub limit: Option<i64>,
    /// Offset.
    pub offset: Option<i64>,
}

/// A page of tickets.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TicketPage {
    /// The tickets, most recently changed first.
    pub items: Vec<Ticket>,
    /// How many match in all.
    pub total: i64,
}

/// A ticket as `who` may see it: the requester's contact masked without `view_pii` (`z***@example.com`,
/// `138****5678`), like the visitor card.
fn shown(who: &lingxi_service::Authenticated, mut t: Ticket) -> Ticket {
    if !who.can(lingxi_types::Permission::ViewPii)
        && let Some(c) = t.requester_contact.take()
    {
        t.requester_contact = Some(if c.contains('@') {
            lingxi_domain::workspace::mask_email(&c)
        } else {
            lingxi_domain::workspace::mask_phone(&c)
        });
    }
    t
}

/// Ticket views for agents: mine, unassigned, my groups, all; with status, tag and text filters.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketQuery),
    responses((status = 200, body = TicketPage), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Query(q): Query<TicketQuery>,
) -> AppResult<Json<TicketPage>> {
    let who = &agent.who;
    if q.q.as_deref().is_some_and(|s| s.chars().count() > 200) {
        return Err(AppError::new(ErrorCode::InvalidField, "q is longer than 200 characters"));
    }
    let mut filter = TicketFilter { tag: q.tag, q: q.q, limit: q.limit, offset: q.offset, ..Default::default() };
    match q.view.as_deref().unwrap_or("all") {
        "all" | "" => {}
        "mine" => filter.assignee = Some(who.user.id),
        "unassigned" => filter.unassigned = true,
        "overdue" => filter.overdue_at = Some(chrono::Utc::now().timestamp_millis()),
        "groups" => {
            filter.groups = state
                .services
                .store
                .groups(who.tenant.id)
                .await?
                .into_iter()
                .filter(|g| g.members.contains(&who.user.id))
                .map(|g| g.id)
                .collect();
            if filter.groups.is_empty() {
                return Ok(Json(TicketPage { items: vec![], total: 0 }));
            }
        }
        _ => {
            return Err(AppError::new(
                ErrorCode::InvalidField,
                "view must be mine, unassigned, groups, overdue or all",
            ));
        }
    }
    for s in q.status.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if s == "unsolved" {
            filter.statuses.extend(TicketStatus::ALL.into_iter().filter(|s| s.is_unsolved()));
        } else {
            filter.statuses.push(s.parse().map_err(|_| {
                AppError::new(
                    ErrorCode::InvalidField,
                    "status must be new, open, pending, on_hold, solved, closed or unsolved",
                )
            })?);
        }
    }
    let (items, total) = state.services.store.list_tickets(who.tenant.id, &filter).await?;
    Ok(Json(TicketPage { items: items.into_iter().map(|t| shown(who, t)).collect(), total }))
}

/// `POST /api/v1/tickets` body.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// Title (1 to 200 characters).
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// The customer, when known.
    pub requester_id: Option<VisitorId>,
    /// The customer's name.
    pub requester_name: Option<String>,
    /// The customer's phone or e-mail.
    pub requester_contact: Option<String>,
    /// `api` (default), `form`, `email`.
    pub source: Option<String>,
    /// Shop.
    pub shop: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Type.
    pub ticket_type: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Priority.
    pub priority: Option<TicketPriority>,
    /// Assignee.
    pub assignee_id: Option<UserId>,
    /// Group.
    pub group_id: Option<GroupId>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom fields (text, number, true/false).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Idempotency key: repeating a create with it returns the first ticket (200 instead of 201).
    pub external_key: Option<String>,
}

/// Creates a ticket (201), or returns the one created earlier with the same `external_key` (200).
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = TicketRequest,
    responses((status = 201, body = Ticket), (status = 200, body = Ticket), (status = 400, body = ApiError),
              (status = 404, body = ApiError)))]
pub async fn create(State(state): State<AppState>, agent: Agent, Json(b): Json<TicketRequest>) -> AppResult<Response> {
    let source = b.source.clone().unwrap_or_else(|| "api".into());
    if !["api", "form", "email"].contains(&source.as_str()) {
        return Err(AppError::new(ErrorCode::InvalidField, "source must be api, form or email"));
    }
    let input = TicketInput {
        title: b.title,
        description: b.description,
        requester_id: b.requester_id,
        requester_name: b.requester_name,
        requester_contact: b.requester_contact,
        shop: b.shop,
        platform: b.platform,
        ticket_type: b.ticket_type,
        category: b.category,
        priority: b.priority,
        assignee_id: b.assignee_id,
        group_id: b.group_id,
        tags: b.tags,
        custom_fields: b.custom_fields,
        external_key: b.external_key,
    };
    let actor = Actor { user_id: Some(agent.who.user.id), name: agent.who.user.name.clone() };
    let (t, created) = state.services.create_ticket(agent.who.tenant.id, &actor, &source, input, None).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(shown(&agent.who, t))).into_response())
}

/// One ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = Ticket), (status = 404, body = ApiError)))]
pub async fn get_one(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> AppResult<Json<Ticket>> {
    Ok(Json(shown(&agent.who, state.services.store.ticket(agent.who.tenant.id, parse_id(&id)?).await?)))
}

/// `PATCH /api/v1/tickets/{id}` body: only the fields given change; `null` clears an optional field.
#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct TicketPatchRequest {
    /// Title.
    pub title: Option<String>,
    /// Status; the life cycle is enforced (409 otherwise).
    pub status: Option<TicketStatus>,
    /// Priority.
    pub priority: Option<TicketPriority>,
    /// Assignee (null: unassign).
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub assignee_id: Option<Option<UserId>>,
    /// Group (null: none).
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<Option<GroupId>>,
    /// Category (null: none).
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Type (null: none).
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>)]
    pub ticket_type: Option<Option<String>>,
    /// Replace the tags.
    pub tags: Option<Vec<String>>,
    /// Add tags.
    #[serde(default)]
    pub add_tags: Vec<String>,
    /// Custom fields to set (null removes one).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// The version read; a ticket changed since is a 409.
    pub version: Option<i64>,
}

impl TicketPatchRequest {
    fn patch(self) -> TicketPatch {
        TicketPatch {
            title: self.title,
            status: self.status,
            priority: self.priority,
            assignee_id: self.assignee_id,
            group_id: self.group_id,
            category: self.category,
            ticket_type: self.ticket_type,
            tags: self.tags,
            add_tags: self.add_tags,
            custom_fields: self.custom_fields,
            expected_version: self.version,
        }
    }
}

/// Changes a ticket; every changed field goes into its history.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets", request_body = TicketPatchRequest,
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = Ticket), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(b): Json<TicketPatchRequest>,
) -> AppResult<Json<Ticket>> {
    Ok(Json(shown(&agent.who, state.services.update_ticket(&agent.who, parse_id(&id)?, &b.patch()).await?)))
}

/// A ticket's comments, oldest first.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/comments", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = ItemList<TicketComment>), (status = 404, body = ApiError)))]
pub async fn comments(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ItemList<TicketComment>>> {
    let tenant_id = agent.who.tenant.id;
    let id = parse_id(&id)?;
    state.services.store.ticket(tenant_id, id).await?;
    Ok(Json(ItemList { items: state.services.store.ticket_comments(tenant_id, id).await? }))
}

/// `POST /api/v1/tickets/{id}/comments` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// Text.
    pub body: String,
    /// Public reply (default) or internal note (false).
    #[serde(default = "yes")]
    pub public: bool,
    /// Files uploaded before to `/api/v1/tickets/{id}/attachments` (at most 10; the body may then be empty).
    #[serde(default)]
    pub attachment_ids: Vec<AttachmentId>,
}

fn yes() -> bool {
    true
}

/// Adds a public reply or an internal note.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "tickets", request_body = CommentRequest,
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 201, body = TicketComment), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn add_comment(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(b): Json<CommentRequest>,
) -> AppResult<Response> {
    let c =
        state.services.comment_ticket_with(&agent.who, parse_id(&id)?, &b.body, b.public, &b.attachment_ids).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// One change in a ticket's history, with names for the ids it mentions.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TicketChangeView {
    /// Field (`status`, `priority`, `assignee`, `group`, …) or event (`created`, `public_reply`, …).
    pub field: String,
    /// Value before (an id for `assignee` and `group`).
    pub old_value: Option<String>,
    /// Value after.
    pub new_value: Option<String>,
    /// What people call the value before (the agent's or group's name), when it is an id.
    pub old_label: Option<String>,
    /// What people call the value after.
    pub new_label: Option<String>,
    /// Who (name).
    pub actor_name: String,
    /// Who (user).
    pub actor_id: Option<UserId>,
    /// RFC 3339.
    pub created_at: String,
}

/// A ticket's full history of changes, oldest first; agent and group ids come with their names.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/history", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id")),
    responses((status = 200, body = ItemList<TicketChangeView>), (status = 404, body = ApiError)))]
pub async fn history(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ItemList<TicketChangeView>>> {
    let tenant_id = agent.who.tenant.id;
    let id = parse_id(&id)?;
    let store = &state.services.store;
    store.ticket(tenant_id, id).await?;
    let changes = store.ticket_changes(tenant_id, id).await?;
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    if changes.iter().any(|c| c.field == "assignee") {
        names.extend(store.list_users(tenant_id).await?.into_iter().map(|u| (u.id.to_string(), u.name)));
    }
    if changes.iter().any(|c| c.field == "group") {
        names.extend(store.groups(tenant_id).await?.into_iter().map(|g| (g.id.to_string(), g.name)));
    }
    let label = |field: &str, v: &Option<String>| {
        if field == "assignee" || field == "group" { v.as_ref().and_then(|v| names.get(v).cloned()) } else { None }
    };
    let items = changes
        .into_iter()
        .map(|c| TicketChangeView {
            old_label: label(&c.field, &c.old_value),
            new_label: label(&c.field, &c.new_value),
            field: c.field,
            old_value: c.old_value,
            new_value: c.new_value,
            actor_name: c.actor_name,
            actor_id: c.actor_id,
            created_at: wire::rfc3339(c.created_at),
        })
        .collect();
    Ok(Json(ItemList { items }))
}

/// `POST /api/v1/tickets/bulk` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// 1 to 500 tickets.
    pub ids: Vec<TicketId>,
    /// The change for each.
    pub patch: TicketPatchRequest,
}

/// One ticket's outcome in a bulk action.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    /// The ticket.
    pub id: TicketId,
    /// Whether it changed.
    pub ok: bool,
    /// The ticket after the change.
    pub ticket: Option<Ticket>,
    /// Why not.
    pub error: Option<ApiError>,
}

/// Applies one change to many tickets, each atomically; reports every ticket's outcome.
#[utoipa::path(post, path = "/api/v1/tickets/bulk", tag = "tickets", request_body = BulkRequest,
    responses((status = 200, body = ItemList<BulkResult>), (status = 400, body = ApiError)))]
pub async fn bulk(
    State(state): State<AppState>,
    agent: Agent,
    Json(b): Json<BulkRequest>,
) -> AppResult<Json<ItemList<BulkResult>>> {
    let results = state.services.bulk_update_tickets(&agent.who, &b.ids, &b.patch.patch()).await?;
    let items = results
        .into_iter()
        .map(|(id, r)| match r {
            Ok(t) => BulkResult { id, ok: true, ticket: Some(shown(&agent.who, t)), error: None },
            Err(e) => BulkResult { id, ok: false, ticket: None, error: Some(AppError::from(e).0) },
        })
        .collect();
    Ok(Json(ItemList { items }))
}

/// `POST /api/v1/conversations/{id}/ticket` body.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct FromConversationRequest {
    /// Title (default: the visitor's first question).
    pub title: Option<String>,
}

/// One click: a ticket from a conversation (201), or the one it already has (200).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/ticket", tag = "tickets", request_body = FromConversationRequest,
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 201, body = Ticket), (status = 200, body = Ticket), (status = 404, body = ApiError)))]
pub async fn from_conversation(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(b): Json<FromConversationRequest>,
) -> AppResult<Response> {
    let cid: ConversationId = id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "conversation not found"))?;
    let (t, created) = state.services.ticket_from_conversation(&agent.who, cid, b.title.as_deref()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(shown(&agent.who, t))).into_response())
}

/// `POST /api/v1/widget/leave-message` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveMessageRequest {
    /// The visitor's name.
    pub name: Option<String>,
    /// Phone or e-mail to answer to.
    pub contact: Option<String>,
    /// The message.
    pub text: String,
}

/// A ticket reference for the visitor.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LeftMessage {
    /// The ticket number to quote.
    pub number: i64,
}

/// The widget's "leave a message" (widget token as bearer): becomes a ticket for the visitor.
#[utoipa::path(post, path = "/api/v1/widget/leave-message", tag = "widget", request_body = LeaveMessageRequest,
    responses((status = 201, body = LeftMessage), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn leave_message(
    State(state): State<AppState>,
    crate::auth::Client(_info, ip): crate::auth::Client,
    headers: HeaderMap,
    Json(b): Json<LeaveMessageRequest>,
) -> AppResult<Response> {
    state.limits.leave_message(ip)?;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "the widget token is required"))?;
    for (field, value, max) in [("name", b.name.as_deref(), 100), ("contact", b.contact.as_deref(), 200)] {
        if value.is_some_and(|v| v.chars().count() > max) {
            return Err(AppError::new(ErrorCode::InvalidField, format!("{field} is longer than {max} characters")));
        }
    }
    let grant = state.services.widget_grant(token.trim()).await?;
    let t = state.services.leave_message(grant, b.name.as_deref(), b.contact.as_deref(), &b.text).await?;
    Ok((StatusCode::CREATED, Json(LeftMessage { number: t.number })).into_response())
}

/// A tenant's ticket settings on the wire.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketSettingsBody {
    /// Dispatch rules applied to every new ticket in order: `{id, name, enabled, conditions: [{field, op, value}],
    /// actions: [{action: set_group | set_priority | add_tag | set_assignee, value}], stop_processing}`.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<lingxi_domain::ticket::Rule>,
    /// Where tickets the classifier is unsure about go.
    pub triage_group_id: Option<GroupId>,
    /// Classify new tickets that come without a category (default true).
    #[serde(default = "yes")]
    pub auto_classify: bool,
    /// Confidence below which a ticket goes to triage (0 to 1, default 0.5).
    #[serde(default = "half")]
    pub threshold: f32,
    /// SLA policies, first match covers a ticket: `{name, conditions, first_response_secs, resolution_secs,
    /// business_hours, warn_before}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub sla_policies: Vec<lingxi_domain::sla::SlaPolicy>,
    /// Business calendar: `{timezone: "Asia/Shanghai", weekly: [["09:00-18:00"], …7 days from Monday],
    /// holidays: ["2026-10-01"], makeup_workdays: {"2026-10-11": ["09:00-18:00"]}}`; absent = around the clock.
    #[schema(value_type = Option<Object>)]
    pub calendar: Option<lingxi_domain::sla::CalendarSpec>,
    /// Typed custom fields: `[{key, label_zh, label_en, kind: "text|number|select|date", options, required}]`.
    /// With any defined, ticket values are checked against them (unknown keys refused); `required` applies to
    /// tickets agents create.
    #[serde(default)]
    pub custom_fields: Vec<lingxi_domain::fields::FieldDef>,
}

fn half() -> f32 {
    0.5
}

impl From<lingxi_service::TicketSettings> for TicketSettingsBody {
    fn from(s: lingxi_service::TicketSettings) -> Self {
        TicketSettingsBody {
            rules: s.rules,
            triage_group_id: s.triage_group_id,
            auto_classify: s.auto_classify,
            threshold: s.threshold,
            sla_policies: s.sla_policies,
            calendar: s.calendar,
            custom_fields: s.custom_fields,
        }
    }
}

/// The tenant's ticket classification and dispatch settings.
#[utoipa::path(get, path = "/api/v1/admin/ticket-settings", tag = "tickets",
    responses((status = 200, body = TicketSettingsBody), (status = 403, body = ApiError)))]
pub async fn settings(
    State(state): State<AppState>,
    crate::auth::Can(admin, _): crate::auth::Can<crate::auth::perm::ManageTickets>,
) -> AppResult<Json<TicketSettingsBody>> {
    Ok(Json(state.services.ticket_settings(admin.who.tenant.id).await?.into()))
}

/// Replaces the tenant's ticket classification and dispatch settings.
#[utoipa::path(put, path = "/api/v1/admin/ticket-settings", tag = "tickets", request_body = TicketSettingsBody,
    responses((status = 200, body = TicketSettingsBody), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError)))]
pub async fn save_settings(
    State(state): State<AppState>,
    crate::auth::Client(client, _ip): crate::auth::Client,
    crate::auth::Can(admin, _): crate::auth::Can<crate::auth::perm::ManageTickets>,
    Json(b): Json<TicketSettingsBody>,
) -> AppResult<Json<TicketSettingsBody>> {
    let s = lingxi_service::TicketSettings {
        rules: b.rules,
        triage_group_id: b.triage_group_id,
        auto_classify: b.auto_classify,
        threshold: b.threshold,
        sla_policies: b.sla_policies,
        calendar: b.calendar,
        custom_fields: b.custom_fields,
    };
    let saved = state.services.save_ticket_settings(admin.who.tenant.id, s).await?;
    let detail = serde_json::json!({"rules": saved.rules.len(), "threshold": saved.threshold});
    state.services.audit(&admin.who, &client, "tickets.settings", None, detail).await?;
    Ok(Json(saved.into()))
}

/// `GET /api/v1/sla/report` query.
#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `group` (default), `agent` or `category`.
    pub by: Option<String>,
    /// Tickets created from (RFC 3339 or `YYYY-MM-DD`; default 30 days ago).
    pub from: Option<String>,
    /// Tickets created before (RFC 3339, or `YYYY-MM-DD` for that whole day; default now).
    pub to: Option<String>,
}

/// The SLA compliance report.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SlaReport {
    /// `group`, `agent` or `category`.
    pub by: String,
    /// RFC 3339.
    pub from: String,
    /// RFC 3339.
    pub to: String,
    /// Every ticket of the period under a policy.
    pub overall: lingxi_service::ComplianceLine,
    /// One line per group, agent or category, most tickets first.
    pub items: Vec<lingxi_service::ComplianceLine>,
}

/// SLA compliance (% met, breaches, average times) of first response and resolution, per group, agent or
/// category (supervisors and above).
#[utoipa::path(get, path = "/api/v1/sla/report", tag = "tickets", params(ReportQuery),
    responses((status = 200, body = SlaReport), (status = 400, body = ApiError), (status = 403, body = ApiError)))]
pub async fn sla_report(
    State(state): State<AppState>,
    agent: Agent,
    Query(q): Query<ReportQuery>,
) -> AppResult<Json<SlaReport>> {
    let who = &agent.who;
    who.require(lingxi_types::Permission::ViewReports)?;
    let by = match q.by.as_deref().unwrap_or("group") {
        "group" => lingxi_service::ReportBy::Group,
        "agent" => lingxi_service::ReportBy::Agent,
        "category" => lingxi_service::ReportBy::Category,
        _ => return Err(AppError::new(ErrorCode::InvalidField, "by must be group, agent or category")),
    };
    let now = chrono::Utc::now();
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => lingxi_service::parse_bound("from", s, false)?,
        None => now - chrono::TimeDelta::days(30),
    };
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => lingxi_service::parse_bound("to", s, true)?,
        None => now + chrono::TimeDelta::seconds(1),
    };
    let (overall, items) = state.services.sla_report(who.tenant.id, by, from, to, now).await?;
    Ok(Json(SlaReport {
        by: q.by.unwrap_or_else(|| "group".into()),
        from: wire::rfc3339(from),
        to: wire::rfc3339(to),
        overall,
        items,
    }))
}

/// An outgoing webhook delivery.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    /// Id (sent as `X-Lingxi-Delivery`).
    pub id: String,
    /// Event (`sla.breach`).
    pub event: String,
    /// URL.
    pub url: String,
    /// Attempts made.
    pub attempts: i64,
    /// `pending`, `delivered` or `failed` (given up after 12 attempts).
    pub state: String,
    /// The last failure.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// The newest outgoing webhook deliveries (admins), to see whether escalations reach their receiver.
#[utoipa::path(get, path = "/api/v1/admin/webhooks", tag = "tickets",
    responses((status = 200, body = ItemList<WebhookView>), (status = 403, body = ApiError)))]
pub async fn webhooks(
    State(state): State<AppState>,
    crate::auth::Can(admin, _): crate::auth::Can<crate::auth::perm::ManageTickets>,
) -> AppResult<Json<ItemList<WebhookView>>> {
    let items = state.services.store.webhook_records(admin.who.tenant.id, 100).await?;
    let ms = |v: i64| chrono::DateTime::from_timestamp_millis(v).map(wire::rfc3339).unwrap_or_default();
    Ok(Json(ItemList {
        items: items
            .into_iter()
            .map(|w| WebhookView {
                state: if w.delivered_at.is_some() {
                    "delivered"
                } else if w.failed_at.is_some() {
                    "failed"
                } else {
                    "pending"
                }
                .into(),
                id: w.id,
                event: w.event,
                url: w.url,
                attempts: w.attempts,
                last_error: w.last_error,
                created_at: ms(w.created_at),
            })
            .collect(),
    }))
}

/// `POST /api/v1/forms/ticket` body: the public support form.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormTicketRequest {
    /// The tenant's widget key (the form page is `/support?key=…`).
    pub widget_key: String,
    /// The customer's name.
    pub name: String,
    /// E-mail or phone, to answer them.
    pub contact: String,
    /// Subject (1 to 200 characters).
    pub title: String,
    /// What happened (1 to 5,000 characters).
    pub description: String,
    /// Left empty by people; bots fill it in (the request is then accepted and dropped).
    #[serde(default)]
    pub website: Option<String>,
}

/// The public support form (no sign-in; rate-limited per address) → a ticket with source `form`; the customer is
/// shown its number.
#[utoipa::path(post, path = "/api/v1/forms/ticket", tag = "tickets", request_body = FormTicketRequest,
    responses((status = 201, body = LeftMessage), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn submit_form(
    State(state): State<AppState>,
    crate::auth::Client(_info, ip): crate::auth::Client,
    Json(b): Json<FormTicketRequest>,
) -> AppResult<Response> {
    state.limits.leave_message(ip)?;
    for (field, value, max) in [
        ("widget_key", b.widget_key.as_str(), 200),
        ("contact", b.contact.as_str(), 254),
        ("title", b.title.as_str(), 200),
    ] {
        if value.chars().count() > max {
            return Err(AppError::new(ErrorCode::InvalidField, format!("{field} is longer than {max} characters")));
        }
    }
    if b.website.as_deref().is_some_and(|w| !w.is_empty()) {
        // A bot filled in the hidden field: answer like a success, store nothing.
        return Ok((StatusCode::CREATED, Json(LeftMessage { number: 0 })).into_response());
    }
    let t = state.services.submit_form(&b.widget_key, &b.name, &b.contact, &b.title, &b.description).await?;
    Ok((StatusCode::CREATED, Json(LeftMessage { number: t.number })).into_response())
}

/// `?name=` of a ticket upload.
#[derive(Deserialize, IntoParams)]
pub struct TicketUploadQuery {
    /// The file name (default `attachment`).
    pub name: Option<String>,
}

/// Uploads a file for a ticket (raw body, its type as `Content-Type`; at most 10 MiB); a comment then sends it.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/attachments", tag = "tickets",
    params(("id" = String, Path, description = "Ticket id"), TicketUploadQuery),
    responses((status = 201, body = AttachmentRef), (status = 404, body = ApiError), (status = 413, body = ApiError),
              (status = 415, body = ApiError)))]
pub async fn upload_attachment(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<TicketUploadQuery>,
    req: axum::extract::Request,
) -> AppResult<Response> {
    let (headers, body) = crate::workspace::read_body(req, crate::workspace::UPLOAD_BODY_LIMIT).await?;
    let name = q.name.as_deref().unwrap_or("attachment");
    let a = state
        .services
        .upload_ticket_attachment(&agent.who, parse_id(&id)?, name, &crate::workspace::declared_type(&headers), body)
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

/// Downloads a ticket's file.
#[utoipa::path(get, path = "/api/v1/ticket-attachments/{id}", tag = "tickets",
    params(("id" = String, Path, description = "Attachment id")),
    responses((status = 200, description = "The file"), (status = 404, body = ApiError)))]
pub async fn download_attachment(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let attachment: AttachmentId =
        id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "attachment not found"))?;
    let (reference, data) = state.services.store.ticket_attachment(agent.who.tenant.id, attachment).await?;
    let conversation_id = ConversationId::generate(); // not used when serving
    Ok(crate::workspace::serve(lingxi_store::StoredAttachment { reference, conversation_id, data }))
}

/// The tenant's custom ticket fields (any member: the ticket forms need them).
#[utoipa::path(get, path = "/api/v1/tickets/fields", tag = "tickets",
    responses((status = 200, body = ItemList<lingxi_domain::fields::FieldDef>), (status = 401, body = ApiError)))]
pub async fn fields(
    State(state): State<AppState>,
    agent: Agent,
) -> AppResult<Json<ItemList<lingxi_domain::fields::FieldDef>>> {
    Ok(Json(ItemList { items: state.services.ticket_settings(agent.who.tenant.id).await?.custom_fields }))
}

/// What became of an e-mail given to `POST /api/v1/tickets/email`.
#[derive(Serialize, ToSchema)]
pub struct EmailReceipt {
    /// `created` (a new ticket), `replied` (added to the ticket its subject names), `duplicate` (taken in before,
    /// by Message-ID) or `ignored` (automatic mail: auto-replies, bounces, lists).
    pub outcome: String,
    /// Why it was ignored.
    pub reason: Option<String>,
    /// The ticket it went to.
    pub ticket: Option<Ticket>,
    /// Attachments not kept (type, size or count), with why.
    pub skipped_attachments: Vec<String>,
}

/// Takes in one e-mail as raw RFC 5322 bytes (`Content-Type: message/rfc822`; at most 12 MiB): for a mail server's
/// pipe or an e-mail provider's inbound hook. A new message makes a ticket with source `email` (201); a reply
/// whose subject names one of the sender's tickets (`[#123]`) is added to it (200). The same Message-ID twice
/// changes nothing.
#[utoipa::path(post, path = "/api/v1/tickets/email", tag = "tickets",
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    responses((status = 201, body = EmailReceipt), (status = 200, body = EmailReceipt), (status = 400, body = ApiError),
              (status = 413, body = ApiError)))]
pub async fn receive_email(
    State(state): State<AppState>,
    agent: Agent,
    req: axum::extract::Request,
) -> AppResult<Response> {
    let (_, body) = crate::workspace::read_body(req, lingxi_service::inbound::MAX_EMAIL_BYTES).await?;
    let r = state.services.receive_email(agent.who.tenant.id, &body).await?;
    let (outcome, reason) = match r.outcome {
        lingxi_service::inbound::EmailOutcome::Created => ("created", None),
        lingxi_service::inbound::EmailOutcome::Replied => ("replied", None),
        lingxi_service::inbound::EmailOutcome::Duplicate => ("duplicate", None),
        lingxi_service::inbound::EmailOutcome::Ignored(why) => ("ignored", Some(why)),
    };
    let status = if outcome == "created" { StatusCode::CREATED } else { StatusCode::OK };
    let receipt = EmailReceipt {
        outcome: outcome.into(),
        reason,
        ticket: r.ticket.map(|t| shown(&agent.who, t)),
        skipped_attachments: r.skipped_attachments,
    };
    Ok((status, Json(receipt)).into_response())
}

/// The addresses a tenant receives support mail at (through the SMTP listener, `lingxi serve --smtp-listen`).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EmailInboxBody {
    /// Up to 20 addresses, each belonging to one tenant.
    pub addresses: Vec<String>,
    /// Whether this server listens for mail (read-only).
    #[serde(default)]
    pub listening: bool,
}

/// The tenant's support addresses.
#[utoipa::path(get, path = "/api/v1/admin/email-inbox", tag = "tickets",
    responses((status = 200, body = EmailInboxBody), (status = 403, body = ApiError)))]
pub async fn email_inbox(
    State(state): State<AppState>,
    crate::auth::Can(admin, _): crate::auth::Can<crate::auth::perm::ManageTickets>,
) -> AppResult<Json<EmailInboxBody>> {
    let addresses = state.services.email_inboxes(admin.who.tenant.id).await?;
    Ok(Json(EmailInboxBody { addresses, listening: state.services.email_listening() }))
}

/// Replaces the tenant's support addresses (409 when another tenant has one of them).
#[utoipa::path(put, path = "/api/v1/admin/email-inbox", tag = "tickets", request_body = EmailInboxBody,
    responses((status = 200, body = EmailInboxBody), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn save_email_inbox(
    State(state): State<AppState>,
    crate::auth::Client(client, _ip): crate::auth::Client,
    crate::auth::Can(admin, _): crate::auth::Can<crate::auth::perm::ManageTickets>,
    Json(b): Json<EmailInboxBody>,
) -> AppResult<Json<EmailInboxBody>> {
    let addresses = state.services.set_email_inboxes(admin.who.tenant.id, &b.addresses).await?;
    let detail = serde_json::json!({"addresses": addresses.len()});
    state.services.audit(&admin.who, &client, "tickets.email_inbox", None, detail).await?;
    Ok(Json(EmailInboxBody { addresses, listening: state.services.email_listening() }))
}
