//! Routing, end to end below HTTP, on SQLite always and on PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set:
//! each strategy, sticky routing, VIP priority and queue order, capacity, transfers, takeovers, offline agents,
//! rules, and the concurrency invariants (never assigned twice, never above capacity) with two "nodes".

use lingxi_bus::Bus;
use lingxi_service::{Authenticated, Services, TransferTarget};
use lingxi_store::{GroupInput, Store};
use lingxi_types::*;
use std::collections::HashMap;

#[macro_use]
mod common;
use common::TestResult;

struct Shop {
    services: Services,
    tenant: Tenant,
    agents: Vec<Authenticated>,
}

impl Shop {
    async fn new(store: Store, agents: usize) -> Result<Shop, Box<dyn std::error::Error + Send + Sync>> {
        let tenant = store.create_tenant("shop", "Shop", "wk_shop").await?;
        let services = Services::new(store.clone(), Bus::default());
        let mut list = Vec::new();
        for i in 0..agents {
            let user =
                store.create_user(tenant.id, &format!("a{i}@shop.test"), &format!("A{i}"), Role::Agent, "x").await?;
            list.push(Authenticated::new(user, tenant.clone()));
        }
        Ok(Shop { services, tenant, agents: list })
    }

    fn store(&self) -> &Store {
        &self.services.store
    }

    fn id(&self, i: usize) -> UserId {
        self.agents[i].user.id
    }

    /// Agent `i` connects with this capacity (and skills).
    async fn online(&self, i: usize, capacity: i64, skills: &[&str]) -> TestResult {
        let skills: Vec<String> = skills.iter().map(|s| s.to_string()).collect();
        self.store().set_agent_profile(self.tenant.id, self.id(i), capacity, &skills).await?;
        self.store().agent_connected(self.tenant.id, self.id(i)).await?;
        Ok(())
    }

    /// A visitor (by external id) opens a conversation on a page, says something, and asks for a human.
    async fn ask(
        &self,
        who: &str,
        page: &str,
        text: &str,
    ) -> Result<Conversation, Box<dyn std::error::Error + Send + Sync>> {
        let s = self
            .services
            .open_widget_session(&self.tenant.widget_key, Some(who), Some(who), None, Some(page), None)
            .await?;
        let grant = self.services.widget_grant(&s.token).await?;
        self.services.visitor_message(grant, None, text).await?;
        Ok(self.services.handoff(self.tenant.id, s.conversation.id, HandoffReason::VisitorRequest).await?)
    }

    async fn group(
        &self,
        name: &str,
        strategy: RoutingStrategy,
        members: &[usize],
        skills: &[&str],
    ) -> Result<SkillGroup, Box<dyn std::error::Error + Send + Sync>> {
        let input = GroupInput {
            name: name.into(),
            strategy,
            skills: skills.iter().map(|s| s.to_string()).collect(),
            sticky: true,
            members: members.iter().map(|&i| self.id(i)).collect(),
        };
        Ok(self.store().create_group(self.tenant.id, &input).await?)
    }

    async fn everything_to(&self, group: &SkillGroup) -> TestResult {
        let rule = RouteRule {
            id: RuleId::generate(),
            name: "all".into(),
            conditions: vec![],
            group_id: Some(group.id),
            priority: 0,
            enabled: true,
        };
        self.services.set_routing_rules(self.tenant.id, vec![rule]).await?;
        Ok(())
    }

    async fn get(&self, c: &Conversation) -> Result<Conversation, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.store().conversation(self.tenant.id, c.id).await?)
    }
}

both_backends!(
    least_loaded_fills_the_emptiest_agent_relative_to_capacity,
    least_loaded_fills_the_emptiest_agent_relative_to_capacity_on
);
async fn least_loaded_fills_the_emptiest_agent_relative_to_capacity_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 3).await?;
    let g = shop.group("Sales", RoutingStrategy::LeastLoaded, &[0, 1], &[]).await?;
    shop.everything_to(&g).await?;
    shop.online(0, 2, &[]).await?;
    shop.online(1, 4, &[]).await?;
    shop.online(2, 8, &[]).await?; // not a member: never gets Sales conversations
    let mut got = HashMap::new();
    for i in 0..6 {
        let c = shop.ask(&format!("v{i}"), "/", "hello").await?;
        *got.entry(c.assigned_agent.ok_or("assigned")?).or_insert(0) += 1;
    }
    assert_eq!(got.get(&shop.id(0)), Some(&2));
    assert_eq!(got.get(&shop.id(1)), Some(&4));
    assert_eq!(got.get(&shop.id(2)), None);
    let c = shop.ask("v-late", "/", "hello").await?;
    assert_eq!(c.status, ConversationStatus::Queued, "both members are full");
    let why = shop.store().assignments(shop.tenant.id, shop.store().queue(shop.tenant.id, 1).await?[0].id).await?;
    assert!(why.is_empty());
    Ok(())
}

both_backends!(round_robin_takes_turns_and_explains_itself, round_robin_takes_turns_and_explains_itself_on);
async fn round_robin_takes_turns_and_explains_itself_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 3).await?;
    let g = shop.group("Support", RoutingStrategy::RoundRobin, &[0, 1, 2], &[]).await?;
    shop.everything_to(&g).await?;
    for i in 0..3 {
        shop.online(i, 10, &[]).await?;
    }
    let mut order = Vec::new();
    for i in 0..6 {
        let c = shop.ask(&format!("v{i}"), "/", "hi").await?;
        order.push(c.assigned_agent.ok_or("assigned")?);
        // Turns are by last assignment time (ms): keep them apart.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    assert_eq!(order[0..3].iter().collect::<std::collections::HashSet<_>>().len(), 3, "three different agents first");
    assert_eq!(order[0..3], order[3..6], "then the same turn again");
    let c = shop.store().list_conversations(shop.tenant.id, &Default::default()).await?;
    let any = &c[0].0;
    let why = shop.store().assignments(shop.tenant.id, any.id).await?;
    assert_eq!(why.len(), 1);
    let e = &why[0].explanation;
    assert_eq!((e.kind.as_str(), e.rule.as_deref(), e.group.as_deref()), ("route", Some("all"), Some("Support")));
    assert_eq!(e.strategy, Some(RoutingStrategy::RoundRobin));
    assert_eq!(e.considered, 3);
    assert!(e.reason.contains("round robin"), "{}", e.reason);
    Ok(())
}

both_backends!(
    skill_match_sends_english_visitors_to_english_speakers,
    skill_match_sends_english_visitors_to_english_speakers_on
);
async fn skill_match_sends_english_visitors_to_english_speakers_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 3).await?;
    let g = shop.group("Global", RoutingStrategy::SkillMatch, &[0, 1, 2], &[]).await?;
    shop.everything_to(&g).await?;
    shop.online(0, 5, &["zh"]).await?;
    shop.online(1, 5, &["en", "refunds"]).await?;
    shop.online(2, 5, &["zh", "en"]).await?;
    let en = shop.ask("e1", "/", "Where is my parcel?").await?;
    assert!([shop.id(1), shop.id(2)].contains(&en.assigned_agent.ok_or("assigned")?));
    let zh = shop.ask("z1", "/", "我的快递到哪了").await?;
    assert!([shop.id(0), shop.id(2)].contains(&zh.assigned_agent.ok_or("assigned")?));
    let why = shop.store().assignments(shop.tenant.id, en.id).await?;
    assert_eq!(why[0].explanation.needs, vec!["en".to_string()]);
    assert!(why[0].explanation.candidates.iter().all(|c| c.score.is_some()));
    Ok(())
}

both_backends!(
    returning_customers_go_back_to_their_agent_while_online,
    returning_customers_go_back_to_their_agent_while_online_on
);
async fn returning_customers_go_back_to_their_agent_while_online_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 2).await?;
    shop.online(0, 5, &[]).await?;
    let first = shop.ask("loyal", "/", "hi").await?;
    assert_eq!(first.assigned_agent, Some(shop.id(0)));
    shop.services.close(&shop.agents[0], first.id).await?;
    // Agent 1 is emptier, but the customer returns to agent 0.
    shop.online(1, 5, &[]).await?;
    shop.ask("other-1", "/", "hi").await?; // goes to agent 1 (agent 0 had the last assignment… and is equally loaded)
    let again = shop.ask("loyal", "/", "hi again").await?;
    assert_eq!(again.assigned_agent, Some(shop.id(0)));
    let why = shop.store().assignments(shop.tenant.id, again.id).await?;
    assert_eq!(why[0].explanation.kind, "sticky");
    // Once agent 0 is away, the returning customer goes to whoever has room.
    shop.services.close(&shop.agents[0], again.id).await?;
    shop.services.set_my_status(&shop.agents[0], AgentStatus::Away).await?;
    let third = shop.ask("loyal", "/", "third time").await?;
    assert_eq!(third.assigned_agent, Some(shop.id(1)));
    Ok(())
}

both_backends!(
    vips_first_then_first_come_first_served_within_a_priority,
    vips_first_then_first_come_first_served_within_a_priority_on
);
async fn vips_first_then_first_come_first_served_within_a_priority_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 1).await?;
    let first = shop.ask("n1", "/", "hi").await?;
    let second = shop.ask("n2", "/", "hi").await?;
    // A VIP asks last.
    let s = shop.services.open_widget_session(&shop.tenant.widget_key, None, Some("boss"), None, None, None).await?;
    shop.services.set_visitor_segments(shop.tenant.id, s.visitor_id, &["gold".into()], true).await?;
    let vip = shop.services.handoff(shop.tenant.id, s.conversation.id, HandoffReason::VisitorRequest).await?;
    assert_eq!(vip.priority, VIP_PRIORITY);
    assert_eq!(shop.services.queue_info(shop.tenant.id, vip.id).await?.map(|q| q.position), Some(1));
    assert_eq!(shop.services.queue_info(shop.tenant.id, first.id).await?.map(|q| q.position), Some(2));
    assert_eq!(shop.services.queue_info(shop.tenant.id, second.id).await?.map(|q| q.position), Some(3));
    // One agent with room for one: the queue is served VIP first, then in arrival order, as slots free up.
    shop.online(0, 1, &[]).await?;
    shop.services.dispatch(shop.tenant.id).await?;
    let agent = &shop.agents[0];
    let mut served = Vec::new();
    for _ in 0..3 {
        let mine = shop.store().conversations_of_agent(shop.tenant.id, agent.user.id).await?;
        assert_eq!(mine.len(), 1, "never above capacity");
        served.push(mine[0].id);
        shop.services.close(agent, mine[0].id).await?;
    }
    assert_eq!(served, vec![vip.id, first.id, second.id]);
    assert_eq!(shop.services.queue_info(shop.tenant.id, first.id).await?, None, "no longer queued");
    Ok(())
}

both_backends!(rules_route_by_page_language_tag_and_category, rules_route_by_page_language_tag_and_category_on);
async fn rules_route_by_page_language_tag_and_category_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 3).await?;
    let refunds = shop.group("Refunds", RoutingStrategy::LeastLoaded, &[0], &[]).await?;
    let english = shop.group("English", RoutingStrategy::LeastLoaded, &[1], &[]).await?;
    let rules = vec![
        RouteRule {
            id: RuleId::generate(),
            name: "refund pages".into(),
            conditions: vec![RouteCondition::EntryPage { contains: "/refund".into() }],
            group_id: Some(refunds.id),
            priority: 10,
            enabled: true,
        },
        RouteRule {
            id: RuleId::generate(),
            name: "english".into(),
            conditions: vec![RouteCondition::Language { equals: "en".into() }],
            group_id: Some(english.id),
            priority: 0,
            enabled: true,
        },
    ];
    shop.services.set_routing_rules(shop.tenant.id, rules).await?;
    for i in 0..3 {
        shop.online(i, 5, &[]).await?;
    }
    let r = shop.ask("r", "https://shop.test/refund/123", "我要退款").await?;
    assert_eq!((r.group_id, r.priority, r.assigned_agent), (Some(refunds.id), 10, Some(shop.id(0))));
    assert_eq!(r.route_rule.as_deref(), Some("refund pages"));
    let e = shop.ask("e", "https://shop.test/", "hello there").await?;
    assert_eq!((e.group_id, e.assigned_agent), (Some(english.id), Some(shop.id(1))));
    let z = shop.ask("z", "https://shop.test/", "你好").await?;
    assert_eq!(z.group_id, None, "no rule: any agent");
    assert!(z.assigned_agent.is_some());
    Ok(())
}

both_backends!(
    transfers_move_the_conversation_and_notes_stay_internal,
    transfers_move_the_conversation_and_notes_stay_internal_on
);
async fn transfers_move_the_conversation_and_notes_stay_internal_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 3).await?;
    let vip_desk = shop.group("VIP desk", RoutingStrategy::LeastLoaded, &[2], &[]).await?;
    shop.online(0, 5, &[]).await?;
    let c = shop.ask("t", "/", "hi").await?;
    assert_eq!(c.assigned_agent, Some(shop.id(0)));
    // To an agent who is not online: refused, nothing changes.
    let refused = shop.services.transfer(&shop.agents[0], c.id, TransferTarget::Agent(shop.id(1)), None).await;
    assert!(refused.is_err());
    assert_eq!(shop.get(&c).await?.assigned_agent, Some(shop.id(0)));
    // Another agent may not transfer a conversation they do not serve.
    assert!(shop.services.transfer(&shop.agents[1], c.id, TransferTarget::Agent(shop.id(1)), None).await.is_err());
    shop.online(1, 5, &[]).await?;
    let moved = shop
        .services
        .transfer(&shop.agents[0], c.id, TransferTarget::Agent(shop.id(1)), Some("客户要开发票 invoice"))
        .await?;
    assert_eq!(moved.assigned_agent, Some(shop.id(1)));
    // To a group with nobody online: queued in that group, then served when a member comes online.
    let queued = shop.services.transfer(&shop.agents[1], c.id, TransferTarget::Group(vip_desk.id), None).await?;
    assert_eq!((queued.status, queued.group_id), (ConversationStatus::Queued, Some(vip_desk.id)));
    shop.online(2, 5, &[]).await?;
    shop.services.dispatch(shop.tenant.id).await?;
    assert_eq!(shop.get(&c).await?.assigned_agent, Some(shop.id(2)));
    let kinds: Vec<String> =
        shop.store().assignments(shop.tenant.id, c.id).await?.into_iter().map(|a| a.explanation.kind).collect();
    assert_eq!(kinds, vec!["route", "transfer", "route"]);
    // The note is in the agents' view, never in the visitor's.
    let all = shop.store().messages_after(shop.tenant.id, c.id, 0, 100).await?;
    let visible = shop.store().visitor_messages_after(shop.tenant.id, c.id, 0, 100).await?;
    assert!(all.iter().any(|m| m.author == Author::Note && m.text.contains("invoice")));
    assert!(visible.iter().all(|m| m.author != Author::Note && !m.text.contains("invoice")));
    Ok(())
}

both_backends!(supervisors_take_over_and_agents_may_not, supervisors_take_over_and_agents_may_not_on);
async fn supervisors_take_over_and_agents_may_not_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store.clone(), 1).await?;
    let sup = store.create_user(shop.tenant.id, "sup@shop.test", "Sup", Role::Supervisor, "x").await?;
    let sup = Authenticated::new(sup, shop.tenant.clone());
    shop.online(0, 5, &[]).await?;
    let c = shop.ask("x", "/", "hi").await?;
    assert!(shop.services.take_over(&shop.agents[0], c.id).await.is_err(), "agents cannot take over");
    let taken = shop.services.take_over(&sup, c.id).await?;
    assert_eq!(taken.assigned_agent, Some(sup.user.id));
    let why = shop.store().assignments(shop.tenant.id, c.id).await?;
    assert_eq!(why.last().map(|a| a.explanation.kind.as_str()), Some("takeover"));
    Ok(())
}

both_backends!(
    offline_and_absent_agents_give_their_conversations_back,
    offline_and_absent_agents_give_their_conversations_back_on
);
async fn offline_and_absent_agents_give_their_conversations_back_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store.clone(), 2).await?;
    shop.online(0, 5, &[]).await?;
    let a = shop.ask("a", "/", "hi").await?;
    let b = shop.ask("b", "/", "hi").await?;
    assert_eq!((a.assigned_agent, b.assigned_agent), (Some(shop.id(0)), Some(shop.id(0))));
    shop.online(1, 5, &[]).await?;
    // Going offline returns both to the queue, ahead of newer ones, and they go to agent 1.
    shop.services.set_my_status(&shop.agents[0], AgentStatus::Offline).await?;
    assert_eq!(shop.get(&a).await?.assigned_agent, Some(shop.id(1)));
    assert_eq!(shop.get(&b).await?.handoff_reason, Some(HandoffReason::AgentOffline));
    // Agent 1's workspace stops sending heartbeats (closed laptop): after the grace period the tick requeues.
    store.raw_execute(&format!("UPDATE agent_states SET seen_at = 1 WHERE user_id = '{}'", shop.id(1))).await?;
    shop.services.routing_tick().await?;
    assert_eq!(shop.get(&a).await?.status, ConversationStatus::Queued);
    // Nobody is available now; the first agent comes back and the tick or their connection drains the queue.
    shop.online(0, 5, &[]).await?;
    shop.services.routing_tick().await?;
    assert_eq!(shop.get(&a).await?.assigned_agent, Some(shop.id(0)));
    assert_eq!(shop.get(&b).await?.assigned_agent, Some(shop.id(0)));
    Ok(())
}

// The concurrency invariants. Two "nodes" (two pools, two `Services`) and many tasks dispatch, close and claim
// at once; afterwards no agent serves more than their capacity at any assignment, and no conversation was
// assigned twice by routing.
both_backends!(
    concurrent_dispatchers_never_double_assign_or_exceed_capacity,
    concurrent_dispatchers_never_double_assign_or_exceed_capacity_on
);
async fn concurrent_dispatchers_never_double_assign_or_exceed_capacity_on(a: Store, b: Store) -> TestResult {
    const AGENTS: usize = 12;
    const CAPACITY: i64 = 3;
    const VISITORS: usize = 60;
    let shop = Shop::new(a, AGENTS).await?;
    let other_node = Services::new(b, Bus::default());
    for i in 0..AGENTS {
        shop.online(i, CAPACITY, &[]).await?;
    }
    // Queue everything while nobody may take it (agents busy), then open the floodgates from many tasks.
    for i in 0..AGENTS {
        shop.services.set_my_status(&shop.agents[i], AgentStatus::Busy).await?;
    }
    let mut queued = Vec::new();
    for i in 0..VISITORS {
        queued.push(shop.ask(&format!("v{i}"), "/", "hi").await?.id);
    }
    for i in 0..AGENTS {
        shop.store().set_agent_status(shop.tenant.id, shop.id(i), AgentStatus::Online).await?;
    }
    let mut tasks = Vec::new();
    for k in 0..8 {
        let node = if k % 2 == 0 { shop.services.clone() } else { other_node.clone() };
        let tenant = shop.tenant.id;
        tasks.push(tokio::spawn(async move { node.dispatch(tenant).await.map(|_| ()) }));
    }
    for t in tasks {
        t.await??;
    }
    let check = |convs: &[(Conversation, Option<Message>)]| -> Result<usize, String> {
        let mut loads: HashMap<UserId, i64> = HashMap::new();
        for (c, _) in convs.iter().filter(|(c, _)| c.status == ConversationStatus::Assigned) {
            *loads.entry(c.assigned_agent.ok_or("assigned without agent")?).or_insert(0) += 1;
        }
        if let Some((agent, n)) = loads.iter().find(|(_, n)| **n > CAPACITY) {
            return Err(format!("{agent} serves {n} > {CAPACITY}"));
        }
        Ok(loads.values().sum::<i64>() as usize)
    };
    let filter = lingxi_store::ConversationFilter { limit: Some(500), ..Default::default() };
    let all = shop.store().list_conversations(shop.tenant.id, &filter).await?;
    assert_eq!(check(&all)?, AGENTS * CAPACITY as usize, "every slot filled");
    // Round two: agents close conversations while both nodes dispatch and other agents claim, all at once.
    let mut tasks = Vec::new();
    for i in 0..AGENTS {
        let node = if i % 2 == 0 { shop.services.clone() } else { other_node.clone() };
        let who = shop.agents[i].clone();
        let store = shop.store().clone();
        tasks.push(tokio::spawn(async move {
            let mine = store.conversations_of_agent(who.tenant.id, who.user.id).await?;
            for c in mine.iter().take(2) {
                node.close(&who, c.id).await?;
            }
            node.dispatch(who.tenant.id).await?;
            Ok::<(), lingxi_service::ServiceError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let all = shop.store().list_conversations(shop.tenant.id, &filter).await?;
    let assigned = check(&all)?;
    let closed = all.iter().filter(|(c, _)| c.status == ConversationStatus::Closed).count();
    let waiting = all.iter().filter(|(c, _)| c.status == ConversationStatus::Queued).count();
    assert_eq!(closed, AGENTS * 2);
    assert_eq!(assigned, (VISITORS - closed).min(AGENTS * CAPACITY as usize));
    assert_eq!(assigned + closed + waiting, VISITORS, "nothing lost");
    // Each conversation was assigned by routing exactly once (no conversation was requeued in this test).
    for id in queued {
        let n = shop.store().assignments(shop.tenant.id, id).await?.len();
        assert!(n <= 1, "conversation {id} assigned {n} times");
    }
    Ok(())
}

both_backends!(a_transfer_to_a_group_never_bounces_back_and_vip_moves_a_waiting_customer_up, bounce_on);
async fn bounce_on(store: Store, _b: Store) -> TestResult {
    let shop = Shop::new(store, 2).await?;
    let desk = shop.group("Desk", RoutingStrategy::LeastLoaded, &[0, 1], &[]).await?;
    shop.everything_to(&desk).await?;
    shop.online(0, 5, &[]).await?;
    let c = shop.ask("t", "/", "hi").await?;
    assert_eq!(c.assigned_agent, Some(shop.id(0)));
    // Agent 0 is the only one available: the transfer waits in the queue instead of returning to agent 0.
    let q = shop.services.transfer(&shop.agents[0], c.id, TransferTarget::Group(desk.id), None).await?;
    assert_eq!(q.status, ConversationStatus::Queued);
    shop.online(1, 5, &[]).await?;
    shop.services.dispatch(shop.tenant.id).await?;
    assert_eq!(shop.get(&c).await?.assigned_agent, Some(shop.id(1)));

    // Everyone busy; two customers wait; the second becomes a VIP and moves ahead at once.
    for i in 0..2 {
        shop.services.set_my_status(&shop.agents[i], AgentStatus::Busy).await?;
    }
    let first = shop.ask("w1", "/", "hi").await?;
    let second = shop.ask("w2", "/", "hi").await?;
    assert_eq!(shop.services.queue_info(shop.tenant.id, second.id).await?.map(|q| q.position), Some(2));
    shop.services.set_visitor_segments(shop.tenant.id, second.visitor_id, &[], true).await?;
    assert_eq!(shop.get(&second).await?.priority, VIP_PRIORITY);
    assert_eq!(shop.services.queue_info(shop.tenant.id, second.id).await?.map(|q| q.position), Some(1));
    assert_eq!(shop.services.queue_info(shop.tenant.id, first.id).await?.map(|q| q.position), Some(2));
    Ok(())
}
