//! Routing decisions: which group a conversation waiting for a human goes to (rules), and which of the group's
//! available agents takes it (strategy). Inputs in, decisions out; the store makes them atomic.

use lingxi_types::{Channel, GroupId, RouteCondition, RouteRule, RoutingStrategy, RuleId, UserId, VIP_PRIORITY};

/// The default number of conversations an agent serves at once.
pub const DEFAULT_CAPACITY: i64 = 8;

/// The most conversations an agent may be configured to serve at once.
pub const MAX_CAPACITY: i64 = 100;

/// What is known about a conversation when it is handed to the humans.
#[derive(Clone, Debug, Default)]
pub struct RouteFacts<'a> {
    /// The channel.
    pub channel: Option<Channel>,
    /// The page the widget was opened on.
    pub entry_page: Option<&'a str>,
    /// The visitor's language (`zh` / `en`).
    pub language: Option<&'a str>,
    /// The visitor's tags.
    pub visitor_tags: &'a [String],
    /// Whether the visitor is a VIP.
    pub vip: bool,
    /// The knowledge-base category the bot last matched.
    pub category: Option<&'a str>,
}

/// Where a conversation goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The rule that matched (id, name), if any.
    pub rule: Option<(RuleId, String)>,
    /// The group; `None`: any online agent of the tenant.
    pub group_id: Option<GroupId>,
    /// Queue priority, VIP bonus included.
    pub priority: i64,
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Whether one condition holds for the facts.
pub fn condition_holds(cond: &RouteCondition, facts: &RouteFacts<'_>) -> bool {
    match cond {
        RouteCondition::Channel { equals } => facts.channel == Some(*equals),
        RouteCondition::EntryPage { contains } => {
            let needle = contains.trim().to_lowercase();
            !needle.is_empty() && facts.entry_page.is_some_and(|p| p.to_lowercase().contains(&needle))
        }
        RouteCondition::Language { equals } => facts.language.is_some_and(|l| eq_ci(l, equals)),
        RouteCondition::VisitorTag { has } => facts.visitor_tags.iter().any(|t| eq_ci(t, has)),
        RouteCondition::Vip { equals } => facts.vip == *equals,
        RouteCondition::Category { equals } => facts.category.is_some_and(|c| eq_ci(c, equals)),
    }
}

/// The first enabled rule, in order, whose conditions all hold decides the group and priority; with none, the
/// conversation goes to any online agent at priority 0. VIPs get [`VIP_PRIORITY`] on top.
pub fn route(rules: &[RouteRule], facts: &RouteFacts<'_>) -> Route {
    let bonus = if facts.vip { VIP_PRIORITY } else { 0 };
    for rule in rules.iter().filter(|r| r.enabled) {
        if rule.conditions.iter().all(|c| condition_holds(c, facts)) {
            return Route {
                rule: Some((rule.id, rule.name.clone())),
                group_id: rule.group_id,
                priority: rule.priority.clamp(0, VIP_PRIORITY - 1) + bonus,
            };
        }
    }
    Route { rule: None, group_id: None, priority: bonus }
}

/// An available agent as seen at decision time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentSlot<'a> {
    /// The agent.
    pub agent: UserId,
    /// Conversations they serve now.
    pub load: i64,
    /// The most they may serve at once.
    pub capacity: i64,
    /// When they were last given a conversation (ms since the epoch, 0 = never).
    pub last_assigned_ms: i64,
    /// Their skills and tags.
    pub skills: &'a [String],
}

impl AgentSlot<'_> {
    /// Whether they can take one more conversation.
    pub fn has_room(&self) -> bool {
        self.load < self.capacity
    }

    /// How many of the needs their skills cover (case-insensitive).
    pub fn score(&self, needs: &[String]) -> i64 {
        needs.iter().filter(|n| self.skills.iter().any(|s| eq_ci(s, n))).count() as i64
    }
}

/// The chosen agent and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pick {
    /// The agent.
    pub agent: UserId,
    /// Skill-match score, for `skill_match`.
    pub score: Option<i64>,
    /// One sentence for people.
    pub reason: String,
}

/// `a` is less loaded than `b` relative to capacity (load/capacity compared without division).
fn fuller(a: &AgentSlot<'_>, b: &AgentSlot<'_>) -> std::cmp::Ordering {
    (a.load * b.capacity.max(1)).cmp(&(b.load * a.capacity.max(1)))
}

/// Picks one agent with room by the strategy; `None` when nobody has room. Ties are broken by who waited longest
/// for a conversation, then by id, so the decision is deterministic.
pub fn pick(strategy: RoutingStrategy, slots: &[AgentSlot<'_>], needs: &[String]) -> Option<Pick> {
    let open = slots.iter().filter(|s| s.has_room());
    let tie = |a: &&AgentSlot<'_>, b: &&AgentSlot<'_>| {
        a.last_assigned_ms.cmp(&b.last_assigned_ms).then(a.agent.cmp(&b.agent))
    };
    match strategy {
        RoutingStrategy::LeastLoaded => open.min_by(|a, b| fuller(a, b).then_with(|| tie(a, b))).map(|s| Pick {
            agent: s.agent,
            score: None,
            reason: format!("least loaded: {} of {} conversations", s.load, s.capacity),
        }),
        RoutingStrategy::RoundRobin => open.min_by(tie).map(|s| Pick {
            agent: s.agent,
            score: None,
            reason: "round robin: longest since their last assignment".into(),
        }),
        RoutingStrategy::SkillMatch => open
            .min_by(|a, b| b.score(needs).cmp(&a.score(needs)).then_with(|| fuller(a, b)).then_with(|| tie(a, b)))
            .map(|s| {
                let score = s.score(needs);
                Pick {
                    agent: s.agent,
                    score: Some(score),
                    reason: format!(
                        "best skill match: {score} of {} needs ({}), load {} of {}",
                        needs.len(),
                        needs.join(", "),
                        s.load,
                        s.capacity
                    ),
                }
            }),
    }
}

/// What a conversation needs from an agent for skill matching: the group's skills, the visitor's language and
/// the bot's category, without duplicates.
pub fn needs(group_skills: &[String], language: Option<&str>, category: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in group_skills.iter().map(String::as_str).chain(language).chain(category) {
        let n = n.trim();
        if !n.is_empty() && !out.iter().any(|o| eq_ci(o, n)) {
            out.push(n.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lingxi_types::ids::Uuid;

    fn agent(n: u128) -> UserId {
        UserId(Uuid::from_u128(n))
    }

    fn slot(n: u128, load: i64, capacity: i64, last: i64, skills: &[&str]) -> AgentSlot<'static> {
        let skills: Vec<String> = skills.iter().map(|s| s.to_string()).collect();
        AgentSlot { agent: agent(n), load, capacity, last_assigned_ms: last, skills: Vec::leak(skills) }
    }

    #[test]
    fn least_loaded_is_relative_to_capacity_and_skips_full_agents() {
        let slots = [slot(1, 2, 4, 0, &[]), slot(2, 3, 10, 0, &[]), slot(3, 1, 1, 0, &[])];
        let p = pick(RoutingStrategy::LeastLoaded, &slots, &[]).expect("room");
        assert_eq!(p.agent, agent(2), "3/10 is emptier than 2/4; 1/1 is full");
        assert_eq!(pick(RoutingStrategy::LeastLoaded, &[slot(1, 2, 2, 0, &[])], &[]), None);
        assert_eq!(pick(RoutingStrategy::LeastLoaded, &[], &[]), None);
    }

    #[test]
    fn ties_go_to_who_waited_longest() {
        let slots = [slot(1, 1, 4, 500, &[]), slot(2, 1, 4, 100, &[])];
        assert_eq!(pick(RoutingStrategy::LeastLoaded, &slots, &[]).map(|p| p.agent), Some(agent(2)));
    }

    #[test]
    fn round_robin_takes_turns_regardless_of_load() {
        let slots = [slot(1, 0, 4, 300, &[]), slot(2, 3, 4, 100, &[]), slot(3, 0, 4, 200, &[])];
        assert_eq!(pick(RoutingStrategy::RoundRobin, &slots, &[]).map(|p| p.agent), Some(agent(2)));
    }

    #[test]
    fn skill_match_prefers_coverage_then_load() {
        let need = needs(&["refund".into()], Some("en"), Some("Refund"));
        assert_eq!(need, vec!["refund".to_string(), "en".to_string()], "deduplicated, case-insensitive");
        let slots = [slot(1, 0, 4, 0, &["zh"]), slot(2, 2, 4, 0, &["EN", "refund"]), slot(3, 1, 4, 0, &["en"])];
        let p = pick(RoutingStrategy::SkillMatch, &slots, &need).expect("room");
        assert_eq!((p.agent, p.score), (agent(2), Some(2)));
        let slots = [slot(1, 0, 4, 0, &["zh"]), slot(2, 4, 4, 0, &["en", "refund"]), slot(3, 1, 4, 0, &["en"])];
        assert_eq!(pick(RoutingStrategy::SkillMatch, &slots, &need).map(|p| p.agent), Some(agent(3)));
    }

    fn rule(name: &str, conditions: Vec<RouteCondition>, group: u128, priority: i64) -> RouteRule {
        RouteRule {
            id: RuleId(Uuid::from_u128(group + 1000)),
            name: name.into(),
            conditions,
            group_id: Some(GroupId(Uuid::from_u128(group))),
            priority,
            enabled: true,
        }
    }

    #[test]
    fn first_matching_rule_wins_and_vips_jump_the_queue() {
        let rules = vec![
            rule("english", vec![RouteCondition::Language { equals: "en".into() }], 1, 0),
            rule(
                "refund page",
                vec![
                    RouteCondition::EntryPage { contains: "/Refund".into() },
                    RouteCondition::Channel { equals: Channel::Web },
                ],
                2,
                20,
            ),
            rule("wholesale", vec![RouteCondition::VisitorTag { has: "批发".into() }], 3, 5),
        ];
        let tags = vec!["批发".to_string()];
        let facts = RouteFacts {
            channel: Some(Channel::Web),
            entry_page: Some("https://shop.example/refund?id=1"),
            language: Some("zh"),
            visitor_tags: &tags,
            vip: false,
            category: None,
        };
        let r = route(&rules, &facts);
        assert_eq!(r.group_id, Some(GroupId(Uuid::from_u128(2))));
        assert_eq!(r.priority, 20);
        assert_eq!(r.rule.map(|(_, n)| n).as_deref(), Some("refund page"));

        let vip = RouteFacts { vip: true, entry_page: None, ..facts.clone() };
        let r = route(&rules, &vip);
        assert_eq!((r.group_id, r.priority), (Some(GroupId(Uuid::from_u128(3))), 105));

        let nobody = RouteFacts { visitor_tags: &[], entry_page: None, ..facts };
        assert_eq!(route(&rules, &nobody), Route { rule: None, group_id: None, priority: 0 });
    }

    #[test]
    fn disabled_rules_and_empty_needles_never_match() {
        let mut r = rule("all", vec![], 1, 0);
        r.enabled = false;
        let page = rule("blank", vec![RouteCondition::EntryPage { contains: " ".into() }], 2, 0);
        let facts = RouteFacts { entry_page: Some("x"), ..Default::default() };
        assert_eq!(route(&[r, page], &facts).group_id, None);
    }
}
