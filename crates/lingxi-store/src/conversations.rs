//! Visitors, widget sessions, conversations and their sequenced messages.

use crate::rows::{enum_col, id, int, millis, now, opt_enum_col, opt_id, opt_text, opt_ts, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use lingxi_types::*;
use sqlx::any::AnyRow;

/// A message to append; the store gives it its id, sequence number and time.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Who wrote it.
    pub author: Author,
    /// The agent, for agent messages.
    pub author_user: Option<UserId>,
    /// Display name of the author.
    pub author_name: Option<String>,
    /// The text as typed.
    pub text: String,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// The file it carries (already stored with `store_attachment`).
    pub attachment: Option<AttachmentRef>,
    /// The interactive part of a bot message.
    pub bot: Option<BotMeta>,
}

/// The outcome of an append.
#[derive(Clone, Debug)]
pub struct Appended {
    /// The stored message (the earlier one when `duplicate`).
    pub message: Message,
    /// True when a message with the same `client_id` was already stored: nothing new was written.
    pub duplicate: bool,
}

/// Which conversations to list.
#[derive(Clone, Debug, Default)]
pub struct ConversationFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<ConversationStatus>,
    /// Scope: those assigned to this agent…
    pub assigned_to: Option<UserId>,
    /// …or (either scope matches) those queued in these groups or in no group.
    pub queued_in: Option<Vec<GroupId>>,
    /// Only those served by this agent.
    pub agent: Option<UserId>,
    /// Only this visitor's.
    pub visitor_id: Option<VisitorId>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only visitors with this tag.
    pub tag: Option<String>,
    /// Created at or after.
    pub created_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Created before.
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Every word must occur in a message or in the visitor's name (case-insensitive).
    pub words: Vec<String>,
    /// Count unread visitor messages for this user.
    pub reader: Option<UserId>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

pub(crate) const CONVERSATION_SELECT: &str = "SELECT c.id, c.tenant_id, c.visitor_id, v.name AS visitor_name, \
     c.channel, c.status, c.assigned_agent, u.name AS agent_name, c.handoff_reason, c.last_seq, c.bot_failures, \
     c.group_id, c.priority, c.route_rule, c.queued_at, c.language, c.entry_page, c.category, \
     c.created_at, c.updated_at, c.closed_at, c.context, c.visitor_delivered_seq, c.visitor_read_seq \
     FROM conversations c JOIN visitors v ON v.id = c.visitor_id LEFT JOIN users u ON u.id = c.assigned_agent";

const MESSAGE_COLUMNS: &str = "id, tenant_id, conversation_id, seq, author, author_user, author_name, text, client_id, created_at, attachment, meta";

pub(crate) fn conversation(row: &AnyRow) -> StoreResult<Conversation> {
    Ok(Conversation {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        visitor_id: id(row, "visitor_id")?,
        visitor_name: text(row, "visitor_name")?,
        channel: enum_col(row, "channel", Channel::parse)?,
        status: enum_col(row, "status", ConversationStatus::parse)?,
        assigned_agent: opt_id(row, "assigned_agent")?,
        assigned_agent_name: opt_text(row, "agent_name")?,
        handoff_reason: opt_enum_col(row, "handoff_reason", HandoffReason::parse)?,
        last_seq: int(row, "last_seq")?,
        bot_failures: int(row, "bot_failures")?,
        context: opt_text(row, "context")?.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default(),
        group_id: opt_id(row, "group_id")?,
        priority: int(row, "priority")?,
        route_rule: opt_text(row, "route_rule")?,
        queued_at: opt_ts(row, "queued_at")?,
        language: opt_text(row, "language")?,
        entry_page: opt_text(row, "entry_page")?,
        category: opt_text(row, "category")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
        closed_at: opt_ts(row, "closed_at")?,
        visitor_delivered_seq: int(row, "visitor_delivered_seq")?,
        visitor_read_seq: int(row, "visitor_read_seq")?,
    })
}

fn message(row: &AnyRow) -> StoreResult<Message> {
    Ok(Message {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        conversation_id: id(row, "conversation_id")?,
        seq: int(row, "seq")?,
        author: enum_col(row, "author", Author::parse)?,
        author_user: opt_id(row, "author_user")?,
        author_name: opt_text(row, "author_name")?,
        text: text(row, "text")?,
        client_id: opt_text(row, "client_id")?,
        attachment: opt_text(row, "attachment")?
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("bad attachment: {e}")))?,
        // Meta written by another version that does not read is left out rather than failing the history.
        bot: opt_text(row, "meta")?.and_then(|m| serde_json::from_str(&m).ok()),
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn visitor(row: &AnyRow) -> StoreResult<Visitor> {
    visitor_named(row, "")
}

/// A visitor from columns named `{prefix}{column}` (a visitor read beside a conversation).
fn visitor_named(row: &AnyRow, prefix: &str) -> StoreResult<Visitor> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(Visitor {
        id: id(row, &c("id"))?,
        tenant_id: id(row, &c("tenant_id"))?,
        external_id: opt_text(row, &c("external_id"))?,
        name: text(row, &c("name"))?,
        tags: serde_json::from_str(&text(row, &c("tags"))?)
            .map_err(|e| StoreError::Corrupt(format!("bad tags: {e}")))?,
        vip: int(row, &c("vip"))? != 0,
        email: opt_text(row, &c("email"))?,
        phone: opt_text(row, &c("phone"))?,
        attributes: serde_json::from_str(&text(row, &c("attributes"))?)
            .map_err(|e| StoreError::Corrupt(format!("bad attributes: {e}")))?,
        merged_into: opt_id(row, &c("merged_into"))?,
        last_seen_at: opt_ts(row, &c("last_seen_at"))?,
        created_at: ts(row, &c("created_at"))?,
    })
}

/// The conversation, what the bot remembers of it and its visitor, in one statement.
static BOT_CONTEXT_SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let visitor: Vec<String> = VISITOR_COLUMNS.split(", ").map(|c| format!("v.{c} AS v_{c}")).collect();
    let columns = format!(", c.bot_state, {} FROM conversations c", visitor.join(", "));
    format!(
        "{} WHERE c.tenant_id = $1 AND c.id = $2",
        CONVERSATION_SELECT.replacen(" FROM conversations c", &columns, 1)
    )
});

pub(crate) const VISITOR_COLUMNS: &str =
    "id, tenant_id, external_id, name, tags, vip, email, phone, attributes, merged_into, last_seen_at, created_at";

impl Store {
    /// The visitor with this external id (created when new), or a new anonymous visitor without one.
    pub async fn upsert_visitor(
        &self,
        tenant_id: TenantId,
        external_id: Option<&str>,
        name: &str,
    ) -> StoreResult<Visitor> {
        if let Some(ext) = external_id {
            return self.resolve_visitor(tenant_id, &[(crate::IdentityKind::User, ext.to_owned())], name).await;
        }
        let v = Visitor {
            id: VisitorId::generate(),
            tenant_id,
            external_id: None,
            name: name.to_owned(),
            tags: Vec::new(),
            vip: false,
            email: None,
            phone: None,
            attributes: Default::default(),
            merged_into: None,
            last_seen_at: Some(now()),
            created_at: now(),
        };
        sqlx::query("INSERT INTO visitors (id, tenant_id, name, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(v.id.to_string())
            .bind(tid(tenant_id))
            .bind(&v.name)
            .bind(millis(v.created_at))
            .execute(&self.pool)
            .await?;
        Ok(v)
    }

    /// Opens a conversation for a visitor; the bot serves it first.
    pub async fn create_conversation(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        channel: Channel,
        entry_page: Option<&str>,
    ) -> StoreResult<Conversation> {
        let id = ConversationId::generate();
        let at = millis(now());
        sqlx::query(
            "INSERT INTO conversations (id, tenant_id, visitor_id, channel, status, last_seq, bot_failures, \
             entry_page, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $7)",
        )
        .bind(id.to_string())
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .bind(channel.as_str())
        .bind(ConversationStatus::Bot.as_str())
        .bind(entry_page)
        .bind(at)
        .execute(&self.pool)
        .await?;
        self.conversation(tenant_id, id).await
    }

    /// Records a widget session token (by hash) for a visitor's conversation.
    pub async fn create_widget_session(
        &self,
        tenant_id: TenantId,
        token_hash: &str,
        visitor_id: VisitorId,
        conversation_id: ConversationId,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO widget_sessions (token_hash, tenant_id, visitor_id, conversation_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .bind(conversation_id.to_string())
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant, visitor and conversation a widget token grants access to.
    pub async fn widget_session(&self, token_hash: &str) -> StoreResult<Option<(TenantId, VisitorId, ConversationId)>> {
        let row =
            sqlx::query("SELECT tenant_id, visitor_id, conversation_id FROM widget_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((id(&r, "tenant_id")?, id(&r, "visitor_id")?, id(&r, "conversation_id")?))).transpose()
    }

    /// One conversation of the tenant.
    pub async fn conversation(&self, tenant_id: TenantId, id: ConversationId) -> StoreResult<Conversation> {
        let row = sqlx::query(&format!("{CONVERSATION_SELECT} WHERE c.tenant_id = $1 AND c.id = $2"))
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(conversation).transpose()?.ok_or(StoreError::NotFound("conversation"))
    }

    /// The tenant's conversations matching the filter, most recent activity first, each with its newest message.
    pub async fn list_conversations(
        &self,
        tenant_id: TenantId,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<(Conversation, Option<Message>)>> {
        Ok(self.search_conversations(tenant_id, filter).await?.into_iter().map(|l| (l.conversation, l.last)).collect())
    }

    /// Durably appends a message with the next sequence number of its conversation. A message whose
    /// `client_id` was already stored in this conversation is not stored again: the earlier one is returned.
    pub async fn append_message(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Appended> {
        let mut tx = self.pool.begin().await?;
        // A repeated client_id is caught by the unique index (no read before every write): the transaction is
        // rolled back, the seq it took with it, and the earlier message returned.
        match insert_message(&mut tx, tenant_id, conversation_id, new, None).await {
            Ok(m) => {
                tx.commit().await?;
                Ok(Appended { message: m, duplicate: false })
            }
            Err(InsertError::Duplicate(client_id)) => {
                tx.rollback().await?;
                let earlier = self
                    .message_by_client_id(tenant_id, conversation_id, &client_id)
                    .await?
                    .ok_or(StoreError::NotFound("message"))?;
                Ok(Appended { message: earlier, duplicate: true })
            }
            Err(InsertError::Store(e)) => Err(e),
        }
    }

    /// Writes what one turn of the bot leaves, in one transaction: its reply (the conversation's next message),
    /// its memory, the matched entry's category, the decision and the analytics events. Returns the reply as
    /// stored.
    pub async fn record_bot_turn(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        turn: BotTurnWrite,
    ) -> StoreResult<Option<Message>> {
        let BotTurnWrite { reply, mut decision, events, state, failures, category } = turn;
        let mut tx = self.pool.begin().await?;
        let memory = BotMemory { state: &state, failures, category: category.as_deref() };
        let reply = match reply {
            Some(new) => match insert_message(&mut tx, tenant_id, conversation_id, new, Some(memory)).await {
                Ok(m) => Some(m),
                Err(InsertError::Duplicate(_)) => return Err(StoreError::AlreadyExists("message")),
                Err(InsertError::Store(e)) => return Err(e),
            },
            None => {
                let done = sqlx::query(
                    "UPDATE conversations SET bot_state = $1, bot_failures = $2, category = COALESCE($3, category) \
                     WHERE tenant_id = $4 AND id = $5",
                )
                .bind(&state)
                .bind(failures)
                .bind(category.as_deref())
                .bind(tid(tenant_id))
                .bind(conversation_id.to_string())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("conversation"));
                }
                None
            }
        };
        decision.reply_message_id = reply.as_ref().map(|m| m.id);
        crate::bot::insert_decision(&mut *tx, tenant_id, conversation_id, &decision).await?;
        for (kind, detail) in &events {
            crate::events::insert_event(&mut *tx, tenant_id, Some(conversation_id), *kind, detail).await?;
        }
        tx.commit().await?;
        Ok(reply)
    }

    /// The conversation, what the bot remembers of it (JSON written by [`Store::record_bot_turn`]) and its
    /// visitor, in one read.
    pub async fn bot_context(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
    ) -> StoreResult<(Conversation, Option<String>, Visitor)> {
        let row = sqlx::query(&BOT_CONTEXT_SELECT)
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Err(StoreError::NotFound("conversation")) };
        Ok((conversation(&row)?, opt_text(&row, "bot_state")?, visitor_named(&row, "v_")?))
    }

    async fn message_by_client_id(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        client_id: &str,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND client_id = $3"
        ))
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(message).transpose()
    }

    /// Messages of a conversation with `seq > after_seq`, in order, at most `limit` (agents' view: internal
    /// notes included).
    pub async fn messages_after(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        self.messages_page(tenant_id, conversation_id, after_seq, limit, true).await
    }

    /// The newest visitor message of a conversation.
    pub async fn last_visitor_message(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 \
             AND author = 'visitor' ORDER BY seq DESC LIMIT 1"
        ))
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(message).transpose()
    }

    /// Messages the visitor may see (internal notes left out) with `seq > after_seq`, in order, at most `limit`.
    pub async fn visitor_messages_after(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        self.messages_page(tenant_id, conversation_id, after_seq, limit, false).await
    }

    async fn messages_page(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        after_seq: i64,
        limit: i64,
        include_notes: bool,
    ) -> StoreResult<Vec<Message>> {
        let notes = if include_notes { "" } else { " AND author <> 'note'" };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq > $3{notes} \
             ORDER BY seq LIMIT $4"
        ))
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .bind(after_seq)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message).collect()
    }

    /// Moves a conversation to `status` only if it is in one of `from` (compare-and-set, so two concurrent
    /// transitions cannot both win). Returns the updated conversation, or `None` when the precondition failed.
    pub async fn transition_conversation(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        from: &[ConversationStatus],
        to: ConversationStatus,
        assigned_agent: Option<UserId>,
        handoff_reason: Option<HandoffReason>,
    ) -> StoreResult<Option<Conversation>> {
        let at = millis(now());
        let marks: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 7)).collect();
        let sql = format!(
            "UPDATE conversations SET status = $1, assigned_agent = $2, \
             handoff_reason = COALESCE($3, handoff_reason), updated_at = $4, \
             closed_at = CASE WHEN $1 = 'closed' THEN $4 ELSE closed_at END \
             WHERE tenant_id = $5 AND id = $6 AND status IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(assigned_agent.map(|a| a.to_string()))
            .bind(handoff_reason.map(|r| r.as_str()))
            .bind(at)
            .bind(tid(tenant_id))
            .bind(id.to_string());
        for s in from {
            q = q.bind(s.as_str());
        }
        let done = q.execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.conversation(tenant_id, id).await.map(Some)
    }

    /// Records what routing needs to know about a conversation; `None` leaves a field as it is.
    pub async fn set_conversation_context(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        language: Option<&str>,
        category: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE conversations SET language = COALESCE($1, language), category = COALESCE($2, category) \
             WHERE tenant_id = $3 AND id = $4",
        )
        .bind(language)
        .bind(category)
        .bind(tid(tenant_id))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One visitor of the tenant.
    pub async fn visitor(&self, tenant_id: TenantId, id: VisitorId) -> StoreResult<Visitor> {
        let row = sqlx::query(&format!("SELECT {VISITOR_COLUMNS} FROM visitors WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(visitor).transpose()?.ok_or(StoreError::NotFound("visitor"))
    }

    /// Sets a visitor's tags and VIP flag.
    pub async fn set_visitor_segments(
        &self,
        tenant_id: TenantId,
        id: VisitorId,
        tags: &[String],
        vip: bool,
    ) -> StoreResult<Visitor> {
        let done = sqlx::query("UPDATE visitors SET tags = $1, vip = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(serde_json::to_string(tags).unwrap_or_else(|_| "[]".into()))
            .bind(i64::from(vip))
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("visitor"));
        }
        self.visitor(tenant_id, id).await
    }

    /// What the bot remembers of a conversation (JSON written by [`Store::set_bot_state`]), if anything.
    pub async fn bot_state(&self, tenant_id: TenantId, id: ConversationId) -> StoreResult<Option<String>> {
        use sqlx::Row;
        let row = sqlx::query("SELECT bot_state FROM conversations WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>("bot_state")).transpose()?.flatten())
    }

    /// Stores what the bot remembers of a conversation, and its count of consecutive failures.
    pub async fn set_bot_state(
        &self,
        tenant_id: TenantId,
        id: ConversationId,
        state: &str,
        failures: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE conversations SET bot_state = $1, bot_failures = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(state)
            .bind(failures)
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many conversations each agent of the tenant is serving now.
    pub async fn agent_loads(&self, tenant_id: TenantId) -> StoreResult<Vec<(UserId, i64)>> {
        let rows = sqlx::query(
            "SELECT assigned_agent, COUNT(*) AS n FROM conversations \
             WHERE tenant_id = $1 AND status = 'assigned' AND assigned_agent IS NOT NULL GROUP BY assigned_agent",
        )
        .bind(tid(tenant_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((id(r, "assigned_agent")?, int(r, "n")?))).collect()
    }
}

/// What one bot turn writes (see [`Store::record_bot_turn`]).
#[derive(Clone, Debug, Default)]
pub struct BotTurnWrite {
    /// The bot's reply, when it says something.
    pub reply: Option<NewMessage>,
    /// Its decision (the reply's id is filled in).
    pub decision: crate::NewDecision,
    /// Analytics events about the conversation.
    pub events: Vec<(EventKind, serde_json::Value)>,
    /// What the bot remembers now (JSON).
    pub state: String,
    /// Its count of consecutive failures.
    pub failures: i64,
    /// The matched entry's category, to set when it changed.
    pub category: Option<String>,
}

/// The bot's memory, written with its reply.
struct BotMemory<'a> {
    state: &'a str,
    failures: i64,
    category: Option<&'a str>,
}

enum InsertError {
    /// The message's `client_id` was stored before in this conversation.
    Duplicate(String),
    Store(StoreError),
}

impl From<sqlx::Error> for InsertError {
    fn from(e: sqlx::Error) -> Self {
        InsertError::Store(e.into())
    }
}

/// Appends a message with the conversation's next seq inside `tx`; with `memory`, the bot's state is written by
/// the same statement.
async fn insert_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: TenantId,
    conversation_id: ConversationId,
    new: NewMessage,
    memory: Option<BotMemory<'_>>,
) -> Result<Message, InsertError> {
    let at = now();
    // The first statement writes, so that SQLite takes the write lock at once (no lock upgrade).
    let row =
        match memory {
            None => {
                sqlx::query(
                    "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 RETURNING last_seq",
                )
                .bind(millis(at))
                .bind(tid(tenant_id))
                .bind(conversation_id.to_string())
                .fetch_optional(&mut **tx)
                .await?
            }
            Some(BotMemory { state, failures, category }) => sqlx::query(
                "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $1, bot_state = $2, bot_failures = $3, \
                 category = COALESCE($4, category) WHERE tenant_id = $5 AND id = $6 RETURNING last_seq",
            )
            .bind(millis(at))
            .bind(state)
            .bind(failures)
            .bind(category)
            .bind(tid(tenant_id))
            .bind(conversation_id.to_string())
            .fetch_optional(&mut **tx)
            .await?,
        };
    let Some(row) = row else {
        return Err(InsertError::Store(StoreError::NotFound("conversation")));
    };
    let seq = int(&row, "last_seq").map_err(InsertError::Store)?;
    let m = Message {
        id: MessageId::generate(),
        tenant_id,
        conversation_id,
        seq,
        author: new.author,
        author_user: new.author_user,
        author_name: new.author_name,
        text: new.text,
        client_id: new.client_id,
        attachment: new.attachment,
        bot: new.bot,
        created_at: at,
    };
    let inserted = sqlx::query(&format!(
        "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(m.id.to_string())
    .bind(tid(tenant_id))
    .bind(conversation_id.to_string())
    .bind(seq)
    .bind(m.author.as_str())
    .bind(m.author_user.map(|u| u.to_string()))
    .bind(m.author_name.clone())
    .bind(&m.text)
    .bind(m.client_id.clone())
    .bind(millis(at))
    .bind(m.attachment.as_ref().and_then(|a| serde_json::to_string(a).ok()))
    .bind(m.bot.as_ref().and_then(|b| serde_json::to_string(b).ok()))
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => Ok(m),
        Err(e) if is_unique_violation(&e) && m.client_id.is_some() => {
            Err(InsertError::Duplicate(m.client_id.unwrap_or_default()))
        }
        Err(e) => Err(e.into()),
    }
}
