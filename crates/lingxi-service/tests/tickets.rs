//! Tickets below HTTP, on SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set: numbering under
//! concurrency, the enforced life cycle, history, idempotent creation, one-click creation from a conversation,
//! the widget's "leave a message", comments, bulk actions, views and tenant isolation.

use lingxi_bus::Bus;
use lingxi_domain::ticket::{TicketPriority, TicketStatus};
use lingxi_service::{Authenticated, ServiceError, Services, TicketInput, TicketPatch};
use lingxi_store::{Actor, Store, TicketFilter};
use lingxi_types::*;

#[macro_use]
mod common;
use common::TestResult;

async fn agent(
    store: &Store,
    tenant: &Tenant,
    name: &str,
) -> Result<Authenticated, Box<dyn std::error::Error + Send + Sync>> {
    let user = store.create_user(tenant.id, &format!("{name}@{}.test", tenant.slug), name, Role::Agent, "x").await?;
    Ok(Authenticated::new(user, tenant.clone()))
}

fn input(title: &str) -> TicketInput {
    TicketInput { title: title.into(), description: format!("{title} — details"), ..Default::default() }
}

fn actor(who: &Authenticated) -> Actor {
    Actor { user_id: Some(who.user.id), name: who.user.name.clone() }
}

both_backends!(numbers_are_sequential_per_tenant_even_when_created_at_once, numbers_on);
async fn numbers_on(a: Store, b: Store) -> TestResult {
    let t1 = a.create_tenant("one", "One", "wk_one").await?;
    let t2 = a.create_tenant("two", "Two", "wk_two").await?;
    let nodes = [Services::new(a, Bus::default()), Services::new(b, Bus::default())];
    let mut tasks = Vec::new();
    for i in 0..24 {
        let node = nodes[i % 2].clone();
        let tenant = if i % 3 == 0 { t2.id } else { t1.id };
        tasks.push(tokio::spawn(async move {
            let who = Actor { user_id: None, name: "api".into() };
            node.create_ticket(tenant, &who, "api", input(&format!("ticket {i}")), None).await.map(|(t, _)| t.number)
        }));
    }
    let (mut n1, mut n2) = (Vec::new(), Vec::new());
    for (i, t) in tasks.into_iter().enumerate() {
        let n = t.await??;
        if i % 3 == 0 { n2.push(n) } else { n1.push(n) }
    }
    n1.sort();
    n2.sort();
    assert_eq!(n1, (1..=16).collect::<Vec<i64>>());
    assert_eq!(n2, (1..=8).collect::<Vec<i64>>());
    Ok(())
}

both_backends!(the_life_cycle_is_enforced_and_every_change_is_in_the_history, lifecycle_on);
async fn lifecycle_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let services = Services::new(store.clone(), Bus::default());
    let li = agent(&store, &t, "Li Na").await?;
    let (ticket, created) = services.create_ticket(t.id, &actor(&li), "api", input("退款没到账"), None).await?;
    assert!(created);
    assert_eq!((ticket.status, ticket.priority, ticket.number), (TicketStatus::New, TicketPriority::Normal, 1));
    let patch = TicketPatch {
        status: Some(TicketStatus::Pending),
        priority: Some(TicketPriority::Urgent),
        assignee_id: Some(Some(li.user.id)),
        add_tags: vec!["refund".into(), "Refund".into()],
        expected_version: Some(ticket.version),
        ..Default::default()
    };
    let t2 = services.update_ticket(&li, ticket.id, &patch).await?;
    assert_eq!(
        (t2.status, t2.priority, t2.assignee_id),
        (TicketStatus::Pending, TicketPriority::Urgent, Some(li.user.id))
    );
    assert_eq!(t2.tags, vec!["refund".to_string()], "tags deduplicated case-insensitively");
    // A stale version is a conflict and changes nothing.
    let stale = TicketPatch {
        priority: Some(TicketPriority::Low),
        expected_version: Some(ticket.version),
        ..Default::default()
    };
    assert!(matches!(services.update_ticket(&li, ticket.id, &stale).await, Err(ServiceError::Conflict(_))));
    // pending → solved → closed; closed is final.
    for s in [TicketStatus::Solved, TicketStatus::Closed] {
        services.update_ticket(&li, ticket.id, &TicketPatch { status: Some(s), ..Default::default() }).await?;
    }
    let reopen = TicketPatch { status: Some(TicketStatus::Open), ..Default::default() };
    assert!(matches!(services.update_ticket(&li, ticket.id, &reopen).await, Err(ServiceError::Conflict(_))));
    let closed = store.ticket(t.id, ticket.id).await?;
    assert!(closed.solved_at.is_some() && closed.closed_at.is_some());
    let history = store.ticket_changes(t.id, ticket.id).await?;
    let fields: Vec<(&str, Option<&str>)> =
        history.iter().map(|c| (c.field.as_str(), c.new_value.as_deref())).collect();
    assert_eq!(fields[0], ("created", Some("#1")));
    for expected in [
        ("status", Some("pending")),
        ("priority", Some("urgent")),
        ("status", Some("solved")),
        ("status", Some("closed")),
    ] {
        assert!(fields.contains(&expected), "{expected:?} missing from {fields:?}");
    }
    assert!(history.iter().skip(1).all(|c| c.actor_name == "Li Na"));
    // Unknown assignee / group are refused.
    let bad = TicketPatch { assignee_id: Some(Some(UserId::generate())), ..Default::default() };
    let (other, _) = services.create_ticket(t.id, &actor(&li), "api", input("x"), None).await?;
    assert!(matches!(services.update_ticket(&li, other.id, &bad).await, Err(ServiceError::NotFound(_))));
    Ok(())
}

both_backends!(creation_is_idempotent_by_key_and_validated, idempotent_on);
async fn idempotent_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let services = Services::new(store.clone(), Bus::default());
    let who = Actor { user_id: None, name: "import".into() };
    let keyed = TicketInput { external_key: Some("tmall:R-1001".into()), ..input("refund R-1001") };
    let (a, first) = services.create_ticket(t.id, &who, "import", keyed.clone(), None).await?;
    let (b, second) = services.create_ticket(t.id, &who, "import", keyed, None).await?;
    assert!(first && !second);
    assert_eq!(a.id, b.id);
    for bad in [input(""), input(&"长".repeat(201))] {
        assert!(matches!(services.create_ticket(t.id, &who, "api", bad, None).await, Err(ServiceError::Invalid(_))));
    }
    let mut odd = input("x");
    odd.custom_fields.insert("nested".into(), serde_json::json!({"a": 1}));
    assert!(matches!(services.create_ticket(t.id, &who, "api", odd, None).await, Err(ServiceError::Invalid(_))));
    assert!(services.create_ticket(t.id, &who, "fax", input("x"), None).await.is_err());
    Ok(())
}

both_backends!(one_click_from_a_conversation_and_leave_a_message_from_the_widget, conversation_on);
async fn conversation_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let services = Services::new(store.clone(), Bus::default());
    let li = agent(&store, &t, "Li").await?;
    let s = services.open_widget_session(&t.widget_key, Some("王女士"), None, None, None, None).await?;
    let grant = services.widget_grant(&s.token).await?;
    services.visitor_message(grant, None, "我的退款三天了还没到账").await?;
    services.agent_message(&li, s.conversation.id, "我帮您查一下", None).await?;
    services.add_note(&li, s.conversation.id, "internal: customer is angry").await?;
    let (ticket, created) = services.ticket_from_conversation(&li, s.conversation.id, None).await?;
    assert!(created);
    assert_eq!(ticket.title, "我的退款三天了还没到账");
    assert_eq!((ticket.requester_id, ticket.conversation_id), (Some(s.visitor_id), Some(s.conversation.id)));
    assert!(
        ticket.description.contains("王女士: 我的退款三天了还没到账")
            && ticket.description.contains("Li: 我帮您查一下")
    );
    assert!(!ticket.description.contains("internal"), "notes stay out of the ticket");
    let (again, created) = services.ticket_from_conversation(&li, s.conversation.id, Some("other")).await?;
    assert!(!created);
    assert_eq!(again.id, ticket.id);

    let left = services.leave_message(grant, Some("王女士"), Some("138 0000 0000"), "请明天上午给我回电话").await?;
    assert_eq!((left.source.as_str(), left.number), ("widget", 2));
    assert_eq!(left.requester_contact.as_deref(), Some("138 0000 0000"));
    Ok(())
}

both_backends!(comments_bulk_views_and_isolation, views_on);
async fn views_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let other = store.create_tenant("o", "O", "wk_o").await?;
    let services = Services::new(store.clone(), Bus::default());
    let li = agent(&store, &t, "Li").await?;
    let wang = agent(&store, &t, "Wang").await?;
    let outsider = agent(&store, &other, "Eve").await?;
    let (a, _) = services.create_ticket(t.id, &actor(&li), "api", input("退货 return label"), None).await?;
    let (b, _) = services.create_ticket(t.id, &actor(&li), "api", input("invoice missing"), None).await?;
    let (c, _) = services.create_ticket(t.id, &actor(&li), "api", input("物流太慢"), None).await?;
    // An internal note is not a first response; a public reply is, and it opens a new ticket.
    services.comment_ticket(&li, a.id, "check the warehouse", false).await?;
    assert_eq!(store.ticket(t.id, a.id).await?.first_response_at, None);
    services.comment_ticket(&li, a.id, "您好，已为您申请退货", true).await?;
    let a2 = store.ticket(t.id, a.id).await?;
    assert!(a2.first_response_at.is_some());
    assert_eq!(a2.status, TicketStatus::Open);
    assert_eq!(store.ticket_comments(t.id, a.id).await?.len(), 2);
    // Bulk: assign all to Wang and close them; `new` cannot be closed directly, each ticket reports its outcome.
    services
        .update_ticket(&li, c.id, &TicketPatch { status: Some(TicketStatus::Solved), ..Default::default() })
        .await?;
    let patch =
        TicketPatch { assignee_id: Some(Some(wang.user.id)), status: Some(TicketStatus::Closed), ..Default::default() };
    let results = services.bulk_update_tickets(&li, &[a.id, b.id, c.id, TicketId::generate()], &patch).await?;
    let ok: Vec<bool> = results.iter().map(|(_, r)| r.is_ok()).collect();
    assert_eq!(ok, vec![false, false, true, false], "open→closed and new→closed are refused; solved→closed works");
    assert_eq!(store.ticket(t.id, a.id).await?.assignee_id, None, "a refused ticket is not half-changed");
    // Views.
    let mine = TicketFilter { assignee: Some(wang.user.id), ..Default::default() };
    assert_eq!(store.list_tickets(t.id, &mine).await?.1, 1);
    let unassigned = TicketFilter { unassigned: true, ..Default::default() };
    assert_eq!(store.list_tickets(t.id, &unassigned).await?.1, 2);
    let search = TicketFilter { q: Some("退货".into()), ..Default::default() };
    assert_eq!(store.list_tickets(t.id, &search).await?.0.iter().map(|t| t.id).collect::<Vec<_>>(), vec![a.id]);
    let english = TicketFilter { q: Some("INVOICE".into()), ..Default::default() };
    assert_eq!(store.list_tickets(t.id, &english).await?.1, 1);
    let unsolved = TicketFilter { statuses: vec![TicketStatus::New, TicketStatus::Open], ..Default::default() };
    assert_eq!(store.list_tickets(t.id, &unsolved).await?.1, 2);
    // Isolation: the other tenant sees none of it and cannot touch it.
    assert_eq!(store.list_tickets(other.id, &TicketFilter::default()).await?.1, 0);
    assert!(matches!(
        services.update_ticket(&outsider, a.id, &TicketPatch::default()).await,
        Err(ServiceError::NotFound(_))
    ));
    assert!(matches!(services.comment_ticket(&outsider, a.id, "hi", true).await, Err(ServiceError::NotFound(_))));
    assert!(store.ticket_changes(other.id, a.id).await?.is_empty());
    Ok(())
}

both_backends!(new_tickets_are_classified_from_past_tickets_and_dispatched_by_rules, dispatch_on);
async fn dispatch_on(store: Store, _b: Store) -> TestResult {
    use lingxi_domain::ticket::{Action, Condition, Field, Op, Rule};
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let services = Services::new(store.clone(), Bus::default());
    let li = agent(&store, &t, "Li").await?;
    let group = |name: &str| lingxi_store::GroupInput {
        name: name.into(),
        strategy: RoutingStrategy::LeastLoaded,
        skills: vec![],
        sticky: true,
        members: vec![],
    };
    let logistics = store.create_group(t.id, &group("物流组 Logistics")).await?;
    let triage = store.create_group(t.id, &group("分诊 Triage")).await?;
    // Past tickets, categorised by people (synthetic, both languages).
    let refund =
        ["退款还没到账", "申请退款被拒绝", "退款进度查询", "refund not received", "how long does a refund take"];
    let shipping = [
        "快递三天没更新物流",
        "物流显示已签收但没收到",
        "发货太慢了",
        "parcel tracking not updating",
        "package delivered to wrong address",
    ];
    let who = actor(&li);
    for round in 0..3 {
        for (texts, category) in [(&refund, "退款 Refund"), (&shipping, "物流 Shipping")] {
            for text in texts.iter() {
                let input = TicketInput { category: Some(category.into()), ..input(&format!("{text} {round}")) };
                services.create_ticket(t.id, &who, "api", input, None).await?;
            }
        }
    }
    let settings = lingxi_service::TicketSettings {
        rules: vec![
            Rule {
                id: "urgent-refunds".into(),
                name: "退款加急 urgent refunds".into(),
                enabled: true,
                conditions: vec![Condition::new(Field::Text, Op::Contains("退款".into()))],
                actions: vec![Action::SetPriority(TicketPriority::Urgent), Action::AddTag("refund".into())],
                stop_processing: false,
            },
            Rule {
                id: "shipping-desk".into(),
                name: "物流进物流组".into(),
                enabled: true,
                conditions: vec![Condition::new(Field::Category, Op::Eq("物流 Shipping".into()))],
                actions: vec![Action::SetGroup(logistics.id.to_string())],
                stop_processing: false,
            },
        ],
        triage_group_id: Some(triage.id),
        auto_classify: true,
        threshold: 0.5,
        sla_policies: vec![],
        calendar: None,
        custom_fields: vec![],
    };
    services.save_ticket_settings(t.id, settings).await?;

    let (shipped, _) = services.create_ticket(t.id, &who, "api", input("我的快递物流一直不更新"), None).await?;
    assert_eq!(shipped.category.as_deref(), Some("物流 Shipping"));
    assert_eq!(shipped.group_id, Some(logistics.id), "the category rule routed it");
    let d = shipped.dispatch.as_ref().ok_or("dispatch recorded")?;
    assert_eq!(d["classification"]["label"], "物流 Shipping");
    assert!(d["explain_en"].as_array().is_some_and(|l| !l.is_empty()));

    let (refunded, _) = services.create_ticket(t.id, &who, "api", input("退款申请了一周还没到账"), None).await?;
    assert_eq!((refunded.priority, refunded.tags.clone()), (TicketPriority::Urgent, vec!["refund".to_string()]));
    // An explicit priority from the creator is kept.
    let explicit = TicketInput { priority: Some(TicketPriority::Low), ..input("退款问题") };
    assert_eq!(services.create_ticket(t.id, &who, "api", explicit, None).await?.0.priority, TicketPriority::Low);

    // Something the past tickets say nothing about goes to triage, uncategorised.
    let (unclear, _) =
        services.create_ticket(t.id, &who, "api", input("你们周末上班吗 are you open on sundays"), None).await?;
    assert_eq!((unclear.category.clone(), unclear.group_id), (None, Some(triage.id)), "{:?}", unclear.dispatch);
    assert_eq!(unclear.dispatch.as_ref().map(|d| d["classification"]["triage"].clone()), Some(serde_json::json!(true)));

    // Bad settings are refused: an unknown group in a rule.
    let bad = lingxi_service::TicketSettings {
        rules: vec![Rule {
            id: "x".into(),
            name: "x".into(),
            enabled: true,
            conditions: vec![],
            actions: vec![Action::SetGroup(GroupId::generate().to_string())],
            stop_processing: false,
        }],
        triage_group_id: None,
        auto_classify: true,
        threshold: 0.5,
        sla_policies: vec![],
        calendar: None,
        custom_fields: vec![],
    };
    assert!(services.save_ticket_settings(t.id, bad).await.is_err());
    Ok(())
}

both_backends!(tickets_routed_to_a_group_go_to_its_least_loaded_available_member, ticket_assign_on);
async fn ticket_assign_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("s", "S", "wk_s").await?;
    let services = Services::new(store.clone(), Bus::default());
    let a = agent(&store, &t, "A").await?;
    let b = agent(&store, &t, "B").await?;
    let c = agent(&store, &t, "C").await?;
    let input_g = lingxi_store::GroupInput {
        name: "After-sales".into(),
        strategy: RoutingStrategy::LeastLoaded,
        skills: vec![],
        sticky: true,
        members: vec![a.user.id, b.user.id, c.user.id],
    };
    let g = store.create_group(t.id, &input_g).await?;
    for who in [&a, &b] {
        store.set_agent_status(t.id, who.user.id, AgentStatus::Online).await?;
    }
    // C is offline: never picked. A already has two unsolved tickets.
    for _ in 0..2 {
        let i = TicketInput { assignee_id: Some(a.user.id), ..input("old") };
        services.create_ticket(t.id, &actor(&a), "api", i, None).await?;
    }
    let mut got = Vec::new();
    for n in 0..4 {
        let i = TicketInput { group_id: Some(g.id), ..input(&format!("new {n}")) };
        got.push(services.create_ticket(t.id, &actor(&a), "api", i, None).await?.0);
    }
    let to: Vec<Option<UserId>> = got.iter().map(|t| t.assignee_id).collect();
    assert_eq!(to[0], Some(b.user.id));
    assert_eq!(to[1], Some(b.user.id), "B has 1, A has 2");
    assert!(to.iter().all(|u| *u != Some(c.user.id)), "offline members get nothing");
    assert_eq!(
        got[0].dispatch.as_ref().map(|d| d["assignment"]["group"].clone()),
        Some(serde_json::json!("After-sales"))
    );
    Ok(())
}

both_backends!(the_public_form_makes_a_ticket_for_the_customer, form_on);
async fn form_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("f", "F", "wk_f").await?;
    let services = Services::new(store.clone(), Bus::default());
    let mut events = services.bus.subscribe();
    let ticket =
        services.submit_form(&t.widget_key, "王女士", " Wang@Example.com ", "发票开错了", "抬头写错了，请重开").await?;
    assert_eq!((ticket.source.as_str(), ticket.requester_contact.as_deref()), ("form", Some("wang@example.com")));
    // The workspaces hear of it.
    match events.try_recv()? {
        lingxi_bus::Event::TicketChanged { ticket_id, number, .. } => {
            assert_eq!((ticket_id, number), (ticket.id, ticket.number))
        }
        other => return Err(format!("unexpected event {other:?}").into()),
    }
    // The same customer chatting later is the same visitor: the ticket is on their card.
    let again = services.submit_form(&t.widget_key, "王女士", "wang@example.com", "还有一个问题", "物流").await?;
    assert_eq!(again.requester_id, ticket.requester_id);
    let visitor = ticket.requester_id.ok_or("requester")?;
    assert_eq!(store.visitor_tickets(t.id, visitor, 10).await?.len(), 2);
    for (name, contact, title, body) in [
        ("", "a@b.cn", "t", "d"),
        ("n", "not a contact", "t", "d"),
        ("n", "a@b.cn", "", "d"),
        ("n", "a@b.cn", "t", " "),
    ] {
        assert!(matches!(
            services.submit_form(&t.widget_key, name, contact, title, body).await,
            Err(ServiceError::Invalid(_))
        ));
    }
    assert!(matches!(services.submit_form("nope", "n", "a@b.cn", "t", "d").await, Err(ServiceError::UnknownWidgetKey)));
    Ok(())
}

both_backends!(typed_custom_fields_are_enforced, fields_on);
async fn fields_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("cf", "CF", "wk_cf").await?;
    let services = Services::new(store.clone(), Bus::default());
    let user = store.create_user(t.id, "li@cf.test", "Li", Role::Agent, "x").await?;
    let li = Authenticated::new(user, t.clone());
    let defs: Vec<lingxi_domain::fields::FieldDef> = serde_json::from_value(serde_json::json!([
        {"key": "order_no", "label_zh": "订单号", "label_en": "Order no.", "kind": "text", "required": true},
        {"key": "channel", "label_zh": "渠道", "label_en": "Channel", "kind": "select", "options": ["天猫", "京东"]}
    ]))?;
    let mut settings = services.ticket_settings(t.id).await?;
    settings.custom_fields = defs;
    services.save_ticket_settings(t.id, settings.clone()).await?;
    assert_eq!(services.ticket_settings(t.id).await?.custom_fields.len(), 2);
    let by_agent = Actor { user_id: Some(li.user.id), name: "Li".into() };
    let fields = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let input = |f| TicketInput { title: "x".into(), custom_fields: f, ..Default::default() };
    let missing = services.create_ticket(t.id, &by_agent, "api", input(fields(serde_json::json!({}))), None).await;
    assert!(matches!(missing, Err(ServiceError::Invalid(m)) if m.contains("required")));
    let wrong = fields(serde_json::json!({"order_no": "T1", "channel": "拼多多"}));
    assert!(matches!(
        services.create_ticket(t.id, &by_agent, "api", input(wrong), None).await,
        Err(ServiceError::Invalid(_))
    ));
    let good = fields(serde_json::json!({"order_no": "T1", "channel": "京东"}));
    let (ticket, _) = services.create_ticket(t.id, &by_agent, "api", input(good), None).await?;
    assert_eq!(ticket.custom_fields["channel"], "京东");
    // The widget, imports and the form are not held to "required".
    let system = Actor { user_id: None, name: "import".into() };
    services.create_ticket(t.id, &system, "import", input(fields(serde_json::json!({}))), None).await?;
    let patch = TicketPatch { custom_fields: fields(serde_json::json!({"unknown": 1})), ..Default::default() };
    assert!(matches!(services.update_ticket(&li, ticket.id, &patch).await, Err(ServiceError::Invalid(_))));
    settings.custom_fields[1].options.clear();
    assert!(matches!(services.save_ticket_settings(t.id, settings).await, Err(ServiceError::Invalid(_))));
    Ok(())
}

both_backends!(files_travel_with_ticket_comments, files_on);
async fn files_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("fa", "FA", "wk_fa").await?;
    let services = Services::new(store.clone(), Bus::default());
    let user = store.create_user(t.id, "li@fa.test", "Li", Role::Agent, "x").await?;
    let li = Authenticated::new(user, t.clone());
    let (ticket, _) = services.create_ticket(t.id, &actor(&li), "api", input("发票"), None).await?;
    let (other, _) = services.create_ticket(t.id, &actor(&li), "api", input("物流"), None).await?;
    let pdf = b"%PDF-1.7\n1 0 obj\n".to_vec();
    let a = services.upload_ticket_attachment(&li, ticket.id, "发票.pdf", "application/pdf", pdf.clone()).await?;
    let theirs = services.upload_ticket_attachment(&li, other.id, "x.txt", "text/plain", b"x".to_vec()).await?;
    let refused =
        services.upload_ticket_attachment(&li, ticket.id, "x.pdf", "application/pdf", b"<html>".to_vec()).await;
    assert!(matches!(refused, Err(ServiceError::UnsupportedMedia(_))));
    // Another ticket's file cannot ride on this comment; nothing is written then.
    let wrong = services.comment_ticket_with(&li, ticket.id, "", true, &[theirs.id]).await;
    assert!(matches!(wrong, Err(ServiceError::NotFound(_))));
    let c = services.comment_ticket_with(&li, ticket.id, "", true, &[a.id]).await?;
    assert_eq!(c.attachments, vec![a.clone()]);
    let again = services.comment_ticket_with(&li, ticket.id, "again", true, &[a.id]).await;
    assert!(matches!(again, Err(ServiceError::NotFound(_))), "a file is sent once");
    let comments = store.ticket_comments(t.id, ticket.id).await?;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].attachments[0].name, "发票.pdf");
    assert_eq!(store.ticket_attachment(t.id, a.id).await?.1, pdf);
    let stranger = store.create_tenant("fb", "FB", "wk_fb").await?;
    assert!(store.ticket_attachment(stranger.id, a.id).await.is_err());
    Ok(())
}
