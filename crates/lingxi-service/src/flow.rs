//! The path of a conversation: a visitor opens it, the bot answers, a handoff queues it, routing assigns an agent,
//! the agent replies and closes it. Every step persists first, then publishes on the bus, then records analytics.

use crate::auth::{AuthError, Authenticated, new_token, token_hash};
use crate::{ServiceError, ServiceResult, Services, validate_text};
use lingxi_bus::Event;
use lingxi_domain::Lang;
use lingxi_store::{Appended, NewMessage};
use lingxi_types::*;
use serde_json::json;

/// A visitor's widget session.
#[derive(Clone)]
pub struct WidgetSession {
    /// The bearer token the widget presents (only known at creation; empty when resumed).
    pub token: String,
    /// The tenant.
    pub tenant: Tenant,
    /// The visitor.
    pub visitor_id: VisitorId,
    /// The conversation.
    pub conversation: Conversation,
    /// Whether a new conversation was opened.
    pub created: bool,
}

/// The token stays out of logs and panics.
impl std::fmt::Debug for WidgetSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetSession")
            .field("token", &"<redacted>")
            .field("tenant", &self.tenant.slug)
            .field("visitor_id", &self.visitor_id)
            .field("conversation", &self.conversation.id)
            .field("created", &self.created)
            .finish()
    }
}

/// What a widget token grants: one conversation of one visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WidgetGrant {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The visitor.
    pub visitor_id: VisitorId,
    /// The only conversation the token may touch.
    pub conversation_id: ConversationId,
}

/// Entry-page URLs are kept up to this many characters.
const MAX_ENTRY_PAGE_CHARS: usize = 2000;

const OPEN: &[ConversationStatus] =
    &[ConversationStatus::Bot, ConversationStatus::Queued, ConversationStatus::Assigned];

impl Services {
    /// Opens (or, with a previous valid token of an open conversation, resumes) a widget session.
    pub async fn open_widget_session(
        &self,
        widget_key: &str,
        name: Option<&str>,
        external_id: Option<&str>,
        previous_token: Option<&str>,
        entry_page: Option<&str>,
        anonymous_id: Option<&str>,
    ) -> ServiceResult<WidgetSession> {
        let tenant = self.store.tenant_by_widget_key(widget_key).await?.ok_or(ServiceError::UnknownWidgetKey)?;
        if let Some(token) = previous_token
            && let Some((tenant_id, visitor_id, conversation_id)) =
                self.store.widget_session(&token_hash(token)).await?
            && tenant_id == tenant.id
        {
            let conversation = self.store.conversation(tenant.id, conversation_id).await?;
            if conversation.status != ConversationStatus::Closed {
                return Ok(WidgetSession { token: token.to_owned(), tenant, visitor_id, conversation, created: false });
            }
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        let visitor_name = name.unwrap_or_else(|| {
            let suffix: String = new_token().chars().take(4).collect();
            format!("访客 Visitor-{suffix}")
        });
        // The browser's anonymous id (shared with the tracker) ties the chat to the browsing track; a customer id
        // ties it to the customer, across browsers and channels.
        let customer = crate::CustomerRef { user_id: external_id.map(str::to_owned), ..Default::default() };
        let identities = crate::identities_of(&customer, anonymous_id)?;
        let visitor = self.store.resolve_visitor(tenant.id, &identities, &visitor_name).await?;
        let entry_page: Option<String> =
            entry_page.map(str::trim).filter(|p| !p.is_empty()).map(|p| p.chars().take(MAX_ENTRY_PAGE_CHARS).collect());
        let conversation =
            self.store.create_conversation(tenant.id, visitor.id, Channel::Web, entry_page.as_deref()).await?;
        let token = new_token();
        self.store.create_widget_session(tenant.id, &token_hash(&token), visitor.id, conversation.id).await?;
        self.store
            .record_event(tenant.id, Some(conversation.id), EventKind::ConversationOpened, json!({"channel": "web"}))
            .await?;
        self.bus.publish(Event::ConversationChanged(conversation.clone()));
        Ok(WidgetSession { token, tenant, visitor_id: visitor.id, conversation, created: true })
    }

    /// What a widget token grants.
    pub async fn widget_grant(&self, token: &str) -> ServiceResult<WidgetGrant> {
        let (tenant_id, visitor_id, conversation_id) =
            self.store.widget_session(&token_hash(token)).await?.ok_or(AuthError::Unauthenticated)?;
        Ok(WidgetGrant { tenant_id, visitor_id, conversation_id })
    }

    /// Appends a message and tells every live client.
    pub(crate) async fn post(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        new: NewMessage,
    ) -> ServiceResult<Appended> {
        let appended = self.store.append_message(tenant_id, id, new).await?;
        // A repeated send is announced again too: the node that stored it first may have died before it could.
        // Clients take a message once by its seq / id.
        self.bus.publish(Event::MessageStored(appended.message.clone()));
        Ok(appended)
    }

    pub(crate) async fn post_system(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        text: &str,
    ) -> ServiceResult<Message> {
        let new = NewMessage {
            author: Author::System,
            author_user: None,
            author_name: None,
            text: text.to_owned(),
            client_id: None,
            attachment: None,
            bot: None,
        };
        Ok(self.post(tenant_id, id, new).await?.message)
    }

    pub(crate) fn changed(&self, c: &Conversation) {
        self.bus.publish(Event::ConversationChanged(c.clone()));
    }

    /// Stores a visitor's message (at most once per `client_id`). The caller acknowledges it, then calls
    /// [`Services::run_bot`]. A message to a closed conversation reopens it with the bot.
    pub async fn visitor_message(
        &self,
        grant: WidgetGrant,
        client_id: Option<String>,
        text: &str,
    ) -> ServiceResult<Appended> {
        self.visitor_message_with(grant, client_id, text, None).await
    }

    /// [`Services::visitor_message`] with an attachment uploaded before (the text may then be empty).
    pub async fn visitor_message_with(
        &self,
        grant: WidgetGrant,
        client_id: Option<String>,
        text: &str,
        attachment: Option<AttachmentId>,
    ) -> ServiceResult<Appended> {
        validate_message(text, attachment.is_some())?;
        let attachment = self.attachment_for(grant.tenant_id, grant.conversation_id, attachment).await?;
        let conversation = self.store.conversation(grant.tenant_id, grant.conversation_id).await?;
        if conversation.status == ConversationStatus::Closed
            && let Some(reopened) = self
                .store
                .transition_conversation(
                    grant.tenant_id,
                    conversation.id,
                    &[ConversationStatus::Closed],
                    ConversationStatus::Bot,
                    None,
                    None,
                )
                .await?
        {
            self.changed(&reopened);
        }
        // The visitor's first message sets the conversation's language (over the widget's, a mere hint).
        if conversation.language.is_none()
            || self.store.last_visitor_message(grant.tenant_id, conversation.id).await?.is_none()
        {
            let lang = match Lang::of(text) {
                Lang::Zh => "zh",
                Lang::En => "en",
            };
            self.store.set_conversation_context(grant.tenant_id, conversation.id, Some(lang), None).await?;
        }
        let new = NewMessage {
            author: Author::Visitor,
            author_user: None,
            author_name: None,
            text: text.to_owned(),
            client_id,
            attachment,
            bot: None,
        };
        self.post(grant.tenant_id, grant.conversation_id, new).await
    }

    /// Hands a bot conversation to the humans: route it to a group's queue, then dispatch.
    pub async fn handoff(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        reason: HandoffReason,
    ) -> ServiceResult<Conversation> {
        let current = self.store.conversation(tenant_id, id).await?;
        if self.route_and_enqueue(&current, &[ConversationStatus::Bot], reason).await?.is_none() {
            return Ok(current);
        }
        self.post_system(tenant_id, id, "正在为您转接人工客服，请稍候… / Connecting you to an agent, please wait…")
            .await?;
        self.dispatch(tenant_id).await?;
        let now = self.store.conversation(tenant_id, id).await?;
        if now.status == ConversationStatus::Queued {
            self.post_system(
                tenant_id,
                id,
                "当前客服繁忙或不在线，您已进入排队，客服接入后会第一时间回复您。 / All agents are busy or offline; \
                 you are in the queue and an agent will reply as soon as one is available.",
            )
            .await?;
        }
        Ok(now)
    }

    /// An agent's reply. Replying to a conversation no agent serves yet assigns it to the replying agent.
    pub async fn agent_message(
        &self,
        who: &Authenticated,
        id: ConversationId,
        text: &str,
        client_id: Option<String>,
    ) -> ServiceResult<Appended> {
        self.agent_message_with(who, id, text, client_id, None).await
    }

    /// [`Services::agent_message`] with an attachment uploaded before (the text may then be empty).
    pub async fn agent_message_with(
        &self,
        who: &Authenticated,
        id: ConversationId,
        text: &str,
        client_id: Option<String>,
        attachment: Option<AttachmentId>,
    ) -> ServiceResult<Appended> {
        validate_message(text, attachment.is_some())?;
        let tenant_id = who.tenant.id;
        let attachment = self.attachment_for(tenant_id, id, attachment).await?;
        let conversation = self.store.conversation(tenant_id, id).await?;
        match conversation.status {
            ConversationStatus::Closed => return Err(ServiceError::Conflict("the conversation is closed".into())),
            ConversationStatus::Bot | ConversationStatus::Queued => {
                self.claim(who, id).await?;
            }
            ConversationStatus::Assigned => {}
        }
        let new = NewMessage {
            author: Author::Agent,
            author_user: Some(who.user.id),
            author_name: Some(who.user.name.clone()),
            text: text.to_owned(),
            client_id,
            attachment,
            bot: None,
        };
        let appended = self.post(tenant_id, id, new).await?;
        if !appended.duplicate && !self.store.has_event(tenant_id, id, EventKind::FirstResponse).await? {
            self.store
                .record_event(tenant_id, Some(id), EventKind::FirstResponse, json!({"agent": who.user.id}))
                .await?;
        }
        Ok(appended)
    }

    /// Closes a conversation and records who closed it.
    pub async fn close(&self, who: &Authenticated, id: ConversationId) -> ServiceResult<Conversation> {
        let tenant_id = who.tenant.id;
        let current = self.store.conversation(tenant_id, id).await?;
        let Some(closed) = self
            .store
            .transition_conversation(tenant_id, id, OPEN, ConversationStatus::Closed, current.assigned_agent, None)
            .await?
        else {
            return Err(ServiceError::Conflict("the conversation is already closed".into()));
        };
        self.post_system(tenant_id, id, "会话已结束，感谢您的咨询。 / This conversation has been closed. Thank you!")
            .await?;
        self.store.record_event(tenant_id, Some(id), EventKind::ConversationClosed, json!({"by": who.user.id})).await?;
        self.changed(&closed);
        if current.status == ConversationStatus::Queued {
            self.bus.publish(Event::QueueChanged(tenant_id));
        }
        // The agent's slot is free: give it to the queue.
        self.dispatch(tenant_id).await?;
        Ok(closed)
    }
}

/// A message's text: may be empty only when it carries an attachment.
fn validate_message(text: &str, has_attachment: bool) -> ServiceResult<()> {
    if has_attachment && text.trim().is_empty() {
        if text.chars().count() > crate::MAX_TEXT_CHARS {
            return Err(ServiceError::Invalid("text is too long".into()));
        }
        return Ok(());
    }
    validate_text(text).map(|_| ())
}
