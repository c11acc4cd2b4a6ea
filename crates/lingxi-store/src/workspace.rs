//! What the agent workspace needs beyond conversations and messages: searching and filtering the list, per-agent
//! read state, the visitor's delivery and read receipts, canned replies and attachments.

use crate::conversations::{CONVERSATION_SELECT, ConversationFilter, conversation};
use crate::rows::{id, int, millis, now, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::*;

/// A conversation as a list shows it.
#[derive(Clone, Debug)]
pub struct ListedConversation {
    /// The conversation.
    pub conversation: Conversation,
    /// Its newest message.
    pub last: Option<Message>,
    /// Visitor messages the reader has not read (with a reader in the filter).
    pub unread: Option<i64>,
    /// With search words: the newest matching message (`Some(None)`: only the visitor's name matched).
    pub matched: Option<Option<Message>>,
}

/// A canned reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedReply {
    /// Id.
    pub id: CannedReplyId,
    /// The agent whose personal reply it is; `None` for a team reply.
    pub owner: Option<UserId>,
    /// Shortcut typed after `/`.
    pub shortcut: String,
    /// Title.
    pub title: String,
    /// Text with `{{variables}}`.
    pub text: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// A stored attachment.
#[derive(Clone, Debug)]
pub struct StoredAttachment {
    /// Its reference (as messages carry it).
    pub reference: AttachmentRef,
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// The bytes.
    pub data: Vec<u8>,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// `LIKE` pattern matching `word` anywhere, with the wildcards in it escaped (use with `ESCAPE '\'`).
fn contains_pattern(word: &str) -> String {
    let mut p = String::from("%");
    for ch in word.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn canned(row: &sqlx::any::AnyRow) -> StoreResult<CannedReply> {
    let owner = text(row, "owner_id")?;
    Ok(CannedReply {
        id: id(row, "id")?,
        owner: if owner.is_empty() {
            None
        } else {
            Some(owner.parse().map_err(|_| StoreError::Corrupt("bad canned reply owner".into()))?)
        },
        shortcut: text(row, "shortcut")?,
        title: text(row, "title")?,
        text: text(row, "text")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

const CANNED_COLUMNS: &str = "id, owner_id, shortcut, title, text, created_at, updated_at";

impl Store {
    /// The tenant's conversations matching the filter, most recent activity first.
    pub async fn search_conversations(
        &self,
        tenant_id: TenantId,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<ListedConversation>> {
        let mut binds = vec![Bind::Text(tid(tenant_id))];
        fn mark(b: Bind, binds: &mut Vec<Bind>) -> String {
            binds.push(b);
            format!("${}", binds.len())
        }
        let mut select = CONVERSATION_SELECT.replacen("c.visitor_read_seq ", "c.visitor_read_seq, {UNREAD} ", 1);
        let unread = match filter.reader {
            Some(reader) => {
                let r = mark(Bind::Text(reader.to_string()), &mut binds);
                format!(
                    "(SELECT COUNT(*) FROM messages m WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id \
                     AND m.author = 'visitor' AND m.seq > COALESCE((SELECT r.read_seq FROM conversation_reads r \
                     WHERE r.conversation_id = c.id AND r.user_id = {r}), 0)) AS unread"
                )
            }
            None => "0 AS unread".to_owned(),
        };
        select = select.replace("{UNREAD}", &unread);
        let mut sql = format!("{select} WHERE c.tenant_id = $1");
        if !filter.statuses.is_empty() {
            let marks: Vec<String> =
                filter.statuses.iter().map(|s| mark(Bind::Text(s.as_str().to_owned()), &mut binds)).collect();
            sql.push_str(&format!(" AND c.status IN ({})", marks.join(", ")));
        }
        // "Mine", "my groups' queue", or either of them.
        let mut scope = Vec::new();
        if let Some(agent) = filter.assigned_to {
            scope.push(format!("c.assigned_agent = {}", mark(Bind::Text(agent.to_string()), &mut binds)));
        }
        if let Some(groups) = &filter.queued_in {
            let mut marks: Vec<String> = groups.iter().map(|g| mark(Bind::Text(g.to_string()), &mut binds)).collect();
            if marks.is_empty() {
                marks.push("''".into());
            }
            scope.push(format!(
                "(c.status = 'queued' AND (c.group_id IS NULL OR c.group_id IN ({})))",
                marks.join(", ")
            ));
        }
        if !scope.is_empty() {
            sql.push_str(&format!(" AND ({})", scope.join(" OR ")));
        }
        if let Some(agent) = filter.agent {
            sql.push_str(&format!(" AND c.assigned_agent = {}", mark(Bind::Text(agent.to_string()), &mut binds)));
        }
        if let Some(v) = filter.visitor_id {
            sql.push_str(&format!(" AND c.visitor_id = {}", mark(Bind::Text(v.to_string()), &mut binds)));
        }
        if let Some(channel) = filter.channel {
            sql.push_str(&format!(" AND c.channel = {}", mark(Bind::Text(channel.as_str().into()), &mut binds)));
        }
        if let Some(tag) = &filter.tag {
            let quoted = serde_json::to_string(tag).unwrap_or_default();
            let m = mark(Bind::Text(contains_pattern(&quoted)), &mut binds);
            sql.push_str(&format!(" AND LOWER(v.tags) LIKE {m} ESCAPE '\\'"));
        }
        if let Some(from) = filter.created_from {
            sql.push_str(&format!(" AND c.created_at >= {}", mark(Bind::Int(millis(from)), &mut binds)));
        }
        if let Some(to) = filter.created_before {
            sql.push_str(&format!(" AND c.created_at < {}", mark(Bind::Int(millis(to)), &mut binds)));
        }
        let mut word_marks = Vec::new();
        for w in &filter.words {
            let m = mark(Bind::Text(contains_pattern(w)), &mut binds);
            sql.push_str(&format!(
                " AND (LOWER(v.name) LIKE {m} ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m \
                 WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND LOWER(m.text) LIKE {m} ESCAPE '\\'))"
            ));
            word_marks.push(m);
        }
        let limit = mark(Bind::Int(filter.limit.unwrap_or(100).clamp(1, 500)), &mut binds);
        sql.push_str(&format!(" ORDER BY c.updated_at DESC, c.id DESC LIMIT {limit}"));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let c = conversation(row)?;
            let last = if c.last_seq > 0 {
                self.messages_after(tenant_id, c.id, c.last_seq - 1, 1).await?.into_iter().next()
            } else {
                None
            };
            let matched = if filter.words.is_empty() {
                None
            } else {
                Some(self.newest_match(tenant_id, c.id, &filter.words).await?)
            };
            out.push(ListedConversation {
                unread: filter.reader.map(|_| int(row, "unread")).transpose()?,
                conversation: c,
                last,
                matched,
            });
        }
        Ok(out)
    }

    /// The newest message of a conversation containing any of the words.
    async fn newest_match(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        words: &[String],
    ) -> StoreResult<Option<Message>> {
        let ors: Vec<String> = (0..words.len()).map(|i| format!("LOWER(text) LIKE ${} ESCAPE '\\'", i + 3)).collect();
        let sql = format!(
            "SELECT seq FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND ({}) ORDER BY seq DESC LIMIT 1",
            ors.join(" OR ")
        );
        let mut q = sqlx::query(&sql).bind(tid(tenant_id)).bind(conversation_id.to_string());
        for w in words {
            q = q.bind(contains_pattern(w));
        }
        let Some(row) = q.fetch_optional(&self.pool).await? else { return Ok(None) };
        let seq = int(&row, "seq")?;
        Ok(self.messages_after(tenant_id, conversation_id, seq - 1, 1).await?.into_iter().next())
    }

    /// Records that `user` has read a conversation up to `seq` (never moves back).
    pub async fn mark_read(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO conversation_reads (tenant_id, conversation_id, user_id, read_seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET read_seq = CASE \
             WHEN excluded.read_seq > conversation_reads.read_seq THEN excluded.read_seq \
             ELSE conversation_reads.read_seq END",
        )
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .bind(user.to_string())
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves the visitor's delivered / read marks forward (never back, never past the last message; reading
    /// implies delivery). Returns the conversation when a mark moved.
    pub async fn visitor_receipt(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        delivered: i64,
        read: i64,
    ) -> StoreResult<Option<(i64, i64)>> {
        let delivered = delivered.max(read);
        let row = sqlx::query(
            "UPDATE conversations SET \
             visitor_delivered_seq = CASE WHEN $1 > visitor_delivered_seq AND $1 <= last_seq THEN $1 \
                 WHEN $1 > last_seq AND last_seq > visitor_delivered_seq THEN last_seq ELSE visitor_delivered_seq END, \
             visitor_read_seq = CASE WHEN $2 > visitor_read_seq AND $2 <= last_seq THEN $2 \
                 WHEN $2 > last_seq AND last_seq > visitor_read_seq THEN last_seq ELSE visitor_read_seq END \
             WHERE tenant_id = $3 AND id = $4 AND ($1 > visitor_delivered_seq OR $2 > visitor_read_seq) \
               AND (visitor_delivered_seq < last_seq OR visitor_read_seq < last_seq) \
             RETURNING visitor_delivered_seq, visitor_read_seq",
        )
        .bind(delivered)
        .bind(read)
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((int(&r, "visitor_delivered_seq")?, int(&r, "visitor_read_seq")?))).transpose()
    }

    /// The caller's personal canned replies and the team's, team first, by shortcut.
    pub async fn canned_replies(&self, tenant_id: TenantId, owner: UserId) -> StoreResult<Vec<CannedReply>> {
        let rows = sqlx::query(&format!(
            "SELECT {CANNED_COLUMNS} FROM canned_replies WHERE tenant_id = $1 AND (owner_id = '' OR owner_id = $2) \
             ORDER BY owner_id, shortcut"
        ))
        .bind(tid(tenant_id))
        .bind(owner.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(canned).collect()
    }

    /// One canned reply.
    pub async fn canned_reply(&self, tenant_id: TenantId, id: CannedReplyId) -> StoreResult<CannedReply> {
        let row = sqlx::query(&format!("SELECT {CANNED_COLUMNS} FROM canned_replies WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(canned).transpose()?.ok_or(StoreError::NotFound("canned reply"))
    }

    /// Creates a canned reply (`owner` `None` = team). `AlreadyExists` when the owner has the shortcut already.
    pub async fn create_canned_reply(
        &self,
        tenant_id: TenantId,
        owner: Option<UserId>,
        shortcut: &str,
        title: &str,
        body: &str,
    ) -> StoreResult<CannedReply> {
        let at = now();
        let r = CannedReply {
            id: CannedReplyId::generate(),
            owner,
            shortcut: shortcut.to_owned(),
            title: title.to_owned(),
            text: body.to_owned(),
            created_at: at,
            updated_at: at,
        };
        let done = sqlx::query(
            "INSERT INTO canned_replies (id, tenant_id, owner_id, shortcut, title, text, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(r.id.to_string())
        .bind(tid(tenant_id))
        .bind(owner.map(|o| o.to_string()).unwrap_or_default())
        .bind(shortcut)
        .bind(title)
        .bind(body)
        .bind(millis(at))
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(r),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists("shortcut")),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a canned reply's shortcut, title and text.
    pub async fn update_canned_reply(
        &self,
        tenant_id: TenantId,
        id: CannedReplyId,
        shortcut: &str,
        title: &str,
        body: &str,
    ) -> StoreResult<CannedReply> {
        let done = sqlx::query(
            "UPDATE canned_replies SET shortcut = $1, title = $2, text = $3, updated_at = $4 \
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(shortcut)
        .bind(title)
        .bind(body)
        .bind(millis(now()))
        .bind(tid(tenant_id))
        .bind(id.to_string())
        .execute(&self.pool)
        .await;
        match done {
            Ok(d) if d.rows_affected() == 0 => Err(StoreError::NotFound("canned reply")),
            Ok(_) => self.canned_reply(tenant_id, id).await,
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists("shortcut")),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a canned reply.
    pub async fn delete_canned_reply(&self, tenant_id: TenantId, id: CannedReplyId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM canned_replies WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("canned reply"));
        }
        Ok(())
    }

    /// Stores a file of a conversation (type and size already checked by the caller).
    pub async fn store_attachment(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        uploaded_by: &str,
        name: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> StoreResult<AttachmentRef> {
        use sha2::Digest;
        let reference = AttachmentRef {
            id: AttachmentId::generate(),
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            size: data.len() as i64,
        };
        let sha = hex::encode(sha2::Sha256::digest(&data));
        sqlx::query(
            "INSERT INTO attachments (id, tenant_id, conversation_id, uploaded_by, name, content_type, size, sha256, \
             data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(reference.id.to_string())
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .bind(uploaded_by)
        .bind(name)
        .bind(content_type)
        .bind(reference.size)
        .bind(sha)
        .bind(data)
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(reference)
    }

    /// One attachment with its bytes.
    pub async fn attachment(&self, tenant_id: TenantId, id: AttachmentId) -> StoreResult<StoredAttachment> {
        let row = sqlx::query(
            "SELECT id, conversation_id, name, content_type, size, data FROM attachments \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tid(tenant_id))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("attachment"))?;
        use sqlx::Row;
        Ok(StoredAttachment {
            reference: AttachmentRef {
                id: crate::rows::id(&row, "id")?,
                name: text(&row, "name")?,
                content_type: text(&row, "content_type")?,
                size: int(&row, "size")?,
            },
            conversation_id: crate::rows::id(&row, "conversation_id")?,
            data: row.try_get::<Vec<u8>, _>("data").map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_patterns_escape_wildcards_and_lower_case() {
        assert_eq!(contains_pattern("Ship"), "%ship%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
        assert_eq!(contains_pattern("退货"), "%退货%");
    }
}
