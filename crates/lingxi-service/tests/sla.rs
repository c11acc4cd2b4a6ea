//! SLA wiring with a controlled clock, on SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set:
//! deadlines in business hours, the pending pause, warnings and breaches, and escalation exactly once when two nodes
//! tick at the same time.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lingxi_bus::Bus;
use lingxi_domain::sla::{CalendarSpec, SlaPolicy, WarnBefore};
use lingxi_domain::ticket::{Condition, Field, Op, TicketPriority, TicketStatus};
use lingxi_service::{Authenticated, Services, TicketInput, TicketPatch, TicketSettings};
use lingxi_store::{Actor, Store};
use lingxi_types::*;

#[macro_use]
mod common;
use common::TestResult;

fn policy(
    name: &str,
    first: Option<i64>,
    resolution: Option<i64>,
    business: bool,
    conditions: Vec<Condition>,
) -> SlaPolicy {
    SlaPolicy {
        name: name.into(),
        conditions,
        first_response: first.map(TimeDelta::seconds),
        resolution: resolution.map(TimeDelta::seconds),
        business_hours: business,
        warn_before: WarnBefore::Fraction(0.25),
    }
}

fn settings(policies: Vec<SlaPolicy>, calendar: Option<CalendarSpec>) -> TicketSettings {
    TicketSettings {
        rules: vec![],
        triage_group_id: None,
        auto_classify: false,
        threshold: 0.5,
        sla_policies: policies,
        calendar,
    }
}

fn history_fields(changes: &[lingxi_store::TicketChange]) -> Vec<String> {
    changes.iter().map(|c| c.field.clone()).collect()
}

both_backends!(deadlines_follow_the_policy_and_pause_while_waiting_for_the_customer, deadlines_on);
async fn deadlines_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let services = Services::new(store.clone(), Bus::default());
    let user = store.create_user(t.id, "li@s.test", "Li", Role::Agent, "x").await?;
    let li = Authenticated { tenant: t.clone(), user };
    let urgent = Condition::new(Field::Priority, Op::Eq("urgent".into()));
    services
        .save_ticket_settings(
            t.id,
            settings(
                vec![
                    policy("urgent", Some(1800), Some(4 * 3600), false, vec![urgent]),
                    policy("default", Some(3600), Some(86_400), false, vec![]),
                ],
                None,
            ),
        )
        .await?;
    let who = Actor { user_id: Some(li.user.id), name: "Li".into() };
    let i = TicketInput { title: "紧急".into(), priority: Some(TicketPriority::Urgent), ..Default::default() };
    let (u, _) = services.create_ticket(t.id, &who, "api", i, None).await?;
    assert_eq!(u.sla_policy.as_deref(), Some("urgent"));
    assert_eq!(u.first_response_due, Some(u.created_at + TimeDelta::seconds(1800)));
    assert_eq!(u.resolution_due, Some(u.created_at + TimeDelta::hours(4)));
    // A public reply meets the first-response target: no deadline left for it.
    services.comment_ticket(&li, u.id, "on it", true).await?;
    let u = store.ticket(t.id, u.id).await?;
    assert_eq!(u.first_response_due, None);
    assert!(u.resolution_due.is_some());
    // Waiting for the customer pauses the resolution clock; back to open it runs again, later.
    let before = u.resolution_due;
    let pending = services
        .update_ticket(&li, u.id, &TicketPatch { status: Some(TicketStatus::Pending), ..Default::default() })
        .await?;
    assert_eq!(pending.resolution_due, None);
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let open = services
        .update_ticket(&li, u.id, &TicketPatch { status: Some(TicketStatus::Open), ..Default::default() })
        .await?;
    assert!(open.resolution_due > before, "{:?} vs {before:?}", open.resolution_due);
    // Solved: met.
    let solved = services
        .update_ticket(&li, u.id, &TicketPatch { status: Some(TicketStatus::Solved), ..Default::default() })
        .await?;
    assert_eq!((solved.first_response_due, solved.resolution_due), (None, None));
    // Other tickets get the default policy.
    let (n, _) = services
        .create_ticket(t.id, &who, "api", TicketInput { title: "x".into(), ..Default::default() }, None)
        .await?;
    assert_eq!(n.sla_policy.as_deref(), Some("default"));
    Ok(())
}

both_backends!(business_hours_put_a_friday_evening_deadline_on_monday, business_on);
async fn business_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let services = Services::new(store.clone(), Bus::default());
    let hours = vec!["09:00-18:00".parse()?];
    let week: [Vec<lingxi_domain::sla::TimeRange>; 7] =
        [hours.clone(), hours.clone(), hours.clone(), hours.clone(), hours, vec![], vec![]];
    let calendar = CalendarSpec {
        timezone: "Asia/Shanghai".into(),
        weekly: week,
        holidays: Default::default(),
        makeup_workdays: Default::default(),
    };
    services
        .save_ticket_settings(t.id, settings(vec![policy("biz", Some(2 * 3600), None, true, vec![])], Some(calendar)))
        .await?;
    let who = Actor { user_id: None, name: "api".into() };
    let (ticket, _) = services
        .create_ticket(t.id, &who, "api", TicketInput { title: "x".into(), ..Default::default() }, None)
        .await?;
    let due = ticket.first_response_due.ok_or("due")?;
    // Whenever the test runs, the deadline falls inside Monday–Friday 09:00–18:00 Shanghai time.
    let local = due.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).ok_or("tz")?);
    use chrono::{Datelike, Timelike};
    assert!(local.weekday().num_days_from_monday() < 5, "{local}");
    assert!((9..=18).contains(&local.hour()), "{local}");
    assert!(due >= ticket.created_at + TimeDelta::hours(2));
    Ok(())
}

both_backends!(two_nodes_ticking_at_once_escalate_a_breach_exactly_once, breach_on);
async fn breach_on(a: Store, b: Store) -> TestResult {
    let t = a.create_tenant("s", "S", "wk_s").await?;
    let nodes = [Services::new(a.clone(), Bus::default()), Services::new(b, Bus::default())];
    nodes[0]
        .save_ticket_settings(t.id, settings(vec![policy("p", Some(600), Some(3600), false, vec![])], None))
        .await?;
    let who = Actor { user_id: None, name: "api".into() };
    let (ticket, _) = nodes[0]
        .create_ticket(t.id, &who, "api", TicketInput { title: "x".into(), ..Default::default() }, None)
        .await?;
    let at = |secs: i64| -> DateTime<Utc> { ticket.created_at + TimeDelta::seconds(secs) };
    // Before anything is due: nothing fires.
    assert_eq!(nodes[0].sla_tick(at(60)).await?, 0);
    // Warning of the first response (at 75% of 10 min), on one node only.
    assert_eq!(nodes[1].sla_tick(at(460)).await? + nodes[0].sla_tick(at(460)).await?, 1);
    // Both nodes tick at once, many times, after every deadline has passed.
    let mut tasks = Vec::new();
    for k in 0..8 {
        let node = nodes[k % 2].clone();
        let when = at(2 * 3600);
        tasks.push(tokio::spawn(async move { node.sla_tick(when).await }));
    }
    let mut fired = 0;
    for task in tasks {
        fired += task.await??;
    }
    assert_eq!(fired, 3, "first-response breach, resolution warning and resolution breach, once each");
    let changes = a.ticket_changes(t.id, ticket.id).await?;
    let fields = history_fields(&changes);
    for f in
        ["sla_first_response_warning", "sla_first_response_breach", "sla_resolution_warning", "sla_resolution_breach"]
    {
        assert_eq!(fields.iter().filter(|x| *x == f).count(), 1, "{f} in {fields:?}");
    }
    // Two breaches: normal → high → urgent, each raise recorded.
    assert_eq!(a.ticket(t.id, ticket.id).await?.priority, TicketPriority::Urgent);
    assert_eq!(fields.iter().filter(|x| *x == "priority").count(), 2);
    assert_eq!(nodes[0].sla_tick(at(3 * 3600)).await?, 0, "nothing fires twice");
    let _ = Utc.timestamp_opt(0, 0);
    Ok(())
}
