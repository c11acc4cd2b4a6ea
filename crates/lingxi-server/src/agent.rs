//! The agent workspace: login, conversations, replies and the live event socket.

use crate::AppState;
use crate::auth::{Agent, Client, SESSION_COOKIE, SessionUser, Signed};
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use lingxi_bus::Event;
use lingxi_service::{Authenticated, ListRequest, Services};
use lingxi_types::frames::AgentFrame as ClientFrame;
use lingxi_types::wire::{ConversationView, ItemList, MessageView, UserView};
use lingxi_types::{ApiError, ConversationId, ConversationStatus, ErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /api/v1/auth/login` body.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
    /// Tenant slug, needed only when the e-mail exists in several tenants.
    pub tenant: Option<String>,
}

/// A successful login.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token (also set as the HttpOnly session cookie).
    pub token: String,
    /// The user.
    pub user: UserView,
}

fn check_len(field: &str, value: &str, max: usize) -> AppResult<()> {
    if value.chars().count() > max {
        return Err(AppError::new(ErrorCode::InvalidField, format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

/// Signs in to the workspace. Rate-limited per address; an account locks for a while after repeated failures.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ApiError), (status = 400, body = ApiError),
              (status = 429, body = ApiError, description = "rate_limited or account_locked, with Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    Client(client, ip): Client,
    headers: axum::http::HeaderMap,
    Json(body): Json<LoginRequest>,
) -> AppResult<Response> {
    state.limits.login(ip)?;
    check_len("email", &body.email, 254)?;
    check_len("password", &body.password, 256)?;
    let (token, who) = state.services.login(&body.email, &body.password, body.tenant.as_deref(), &client).await?;
    let secure = if over_tls(&headers) { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200{secure}");
    let body = LoginResponse { token, user: UserView::new(&who.user, &who.tenant) };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Whether the browser reached us over TLS: Lingxi serves plain HTTP behind a TLS-terminating proxy, which says so
/// in `X-Forwarded-Proto` (or the standard `Forwarded: proto=https`). The session cookie is then `Secure`. (A
/// client that fakes the header only makes its own cookie stricter.)
pub fn over_tls(headers: &axum::http::HeaderMap) -> bool {
    let says_https = |name: &str, prefix: &str| {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).any(|v| {
            v.split([',', ';']).any(|part| part.trim().to_ascii_lowercase().strip_prefix(prefix) == Some("https"))
        })
    };
    says_https("x-forwarded-proto", "") || says_https("forwarded", "proto=")
}

/// Ends the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ApiError)))]
pub async fn logout(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    SessionUser(agent): SessionUser,
) -> AppResult<Response> {
    state.services.logout(&agent.who, &client, &agent.token).await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = UserView), (status = 401, body = ApiError)))]
pub async fn me(Signed(agent): Signed) -> Json<UserView> {
    let mut view = UserView::new(&agent.who.user, &agent.who.tenant);
    view.permissions = Some(agent.who.permissions);
    view.api_token = agent.who.api_token;
    Json(view)
}

/// `GET /api/v1/conversations` query.
#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// `mine`, `queue` (my groups' queue) or `all` (supervisors and above). Default: `all` for supervisors and
    /// above, `mine` and `queue` together for agents.
    pub view: Option<String>,
    /// `bot`, `queued`, `assigned`, `closed`, or `open` (not closed); all when absent.
    pub status: Option<String>,
    /// Search words (Chinese or English; each must occur in a message or the visitor's name).
    pub q: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// A visitor tag.
    pub tag: Option<String>,
    /// The serving agent's user id.
    pub agent: Option<String>,
    /// Created at or after (RFC 3339 or `YYYY-MM-DD`).
    pub from: Option<String>,
    /// Created up to (RFC 3339, or `YYYY-MM-DD` for that whole day).
    pub to: Option<String>,
    /// At most this many (default 100, max 500).
    pub limit: Option<i64>,
}

/// The caller's conversations, newest activity first, with unread counts; searchable and filterable.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = ItemList<ConversationView>), (status = 400, body = ApiError),
              (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<ItemList<ConversationView>>> {
    let statuses = match q.status.as_deref() {
        None | Some("") | Some("all") => vec![],
        Some("open") => vec![ConversationStatus::Bot, ConversationStatus::Queued, ConversationStatus::Assigned],
        Some(s) => vec![ConversationStatus::parse(s).ok_or_else(|| {
            AppError::new(ErrorCode::InvalidField, "status must be bot, queued, assigned, closed, open or all")
        })?],
    };
    let req = ListRequest {
        view: q.view,
        statuses,
        q: q.q,
        channel: q.channel,
        tag: q.tag,
        agent: q.agent,
        from: q.from,
        to: q.to,
        limit: q.limit,
    };
    let items = state.services.list_for(&agent.who, &req).await?;
    Ok(Json(ItemList {
        items: items
            .iter()
            .map(|l| {
                let mut v = ConversationView::new(&l.conversation, l.last.as_ref());
                v.unread = l.unread;
                v.matched = l.matched.as_ref().map(|m| m.as_ref().map(MessageView::from));
                v
            })
            .collect(),
    }))
}

fn parse_id(id: &str) -> AppResult<ConversationId> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "conversation not found"))
}

/// One conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 404, body = ApiError)))]
pub async fn get_one(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ConversationView>> {
    let c = state.services.store.conversation(agent.who.tenant.id, parse_id(&id)?).await?;
    Ok(Json(ConversationView::new(&c, None)))
}

/// `GET /api/v1/conversations/{id}/messages` query.
#[derive(Deserialize, IntoParams)]
pub struct MessagesQuery {
    /// Only messages with a higher seq.
    pub after_seq: Option<i64>,
    /// At most this many (default 500, max 1000).
    pub limit: Option<i64>,
}

/// A conversation's messages in seq order.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), MessagesQuery),
    responses((status = 200, body = ItemList<MessageView>), (status = 404, body = ApiError)))]
pub async fn messages(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> AppResult<Json<ItemList<MessageView>>> {
    let tenant_id = agent.who.tenant.id;
    let id = parse_id(&id)?;
    // Reading a conversation that does not exist in this tenant is a 404, not an empty list.
    state.services.store.conversation(tenant_id, id).await?;
    let items =
        state.services.store.messages_after(tenant_id, id, q.after_seq.unwrap_or(0), q.limit.unwrap_or(500)).await?;
    Ok(Json(ItemList { items: items.iter().map(MessageView::from).collect() }))
}

/// `POST /api/v1/conversations/{id}/messages` body.
#[derive(Deserialize, ToSchema)]
pub struct ReplyRequest {
    /// The reply text.
    pub text: String,
    /// Idempotency key.
    pub client_id: Option<String>,
    /// A file uploaded before to `/conversations/{id}/attachments` (the text may then be empty).
    pub attachment_id: Option<String>,
}

/// An agent reply, delivered live to the visitor.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", request_body = ReplyRequest,
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 201, body = MessageView), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn reply(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Json(body): Json<ReplyRequest>,
) -> AppResult<Response> {
    if let Some(c) = &body.client_id {
        check_len("client_id", c, 64)?;
    }
    let attachment = match body.attachment_id.as_deref() {
        Some(a) => Some(a.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "attachment not found"))?),
        None => None,
    };
    let appended =
        state.services.agent_message_with(&agent.who, parse_id(&id)?, &body.text, body.client_id, attachment).await?;
    // Answered once stored and announced to the other nodes.
    state.services.bus.flushed(crate::widget::ANNOUNCE_LIMIT).await;
    Ok((StatusCode::CREATED, Json(MessageView::from(&appended.message))).into_response())
}

/// Takes a conversation from the bot or the queue.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/claim", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 409, body = ApiError)))]
pub async fn claim(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ConversationView>> {
    let c = state.services.claim(&agent.who, parse_id(&id)?).await?;
    Ok(Json(ConversationView::new(&c, None)))
}

/// Closes a conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/close", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, body = ConversationView), (status = 409, body = ApiError)))]
pub async fn close(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<ConversationView>> {
    let c = state.services.close(&agent.who, parse_id(&id)?).await?;
    Ok(Json(ConversationView::new(&c, None)))
}

/// The agent's live event socket.
#[utoipa::path(get, path = "/api/v1/agent/ws", tag = "conversations",
    responses((status = 101, description = "WebSocket upgrade"), (status = 401, body = ApiError)))]
pub async fn ws(State(state): State<AppState>, agent: Agent, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(crate::MAX_WS_FRAME)
        .read_buffer_size(crate::WS_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move { agent_socket(state.services, agent.who, socket, &state.drain).await })
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum AgentFrame {
    Conversation {
        conversation: Box<ConversationView>,
    },
    Message {
        message: MessageView,
    },
    /// The queue changed: refresh queue views.
    QueueChanged,
    /// Events may have been missed (this node lost the other nodes for a while or fell behind): re-read the lists
    /// and the open conversation.
    Resync,
    /// The visitor is (not) typing.
    Typing {
        conversation_id: ConversationId,
        author: lingxi_types::Author,
        typing: bool,
    },
    /// A ticket was created or changed: refresh ticket views.
    Ticket {
        ticket_id: lingxi_types::TicketId,
        number: i64,
    },
    /// The visitor's widget received / showed messages up to these seqs.
    Receipt {
        conversation_id: ConversationId,
        delivered_seq: i64,
        read_seq: i64,
    },
    Pong,
}

/// What one workspace socket may see: supervisors and above everything of the tenant; agents the conversations they
/// serve, the queue of their groups (and of no group), and those the bot is serving (they may step in). A
/// conversation that leaves an agent's sight is announced once more so the list can drop it.
struct Scope {
    all: bool,
    me: lingxi_types::UserId,
    groups: std::collections::HashSet<lingxi_types::GroupId>,
    seen: std::collections::HashMap<ConversationId, bool>,
}

impl Scope {
    async fn new(services: &Services, who: &Authenticated) -> Scope {
        let mut scope = Scope {
            all: who.can(lingxi_types::Permission::SuperviseConversations),
            me: who.user.id,
            groups: Default::default(),
            seen: Default::default(),
        };
        scope.reload_groups(services, who).await;
        scope
    }

    async fn reload_groups(&mut self, services: &Services, who: &Authenticated) {
        if self.all {
            return;
        }
        if let Ok(groups) = services.store.groups(who.tenant.id).await {
            self.groups = groups.into_iter().filter(|g| g.members.contains(&self.me)).map(|g| g.id).collect();
        }
    }

    fn visible(&self, c: &lingxi_types::Conversation) -> bool {
        self.all
            || c.assigned_agent == Some(self.me)
            || c.status == ConversationStatus::Bot
            || (c.status == ConversationStatus::Queued && c.group_id.is_none_or(|g| self.groups.contains(&g)))
    }

    /// Whether a conversation's change goes out: visible now, or visible before (it just left).
    fn changed(&mut self, c: &lingxi_types::Conversation) -> bool {
        if self.all {
            return true;
        }
        if self.seen.len() > 20_000 {
            self.seen.clear();
        }
        let now = self.visible(c);
        let before = self.seen.insert(c.id, now).unwrap_or(false);
        now || before
    }

    /// Whether events of a conversation (messages, typing, receipts) go out.
    async fn shows(&mut self, services: &Services, tenant_id: lingxi_types::TenantId, id: ConversationId) -> bool {
        if self.all {
            return true;
        }
        if let Some(v) = self.seen.get(&id) {
            return *v;
        }
        let visible = match services.store.conversation(tenant_id, id).await {
            Ok(c) => self.visible(&c),
            Err(_) => false,
        };
        self.seen.insert(id, visible);
        visible
    }
}

async fn agent_socket(services: Services, who: Authenticated, socket: WebSocket, drain: &std::sync::Arc<crate::Drain>) {
    let (_open, mut stop) = drain.socket();
    let (mut sink, mut stream) = socket.split();
    let mut events = services.bus.subscribe_to(lingxi_bus::Topic::Tenant(who.tenant.id));
    let _online = match services.agent_online(&who).await {
        Ok(guard) => guard,
        Err(e) => {
            tracing::warn!(error = %e, "agent presence failed");
            return;
        }
    };
    let tenant_id = who.tenant.id;
    let mut scope = Scope::new(&services, &who).await;
    loop {
        let frame = tokio::select! {
            () = crate::shutting_down(&mut stop) => {
                let _ = sink.send(crate::going_away()).await;
                break;
            }
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(t))) => match ClientFrame::parse(&t) {
                    Ok(ClientFrame::Ping) => AgentFrame::Pong,
                    Ok(ClientFrame::Typing { conversation_id, typing }) => {
                        if let Err(e) = services.agent_typing(&who, conversation_id, typing).await {
                            tracing::debug!(error = %e, "typing frame refused");
                        }
                        continue;
                    }
                    Err(_) => continue,
                },
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            event = events.recv() => match event {
                Ok(Event::MessageStored(m)) if m.tenant_id == tenant_id => {
                    if !scope.shows(&services, tenant_id, m.conversation_id).await {
                        continue;
                    }
                    AgentFrame::Message { message: MessageView::from(&m) }
                }
                Ok(Event::ConversationChanged(c)) if c.tenant_id == tenant_id => {
                    if !scope.changed(&c) {
                        continue;
                    }
                    AgentFrame::Conversation { conversation: Box::new(ConversationView::new(&c, None)) }
                }
                Ok(Event::QueueChanged(t)) if t == tenant_id => {
                    scope.reload_groups(&services, &who).await;
                    AgentFrame::QueueChanged
                }
                Ok(Event::Typing { tenant_id: t, conversation_id, author, typing, .. })
                    if t == tenant_id && author == lingxi_types::Author::Visitor =>
                {
                    if !scope.shows(&services, tenant_id, conversation_id).await {
                        continue;
                    }
                    AgentFrame::Typing { conversation_id, author, typing }
                }
                Ok(Event::TicketChanged { tenant_id: t, ticket_id, number }) if t == tenant_id => {
                    AgentFrame::Ticket { ticket_id, number }
                }
                Ok(Event::Receipt { tenant_id: t, conversation_id, delivered_seq, read_seq }) if t == tenant_id => {
                    if !scope.shows(&services, tenant_id, conversation_id).await {
                        continue;
                    }
                    AgentFrame::Receipt { conversation_id, delivered_seq, read_seq }
                }
                Ok(Event::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    scope.reload_groups(&services, &who).await;
                    AgentFrame::Resync
                }
                Ok(_) => continue,
                Err(_) => break,
            },
        };
        let Ok(text) = serde_json::to_string(&frame) else { continue };
        if sink.send(WsMessage::Text(text.into())).await.is_err() {
            break;
        }
    }
}

/// An unknown route under `/api`.
pub async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such route")
}

/// One of the user's live sessions.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Public id (not the token).
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_seen_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Address it was opened from.
    pub ip: Option<String>,
    /// Client software.
    pub user_agent: Option<String>,
}

/// The caller's live sessions, so they can see where they are signed in.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    responses((status = 200, body = ItemList<SessionView>), (status = 401, body = ApiError)))]
pub async fn sessions(
    State(state): State<AppState>,
    SessionUser(agent): SessionUser,
) -> AppResult<Json<ItemList<SessionView>>> {
    use lingxi_types::wire::rfc3339;
    let items = state.services.my_sessions(&agent.who).await?;
    Ok(Json(ItemList {
        items: items
            .into_iter()
            .map(|s| SessionView {
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                expires_at: rfc3339(s.expires_at),
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect(),
    }))
}

/// Revokes one of the caller's sessions (e.g. a browser left signed in elsewhere).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    SessionUser(agent): SessionUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    check_len("id", &id, 64)?;
    state.services.revoke_my_session(&agent.who, &client, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/password` body.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new password (8 to 256 characters, not a common one, not the e-mail).
    pub new_password: String,
}

/// `POST /api/v1/auth/password-reset` body.
#[derive(Deserialize, ToSchema)]
pub struct PasswordReset {
    /// The token of the link an administrator issued (`lxr_…`).
    pub token: String,
    /// The new password (8 to 256 characters, not a common one, not the e-mail).
    pub new_password: String,
}

/// The account a reset was for.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PasswordResetDone {
    /// The e-mail to sign in with.
    pub email: String,
}

/// Sets a new password with a one-time reset link (no sign-in): the link is used up, every session of the user is
/// signed out and a login lock lifted. Rate-limited like logins; a weak password leaves the link working.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordReset,
    responses((status = 200, body = PasswordResetDone), (status = 400, body = ApiError), (status = 429, body = ApiError)))]
pub async fn reset_password(
    State(state): State<AppState>,
    Client(client, ip): Client,
    Json(body): Json<PasswordReset>,
) -> AppResult<Json<PasswordResetDone>> {
    state.limits.login(ip)?;
    check_len("token", &body.token, 100)?;
    check_len("new_password", &body.new_password, 1000)?;
    let user = state.services.reset_password(&body.token, &body.new_password, &client).await?;
    Ok(Json(PasswordResetDone { email: user.email }))
}

/// Changes the caller's password; every other session of theirs is signed out, this one stays. A wrong current
/// password is a 400 and counts as a failed login.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn change_password(
    State(state): State<AppState>,
    Client(client, ip): Client,
    SessionUser(agent): SessionUser,
    Json(body): Json<PasswordChange>,
) -> AppResult<StatusCode> {
    state.limits.login(ip)?;
    check_len("current_password", &body.current_password, 1000)?;
    check_len("new_password", &body.new_password, 1000)?;
    state
        .services
        .change_password(&agent.who, &client, &agent.token, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
