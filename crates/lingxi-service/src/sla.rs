//! SLA use cases: each ticket's policy, deadlines and timers are recomputed whenever it changes; `sla_tick` fires
//! due timers exactly once across nodes (claim, then mark fired in the same transaction as the effects): a warning
//! is recorded, a breach is recorded and escalates as the policy says (priority raised one level, a move to another
//! group, a webhook through the outbox that `deliver_webhooks` empties). The clock is a parameter.

use crate::{ServiceResult, Services};
use chrono::{DateTime, TimeDelta, Utc};
use lingxi_domain::sla::{
    BusinessCalendar, Calendar, SlaClock, SlaPolicy, SlaState, StatusChange, WarnBefore, pick_policy,
};
use lingxi_domain::ticket::{TicketFacts, TicketStatus};
use lingxi_store::Ticket;
use lingxi_store::{Actor, BreachEffects};
use lingxi_types::TenantId;
use lingxi_types::{GroupId, TicketId};
use serde_json::json;
use std::collections::HashMap;

/// How long a node holds claimed timers before another node may take them.
const CLAIM_LEASE_MS: i64 = 60_000;

fn warning_target(target: TimeDelta, warn: WarnBefore) -> TimeDelta {
    let lead = match warn {
        WarnBefore::Fraction(f) => {
            TimeDelta::milliseconds((target.num_milliseconds() as f64 * f.clamp(0.0, 1.0)) as i64)
        }
        WarnBefore::Remaining(d) => d,
    };
    (target - lead).max(TimeDelta::zero())
}

/// The calendar of a tenant's settings (around the clock without one, or with an unreadable one).
pub(crate) fn calendar_of(spec: Option<&lingxi_domain::sla::CalendarSpec>) -> Calendar {
    match spec.cloned().map(BusinessCalendar::try_from) {
        Some(Ok(c)) => Calendar::from(c),
        _ => Calendar::Always,
    }
}

/// The clocks of a ticket under a policy: (first response, resolution), each with the instant its warning fires.
struct Clocks<'a> {
    first: Option<(SlaClock<'a>, SlaClock<'a>)>,
    resolution: Option<(SlaClock<'a>, SlaClock<'a>)>,
}

fn clocks<'a>(policy: &SlaPolicy, business: &'a Calendar, t: &Ticket, history: &[StatusChange]) -> Clocks<'a> {
    let cal = policy.calendar(business);
    let first = policy.first_response.map(|target| {
        let main = SlaClock::new(cal, target, t.created_at, &[]).completed_at(t.first_response_at);
        let warn = SlaClock::new(cal, warning_target(target, policy.warn_before), t.created_at, &[])
            .completed_at(t.first_response_at);
        (main, warn)
    });
    let resolution = policy.resolution.map(|target| {
        let (pauses, completed) = lingxi_domain::sla::resolution_pauses(history);
        let main = SlaClock::new(cal, target, t.created_at, &pauses).completed_at(completed);
        let warn = SlaClock::new(cal, warning_target(target, policy.warn_before), t.created_at, &pauses)
            .completed_at(completed);
        (main, warn)
    });
    Clocks { first, resolution }
}

fn facts(t: &Ticket) -> TicketFacts {
    TicketFacts {
        subject: t.title.clone(),
        body: t.description.clone(),
        priority: t.priority,
        category: t.category.clone(),
        ticket_type: t.ticket_type.clone(),
        shop: t.shop.clone(),
        platform: t.platform.clone(),
        source: Some(t.source.clone()),
        customer_tier: None,
        tags: t.tags.clone(),
    }
}

/// A ticket's SLA as computed: its policy, deadlines (ms: first response, resolution) and the timers to set.
pub(crate) struct SlaPlan {
    pub policy: Option<String>,
    pub dues: [Option<i64>; 2],
    pub timers: Vec<(&'static str, &'static str, i64)>,
}

/// The SLA of a ticket with this status history under the tenant's settings, at `now`.
pub(crate) fn sla_plan(
    settings: &crate::TicketSettings,
    business: &Calendar,
    t: &Ticket,
    history: &[StatusChange],
    now: DateTime<Utc>,
) -> SlaPlan {
    let Some(policy) = pick_policy(&settings.sla_policies, &facts(t)) else {
        return SlaPlan { policy: None, dues: [None, None], timers: Vec::new() };
    };
    let c = clocks(policy, business, t, history);
    let open = |clock: &SlaClock<'_>| match clock.state_at(now, WarnBefore::Fraction(0.0)) {
        SlaState::Met { .. } => None,
        _ => clock.due(),
    };
    let mut timers: Vec<(&'static str, &'static str, i64)> = Vec::new();
    let mut dues = [None, None];
    for (i, (kind, pair)) in [("first_response", &c.first), ("resolution", &c.resolution)].into_iter().enumerate() {
        // The deadline stays on the ticket once met (the compliance report compares against it); only clocks still
        // running get timers.
        if let Some((main, _)) = pair {
            dues[i] = main.due().map(|d| d.timestamp_millis());
        }
        if let Some((main, warn)) = pair
            && let Some(due) = open(main)
        {
            timers.push((kind, "breach", due.timestamp_millis()));
            if let Some(w) = warn.due().filter(|w| *w < due) {
                timers.push((kind, "warning", w.timestamp_millis()));
            }
        }
    }
    SlaPlan { policy: Some(policy.name.clone()), dues, timers }
}

impl Services {
    async fn status_history(&self, tenant_id: TenantId, t: &Ticket) -> ServiceResult<Vec<StatusChange>> {
        let mut history = vec![StatusChange { at: t.created_at, status: TicketStatus::New }];
        for c in self.store.ticket_changes(tenant_id, t.id).await? {
            if c.field == "status"
                && let Some(status) = c.new_value.as_deref().and_then(|s| s.parse().ok())
            {
                history.push(StatusChange { at: c.created_at, status });
            }
        }
        Ok(history)
    }

    /// Recomputes a ticket's SLA policy, deadlines and timers from its current state.
    pub async fn apply_sla(&self, tenant_id: TenantId, t: &Ticket) -> ServiceResult<()> {
        let settings = self.ticket_settings(tenant_id).await?;
        let business = calendar_of(settings.calendar.as_ref());
        if pick_policy(&settings.sla_policies, &facts(t)).is_none() {
            self.store.set_ticket_sla(tenant_id, t.id, None, None, None, &[]).await?;
            return Ok(());
        }
        let history = self.status_history(tenant_id, t).await?;
        let plan = sla_plan(&settings, &business, t, &history, Utc::now());
        let [first, resolution] = plan.dues;
        self.store.set_ticket_sla(tenant_id, t.id, plan.policy.as_deref(), first, resolution, &plan.timers).await?;
        Ok(())
    }

    /// Fires every SLA timer due at `now` that this node can claim. Returns how many fired here. A breach escalates
    /// as its policy says: priority up, a move to another group (assigned there again), a webhook queued in the
    /// same transaction.
    pub async fn sla_tick(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let now_ms = now.timestamp_millis();
        let mut fired = 0;
        let mut settings_of: HashMap<TenantId, crate::TicketSettings> = HashMap::new();
        loop {
            let claimed = self.store.claim_sla_timers(now_ms, &self.node, CLAIM_LEASE_MS, 100).await?;
            if claimed.is_empty() {
                break;
            }
            for timer in &claimed {
                let Ok(t) = self.store.ticket(timer.tenant_id, timer.ticket_id).await else { continue };
                let what = match (timer.kind.as_str(), timer.stage.as_str()) {
                    ("first_response", "warning") => "首次响应即将超时 / first response due soon",
                    ("first_response", _) => "首次响应已超时 / first response overdue",
                    (_, "warning") => "解决时限即将到期 / resolution due soon",
                    _ => "解决已超时 / resolution overdue",
                };
                let due = chrono::DateTime::from_timestamp_millis(timer.fire_at).unwrap_or(now);
                let note = format!("{what} (#{}, {})", t.number, due.to_rfc3339());
                let effects = if timer.stage == "breach" {
                    let settings = match settings_of.entry(timer.tenant_id) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(self.ticket_settings(timer.tenant_id).await?)
                        }
                    };
                    let policy = settings.sla_policies.iter().find(|p| Some(&p.name) == t.sla_policy.as_ref());
                    let escalation = policy.map(|p| p.escalation.clone()).unwrap_or_default();
                    let mut notifications = Vec::new();
                    if let Some(url) = escalation.webhook_url.clone() {
                        let payload = json!({
                            "event": "sla.breach",
                            "tenant": timer.tenant_id,
                            "clock": timer.kind,
                            "due_at": due.to_rfc3339(),
                            "policy": t.sla_policy,
                            "ticket": {"id": t.id, "number": t.number, "title": t.title, "priority": t.priority,
                                       "status": t.status, "group_id": t.group_id, "assignee_id": t.assignee_id},
                        });
                        notifications.push((url, payload));
                    }
                    for to in &escalation.email_to {
                        let subject = format!("[SLA] #{} {} — {what}", t.number, t.title);
                        let text = format!(
                            "{what}\n\n工单 Ticket: #{} {}\n优先级 Priority: {}\n状态 Status: {}\nSLA: {}\n\
                             到期 Due: {}\n\n— 灵犀 Lingxi",
                            t.number,
                            t.title,
                            t.priority.as_str(),
                            t.status.as_str(),
                            t.sla_policy.as_deref().unwrap_or("-"),
                            due.to_rfc3339(),
                        );
                        notifications.push((crate::mail::mailto(to), json!({"subject": subject, "text": text})));
                    }
                    Some(BreachEffects {
                        raise_priority: escalation.raise_priority,
                        reassign_group: escalation.reassign_group_id.as_deref().and_then(|g| g.parse().ok()),
                        notifications,
                    })
                } else {
                    None
                };
                if self.store.fire_sla_timer(timer, &self.node, now_ms, effects.as_ref(), &note).await? {
                    fired += 1;
                    self.ticket_changed(timer.tenant_id, &t);
                    if let Some(group) = effects.and_then(|e| e.reassign_group) {
                        self.reassign_in_group(timer.tenant_id, timer.ticket_id, group).await?;
                    }
                }
            }
            if claimed.len() < 100 {
                break;
            }
        }
        Ok(fired)
    }

    /// After an escalation moved a ticket to `group` (without assignee): assign it there by the group's strategy.
    async fn reassign_in_group(&self, tenant_id: TenantId, id: TicketId, group: GroupId) -> ServiceResult<()> {
        let old = self.store.ticket(tenant_id, id).await?;
        if old.group_id != Some(group) || old.assignee_id.is_some() {
            return Ok(());
        }
        let Some(assignee) = self.pick_ticket_assignee(tenant_id, group, &old.title, old.category.as_deref()).await?
        else {
            return Ok(());
        };
        let new = Ticket { assignee_id: Some(assignee), ..old.clone() };
        self.store.save_ticket(tenant_id, &old, &new, &Actor { user_id: None, name: "SLA".into() }).await?;
        Ok(())
    }

    /// Delivers due webhooks this node can claim; a failure is retried with back-off (30 s, 1 min, 2 min … up to
    /// an hour) and given up after 12 attempts. Returns how many were delivered.
    pub async fn deliver_webhooks(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let now_ms = now.timestamp_millis();
        let claimed = self.store.claim_webhooks(now_ms, &self.node, 60_000, 20).await?;
        let mut delivered = 0;
        for d in claimed {
            if let Some(to) = d.url.strip_prefix("mailto:") {
                let error = match self.mailer() {
                    None => Some("e-mail is not configured on this server (LINGXI_SMTP_URL)".to_owned()),
                    Some(mailer) => {
                        let payload: serde_json::Value = serde_json::from_str(&d.payload).unwrap_or_default();
                        let subject = payload["subject"].as_str().unwrap_or("Lingxi");
                        let text = payload["text"].as_str().unwrap_or_default();
                        mailer.send(to, subject, text).await.err()
                    }
                };
                let retry_at = (d.attempts + 1 < MAX_WEBHOOK_ATTEMPTS)
                    .then(|| now_ms + (30_000i64 << d.attempts.clamp(0, 7)).min(3_600_000));
                match &error {
                    None => delivered += 1,
                    Some(e) => tracing::warn!(error = %e, attempt = d.attempts + 1, "e-mail delivery failed"),
                }
                self.store.webhook_attempted(&d.id, &self.node, now_ms, error.as_deref(), retry_at).await?;
                continue;
            }
            let request = match self.outbound().post(&d.url) {
                Ok(r) => r,
                Err(refused) => {
                    tracing::warn!(url = %d.url, error = %refused, "webhook refused by the outbound policy");
                    self.store.webhook_attempted(&d.id, &self.node, now_ms, Some(&refused.0), None).await?;
                    continue;
                }
            };
            let sent = request
                .header("user-agent", "Lingxi-Webhook/1")
                .header("content-type", "application/json")
                .header("x-lingxi-event", &d.event)
                .header("x-lingxi-delivery", &d.id)
                .body(d.payload.clone())
                .send()
                .await;
            let error = match sent {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
                Err(e) => Some(crate::outbound::with_causes(&e)),
            };
            let retry_at = (d.attempts + 1 < MAX_WEBHOOK_ATTEMPTS)
                .then(|| now_ms + (30_000i64 << d.attempts.clamp(0, 7)).min(3_600_000));
            if error.is_none() {
                delivered += 1;
            } else {
                tracing::warn!(url = %d.url, error = ?error, attempt = d.attempts + 1, "webhook delivery failed");
            }
            self.store.webhook_attempted(&d.id, &self.node, now_ms, error.as_deref(), retry_at).await?;
        }
        Ok(delivered)
    }
}

/// Attempts before a webhook is given up.
pub const MAX_WEBHOOK_ATTEMPTS: i64 = 12;

/// How one clock did over a set of tickets.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ClockCompliance {
    /// Tickets with this clock (a deadline).
    pub measured: usize,
    /// Met: done before the deadline.
    pub met: usize,
    /// Breached: done late, or not done and past the deadline.
    pub breached: usize,
    /// Not done, deadline still ahead.
    pub pending: usize,
    /// `met / (met + breached)` in percent; `null` when nothing is decided yet.
    pub met_pct: Option<f64>,
    /// Average time from creation to done, in seconds, over those done.
    pub avg_secs: Option<f64>,
}

/// One line of the SLA report.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ComplianceLine {
    /// The group / agent id or the category (`""`: none).
    pub key: String,
    /// What people call it.
    pub name: String,
    /// Tickets under a policy.
    pub tickets: usize,
    /// First response.
    pub first_response: ClockCompliance,
    /// Resolution.
    pub resolution: ClockCompliance,
}

#[derive(Default)]
struct Tally {
    measured: usize,
    met: usize,
    breached: usize,
    pending: usize,
    total_secs: f64,
    done: usize,
}

impl Tally {
    fn add(
        &mut self,
        created: DateTime<Utc>,
        done: Option<DateTime<Utc>>,
        due: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let Some(due) = due else { return };
        self.measured += 1;
        match done {
            Some(d) if d <= due => self.met += 1,
            Some(_) => self.breached += 1,
            None if now > due => self.breached += 1,
            None => self.pending += 1,
        }
        if let Some(d) = done {
            self.done += 1;
            self.total_secs += (d - created).num_milliseconds() as f64 / 1000.0;
        }
    }

    fn finish(&self) -> ClockCompliance {
        let decided = self.met + self.breached;
        ClockCompliance {
            measured: self.measured,
            met: self.met,
            breached: self.breached,
            pending: self.pending,
            met_pct: (decided > 0).then(|| (self.met as f64 * 1000.0 / decided as f64).round() / 10.0),
            avg_secs: (self.done > 0).then(|| (self.total_secs / self.done as f64).round()),
        }
    }
}

/// How the SLA report groups tickets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportBy {
    /// Skill group.
    Group,
    /// Assignee.
    Agent,
    /// Category.
    Category,
}

impl Services {
    /// SLA compliance of the tickets created in `[from, to)`, overall and per group, agent or category, as of `now`.
    pub async fn sla_report(
        &self,
        tenant_id: TenantId,
        by: ReportBy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> ServiceResult<(ComplianceLine, Vec<ComplianceLine>)> {
        let facts = self.store.sla_facts(tenant_id, from.timestamp_millis(), to.timestamp_millis()).await?;
        let names: HashMap<String, String> = match by {
            ReportBy::Group => {
                self.store.groups(tenant_id).await?.into_iter().map(|g| (g.id.to_string(), g.name)).collect()
            }
            ReportBy::Agent => {
                self.store.list_users(tenant_id).await?.into_iter().map(|u| (u.id.to_string(), u.name)).collect()
            }
            ReportBy::Category => HashMap::new(),
        };
        let mut overall = (0usize, Tally::default(), Tally::default());
        let mut lines: std::collections::BTreeMap<String, (usize, Tally, Tally)> = Default::default();
        for f in &facts {
            let key = match by {
                ReportBy::Group => f.group_id.map(|g| g.to_string()),
                ReportBy::Agent => f.assignee_id.map(|u| u.to_string()),
                ReportBy::Category => f.category.clone(),
            }
            .unwrap_or_default();
            for slot in [&mut overall, lines.entry(key).or_default()] {
                slot.0 += 1;
                slot.1.add(f.created_at, f.first_response_at, f.first_response_due, now);
                slot.2.add(f.created_at, f.solved_at, f.resolution_due, now);
            }
        }
        let line = |key: String, (n, first, resolution): &(usize, Tally, Tally)| ComplianceLine {
            name: if key.is_empty() {
                "—".to_owned()
            } else {
                names.get(&key).cloned().unwrap_or_else(|| key.clone())
            },
            key,
            tickets: *n,
            first_response: first.finish(),
            resolution: resolution.finish(),
        };
        let mut items: Vec<ComplianceLine> = lines.into_iter().map(|(k, v)| line(k, &v)).collect();
        items.sort_by(|a, b| b.tickets.cmp(&a.tickets).then_with(|| a.name.cmp(&b.name)));
        let mut all = line(String::new(), &overall);
        all.name = "all".into();
        Ok((all, items))
    }
}
