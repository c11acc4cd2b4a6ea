//! The visitor side: widget configuration, sessions and the widget WebSocket.

use crate::AppState;
use crate::auth::Client;
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use lingxi_bus::{Event, Topic};
use lingxi_service::{ServiceError, Services, WidgetGrant};
use lingxi_types::frames::{ChoiceKind, FrameError, WidgetFrame};
use lingxi_types::wire::MessageView;
use lingxi_types::{ApiError, ConversationId, ErrorCode, VisitorId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

/// `GET /api/v1/widget/config` query.
#[derive(Deserialize, IntoParams)]
pub struct ConfigQuery {
    /// The tenant's widget key.
    pub widget_key: String,
}

/// What the widget shows before a session exists.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WidgetConfig {
    /// The shop's name.
    pub tenant_name: String,
    /// Greeting in Chinese.
    pub greeting_zh: String,
    /// Greeting in English.
    pub greeting_en: String,
}

/// The widget's public configuration.
#[utoipa::path(get, path = "/api/v1/widget/config", tag = "widget", params(ConfigQuery),
    responses((status = 200, body = WidgetConfig), (status = 404, body = ApiError)))]
pub async fn config(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ConfigQuery>,
) -> AppResult<Json<WidgetConfig>> {
    let tenant =
        state.services.store.tenant_by_widget_key(&q.widget_key).await?.ok_or(ServiceError::UnknownWidgetKey)?;
    check_origin(&state, tenant.id, &headers).await?;
    Ok(Json(WidgetConfig {
        greeting_zh: format!("您好，欢迎来到{}！请问有什么可以帮您？", tenant.name),
        greeting_en: format!("Hi! Welcome to {}. How can we help?", tenant.name),
        tenant_name: tenant.name,
    }))
}

/// Refuses a page of an origin the tenant has not allowed to embed the widget (403 `origin_not_allowed`).
async fn check_origin(state: &AppState, tenant_id: lingxi_types::TenantId, headers: &HeaderMap) -> AppResult<()> {
    let get = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    let origin = get(axum::http::header::ORIGIN);
    if state.services.widget_origin_allowed(tenant_id, origin, get(axum::http::header::HOST)).await? {
        return Ok(());
    }
    Err(AppError::new(
        ErrorCode::OriginNotAllowed,
        format!("{} may not embed this chat widget: add it to the allowed origins", origin.unwrap_or("this site")),
    ))
}

/// The visitor as the widget describes them.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VisitorInput {
    /// Display name.
    pub name: Option<String>,
    /// The business's id for the customer.
    pub external_id: Option<String>,
}

/// `POST /api/v1/widget/sessions` body.
#[derive(Deserialize, ToSchema)]
pub struct CreateSession {
    /// The tenant's widget key.
    pub widget_key: String,
    /// Who the visitor is, when known.
    #[serde(default)]
    pub visitor: VisitorInput,
    /// A previous token, to continue its conversation.
    pub token: Option<String>,
    /// The page the widget is opened on (routing rules may look at it), at most 2000 characters.
    pub page: Option<String>,
    /// The browser's anonymous id, shared with the tracker (`lingxi.anon.<widget key>` in `localStorage`): ties
    /// the chat to the visitor's browsing track.
    pub anonymous_id: Option<String>,
    /// The business context the page passes in (`{"order_status":"payment_failed"}`): at most 20 keys of 1–40
    /// characters, values strings, numbers or booleans of at most 200 characters. Used for 猜你想问 and shown to
    /// agents.
    #[schema(value_type = Object)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
    /// The widget's language (`zh` or `en`): the conversation's language until the visitor's own messages show
    /// theirs (猜你想问 on opening is offered in it).
    pub language: Option<String>,
}

/// The most keys a business context may have.
pub const MAX_CONTEXT_KEYS: usize = 20;

/// Checks a business context and turns its values into text.
fn business_context(
    context: &serde_json::Map<String, serde_json::Value>,
) -> AppResult<std::collections::BTreeMap<String, String>> {
    if context.len() > MAX_CONTEXT_KEYS {
        return Err(AppError::new(ErrorCode::InvalidField, format!("context has more than {MAX_CONTEXT_KEYS} keys")));
    }
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in context {
        let n = key.chars().count();
        if n == 0 || n > 40 || key.chars().any(char::is_control) {
            return Err(AppError::new(ErrorCode::InvalidField, "context keys must be 1 to 40 characters"));
        }
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(AppError::new(
                    ErrorCode::InvalidField,
                    format!("context.{key} must be a string, a number or a boolean"),
                ));
            }
        };
        if text.chars().count() > 200 {
            return Err(AppError::new(ErrorCode::InvalidField, format!("context.{key} is longer than 200 characters")));
        }
        out.insert(key.clone(), text);
    }
    Ok(out)
}

/// A widget session.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SessionCreated {
    /// Bearer token for the widget WebSocket.
    pub token: String,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The visitor.
    pub visitor_id: VisitorId,
}

/// Opens a widget session (201), or continues the open conversation of a previous token (200).
#[utoipa::path(post, path = "/api/v1/widget/sessions", tag = "widget", request_body = CreateSession,
    responses((status = 201, body = SessionCreated), (status = 200, body = SessionCreated),
              (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn create_session(
    State(state): State<AppState>,
    Client(_info, ip): Client,
    headers: HeaderMap,
    Json(body): Json<CreateSession>,
) -> AppResult<Response> {
    state.limits.widget_session(ip)?;
    if let Some(tenant) = state.services.store.tenant_by_widget_key(&body.widget_key).await? {
        check_origin(&state, tenant.id, &headers).await?;
    }
    for (field, value, max) in [
        ("visitor.name", body.visitor.name.as_deref(), 100),
        ("visitor.external_id", body.visitor.external_id.as_deref(), 200),
        ("widget_key", Some(body.widget_key.as_str()), 200),
        ("token", body.token.as_deref(), 200),
        ("page", body.page.as_deref(), 2000),
    ] {
        if value.is_some_and(|v| v.chars().count() > max) {
            return Err(AppError::new(ErrorCode::InvalidField, format!("{field} is longer than {max} characters")));
        }
    }
    let context = body.context.as_ref().map(business_context).transpose()?;
    let language = match body.language.as_deref() {
        None | Some("") => None,
        Some(l @ ("zh" | "en")) => Some(l),
        Some(_) => return Err(AppError::new(ErrorCode::InvalidField, "language must be zh or en")),
    };
    let session = state
        .services
        .open_widget_session(
            &body.widget_key,
            body.visitor.name.as_deref(),
            body.visitor.external_id.as_deref().filter(|s| !s.is_empty()),
            body.token.as_deref(),
            body.page.as_deref(),
            body.anonymous_id.as_deref().filter(|s| !s.is_empty()),
        )
        .await?;
    if let Some(context) = context.filter(|c| !c.is_empty()) {
        let grant = WidgetGrant {
            tenant_id: session.tenant.id,
            visitor_id: session.visitor_id,
            conversation_id: session.conversation.id,
        };
        state.services.set_business_context(&grant, &context).await?;
    }
    if let Some(language) = language
        && session.created
    {
        let grant = WidgetGrant {
            tenant_id: session.tenant.id,
            visitor_id: session.visitor_id,
            conversation_id: session.conversation.id,
        };
        state.services.set_widget_language(&grant, language).await?;
    }
    let status = if session.created { StatusCode::CREATED } else { StatusCode::OK };
    let out = SessionCreated {
        token: session.token,
        conversation_id: session.conversation.id,
        visitor_id: session.visitor_id,
    };
    Ok((status, Json(out)).into_response())
}

/// `GET /api/v1/widget/ws` query.
#[derive(Deserialize, IntoParams)]
pub struct WsQuery {
    /// The widget session token.
    pub token: String,
}

/// The widget WebSocket (frames in `docs/protocol.md`).
#[utoipa::path(get, path = "/api/v1/widget/ws", tag = "widget", params(WsQuery),
    responses((status = 101, description = "WebSocket upgrade"), (status = 401, body = ApiError)))]
pub async fn ws(
    State(state): State<AppState>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> AppResult<Response> {
    let grant = state.services.widget_grant(&q.token).await?;
    check_origin(&state, grant.tenant_id, &headers).await?;
    Ok(upgrade
        .max_message_size(crate::MAX_WS_FRAME)
        .read_buffer_size(crate::WS_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let limiters = (state.limits.message_limiter(), state.limits.message_limiter());
            if let Err(e) = widget_socket(state.services, grant, limiters, socket, &state.drain).await {
                tracing::debug!(error = %e, "widget socket ended");
            }
        }))
}

/// What the visitor may know about their conversation: no routing internals (group, priority, which reveals VIP
/// status, entry page, category) and no user ids.
#[derive(Serialize)]
struct VisitorConversation {
    id: ConversationId,
    status: lingxi_types::ConversationStatus,
    assigned_agent: Option<AgentName>,
    last_seq: i64,
    created_at: String,
}

#[derive(Serialize)]
struct AgentName {
    name: String,
}

impl VisitorConversation {
    fn new(c: &lingxi_types::Conversation) -> Self {
        VisitorConversation {
            id: c.id,
            status: c.status,
            assigned_agent: c.assigned_agent_name.clone().map(|name| AgentName { name }),
            last_seq: c.last_seq,
            created_at: lingxi_types::wire::rfc3339(c.created_at),
        }
    }
}

/// A frame to the widget.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame {
    Hello {
        conversation: VisitorConversation,
        /// 猜你想问: questions likely for this visitor.
        guesses: Vec<lingxi_types::BotOption>,
    },
    /// A rating was recorded.
    Feedback {
        message_id: lingxi_types::MessageId,
        useful: bool,
    },
    Ack {
        client_id: String,
        message_id: lingxi_types::MessageId,
        seq: i64,
    },
    Message(MessageView),
    Status {
        status: lingxi_types::ConversationStatus,
        agent_name: Option<String>,
    },
    /// The visitor's place in the queue, sent while queued and whenever it may have moved.
    Queue {
        position: i64,
        estimated_wait_secs: Option<i64>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// An agent is (not) typing.
    Typing {
        author: lingxi_types::Author,
        name: Option<String>,
        typing: bool,
    },
    Pong,
}

/// A socket's outgoing frames, serialised when queued: a queued frame costs its text, and an idle socket's queue
/// holds slots of a pointer's size instead of the largest frame's.
struct Frames(mpsc::Sender<Utf8Bytes>);

impl Frames {
    /// Queues a frame for the socket's writer; an error when the writer has stopped (the socket closed).
    async fn send(&self, frame: ServerFrame) -> Result<(), ()> {
        let Ok(text) = serde_json::to_string(&frame) else { return Ok(()) };
        self.0.send(text.into()).await.map_err(|_| ())
    }
}

/// How long an acknowledgement waits for the other nodes' bus to confirm the message's announcement.
pub(crate) const ANNOUNCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn widget_socket(
    services: Services,
    grant: WidgetGrant,
    (limiter, control): (Option<governor::DefaultDirectRateLimiter>, Option<governor::DefaultDirectRateLimiter>),
    socket: WebSocket,
    drain: &std::sync::Arc<crate::Drain>,
) -> Result<(), ServiceError> {
    let (_open, mut stop) = drain.socket();
    let (mut sink, mut stream) = socket.split();
    let mut events = services.bus.subscribe_to(Topic::Conversation(grant.conversation_id));
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(256);
    let tx = Frames(tx);
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(WsMessage::Text(text)).await.is_err() {
                break;
            }
        }
        sink
    });
    let mut going_away = false;
    let conversation = services.store.conversation(grant.tenant_id, grant.conversation_id).await?;
    // The highest seq this socket has delivered; the client resumes from its own before anything older is sent.
    let mut delivered = conversation.last_seq;
    let guesses = services.widget_guesses(&grant).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "guesses failed");
        Vec::new()
    });
    let _ = tx.send(ServerFrame::Hello { conversation: VisitorConversation::new(&conversation), guesses }).await;
    let mut queued = conversation.status == lingxi_types::ConversationStatus::Queued;
    let mut last_queue = None;
    // The tenant's queue news, followed only while queued.
    let follow_queue = |queued: bool| queued.then(|| services.bus.subscribe_to(Topic::Queue(grant.tenant_id)));
    let mut queue_events = follow_queue(queued);
    if queued {
        last_queue = Box::pin(send_queue(&services, grant, &tx, last_queue)).await?;
    }
    loop {
        tokio::select! {
            () = crate::shutting_down(&mut stop) => {
                going_away = true;
                break;
            }
            incoming = stream.next() => {
                let Some(Ok(msg)) = incoming else { break };
                let text = match msg {
                    WsMessage::Text(t) => t.to_string(),
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                match WidgetFrame::parse(&text) {
                    Ok(WidgetFrame::Ping) => { let _ = tx.send(ServerFrame::Pong).await; }
                    Ok(WidgetFrame::Resume { after_seq }) => {
                        delivered = Box::pin(deliver_after(&services, grant, after_seq.max(0), &tx)).await?.max(after_seq.max(0));
                    }
                    // Typing and receipts have their own budget (a flood of them is dropped, never answered).
                    Ok(WidgetFrame::Typing { .. } | WidgetFrame::Delivered { .. } | WidgetFrame::Read { .. })
                        if control.as_ref().is_some_and(|l| l.check().is_err()) => {}
                    Ok(WidgetFrame::Typing { typing }) => services.visitor_typing(&grant, typing),
                    Ok(WidgetFrame::Delivered { seq }) => Box::pin(services.visitor_receipt(&grant, seq, 0)).await?,
                    Ok(WidgetFrame::Read { seq }) => Box::pin(services.visitor_receipt(&grant, seq, seq)).await?,
                    Ok(WidgetFrame::Feedback { message_id, useful }) => {
                        if control.as_ref().is_some_and(|l| l.check().is_err()) {
                            let _ = tx.send(ServerFrame::Error { code: ErrorCode::RateLimited, message: "too many ratings; slow down".into(), client_id: None }).await;
                            continue;
                        }
                        match Box::pin(services.rate_bot_reply(&grant, message_id, useful)).await {
                            Ok(()) => { let _ = tx.send(ServerFrame::Feedback { message_id, useful }).await; }
                            Err(e) => {
                                let ApiError { code, message } = AppError::from(e).0;
                                let _ = tx.send(ServerFrame::Error { code, message, client_id: None }).await;
                            }
                        }
                    }
                    Ok(WidgetFrame::Message { client_id, text, attachment_id, choice }) => {
                        if limiter.as_ref().is_some_and(|l| l.check().is_err()) {
                            // Not stored and not acknowledged: the client resends it later with the same client_id.
                            let _ = tx.send(ServerFrame::Error { code: ErrorCode::RateLimited, message: "too many messages; slow down".into(), client_id: Some(client_id) }).await;
                            continue;
                        }
                        match Box::pin(services.visitor_message_with(grant, Some(client_id.clone()), &text, attachment_id)).await {
                            Ok(appended) => {
                                let m = &appended.message;
                                // Acknowledged once stored and announced to the other nodes.
                                services.bus.flushed(ANNOUNCE_LIMIT).await;
                                let _ = tx.send(ServerFrame::Ack { client_id, message_id: m.id, seq: m.seq }).await;
                                // The bot answers in the order the visitor asked: one message at a time per socket.
                                let choice = choice.map(|c| lingxi_service::BotChoice {
                                    entry_id: c.entry_id,
                                    source: match c.source {
                                        ChoiceKind::Suggestion => lingxi_service::ChoiceSource::Suggestion,
                                        ChoiceKind::Guess => lingxi_service::ChoiceSource::Guess,
                                    },
                                });
                                if !appended.duplicate
                                    && let Err(e) = Box::pin(services.run_bot_with(m.tenant_id, m, choice)).await
                                {
                                    tracing::warn!(error = %e, "bot failed");
                                }
                            }
                            Err(e) => {
                                let ApiError { code, message } = AppError::from(e).0;
                                let _ = tx.send(ServerFrame::Error { code, message, client_id: Some(client_id) }).await;
                            }
                        }
                    }
                    Err(FrameError { code, message }) => {
                        let _ = tx.send(ServerFrame::Error { code, message, client_id: None }).await;
                    }
                }
            }
            news = next_queue_event(&mut queue_events) => {
                match news {
                    Ok(Event::QueueChanged(_)) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) if queued => {
                        last_queue = Box::pin(send_queue(&services, grant, &tx, last_queue)).await?;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => queue_events = None,
                    _ => {}
                }
            }
            event = events.recv() => {
                match event {
                    Ok(Event::Resync) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Events may have been missed: catch up from storage (messages, then status and queue).
                        delivered = Box::pin(deliver_after(&services, grant, delivered, &tx)).await?.max(delivered);
                        let c = services.store.conversation(grant.tenant_id, grant.conversation_id).await?;
                        let _ = tx.send(ServerFrame::Status { status: c.status, agent_name: c.assigned_agent_name.clone() }).await;
                        queued = c.status == lingxi_types::ConversationStatus::Queued;
                        queue_events = follow_queue(queued);
                        if queued {
                            last_queue = Box::pin(send_queue(&services, grant, &tx, None)).await?;
                        }
                    }
                    Ok(ev) if ev.tenant_id() == Some(grant.tenant_id) && ev.conversation_id() == Some(grant.conversation_id) => match ev {
                        // The next one in order: sent as announced (it is the stored message). After a gap
                        // (a note, a missed event), what follows is read from storage.
                        Event::MessageStored(m) if m.seq == delivered + 1 && m.author != lingxi_types::Author::Note => {
                            delivered = m.seq;
                            let _ = tx.send(ServerFrame::Message(MessageView::from(&m))).await;
                        }
                        Event::MessageStored(m) if m.seq > delivered && m.author != lingxi_types::Author::Note => {
                            delivered = Box::pin(deliver_after(&services, grant, delivered, &tx)).await?.max(delivered);
                        }
                        Event::Typing { author: lingxi_types::Author::Agent, name, typing, .. } => {
                            let _ = tx.send(ServerFrame::Typing { author: lingxi_types::Author::Agent, name, typing }).await;
                        }
                        Event::ConversationChanged(c) => {
                            let _ = tx.send(ServerFrame::Status { status: c.status, agent_name: c.assigned_agent_name.clone() }).await;
                            queued = c.status == lingxi_types::ConversationStatus::Queued;
                            queue_events = follow_queue(queued);
                            last_queue = None;
                            if queued {
                                last_queue = Box::pin(send_queue(&services, grant, &tx, last_queue)).await?;
                            }
                        }
                        _ => {}
                    },
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
    }
    drop(tx);
    if let Ok(mut sink) = writer.await
        && going_away
    {
        let _ = sink.send(crate::going_away()).await;
    }
    Ok(())
}

/// The next queue event, or never without a queue subscription.
async fn next_queue_event(
    rx: &mut Option<tokio::sync::broadcast::Receiver<Event>>,
) -> Result<Event, tokio::sync::broadcast::error::RecvError> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends the visitor's queue position when it differs from the last one sent; returns what was sent last.
async fn send_queue(
    services: &Services,
    grant: WidgetGrant,
    tx: &Frames,
    last: Option<(i64, Option<i64>)>,
) -> Result<Option<(i64, Option<i64>)>, ServiceError> {
    let Some(info) = services.queue_info(grant.tenant_id, grant.conversation_id).await? else {
        return Ok(last);
    };
    let now = Some((info.position, info.estimated_wait_secs));
    if now != last {
        let _ = tx
            .send(ServerFrame::Queue { position: info.position, estimated_wait_secs: info.estimated_wait_secs })
            .await;
    }
    Ok(now)
}

/// Sends every stored message the visitor may see after `after_seq`, in order; returns the highest seq sent.
async fn deliver_after(
    services: &Services,
    grant: WidgetGrant,
    after_seq: i64,
    tx: &Frames,
) -> Result<i64, ServiceError> {
    let mut last = after_seq;
    loop {
        const PAGE: i64 = 200;
        let batch = services.store.visitor_messages_after(grant.tenant_id, grant.conversation_id, last, PAGE).await?;
        for m in &batch {
            last = m.seq;
            let _ = tx.send(ServerFrame::Message(MessageView::from(m))).await;
        }
        if (batch.len() as i64) < PAGE {
            return Ok(last);
        }
    }
}
