//! Routing records: skill groups, agent profiles, routing rules and the stored explanation of every assignment.

use crate::ids::*;
use crate::model::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Priority added to a VIP customer's conversation, above any rule's priority (rules may set 0..=99).
pub const VIP_PRIORITY: i64 = 100;

/// A skill group (技能组).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SkillGroup {
    /// Its id.
    pub id: GroupId,
    /// Display name, unique in the tenant.
    pub name: String,
    /// How one of its available agents is picked.
    pub strategy: RoutingStrategy,
    /// Skills every conversation of this group needs (used by `skill_match`).
    pub skills: Vec<String>,
    /// Whether a returning customer goes back to the agent who served their previous conversation, when that agent
    /// is a member, online and has room.
    pub sticky: bool,
    /// The members.
    pub members: Vec<UserId>,
}

/// One condition of a routing rule, on the facts known when a conversation is handed to the humans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "field", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteCondition {
    /// The channel is this one.
    Channel {
        /// The channel.
        equals: Channel,
    },
    /// The page the widget was opened on contains this text (case-insensitive).
    EntryPage {
        /// The text.
        contains: String,
    },
    /// The visitor writes in this language (`zh` or `en`).
    Language {
        /// The language code.
        equals: String,
    },
    /// The visitor carries this tag (segment).
    VisitorTag {
        /// The tag.
        has: String,
    },
    /// The visitor is (or is not) a VIP.
    Vip {
        /// Whether a VIP.
        equals: bool,
    },
    /// The knowledge-base category the bot last matched.
    Category {
        /// The category.
        equals: String,
    },
}

/// A routing rule: when all conditions hold, the conversation goes to the group with the priority.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RouteRule {
    /// Its id.
    pub id: RuleId,
    /// A name shown in explanations.
    pub name: String,
    /// All must hold; an empty list matches everything (a default rule).
    pub conditions: Vec<RouteCondition>,
    /// The group; `None` means any online agent of the tenant.
    pub group_id: Option<GroupId>,
    /// Queue priority 0..=99 (higher first); VIPs get [`VIP_PRIORITY`] more.
    pub priority: i64,
    /// Disabled rules are skipped.
    pub enabled: bool,
}

/// An agent as routing sees them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentProfile {
    /// The user.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The status the agent set.
    pub status: AgentStatus,
    /// Whether a workspace of theirs is connected now (heartbeat fresh).
    pub connected: bool,
    /// Most conversations served at once.
    pub capacity: i64,
    /// Conversations served now.
    pub load: i64,
    /// Skills and tags (language, product line, style).
    pub skills: Vec<String>,
    /// The groups they belong to.
    pub groups: Vec<GroupId>,
}

/// An agent considered for an assignment, and how they scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandidateNote {
    /// The agent.
    pub agent: UserId,
    /// Display name.
    pub name: String,
    /// Their load at decision time.
    pub load: i64,
    /// Their capacity.
    pub capacity: i64,
    /// Skill-match score, when the strategy scores.
    pub score: Option<i64>,
}

/// Why a conversation went to an agent (stored with every assignment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    /// How: `route`, `sticky`, `claim`, `transfer`, `takeover`.
    pub kind: String,
    /// The routing rule that chose the group, if any.
    pub rule: Option<String>,
    /// The group, if any.
    pub group: Option<String>,
    /// The strategy used within the group.
    pub strategy: Option<RoutingStrategy>,
    /// What the conversation needed (skill match).
    pub needs: Vec<String>,
    /// How many available agents were considered.
    pub considered: usize,
    /// The agents considered (the best ten by the strategy's order).
    pub candidates: Vec<CandidateNote>,
    /// One sentence, for people.
    pub reason: String,
    /// Who transferred or took over, with their note.
    pub by: Option<UserId>,
    /// The transfer note.
    pub note: Option<String>,
}

/// A stored assignment decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    /// Its id.
    pub id: AssignmentId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The agent chosen.
    pub agent_id: UserId,
    /// The agent's name.
    pub agent_name: String,
    /// The group it was routed in.
    pub group_id: Option<GroupId>,
    /// Why.
    pub explanation: Explanation,
    /// When.
    pub created_at: DateTime<Utc>,
}
