//! The agent workspace below HTTP, on SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set: list
//! views and their access, search in Chinese and English with filters, unread counts, receipts, canned replies,
//! attachments, the browsing track and identity merges (also racing on two nodes), orders and their import, and the
//! visitor card with masking by role.

use lingxi_bus::{Bus, Event};
use lingxi_domain::workspace::ValueTier;
use lingxi_service::{
    Authenticated, CustomerRef, ListRequest, OrderInput, ServiceError, Services, TrackInput, WidgetGrant,
};
use lingxi_store::{GroupInput, Store};
use lingxi_types::*;
use std::collections::BTreeMap;

#[macro_use]
mod common;
use common::TestResult;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn user(store: &Store, tenant: &Tenant, name: &str, role: Role) -> Res<Authenticated> {
    let user = store.create_user(tenant.id, &format!("{name}@{}.test", tenant.slug), name, role, "x").await?;
    Ok(Authenticated::new(user, tenant.clone()))
}

async fn chat(s: &Services, t: &Tenant, name: &str, anon: Option<&str>, text: &str) -> Res<WidgetGrant> {
    let session = s.open_widget_session(&t.widget_key, Some(name), None, None, None, anon).await?;
    let grant = s.widget_grant(&session.token).await?;
    s.visitor_message(grant, None, text).await?;
    Ok(grant)
}

fn list(view: Option<&str>) -> ListRequest {
    ListRequest { view: view.map(str::to_owned), ..Default::default() }
}

fn page_view(url: &str, title: &str) -> TrackInput {
    TrackInput { kind: "page_view".into(), url: Some(url.into()), title: Some(title.into()), ..Default::default() }
}

fn product(id: &str, name: &str) -> TrackInput {
    TrackInput {
        kind: "product_view".into(),
        product_id: Some(id.into()),
        product_name: Some(name.into()),
        url: Some(format!("https://shop.test/p/{id}")),
        ..Default::default()
    }
}

both_backends!(views_search_filters_and_unread_counts, views_on);
async fn views_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("ws", "WS", "wk_ws").await?;
    let other = store.create_tenant("ws2", "WS2", "wk_ws2").await?;
    let s = Services::new(store.clone(), Bus::default());
    let li = user(&store, &t, "Li Na", Role::Agent).await?;
    let wang = user(&store, &t, "Wang", Role::Agent).await?;
    let boss = user(&store, &t, "Boss", Role::Supervisor).await?;
    let g = GroupInput {
        name: "Returns".into(),
        strategy: RoutingStrategy::LeastLoaded,
        skills: vec![],
        sticky: false,
        members: vec![li.user.id],
    };
    let group = store.create_group(t.id, &g).await?;
    let refund = chat(&s, &t, "王芳", None, "我想申请退货，衣服太小了").await?;
    let shipping = chat(&s, &t, "Alice", None, "When will my parcel SHIP?").await?;
    let foreign = chat(&s, &other, "王芳", None, "退货").await?;
    // Li Na serves the refund; the shipping question waits in her group's queue.
    s.claim(&li, refund.conversation_id).await?;
    store
        .enqueue(
            t.id,
            shipping.conversation_id,
            &[ConversationStatus::Bot],
            Some(group.id),
            0,
            HandoffReason::VisitorRequest,
            false,
            None,
        )
        .await?
        .ok_or("queued")?;

    let ids = |l: Vec<lingxi_store::ListedConversation>| l.into_iter().map(|l| l.conversation.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_for(&li, &list(Some("mine"))).await?), vec![refund.conversation_id]);
    assert_eq!(ids(s.list_for(&li, &list(Some("queue"))).await?), vec![shipping.conversation_id]);
    assert_eq!(s.list_for(&li, &list(None)).await?.len(), 2, "an agent's default is mine + my queue");
    assert!(s.list_for(&wang, &list(Some("queue"))).await?.is_empty(), "not Wang's group");
    assert!(matches!(s.list_for(&li, &list(Some("all"))).await, Err(ServiceError::Forbidden(_))));
    assert_eq!(s.list_for(&boss, &list(None)).await?.len(), 2, "supervisors see all, of their tenant only");

    // Search: Chinese inside a sentence, English case-insensitively, the visitor's name; every word must match.
    let search = |q: &str| ListRequest { view: Some("all".into()), q: Some(q.into()), ..Default::default() };
    let hits = s.list_for(&boss, &search("退货")).await?;
    assert_eq!(ids(hits.clone()), vec![refund.conversation_id]);
    let matched = hits[0].matched.clone().flatten().ok_or("a matched message")?;
    assert!(matched.text.contains("退货"));
    assert_eq!(ids(s.list_for(&boss, &search("ship")).await?), vec![shipping.conversation_id]);
    assert_eq!(ids(s.list_for(&boss, &search("alice parcel")).await?), vec![shipping.conversation_id]);
    assert!(s.list_for(&boss, &search("退货 parcel")).await?.is_empty());
    assert!(s.list_for(&boss, &search("100%")).await?.is_empty(), "wildcards are taken literally");
    let by_name = s.list_for(&boss, &search("王芳")).await?;
    assert_eq!(ids(by_name.clone()), vec![refund.conversation_id]);
    // Filters: agent, channel, tag, dates.
    let f = |req: ListRequest| ListRequest { view: Some("all".into()), ..req };
    let by_agent = f(ListRequest { agent: Some(li.user.id.to_string()), ..Default::default() });
    assert_eq!(ids(s.list_for(&boss, &by_agent).await?), vec![refund.conversation_id]);
    let web = f(ListRequest { channel: Some("web".into()), ..Default::default() });
    assert_eq!(s.list_for(&boss, &web).await?.len(), 2);
    let c = store.conversation(t.id, shipping.conversation_id).await?;
    s.set_visitor_segments(t.id, c.visitor_id, &["wholesale".into()], false).await?;
    let tagged = f(ListRequest { tag: Some("wholesale".into()), ..Default::default() });
    assert_eq!(ids(s.list_for(&boss, &tagged).await?), vec![shipping.conversation_id]);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dated = f(ListRequest { from: Some(today.clone()), to: Some(today), ..Default::default() });
    assert_eq!(s.list_for(&boss, &dated).await?.len(), 2);
    let past = f(ListRequest { to: Some("2020-01-01".into()), ..Default::default() });
    assert!(s.list_for(&boss, &past).await?.is_empty());
    let bad = f(ListRequest { from: Some("last week".into()), ..Default::default() });
    assert!(matches!(s.list_for(&boss, &bad).await, Err(ServiceError::Invalid(_))));

    // Unread: visitor messages after what the reader marked read.
    let unread =
        |l: &[lingxi_store::ListedConversation], id| l.iter().find(|c| c.conversation.id == id).and_then(|c| c.unread);
    let mine = s.list_for(&li, &list(Some("mine"))).await?;
    assert_eq!(unread(&mine, refund.conversation_id), Some(1));
    let last = store.conversation(t.id, refund.conversation_id).await?.last_seq;
    s.mark_read(&li, refund.conversation_id, last).await?;
    s.mark_read(&li, refund.conversation_id, 0).await?; // never moves back
    assert_eq!(unread(&s.list_for(&li, &list(Some("mine"))).await?, refund.conversation_id), Some(0));
    s.visitor_message(refund, None, "还在吗？").await?;
    assert_eq!(unread(&s.list_for(&li, &list(Some("mine"))).await?, refund.conversation_id), Some(1));
    assert_eq!(unread(&s.list_for(&boss, &list(None)).await?, refund.conversation_id), Some(2), "per reader");
    // Another tenant's conversation is neither listed nor markable.
    assert!(matches!(s.mark_read(&li, foreign.conversation_id, 1).await, Err(ServiceError::NotFound(_))));
    Ok(())
}

both_backends!(receipts_typing_canned_replies_and_attachments, chat_pane_on);
async fn chat_pane_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("cp", "Shop CP", "wk_cp").await?;
    let bus = Bus::default();
    let s = Services::new(store.clone(), bus.clone());
    let li = user(&store, &t, "Li Na", Role::Agent).await?;
    let wang = user(&store, &t, "Wang", Role::Agent).await?;
    let boss = user(&store, &t, "Boss", Role::Supervisor).await?;
    let grant = chat(&s, &t, "王芳", None, "你好").await?;
    let id = grant.conversation_id;
    s.agent_message(&li, id, "您好，请问有什么可以帮您？", None).await?;
    let last = store.conversation(t.id, id).await?.last_seq;

    // Receipts only grow and never pass the last message; typing goes out on the bus.
    let mut events = bus.subscribe();
    s.visitor_receipt(&grant, last, 0).await?;
    s.visitor_receipt(&grant, last + 50, last - 1).await?;
    s.visitor_receipt(&grant, 1, 1).await?;
    let c = store.conversation(t.id, id).await?;
    assert_eq!((c.visitor_delivered_seq, c.visitor_read_seq), (last, last - 1));
    s.visitor_typing(&grant, true);
    s.agent_typing(&li, id, true).await?;
    let mut seen = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await {
        match e {
            Event::Receipt { delivered_seq, read_seq, .. } => seen.push(format!("receipt {delivered_seq}/{read_seq}")),
            Event::Typing { author, typing, name, .. } => seen.push(format!("{author:?} {typing} {name:?}")),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        vec![
            format!("receipt {last}/0"),
            format!("receipt {last}/{}", last - 1),
            "Visitor true None".to_owned(),
            "Agent true Some(\"Li Na\")".to_owned()
        ]
    );

    // Canned replies: personal and team, variables, permissions, validation.
    let mine = s.create_canned_reply(&li, false, "hi", "Greeting", "您好 {{visitor.name}}，我是{{agent.name}}").await?;
    assert!(matches!(s.create_canned_reply(&li, true, "team1", "T", "x").await, Err(ServiceError::Forbidden(_))));
    let team = s.create_canned_reply(&boss, true, "bye", "Bye", "感谢您联系{{tenant.name}}").await?;
    assert!(matches!(s.create_canned_reply(&li, false, "hi", "Dup", "x").await, Err(ServiceError::Store(_))));
    assert!(matches!(s.create_canned_reply(&li, false, "x", "X", "{{order.id}}").await, Err(ServiceError::Invalid(_))));
    assert!(matches!(s.create_canned_reply(&li, false, "a b", "X", "x").await, Err(ServiceError::Invalid(_))));
    let shortcuts = |l: Vec<lingxi_store::CannedReply>| l.into_iter().map(|r| r.shortcut).collect::<Vec<_>>();
    assert_eq!(shortcuts(s.canned_replies(&li).await?), vec!["bye", "hi"]);
    assert_eq!(shortcuts(s.canned_replies(&wang).await?), vec!["bye"], "personal replies are private");
    s.update_visitor(&boss, grant.visitor_id, None, Some(Some("wang.fang@example.com".into())), None, BTreeMap::new())
        .await?;
    let values = s.canned_values(&li, id).await?;
    assert_eq!(values["visitor.email"], "w***@example.com", "agents get contact details masked in replies too");
    assert_eq!(s.canned_values(&boss, id).await?["visitor.email"], "wang.fang@example.com");
    assert_eq!(lingxi_domain::workspace::expand(&mine.text, &values), "您好 王芳，我是Li Na");
    assert_eq!(lingxi_domain::workspace::expand(&team.text, &values), "感谢您联系Shop CP");
    assert!(matches!(s.delete_canned_reply(&wang, mine.id).await, Err(ServiceError::NotFound(_))));
    assert!(matches!(s.update_canned_reply(&li, team.id, "bye", "B", "x").await, Err(ServiceError::Forbidden(_))));
    s.update_canned_reply(&li, mine.id, "hello", "Greeting", "您好").await?;
    s.delete_canned_reply(&boss, team.id).await?;
    assert_eq!(shortcuts(s.canned_replies(&li).await?), vec!["hello"]);

    // Attachments: checked by signature, sent with a message (text may be empty), bound to their conversation.
    let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0, 0, 1];
    let a = s.upload_attachment(t.id, id, "visitor", "photo.png", "image/png", png.to_vec()).await?;
    assert_eq!((a.content_type.as_str(), a.size), ("image/png", 20));
    let html = s.upload_attachment(t.id, id, "visitor", "x.html", "text/html", b"<script>".to_vec()).await;
    assert!(matches!(html, Err(ServiceError::UnsupportedMedia(_))));
    let liar = s.upload_attachment(t.id, id, "visitor", "x.png", "image/png", b"GIF89a....".to_vec()).await;
    assert!(matches!(liar, Err(ServiceError::UnsupportedMedia(_))));
    let huge = vec![0u8; lingxi_domain::workspace::MAX_ATTACHMENT_BYTES + 1];
    assert!(matches!(
        s.upload_attachment(t.id, id, "v", "big.txt", "text/plain", huge).await,
        Err(ServiceError::TooLarge(_))
    ));
    let bad_name = s.upload_attachment(t.id, id, "visitor", "../etc/passwd", "text/plain", b"x".to_vec()).await;
    assert!(matches!(bad_name, Err(ServiceError::Invalid(_))));
    let sent = s.visitor_message_with(grant, Some("c1".into()), "", Some(a.id)).await?;
    assert_eq!(sent.message.attachment.as_ref().map(|x| x.id), Some(a.id));
    let stored = store.messages_after(t.id, id, sent.message.seq - 1, 1).await?;
    assert_eq!(stored[0].attachment, Some(a.clone()));
    assert_eq!(store.attachment(t.id, a.id).await?.data, png.to_vec());
    assert!(matches!(s.visitor_message_with(grant, None, " ", None).await, Err(ServiceError::Invalid(_))));
    // An attachment of another conversation cannot be sent here.
    let other = chat(&s, &t, "Bob", None, "hi").await?;
    let theirs =
        s.upload_attachment(t.id, other.conversation_id, "visitor", "n.txt", "text/plain", b"x".to_vec()).await?;
    assert!(matches!(
        s.agent_message_with(&li, id, "see", None, Some(theirs.id)).await,
        Err(ServiceError::NotFound(_))
    ));
    Ok(())
}

both_backends!(tracking_identity_merges_orders_and_the_card, card_on);
async fn card_on(store: Store, b: Store) -> TestResult {
    let t = store.create_tenant("cd", "Card", "wk_cd").await?;
    let other = store.create_tenant("cd2", "Card2", "wk_cd2").await?;
    let s = Services::new(store.clone(), Bus::default());
    let li = user(&store, &t, "Li Na", Role::Agent).await?;
    let boss = user(&store, &t, "Boss", Role::Supervisor).await?;

    // A browser is tracked anonymously, then chats: the chat's visitor is the tracked one.
    let anon = "anon-browser-0001";
    let (v1, n) =
        s.track(&t.widget_key, anon, &[page_view("https://shop.test/", "首页"), product("p1", "羊毛大衣")]).await?;
    assert_eq!(n, 2);
    s.track(
        &t.widget_key,
        anon,
        &[
            product("p2", "Silk scarf"),
            TrackInput {
                kind: "add_to_cart".into(),
                product_id: Some("p2".into()),
                amount: Some("¥199".into()),
                ..Default::default()
            },
        ],
    )
    .await?;
    let grant = chat(&s, &t, "访客", Some(anon), "这件大衣有货吗").await?;
    assert_eq!(grant.visitor_id, v1);
    // Bad events are refused whole.
    let custom_without_name = TrackInput { kind: "custom".into(), ..Default::default() };
    assert!(matches!(s.track(&t.widget_key, anon, &[custom_without_name]).await, Err(ServiceError::Invalid(_))));
    assert!(matches!(s.track(&t.widget_key, "x", &[page_view("u", "t")]).await, Err(ServiceError::Invalid(_))));
    assert!(matches!(s.track("nope", anon, &[page_view("u", "t")]).await, Err(ServiceError::UnknownWidgetKey)));

    // The same customer on their phone, known by e-mail from an order, identifies: everything merges into one.
    let order = OrderInput {
        external_id: "T-1001".into(),
        customer: CustomerRef { email: Some("Fang.Wang@Example.com".into()), ..Default::default() },
        status: "paid".into(),
        amount: "1,299.00".into(),
        currency: None,
        items: vec![],
        placed_at: Some("2026-11-11 20:00:00".into()),
    };
    assert!(matches!(s.upsert_order(&li, &order).await, Err(ServiceError::Forbidden(_))));
    let (o, what) = s.upsert_order(&boss, &order).await?;
    assert_eq!((what, o.amount_cents), (lingxi_store::OrderUpsert::Created, 129_900));
    assert_eq!(s.upsert_order(&boss, &order).await?.1, lingxi_store::OrderUpsert::Unchanged);
    let by_email = o.visitor_id.ok_or("order visitor")?;
    assert_ne!(by_email, v1);
    let phone_anon = "anon-phone-00002";
    s.track(&t.widget_key, phone_anon, &[product("p3", "Boots")]).await?;
    let me = CustomerRef {
        user_id: Some("cust-42".into()),
        email: Some("fang.wang@example.com".into()),
        phone: Some("+86 138 1234 5678".into()),
        name: Some("王芳".into()),
    };
    let mut attrs = BTreeMap::new();
    attrs.insert("city".to_owned(), Some("杭州".to_owned()));
    let merged = s.identify(&t.widget_key, phone_anon, &me, attrs).await?;
    let again = s.identify(&t.widget_key, anon, &me, BTreeMap::new()).await?;
    assert_eq!(merged, again, "both browsers are one customer now");
    for old in [v1, by_email] {
        assert_eq!(store.live_visitor(t.id, old).await?.id, merged);
    }
    let card = s.visitor_card(&boss, v1).await?;
    assert_eq!(card.visitor.id, merged);
    assert_eq!(card.visitor.name, "王芳");
    assert_eq!(card.visitor.email.as_deref(), Some("fang.wang@example.com"));
    assert_eq!(card.visitor.phone.as_deref(), Some("+8613812345678"));
    assert_eq!(card.visitor.attributes.get("city").map(String::as_str), Some("杭州"));
    let products: Vec<_> = card.track.iter().filter_map(|e| e.product_name.clone()).collect();
    assert_eq!(products, vec!["羊毛大衣", "Silk scarf", "Boots"], "in the order they happened");
    assert_eq!(card.track[0].kind, "page_view");
    assert_eq!(card.orders.len(), 1);
    assert_eq!(card.conversations.iter().map(|c| c.id).collect::<Vec<_>>(), vec![grant.conversation_id]);
    assert_eq!((card.tier, card.totals.orders, card.totals.spent_cents), (ValueTier::Regular, 1, 129_900));
    // Agents see contact details masked.
    let masked = s.visitor_card(&li, merged).await?;
    assert_eq!(masked.visitor.email.as_deref(), Some("f***@example.com"));
    assert_eq!(masked.visitor.phone.as_deref(), Some("+86*******5678"));
    // A different customer account is never merged in: its identity stays with it.
    let rival = CustomerRef {
        user_id: Some("cust-7".into()),
        email: Some("fang.wang@example.com".into()),
        ..Default::default()
    };
    let seven = s.identify(&t.widget_key, "anon-rival-000003", &rival, BTreeMap::new()).await?;
    assert_ne!(seven, merged);
    assert_eq!(store.live_visitor(t.id, merged).await?.merged_into, None);
    // Another tenant knows none of this.
    assert!(matches!(
        s.visitor_card(&user(&store, &other, "X", Role::Owner).await?, merged).await,
        Err(ServiceError::NotFound(_))
    ));

    // Two nodes resolving the same new identities at once end with one visitor.
    let nodes = [s.clone(), Services::new(b, Bus::default())];
    let mut tasks = Vec::new();
    for i in 0..8 {
        let node = nodes[i % 2].clone();
        let key = t.widget_key.clone();
        tasks.push(tokio::spawn(async move {
            let who = CustomerRef { phone: Some("13900000000".into()), ..Default::default() };
            node.identify(&key, &format!("anon-race-{i:06}"), &who, BTreeMap::new()).await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.push(task.await??);
    }
    winners.dedup();
    assert_eq!(winners.len(), 1, "{winners:?}");
    Ok(())
}

both_backends!(orders_import_all_or_nothing, import_on);
async fn import_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("oi", "OI", "wk_oi").await?;
    let s = Services::new(store.clone(), Bus::default());
    let boss = user(&store, &t, "Boss", Role::Admin).await?;
    let bad = "order_id,email,status,amount,items,placed_at\nA1,a@x.cn,paid,10.00,T-shirt x 2,2026-11-01\nA2,not-mail,paid,abc,,2026-11-02\n";
    let report = s.import_orders(&boss, bad.as_bytes()).await?;
    assert_eq!((report.created, report.errors.len()), (0, 1));
    assert_eq!(report.errors[0].row, 3);
    assert!(store.order_by_external_id(t.id, "A1").await?.is_none(), "nothing applied");
    let good = "\u{feff}order_id,email,name,status,amount,currency,items,placed_at\nA1,a@x.cn,Ann,paid,10.00,,T-shirt x 2; Mug,2026-11-01 10:00:00\nA2,a@x.cn,Ann,refunded,99,USD,,2026-11-02\nA3,b@x.cn,Bo,shipped,¥2500,,,2026-11-03\n";
    let report = s.import_orders(&boss, good.as_bytes()).await?;
    assert_eq!((report.created, report.updated, report.unchanged, report.errors.len()), (3, 0, 0, 0));
    let again = s.import_orders(&boss, good.replace("shipped", "completed").as_bytes()).await?;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 1, 2));
    let a1 = store.order_by_external_id(t.id, "A1").await?.ok_or("A1")?;
    assert_eq!(
        a1.items.iter().map(|i| (i.name.as_str(), i.quantity)).collect::<Vec<_>>(),
        vec![("T-shirt", 2), ("Mug", 1)]
    );
    let ann = a1.visitor_id.ok_or("visitor")?;
    let card = s.visitor_card(&boss, ann).await?;
    assert_eq!(
        (card.totals.orders, card.totals.spent_cents, card.tier),
        (1, 1000, ValueTier::New),
        "refunds do not count"
    );
    let bo = store.order_by_external_id(t.id, "A3").await?.and_then(|o| o.visitor_id).ok_or("A3")?;
    assert_eq!(s.visitor_card(&boss, bo).await?.tier, ValueTier::Valued);
    assert!(s.import_orders(&boss, b"id,total\n1,2\n").await.is_err(), "needs order_id and amount");
    Ok(())
}
