//! Multi-shop intake below HTTP, on SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set: shipped and
//! saved mappings, idempotent re-imports, refunds and negative reviews becoming tickets once, all-or-nothing, the
//! background run with its report, and tenant isolation.

use lingxi_bus::Bus;
use lingxi_intake::{ApplyPolicy, Format};
use lingxi_service::{IntakeProgress, IntakeUpload, ServiceError, Services};
use lingxi_store::{Store, TicketFilter};
use std::sync::Arc;

#[macro_use]
mod common;
use common::TestResult;

fn quiet() -> IntakeProgress {
    Arc::new(|_, _, _| {})
}

both_backends!(imports_are_idempotent_and_make_tickets_once, idempotent_on);
async fn idempotent_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("in", "In", "wk_in").await?;
    let other = store.create_tenant("in2", "In2", "wk_in2").await?;
    let s = Services::new(store.clone(), Bus::default());
    let refunds = lingxi_intake::shipped("tmall-refunds").ok_or("shipped")?;
    let plan = s.intake_plan(t.id, "tmall-refunds").await?;
    let run = store.start_intake_run(t.id, &plan.source, refunds.sample_name, None).await?;
    let first =
        s.run_intake(t.id, &run.id, &plan, Format::Csv, refunds.sample, ApplyPolicy::AllOrNothing, quiet()).await?;
    assert!(first.applied && first.errors.is_empty(), "{first:?}");
    assert_eq!(first.created, first.rows_read - first.duplicates);
    assert_eq!(first.tickets_created, first.created, "every refund becomes a ticket");
    let tickets = store.list_tickets(t.id, &TicketFilter::default()).await?.0;
    assert_eq!(tickets.len(), first.tickets_created);
    assert!(tickets.iter().all(|k| k.source == "import" && k.platform.as_deref() == Some("tmall")));
    // The same file again: nothing new, no second ticket.
    let again =
        s.run_intake(t.id, &run.id, &plan, Format::Csv, refunds.sample, ApplyPolicy::AllOrNothing, quiet()).await?;
    assert_eq!((again.created, again.updated, again.unchanged, again.tickets_created), (0, 0, first.created, 0));
    // A changed row is an update, still no second ticket.
    let text = std::str::from_utf8(refunds.sample)?;
    let changed = text.replacen("买家已经申请退款，等待卖家同意", "退款成功", 1);
    let third =
        s.run_intake(t.id, &run.id, &plan, Format::Csv, changed.as_bytes(), ApplyPolicy::AllOrNothing, quiet()).await?;
    assert_eq!((third.created, third.updated, third.tickets_created), (0, 1, 0));
    assert_eq!(store.list_tickets(t.id, &TicketFilter::default()).await?.0.len(), first.tickets_created);

    // Reviews: only negative ones become tickets; a saved source can turn tickets off.
    let reviews = lingxi_intake::shipped("jd-reviews").ok_or("shipped")?;
    let plan = s.intake_plan(t.id, "jd-reviews").await?;
    let r = s.run_intake(t.id, &run.id, &plan, Format::Csv, reviews.sample, ApplyPolicy::AllOrNothing, quiet()).await?;
    assert!(r.tickets_created > 0 && r.tickets_created < r.created, "{r:?}");
    let saved = s.save_intake_source(other.id, None, "京东评价", reviews.mapping_json, false).await?;
    let plan = s.intake_plan(other.id, &saved.name).await?;
    let o =
        s.run_intake(other.id, &run.id, &plan, Format::Csv, reviews.sample, ApplyPolicy::AllOrNothing, quiet()).await?;
    assert_eq!((o.created, o.tickets_created), (r.created, 0));
    assert!(store.list_tickets(other.id, &TicketFilter::default()).await?.0.is_empty());
    // Sources are per tenant.
    assert!(matches!(s.intake_plan(t.id, "京东评价").await, Err(ServiceError::NotFound(_))));
    assert!(matches!(
        s.save_intake_source(t.id, None, "bad", "{\"kind\": 1}", true).await,
        Err(ServiceError::Invalid(_))
    ));
    Ok(())
}

both_backends!(a_record_longer_than_a_ticket_allows_still_makes_its_ticket, long_fields_on);
async fn long_fields_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("long", "Long", "wk_long").await?;
    let s = Services::new(store.clone(), Bus::default());
    let refunds = lingxi_intake::shipped("tmall-refunds").ok_or("shipped")?;
    let plan = s.intake_plan(t.id, "tmall-refunds").await?;
    let run = store.start_intake_run(t.id, &plan.source, refunds.sample_name, None).await?;
    // A shop name of 150 characters: the record keeps it, the ticket (at most 100) gets it cut.
    let long_shop = "灵犀旗舰店".repeat(30);
    let text = std::str::from_utf8(refunds.sample)?.replacen("灵犀旗舰店", &long_shop, 1);
    let report =
        s.run_intake(t.id, &run.id, &plan, Format::Csv, text.as_bytes(), ApplyPolicy::AllOrNothing, quiet()).await?;
    assert!(report.applied && report.errors.is_empty(), "{report:?}");
    assert_eq!(report.tickets_created, report.created, "{report:?}");
    let tickets = store.list_tickets(t.id, &TicketFilter::default()).await?.0;
    let cut = tickets.iter().find(|k| k.shop.as_deref().is_some_and(|s| s.starts_with("灵犀旗舰店灵犀")));
    assert_eq!(cut.and_then(|k| k.shop.as_ref()).map(|s| s.chars().count()), Some(100), "{tickets:?}");
    Ok(())
}

both_backends!(an_import_links_a_ticket_that_holds_its_key_and_numbers_stay_gapless, batch_on);
async fn batch_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("batch", "Batch", "wk_batch").await?;
    let s = Services::new(store.clone(), Bus::default());
    let refunds = lingxi_intake::shipped("tmall-refunds").ok_or("shipped")?;
    let plan = s.intake_plan(t.id, "tmall-refunds").await?;
    // A ticket made through the API already holds the key of the file's first refund.
    let first_id = std::str::from_utf8(refunds.sample)?
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .ok_or("first row")?
        .trim_start_matches('\u{feff}')
        .to_owned();
    let who = lingxi_store::Actor { user_id: None, name: "api".into() };
    let input = lingxi_service::TicketInput {
        title: "已有的工单".into(),
        external_key: Some(format!("tmall:refund:{first_id}")),
        ..Default::default()
    };
    let (held, _) = s.create_ticket(t.id, &who, "api", input, None).await?;
    // An SLA policy: the batch gives imported tickets their deadlines and timers as one by one would.
    let policy = lingxi_domain::sla::SlaPolicy {
        name: "refunds".into(),
        conditions: vec![],
        first_response: Some(chrono::TimeDelta::hours(4)),
        resolution: Some(chrono::TimeDelta::hours(48)),
        business_hours: false,
        warn_before: lingxi_domain::sla::WarnBefore::Fraction(0.25),
        escalation: Default::default(),
    };
    let settings = lingxi_service::TicketSettings {
        rules: vec![],
        triage_group_id: None,
        auto_classify: false,
        threshold: 0.5,
        sla_policies: vec![policy],
        calendar: None,
        custom_fields: vec![],
    };
    s.save_ticket_settings(t.id, settings).await?;
    let run = store.start_intake_run(t.id, &plan.source, refunds.sample_name, None).await?;
    let report =
        s.run_intake(t.id, &run.id, &plan, Format::Csv, refunds.sample, ApplyPolicy::AllOrNothing, quiet()).await?;
    assert_eq!(report.tickets_created, report.created - 1, "the held key gets no second ticket: {report:?}");
    let tickets = store.list_tickets(t.id, &TicketFilter { limit: Some(500), ..Default::default() }).await?.0;
    let mut numbers: Vec<i64> = tickets.iter().map(|k| k.number).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=tickets.len() as i64).collect::<Vec<_>>(), "gapless numbers");
    let imported: Vec<_> = tickets.iter().filter(|k| k.source == "import").collect();
    assert!(!imported.is_empty());
    for k in &imported {
        assert_eq!(k.sla_policy.as_deref(), Some("refunds"), "#{}", k.number);
        let first = k.first_response_due.ok_or("first response due")?;
        assert_eq!(first - k.created_at, chrono::TimeDelta::hours(4), "#{}", k.number);
        assert!(k.resolution_due.is_some());
    }
    // Their timers fire: four hours on, every imported ticket's first response is overdue.
    let late = imported[0].created_at + chrono::TimeDelta::hours(5);
    assert!(s.sla_tick(late).await? >= imported.len(), "a breach (and a warning) per imported ticket");
    let history = store.ticket_changes(t.id, tickets.iter().find(|k| k.id != held.id).ok_or("one")?.id).await?;
    assert!(history.iter().any(|c| c.field == "created"), "{history:?}");
    Ok(())
}

both_backends!(a_bad_row_applies_nothing_unless_asked, all_or_nothing_on);
async fn all_or_nothing_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("an", "An", "wk_an").await?;
    let s = Services::new(store.clone(), Bus::default());
    let refunds = lingxi_intake::shipped("tmall-refunds").ok_or("shipped")?;
    let text = std::str::from_utf8(refunds.sample)?;
    // Break the refund amount of the second data row (row 3 of the file).
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines[2].contains(",899.00,智能"));
    lines[2] = lines[2].replacen(",899.00,智能", ",lots,智能", 1);
    let broken = lines.join("\n");
    let plan = s.intake_plan(t.id, "tmall-refunds").await?;
    let run = store.start_intake_run(t.id, &plan.source, "broken.csv", None).await?;
    let r =
        s.run_intake(t.id, &run.id, &plan, Format::Csv, broken.as_bytes(), ApplyPolicy::AllOrNothing, quiet()).await?;
    assert!(!r.applied);
    assert_eq!(r.errors.iter().map(|e| e.row).collect::<Vec<_>>(), vec![3]);
    assert_eq!(store.count_intake_records(t.id, "refund").await?, 0);
    assert!(store.list_tickets(t.id, &TicketFilter::default()).await?.0.is_empty());
    let r = s.run_intake(t.id, &run.id, &plan, Format::Csv, broken.as_bytes(), ApplyPolicy::ValidRows, quiet()).await?;
    assert!(r.applied);
    assert_eq!(store.count_intake_records(t.id, "refund").await?, r.created as i64);
    assert_eq!(r.rejected, 1);

    // In the background: the run ends with its report.
    let run = s
        .start_intake(
            t.id,
            None,
            plan,
            IntakeUpload {
                file_name: "again.csv".into(),
                format: Format::Csv,
                bytes: refunds.sample.to_vec(),
                policy: ApplyPolicy::AllOrNothing,
            },
        )
        .await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let done = loop {
        let now = store.intake_run(t.id, &run.id).await?;
        if now.status != "running" {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "the run did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(done.status, "done");
    let report = done.report.ok_or("report")?;
    assert_eq!(report["created"], 1, "only the row that was bad before is new: {report}");
    assert_eq!(store.intake_runs(t.id, 10).await?.len(), 2);
    Ok(())
}
