//! Routing use cases: rules put a conversation in a group's queue with a priority; the dispatcher gives queued
//! conversations, in serving order, to available agents by the group's strategy (sticky first for returning
//! customers); transfers, takeovers and absent agents; the visitor's queue position; skill groups and agent profiles.
//!
//! Correctness under concurrency does not depend on this module: any number of dispatchers on any number of nodes
//! may run at once, because [`lingxi_store::Store::assign`] is atomic. They only decide whom to try.

use crate::auth::Authenticated;
use crate::presence::PresenceGuard;
use crate::workspace::is_supervisor;
use crate::{ServiceError, ServiceResult, Services, validate_text};
use lingxi_bus::Event;
use lingxi_domain::routing::{AgentSlot, MAX_CAPACITY, RouteFacts, needs, pick, route};
use lingxi_store::{AssignChecks, AssignOutcome, AvailableAgent, GroupInput, NewMessage};
use lingxi_types::*;
use serde_json::json;
use std::collections::HashMap;

/// An agent unseen for this long (no workspace heartbeat) loses their open conversations to the queue.
pub const ABSENT_GRACE_MS: i64 = 120_000;

/// How far back assignments are counted to estimate a queued visitor's wait.
const WAIT_WINDOW_MS: i64 = 30 * 60 * 1000;

/// Where a conversation is transferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    /// One agent (must be online with room).
    Agent(UserId),
    /// A skill group's queue.
    Group(GroupId),
}

/// What became of one queued conversation in a dispatch round.
enum Dispatched {
    /// This dispatcher assigned it.
    Assigned,
    /// Someone else moved it meanwhile (assigned, closed, transferred).
    Moved,
    /// No agent of its group has room now.
    NoAgent,
}

/// A queued visitor's place in line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// 1 = next.
    pub position: i64,
    /// Estimated wait from the group's recent assignment rate; `None` without recent data.
    pub estimated_wait_secs: Option<i64>,
}

/// A skill group as an administrator submits it.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// Display name.
    pub name: String,
    /// Strategy.
    pub strategy: RoutingStrategy,
    /// Skills the group's conversations need.
    pub skills: Vec<String>,
    /// Return customers to their last agent.
    pub sticky: bool,
    /// Members.
    pub members: Vec<UserId>,
}

fn clean_list(what: &str, items: &[String], max_items: usize, max_chars: usize) -> ServiceResult<Vec<String>> {
    if items.len() > max_items {
        return Err(ServiceError::Invalid(format!("at most {max_items} {what}")));
    }
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let t = i.trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > max_chars {
            return Err(ServiceError::Invalid(format!("each of the {what} has at most {max_chars} characters")));
        }
        if !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Services {
    fn queue_changed(&self, tenant_id: TenantId) {
        self.bus.publish(Event::QueueChanged(tenant_id));
    }

    /// Routes a conversation by the tenant's rules and puts it in the queue, if it is in one of `from`.
    pub(crate) async fn route_and_enqueue(
        &self,
        c: &Conversation,
        from: &[ConversationStatus],
        reason: HandoffReason,
    ) -> ServiceResult<Option<Conversation>> {
        let tenant_id = c.tenant_id;
        let visitor = self.store.visitor(tenant_id, c.visitor_id).await?;
        let rules = self.store.routing_rules(tenant_id).await?;
        let facts = RouteFacts {
            channel: Some(c.channel),
            entry_page: c.entry_page.as_deref(),
            language: c.language.as_deref(),
            visitor_tags: &visitor.tags,
            vip: visitor.vip,
            category: c.category.as_deref(),
        };
        let decided = route(&rules, &facts);
        let rule_name = decided.rule.as_ref().map(|(_, n)| n.as_str());
        let queued = self
            .store
            .enqueue(tenant_id, c.id, from, decided.group_id, decided.priority, reason, false, rule_name)
            .await?;
        if let Some(q) = &queued {
            self.store
                .record_event(
                    tenant_id,
                    Some(c.id),
                    EventKind::HandoffRequested,
                    json!({"reason": reason.as_str(), "rule": rule_name, "group": decided.group_id,
                           "priority": decided.priority}),
                )
                .await?;
            self.changed(q);
            self.queue_changed(tenant_id);
        }
        Ok(queued)
    }

    /// Gives queued conversations, highest priority and longest waiting first, to available agents while any has
    /// room. Returns how many were assigned. Safe to run concurrently anywhere.
    pub async fn dispatch(&self, tenant_id: TenantId) -> ServiceResult<usize> {
        const BATCH: i64 = 2000;
        let groups: HashMap<GroupId, SkillGroup> =
            self.store.groups(tenant_id).await?.into_iter().map(|g| (g.id, g)).collect();
        let mut total = 0;
        loop {
            // Fresh loads each round: other dispatchers (here or on other nodes) fill agents too.
            let mut agents = self.store.available_agents(tenant_id).await?;
            if !agents.iter().any(|a| a.load < a.capacity) {
                break;
            }
            let queue = self.store.queue(tenant_id, BATCH).await?;
            let (mut assigned, mut moved) = (0, 0);
            for c in &queue {
                if !agents.iter().any(|a| a.load < a.capacity) {
                    break;
                }
                match self.dispatch_one(c, &mut agents, &groups).await? {
                    Dispatched::Assigned => assigned += 1,
                    Dispatched::Moved => moved += 1,
                    Dispatched::NoAgent => {}
                }
            }
            total += assigned;
            // Stop when a round changed nothing: every conversation left waits for an agent of its group.
            // Conversations taken by another dispatcher count as change: the queue behind them may be servable.
            if assigned + moved == 0 || (queue.len() as i64) < BATCH && moved == 0 {
                break;
            }
        }
        if total > 0 {
            self.queue_changed(tenant_id);
        }
        Ok(total)
    }

    /// Tries to assign one queued conversation to one of `agents`, keeping their loads current.
    async fn dispatch_one(
        &self,
        c: &Conversation,
        agents: &mut Vec<AvailableAgent>,
        groups: &HashMap<GroupId, SkillGroup>,
    ) -> ServiceResult<Dispatched> {
        let group = c.group_id.and_then(|g| groups.get(&g));
        // A conversation transferred to a group does not bounce back to the agent who transferred it.
        let transferred_from = if c.handoff_reason == Some(HandoffReason::Transfer) {
            self.store.assignments(c.tenant_id, c.id).await?.last().map(|a| a.agent_id)
        } else {
            None
        };
        let in_group =
            |a: &AvailableAgent| group.is_none_or(|g| a.groups.contains(&g.id)) && Some(a.user_id) != transferred_from;
        if !agents.iter().any(|a| in_group(a) && a.load < a.capacity) {
            return Ok(Dispatched::NoAgent);
        }
        let sticky_agent = if group.is_none_or(|g| g.sticky) {
            self.store.last_agent_of_visitor(c.tenant_id, c.visitor_id, c.id).await?
        } else {
            None
        };
        let strategy = group.map_or(RoutingStrategy::LeastLoaded, |g| g.strategy);
        let wanted = needs(group.map_or(&[][..], |g| &g.skills), c.language.as_deref(), c.category.as_deref());
        // A few attempts: another dispatcher may fill an agent or take the conversation meanwhile.
        for _ in 0..4 {
            let sticky =
                sticky_agent.and_then(|s| agents.iter().find(|a| a.user_id == s && in_group(a) && a.load < a.capacity));
            let eligible: Vec<&AvailableAgent> = agents.iter().filter(|a| in_group(a)).collect();
            let slots: Vec<AgentSlot<'_>> = eligible
                .iter()
                .map(|a| AgentSlot {
                    agent: a.user_id,
                    load: a.load,
                    capacity: a.capacity,
                    last_assigned_ms: a.last_assigned_ms,
                    skills: &a.skills,
                })
                .collect();
            let (agent, kind, reason) = match sticky {
                Some(a) => (a.user_id, "sticky", "returning customer: back to the agent who served them last".into()),
                None => match pick(strategy, &slots, &wanted) {
                    Some(p) => (p.agent, "route", p.reason),
                    None => return Ok(Dispatched::NoAgent),
                },
            };
            // The chosen agent first, then the best ten others by skill score and relative load.
            let mut ranked: Vec<&AgentSlot<'_>> = slots.iter().filter(|s| s.has_room()).collect();
            let rank = |s: &&AgentSlot<'_>| (s.agent != agent, -s.score(&wanted), s.load * 1000 / s.capacity.max(1));
            if ranked.len() > 10 {
                ranked.select_nth_unstable_by_key(9, rank);
                ranked.truncate(10);
            }
            ranked.sort_by_key(rank);
            let name_of =
                |u: UserId| agents.iter().find(|a| a.user_id == u).map(|a| a.name.clone()).unwrap_or_default();
            let explanation = Explanation {
                kind: kind.into(),
                rule: c.route_rule.clone(),
                group: group.map(|g| g.name.clone()),
                strategy: Some(strategy),
                needs: wanted.clone(),
                considered: eligible.len(),
                candidates: ranked
                    .iter()
                    .take(10)
                    .map(|s| CandidateNote {
                        agent: s.agent,
                        name: name_of(s.agent),
                        load: s.load,
                        capacity: s.capacity,
                        score: (strategy == RoutingStrategy::SkillMatch).then(|| s.score(&wanted)),
                    })
                    .collect(),
                reason: format!("{}: {reason}", name_of(agent)),
                by: None,
                note: None,
            };
            let outcome = self
                .store
                .assign(c.tenant_id, c.id, &[ConversationStatus::Queued], agent, AssignChecks::ROUTING, &explanation)
                .await?;
            match outcome {
                AssignOutcome::Assigned(done) => {
                    if let Some(a) = agents.iter_mut().find(|a| a.user_id == agent) {
                        a.load += 1;
                        a.last_assigned_ms = now_ms();
                    }
                    self.announce_assignment(&done, &explanation).await?;
                    return Ok(Dispatched::Assigned);
                }
                AssignOutcome::AgentFull => {
                    if let Some(a) = agents.iter_mut().find(|a| a.user_id == agent) {
                        a.load = a.capacity;
                    }
                }
                AssignOutcome::AgentUnavailable => agents.retain(|a| a.user_id != agent),
                AssignOutcome::ConversationMoved => return Ok(Dispatched::Moved),
            }
        }
        Ok(Dispatched::NoAgent)
    }

    async fn announce_assignment(&self, c: &Conversation, explanation: &Explanation) -> ServiceResult<()> {
        self.store
            .record_event(
                c.tenant_id,
                Some(c.id),
                EventKind::AgentAssigned,
                json!({"agent": c.assigned_agent, "kind": explanation.kind, "rule": explanation.rule,
                       "group": explanation.group}),
            )
            .await?;
        self.changed(c);
        let name = c.assigned_agent_name.clone().unwrap_or_default();
        let text = match explanation.kind.as_str() {
            "transfer" => format!("已为您转接至客服 {name} / You have been transferred to {name}"),
            "takeover" => format!("主管 {name} 已接入 / Supervisor {name} has joined the conversation"),
            _ => format!("客服 {name} 为您服务 / {name} has joined the conversation"),
        };
        self.post_system(c.tenant_id, c.id, &text).await.map(|_| ())
    }

    /// Marks an agent's workspace connected while the returned guard lives, and gives them waiting conversations.
    pub async fn agent_online(&self, who: &Authenticated) -> ServiceResult<PresenceGuard> {
        let guard = self.presence.connect(who.tenant.id, who.user.id, self.store.clone());
        self.store.agent_connected(who.tenant.id, who.user.id).await?;
        self.dispatch(who.tenant.id).await?;
        Ok(guard)
    }

    /// Sets the caller's status. Going online takes waiting conversations; going offline returns one's open
    /// conversations to the queue.
    pub async fn set_my_status(&self, who: &Authenticated, status: AgentStatus) -> ServiceResult<()> {
        self.store.set_agent_status(who.tenant.id, who.user.id, status).await?;
        match status {
            AgentStatus::Online => {
                self.dispatch(who.tenant.id).await?;
            }
            AgentStatus::Offline => {
                self.requeue_agent(who.tenant.id, who.user.id).await?;
            }
            AgentStatus::Busy | AgentStatus::Away => {}
        }
        Ok(())
    }

    /// Puts an agent's open conversations back in their queues (ahead of newer ones) and dispatches them.
    pub async fn requeue_agent(&self, tenant_id: TenantId, agent: UserId) -> ServiceResult<usize> {
        let open = self.store.conversations_of_agent(tenant_id, agent).await?;
        let mut n = 0;
        for c in open {
            let requeued = self
                .store
                .enqueue(
                    tenant_id,
                    c.id,
                    &[ConversationStatus::Assigned],
                    c.group_id,
                    c.priority,
                    HandoffReason::AgentOffline,
                    true,
                    c.route_rule.as_deref(),
                )
                .await?;
            if let Some(q) = requeued {
                n += 1;
                self.changed(&q);
                self.post_system(
                    tenant_id,
                    q.id,
                    "客服暂时离开，正在为您转接其他客服… / Your agent is unavailable; connecting you to another agent…",
                )
                .await?;
            }
        }
        if n > 0 {
            self.queue_changed(tenant_id);
            self.dispatch(tenant_id).await?;
        }
        Ok(n)
    }

    /// Keeps the heartbeat of this node's connected agents fresh, returns absent agents' conversations to the queue
    /// and dispatches every tenant's queue. Run every few seconds by the server; safe on several nodes at once.
    pub async fn routing_tick(&self) -> ServiceResult<()> {
        for (tenant_id, user_id) in self.presence.connected() {
            self.store.agent_heartbeat(tenant_id, user_id).await?;
        }
        for (tenant_id, agent) in self.store.absent_agents_with_conversations(now_ms() - ABSENT_GRACE_MS).await? {
            self.requeue_agent(tenant_id, agent).await?;
        }
        for tenant_id in self.store.tenants_with_queue().await? {
            self.dispatch(tenant_id).await?;
            self.take_back_long_waits(tenant_id).await?;
        }
        self.sla_tick(chrono::Utc::now()).await?;
        self.deliver_webhooks(chrono::Utc::now()).await?;
        self.audit_upkeep(chrono::Utc::now()).await?;
        Ok(())
    }

    /// Runs [`Services::routing_tick`] every 15 seconds until the returned task is aborted.
    pub fn spawn_routing_ticker(&self) -> tokio::task::JoinHandle<()> {
        self.spawn_routing_ticker_every(std::time::Duration::from_secs(15))
    }

    /// [`Services::spawn_routing_ticker`] with another period.
    pub fn spawn_routing_ticker_every(&self, period: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let services = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = services.routing_tick().await {
                    tracing::warn!(error = %e, "routing tick failed");
                }
            }
        })
    }

    /// Where a queued conversation stands in line.
    pub async fn queue_info(&self, tenant_id: TenantId, id: ConversationId) -> ServiceResult<Option<QueueInfo>> {
        let Some(position) = self.store.queue_position(tenant_id, id).await? else {
            return Ok(None);
        };
        let c = self.store.conversation(tenant_id, id).await?;
        let recent = self.store.routed_since(tenant_id, c.group_id, now_ms() - WAIT_WINDOW_MS).await?;
        let estimated_wait_secs = (recent > 0).then(|| position * (WAIT_WINDOW_MS / 1000) / recent);
        Ok(Some(QueueInfo { position, estimated_wait_secs }))
    }

    /// The agent takes a conversation that the bot or the queue holds.
    pub async fn claim(&self, who: &Authenticated, id: ConversationId) -> ServiceResult<Conversation> {
        let explanation = Explanation {
            kind: "claim".into(),
            rule: None,
            group: None,
            strategy: None,
            needs: Vec::new(),
            considered: 1,
            candidates: Vec::new(),
            reason: format!("{} took the conversation", who.user.name),
            by: Some(who.user.id),
            note: None,
        };
        let from = [ConversationStatus::Bot, ConversationStatus::Queued];
        match self.store.assign(who.tenant.id, id, &from, who.user.id, AssignChecks::EXPLICIT, &explanation).await? {
            AssignOutcome::Assigned(c) => {
                self.announce_assignment(&c, &explanation).await?;
                self.queue_changed(who.tenant.id);
                Ok(*c)
            }
            _ => {
                let current = self.store.conversation(who.tenant.id, id).await?;
                if current.status == ConversationStatus::Assigned && current.assigned_agent == Some(who.user.id) {
                    Ok(current)
                } else {
                    Err(ServiceError::Conflict(format!("the conversation is {}", current.status)))
                }
            }
        }
    }

    /// A supervisor takes a conversation over, whoever serves it.
    pub async fn take_over(&self, who: &Authenticated, id: ConversationId) -> ServiceResult<Conversation> {
        if !is_supervisor(who) {
            return Err(ServiceError::Forbidden("only supervisors and administrators may take over".into()));
        }
        let current = self.store.conversation(who.tenant.id, id).await?;
        if current.status == ConversationStatus::Assigned && current.assigned_agent == Some(who.user.id) {
            return Ok(current);
        }
        let explanation = Explanation {
            kind: "takeover".into(),
            rule: None,
            group: None,
            strategy: None,
            needs: Vec::new(),
            considered: 1,
            candidates: Vec::new(),
            reason: format!(
                "supervisor {} took over from {}",
                who.user.name,
                current.assigned_agent_name.as_deref().unwrap_or("the queue")
            ),
            by: Some(who.user.id),
            note: None,
        };
        let from = [ConversationStatus::Bot, ConversationStatus::Queued, ConversationStatus::Assigned];
        match self.store.assign(who.tenant.id, id, &from, who.user.id, AssignChecks::EXPLICIT, &explanation).await? {
            AssignOutcome::Assigned(c) => {
                self.announce_assignment(&c, &explanation).await?;
                self.queue_changed(who.tenant.id);
                self.dispatch(who.tenant.id).await?;
                Ok(*c)
            }
            _ => Err(ServiceError::Conflict("the conversation is closed".into())),
        }
    }

    /// Transfers a conversation to an agent or a group, with an internal note. The serving agent or a supervisor may.
    pub async fn transfer(
        &self,
        who: &Authenticated,
        id: ConversationId,
        target: TransferTarget,
        note: Option<&str>,
    ) -> ServiceResult<Conversation> {
        let tenant_id = who.tenant.id;
        let current = self.store.conversation(tenant_id, id).await?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = note {
            validate_text(n)?;
        }
        match current.status {
            ConversationStatus::Assigned if current.assigned_agent == Some(who.user.id) || is_supervisor(who) => {}
            ConversationStatus::Queued if is_supervisor(who) => {}
            ConversationStatus::Assigned | ConversationStatus::Queued => {
                return Err(ServiceError::Forbidden(
                    "only the serving agent or a supervisor may transfer this conversation".into(),
                ));
            }
            s => return Err(ServiceError::Conflict(format!("a conversation that is {s} cannot be transferred"))),
        }
        let from = [ConversationStatus::Assigned, ConversationStatus::Queued];
        let done = match target {
            TransferTarget::Agent(agent) => {
                if current.assigned_agent == Some(agent) {
                    return Err(ServiceError::Conflict("the conversation is already with this agent".into()));
                }
                let target_name =
                    self.store.user(tenant_id, agent).await.map_err(|_| ServiceError::NotFound("agent"))?.name;
                let explanation = Explanation {
                    kind: "transfer".into(),
                    rule: None,
                    group: None,
                    strategy: None,
                    needs: Vec::new(),
                    considered: 1,
                    candidates: Vec::new(),
                    reason: format!("{} transferred the conversation to {target_name}", who.user.name),
                    by: Some(who.user.id),
                    note: note.map(str::to_owned),
                };
                match self.store.assign(tenant_id, id, &from, agent, AssignChecks::ROUTING, &explanation).await? {
                    AssignOutcome::Assigned(c) => {
                        self.post_note(who, id, note, &format!("转接给 {target_name} / Transferred to {target_name}"))
                            .await?;
                        self.announce_assignment(&c, &explanation).await?;
                        *c
                    }
                    AssignOutcome::AgentFull => {
                        return Err(ServiceError::Conflict(format!(
                            "{target_name} has no room for another conversation"
                        )));
                    }
                    AssignOutcome::AgentUnavailable => {
                        return Err(ServiceError::Conflict(format!("{target_name} is not online")));
                    }
                    AssignOutcome::ConversationMoved => {
                        return Err(ServiceError::Conflict("the conversation changed meanwhile; try again".into()));
                    }
                }
            }
            TransferTarget::Group(group_id) => {
                let group = self.store.group(tenant_id, group_id).await?;
                let Some(q) = self
                    .store
                    .enqueue(
                        tenant_id,
                        id,
                        &from,
                        Some(group_id),
                        current.priority,
                        HandoffReason::Transfer,
                        true,
                        None,
                    )
                    .await?
                else {
                    return Err(ServiceError::Conflict("the conversation changed meanwhile; try again".into()));
                };
                self.post_note(who, id, note, &format!("转接到 {0} / Transferred to {0}", group.name)).await?;
                self.store
                    .record_event(
                        tenant_id,
                        Some(id),
                        EventKind::HandoffRequested,
                        json!({"reason": "transfer", "group": group_id, "by": who.user.id}),
                    )
                    .await?;
                self.changed(&q);
                self.post_system(tenant_id, id, "正在为您转接，请稍候… / Transferring you, please wait…").await?;
                self.queue_changed(tenant_id);
                q
            }
        };
        self.dispatch(tenant_id).await?;
        Ok(self.store.conversation(tenant_id, id).await.unwrap_or(done))
    }

    async fn post_note(
        &self,
        who: &Authenticated,
        id: ConversationId,
        note: Option<&str>,
        headline: &str,
    ) -> ServiceResult<()> {
        let text = match note {
            Some(n) => format!("{headline}: {n}"),
            None => headline.to_owned(),
        };
        self.add_note(who, id, &text).await.map(|_| ())
    }

    /// An internal note on a conversation: agents see it, the visitor never does.
    pub async fn add_note(&self, who: &Authenticated, id: ConversationId, text: &str) -> ServiceResult<Message> {
        validate_text(text)?;
        self.store.conversation(who.tenant.id, id).await?;
        let new = NewMessage {
            author: Author::Note,
            author_user: Some(who.user.id),
            author_name: Some(who.user.name.clone()),
            text: text.to_owned(),
            client_id: None,
            attachment: None,
            bot: None,
        };
        Ok(self.post(who.tenant.id, id, new).await?.message)
    }

    // ---- administration ----

    fn group_input(spec: &GroupSpec) -> ServiceResult<GroupInput> {
        let name = spec.name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(ServiceError::Invalid("the group name must have 1 to 60 characters".into()));
        }
        if spec.members.len() > 1000 {
            return Err(ServiceError::Invalid("a group has at most 1000 members".into()));
        }
        Ok(GroupInput {
            name: name.to_owned(),
            strategy: spec.strategy,
            skills: clean_list("skills", &spec.skills, 30, 40)?,
            sticky: spec.sticky,
            members: spec.members.clone(),
        })
    }

    /// Creates a skill group.
    pub async fn create_group(&self, tenant_id: TenantId, spec: &GroupSpec) -> ServiceResult<SkillGroup> {
        let group = self.store.create_group(tenant_id, &Self::group_input(spec)?).await?;
        self.dispatch(tenant_id).await?;
        Ok(group)
    }

    /// Replaces a skill group's settings and members.
    pub async fn update_group(&self, tenant_id: TenantId, id: GroupId, spec: &GroupSpec) -> ServiceResult<SkillGroup> {
        let group = self.store.update_group(tenant_id, id, &Self::group_input(spec)?).await?;
        self.dispatch(tenant_id).await?;
        Ok(group)
    }

    /// Deletes a skill group that no routing rule uses.
    pub async fn delete_group(&self, tenant_id: TenantId, id: GroupId) -> ServiceResult<()> {
        let rules = self.store.routing_rules(tenant_id).await?;
        if let Some(r) = rules.iter().find(|r| r.group_id == Some(id)) {
            return Err(ServiceError::Conflict(format!(
                "the routing rule \"{}\" sends conversations to this group",
                r.name
            )));
        }
        self.store.delete_group(tenant_id, id).await?;
        self.dispatch(tenant_id).await?;
        Ok(())
    }

    /// Replaces the routing rules (evaluated in this order).
    pub async fn set_routing_rules(&self, tenant_id: TenantId, rules: Vec<RouteRule>) -> ServiceResult<Vec<RouteRule>> {
        if rules.len() > 200 {
            return Err(ServiceError::Invalid("at most 200 routing rules".into()));
        }
        let mut clean = Vec::with_capacity(rules.len());
        for mut r in rules {
            r.name = r.name.trim().to_owned();
            if r.name.is_empty() || r.name.chars().count() > 80 {
                return Err(ServiceError::Invalid("a rule name must have 1 to 80 characters".into()));
            }
            if !(0..VIP_PRIORITY).contains(&r.priority) {
                return Err(ServiceError::Invalid(format!("rule \"{}\": priority must be 0 to 99", r.name)));
            }
            if r.conditions.len() > 20 {
                return Err(ServiceError::Invalid(format!("rule \"{}\": at most 20 conditions", r.name)));
            }
            for cond in &r.conditions {
                let text = match cond {
                    RouteCondition::EntryPage { contains } => Some(contains),
                    RouteCondition::Language { equals } | RouteCondition::Category { equals } => Some(equals),
                    RouteCondition::VisitorTag { has } => Some(has),
                    RouteCondition::Channel { .. } | RouteCondition::Vip { .. } => None,
                };
                if let Some(t) = text
                    && (t.trim().is_empty() || t.chars().count() > 200)
                {
                    return Err(ServiceError::Invalid(format!(
                        "rule \"{}\": condition values must have 1 to 200 characters",
                        r.name
                    )));
                }
            }
            if clean.iter().any(|c: &RouteRule| c.id == r.id) {
                r.id = RuleId::generate();
            }
            clean.push(r);
        }
        self.store.replace_routing_rules(tenant_id, &clean).await?;
        Ok(self.store.routing_rules(tenant_id).await?)
    }

    /// Sets what routing may give an agent.
    pub async fn set_agent_profile(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        capacity: i64,
        skills: &[String],
    ) -> ServiceResult<AgentProfile> {
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(ServiceError::Invalid(format!("capacity must be 1 to {MAX_CAPACITY}")));
        }
        let skills = clean_list("skills", skills, 30, 40)?;
        self.store.set_agent_profile(tenant_id, user_id, capacity, &skills).await?;
        self.dispatch(tenant_id).await?;
        self.store
            .agent_profiles(tenant_id)
            .await?
            .into_iter()
            .find(|p| p.user_id == user_id)
            .ok_or(ServiceError::NotFound("user"))
    }

    /// Sets a visitor's tags and VIP flag.
    pub async fn set_visitor_segments(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        tags: &[String],
        vip: bool,
    ) -> ServiceResult<Visitor> {
        let tags = clean_list("tags", tags, 50, 40)?;
        let visitor = self.store.set_visitor_segments(tenant_id, visitor_id, &tags, vip).await?;
        // A waiting conversation of a new (or former) VIP moves in the queue at once.
        let filter = lingxi_store::ConversationFilter {
            statuses: vec![ConversationStatus::Queued],
            visitor_id: Some(visitor_id),
            limit: Some(500),
            ..Default::default()
        };
        let mut moved = false;
        for (c, _) in self.store.list_conversations(tenant_id, &filter).await? {
            let priority = c.priority % VIP_PRIORITY + if vip { VIP_PRIORITY } else { 0 };
            if c.visitor_id != visitor_id || priority == c.priority {
                continue;
            }
            let reason = c.handoff_reason.unwrap_or(HandoffReason::VisitorRequest);
            let from = [ConversationStatus::Queued];
            if let Some(q) = self
                .store
                .enqueue(tenant_id, c.id, &from, c.group_id, priority, reason, true, c.route_rule.as_deref())
                .await?
            {
                self.changed(&q);
                moved = true;
            }
        }
        if moved {
            self.queue_changed(tenant_id);
            self.dispatch(tenant_id).await?;
        }
        Ok(visitor)
    }
}
