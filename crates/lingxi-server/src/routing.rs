//! Routing over HTTP: agents' status and profiles, skill groups, routing rules, transfers, takeovers, internal
//! notes, assignment explanations and visitor segments.

use crate::AppState;
use crate::auth::{Agent, Can, Client, perm};
use crate::error::{AppError, AppResult, Json};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lingxi_service::{GroupSpec, TransferTarget};
use lingxi_types::wire::{ConversationView, ItemList, MessageView};
use lingxi_types::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn parse<T: std::str::FromStr>(what: &str, id: &str) -> AppResult<T> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, format!("{what} not found")))
}

/// `PUT /api/v1/me/status` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `online` takes new conversations; `busy` and `away` keep current ones only; `offline` returns them to the
    /// queue.
    pub status: AgentStatus,
}

/// Sets the caller's availability.
#[utoipa::path(put, path = "/api/v1/me/status", tag = "routing", request_body = StatusRequest,
    responses((status = 200, body = AgentProfile), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn set_status(
    State(state): State<AppState>,
    agent: Agent,
    Json(body): Json<StatusRequest>,
) -> AppResult<Json<AgentProfile>> {
    state.services.set_my_status(&agent.who, body.status).await?;
    let me = state
        .services
        .store
        .agent_profiles(agent.who.tenant.id)
        .await?
        .into_iter()
        .find(|p| p.user_id == agent.who.user.id)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "user not found"))?;
    Ok(Json(me))
}

/// The tenant's agents with status, load and capacity (for transfers and the supervisor's board).
#[utoipa::path(get, path = "/api/v1/agents", tag = "routing",
    responses((status = 200, body = ItemList<AgentProfile>), (status = 401, body = ApiError)))]
pub async fn list_agents(State(state): State<AppState>, agent: Agent) -> AppResult<Json<ItemList<AgentProfile>>> {
    Ok(Json(ItemList { items: state.services.store.agent_profiles(agent.who.tenant.id).await? }))
}

/// `PUT /api/v1/admin/agents/{id}` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentProfileRequest {
    /// Most conversations at once (1 to 100).
    pub capacity: i64,
    /// Skills and tags (language, product line, style), at most 30.
    #[serde(default)]
    pub skills: Vec<String>,
}

/// Sets an agent's capacity and skills.
#[utoipa::path(put, path = "/api/v1/admin/agents/{id}", tag = "routing", request_body = AgentProfileRequest,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AgentProfile), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError)))]
pub async fn set_agent_profile(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageRouting>,
    Path(id): Path<String>,
    Json(body): Json<AgentProfileRequest>,
) -> AppResult<Json<AgentProfile>> {
    let user: UserId = parse("user", &id)?;
    let p = state.services.set_agent_profile(admin.who.tenant.id, user, body.capacity, &body.skills).await?;
    let detail = serde_json::json!({"capacity": p.capacity, "skills": p.skills});
    state.services.audit(&admin.who, &client, "agent.profile", Some(user.to_string()), detail).await?;
    Ok(Json(p))
}

/// The tenant's skill groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "routing",
    responses((status = 200, body = ItemList<SkillGroup>), (status = 401, body = ApiError)))]
pub async fn list_groups(State(state): State<AppState>, agent: Agent) -> AppResult<Json<ItemList<SkillGroup>>> {
    Ok(Json(ItemList { items: state.services.store.groups(agent.who.tenant.id).await? }))
}

/// A skill group as submitted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// Name (1 to 60 characters, unique in the tenant).
    pub name: String,
    /// Strategy within the group (default `least_loaded`).
    #[serde(default = "default_strategy")]
    pub strategy: RoutingStrategy,
    /// Skills the group's conversations need (used by `skill_match`).
    #[serde(default)]
    pub skills: Vec<String>,
    /// Return customers to their last agent (default true).
    #[serde(default = "yes")]
    pub sticky: bool,
    /// Member user ids.
    #[serde(default)]
    pub members: Vec<UserId>,
}

fn default_strategy() -> RoutingStrategy {
    RoutingStrategy::LeastLoaded
}

fn yes() -> bool {
    true
}

impl GroupRequest {
    fn spec(self) -> GroupSpec {
        GroupSpec {
            name: self.name,
            strategy: self.strategy,
            skills: self.skills,
            sticky: self.sticky,
            members: self.members,
        }
    }
}

/// Creates a skill group.
#[utoipa::path(post, path = "/api/v1/admin/groups", tag = "routing", request_body = GroupRequest,
    responses((status = 201, body = SkillGroup), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn create_group(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageRouting>,
    Json(body): Json<GroupRequest>,
) -> AppResult<Response> {
    let g = state.services.create_group(admin.who.tenant.id, &body.spec()).await?;
    let detail = serde_json::json!({"name": g.name, "strategy": g.strategy, "members": g.members.len()});
    state.services.audit(&admin.who, &client, "group.create", Some(g.id.to_string()), detail).await?;
    Ok((StatusCode::CREATED, Json(g)).into_response())
}

/// Replaces a skill group's settings and members.
#[utoipa::path(put, path = "/api/v1/admin/groups/{id}", tag = "routing", request_body = GroupRequest,
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, body = SkillGroup), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn update_group(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageRouting>,
    Path(id): Path<String>,
    Json(body): Json<GroupRequest>,
) -> AppResult<Json<SkillGroup>> {
    let g = state.services.update_group(admin.who.tenant.id, parse("group", &id)?, &body.spec()).await?;
    let detail = serde_json::json!({"name": g.name, "strategy": g.strategy, "members": g.members.len()});
    state.services.audit(&admin.who, &client, "group.update", Some(g.id.to_string()), detail).await?;
    Ok(Json(g))
}

/// Deletes a skill group that no routing rule uses.
#[utoipa::path(delete, path = "/api/v1/admin/groups/{id}", tag = "routing",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn delete_group(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageRouting>,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let gid: GroupId = parse("group", &id)?;
    state.services.delete_group(admin.who.tenant.id, gid).await?;
    state.services.audit(&admin.who, &client, "group.delete", Some(gid.to_string()), serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A routing rule as submitted (without an id, one is given).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Keeps the id of an existing rule.
    pub id: Option<RuleId>,
    /// Name shown in explanations.
    pub name: String,
    /// All must hold; none = every conversation.
    #[serde(default)]
    pub conditions: Vec<RouteCondition>,
    /// Target group; absent = any online agent.
    pub group_id: Option<GroupId>,
    /// Queue priority 0 to 99.
    #[serde(default)]
    pub priority: i64,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// `PUT /api/v1/admin/routing-rules` body: the whole ordered list.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesRequest {
    /// The rules, evaluated in this order; the first whose conditions all hold decides.
    pub items: Vec<RuleInput>,
}

/// The tenant's routing rules in evaluation order.
#[utoipa::path(get, path = "/api/v1/admin/routing-rules", tag = "routing",
    responses((status = 200, body = ItemList<RouteRule>), (status = 403, body = ApiError)))]
pub async fn list_rules(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageRouting>,
) -> AppResult<Json<ItemList<RouteRule>>> {
    Ok(Json(ItemList { items: state.services.store.routing_rules(admin.who.tenant.id).await? }))
}

/// Replaces the routing rules atomically.
#[utoipa::path(put, path = "/api/v1/admin/routing-rules", tag = "routing", request_body = RulesRequest,
    responses((status = 200, body = ItemList<RouteRule>), (status = 400, body = ApiError),
              (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn replace_rules(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageRouting>,
    Json(body): Json<RulesRequest>,
) -> AppResult<Json<ItemList<RouteRule>>> {
    let rules = body
        .items
        .into_iter()
        .map(|r| RouteRule {
            id: r.id.unwrap_or_else(RuleId::generate),
            name: r.name,
            conditions: r.conditions,
            group_id: r.group_id,
            priority: r.priority,
            enabled: r.enabled,
        })
        .collect();
    let items = state.services.set_routing_rules(admin.who.tenant.id, rules).await?;
    let detail = serde_json::json!({"rules": items.iter().map(|r| &r.name).collect::<Vec<_>>()});
    state.services.audit(&admin.who, &client, "routing.rules", None, detail).await?;
    Ok(Json(ItemList { items }))
}

/// `POST /api/v1/conversations/{id}/transfer` body: exactly one target.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// An agent (online, with room).
    pub to_agent: Option<UserId>,
    /// A skill group's queue.
    pub to_group: Option<GroupId>,
    /// An internal note for the next agent (never shown to the visitor).
    pub note: Option<String>,
}

/// Transfers a conversation to an agent or a group (the serving agent or a supervisor).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfer", tag = "routing", request_body = TransferRequest,
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn transfer(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(body): Json<TransferRequest>,
) -> AppResult<Json<ConversationView>> {
    let target = match (body.to_agent, body.to_group) {
        (Some(a), None) => TransferTarget::Agent(a),
        (None, Some(g)) => TransferTarget::Group(g),
        _ => return Err(AppError::new(ErrorCode::InvalidField, "give exactly one of to_agent and to_group")),
    };
    let c = state.services.transfer(&agent.who, parse("conversation", &id)?, target, body.note.as_deref()).await?;
    Ok(Json(ConversationView::new(&c, None)))
}

/// A supervisor takes a conversation over, whoever serves it.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/takeover", tag = "routing",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn take_over(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ConversationView>> {
    let c = state.services.take_over(&agent.who, parse("conversation", &id)?).await?;
    Ok(Json(ConversationView::new(&c, None)))
}

/// `POST /api/v1/conversations/{id}/notes` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// The note.
    pub text: String,
}

/// Adds an internal note: agents see it in the conversation, the visitor never does.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes", tag = "routing", request_body = NoteRequest,
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 201, body = MessageView), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn add_note(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(body): Json<NoteRequest>,
) -> AppResult<Response> {
    let m = state.services.add_note(&agent.who, parse("conversation", &id)?, &body.text).await?;
    Ok((StatusCode::CREATED, Json(MessageView::from(&m))).into_response())
}

/// Why a conversation went to whom: every assignment decision, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/assignments", tag = "routing",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ItemList<Assignment>), (status = 404, body = ApiError)))]
pub async fn assignments(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ItemList<Assignment>>> {
    let tenant_id = agent.who.tenant.id;
    let id = parse("conversation", &id)?;
    state.services.store.conversation(tenant_id, id).await?;
    Ok(Json(ItemList { items: state.services.store.assignments(tenant_id, id).await? }))
}

/// A visitor as the workspace sees them.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct VisitorView {
    /// Id.
    pub id: VisitorId,
    /// Display name.
    pub name: String,
    /// The business's own id.
    pub external_id: Option<String>,
    /// Tags (segments).
    pub tags: Vec<String>,
    /// VIP.
    pub vip: bool,
    /// First seen (RFC 3339).
    pub created_at: String,
}

impl From<Visitor> for VisitorView {
    fn from(v: Visitor) -> Self {
        VisitorView {
            id: v.id,
            name: v.name,
            external_id: v.external_id,
            tags: v.tags,
            vip: v.vip,
            created_at: wire::rfc3339(v.created_at),
        }
    }
}

/// One visitor.
#[utoipa::path(get, path = "/api/v1/visitors/{id}", tag = "routing",
    params(("id" = String, Path, description = "Visitor id")),
    responses((status = 200, body = VisitorView), (status = 404, body = ApiError)))]
pub async fn get_visitor(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<VisitorView>> {
    Ok(Json(state.services.store.visitor(agent.who.tenant.id, parse("visitor", &id)?).await?.into()))
}

/// `PUT /api/v1/visitors/{id}/segments` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentsRequest {
    /// Tags, at most 50 of at most 40 characters.
    #[serde(default)]
    pub tags: Vec<String>,
    /// VIP (routed ahead of everyone else).
    #[serde(default)]
    pub vip: bool,
}

/// Sets a visitor's tags and VIP flag.
#[utoipa::path(put, path = "/api/v1/visitors/{id}/segments", tag = "routing", request_body = SegmentsRequest,
    params(("id" = String, Path, description = "Visitor id")),
    responses((status = 200, body = VisitorView), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn set_segments(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(body): Json<SegmentsRequest>,
) -> AppResult<Json<VisitorView>> {
    let v =
        state.services.set_visitor_segments(agent.who.tenant.id, parse("visitor", &id)?, &body.tags, body.vip).await?;
    Ok(Json(v.into()))
}
