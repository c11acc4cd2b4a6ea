//! SLA wiring with a controlled clock, on SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set:
//! deadlines in business hours, the pending pause, warnings and breaches, and escalation exactly once when two nodes
//! tick at the same time.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lingxi_bus::Bus;
use lingxi_domain::sla::{CalendarSpec, SlaPolicy, WarnBefore};
use lingxi_domain::ticket::{Condition, Field, Op, TicketPriority, TicketStatus};
use lingxi_service::{Authenticated, ReportBy, Services, TicketInput, TicketPatch, TicketSettings};
use lingxi_store::{Actor, Store};
use lingxi_types::*;
use std::sync::{Arc, Mutex};

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
        escalation: Default::default(),
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
        custom_fields: vec![],
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
    let li = Authenticated::new(user, t.clone());
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
    // A public reply meets the first-response target: its deadline stays (for the report), its timers go.
    let due = u.first_response_due;
    services.comment_ticket(&li, u.id, "on it", true).await?;
    let u = store.ticket(t.id, u.id).await?;
    assert_eq!(u.first_response_due, due);
    assert!(u.first_response_at.is_some_and(|at| Some(at) <= due));
    assert_eq!(services.sla_tick(u.created_at + TimeDelta::seconds(1801)).await?, 0, "no first-response breach");
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
    // Solved in time: the deadlines stay for the report, nothing is left to fire.
    assert_eq!(solved.resolution_due, open.resolution_due);
    assert!(solved.solved_at.is_some_and(|at| Some(at) <= solved.resolution_due));
    assert_eq!(services.sla_tick(solved.created_at + TimeDelta::days(3)).await?, 0);
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

/// A tiny HTTP receiver: answers `status` to the first `fail_first` requests, 200 afterwards, and keeps the bodies.
async fn receiver(
    fail_first: usize,
) -> Result<(String, Arc<Mutex<Vec<String>>>), Box<dyn std::error::Error + Send + Sync>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks/sla", listener.local_addr()?);
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = bodies.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut sock, _)) = listener.accept().await {
            n += 1;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then the body by Content-Length.
            let body = loop {
                let Ok(k) = sock.read(&mut chunk).await else { break None };
                if k == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if rest.len() >= len {
                        break Some(rest.to_owned());
                    }
                }
            };
            let status = if n <= fail_first { "500 Internal Server Error" } else { "200 OK" };
            if n > fail_first
                && let (Some(b), Ok(mut all)) = (body, seen.lock())
            {
                all.push(b);
            }
            let _ = sock
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                .await;
        }
    });
    Ok((url, bodies))
}

both_backends!(a_breach_moves_the_ticket_and_notifies_the_webhook_once, escalation_on);
async fn escalation_on(a: Store, b: Store) -> TestResult {
    let t = a.create_tenant("e", "E", "wk_e").await?;
    let nodes = [Services::new(a.clone(), Bus::default()), Services::new(b, Bus::default())];
    for node in &nodes {
        // The test's receiver listens on loopback, which webhooks may reach only when the operator allows it.
        node.set_outbound_policy(lingxi_service::outbound::OutboundPolicy::parse_list("127.0.0.1")?);
    }
    let lead = a.create_user(t.id, "lead@e.test", "Team Lead", Role::Supervisor, "x").await?;
    a.set_agent_status(t.id, lead.id, AgentStatus::Online).await?;
    let group = lingxi_store::GroupInput {
        name: "Escalations".into(),
        strategy: RoutingStrategy::LeastLoaded,
        skills: vec![],
        sticky: false,
        members: vec![lead.id],
    };
    let group = a.create_group(t.id, &group).await?;
    let (url, bodies) = receiver(1).await?;
    let mut p = policy("vip", Some(600), None, false, vec![]);
    p.escalation.reassign_group_id = Some(group.id.to_string());
    p.escalation.webhook_url = Some(url.clone());
    let mut bad = p.clone();
    bad.escalation.webhook_url = Some("ftp://nope".into());
    assert!(nodes[0].save_ticket_settings(t.id, settings(vec![bad.clone()], None)).await.is_err());
    bad.escalation.webhook_url = Some("http://169.254.169.254/latest/meta-data/".into());
    let refused = nodes[0].save_ticket_settings(t.id, settings(vec![bad], None)).await;
    assert!(refused.as_ref().is_err_and(|e| e.to_string().contains("private")), "{refused:?}");
    nodes[0].save_ticket_settings(t.id, settings(vec![p], None)).await?;
    let who = Actor { user_id: None, name: "api".into() };
    let input = TicketInput { title: "退款还没到账".into(), ..Default::default() };
    let (ticket, _) = nodes[0].create_ticket(t.id, &who, "api", input, None).await?;
    let late = ticket.created_at + TimeDelta::seconds(3600);
    let mut tasks = Vec::new();
    for k in 0..6 {
        let node = nodes[k % 2].clone();
        tasks.push(tokio::spawn(async move { node.sla_tick(late).await }));
    }
    for task in tasks {
        task.await??;
    }
    let moved = a.ticket(t.id, ticket.id).await?;
    assert_eq!((moved.group_id, moved.assignee_id), (Some(group.id), Some(lead.id)), "moved and assigned there");
    assert_eq!(moved.priority, TicketPriority::High);
    // Both nodes deliver at once: one delivery; the receiver fails the first attempt, a later tick retries.
    let (d0, d1) = tokio::join!(nodes[0].deliver_webhooks(late), nodes[1].deliver_webhooks(late));
    assert_eq!(d0? + d1?, 0, "the first attempt got a 500");
    assert_eq!(nodes[0].deliver_webhooks(late).await?, 0, "not before the back-off");
    let later = late + TimeDelta::seconds(31);
    let (d0, d1) = tokio::join!(nodes[0].deliver_webhooks(later), nodes[1].deliver_webhooks(later));
    assert_eq!(d0? + d1?, 1);
    assert_eq!(nodes[1].deliver_webhooks(later + TimeDelta::hours(2)).await?, 0, "delivered once");
    let got = bodies.lock().map(|b| b.clone()).unwrap_or_default();
    assert_eq!(got.len(), 1, "{got:?}");
    let body: serde_json::Value = serde_json::from_str(&got[0])?;
    assert_eq!((body["event"].as_str(), body["ticket"]["number"].as_i64()), (Some("sla.breach"), Some(ticket.number)));
    let records = a.webhook_records(t.id, 10).await?;
    assert_eq!((records.len(), records[0].attempts, records[0].delivered_at.is_some()), (1, 2, true));

    // The compliance report: a second ticket answered at once meets its target; the first one breached.
    let (answered, _) = nodes[0]
        .create_ticket(t.id, &who, "api", TicketInput { title: "发票".into(), ..Default::default() }, None)
        .await?;
    let lead_who = Authenticated::new(lead.clone(), t.clone());
    nodes[0].comment_ticket(&lead_who, answered.id, "已为您开具", true).await?;
    let day = TimeDelta::days(1);
    let report_at = late + TimeDelta::seconds(60);
    let (all, by_group) =
        nodes[0].sla_report(t.id, ReportBy::Group, ticket.created_at - day, report_at + day, report_at).await?;
    assert_eq!((all.tickets, all.first_response.met, all.first_response.breached), (2, 1, 1));
    assert_eq!(all.first_response.met_pct, Some(50.0));
    let escalations = by_group.iter().find(|l| l.name == "Escalations").ok_or("group line")?;
    assert_eq!((escalations.tickets, escalations.first_response.breached), (1, 1));
    let (_, by_agent) =
        nodes[0].sla_report(t.id, ReportBy::Agent, ticket.created_at - day, report_at + day, report_at).await?;
    assert!(by_agent.iter().any(|l| l.name == "Team Lead"));
    // The overdue view: the unanswered ticket past its deadline, not the answered one.
    let overdue = lingxi_store::TicketFilter { overdue_at: Some(report_at.timestamp_millis()), ..Default::default() };
    let ids: Vec<_> = a.list_tickets(t.id, &overdue).await?.0.into_iter().map(|k| k.id).collect();
    assert_eq!(ids, vec![ticket.id]);
    let (empty, _) = nodes[0].sla_report(t.id, ReportBy::Category, late + day, late + day * 2, report_at).await?;
    assert_eq!((empty.tickets, empty.first_response.met_pct), (0, None));
    Ok(())
}
