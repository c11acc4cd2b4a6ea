//! Tickets from incoming e-mail. A message (raw RFC 5322 bytes, from the SMTP listener or `POST /tickets/email`)
//! becomes a ticket with source `email`, its sender the requester (a visitor known by that e-mail address), its
//! attachments the ticket's. A reply that names a ticket in its subject (`[#123]`, as every e-mail Lingxi sends
//! does) from that ticket's requester is added to it as the customer's public reply and brings a ticket that waited
//! on the customer (or was solved) back to open. Each message is taken in once, by Message-ID. Automatic mail
//! (auto-replies, bounces, lists, our own sender) is accepted and dropped, so two auto-responders cannot loop.

use crate::customers::normalise_email;
use crate::tickets::TicketInput;
use crate::{ServiceError, ServiceResult, Services};
use lingxi_domain::ticket::TicketStatus;
use lingxi_store::{Actor, Ticket};
use lingxi_types::{AttachmentId, TenantId};
use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// The largest message taken in (the SMTP listener announces it as `SIZE`).
pub const MAX_EMAIL_BYTES: usize = 12 * 1024 * 1024;
/// At most this many addresses per tenant.
pub const MAX_INBOXES: usize = 20;
/// Attachments kept per message; later ones are listed in the description, not stored.
const MAX_ATTACHMENTS: usize = 10;

/// What became of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailOutcome {
    /// A new ticket.
    Created,
    /// A reply added to an existing ticket.
    Replied,
    /// Taken in before (same Message-ID): nothing changed.
    Duplicate,
    /// Automatic mail, dropped on purpose (the reason in English).
    Ignored(String),
}

/// The result of taking in a message.
#[derive(Clone, Debug)]
pub struct InboundEmail {
    /// What happened.
    pub outcome: EmailOutcome,
    /// The ticket it went to (none when ignored).
    pub ticket: Option<Ticket>,
    /// Attachments that could not be kept (type, size, count), by name.
    pub skipped_attachments: Vec<String>,
}

/// The ticket number a subject names: the first `[#123]`.
pub fn ticket_number_in(subject: &str) -> Option<i64> {
    let mut rest = subject;
    while let Some(i) = rest.find("[#") {
        let after = &rest[i + 2..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && digits.len() <= 12 && after[digits.len()..].starts_with(']') {
            return digits.parse().ok();
        }
        rest = after;
    }
    None
}

/// The new text of a reply: the quoted history below it (`> …` lines, "On … wrote:", "在 … 写道：", an
/// "Original Message" divider, Outlook's `From:` block) cut off.
pub fn reply_text(body: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let lines: Vec<&str> = body.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let lower = t.to_lowercase();
        // "On Mon, 7 Dec 2026 at 10:00, Shop <s@x.com> wrote:" as one line or wrapped over up to three.
        let wrapped = |start: &str, end: &[&str]| {
            lower.starts_with(start)
                && lines[i..lines.len().min(i + 3)].iter().any(|l| {
                    let l = l.trim().to_lowercase();
                    end.iter().any(|e| l.ends_with(e))
                })
        };
        let divider = wrapped("on ", &["wrote:"])
            || (t.starts_with('在') && wrapped("在", &["写道：", "写道:"]))
            || lower.contains("-----original message-----")
            || (t.starts_with("---") && t.contains("原始邮件"));
        if divider {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    let text = kept.join("\n");
    let text = text.trim();
    if text.is_empty() { body.trim().to_owned() } else { text.to_owned() }
}

/// Why a message is automatic mail that must not make a ticket, if it is.
fn automatic(m: &mail_parser::Message<'_>, sender: &str, own: Option<&str>) -> Option<String> {
    let header = |name: &str| m.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = header("Auto-Submitted")
        && v != "no"
    {
        return Some(format!("Auto-Submitted: {v}"));
    }
    if let Some(v) = header("Precedence")
        && matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply")
    {
        return Some(format!("Precedence: {v}"));
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id"] {
        if header(h).is_some_and(|v| h != "X-Auto-Response-Suppress" || v.contains("all") || v.contains("autoreply")) {
            return Some(format!("{h} header"));
        }
    }
    let local = sender.split('@').next().unwrap_or_default();
    if matches!(local, "mailer-daemon" | "postmaster" | "noreply" | "no-reply" | "do-not-reply" | "donotreply") {
        return Some(format!("sent by {local}"));
    }
    if own.is_some_and(|o| o == sender) {
        return Some("sent by this server's own address".into());
    }
    None
}

/// The Message-ID, or a digest of the bytes when a message has none (a re-delivery is still recognised).
fn message_key(m: &mail_parser::Message<'_>, raw: &[u8]) -> String {
    match m.message_id().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) if id.len() <= 300 => id.to_owned(),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

impl Services {
    /// The addresses the tenant receives support mail at.
    pub async fn email_inboxes(&self, tenant_id: TenantId) -> ServiceResult<Vec<String>> {
        Ok(self.store.email_inboxes(tenant_id).await?)
    }

    /// Replaces the tenant's support addresses: each a valid address (kept lower-case), at most 20, none another
    /// tenant's.
    pub async fn set_email_inboxes(&self, tenant_id: TenantId, addresses: &[String]) -> ServiceResult<Vec<String>> {
        if addresses.len() > MAX_INBOXES {
            return Err(ServiceError::Invalid(format!("at most {MAX_INBOXES} addresses")));
        }
        let mut clean: Vec<String> = Vec::new();
        for a in addresses {
            let e = normalise_email(a).map_err(|_| ServiceError::Invalid(format!("{a:?} is not an e-mail address")))?;
            if !clean.contains(&e) {
                clean.push(e);
            }
        }
        clean.sort();
        match self.store.set_email_inboxes(tenant_id, &clean).await {
            Ok(()) => Ok(clean),
            Err(lingxi_store::StoreError::AlreadyExists(_)) => {
                for a in &clean {
                    if self.store.email_inbox_tenant(a).await?.is_some_and(|t| t != tenant_id) {
                        return Err(ServiceError::Conflict(format!("{a} already receives mail for another tenant")));
                    }
                }
                Err(ServiceError::Conflict("an address was taken by another tenant meanwhile; save again".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The tenant that receives mail at `address`, if any.
    pub async fn email_inbox_tenant(&self, address: &str) -> ServiceResult<Option<TenantId>> {
        let Ok(a) = normalise_email(address) else { return Ok(None) };
        Ok(self.store.email_inbox_tenant(&a).await?)
    }

    /// Takes in one e-mail for the tenant: a new ticket, a reply to one, a duplicate, or ignored automatic mail.
    /// Returns only once what it made is stored, so a mail server may acknowledge the message then.
    pub async fn receive_email(&self, tenant_id: TenantId, raw: &[u8]) -> ServiceResult<InboundEmail> {
        if raw.len() > MAX_EMAIL_BYTES {
            return Err(ServiceError::TooLarge(format!("an e-mail has at most {} MiB", MAX_EMAIL_BYTES >> 20)));
        }
        let m = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| ServiceError::Invalid("the message is not an e-mail (RFC 5322)".into()))?;
        let from = m
            .from()
            .and_then(|a| a.first())
            .or_else(|| m.sender().and_then(|a| a.first()))
            .ok_or_else(|| ServiceError::Invalid("the e-mail has no From address".into()))?;
        let sender = from
            .address()
            .and_then(|a| normalise_email(a).ok())
            .ok_or_else(|| ServiceError::Invalid("the From address is not an e-mail address".into()))?;
        let name: String = from
            .name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| sender.split('@').next().unwrap_or(&sender))
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let own = self.mailer().map(|m| m.from_address());
        if let Some(why) = automatic(&m, &sender, own.as_deref()) {
            tracing::info!(tenant = %tenant_id, error = %why, "incoming e-mail ignored");
            return Ok(InboundEmail { outcome: EmailOutcome::Ignored(why), ticket: None, skipped_attachments: vec![] });
        }
        let key = message_key(&m, raw);
        let ticket_key = format!("email:{}", &hex::encode(Sha256::digest(key.as_bytes()))[..40]);
        if let Some(t) = self.store.ticket_by_key(tenant_id, &ticket_key).await? {
            return Ok(InboundEmail { outcome: EmailOutcome::Duplicate, ticket: Some(t), skipped_attachments: vec![] });
        }
        if let Some(id) = self.store.inbound_email(tenant_id, &key).await? {
            let t = self.store.ticket(tenant_id, id).await?;
            return Ok(InboundEmail { outcome: EmailOutcome::Duplicate, ticket: Some(t), skipped_attachments: vec![] });
        }
        let subject: String =
            m.subject().map(str::trim).unwrap_or_default().chars().filter(|c| !c.is_control()).collect();
        // The text part, or the HTML part as text (mail-parser converts it).
        let body = m.body_text(0).map(|b| b.into_owned()).unwrap_or_default().replace("\r\n", "\n");
        let actor = Actor { user_id: None, name: name.clone() };

        // A reply from the requester to one of their tickets.
        let mut follow_up_of = None;
        if let Some(number) = ticket_number_in(&subject)
            && let Some(t) = self.store.ticket_by_number(tenant_id, number).await?
            && self.is_requester(tenant_id, &t, &sender).await?
        {
            if t.status == TicketStatus::Closed {
                follow_up_of = Some(t.number);
            } else {
                let text: String = reply_text(&body).chars().take(20_000).collect();
                let (ids, skipped) = self.store_email_attachments(tenant_id, &t, &actor, &m).await?;
                let text = with_skipped(text, &skipped);
                let text = if text.is_empty() { "（邮件无正文 / no text）".to_owned() } else { text };
                let Some(_) = self.store.add_email_comment(tenant_id, t.id, &actor, &text, &ids, &key).await? else {
                    let t = self.store.ticket(tenant_id, t.id).await?;
                    return Ok(InboundEmail {
                        outcome: EmailOutcome::Duplicate,
                        ticket: Some(t),
                        skipped_attachments: skipped,
                    });
                };
                let reopened = match t.status {
                    TicketStatus::Pending | TicketStatus::Solved => Some(TicketStatus::Open),
                    _ => None,
                };
                if let Some(status) = reopened {
                    let old = self.store.ticket(tenant_id, t.id).await?;
                    let new = Ticket { status, ..old.clone() };
                    // An agent may have moved it meanwhile; the reply stands either way.
                    if let Some(saved) = self.store.save_ticket(tenant_id, &old, &new, &actor).await? {
                        self.apply_sla(tenant_id, &saved).await?;
                    }
                }
                let t = self.store.ticket(tenant_id, t.id).await?;
                self.ticket_changed(tenant_id, &t);
                return Ok(InboundEmail {
                    outcome: EmailOutcome::Replied,
                    ticket: Some(t),
                    skipped_attachments: skipped,
                });
            }
        }

        // A new ticket.
        let identities = vec![(lingxi_store::IdentityKind::Email, sender.clone())];
        let visitor = self.store.resolve_visitor(tenant_id, &identities, &name).await?;
        let mut title: String = subject.chars().take(200).collect();
        if title.is_empty() {
            title = body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").chars().take(80).collect();
        }
        if title.is_empty() {
            title = format!("来自 {sender} 的邮件 / E-mail from {sender}");
        }
        let mut description = body.trim().to_owned();
        if let Some(n) = follow_up_of {
            description = format!("（回复已关闭的工单 #{n} / a reply to closed ticket #{n}）\n\n{description}");
        }
        let description: String = description.chars().take(20_000).collect();
        let input = TicketInput {
            title,
            description,
            requester_id: Some(visitor.id),
            requester_name: Some(name.clone()),
            requester_contact: Some(sender.clone()),
            external_key: Some(ticket_key),
            ..Default::default()
        };
        let (t, created) = self.create_ticket(tenant_id, &actor, "email", input, None).await?;
        if !created {
            return Ok(InboundEmail { outcome: EmailOutcome::Duplicate, ticket: Some(t), skipped_attachments: vec![] });
        }
        let (ids, skipped) = self.store_email_attachments(tenant_id, &t, &actor, &m).await?;
        if !ids.is_empty() || !skipped.is_empty() {
            let text = with_skipped(String::new(), &skipped);
            self.store.add_ticket_comment(tenant_id, t.id, &actor, true, &text, &ids).await?;
        }
        self.acknowledge_email(tenant_id, &t, &sender).await?;
        let t = self.store.ticket(tenant_id, t.id).await?;
        self.ticket_changed(tenant_id, &t);
        Ok(InboundEmail { outcome: EmailOutcome::Created, ticket: Some(t), skipped_attachments: skipped })
    }

    /// Whether `sender` is the ticket's requester: its contact, or an e-mail address of its requester.
    async fn is_requester(&self, tenant_id: TenantId, t: &Ticket, sender: &str) -> ServiceResult<bool> {
        if t.requester_contact.as_deref().and_then(|c| normalise_email(c).ok()).as_deref() == Some(sender) {
            return Ok(true);
        }
        if let Some(v) = t.requester_id
            && let Ok(v) = self.store.visitor(tenant_id, v).await
        {
            return Ok(v.email.as_deref().and_then(|e| normalise_email(e).ok()).as_deref() == Some(sender));
        }
        Ok(false)
    }

    /// Stores the message's attachments with the ticket (each checked like an upload); returns the stored ids and
    /// the names of those refused, with why.
    async fn store_email_attachments(
        &self,
        tenant_id: TenantId,
        t: &Ticket,
        actor: &Actor,
        m: &mail_parser::Message<'_>,
    ) -> ServiceResult<(Vec<AttachmentId>, Vec<String>)> {
        let by = format!("customer:{}", actor.name);
        let (mut ids, mut skipped) = (Vec::new(), Vec::new());
        for (i, part) in m.attachments().enumerate() {
            let name: String = part
                .attachment_name()
                .map(|n| n.replace(['/', '\\'], "_"))
                .unwrap_or_else(|| format!("attachment-{}", i + 1));
            if ids.len() >= MAX_ATTACHMENTS {
                skipped.push(format!("{name} (more than {MAX_ATTACHMENTS} files)"));
                continue;
            }
            let declared = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{s}", c.ctype()),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_default()
                .to_ascii_lowercase();
            match crate::workspace::check_upload(&name, &declared, part.contents()) {
                Ok((name, kind)) => {
                    let r = self
                        .store
                        .store_ticket_attachment(tenant_id, t.id, &by, name, kind, part.contents().to_vec())
                        .await?;
                    ids.push(r.id);
                }
                Err(e) => skipped.push(format!("{name} ({e})")),
            }
        }
        Ok((ids, skipped))
    }

    /// Tells the sender their message became ticket #N (when e-mail is on); the subject carries the number, so
    /// their reply finds the ticket.
    async fn acknowledge_email(&self, tenant_id: TenantId, t: &Ticket, to: &str) -> ServiceResult<()> {
        if self.mailer().is_none() {
            return Ok(());
        }
        let tenant = self.store.tenant(tenant_id).await?;
        let subject = format!("[#{}] {}", t.number, t.title);
        let text = format!(
            "您好，我们已收到您的邮件，工单号 #{n}。客服会尽快回复；回复本邮件即可补充信息。\n\
             Hello, we received your message as ticket #{n}. An agent will answer soon; reply to this e-mail to add \
             anything.\n\n— {name}",
            n = t.number,
            name = tenant.name
        );
        let payload = serde_json::json!({"subject": subject, "text": text});
        let now = chrono::Utc::now().timestamp_millis();
        self.store.queue_notification(tenant_id, "ticket.received", &crate::mail::mailto(to), &payload, now).await?;
        Ok(())
    }
}

/// The text with a line naming the attachments that were not kept.
fn with_skipped(text: String, skipped: &[String]) -> String {
    if skipped.is_empty() {
        return text;
    }
    let list = skipped.join("; ");
    let line = format!("（未保存的附件 / attachments not kept: {list}）");
    if text.is_empty() { line } else { format!("{text}\n\n{line}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ticket_number_in_a_subject() {
        assert_eq!(ticket_number_in("Re: [#42] 退款"), Some(42));
        assert_eq!(ticket_number_in("回复：[#7]"), Some(7));
        assert_eq!(ticket_number_in("[#] x [#12a] [#9]"), Some(9));
        assert_eq!(ticket_number_in("#42 no brackets"), None);
        assert_eq!(ticket_number_in("[#1234567890123] too long"), None);
    }

    #[test]
    fn cuts_the_quoted_history_off_a_reply() {
        let en = "Thanks, it works now.\n\nOn Mon, 7 Dec 2026 at 10:00, Shop <s@x.com> wrote:\n> old text\n";
        assert_eq!(reply_text(en), "Thanks, it works now.");
        let zh = "还是没收到退款\n\n在 2026年12月7日 10:00，客服 写道：\n> 已处理\n";
        assert_eq!(reply_text(zh), "还是没收到退款");
        let wrapped =
            "Got it.\n\nOn Mon, 7 Dec 2026 at 10:00, Very Long Shop Name\n<support@shop.example> wrote:\n> old\n";
        assert_eq!(reply_text(wrapped), "Got it.");
        assert_eq!(reply_text("On time delivery please.\nThanks"), "On time delivery please.\nThanks");
        let outlook = "OK\n\n-----Original Message-----\nFrom: a\n";
        assert_eq!(reply_text(outlook), "OK");
        assert_eq!(reply_text("> only quoted\n> text"), "> only quoted\n> text");
        assert_eq!(reply_text("line one\n> quoted inline\nline two"), "line one\nline two");
    }
}
