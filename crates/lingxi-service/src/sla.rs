//! SLA use cases: each ticket's policy, deadlines and timers are recomputed whenever it changes; `sla_tick` fires
//! due timers exactly once across nodes (claim, then mark fired in the same transaction as the effects): a warning
//! is recorded, a breach is recorded and escalates (priority raised one level). The clock is a parameter.

use crate::{ServiceResult, Services};
use chrono::{DateTime, TimeDelta, Utc};
use lingxi_domain::sla::{
    BusinessCalendar, Calendar, SlaClock, SlaPolicy, SlaState, StatusChange, WarnBefore, pick_policy,
};
use lingxi_domain::ticket::{TicketFacts, TicketStatus};
use lingxi_store::Ticket;
use lingxi_types::TenantId;

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
        let Some(policy) = pick_policy(&settings.sla_policies, &facts(t)) else {
            self.store.set_ticket_sla(tenant_id, t.id, None, None, None, &[]).await?;
            return Ok(());
        };
        let history = self.status_history(tenant_id, t).await?;
        let c = clocks(policy, &business, t, &history);
        let open = |clock: &SlaClock<'_>| match clock.state_at(Utc::now(), WarnBefore::Fraction(0.0)) {
            SlaState::Met { .. } => None,
            _ => clock.due(),
        };
        let mut timers: Vec<(&str, &str, i64)> = Vec::new();
        let mut dues = [None, None];
        for (i, (kind, pair)) in [("first_response", &c.first), ("resolution", &c.resolution)].into_iter().enumerate() {
            if let Some((main, warn)) = pair
                && let Some(due) = open(main)
            {
                dues[i] = Some(due.timestamp_millis());
                timers.push((kind, "breach", due.timestamp_millis()));
                if let Some(w) = warn.due().filter(|w| *w < due) {
                    timers.push((kind, "warning", w.timestamp_millis()));
                }
            }
        }
        self.store.set_ticket_sla(tenant_id, t.id, Some(&policy.name), dues[0], dues[1], &timers).await?;
        Ok(())
    }

    /// Fires every SLA timer due at `now` that this node can claim. Returns how many fired here.
    pub async fn sla_tick(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let now_ms = now.timestamp_millis();
        let mut fired = 0;
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
                if self.store.fire_sla_timer(timer, &self.node, now_ms, timer.stage == "breach", &note).await? {
                    fired += 1;
                }
            }
            if claimed.len() < 100 {
                break;
            }
        }
        Ok(fired)
    }
}
