//! The agent workspace's use cases: the conversation list (views, search, filters, unread counts), read state,
//! typing, the visitor's receipts, canned replies and attachments.

use crate::{Authenticated, ServiceError, ServiceResult, Services, WidgetGrant};
use chrono::{DateTime, NaiveDate, Utc};
use lingxi_bus::Event;
use lingxi_domain::workspace::{self as rules, AttachmentRefusal};
use lingxi_store::{CannedReply, ConversationFilter, ListedConversation};
use lingxi_types::*;
use std::collections::BTreeMap;

/// Which conversations a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListView {
    /// Assigned to the caller.
    Mine,
    /// Queued in the caller's groups (or in none).
    Queue,
    /// Every conversation of the tenant (supervisors and above).
    All,
    /// Mine and my queue: what an agent sees by default.
    MineAndQueue,
}

/// A list request, as the API takes it.
#[derive(Clone, Debug, Default)]
pub struct ListRequest {
    /// `mine`, `queue`, `all`; the default depends on the role.
    pub view: Option<String>,
    /// Statuses (all when empty).
    pub statuses: Vec<ConversationStatus>,
    /// Search words.
    pub q: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Visitor tag.
    pub tag: Option<String>,
    /// Serving agent.
    pub agent: Option<String>,
    /// Created from (RFC 3339 or a date).
    pub from: Option<String>,
    /// Created up to (RFC 3339, or a date: that whole day).
    pub to: Option<String>,
    /// At most.
    pub limit: Option<i64>,
}

/// The longest search text.
pub const MAX_QUERY_CHARS: usize = 200;

/// The longest canned reply text.
pub const MAX_CANNED_CHARS: usize = 2000;

pub(crate) fn is_supervisor(who: &Authenticated) -> bool {
    who.can(lingxi_types::Permission::SuperviseConversations)
}

/// A time bound from RFC 3339 or a `YYYY-MM-DD` date (its start, or with `end_of_day` the start of the next day).
pub fn parse_bound(field: &str, s: &str, end_of_day: bool) -> ServiceResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ServiceError::Invalid(format!("{field} must be an RFC 3339 time or a YYYY-MM-DD date")))?;
    let d = if end_of_day { d.succ_opt().unwrap_or(d) } else { d };
    Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// Splits a search text into words (whitespace separated; at most 8).
fn words(q: &str) -> ServiceResult<Vec<String>> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ServiceError::Invalid(format!("q is longer than {MAX_QUERY_CHARS} characters")));
    }
    Ok(q.split_whitespace().take(8).map(str::to_owned).collect())
}

/// Checks an uploaded file: a plain file name, an allowed type its bytes match, the size limit. Returns the trimmed
/// name and the normalised type.
pub(crate) fn check_upload<'a>(
    name: &'a str,
    declared_type: &str,
    data: &[u8],
) -> ServiceResult<(&'a str, &'static str)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(ServiceError::Invalid("name must be a file name of 1 to 200 characters".into()));
    }
    let kind = rules::check_attachment(declared_type, data).map_err(|e| match e {
        AttachmentRefusal::Size { .. } => ServiceError::TooLarge(e.to_string()),
        AttachmentRefusal::Type(m) => ServiceError::UnsupportedMedia(m),
    })?;
    Ok((name, kind))
}

fn valid_shortcut(s: &str) -> bool {
    (1..=32).contains(&s.chars().count()) && s.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

impl Services {
    /// The conversation list of the workspace.
    pub async fn list_for(&self, who: &Authenticated, req: &ListRequest) -> ServiceResult<Vec<ListedConversation>> {
        let view = match req.view.as_deref() {
            None | Some("") => {
                if is_supervisor(who) {
                    ListView::All
                } else {
                    ListView::MineAndQueue
                }
            }
            Some("mine") => ListView::Mine,
            Some("queue") => ListView::Queue,
            Some("all") => ListView::All,
            Some(_) => return Err(ServiceError::Invalid("view must be mine, queue or all".into())),
        };
        if view == ListView::All && !is_supervisor(who) {
            return Err(ServiceError::Forbidden("only supervisors and admins see every conversation".into()));
        }
        let tenant_id = who.tenant.id;
        let my_groups = || async {
            let groups = self.store.groups(tenant_id).await?;
            ServiceResult::Ok(groups.into_iter().filter(|g| g.members.contains(&who.user.id)).map(|g| g.id).collect())
        };
        let mut filter = ConversationFilter {
            statuses: req.statuses.clone(),
            reader: Some(who.user.id),
            limit: req.limit,
            ..Default::default()
        };
        match view {
            ListView::Mine => filter.assigned_to = Some(who.user.id),
            ListView::Queue => filter.queued_in = Some(my_groups().await?),
            ListView::MineAndQueue => {
                filter.assigned_to = Some(who.user.id);
                filter.queued_in = Some(my_groups().await?);
            }
            ListView::All => {}
        }
        if let Some(q) = req.q.as_deref() {
            filter.words = words(q)?;
        }
        if let Some(c) = req.channel.as_deref().filter(|c| !c.is_empty()) {
            filter.channel = Some(Channel::parse(c).ok_or_else(|| ServiceError::Invalid("unknown channel".into()))?);
        }
        if let Some(tag) = req.tag.as_deref().filter(|t| !t.is_empty()) {
            if tag.chars().count() > 40 {
                return Err(ServiceError::Invalid("tag is longer than 40 characters".into()));
            }
            filter.tag = Some(tag.to_owned());
        }
        if let Some(agent) = req.agent.as_deref().filter(|a| !a.is_empty()) {
            filter.agent = Some(agent.parse().map_err(|_| ServiceError::Invalid("agent must be a user id".into()))?);
        }
        if let Some(from) = req.from.as_deref().filter(|s| !s.is_empty()) {
            filter.created_from = Some(parse_bound("from", from, false)?);
        }
        if let Some(to) = req.to.as_deref().filter(|s| !s.is_empty()) {
            filter.created_before = Some(parse_bound("to", to, true)?);
        }
        Ok(self.store.search_conversations(tenant_id, &filter).await?)
    }

    /// The caller has read a conversation up to `seq`.
    pub async fn mark_read(&self, who: &Authenticated, id: ConversationId, seq: i64) -> ServiceResult<()> {
        let c = self.store.conversation(who.tenant.id, id).await?;
        if seq < 0 {
            return Err(ServiceError::Invalid("seq must not be negative".into()));
        }
        self.store.mark_read(who.tenant.id, id, who.user.id, seq.min(c.last_seq)).await?;
        Ok(())
    }

    /// The visitor is (not) typing.
    pub fn visitor_typing(&self, grant: &WidgetGrant, typing: bool) {
        self.bus.publish(Event::Typing {
            tenant_id: grant.tenant_id,
            conversation_id: grant.conversation_id,
            author: Author::Visitor,
            name: None,
            typing,
        });
    }

    /// An agent is (not) typing in a conversation of their tenant.
    pub async fn agent_typing(&self, who: &Authenticated, id: ConversationId, typing: bool) -> ServiceResult<()> {
        let c = self.store.conversation(who.tenant.id, id).await?;
        self.bus.publish(Event::Typing {
            tenant_id: c.tenant_id,
            conversation_id: c.id,
            author: Author::Agent,
            name: Some(who.user.name.clone()),
            typing,
        });
        Ok(())
    }

    /// The visitor's widget received (`delivered`) or showed (`read`) messages up to these seqs.
    pub async fn visitor_receipt(&self, grant: &WidgetGrant, delivered: i64, read: i64) -> ServiceResult<()> {
        if let Some((delivered_seq, read_seq)) =
            self.store.visitor_receipt(grant.tenant_id, grant.conversation_id, delivered, read).await?
        {
            self.bus.publish(Event::Receipt {
                tenant_id: grant.tenant_id,
                conversation_id: grant.conversation_id,
                delivered_seq,
                read_seq,
            });
        }
        Ok(())
    }

    /// The caller's personal canned replies and the team's.
    pub async fn canned_replies(&self, who: &Authenticated) -> ServiceResult<Vec<CannedReply>> {
        Ok(self.store.canned_replies(who.tenant.id, who.user.id).await?)
    }

    /// The values of the canned-reply variables in a conversation.
    pub async fn canned_values(
        &self,
        who: &Authenticated,
        id: ConversationId,
    ) -> ServiceResult<BTreeMap<&'static str, String>> {
        let c = self.store.conversation(who.tenant.id, id).await?;
        // Contact details are masked for agents here as on the visitor card.
        let v = self.masked_for(who, self.store.live_visitor(who.tenant.id, c.visitor_id).await?);
        let mut values = BTreeMap::new();
        values.insert("visitor.name", v.name);
        values.insert("visitor.email", v.email.unwrap_or_default());
        values.insert("visitor.phone", v.phone.unwrap_or_default());
        values.insert("agent.name", who.user.name.clone());
        values.insert("tenant.name", who.tenant.name.clone());
        Ok(values)
    }

    fn check_canned(shortcut: &str, title: &str, text: &str) -> ServiceResult<()> {
        if !valid_shortcut(shortcut) {
            return Err(ServiceError::Invalid("shortcut must be 1 to 32 letters, digits, '-' or '_'".into()));
        }
        if title.trim().is_empty() || title.chars().count() > 100 {
            return Err(ServiceError::Invalid("title must be 1 to 100 characters".into()));
        }
        if text.trim().is_empty() || text.chars().count() > MAX_CANNED_CHARS {
            return Err(ServiceError::Invalid(format!("text must be 1 to {MAX_CANNED_CHARS} characters")));
        }
        let unknown = rules::unknown_variables(text);
        if !unknown.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "unknown variable(s) {}; known: {}",
                unknown.join(", "),
                rules::CANNED_VARIABLES.join(", ")
            )));
        }
        Ok(())
    }

    /// Creates a canned reply: personal, or for the team (supervisors and above).
    pub async fn create_canned_reply(
        &self,
        who: &Authenticated,
        team: bool,
        shortcut: &str,
        title: &str,
        text: &str,
    ) -> ServiceResult<CannedReply> {
        if team && !is_supervisor(who) {
            return Err(ServiceError::Forbidden("only supervisors and admins manage team replies".into()));
        }
        Self::check_canned(shortcut, title, text)?;
        let owner = if team { None } else { Some(who.user.id) };
        Ok(self.store.create_canned_reply(who.tenant.id, owner, shortcut, title.trim(), text).await?)
    }

    async fn own_canned(&self, who: &Authenticated, id: CannedReplyId) -> ServiceResult<CannedReply> {
        let r = self.store.canned_reply(who.tenant.id, id).await?;
        match r.owner {
            Some(owner) if owner == who.user.id => Ok(r),
            // Someone else's personal reply does not exist for the caller.
            Some(_) => Err(ServiceError::NotFound("canned reply")),
            None if is_supervisor(who) => Ok(r),
            None => Err(ServiceError::Forbidden("only supervisors and admins manage team replies".into())),
        }
    }

    /// Changes a canned reply the caller may manage.
    pub async fn update_canned_reply(
        &self,
        who: &Authenticated,
        id: CannedReplyId,
        shortcut: &str,
        title: &str,
        text: &str,
    ) -> ServiceResult<CannedReply> {
        self.own_canned(who, id).await?;
        Self::check_canned(shortcut, title, text)?;
        Ok(self.store.update_canned_reply(who.tenant.id, id, shortcut, title.trim(), text).await?)
    }

    /// Deletes a canned reply the caller may manage.
    pub async fn delete_canned_reply(&self, who: &Authenticated, id: CannedReplyId) -> ServiceResult<()> {
        self.own_canned(who, id).await?;
        Ok(self.store.delete_canned_reply(who.tenant.id, id).await?)
    }

    /// Checks and stores a file for a conversation of the tenant; `uploaded_by` is `agent:<id>` or `visitor`.
    pub async fn upload_attachment(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        uploaded_by: &str,
        name: &str,
        declared_type: &str,
        data: Vec<u8>,
    ) -> ServiceResult<AttachmentRef> {
        self.store.conversation(tenant_id, conversation_id).await?;
        let (name, kind) = check_upload(name, declared_type, &data)?;
        Ok(self.store.store_attachment(tenant_id, conversation_id, uploaded_by, name, kind, data).await?)
    }

    /// The attachment a message is about to carry: it must belong to the same conversation.
    pub(crate) async fn attachment_for(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        id: Option<AttachmentId>,
    ) -> ServiceResult<Option<AttachmentRef>> {
        let Some(id) = id else { return Ok(None) };
        let a = self.store.attachment(tenant_id, id).await?;
        if a.conversation_id != conversation_id {
            return Err(ServiceError::NotFound("attachment"));
        }
        Ok(Some(a.reference))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_take_times_and_whole_days() -> ServiceResult<()> {
        let from = parse_bound("from", "2026-11-02", false)?;
        let to = parse_bound("to", "2026-11-02", true)?;
        assert_eq!((to - from).num_hours(), 24);
        assert_eq!(parse_bound("from", "2026-11-02T08:00:00+08:00", false)?.to_rfc3339(), "2026-11-02T00:00:00+00:00");
        assert!(parse_bound("from", "yesterday", false).is_err());
        Ok(())
    }

    #[test]
    fn shortcuts_and_words() -> ServiceResult<()> {
        assert!(valid_shortcut("hello") && valid_shortcut("退货_1") && !valid_shortcut("") && !valid_shortcut("a b"));
        assert_eq!(words("  退货  refund ")?, vec!["退货".to_owned(), "refund".to_owned()]);
        assert!(words(&"x".repeat(201)).is_err());
        Ok(())
    }
}
