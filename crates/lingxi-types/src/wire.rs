//! Wire DTOs of the public API (JSON shapes documented in `docs/protocol.md` and the OpenAPI document).

use crate::ids::*;
use crate::model::*;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Formats a time as RFC 3339 with milliseconds, in UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A message as clients see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// Its id.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Per-conversation sequence number.
    pub seq: i64,
    /// Who wrote it.
    pub author: Author,
    /// The author's display name.
    pub author_name: Option<String>,
    /// The text as typed; render as text, never as HTML.
    pub text: String,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// The file it carries.
    pub attachment: Option<AttachmentRef>,
    /// The interactive part of a bot message (absent on other messages).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bot: Option<Box<BotMeta>>,
    /// RFC 3339 time.
    pub created_at: String,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            message_id: m.id,
            conversation_id: m.conversation_id,
            seq: m.seq,
            author: m.author,
            author_name: m.author_name.clone(),
            text: m.text.clone(),
            client_id: m.client_id.clone(),
            attachment: m.attachment.clone(),
            bot: m.bot.clone().map(Box::new),
            created_at: rfc3339(m.created_at),
        }
    }
}

/// A reference to a person: id and name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonRef {
    /// The id.
    pub id: String,
    /// The display name.
    pub name: String,
}

/// A conversation as clients see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationView {
    /// Its id.
    pub id: ConversationId,
    /// Current status.
    pub status: ConversationStatus,
    /// The channel.
    pub channel: Channel,
    /// The visitor.
    pub visitor: PersonRef,
    /// The agent serving it.
    pub assigned_agent: Option<PersonRef>,
    /// Highest sequence number used.
    pub last_seq: i64,
    /// The newest message, when listed.
    pub last_message: Option<MessageView>,
    /// Why it was handed off.
    pub handoff_reason: Option<HandoffReason>,
    /// The skill group it was routed to.
    pub group_id: Option<GroupId>,
    /// Queue priority (higher first; VIPs get 100 more).
    pub priority: i64,
    /// When it entered the queue (RFC 3339).
    pub queued_at: Option<String>,
    /// The visitor's language.
    pub language: Option<String>,
    /// The page the widget was opened on.
    pub entry_page: Option<String>,
    /// The knowledge-base category the bot last matched.
    pub category: Option<String>,
    /// The business context the page passed in when the conversation started.
    #[serde(default)]
    pub context: std::collections::BTreeMap<String, String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339.
    pub closed_at: Option<String>,
    /// The visitor's widget received the messages up to this seq.
    pub visitor_delivered_seq: i64,
    /// The visitor has seen the messages up to this seq.
    pub visitor_read_seq: i64,
    /// Visitor messages the caller has not read (lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<i64>,
    /// With a search: the newest message that matched (`null` when only the visitor's name did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<Option<MessageView>>,
}

impl ConversationView {
    /// The view of a conversation, with its newest message when known.
    pub fn new(c: &Conversation, last_message: Option<&Message>) -> Self {
        Self {
            id: c.id,
            status: c.status,
            channel: c.channel,
            visitor: PersonRef { id: c.visitor_id.to_string(), name: c.visitor_name.clone() },
            assigned_agent: c
                .assigned_agent
                .map(|id| PersonRef { id: id.to_string(), name: c.assigned_agent_name.clone().unwrap_or_default() }),
            last_seq: c.last_seq,
            last_message: last_message.map(MessageView::from),
            handoff_reason: c.handoff_reason,
            group_id: c.group_id,
            priority: c.priority,
            queued_at: c.queued_at.map(rfc3339),
            language: c.language.clone(),
            entry_page: c.entry_page.clone(),
            category: c.category.clone(),
            context: c.context.clone(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            closed_at: c.closed_at.map(rfc3339),
            visitor_delivered_seq: c.visitor_delivered_seq,
            visitor_read_seq: c.visitor_read_seq,
            unread: None,
            matched: None,
        }
    }
}

/// A tenant reference inside a user view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TenantRef {
    /// Id.
    pub id: TenantId,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// A workspace user as clients see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The tenant's custom role the user holds in place of the built-in role's permissions, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role: Option<CustomRoleId>,
    /// What the caller may do (in `GET /me` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// Whether the caller came with an API token rather than a login session (in `GET /me` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<ApiTokenId>,
    /// The tenant.
    pub tenant: TenantRef,
}

impl UserView {
    /// The view of a user of the given tenant.
    pub fn new(u: &User, t: &Tenant) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role,
            custom_role: u.custom_role,
            permissions: None,
            api_token: None,
            tenant: TenantRef { id: t.id, slug: t.slug.clone(), name: t.name.clone() },
        }
    }
}

/// A knowledge-base entry as clients see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KbEntryView {
    /// Id.
    pub id: EntryId,
    /// Standard question.
    pub question: String,
    /// Similar questions.
    pub similar_questions: Vec<String>,
    /// Answer, sanitised rich text (HTML fragment of the allowed tags).
    pub answer: String,
    /// Answer as plain text.
    pub answer_text: String,
    /// Answers for particular channels (`web`, `api`) as sanitised rich text; the others use `answer`.
    #[serde(default)]
    pub channel_answers: std::collections::BTreeMap<String, String>,
    /// Category path, `/`-separated.
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether the bot uses it.
    pub enabled: bool,
    /// RFC 3339; the bot uses the entry from then on.
    pub valid_from: Option<String>,
    /// RFC 3339; the bot stops using the entry then.
    pub valid_until: Option<String>,
    /// Whether the bot may answer from it now (enabled and inside its validity period).
    pub live: bool,
    /// The user who created it.
    pub created_by: Option<UserId>,
    /// The user who changed it last.
    pub updated_by: Option<UserId>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl KbEntryView {
    /// The view of an entry, with `live` computed at `now`.
    pub fn at(e: &KbEntry, now: DateTime<Utc>) -> Self {
        Self {
            id: e.id,
            question: e.question.clone(),
            similar_questions: e.similar_questions.clone(),
            answer: e.answer.clone(),
            answer_text: e.answer_text.clone(),
            channel_answers: e.channel_answers.iter().map(|(c, a)| (c.clone(), a.answer.clone())).collect(),
            category: e.category.clone(),
            tags: e.tags.clone(),
            enabled: e.enabled,
            valid_from: e.valid_from.map(rfc3339),
            valid_until: e.valid_until.map(rfc3339),
            live: e.is_live(now),
            created_by: e.created_by,
            updated_by: e.updated_by,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// One page of knowledge-base entries: `{"items", "total", "limit", "offset"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KbEntryPage {
    /// The entries of this page.
    pub items: Vec<KbEntryView>,
    /// How many entries match the filters in all.
    pub total: i64,
    /// The page size asked for.
    pub limit: i64,
    /// How many matching entries come before this page.
    pub offset: i64,
}

/// A list response: `{"items": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ItemList<T> {
    /// The items.
    pub items: Vec<T>,
}
