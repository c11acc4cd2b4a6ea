//! Tickets: per-tenant numbers, optimistic updates that write one history row per changed field, comments.

use crate::rows::{id, int, millis, now, opt_id, opt_text, opt_ts, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use lingxi_domain::ticket::{TicketPriority, TicketStatus};
use lingxi_types::*;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

/// A ticket (工单).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    /// Id.
    pub id: TicketId,
    /// Human-readable number, sequential per tenant (#1, #2, …).
    pub number: i64,
    /// Title.
    pub title: String,
    /// Description (the customer's request).
    pub description: String,
    /// The customer, when known.
    pub requester_id: Option<VisitorId>,
    /// The customer's name as given.
    pub requester_name: Option<String>,
    /// The customer's phone or e-mail as given.
    pub requester_contact: Option<String>,
    /// Where it came from: `conversation`, `widget`, `form`, `email`, `api`, `import`.
    pub source: String,
    /// Shop.
    pub shop: Option<String>,
    /// Platform / marketplace.
    pub platform: Option<String>,
    /// Type (question, incident, refund, …).
    pub ticket_type: Option<String>,
    /// Category (`售后/退货`).
    pub category: Option<String>,
    /// Priority.
    pub priority: TicketPriority,
    /// Status.
    pub status: TicketStatus,
    /// Assignee.
    pub assignee_id: Option<UserId>,
    /// Assignee's name (joined).
    pub assignee_name: Option<String>,
    /// Group.
    pub group_id: Option<GroupId>,
    /// Tags.
    pub tags: Vec<String>,
    /// The tenant's custom fields.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// The conversation it was created from.
    pub conversation_id: Option<ConversationId>,
    /// Idempotency key of imports and API clients (unique per tenant).
    pub external_key: Option<String>,
    /// The user who created it.
    pub created_by: Option<UserId>,
    /// Incremented by every change; updates give the version they read.
    pub version: i64,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// First public reply by an agent.
    pub first_response_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last solved.
    pub solved_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Closed.
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How it was classified and routed when created (classifier label and confidence, matched rules).
    #[schema(value_type = Option<Object>)]
    pub dispatch: Option<serde_json::Value>,
    /// The SLA policy that covers it.
    pub sla_policy: Option<String>,
    /// When the first public reply is due (none once replied, or without a target).
    pub first_response_due: Option<chrono::DateTime<chrono::Utc>>,
    /// When it must be solved (none while waiting for the customer, once solved, or without a target).
    pub resolution_due: Option<chrono::DateTime<chrono::Utc>>,
}

/// A ticket to create; the store gives it its id and number.
#[derive(Clone, Debug, Default)]
pub struct NewTicket {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Customer.
    pub requester_id: Option<VisitorId>,
    /// Customer's name.
    pub requester_name: Option<String>,
    /// Customer's contact.
    pub requester_contact: Option<String>,
    /// Source.
    pub source: String,
    /// Shop.
    pub shop: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Type.
    pub ticket_type: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Priority.
    pub priority: TicketPriority,
    /// Assignee.
    pub assignee_id: Option<UserId>,
    /// Group.
    pub group_id: Option<GroupId>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom fields.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Linked conversation.
    pub conversation_id: Option<ConversationId>,
    /// Idempotency key.
    pub external_key: Option<String>,
    /// How it was classified and routed.
    pub dispatch: Option<serde_json::Value>,
}

/// A tenant's ticket settings as stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketSettingsRow {
    /// The rules (JSON array, validated by the service).
    pub rules: serde_json::Value,
    /// Where low-confidence tickets go.
    pub triage_group_id: Option<GroupId>,
    /// Whether new tickets without a category are classified.
    pub auto_classify: bool,
    /// Triage threshold in thousandths (500 = 0.5).
    pub threshold_permille: i64,
    /// SLA policies (JSON array, validated by the service).
    pub sla_policies: serde_json::Value,
    /// The business calendar (JSON, validated by the service); none = around the clock.
    pub calendar: Option<serde_json::Value>,
    /// Custom field definitions (JSON array, validated by the service).
    pub custom_fields: serde_json::Value,
}

/// A due SLA timer claimed by this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlaTimer {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Ticket.
    pub ticket_id: TicketId,
    /// `first_response` or `resolution`.
    pub kind: String,
    /// `warning` or `breach`.
    pub stage: String,
    /// When it was due to fire (ms).
    pub fire_at: i64,
}

/// What the SLA report needs of one ticket.
#[derive(Clone, Debug)]
pub struct SlaFact {
    /// Group.
    pub group_id: Option<GroupId>,
    /// Assignee.
    pub assignee_id: Option<UserId>,
    /// Category.
    pub category: Option<String>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// First public reply.
    pub first_response_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its deadline.
    pub first_response_due: Option<chrono::DateTime<chrono::Utc>>,
    /// Solved.
    pub solved_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its deadline.
    pub resolution_due: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a breach does besides being recorded (from the policy's escalation).
#[derive(Clone, Debug, Default)]
pub struct BreachEffects {
    /// Raise the priority one level.
    pub raise_priority: bool,
    /// Move the ticket to this group and clear its assignee.
    pub reassign_group: Option<GroupId>,
    /// Queue these notifications in the outbox: (URL, payload); `mailto:` URLs are e-mails (payload
    /// `{"subject","text"}`), others webhooks.
    pub notifications: Vec<(String, serde_json::Value)>,
}

/// Who did something to a ticket.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The user, if a user (none for the system, the widget or an import).
    pub user_id: Option<UserId>,
    /// Display name.
    pub name: String,
}

/// One changed field, for the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketChange {
    /// Field (`status`, `priority`, `assignee`, …) or event (`created`, `comment`).
    pub field: String,
    /// Value before.
    pub old_value: Option<String>,
    /// Value after.
    pub new_value: Option<String>,
    /// Who (name).
    pub actor_name: String,
    /// Who (user).
    pub actor_id: Option<UserId>,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A comment: a public reply (the customer sees it) or an internal note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketComment {
    /// Id.
    pub id: String,
    /// Author (user), if a user.
    pub author_id: Option<UserId>,
    /// Author name.
    pub author_name: String,
    /// Public reply (true) or internal note (false).
    pub public: bool,
    /// Text.
    pub body: String,
    /// Files it carries (download at `/api/v1/ticket-attachments/{id}`).
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Which tickets to list.
#[derive(Clone, Debug, Default)]
pub struct TicketFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<TicketStatus>,
    /// Only assigned to this user.
    pub assignee: Option<UserId>,
    /// Only unassigned.
    pub unassigned: bool,
    /// Only those past a deadline at this time (ms): not answered after the first-response deadline, or not solved
    /// after the resolution deadline (tickets waiting for the customer are not overdue).
    pub overdue_at: Option<i64>,
    /// Only in these groups (any when empty).
    pub groups: Vec<GroupId>,
    /// Only with this tag.
    pub tag: Option<String>,
    /// Words in the title or description (case-insensitive substring; Chinese works).
    pub q: Option<String>,
    /// Page size (default 50, max 500).
    pub limit: Option<i64>,
    /// Offset.
    pub offset: Option<i64>,
}

const TICKET_SELECT: &str =
    "SELECT t.*, u.name AS assignee_name FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("bad {what}: {e}"))
}

fn ticket(row: &AnyRow) -> StoreResult<Ticket> {
    Ok(Ticket {
        id: id(row, "id")?,
        number: int(row, "number")?,
        title: text(row, "title")?,
        description: text(row, "description")?,
        requester_id: opt_id(row, "requester_id")?,
        requester_name: opt_text(row, "requester_name")?,
        requester_contact: opt_text(row, "requester_contact")?,
        source: text(row, "source")?,
        shop: opt_text(row, "shop")?,
        platform: opt_text(row, "platform")?,
        ticket_type: opt_text(row, "ticket_type")?,
        category: opt_text(row, "category")?,
        priority: text(row, "priority")?.parse().map_err(|e| corrupt("priority", e))?,
        status: text(row, "status")?.parse().map_err(|e| corrupt("status", e))?,
        assignee_id: opt_id(row, "assignee_id")?,
        assignee_name: opt_text(row, "assignee_name")?,
        group_id: opt_id(row, "group_id")?,
        tags: serde_json::from_str(&text(row, "tags")?).map_err(|e| corrupt("tags", e))?,
        custom_fields: serde_json::from_str(&text(row, "custom_fields")?).map_err(|e| corrupt("custom fields", e))?,
        conversation_id: opt_id(row, "conversation_id")?,
        external_key: opt_text(row, "external_key")?,
        created_by: opt_id(row, "created_by")?,
        version: int(row, "version")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
        first_response_at: opt_ts(row, "first_response_at")?,
        solved_at: opt_ts(row, "solved_at")?,
        closed_at: opt_ts(row, "closed_at")?,
        dispatch: opt_text(row, "dispatch")?
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| corrupt("dispatch", e))?,
        sla_policy: opt_text(row, "sla_policy")?,
        first_response_due: opt_ts(row, "first_response_due")?,
        resolution_due: opt_ts(row, "resolution_due")?,
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

#[allow(clippy::too_many_arguments)]
async fn record_change(
    tx: &mut Tx<'_>,
    tenant_id: TenantId,
    ticket_id: TicketId,
    actor: &Actor,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ticket_changes (id, tenant_id, ticket_id, actor_id, actor_name, field, old_value, new_value, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(tid(tenant_id))
    .bind(ticket_id.to_string())
    .bind(actor.user_id.map(|u| u.to_string()))
    .bind(&actor.name)
    .bind(field)
    .bind(old)
    .bind(new)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn opt_string<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

/// The history rows between two states of a ticket.
pub fn diff(old: &Ticket, new: &Ticket) -> Vec<(&'static str, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut push = |f: &'static str, a: Option<String>, b: Option<String>| {
        if a != b {
            out.push((f, a, b));
        }
    };
    push("title", Some(old.title.clone()), Some(new.title.clone()));
    push("status", Some(old.status.to_string()), Some(new.status.to_string()));
    push("priority", Some(old.priority.to_string()), Some(new.priority.to_string()));
    push("assignee", opt_string(&old.assignee_id), opt_string(&new.assignee_id));
    push("group", opt_string(&old.group_id), opt_string(&new.group_id));
    push("category", old.category.clone(), new.category.clone());
    push("ticket_type", old.ticket_type.clone(), new.ticket_type.clone());
    push("shop", old.shop.clone(), new.shop.clone());
    push("platform", old.platform.clone(), new.platform.clone());
    push("tags", Some(old.tags.join(", ")), Some(new.tags.join(", ")));
    let (a, b) =
        (serde_json::Value::Object(old.custom_fields.clone()), serde_json::Value::Object(new.custom_fields.clone()));
    push("custom_fields", Some(a.to_string()), Some(b.to_string()));
    out
}

impl Store {
    /// Creates a ticket with the tenant's next number. A second ticket with the same `external_key` is refused
    /// with [`StoreError::AlreadyExists`].
    pub async fn create_ticket(&self, tenant_id: TenantId, new: NewTicket, actor: &Actor) -> StoreResult<Ticket> {
        let id = TicketId::generate();
        let one = BatchTicket {
            id,
            new,
            sla_policy: None,
            first_response_due: None,
            resolution_due: None,
            timers: Vec::new(),
            intake_record: None,
            created_at: now(),
        };
        self.create_tickets_batch(tenant_id, std::slice::from_ref(&one), actor).await?;
        self.ticket(tenant_id, id).await
    }

    /// The tenant's ticket settings (defaults when never saved).
    pub async fn ticket_settings(&self, tenant_id: TenantId) -> StoreResult<TicketSettingsRow> {
        let row = sqlx::query(
            "SELECT rules, triage_group_id, auto_classify, threshold_permille, sla_policies, calendar, custom_fields \
             FROM ticket_settings WHERE tenant_id = $1",
        )
        .bind(tid(tenant_id))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(TicketSettingsRow {
                rules: serde_json::json!([]),
                triage_group_id: None,
                auto_classify: true,
                threshold_permille: 500,
                sla_policies: serde_json::json!([]),
                calendar: None,
                custom_fields: serde_json::json!([]),
            });
        };
        Ok(TicketSettingsRow {
            rules: serde_json::from_str(&text(&r, "rules")?).map_err(|e| corrupt("ticket rules", e))?,
            triage_group_id: opt_id(&r, "triage_group_id")?,
            auto_classify: int(&r, "auto_classify")? != 0,
            threshold_permille: int(&r, "threshold_permille")?,
            sla_policies: serde_json::from_str(&text(&r, "sla_policies")?).map_err(|e| corrupt("sla policies", e))?,
            calendar: opt_text(&r, "calendar")?
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|e| corrupt("calendar", e))?,
            custom_fields: serde_json::from_str(&text(&r, "custom_fields")?)
                .map_err(|e| corrupt("custom fields", e))?,
        })
    }

    /// Saves the tenant's ticket settings.
    pub async fn save_ticket_settings(&self, tenant_id: TenantId, s: &TicketSettingsRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ticket_settings (tenant_id, rules, triage_group_id, auto_classify, threshold_permille, \
             updated_at, sla_policies, calendar, custom_fields) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id) DO UPDATE SET rules = $2, triage_group_id = $3, auto_classify = $4, \
             threshold_permille = $5, updated_at = $6, sla_policies = $7, calendar = $8, custom_fields = $9",
        )
        .bind(tid(tenant_id))
        .bind(s.rules.to_string())
        .bind(opt_string(&s.triage_group_id))
        .bind(i64::from(s.auto_classify))
        .bind(s.threshold_permille)
        .bind(millis(now()))
        .bind(s.sla_policies.to_string())
        .bind(s.calendar.as_ref().map(|c| c.to_string()))
        .bind(s.custom_fields.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a ticket's SLA policy and deadlines and replaces its pending timers with `timers`
    /// (kind, stage, fire at ms). Timers that already fired stay fired and are not scheduled again.
    pub async fn set_ticket_sla(
        &self,
        tenant_id: TenantId,
        ticket_id: TicketId,
        policy: Option<&str>,
        first_response_due: Option<i64>,
        resolution_due: Option<i64>,
        timers: &[(&str, &str, i64)],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE tickets SET sla_policy = $1, first_response_due = $2, resolution_due = $3 \
             WHERE tenant_id = $4 AND id = $5",
        )
        .bind(policy)
        .bind(first_response_due)
        .bind(resolution_due)
        .bind(tid(tenant_id))
        .bind(ticket_id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sla_timers WHERE tenant_id = $1 AND ticket_id = $2 AND fired_at IS NULL")
            .bind(tid(tenant_id))
            .bind(ticket_id.to_string())
            .execute(&mut *tx)
            .await?;
        for (kind, stage, at) in timers {
            sqlx::query(
                "INSERT INTO sla_timers (id, tenant_id, ticket_id, kind, stage, fire_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (ticket_id, kind, stage) DO NOTHING",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(tid(tenant_id))
            .bind(ticket_id.to_string())
            .bind(*kind)
            .bind(*stage)
            .bind(*at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due timers of any tenant for `lease_ms`: no other node gets them meanwhile.
    pub async fn claim_sla_timers(
        &self,
        now_ms: i64,
        node: &str,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<SlaTimer>> {
        let rows = sqlx::query(
            "UPDATE sla_timers SET claimed_by = $1, claimed_until = $2 \
             WHERE fired_at IS NULL AND fire_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
             AND id IN (SELECT id FROM sla_timers WHERE fired_at IS NULL AND fire_at <= $3 \
                        AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY fire_at LIMIT $4) \
             RETURNING id, tenant_id, ticket_id, kind, stage, fire_at",
        )
        .bind(node)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SlaTimer {
                    id: text(r, "id")?,
                    tenant_id: id(r, "tenant_id")?,
                    ticket_id: id(r, "ticket_id")?,
                    kind: text(r, "kind")?,
                    stage: text(r, "stage")?,
                    fire_at: int(r, "fire_at")?,
                })
            })
            .collect()
    }

    /// Fires a claimed timer exactly once: marks it fired and, in the same transaction, records the event in the
    /// ticket's history and (on `escalate`) raises the priority one level. `false` when the timer was no longer this
    /// node's to fire (fired elsewhere, or replaced because the ticket changed).
    pub async fn fire_sla_timer(
        &self,
        timer: &SlaTimer,
        node: &str,
        now_ms: i64,
        breach: Option<&BreachEffects>,
        note: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let marked =
            sqlx::query("UPDATE sla_timers SET fired_at = $1 WHERE id = $2 AND fired_at IS NULL AND claimed_by = $3")
                .bind(now_ms)
                .bind(&timer.id)
                .bind(node)
                .execute(&mut *tx)
                .await?;
        if marked.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let actor = Actor { user_id: None, name: "SLA".into() };
        let field = format!("sla_{}_{}", timer.kind, timer.stage);
        record_change(&mut tx, timer.tenant_id, timer.ticket_id, &actor, &field, None, Some(note), now_ms).await?;
        let raise = breach.is_some_and(|b| b.raise_priority);
        if let Some(b) = breach {
            if let Some(group) = b.reassign_group {
                let row = sqlx::query("SELECT group_id, assignee_id FROM tickets WHERE tenant_id = $1 AND id = $2")
                    .bind(tid(timer.tenant_id))
                    .bind(timer.ticket_id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let (old_group, old_assignee) = (opt_text(&row, "group_id")?, opt_text(&row, "assignee_id")?);
                if old_group.as_deref() != Some(group.to_string().as_str()) {
                    sqlx::query(
                        "UPDATE tickets SET group_id = $1, assignee_id = NULL, version = version + 1, updated_at = $2 \
                         WHERE tenant_id = $3 AND id = $4",
                    )
                    .bind(group.to_string())
                    .bind(now_ms)
                    .bind(tid(timer.tenant_id))
                    .bind(timer.ticket_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                    let new_group = group.to_string();
                    record_change(
                        &mut tx,
                        timer.tenant_id,
                        timer.ticket_id,
                        &actor,
                        "group",
                        old_group.as_deref(),
                        Some(&new_group),
                        now_ms,
                    )
                    .await?;
                    if old_assignee.is_some() {
                        record_change(
                            &mut tx,
                            timer.tenant_id,
                            timer.ticket_id,
                            &actor,
                            "assignee",
                            old_assignee.as_deref(),
                            None,
                            now_ms,
                        )
                        .await?;
                    }
                }
            }
            for (url, payload) in &b.notifications {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, tenant_id, event, url, payload, next_attempt_at, created_at) \
                     VALUES ($1, $2, 'sla.breach', $3, $4, $5, $5)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(tid(timer.tenant_id))
                .bind(url)
                .bind(payload.to_string())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        if raise {
            let row = sqlx::query("SELECT priority FROM tickets WHERE tenant_id = $1 AND id = $2")
                .bind(tid(timer.tenant_id))
                .bind(timer.ticket_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            let old: TicketPriority = text(&row, "priority")?.parse().map_err(|e| corrupt("priority", e))?;
            let new = match old {
                TicketPriority::Low => TicketPriority::Normal,
                TicketPriority::Normal => TicketPriority::High,
                TicketPriority::High | TicketPriority::Urgent => TicketPriority::Urgent,
            };
            if new != old {
                sqlx::query(
                    "UPDATE tickets SET priority = $1, version = version + 1, updated_at = $2 \
                     WHERE tenant_id = $3 AND id = $4",
                )
                .bind(new.as_str())
                .bind(now_ms)
                .bind(tid(timer.tenant_id))
                .bind(timer.ticket_id.to_string())
                .execute(&mut *tx)
                .await?;
                record_change(
                    &mut tx,
                    timer.tenant_id,
                    timer.ticket_id,
                    &actor,
                    "priority",
                    Some(old.as_str()),
                    Some(new.as_str()),
                    now_ms,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Past tickets with a category, newest first: (title, description, category), the classifier's training set.
    pub async fn labelled_tickets(
        &self,
        tenant_id: TenantId,
        limit: i64,
    ) -> StoreResult<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT title, description, category FROM tickets WHERE tenant_id = $1 AND category IS NOT NULL \
             AND category <> '' ORDER BY created_at DESC LIMIT $2",
        )
        .bind(tid(tenant_id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((text(r, "title")?, text(r, "description")?, text(r, "category")?))).collect()
    }

    /// The SLA facts of the tickets created in `[from_ms, to_ms)` that fall under a policy (at most 500,000).
    pub async fn sla_facts(&self, tenant_id: TenantId, from_ms: i64, to_ms: i64) -> StoreResult<Vec<SlaFact>> {
        let rows = sqlx::query(
            "SELECT group_id, assignee_id, category, created_at, first_response_at, first_response_due, solved_at, \
             resolution_due FROM tickets WHERE tenant_id = $1 AND sla_policy IS NOT NULL AND created_at >= $2 \
             AND created_at < $3 LIMIT 500000",
        )
        .bind(tid(tenant_id))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SlaFact {
                    group_id: opt_id(r, "group_id")?,
                    assignee_id: opt_id(r, "assignee_id")?,
                    category: opt_text(r, "category")?,
                    created_at: ts(r, "created_at")?,
                    first_response_at: opt_ts(r, "first_response_at")?,
                    first_response_due: opt_ts(r, "first_response_due")?,
                    solved_at: opt_ts(r, "solved_at")?,
                    resolution_due: opt_ts(r, "resolution_due")?,
                })
            })
            .collect()
    }

    /// Per assignee: unsolved tickets and when they were last given a new ticket (ms), for assignment strategies.
    pub async fn ticket_loads(&self, tenant_id: TenantId) -> StoreResult<Vec<(UserId, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT assignee_id, SUM(CASE WHEN status IN ('new', 'open', 'pending', 'on_hold') THEN 1 ELSE 0 END) \
             AS unsolved, MAX(created_at) AS last FROM tickets WHERE tenant_id = $1 AND assignee_id IS NOT NULL \
             GROUP BY assignee_id",
        )
        .bind(tid(tenant_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((id(r, "assignee_id")?, int(r, "unsolved")?, int(r, "last")?))).collect()
    }

    /// How many tickets of the tenant have a category.
    pub async fn count_labelled_tickets(&self, tenant_id: TenantId) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM tickets WHERE tenant_id = $1 AND category IS NOT NULL AND category <> ''",
        )
        .bind(tid(tenant_id))
        .fetch_one(&self.pool)
        .await?;
        int(&row, "n")
    }

    /// One ticket of the tenant.
    pub async fn ticket(&self, tenant_id: TenantId, id: TicketId) -> StoreResult<Ticket> {
        let row = sqlx::query(&format!("{TICKET_SELECT} WHERE t.tenant_id = $1 AND t.id = $2"))
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket).transpose()?.ok_or(StoreError::NotFound("ticket"))
    }

    /// The ticket an agent created from a conversation, if any (messages the visitor left do not count).
    pub async fn ticket_of_conversation(&self, tenant_id: TenantId, c: ConversationId) -> StoreResult<Option<Ticket>> {
        let row = sqlx::query(&format!(
            "{TICKET_SELECT} WHERE t.tenant_id = $1 AND t.conversation_id = $2 AND t.source = 'conversation' \
             ORDER BY t.number LIMIT 1"
        ))
        .bind(tid(tenant_id))
        .bind(c.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(ticket).transpose()
    }

    /// The ticket with this idempotency key, if any.
    pub async fn ticket_by_key(&self, tenant_id: TenantId, key: &str) -> StoreResult<Option<Ticket>> {
        let row = sqlx::query(&format!("{TICKET_SELECT} WHERE t.tenant_id = $1 AND t.external_key = $2"))
            .bind(tid(tenant_id))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket).transpose()
    }

    /// Tickets matching the filter, most recently changed first, with the total count.
    pub async fn list_tickets(&self, tenant_id: TenantId, f: &TicketFilter) -> StoreResult<(Vec<Ticket>, i64)> {
        let mut cond = String::from(" WHERE t.tenant_id = $1");
        let mut binds: Vec<String> = vec![tid(tenant_id)];
        let mark = |binds: &mut Vec<String>, v: String| {
            binds.push(v);
            format!("${}", binds.len())
        };
        if !f.statuses.is_empty() {
            let marks: Vec<String> = f.statuses.iter().map(|s| mark(&mut binds, s.as_str().into())).collect();
            cond.push_str(&format!(" AND t.status IN ({})", marks.join(", ")));
        }
        if let Some(a) = f.assignee {
            let m = mark(&mut binds, a.to_string());
            cond.push_str(&format!(" AND t.assignee_id = {m}"));
        }
        if f.unassigned {
            cond.push_str(" AND t.assignee_id IS NULL");
        }
        if let Some(now) = f.overdue_at {
            // `now` is an integer the server computed, not user input.
            cond.push_str(&format!(
                " AND t.status NOT IN ('pending', 'solved', 'closed') AND ((t.first_response_at IS NULL \
                 AND t.first_response_due < {now}) OR (t.solved_at IS NULL AND t.resolution_due < {now}))"
            ));
        }
        if !f.groups.is_empty() {
            let marks: Vec<String> = f.groups.iter().map(|g| mark(&mut binds, g.to_string())).collect();
            cond.push_str(&format!(" AND t.group_id IN ({})", marks.join(", ")));
        }
        if let Some(tag) = f.tag.as_deref().filter(|t| !t.trim().is_empty()) {
            let m = mark(
                &mut binds,
                format!("%{}%", crate::kb::like_escape(&serde_json::to_string(tag.trim()).unwrap_or_default())),
            );
            cond.push_str(&format!(" AND t.tags LIKE {m} ESCAPE '\\'"));
        }
        if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let m = mark(&mut binds, format!("%{}%", crate::kb::like_escape(&q.to_lowercase())));
            cond.push_str(&format!(
                " AND (LOWER(t.title) LIKE {m} ESCAPE '\\' OR LOWER(t.description) LIKE {m} ESCAPE '\\')"
            ));
        }
        let count_sql = format!("SELECT COUNT(*) AS n FROM tickets t{cond}");
        let mut count = sqlx::query(&count_sql);
        for b in &binds {
            count = count.bind(b.clone());
        }
        let total = int(&count.fetch_one(&self.pool).await?, "n")?;
        let sql = format!(
            "{TICKET_SELECT}{cond} ORDER BY t.updated_at DESC, t.number DESC LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        let rows = q
            .bind(f.limit.unwrap_or(50).clamp(1, 500))
            .bind(f.offset.unwrap_or(0).max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok((rows.iter().map(ticket).collect::<StoreResult<_>>()?, total))
    }

    /// Saves a ticket's new state if nobody changed it since `expected_version` was read, recording one history row
    /// per changed field. `None` when the version moved on (the caller reloads and retries or reports a conflict).
    pub async fn save_ticket(
        &self,
        tenant_id: TenantId,
        old: &Ticket,
        new: &Ticket,
        actor: &Actor,
    ) -> StoreResult<Option<Ticket>> {
        let changes = diff(old, new);
        if changes.is_empty() {
            return Ok(Some(old.clone()));
        }
        let at = millis(now());
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE tickets SET title = $1, status = $2, priority = $3, assignee_id = $4, group_id = $5, category = $6, \
             ticket_type = $7, shop = $8, platform = $9, tags = $10, custom_fields = $11, solved_at = $12, \
             closed_at = $13, version = version + 1, updated_at = $14 \
             WHERE tenant_id = $15 AND id = $16 AND version = $17",
        )
        .bind(&new.title)
        .bind(new.status.as_str())
        .bind(new.priority.as_str())
        .bind(opt_string(&new.assignee_id))
        .bind(opt_string(&new.group_id))
        .bind(new.category.clone())
        .bind(new.ticket_type.clone())
        .bind(new.shop.clone())
        .bind(new.platform.clone())
        .bind(serde_json::to_string(&new.tags).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::Value::Object(new.custom_fields.clone()).to_string())
        .bind(new.solved_at.map(millis))
        .bind(new.closed_at.map(millis))
        .bind(at)
        .bind(tid(tenant_id))
        .bind(old.id.to_string())
        .bind(old.version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        for (field, a, b) in &changes {
            record_change(&mut tx, tenant_id, old.id, actor, field, a.as_deref(), b.as_deref(), at).await?;
        }
        tx.commit().await?;
        self.ticket(tenant_id, old.id).await.map(Some)
    }

    /// Adds a comment; a public reply by a user is the ticket's first response if it has none yet.
    pub async fn add_ticket_comment(
        &self,
        tenant_id: TenantId,
        ticket_id: TicketId,
        actor: &Actor,
        public: bool,
        body: &str,
        attachments: &[AttachmentId],
    ) -> StoreResult<TicketComment> {
        self.comment(tenant_id, ticket_id, actor, public, body, attachments, None)
            .await?
            .ok_or(StoreError::NotFound("ticket"))
    }

    /// A customer's e-mail reply as a public comment, recorded under its Message-ID in the same transaction: a
    /// message taken in before adds nothing and answers `None`.
    pub async fn add_email_comment(
        &self,
        tenant_id: TenantId,
        ticket_id: TicketId,
        actor: &Actor,
        body: &str,
        attachments: &[AttachmentId],
        message_id: &str,
    ) -> StoreResult<Option<TicketComment>> {
        self.comment(tenant_id, ticket_id, actor, true, body, attachments, Some(message_id)).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn comment(
        &self,
        tenant_id: TenantId,
        ticket_id: TicketId,
        actor: &Actor,
        public: bool,
        body: &str,
        attachments: &[AttachmentId],
        message_id: Option<&str>,
    ) -> StoreResult<Option<TicketComment>> {
        let at = millis(now());
        let mut comment = TicketComment {
            id: uuid::Uuid::now_v7().to_string(),
            author_id: actor.user_id,
            author_name: actor.name.clone(),
            public,
            body: body.to_owned(),
            attachments: vec![],
            created_at: crate::rows::time(at)?,
        };
        let mut tx = self.pool.begin().await?;
        if let Some(mid) = message_id {
            let taken = sqlx::query(
                "INSERT INTO inbound_emails (tenant_id, message_id, ticket_id, outcome, received_at) \
                 VALUES ($1, $2, $3, 'replied', $4) ON CONFLICT DO NOTHING",
            )
            .bind(tid(tenant_id))
            .bind(mid)
            .bind(ticket_id.to_string())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 0 {
                return Ok(None);
            }
        }
        // Claim the uploads: each must be this ticket's and not yet sent with another comment.
        for a in attachments {
            let row = sqlx::query(
                "UPDATE ticket_attachments SET comment_id = $1 WHERE tenant_id = $2 AND ticket_id = $3 AND id = $4 \
                 AND comment_id IS NULL RETURNING id, name, content_type, size",
            )
            .bind(&comment.id)
            .bind(tid(tenant_id))
            .bind(ticket_id.to_string())
            .bind(a.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("attachment"))?;
            comment.attachments.push(AttachmentRef {
                id: id(&row, "id")?,
                name: text(&row, "name")?,
                content_type: text(&row, "content_type")?,
                size: int(&row, "size")?,
            });
        }
        let first = public && actor.user_id.is_some();
        let touched = sqlx::query(
            "UPDATE tickets SET updated_at = $1, version = version + 1, \
             first_response_at = CASE WHEN $2 = 1 AND first_response_at IS NULL THEN $1 ELSE first_response_at END \
             WHERE tenant_id = $3 AND id = $4",
        )
        .bind(at)
        .bind(i64::from(first))
        .bind(tid(tenant_id))
        .bind(ticket_id.to_string())
        .execute(&mut *tx)
        .await?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::NotFound("ticket"));
        }
        sqlx::query(
            "INSERT INTO ticket_comments (id, tenant_id, ticket_id, author_id, author_name, public, body, created_at, \
             attachments) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&comment.id)
        .bind(tid(tenant_id))
        .bind(ticket_id.to_string())
        .bind(opt_string(&actor.user_id))
        .bind(&actor.name)
        .bind(i64::from(public))
        .bind(body)
        .bind(at)
        .bind(serde_json::to_string(&comment.attachments).unwrap_or_else(|_| "[]".into()))
        .execute(&mut *tx)
        .await?;
        let field = if public { "public_reply" } else { "internal_note" };
        record_change(&mut tx, tenant_id, ticket_id, actor, field, None, None, at).await?;
        tx.commit().await?;
        Ok(Some(comment))
    }

    /// The tenant's ticket with this number, if any.
    pub async fn ticket_by_number(&self, tenant_id: TenantId, number: i64) -> StoreResult<Option<Ticket>> {
        let row = sqlx::query(&format!("{TICKET_SELECT} WHERE t.tenant_id = $1 AND t.number = $2"))
            .bind(tid(tenant_id))
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket).transpose()
    }

    /// A ticket's comments, oldest first.
    pub async fn ticket_comments(&self, tenant_id: TenantId, ticket_id: TicketId) -> StoreResult<Vec<TicketComment>> {
        let rows = sqlx::query(
            "SELECT id, author_id, author_name, public, body, created_at, attachments FROM ticket_comments \
             WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY created_at, id",
        )
        .bind(tid(tenant_id))
        .bind(ticket_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketComment {
                    id: text(r, "id")?,
                    author_id: opt_id(r, "author_id")?,
                    author_name: text(r, "author_name")?,
                    public: int(r, "public")? != 0,
                    body: text(r, "body")?,
                    attachments: serde_json::from_str(&text(r, "attachments")?)
                        .map_err(|e| corrupt("comment attachments", e))?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Stores a file for a ticket (checked by the caller); a comment sends it.
    pub async fn store_ticket_attachment(
        &self,
        tenant_id: TenantId,
        ticket_id: TicketId,
        uploaded_by: &str,
        name: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> StoreResult<AttachmentRef> {
        use sha2::Digest;
        let r = AttachmentRef {
            id: AttachmentId::generate(),
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            size: data.len() as i64,
        };
        sqlx::query(
            "INSERT INTO ticket_attachments (id, tenant_id, ticket_id, uploaded_by, name, content_type, size, sha256, \
             data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(r.id.to_string())
        .bind(tid(tenant_id))
        .bind(ticket_id.to_string())
        .bind(uploaded_by)
        .bind(name)
        .bind(content_type)
        .bind(r.size)
        .bind(hex::encode(sha2::Sha256::digest(&data)))
        .bind(data)
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(r)
    }

    /// A ticket's file with its bytes.
    pub async fn ticket_attachment(
        &self,
        tenant_id: TenantId,
        attachment: AttachmentId,
    ) -> StoreResult<(AttachmentRef, Vec<u8>)> {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT id, name, content_type, size, data FROM ticket_attachments WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tid(tenant_id))
        .bind(attachment.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("attachment"))?;
        let r = AttachmentRef {
            id: id(&row, "id")?,
            name: text(&row, "name")?,
            content_type: text(&row, "content_type")?,
            size: int(&row, "size")?,
        };
        Ok((r, row.try_get::<Vec<u8>, _>("data").map_err(|e| corrupt("attachment", e))?))
    }

    /// A ticket's full history, oldest first.
    pub async fn ticket_changes(&self, tenant_id: TenantId, ticket_id: TicketId) -> StoreResult<Vec<TicketChange>> {
        let rows = sqlx::query(
            "SELECT field, old_value, new_value, actor_id, actor_name, created_at FROM ticket_changes \
             WHERE tenant_id = $1 AND ticket_id = $2 ORDER BY created_at, id",
        )
        .bind(tid(tenant_id))
        .bind(ticket_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketChange {
                    field: text(r, "field")?,
                    old_value: opt_text(r, "old_value")?,
                    new_value: opt_text(r, "new_value")?,
                    actor_id: opt_id(r, "actor_id")?,
                    actor_name: text(r, "actor_name")?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }
}

/// A ticket created with others in one transaction (an import's): its id, content, SLA and the intake record it
/// is about.
#[derive(Clone, Debug)]
pub struct BatchTicket {
    /// The id chosen by the caller.
    pub id: TicketId,
    /// The ticket.
    pub new: NewTicket,
    /// Its SLA policy and deadlines (ms), as `set_ticket_sla` would set them.
    pub sla_policy: Option<String>,
    /// First-response deadline (ms).
    pub first_response_due: Option<i64>,
    /// Resolution deadline (ms).
    pub resolution_due: Option<i64>,
    /// Timers: (clock, stage, fire at ms).
    pub timers: Vec<(&'static str, &'static str, i64)>,
    /// The intake record to link to the ticket.
    pub intake_record: Option<String>,
    /// When it is created (its SLA was computed from this instant).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `($k, $k+1, …)` groups for `rows` rows of `cols` columns, numbered from `first`.
fn value_groups(first: usize, rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (0..cols).map(|c| format!("${}", first + r * cols + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Creates many tickets in one transaction, with gapless numbers taken as one block, their "created" history
    /// rows, SLA deadlines and timers, and the links of their intake records; multi-row statements keep the round
    /// trips few. Returns the numbers in order. A ticket whose external key exists already fails the whole batch
    /// with [`StoreError::AlreadyExists`] (nothing is stored; the caller creates them one by one).
    pub async fn create_tickets_batch(
        &self,
        tenant_id: TenantId,
        items: &[BatchTicket],
        actor: &Actor,
    ) -> StoreResult<Vec<i64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO ticket_counters (tenant_id, last) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET last = ticket_counters.last + $2 RETURNING last",
        )
        .bind(tid(tenant_id))
        .bind(items.len() as i64)
        .fetch_one(&mut *tx)
        .await?;
        let last = int(&row, "last")?;
        let first = last - items.len() as i64 + 1;
        let numbers: Vec<i64> = (first..=last).collect();
        // 28 values a row: 22, the literal version 1, then 6 more.
        const COLS: usize = 28;
        for (chunk_no, chunk) in items.chunks(30).enumerate() {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p: Vec<String> = (1..=COLS).map(|k| format!("${}", r * COLS + k)).collect();
                    format!("({}, 1, {})", p[..22].join(", "), p[22..].join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO tickets (id, tenant_id, number, title, description, requester_id, requester_name, \
                 requester_contact, source, shop, platform, ticket_type, category, priority, status, assignee_id, \
                 group_id, tags, custom_fields, conversation_id, external_key, created_by, version, created_at, \
                 updated_at, dispatch, sla_policy, first_response_due, resolution_due) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (i, item) in chunk.iter().enumerate() {
                let n = &item.new;
                q = q
                    .bind(item.id.to_string())
                    .bind(tid(tenant_id))
                    .bind(numbers[chunk_no * 30 + i])
                    .bind(n.title.clone())
                    .bind(n.description.clone())
                    .bind(opt_string(&n.requester_id))
                    .bind(n.requester_name.clone())
                    .bind(n.requester_contact.clone())
                    .bind(n.source.clone())
                    .bind(n.shop.clone())
                    .bind(n.platform.clone())
                    .bind(n.ticket_type.clone())
                    .bind(n.category.clone())
                    .bind(n.priority.as_str())
                    .bind(TicketStatus::New.as_str())
                    .bind(opt_string(&n.assignee_id))
                    .bind(opt_string(&n.group_id))
                    .bind(serde_json::to_string(&n.tags).unwrap_or_else(|_| "[]".into()))
                    .bind(serde_json::Value::Object(n.custom_fields.clone()).to_string())
                    .bind(opt_string(&n.conversation_id))
                    .bind(n.external_key.clone())
                    .bind(opt_string(&actor.user_id))
                    .bind(millis(item.created_at))
                    .bind(millis(item.created_at))
                    .bind(n.dispatch.as_ref().map(|d| d.to_string()))
                    .bind(item.sla_policy.clone())
                    .bind(item.first_response_due)
                    .bind(item.resolution_due);
            }
            match q.execute(&mut *tx).await {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists("ticket external_key")),
                r => r?,
            };
        }
        for (chunk_no, chunk) in items.chunks(80).enumerate() {
            let sql = format!(
                "INSERT INTO ticket_changes (id, tenant_id, ticket_id, actor_id, actor_name, field, old_value, \
                 new_value, created_at) VALUES {}",
                value_groups(1, chunk.len(), 9)
            );
            let mut q = sqlx::query(&sql);
            for (i, item) in chunk.iter().enumerate() {
                q = q
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(tid(tenant_id))
                    .bind(item.id.to_string())
                    .bind(actor.user_id.map(|u| u.to_string()))
                    .bind(actor.name.clone())
                    .bind("created")
                    .bind(None::<String>)
                    .bind(Some(format!("#{}", numbers[chunk_no * 80 + i])))
                    .bind(millis(item.created_at));
            }
            q.execute(&mut *tx).await?;
        }
        let timers: Vec<(TicketId, &str, &str, i64)> =
            items.iter().flat_map(|i| i.timers.iter().map(move |(k, s, at)| (i.id, *k, *s, *at))).collect();
        for chunk in timers.chunks(100) {
            let sql = format!(
                "INSERT INTO sla_timers (id, tenant_id, ticket_id, kind, stage, fire_at) VALUES {}",
                value_groups(1, chunk.len(), 6)
            );
            let mut q = sqlx::query(&sql);
            for (ticket, kind, stage, fire_at) in chunk {
                q = q
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(tid(tenant_id))
                    .bind(ticket.to_string())
                    .bind(kind.to_string())
                    .bind(stage.to_string())
                    .bind(*fire_at);
            }
            q.execute(&mut *tx).await?;
        }
        for item in items {
            if let Some(record) = &item.intake_record {
                sqlx::query("UPDATE intake_records SET ticket_id = $1 WHERE tenant_id = $2 AND id = $3")
                    .bind(item.id.to_string())
                    .bind(tid(tenant_id))
                    .bind(record)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(numbers)
    }

    /// The tickets holding these external keys: key → (id, number).
    pub async fn tickets_by_keys(
        &self,
        tenant_id: TenantId,
        keys: &[String],
    ) -> StoreResult<std::collections::HashMap<String, (TicketId, i64)>> {
        let mut out = std::collections::HashMap::new();
        for chunk in keys.chunks(500) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT id, number, external_key FROM tickets WHERE tenant_id = $1 AND external_key IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(tid(tenant_id));
            for k in chunk {
                q = q.bind(k.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(text(&r, "external_key")?, (id(&r, "id")?, int(&r, "number")?));
            }
        }
        Ok(out)
    }
}
