//! The bot's routes: its settings and task flows (admins), and on a conversation agent assist, the bot's decisions
//! and the bot taking the conversation back.

use crate::AppState;
use crate::auth::{Agent, Can, Client, perm};
use crate::error::{AppError, AppResult, Json};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lingxi_bot::BotSettings;
use lingxi_bot::flows::FlowSpec;
use lingxi_service::{Assist, StoredFlow};
use lingxi_store::DecisionRecord;
use lingxi_types::wire::{ConversationView, ItemList, rfc3339};
use lingxi_types::{ApiError, ConversationId, EntryId, ErrorCode, Uuid};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

fn conversation_id(id: &str) -> AppResult<ConversationId> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "conversation not found"))
}

fn flow_id(id: &str) -> AppResult<Uuid> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "flow not found"))
}

/// The bot settings document (`docs/protocol.md`, "Admin"): thresholds, handoff rules, the chit-chat set.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct BotSettingsDoc(pub BotSettings);

/// The tenant's bot settings (the defaults, with the built-in chit-chat set, until saved).
#[utoipa::path(get, path = "/api/v1/admin/bot", tag = "bot",
    responses((status = 200, body = BotSettingsDoc), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn settings(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageBot>,
) -> AppResult<Json<BotSettingsDoc>> {
    Ok(Json(BotSettingsDoc(state.services.bot_settings(admin.who.tenant.id).await?)))
}

/// Replaces the tenant's bot settings; the bot uses them from its next message.
#[utoipa::path(put, path = "/api/v1/admin/bot", tag = "bot", request_body = BotSettingsDoc,
    responses((status = 200, body = BotSettingsDoc), (status = 400, body = ApiError), (status = 403, body = ApiError)))]
pub async fn save_settings(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageBot>,
    Json(body): Json<BotSettingsDoc>,
) -> AppResult<Json<BotSettingsDoc>> {
    let saved = state.services.save_bot_settings(admin.who.tenant.id, body.0).await?;
    let detail = json!({
        "answer_threshold": saved.answer_threshold,
        "suggest_threshold": saved.suggest_threshold,
        "max_failures": saved.max_failures,
        "chitchat": saved.chitchat.len(),
    });
    state.services.audit(&admin.who, &client, "bot.settings", None, detail).await?;
    Ok(Json(BotSettingsDoc(saved)))
}

/// A task flow: its document (`name`, `title`, `enabled`, `triggers`, `slots`, `webhook_url`, reply and failure
/// templates) with `id`, `created_at` and `updated_at`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct FlowDoc(pub Value);

fn flow_doc(f: StoredFlow) -> FlowDoc {
    let mut v = serde_json::to_value(&f.spec).unwrap_or_else(|_| json!({}));
    if let Some(map) = v.as_object_mut() {
        map.insert("id".into(), json!(f.id));
        map.insert("created_at".into(), json!(rfc3339(f.created_at)));
        map.insert("updated_at".into(), json!(rfc3339(f.updated_at)));
    }
    FlowDoc(v)
}

/// Reads a flow document; `id`, `created_at` and `updated_at` may be sent back as received and are ignored.
fn flow_spec(mut body: Value) -> AppResult<FlowSpec> {
    if let Some(map) = body.as_object_mut() {
        for key in ["id", "created_at", "updated_at"] {
            map.remove(key);
        }
    }
    serde_json::from_value(body).map_err(|e| AppError::new(ErrorCode::InvalidField, format!("not a flow: {e}")))
}

/// The tenant's task flows, by name.
#[utoipa::path(get, path = "/api/v1/admin/flows", tag = "bot",
    responses((status = 200, body = ItemList<FlowDoc>), (status = 403, body = ApiError)))]
pub async fn list_flows(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageBot>,
) -> AppResult<Json<ItemList<FlowDoc>>> {
    let items = state.services.bot_flows(admin.who.tenant.id).await?.into_iter().map(flow_doc).collect();
    Ok(Json(ItemList { items }))
}

/// Adds a task flow.
#[utoipa::path(post, path = "/api/v1/admin/flows", tag = "bot", request_body = FlowDoc,
    responses((status = 201, body = FlowDoc), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn create_flow(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageBot>,
    Json(body): Json<FlowDoc>,
) -> AppResult<Response> {
    let flow = state.services.create_bot_flow(admin.who.tenant.id, flow_spec(body.0)?).await?;
    let detail = json!({"name": flow.spec.name, "webhook_url": flow.spec.webhook_url});
    state.services.audit(&admin.who, &client, "bot.flow.create", Some(flow.id.to_string()), detail).await?;
    Ok((StatusCode::CREATED, Json(flow_doc(flow))).into_response())
}

/// Replaces a task flow.
#[utoipa::path(put, path = "/api/v1/admin/flows/{id}", tag = "bot", request_body = FlowDoc,
    params(("id" = String, Path, description = "Flow id")),
    responses((status = 200, body = FlowDoc), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn update_flow(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageBot>,
    Path(id): Path<String>,
    Json(body): Json<FlowDoc>,
) -> AppResult<Json<FlowDoc>> {
    let flow = state.services.update_bot_flow(admin.who.tenant.id, flow_id(&id)?, flow_spec(body.0)?).await?;
    let detail = json!({"name": flow.spec.name, "webhook_url": flow.spec.webhook_url});
    state.services.audit(&admin.who, &client, "bot.flow.update", Some(flow.id.to_string()), detail).await?;
    Ok(Json(flow_doc(flow)))
}

/// Deletes a task flow.
#[utoipa::path(delete, path = "/api/v1/admin/flows/{id}", tag = "bot",
    params(("id" = String, Path, description = "Flow id")),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete_flow(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageBot>,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = flow_id(&id)?;
    state.services.delete_bot_flow(admin.who.tenant.id, id).await?;
    state.services.audit(&admin.who, &client, "bot.flow.delete", Some(id.to_string()), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One answer agent assist offers.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AssistItemView {
    /// The entry.
    pub entry_id: EntryId,
    /// Its standard question.
    pub question: String,
    /// The answer as sanitised rich text.
    pub answer: String,
    /// The answer as plain text (what "insert" puts into the reply).
    pub answer_text: String,
    /// Calibrated confidence.
    pub confidence: f32,
}

/// Agent assist for a conversation.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AssistView {
    /// The visitor's last message.
    pub text: Option<String>,
    /// The best knowledge-base answers for it, best first (at most 3).
    pub suggestions: Vec<AssistItemView>,
}

impl From<Assist> for AssistView {
    fn from(a: Assist) -> Self {
        AssistView {
            text: a.text,
            suggestions: a
                .suggestions
                .into_iter()
                .map(|s| AssistItemView {
                    entry_id: s.entry_id,
                    question: s.question,
                    answer: s.answer,
                    answer_text: s.answer_text,
                    confidence: s.confidence,
                })
                .collect(),
        }
    }
}

/// Agent assist: the best knowledge-base answers for the visitor's last message, to insert into the reply.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/assist", tag = "bot",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = AssistView), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn assist(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<AssistView>> {
    Ok(Json(state.services.assist(&agent.who, conversation_id(&id)?).await?.into()))
}

/// The bot takes the conversation back (the serving agent, or a supervisor and above); logged.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/bot", tag = "bot",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn take_back(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ConversationView>> {
    let id = conversation_id(&id)?;
    let c = state.services.bot_takeback(&agent.who, id).await?;
    state.services.audit(&agent.who, &client, "conversation.bot_takeback", Some(id.to_string()), json!({})).await?;
    Ok(Json(ConversationView::new(&c, None)))
}

/// One decision of the bot.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    /// Its id.
    pub id: String,
    /// The visitor message decided on.
    pub message_id: Option<String>,
    /// The bot message that answered it.
    pub reply_message_id: Option<String>,
    /// The visitor's text.
    pub text: String,
    /// The text matched when the message was read as a follow-up.
    pub resolved_text: Option<String>,
    /// `answer`, `suggest`, `admit`, `chitchat`, `flow`, `handoff` or `choice` (a clicked or typed pick).
    pub outcome: String,
    /// The entry answered, picked, or suggested first.
    pub entry_id: Option<EntryId>,
    /// Its calibrated confidence.
    pub confidence: Option<f32>,
    /// The ranked candidates: `[{"entry_id","question","confidence"}]`.
    #[schema(value_type = Object)]
    pub candidates: Value,
    /// The handoff reason.
    pub reason: Option<String>,
    /// The task flow.
    pub flow: Option<String>,
    /// Whether the message was read as a follow-up of the previous question.
    pub follow_up: bool,
    /// For a pick: `suggestion`, `guess` or `typed`.
    pub source: Option<String>,
    /// The visitor's rating of the reply.
    pub feedback: Option<bool>,
    /// How long deciding took, in microseconds.
    pub latency_us: i64,
    /// RFC 3339.
    pub created_at: String,
}

impl From<DecisionRecord> for DecisionView {
    fn from(r: DecisionRecord) -> Self {
        let d = r.decision;
        DecisionView {
            id: r.id.to_string(),
            message_id: d.message_id.map(|m| m.to_string()),
            reply_message_id: d.reply_message_id.map(|m| m.to_string()),
            candidates: serde_json::from_str(&d.candidates).unwrap_or_else(|_| json!([])),
            text: d.text,
            resolved_text: d.resolved_text,
            outcome: d.outcome,
            entry_id: d.entry_id,
            confidence: d.confidence,
            reason: d.reason,
            flow: d.flow,
            follow_up: d.follow_up,
            source: d.source,
            feedback: r.feedback,
            latency_us: d.latency_us,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Every decision the bot made in the conversation (candidates, scores, outcome, rating), oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/decisions", tag = "bot",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ItemList<DecisionView>), (status = 401, body = ApiError),
              (status = 404, body = ApiError)))]
pub async fn decisions(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ItemList<DecisionView>>> {
    let items = state
        .services
        .bot_decisions(agent.who.tenant.id, conversation_id(&id)?)
        .await?
        .into_iter()
        .map(DecisionView::from)
        .collect();
    Ok(Json(ItemList { items }))
}
