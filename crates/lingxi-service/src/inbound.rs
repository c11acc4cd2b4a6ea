//! Tickets from incoming e-mail. A message (raw RFC 5322 bytes, from the SMTP listener or `POST /tickets/email`)
//! becomes a ticket with source `email`, its sender the requester (a visitor known by that e-mail address), its
//! attachments the ticket's. A reply that names a ticket in its subject (`[#123]`, as every e-mail Lingxi sends
//! does) from that ticket's requester is added to it as the customer's public reply and brings a ticket that waited
//! on the customer (or was solved) back to open. Each message is taken in once, by Message-ID. Automatic mail
//! (auto-replies, bounces, lists, our own sender) is accepted and dropped, so two auto-responders cannot loop.

use crate::customers::normalise_email;
use crate::tickets::TicketInput;
use crate::{ServiceError, ServiceResult, Services};
use lingxi_domain::email::{ReadEmail, read_email};
pub use lingxi_domain::email::{reply_text, ticket_number_in};
use lingxi_domain::ticket::TicketStatus;
use lingxi_store::{Actor, Ticket};
use lingxi_types::{AttachmentId, TenantId};
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
        let own = self.mailer().map(|m| m.from_address());
        let mail = read_email(raw, own.as_deref()).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        if let Some(why) = mail.automatic {
            tracing::info!(tenant = %tenant_id, error = %why, "incoming e-mail ignored");
            return Ok(InboundEmail { outcome: EmailOutcome::Ignored(why), ticket: None, skipped_attachments: vec![] });
        }
        let ReadEmail { sender, name, subject, body, key, attachments, .. } = mail;
        let ticket_key = format!("email:{}", &hex::encode(Sha256::digest(key.as_bytes()))[..40]);
        if let Some(t) = self.store.ticket_by_key(tenant_id, &ticket_key).await? {
            return Ok(InboundEmail { outcome: EmailOutcome::Duplicate, ticket: Some(t), skipped_attachments: vec![] });
        }
        if let Some(id) = self.store.inbound_email(tenant_id, &key).await? {
            let t = self.store.ticket(tenant_id, id).await?;
            return Ok(InboundEmail { outcome: EmailOutcome::Duplicate, ticket: Some(t), skipped_attachments: vec![] });
        }
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
                let (ids, skipped) = self.store_email_attachments(tenant_id, &t, &actor, &attachments).await?;
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
        let (ids, skipped) = self.store_email_attachments(tenant_id, &t, &actor, &attachments).await?;
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
        attachments: &[(String, String, Vec<u8>)],
    ) -> ServiceResult<(Vec<AttachmentId>, Vec<String>)> {
        let by = format!("customer:{}", actor.name);
        let (mut ids, mut skipped) = (Vec::new(), Vec::new());
        for (name, declared, data) in attachments {
            if ids.len() >= MAX_ATTACHMENTS {
                skipped.push(format!("{name} (more than {MAX_ATTACHMENTS} files)"));
                continue;
            }
            match crate::workspace::check_upload(name, declared, data) {
                Ok((name, kind)) => {
                    let r = self.store.store_ticket_attachment(tenant_id, t.id, &by, name, kind, data.clone()).await?;
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
