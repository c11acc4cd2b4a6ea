//! Workspace routes beyond the chat itself: read state, attachments, canned replies, the visitor card, the tracker
//! and orders.

use crate::AppState;
use crate::auth::{Agent, Can, Client, perm};
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lingxi_domain::workspace::{INLINE_TYPES, ValueTier};
use lingxi_service::{CustomerRef, OrderImportReport, OrderInput, TrackInput, VisitorCard};
use lingxi_store::{CannedReply, Order, OrderItem, OrderUpsert, StoredAttachment};
use lingxi_types::wire::{ConversationView, rfc3339};
use lingxi_types::{ApiError, AttachmentRef, ErrorCode, Visitor, VisitorId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Largest upload body accepted by the attachment routes (the service then enforces the 10 MiB file limit with a
/// typed error).
pub const UPLOAD_BODY_LIMIT: usize = lingxi_domain::workspace::MAX_ATTACHMENT_BYTES + 1024;

/// Largest orders file.
pub const ORDERS_IMPORT_MAX_BYTES: usize = 20 * 1024 * 1024;

fn parse<T: std::str::FromStr>(what: &'static str, id: &str) -> AppResult<T> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, format!("{what} not found")))
}

/// `POST /api/v1/conversations/{id}/read` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Read up to this seq.
    pub seq: i64,
}

/// The caller has read a conversation up to `seq` (unread counts drop).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", tag = "conversations", request_body = ReadRequest,
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn mark_read(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(body): Json<ReadRequest>,
) -> AppResult<StatusCode> {
    state.services.mark_read(&agent.who, parse("conversation", &id)?, body.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?name=` of an upload.
#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// The file name (default `attachment`).
    pub name: Option<String>,
}

impl UploadQuery {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("attachment")
    }
}

/// The headers and the whole body, refused with a typed 413 past `limit` bytes.
pub(crate) async fn read_body(req: Request, limit: usize) -> AppResult<(HeaderMap, Vec<u8>)> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AppError::new(ErrorCode::PayloadTooLarge, format!("the body is larger than {limit} bytes")))?;
    Ok((parts.headers, bytes.to_vec()))
}

pub(crate) fn declared_type(headers: &HeaderMap) -> String {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Uploads a file to a conversation (raw body, its type as `Content-Type`); send it with a message next.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/attachments", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), UploadQuery),
    responses((status = 201, body = AttachmentRef), (status = 413, body = ApiError), (status = 415, body = ApiError)))]
pub async fn upload(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    req: Request,
) -> AppResult<Response> {
    let (headers, body) = read_body(req, UPLOAD_BODY_LIMIT).await?;
    let who = &agent.who;
    let by = format!("agent:{}", who.user.id);
    let a = state
        .services
        .upload_attachment(who.tenant.id, parse("conversation", &id)?, &by, q.name(), &declared_type(&headers), body)
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

pub(crate) fn serve(a: StoredAttachment) -> Response {
    let r = &a.reference;
    let disposition = if INLINE_TYPES.contains(&r.content_type.as_str()) { "inline" } else { "attachment" };
    // RFC 6266 / 5987: an ASCII fallback plus the UTF-8 name.
    let ascii: String =
        r.name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
    let encoded: String = r
        .name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, r.content_type.clone()),
            (header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
        ],
        a.data,
    )
        .into_response()
}

/// Downloads an attachment of the caller's tenant.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Attachment id")),
    responses((status = 200, description = "The file"), (status = 404, body = ApiError)))]
pub async fn download(State(state): State<AppState>, agent: Agent, Path(id): Path<String>) -> AppResult<Response> {
    Ok(serve(state.services.store.attachment(agent.who.tenant.id, parse("attachment", &id)?).await?))
}

fn widget_token(headers: &HeaderMap) -> AppResult<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "the widget token is required"))
}

/// The visitor uploads a file (widget token as bearer); the message frame with `attachment_id` sends it.
#[utoipa::path(post, path = "/api/v1/widget/attachments", tag = "widget", params(UploadQuery),
    responses((status = 201, body = AttachmentRef), (status = 401, body = ApiError), (status = 413, body = ApiError),
              (status = 415, body = ApiError), (status = 429, body = ApiError)))]
pub async fn widget_upload(
    State(state): State<AppState>,
    Client(_info, ip): Client,
    Query(q): Query<UploadQuery>,
    req: Request,
) -> AppResult<Response> {
    state.limits.upload(ip)?;
    let (headers, body) = read_body(req, UPLOAD_BODY_LIMIT).await?;
    let grant = state.services.widget_grant(&widget_token(&headers)?).await?;
    let a = state
        .services
        .upload_attachment(grant.tenant_id, grant.conversation_id, "visitor", q.name(), &declared_type(&headers), body)
        .await?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

/// `?token=` of a widget download (an `<img>` cannot send headers).
#[derive(Deserialize, IntoParams)]
pub struct WidgetDownloadQuery {
    /// The widget session token.
    pub token: String,
}

/// Downloads an attachment of the widget token's own conversation.
#[utoipa::path(get, path = "/api/v1/widget/attachments/{id}", tag = "widget",
    params(("id" = String, Path, description = "Attachment id"), WidgetDownloadQuery),
    responses((status = 200, description = "The file"), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn widget_download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WidgetDownloadQuery>,
) -> AppResult<Response> {
    let grant = state.services.widget_grant(&q.token).await?;
    let a = state.services.store.attachment(grant.tenant_id, parse("attachment", &id)?).await?;
    if a.conversation_id != grant.conversation_id {
        return Err(AppError::new(ErrorCode::NotFound, "attachment not found"));
    }
    Ok(serve(a))
}

/// A canned reply on the wire.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CannedReplyView {
    /// Id.
    pub id: String,
    /// `personal` or `team`.
    pub scope: String,
    /// Shortcut (typed after `/`).
    pub shortcut: String,
    /// Title.
    pub title: String,
    /// Text with `{{variables}}`.
    pub text: String,
    /// With `?conversation_id=`: the text with the variables filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

impl CannedReplyView {
    fn new(r: &CannedReply, values: Option<&BTreeMap<&'static str, String>>) -> Self {
        CannedReplyView {
            id: r.id.to_string(),
            scope: if r.owner.is_some() { "personal" } else { "team" }.to_owned(),
            shortcut: r.shortcut.clone(),
            title: r.title.clone(),
            text: r.text.clone(),
            preview: values.map(|v| lingxi_domain::workspace::expand(&r.text, v)),
        }
    }
}

/// `GET /api/v1/canned-replies` query.
#[derive(Deserialize, IntoParams)]
pub struct CannedQuery {
    /// Fill in the variables for this conversation.
    pub conversation_id: Option<String>,
}

/// The caller's personal canned replies and the team's.
#[utoipa::path(get, path = "/api/v1/canned-replies", tag = "conversations", params(CannedQuery),
    responses((status = 200, body = lingxi_types::wire::ItemList<CannedReplyView>), (status = 401, body = ApiError)))]
pub async fn list_canned(
    State(state): State<AppState>,
    agent: Agent,
    Query(q): Query<CannedQuery>,
) -> AppResult<Json<lingxi_types::wire::ItemList<CannedReplyView>>> {
    let values = match q.conversation_id.as_deref() {
        Some(c) => Some(state.services.canned_values(&agent.who, parse("conversation", c)?).await?),
        None => None,
    };
    let items = state.services.canned_replies(&agent.who).await?;
    Ok(Json(lingxi_types::wire::ItemList {
        items: items.iter().map(|r| CannedReplyView::new(r, values.as_ref())).collect(),
    }))
}

/// A canned reply to save.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedReplyInput {
    /// `personal` (default) or `team` (supervisors and above); ignored on update.
    #[serde(default)]
    pub scope: Option<String>,
    /// 1–32 letters, digits, `-`, `_`.
    pub shortcut: String,
    /// Title.
    pub title: String,
    /// Text with `{{variables}}`.
    pub text: String,
}

/// Creates a canned reply.
#[utoipa::path(post, path = "/api/v1/canned-replies", tag = "conversations", request_body = CannedReplyInput,
    responses((status = 201, body = CannedReplyView), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn create_canned(
    State(state): State<AppState>,
    agent: Agent,
    Json(b): Json<CannedReplyInput>,
) -> AppResult<Response> {
    let team = match b.scope.as_deref() {
        None | Some("personal") => false,
        Some("team") => true,
        Some(_) => return Err(AppError::new(ErrorCode::InvalidField, "scope must be personal or team")),
    };
    let r = state.services.create_canned_reply(&agent.who, team, &b.shortcut, &b.title, &b.text).await?;
    Ok((StatusCode::CREATED, Json(CannedReplyView::new(&r, None))).into_response())
}

/// Changes a canned reply (your own personal ones; team ones as a supervisor or above).
#[utoipa::path(put, path = "/api/v1/canned-replies/{id}", tag = "conversations", request_body = CannedReplyInput,
    params(("id" = String, Path, description = "Canned reply id")),
    responses((status = 200, body = CannedReplyView), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn update_canned(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(b): Json<CannedReplyInput>,
) -> AppResult<Json<CannedReplyView>> {
    let r = state
        .services
        .update_canned_reply(&agent.who, parse("canned reply", &id)?, &b.shortcut, &b.title, &b.text)
        .await?;
    Ok(Json(CannedReplyView::new(&r, None)))
}

/// Deletes a canned reply.
#[utoipa::path(delete, path = "/api/v1/canned-replies/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Canned reply id")),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn delete_canned(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    state.services.delete_canned_reply(&agent.who, parse("canned reply", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The visitor on the card.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CardVisitor {
    /// Id.
    pub id: VisitorId,
    /// Name.
    pub name: String,
    /// The business's customer id.
    pub external_id: Option<String>,
    /// E-mail (masked for agents).
    pub email: Option<String>,
    /// Phone (masked for agents).
    pub phone: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// VIP.
    pub vip: bool,
    /// Custom attributes.
    pub attributes: BTreeMap<String, String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_seen_at: Option<String>,
}

impl From<Visitor> for CardVisitor {
    fn from(v: Visitor) -> Self {
        CardVisitor {
            id: v.id,
            name: v.name,
            external_id: v.external_id,
            email: v.email,
            phone: v.phone,
            tags: v.tags,
            vip: v.vip,
            attributes: v.attributes,
            created_at: rfc3339(v.created_at),
            last_seen_at: v.last_seen_at.map(rfc3339),
        }
    }
}

/// The customer's value.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CardValue {
    /// Tier.
    pub tier: ValueTier,
    /// Orders counted (not cancelled or refunded).
    pub orders: i64,
    /// Money spent, a decimal string.
    pub spent: String,
    /// Its currency.
    pub currency: Option<String>,
}

/// One step of the browsing track.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TrackStep {
    /// Kind.
    pub kind: String,
    /// Custom event name.
    pub name: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Page title.
    pub title: Option<String>,
    /// Product id.
    pub product_id: Option<String>,
    /// Product name.
    pub product_name: Option<String>,
    /// Amount, a decimal string.
    pub amount: Option<String>,
    /// Currency.
    pub currency: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// An order on the wire.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    /// Id.
    pub id: String,
    /// The business's order number.
    pub external_id: String,
    /// The customer.
    pub visitor_id: Option<VisitorId>,
    /// Status.
    pub status: String,
    /// Total, a decimal string.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// RFC 3339.
    pub placed_at: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            id: o.id.to_string(),
            external_id: o.external_id.clone(),
            visitor_id: o.visitor_id,
            status: o.status.clone(),
            amount: lingxi_intake::format_cents(o.amount_cents),
            currency: o.currency.clone(),
            items: o.items.clone(),
            placed_at: rfc3339(o.placed_at),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

/// A ticket on the card.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CardTicket {
    /// Id.
    pub id: String,
    /// Number.
    pub number: i64,
    /// Title.
    pub subject: String,
    /// Status.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The visitor card (访客名片).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct VisitorCardView {
    /// Identity and contact.
    pub visitor: CardVisitor,
    /// Value.
    pub value: CardValue,
    /// Browsing track, oldest first (the newest 100 events).
    pub track: Vec<TrackStep>,
    /// Newest orders.
    pub orders: Vec<OrderView>,
    /// Conversations, newest first.
    pub conversations: Vec<ConversationView>,
    /// Tickets, newest first.
    pub tickets: Vec<CardTicket>,
}

impl From<VisitorCard> for VisitorCardView {
    fn from(c: VisitorCard) -> Self {
        VisitorCardView {
            value: CardValue {
                tier: c.tier,
                orders: c.totals.orders,
                spent: lingxi_intake::format_cents(c.totals.spent_cents),
                currency: c.totals.currency,
            },
            track: c
                .track
                .into_iter()
                .map(|e| TrackStep {
                    kind: e.kind,
                    name: e.name,
                    url: e.url,
                    title: e.title,
                    product_id: e.product_id,
                    product_name: e.product_name,
                    amount: e.amount_cents.map(lingxi_intake::format_cents),
                    currency: e.currency,
                    at: rfc3339(e.occurred_at),
                })
                .collect(),
            orders: c.orders.iter().map(OrderView::from).collect(),
            conversations: c.conversations.iter().map(|c| ConversationView::new(c, None)).collect(),
            tickets: c
                .tickets
                .into_iter()
                .map(|t| CardTicket {
                    id: t.id.to_string(),
                    number: t.number,
                    subject: t.title,
                    status: t.status,
                    created_at: rfc3339(t.created_at),
                })
                .collect(),
            visitor: c.visitor.into(),
        }
    }
}

/// The visitor card: identity, value, browsing track, orders, conversations and tickets.
#[utoipa::path(get, path = "/api/v1/visitors/{id}/card", tag = "visitors",
    params(("id" = String, Path, description = "Visitor id")),
    responses((status = 200, body = VisitorCardView), (status = 404, body = ApiError)))]
pub async fn card(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<VisitorCardView>> {
    let card = state.services.visitor_card(&agent.who, parse("visitor", &id)?).await?;
    // Holders of view_pii see contact data unmasked: each such view is audited.
    let v = &card.visitor;
    if agent.who.can(lingxi_types::Permission::ViewPii) && (v.email.is_some() || v.phone.is_some()) {
        let fields: Vec<&str> =
            [v.email.as_ref().map(|_| "email"), v.phone.as_ref().map(|_| "phone")].into_iter().flatten().collect();
        let detail = serde_json::json!({ "fields": fields });
        state.services.audit(&agent.who, &client, "pii.view", Some(v.id.to_string()), detail).await?;
    }
    Ok(Json(card.into()))
}

/// `PATCH /api/v1/visitors/{id}` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorPatchBody {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New e-mail (`null` or `""` clears).
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    /// New phone (`null` or `""` clears).
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    /// Attributes to set; a `null` value removes the key.
    #[serde(default)]
    pub attributes: BTreeMap<String, Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

/// Changes a visitor's name, contact and attributes.
#[utoipa::path(patch, path = "/api/v1/visitors/{id}", tag = "visitors", request_body = VisitorPatchBody,
    params(("id" = String, Path, description = "Visitor id")),
    responses((status = 200, body = CardVisitor), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn patch_visitor(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(b): Json<VisitorPatchBody>,
) -> AppResult<Json<CardVisitor>> {
    let v = state
        .services
        .update_visitor(&agent.who, parse("visitor", &id)?, b.name, b.email, b.phone, b.attributes)
        .await?;
    Ok(Json(v.into()))
}

/// A visitor's orders, newest first.
#[utoipa::path(get, path = "/api/v1/visitors/{id}/orders", tag = "visitors",
    params(("id" = String, Path, description = "Visitor id")),
    responses((status = 200, body = lingxi_types::wire::ItemList<OrderView>), (status = 404, body = ApiError)))]
pub async fn visitor_orders(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<lingxi_types::wire::ItemList<OrderView>>> {
    let orders = state.services.orders_of(&agent.who, parse("visitor", &id)?).await?;
    Ok(Json(lingxi_types::wire::ItemList { items: orders.iter().map(OrderView::from).collect() }))
}

/// `POST /api/v1/track` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackBody {
    /// The tenant's widget key.
    pub widget_key: String,
    /// The browser's anonymous id.
    pub anonymous_id: String,
    /// 1 to 50 events.
    pub events: Vec<TrackInput>,
}

/// Events stored.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Tracked {
    /// The visitor they belong to.
    pub visitor_id: VisitorId,
    /// How many were stored.
    pub accepted: usize,
}

/// Records page views, product views, cart additions, orders and custom events of a browser (the tracker).
#[utoipa::path(post, path = "/api/v1/track", tag = "widget", request_body = TrackBody,
    responses((status = 202, body = Tracked), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn track(
    State(state): State<AppState>,
    Client(_info, ip): Client,
    Json(b): Json<TrackBody>,
) -> AppResult<Response> {
    state.limits.track(ip)?;
    if b.widget_key.len() > 200 {
        return Err(AppError::new(ErrorCode::InvalidField, "widget_key is longer than 200 characters"));
    }
    let (visitor_id, accepted) = state.services.track(&b.widget_key, &b.anonymous_id, &b.events).await?;
    Ok((StatusCode::ACCEPTED, Json(Tracked { visitor_id, accepted })).into_response())
}

/// `POST /api/v1/track/identify` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyBody {
    /// The tenant's widget key.
    pub widget_key: String,
    /// The browser's anonymous id.
    pub anonymous_id: String,
    /// The business's customer id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Attributes to set (`null` removes).
    #[serde(default)]
    pub attributes: BTreeMap<String, Option<String>>,
}

/// Who the visitor became.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Identified {
    /// The visitor (after any merge).
    pub visitor_id: VisitorId,
}

/// The browser's visitor identified themselves (login, phone, e-mail): visitors known by those identities merge.
#[utoipa::path(post, path = "/api/v1/track/identify", tag = "widget", request_body = IdentifyBody,
    responses((status = 200, body = Identified), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn identify(
    State(state): State<AppState>,
    Client(_info, ip): Client,
    Json(b): Json<IdentifyBody>,
) -> AppResult<Json<Identified>> {
    state.limits.track(ip)?;
    if b.widget_key.len() > 200 {
        return Err(AppError::new(ErrorCode::InvalidField, "widget_key is longer than 200 characters"));
    }
    let customer = CustomerRef { user_id: b.user_id, email: b.email, phone: b.phone, name: b.name };
    let visitor_id = state.services.identify(&b.widget_key, &b.anonymous_id, &customer, b.attributes).await?;
    Ok(Json(Identified { visitor_id }))
}

/// Creates (201) or updates (200) an order by its `external_id` (supervisors and above).
#[utoipa::path(post, path = "/api/v1/orders", tag = "visitors", request_body = OrderInput,
    responses((status = 201, body = OrderView), (status = 200, body = OrderView), (status = 400, body = ApiError),
              (status = 403, body = ApiError)))]
pub async fn upsert_order(
    State(state): State<AppState>,
    agent: Agent,
    Json(b): Json<OrderInput>,
) -> AppResult<Response> {
    let (order, what) = state.services.upsert_order(&agent.who, &b).await?;
    let status = if what == OrderUpsert::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(OrderView::from(&order))).into_response())
}

/// Imports orders from CSV (supervisors and above); a file with any bad row changes nothing.
#[utoipa::path(post, path = "/api/v1/orders/import", tag = "visitors",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = OrderImportReport), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 413, body = ApiError)))]
pub async fn import_orders(
    State(state): State<AppState>,
    agent: Agent,
    req: Request,
) -> AppResult<Json<OrderImportReport>> {
    let (_, body) = read_body(req, ORDERS_IMPORT_MAX_BYTES).await?;
    Ok(Json(state.services.import_orders(&agent.who, &body).await?))
}

/// Everything stored about a visitor (and the visitors merged into them) as a JSON file: profile, identities,
/// conversations with messages, tickets with comments, orders, browsing events, attachment metadata. For a
/// customer's data request; audited.
#[utoipa::path(get, path = "/api/v1/visitors/{id}/export", tag = "visitors",
    params(("id" = String, Path, description = "Visitor id")),
    responses((status = 200, description = "application/json file"), (status = 403, body = ApiError),
              (status = 404, body = ApiError)))]
pub async fn export_visitor(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageCustomerData>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: VisitorId = parse("visitor", &id)?;
    let doc = state.services.export_visitor(&admin.who, &client, id).await?;
    let body = serde_json::to_vec_pretty(&doc).map_err(|_| AppError::new(ErrorCode::Internal, "internal error"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"visitor-{id}.json\"")),
        ],
        body,
    )
        .into_response())
}

/// `POST /api/v1/visitors/{id}/erase` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why (the customer's request, its reference); 1 to 500 characters, kept in the audit log.
    pub reason: String,
}

/// What an erasure removed.
#[derive(Serialize, ToSchema)]
pub struct EraseReport {
    /// The counts.
    pub erased: lingxi_store::Erased,
}

/// Erases a visitor's personal data for a customer's request: profile and contact data, identities, message and
/// ticket texts, files, browsing events; the records' skeleton stays for reports and orders stay unlinked. Cannot
/// be undone; audited with the reason and the counts.
#[utoipa::path(post, path = "/api/v1/visitors/{id}/erase", tag = "visitors", request_body = EraseRequest,
    params(("id" = String, Path, description = "Visitor id")),
    responses((status = 200, body = EraseReport), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError)))]
pub async fn erase_visitor(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageCustomerData>,
    Path(id): Path<String>,
    Json(body): Json<EraseRequest>,
) -> AppResult<Json<EraseReport>> {
    let id: VisitorId = parse("visitor", &id)?;
    let erased = state.services.erase_visitor(&admin.who, &client, id, &body.reason).await?;
    Ok(Json(EraseReport { erased }))
}
