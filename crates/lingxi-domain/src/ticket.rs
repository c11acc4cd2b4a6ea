//! Tickets (工单): the status life cycle, priorities, and the rule engine that routes and tags a new ticket.
//!
//! Pure: facts in, decisions out. The storage layer fills [`TicketFacts`] from plain strings; the service layer
//! applies the [`RuleOutcome`] and stores its explanation.
//!
//! # Life cycle
//!
//! ```text
//! from       may go to
//! new        open, pending, on_hold, solved
//! open       pending, on_hold, solved
//! pending    open, on_hold, solved
//! on_hold    open, pending, solved
//! solved     open (reopened), closed
//! closed     nothing (final)
//! ```
//!
//! - `new` may go to `open`, `pending`, `on_hold` or straight to `solved`; nothing goes back to `new`.
//! - `open`, `pending` and `on_hold` move freely among themselves and to `solved`.
//! - `solved` goes back to `open` (the customer replied, or an agent reopened it) or on to `closed`.
//! - `closed` is final: a follow-up creates a new ticket that links to it.
//! - Moving to the status a ticket already has is not a transition (an error), so a caller never records a no-op
//!   change.
//!
//! # SLA clocks
//!
//! Only `pending` (waiting for the customer) pauses the resolution clock ([`is_sla_paused`]). `on_hold` (waiting
//! for a third party or another team) does **not**: the customer is still waiting for us, which is also Zendesk's
//! rule. `solved` and `closed` stop the clock (see [`TicketStatus::sla_clock_runs`]); a reopened ticket resumes
//! where it stopped.

use std::cell::OnceCell;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Lang;

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Created, nobody has looked at it yet (新建).
    New,
    /// Being worked on by the service team (处理中).
    Open,
    /// Waiting for the customer's reply (等待客户回复); pauses the resolution clock.
    Pending,
    /// Waiting for a third party or another team (挂起); the clock keeps running.
    OnHold,
    /// The agent considers it solved (已解决); the customer may still reopen it.
    Solved,
    /// Final (已关闭).
    Closed,
}

impl TicketStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [TicketStatus; 6] = [
        TicketStatus::New,
        TicketStatus::Open,
        TicketStatus::Pending,
        TicketStatus::OnHold,
        TicketStatus::Solved,
        TicketStatus::Closed,
    ];

    /// The stable snake_case name (`new`, `open`, `pending`, `on_hold`, `solved`, `closed`).
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::New => "new",
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::OnHold => "on_hold",
            TicketStatus::Solved => "solved",
            TicketStatus::Closed => "closed",
        }
    }

    /// The name shown to people.
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (TicketStatus::New, Lang::Zh) => "新建",
            (TicketStatus::Open, Lang::Zh) => "处理中",
            (TicketStatus::Pending, Lang::Zh) => "等待客户回复",
            (TicketStatus::OnHold, Lang::Zh) => "挂起",
            (TicketStatus::Solved, Lang::Zh) => "已解决",
            (TicketStatus::Closed, Lang::Zh) => "已关闭",
            (TicketStatus::New, Lang::En) => "New",
            (TicketStatus::Open, Lang::En) => "Open",
            (TicketStatus::Pending, Lang::En) => "Pending customer",
            (TicketStatus::OnHold, Lang::En) => "On hold",
            (TicketStatus::Solved, Lang::En) => "Solved",
            (TicketStatus::Closed, Lang::En) => "Closed",
        }
    }

    /// Whether a ticket in this status may move to `to` (see the module documentation for the table).
    pub fn can_transition_to(self, to: TicketStatus) -> bool {
        use TicketStatus::*;
        match (self, to) {
            (a, b) if a == b => false,
            (New, Open | Pending | OnHold | Solved) => true,
            (Open | Pending | OnHold, Open | Pending | OnHold | Solved) => true,
            (Solved, Open | Closed) => true,
            _ => false,
        }
    }

    /// The statuses this one may move to, in life-cycle order.
    pub fn next_statuses(self) -> Vec<TicketStatus> {
        TicketStatus::ALL.into_iter().filter(|&to| self.can_transition_to(to)).collect()
    }

    /// Whether nothing can follow (`closed`).
    pub fn is_final(self) -> bool {
        self.next_statuses().is_empty()
    }

    /// Whether the ticket still needs work from the service team's point of view (`new`, `open`, `pending`,
    /// `on_hold`).
    pub fn is_unsolved(self) -> bool {
        !matches!(self, TicketStatus::Solved | TicketStatus::Closed)
    }

    /// Whether the resolution clock runs in this status: `new`, `open` and `on_hold`. It is paused in `pending`
    /// ([`is_sla_paused`]) and stopped in `solved` and `closed`.
    pub fn sla_clock_runs(self) -> bool {
        matches!(self, TicketStatus::New | TicketStatus::Open | TicketStatus::OnHold)
    }
}

/// Whether the resolution SLA clock is paused in this status: only while waiting for the customer (`pending`).
///
/// `on_hold` does not pause it: the customer is still waiting for us while we wait for a supplier or another team,
/// so the time counts against the promise (Zendesk's "requester wait time" behaves the same way).
pub fn is_sla_paused(status: TicketStatus) -> bool {
    status == TicketStatus::Pending
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no status or priority.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    /// What was being parsed (`ticket status`, `ticket priority`).
    pub kind: &'static str,
    /// The string as given.
    pub value: String,
}

impl FromStr for TicketStatus {
    type Err = UnknownValue;

    /// Parses the snake_case name (surrounding spaces and case ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        TicketStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted)
            .ok_or_else(|| UnknownValue { kind: "ticket status", value: s.to_owned() })
    }
}

/// Why a status change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The ticket already has this status.
    #[error("the ticket is already {0}")]
    Unchanged(TicketStatus),
    /// The life cycle does not allow this move.
    #[error("a ticket cannot go from {from} to {to}")]
    NotAllowed {
        /// The current status.
        from: TicketStatus,
        /// The requested status.
        to: TicketStatus,
    },
}

impl TransitionError {
    /// The message for the agent, in their language (`Display` is the English one).
    pub fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (TransitionError::Unchanged(s), Lang::Zh) => format!("工单已经是“{}”状态", s.label(Lang::Zh)),
            (TransitionError::Unchanged(s), Lang::En) => format!("The ticket is already {}.", s.label(Lang::En)),
            (TransitionError::NotAllowed { from: TicketStatus::Closed, .. }, Lang::Zh) => {
                "工单已关闭，不能再修改；如有后续问题请新建工单".to_owned()
            }
            (TransitionError::NotAllowed { from: TicketStatus::Closed, .. }, Lang::En) => {
                "The ticket is closed and cannot change; create a follow-up ticket instead.".to_owned()
            }
            (TransitionError::NotAllowed { from, to }, Lang::Zh) => {
                format!("工单不能从“{}”改为“{}”", from.label(Lang::Zh), to.label(Lang::Zh))
            }
            (TransitionError::NotAllowed { from, to }, Lang::En) => {
                format!("A ticket cannot go from {} to {}.", from.label(Lang::En), to.label(Lang::En))
            }
        }
    }
}

/// Checks a status change: the new status, or why the life cycle refuses it.
pub fn transition(from: TicketStatus, to: TicketStatus) -> Result<TicketStatus, TransitionError> {
    if from == to {
        Err(TransitionError::Unchanged(from))
    } else if from.can_transition_to(to) {
        Ok(to)
    } else {
        Err(TransitionError::NotAllowed { from, to })
    }
}

/// How urgent a ticket is; ordered `Low < Normal < High < Urgent`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TicketPriority {
    /// 低.
    Low,
    /// 普通 (the default).
    #[default]
    Normal,
    /// 高.
    High,
    /// 紧急.
    Urgent,
}

impl TicketPriority {
    /// Every priority, lowest first.
    pub const ALL: [TicketPriority; 4] =
        [TicketPriority::Low, TicketPriority::Normal, TicketPriority::High, TicketPriority::Urgent];

    /// The stable snake_case name (`low`, `normal`, `high`, `urgent`).
    pub fn as_str(self) -> &'static str {
        match self {
            TicketPriority::Low => "low",
            TicketPriority::Normal => "normal",
            TicketPriority::High => "high",
            TicketPriority::Urgent => "urgent",
        }
    }

    /// The name shown to people.
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (TicketPriority::Low, Lang::Zh) => "低",
            (TicketPriority::Normal, Lang::Zh) => "普通",
            (TicketPriority::High, Lang::Zh) => "高",
            (TicketPriority::Urgent, Lang::Zh) => "紧急",
            (TicketPriority::Low, Lang::En) => "Low",
            (TicketPriority::Normal, Lang::En) => "Normal",
            (TicketPriority::High, Lang::En) => "High",
            (TicketPriority::Urgent, Lang::En) => "Urgent",
        }
    }
}

impl fmt::Display for TicketPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TicketPriority {
    type Err = UnknownValue;

    /// Parses the snake_case name (surrounding spaces and case ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        TicketPriority::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| UnknownValue { kind: "ticket priority", value: s.to_owned() })
    }
}

/// What the rules know about a ticket when they run. Plain values, so storage can fill them; a missing value is
/// `None` (or an empty list).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketFacts {
    /// The subject line.
    pub subject: String,
    /// The description (first message).
    pub body: String,
    /// The current priority.
    pub priority: TicketPriority,
    /// The category path (`售后/退货`).
    pub category: Option<String>,
    /// The ticket type (question, incident, problem, task, or the tenant's own).
    pub ticket_type: Option<String>,
    /// The shop the customer bought from.
    pub shop: Option<String>,
    /// The sales platform (淘宝, 京东, 拼多多, own site…).
    pub platform: Option<String>,
    /// Where the ticket came from (`chat`, `email`, `web_form`, `api`, `phone`…).
    pub source: Option<String>,
    /// The customer's tier (`vip`, `svip`, `regular`…).
    pub customer_tier: Option<String>,
    /// The ticket's tags.
    pub tags: Vec<String>,
}

/// A field a rule condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// [`TicketFacts::priority`] (by name: `low`, `normal`, `high`, `urgent`).
    Priority,
    /// [`TicketFacts::category`].
    Category,
    /// [`TicketFacts::ticket_type`].
    #[serde(rename = "type")]
    TicketType,
    /// [`TicketFacts::shop`].
    Shop,
    /// [`TicketFacts::platform`].
    Platform,
    /// [`TicketFacts::source`].
    Source,
    /// [`TicketFacts::tags`] (a list: see [`Op`] for what each operator means on it).
    Tags,
    /// Subject and body together, normalised (case, width, traditional → simplified Chinese).
    Text,
    /// [`TicketFacts::customer_tier`].
    CustomerTier,
}

impl Field {
    fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Field::Priority, Lang::Zh) => "优先级",
            (Field::Category, Lang::Zh) => "分类",
            (Field::TicketType, Lang::Zh) => "类型",
            (Field::Shop, Lang::Zh) => "店铺",
            (Field::Platform, Lang::Zh) => "平台",
            (Field::Source, Lang::Zh) => "来源",
            (Field::Tags, Lang::Zh) => "标签",
            (Field::Text, Lang::Zh) => "内容",
            (Field::CustomerTier, Lang::Zh) => "客户等级",
            (Field::Priority, Lang::En) => "priority",
            (Field::Category, Lang::En) => "category",
            (Field::TicketType, Lang::En) => "type",
            (Field::Shop, Lang::En) => "shop",
            (Field::Platform, Lang::En) => "platform",
            (Field::Source, Lang::En) => "source",
            (Field::Tags, Lang::En) => "tags",
            (Field::Text, Lang::En) => "text",
            (Field::CustomerTier, Lang::En) => "customer tier",
        }
    }
}

/// A comparison of a condition. Comparisons ignore case and surrounding spaces.
///
/// On single-valued fields (priority, category, type, shop, platform, source, customer tier) `eq`/`ne` compare the
/// whole value, `contains` looks for a substring and `in` matches any of the listed values; a missing value is
/// equal to nothing, so `ne` and `not_contains` match it. On `tags`, `eq` and `contains` mean "has this tag",
/// `ne` and `not_contains` "does not have it", `in` "has at least one of them". On `text`, `contains` looks for the
/// phrase in the normalised subject and body (so `退款` matches `我要退款！` and `REFUND` matches `refund`),
/// `in` for any of the phrases, `eq` compares the whole normalised text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum Op {
    /// Equals.
    Eq(String),
    /// Does not equal.
    Ne(String),
    /// Contains.
    Contains(String),
    /// Does not contain.
    NotContains(String),
    /// Equals (or, on tags and text, contains) one of these.
    In(Vec<String>),
}

/// One test on a ticket's facts, e.g. `{"field": "text", "op": "contains", "value": "退款"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// What it looks at.
    pub field: Field,
    /// How it compares.
    #[serde(flatten)]
    pub op: Op,
}

impl Condition {
    /// A condition on `field`.
    pub fn new(field: Field, op: Op) -> Condition {
        Condition { field, op }
    }

    /// Whether the ticket satisfies it.
    pub fn matches(&self, facts: &TicketFacts) -> bool {
        self.matches_with(facts, &OnceCell::new())
    }

    fn matches_with(&self, facts: &TicketFacts, text: &OnceCell<String>) -> bool {
        match self.field {
            Field::Tags => {
                let has = |v: &str| {
                    let v = fold(v);
                    facts.tags.iter().any(|t| fold(t) == v)
                };
                match &self.op {
                    Op::Eq(v) | Op::Contains(v) => has(v),
                    Op::Ne(v) | Op::NotContains(v) => !has(v),
                    Op::In(vs) => vs.iter().any(|v| has(v)),
                }
            }
            Field::Text => {
                let text = text.get_or_init(|| fold_text(&format!("{}\n{}", facts.subject, facts.body)));
                let contains = |v: &str| {
                    let v = fold_text(v);
                    !v.is_empty() && text.contains(&v)
                };
                match &self.op {
                    Op::Eq(v) => *text == fold_text(v),
                    Op::Ne(v) => *text != fold_text(v),
                    Op::Contains(v) => contains(v),
                    Op::NotContains(v) => !contains(v),
                    Op::In(vs) => vs.iter().any(|v| contains(v)),
                }
            }
            field => {
                let value: Option<String> = match field {
                    Field::Priority => Some(facts.priority.as_str().to_owned()),
                    Field::Category => facts.category.as_deref().map(fold),
                    Field::TicketType => facts.ticket_type.as_deref().map(fold),
                    Field::Shop => facts.shop.as_deref().map(fold),
                    Field::Platform => facts.platform.as_deref().map(fold),
                    Field::Source => facts.source.as_deref().map(fold),
                    Field::CustomerTier => facts.customer_tier.as_deref().map(fold),
                    Field::Tags | Field::Text => None,
                };
                let value = value.filter(|v| !v.is_empty());
                let eq = |v: &str| value.as_deref() == Some(fold(v).as_str());
                let contains = |v: &str| {
                    let v = fold(v);
                    !v.is_empty() && value.as_deref().is_some_and(|x| x.contains(&v))
                };
                match &self.op {
                    Op::Eq(v) => eq(v),
                    Op::Ne(v) => !eq(v),
                    Op::Contains(v) => contains(v),
                    Op::NotContains(v) => !contains(v),
                    Op::In(vs) => vs.iter().any(|v| eq(v)),
                }
            }
        }
    }

    fn describe(&self, lang: Lang) -> String {
        let (op, value) = match (&self.op, lang) {
            (Op::Eq(v), Lang::Zh) => ("等于", v.clone()),
            (Op::Ne(v), Lang::Zh) => ("不等于", v.clone()),
            (Op::Contains(v), Lang::Zh) => ("包含", v.clone()),
            (Op::NotContains(v), Lang::Zh) => ("不包含", v.clone()),
            (Op::In(vs), Lang::Zh) => ("属于", vs.join("、")),
            (Op::Eq(v), Lang::En) => ("is", v.clone()),
            (Op::Ne(v), Lang::En) => ("is not", v.clone()),
            (Op::Contains(v), Lang::En) => ("contains", v.clone()),
            (Op::NotContains(v), Lang::En) => ("does not contain", v.clone()),
            (Op::In(vs), Lang::En) => ("is one of", vs.join(", ")),
        };
        match lang {
            Lang::Zh => format!("{}{}“{}”", self.field.label(lang), op, value),
            Lang::En => format!("{} {} \"{}\"", self.field.label(lang), op, value),
        }
    }
}

/// Case- and space-insensitive form of a short value.
fn fold(value: &str) -> String {
    value.trim().to_lowercase()
}

/// The normalised form of free text: [`lingxi_nlp::normalize`] (NFKC, width, case, traditional → simplified,
/// punctuation → space) with runs of spaces collapsed.
fn fold_text(text: &str) -> String {
    lingxi_nlp::normalize(text).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "value", rename_all = "snake_case")]
pub enum Action {
    /// Route to this group (an id).
    SetGroup(String),
    /// Change the priority.
    SetPriority(TicketPriority),
    /// Add a tag (no effect when the ticket has it).
    AddTag(String),
    /// Assign to this agent (an id).
    SetAssignee(String),
}

/// One rule: when every condition holds, its actions apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// A stable id (the storage id), used in explanations.
    pub id: String,
    /// The name the administrator gave it.
    pub name: String,
    /// Disabled rules are skipped.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// All must hold (AND); a rule without conditions matches every ticket.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Applied in order.
    pub actions: Vec<Action>,
    /// When this rule matches, no later rule runs.
    #[serde(default)]
    pub stop_processing: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Why a rule is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The rule has no name.
    #[error("the rule has no name")]
    NoName,
    /// The rule does nothing.
    #[error("the rule has no action")]
    NoActions,
    /// A condition compares with an empty value (or an empty list).
    #[error("a condition on {0:?} has an empty value")]
    EmptyValue(Field),
    /// A priority condition names no priority.
    #[error("`{0}` is not a priority (low, normal, high, urgent)")]
    UnknownPriority(String),
    /// An action has an empty id or tag.
    #[error("an action has an empty value")]
    EmptyAction,
}

impl RuleError {
    /// The message for the administrator, in their language (`Display` is the English one).
    pub fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (RuleError::NoName, Lang::Zh) => "规则名称不能为空".to_owned(),
            (RuleError::NoActions, Lang::Zh) => "规则至少需要一个动作".to_owned(),
            (RuleError::EmptyValue(f), Lang::Zh) => format!("条件“{}”的值不能为空", f.label(Lang::Zh)),
            (RuleError::UnknownPriority(v), Lang::Zh) => format!("“{v}”不是有效的优先级（低、普通、高、紧急）"),
            (RuleError::EmptyAction, Lang::Zh) => "动作的值不能为空".to_owned(),
            (RuleError::EmptyValue(f), Lang::En) => format!("A condition on {} has an empty value.", f.label(Lang::En)),
            (e, Lang::En) => {
                let s = e.to_string();
                let mut c = s.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect::<String>() + ".").unwrap_or_default()
            }
        }
    }
}

impl Rule {
    /// Checks what an administrator typed: a name, at least one action, no empty values, priorities that exist.
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.name.trim().is_empty() {
            return Err(RuleError::NoName);
        }
        if self.actions.is_empty() {
            return Err(RuleError::NoActions);
        }
        for c in &self.conditions {
            let values: Vec<&String> = match &c.op {
                Op::Eq(v) | Op::Ne(v) | Op::Contains(v) | Op::NotContains(v) => vec![v],
                Op::In(vs) => vs.iter().collect(),
            };
            if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
                return Err(RuleError::EmptyValue(c.field));
            }
            let names_priorities = c.field == Field::Priority && !matches!(c.op, Op::Contains(_) | Op::NotContains(_));
            if let Some(bad) = values.iter().find(|v| names_priorities && v.parse::<TicketPriority>().is_err()) {
                return Err(RuleError::UnknownPriority((*bad).clone()));
            }
        }
        for a in &self.actions {
            match a {
                Action::SetGroup(v) | Action::AddTag(v) | Action::SetAssignee(v) if v.trim().is_empty() => {
                    return Err(RuleError::EmptyAction);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether every condition holds for `facts`.
    pub fn matches(&self, facts: &TicketFacts) -> bool {
        let text = OnceCell::new();
        self.conditions.iter().all(|c| c.matches_with(facts, &text))
    }
}

/// What an action changed, for the explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "target")]
pub enum Change {
    /// The group, from the previous rule's choice (or none) to `to`.
    Group {
        /// The group an earlier rule chose, if any.
        from: Option<String>,
        /// The new group.
        to: String,
    },
    /// The priority.
    Priority {
        /// The priority before.
        from: TicketPriority,
        /// The new priority.
        to: TicketPriority,
    },
    /// A tag added.
    Tag {
        /// The tag.
        added: String,
    },
    /// The assignee.
    Assignee {
        /// The assignee an earlier rule chose, if any.
        from: Option<String>,
        /// The new assignee.
        to: String,
    },
}

/// One rule that matched and what it changed (an action that changes nothing, such as setting the group a
/// previous rule already chose, leaves no change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTrace {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// The changes, in action order.
    pub changes: Vec<Change>,
    /// Whether it stopped the processing of later rules.
    pub stopped: bool,
}

/// What the rules decided for a ticket, with the explanation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The group to route to, if a rule chose one.
    pub group: Option<String>,
    /// The new priority, if a rule changed it.
    pub priority: Option<TicketPriority>,
    /// Tags to add (none the ticket already had), in the order the rules added them.
    pub tags_added: Vec<String>,
    /// The agent to assign, if a rule chose one.
    pub assignee: Option<String>,
    /// Every rule that matched, in order.
    pub matched: Vec<RuleTrace>,
}

impl RuleOutcome {
    /// Whether no rule matched.
    pub fn is_empty(&self) -> bool {
        self.matched.is_empty()
    }

    /// The explanation, one line per matched rule, for the ticket's history.
    pub fn explain(&self, lang: Lang) -> Vec<String> {
        self.matched
            .iter()
            .map(|t| {
                let changes: Vec<String> = t
                    .changes
                    .iter()
                    .map(|c| match (c, lang) {
                        (Change::Group { to, .. }, Lang::Zh) => format!("分配到组 {to}"),
                        (Change::Priority { from, to }, Lang::Zh) => {
                            format!("优先级 {} → {}", from.label(lang), to.label(lang))
                        }
                        (Change::Tag { added }, Lang::Zh) => format!("添加标签“{added}”"),
                        (Change::Assignee { to, .. }, Lang::Zh) => format!("指派给 {to}"),
                        (Change::Group { to, .. }, Lang::En) => format!("group set to {to}"),
                        (Change::Priority { from, to }, Lang::En) => {
                            format!("priority {} → {}", from.label(lang), to.label(lang))
                        }
                        (Change::Tag { added }, Lang::En) => format!("tag \"{added}\" added"),
                        (Change::Assignee { to, .. }, Lang::En) => format!("assigned to {to}"),
                    })
                    .collect();
                match lang {
                    Lang::Zh => {
                        let what = if changes.is_empty() { "无变化".to_owned() } else { changes.join("；") };
                        let stop = if t.stopped { "（停止执行后续规则）" } else { "" };
                        format!("规则“{}”匹配：{what}{stop}", t.rule_name)
                    }
                    Lang::En => {
                        let what = if changes.is_empty() { "no change".to_owned() } else { changes.join("; ") };
                        let stop = if t.stopped { " (later rules skipped)" } else { "" };
                        format!("Rule \"{}\" matched: {what}{stop}", t.rule_name)
                    }
                }
            })
            .collect()
    }
}

/// The tenant's ticket rules, in the order the administrator arranged them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    /// The rules, applied first to last.
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// A rule set.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }

    /// Runs the enabled rules in order over `facts`.
    ///
    /// A rule matches when all its conditions hold for the ticket **as changed by the rules before it** (a rule
    /// that raises the priority to urgent makes a later "priority is urgent" rule match, and a tag added earlier can
    /// be tested later). A later rule overwrites an earlier rule's group, priority or assignee; tags accumulate. A
    /// matching rule with `stop_processing` is the last one to run.
    pub fn evaluate(&self, facts: &TicketFacts) -> RuleOutcome {
        let mut current = facts.clone();
        let mut out = RuleOutcome::default();
        let text = OnceCell::new();
        for rule in self.rules.iter().filter(|r| r.enabled) {
            if !rule.conditions.iter().all(|c| c.matches_with(&current, &text)) {
                continue;
            }
            let mut changes = Vec::new();
            for action in &rule.actions {
                match action {
                    Action::SetGroup(g) => {
                        let g = g.trim();
                        if out.group.as_deref() != Some(g) {
                            changes.push(Change::Group { from: out.group.clone(), to: g.to_owned() });
                            out.group = Some(g.to_owned());
                        }
                    }
                    Action::SetPriority(p) => {
                        if current.priority != *p {
                            changes.push(Change::Priority { from: current.priority, to: *p });
                            current.priority = *p;
                            out.priority = (*p != facts.priority).then_some(*p);
                        }
                    }
                    Action::AddTag(t) => {
                        let t = t.trim();
                        if !t.is_empty() && !current.tags.iter().any(|x| fold(x) == fold(t)) {
                            changes.push(Change::Tag { added: t.to_owned() });
                            current.tags.push(t.to_owned());
                            out.tags_added.push(t.to_owned());
                        }
                    }
                    Action::SetAssignee(a) => {
                        let a = a.trim();
                        if out.assignee.as_deref() != Some(a) {
                            changes.push(Change::Assignee { from: out.assignee.clone(), to: a.to_owned() });
                            out.assignee = Some(a.to_owned());
                        }
                    }
                }
            }
            out.matched.push(RuleTrace {
                rule_id: rule.id.clone(),
                rule_name: rule.name.clone(),
                changes,
                stopped: rule.stop_processing,
            });
            if rule.stop_processing {
                break;
            }
        }
        out
    }

    /// The English and Chinese description of a rule's conditions, e.g. for the admin page's summary.
    pub fn describe_conditions(rule: &Rule, lang: Lang) -> String {
        if rule.conditions.is_empty() {
            return match lang {
                Lang::Zh => "所有工单".to_owned(),
                Lang::En => "every ticket".to_owned(),
            };
        }
        let sep = match lang {
            Lang::Zh => " 且 ",
            Lang::En => " and ",
        };
        rule.conditions.iter().map(|c| c.describe(lang)).collect::<Vec<_>>().join(sep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketStatus::*;

    #[test]
    fn status_names_round_trip() {
        for s in TicketStatus::ALL {
            assert_eq!(s.as_str().parse::<TicketStatus>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            let json = serde_json::to_string(&s).expect("serialises");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(" On_Hold ".parse::<TicketStatus>(), Ok(OnHold));
        let err = "onhold".parse::<TicketStatus>().expect_err("not a status");
        assert_eq!(err.to_string(), "unknown ticket status `onhold`");
        for p in TicketPriority::ALL {
            assert_eq!(p.as_str().parse::<TicketPriority>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert!("紧急".parse::<TicketPriority>().is_err());
    }

    #[test]
    fn priorities_are_ordered() {
        assert!(TicketPriority::Low < TicketPriority::Normal);
        assert!(TicketPriority::Normal < TicketPriority::High);
        assert!(TicketPriority::High < TicketPriority::Urgent);
        assert_eq!(TicketPriority::default(), TicketPriority::Normal);
        assert_eq!(TicketPriority::ALL.iter().max(), Some(&TicketPriority::Urgent));
    }

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        let allowed: &[(TicketStatus, &[TicketStatus])] = &[
            (New, &[Open, Pending, OnHold, Solved]),
            (Open, &[Pending, OnHold, Solved]),
            (Pending, &[Open, OnHold, Solved]),
            (OnHold, &[Open, Pending, Solved]),
            (Solved, &[Open, Closed]),
            (Closed, &[]),
        ];
        for &(from, tos) in allowed {
            for to in TicketStatus::ALL {
                let expected = tos.contains(&to);
                assert_eq!(from.can_transition_to(to), expected, "{from} → {to}");
                assert_eq!(transition(from, to).is_ok(), expected, "{from} → {to}");
            }
            assert_eq!(from.next_statuses(), tos.to_vec());
        }
        assert!(Closed.is_final());
        assert!(!Solved.is_final());
    }

    #[test]
    fn refused_transitions_say_why_in_both_languages() {
        assert_eq!(transition(Open, Open), Err(TransitionError::Unchanged(Open)));
        assert_eq!(transition(Open, Open).expect_err("same").to_string(), "the ticket is already open");
        let err = transition(Closed, Open).expect_err("closed is final");
        assert_eq!(err, TransitionError::NotAllowed { from: Closed, to: Open });
        assert_eq!(err.to_string(), "a ticket cannot go from closed to open");
        assert!(err.message(Lang::Zh).contains("新建工单"), "{}", err.message(Lang::Zh));
        assert!(err.message(Lang::En).contains("follow-up"));
        let err = transition(New, Closed).expect_err("close only what is solved");
        assert_eq!(err.message(Lang::Zh), "工单不能从“新建”改为“已关闭”");
        assert_eq!(err.message(Lang::En), "A ticket cannot go from New to Closed.");
        assert_eq!(transition(Pending, Pending).expect_err("same").message(Lang::Zh), "工单已经是“等待客户回复”状态");
        assert_eq!(transition(Solved, Open), Ok(Open));
    }

    #[test]
    fn only_pending_pauses_and_solved_stops_the_clock() {
        let paused: Vec<TicketStatus> = TicketStatus::ALL.into_iter().filter(|&s| is_sla_paused(s)).collect();
        assert_eq!(paused, vec![Pending]);
        let runs: Vec<TicketStatus> = TicketStatus::ALL.into_iter().filter(|s| s.sla_clock_runs()).collect();
        assert_eq!(runs, vec![New, Open, OnHold]);
        assert!(OnHold.is_unsolved() && !Solved.is_unsolved() && !Closed.is_unsolved());
    }

    fn facts() -> TicketFacts {
        TicketFacts {
            subject: "退款申请：訂單 SO-2024-001".into(),
            body: "I want a REFUND, the parcel arrived broken!".into(),
            priority: TicketPriority::Normal,
            category: Some("售后/退货".into()),
            ticket_type: Some("question".into()),
            shop: Some("Lingxi Flagship".into()),
            platform: Some("淘宝".into()),
            source: Some("chat".into()),
            customer_tier: Some("VIP".into()),
            tags: vec!["破损".into()],
        }
    }

    fn cond(field: Field, op: Op) -> Condition {
        Condition::new(field, op)
    }

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn conditions_compare_each_field() {
        let f = facts();
        let yes = [
            cond(Field::Priority, Op::Eq(s("normal"))),
            cond(Field::Priority, Op::In(vec![s("normal"), s("high")])),
            cond(Field::Priority, Op::Ne(s("urgent"))),
            cond(Field::Category, Op::Contains(s("退货"))),
            cond(Field::Category, Op::Eq(s(" 售后/退货 "))),
            cond(Field::TicketType, Op::Eq(s("Question"))),
            cond(Field::Shop, Op::Contains(s("flagship"))),
            cond(Field::Platform, Op::In(vec![s("京东"), s("淘宝")])),
            cond(Field::Source, Op::Eq(s("chat"))),
            cond(Field::CustomerTier, Op::Eq(s("vip"))),
            cond(Field::Tags, Op::Contains(s("破损"))),
            cond(Field::Tags, Op::Eq(s("破损"))),
            cond(Field::Tags, Op::In(vec![s("加急"), s("破损")])),
            cond(Field::Tags, Op::NotContains(s("加急"))),
            cond(Field::Text, Op::Contains(s("退款"))),
            cond(Field::Text, Op::Contains(s("订单"))), // traditional 訂單 in the subject
            cond(Field::Text, Op::Contains(s("refund"))),
            cond(Field::Text, Op::Contains(s("Arrived  Broken"))),
            cond(Field::Text, Op::Contains(s("so-2024-001"))),
            cond(Field::Text, Op::In(vec![s("投诉"), s("ＲＥＦＵＮＤ")])), // full-width
            cond(Field::Text, Op::NotContains(s("投诉"))),
        ];
        for c in &yes {
            assert!(c.matches(&f), "{c:?}");
        }
        let no = [
            cond(Field::Priority, Op::Eq(s("high"))),
            cond(Field::Category, Op::Eq(s("售后"))),
            cond(Field::Platform, Op::Eq(s("京东"))),
            cond(Field::Tags, Op::Contains(s("破"))),
            cond(Field::Tags, Op::Ne(s("破损"))),
            cond(Field::Text, Op::Contains(s("投诉"))),
            cond(Field::Text, Op::Contains(s(""))),
            cond(Field::Text, Op::In(vec![])),
        ];
        for c in &no {
            assert!(!c.matches(&f), "{c:?}");
        }
        let empty = TicketFacts::default();
        assert!(cond(Field::Shop, Op::Ne(s("x"))).matches(&empty), "a missing value differs from everything");
        assert!(cond(Field::Shop, Op::NotContains(s("x"))).matches(&empty));
        assert!(!cond(Field::Shop, Op::Eq(s(""))).matches(&empty), "a missing value equals nothing");
        assert!(!cond(Field::Shop, Op::In(vec![s("x")])).matches(&empty));
    }

    fn rule(id: &str, conditions: Vec<Condition>, actions: Vec<Action>) -> Rule {
        Rule { id: id.into(), name: format!("rule {id}"), enabled: true, conditions, actions, stop_processing: false }
    }

    #[test]
    fn rules_apply_in_order_later_ones_overwrite_and_see_earlier_changes() {
        let rules = RuleSet::new(vec![
            rule(
                "refund",
                vec![cond(Field::Text, Op::Contains(s("退款")))],
                vec![Action::SetGroup(s("g-refunds")), Action::AddTag(s("退款"))],
            ),
            rule(
                "vip",
                vec![cond(Field::CustomerTier, Op::In(vec![s("vip"), s("svip")]))],
                vec![Action::SetPriority(TicketPriority::High), Action::AddTag(s("破损"))],
            ),
            rule(
                "urgent-vip-refund",
                vec![cond(Field::Priority, Op::Eq(s("high"))), cond(Field::Tags, Op::Contains(s("退款")))],
                vec![Action::SetGroup(s("g-vip")), Action::SetAssignee(s("u-7"))],
            ),
            rule("never", vec![cond(Field::Platform, Op::Eq(s("京东")))], vec![Action::SetGroup(s("g-jd"))]),
        ]);
        let out = rules.evaluate(&facts());
        assert_eq!(out.group.as_deref(), Some("g-vip"));
        assert_eq!(out.priority, Some(TicketPriority::High));
        assert_eq!(out.tags_added, vec![s("退款")], "破损 was already there");
        assert_eq!(out.assignee.as_deref(), Some("u-7"));
        let ids: Vec<&str> = out.matched.iter().map(|t| t.rule_id.as_str()).collect();
        assert_eq!(ids, ["refund", "vip", "urgent-vip-refund"]);
        assert_eq!(
            out.matched[2].changes[0],
            Change::Group { from: Some(s("g-refunds")), to: s("g-vip") },
            "the explanation says what was overwritten"
        );
        assert_eq!(out.matched[1].changes.len(), 1, "adding a present tag is no change");
        let zh = out.explain(Lang::Zh);
        assert_eq!(zh[0], "规则“rule refund”匹配：分配到组 g-refunds；添加标签“退款”");
        assert_eq!(zh[1], "规则“rule vip”匹配：优先级 普通 → 高");
        let en = out.explain(Lang::En);
        assert_eq!(en[2], "Rule \"rule urgent-vip-refund\" matched: group set to g-vip; assigned to u-7");
    }

    #[test]
    fn stop_processing_halts_and_disabled_rules_are_skipped() {
        let mut first = rule("first", vec![], vec![Action::SetGroup(s("g1"))]);
        first.stop_processing = true;
        let mut off = rule("off", vec![], vec![Action::SetGroup(s("g0"))]);
        off.enabled = false;
        let rules = RuleSet::new(vec![off.clone(), first, rule("later", vec![], vec![Action::SetGroup(s("g2"))])]);
        let out = rules.evaluate(&facts());
        assert_eq!(out.group.as_deref(), Some("g1"));
        assert_eq!(out.matched.len(), 1);
        assert!(out.matched[0].stopped);
        assert!(out.explain(Lang::En)[0].ends_with("(later rules skipped)"));
        assert!(out.explain(Lang::Zh)[0].ends_with("（停止执行后续规则）"));

        let none = RuleSet::new(vec![off]).evaluate(&facts());
        assert!(none.is_empty());
        assert_eq!(none, RuleOutcome::default());
    }

    #[test]
    fn a_priority_set_back_to_the_original_is_no_change_in_the_outcome() {
        let rules = RuleSet::new(vec![
            rule("up", vec![], vec![Action::SetPriority(TicketPriority::Urgent)]),
            rule("down", vec![], vec![Action::SetPriority(TicketPriority::Normal)]),
        ]);
        let out = rules.evaluate(&facts());
        assert_eq!(out.priority, None);
        assert_eq!(
            out.matched[1].changes,
            vec![Change::Priority { from: TicketPriority::Urgent, to: TicketPriority::Normal }]
        );
    }

    #[test]
    fn rules_and_outcomes_serialise_as_plain_json() {
        let json = r#"{
            "id": "r1", "name": "退款分组",
            "conditions": [
                {"field": "text", "op": "contains", "value": "退款"},
                {"field": "type", "op": "in", "value": ["question", "incident"]},
                {"field": "customer_tier", "op": "ne", "value": "blocked"}
            ],
            "actions": [{"action": "set_group", "value": "g-refunds"}, {"action": "set_priority", "value": "high"}],
            "stop_processing": true
        }"#;
        let r: Rule = serde_json::from_str(json).expect("parses");
        assert!(r.enabled, "enabled by default");
        assert_eq!(r.conditions[1], cond(Field::TicketType, Op::In(vec![s("question"), s("incident")])));
        assert_eq!(r.actions[1], Action::SetPriority(TicketPriority::High));
        let back: Rule = serde_json::from_str(&serde_json::to_string(&r).expect("serialises")).expect("parses");
        assert_eq!(back, r);
        assert_eq!(
            RuleSet::describe_conditions(&r, Lang::Zh),
            "内容包含“退款” 且 类型属于“question、incident” 且 客户等级不等于“blocked”"
        );
        assert_eq!(
            RuleSet::describe_conditions(&r, Lang::En),
            "text contains \"退款\" and type is one of \"question, incident\" and customer tier is not \"blocked\""
        );

        let out = RuleSet::new(vec![r]).evaluate(&facts());
        let v = serde_json::to_value(&out).expect("serialises");
        assert_eq!(v["group"], "g-refunds");
        assert_eq!(v["priority"], "high");
        assert_eq!(
            v["matched"][0]["changes"][0],
            serde_json::json!({"target": "group", "from": null, "to": "g-refunds"})
        );
        assert_eq!(v["matched"][0]["stopped"], true);
        let back: RuleOutcome = serde_json::from_value(v).expect("parses");
        assert_eq!(back, out);
    }

    #[test]
    fn validation_catches_what_an_administrator_gets_wrong() {
        let ok =
            rule("r", vec![cond(Field::Priority, Op::In(vec![s("high"), s("Urgent")]))], vec![Action::AddTag(s("x"))]);
        assert_eq!(ok.validate(), Ok(()));
        let mut r = ok.clone();
        r.name = s(" ");
        assert_eq!(r.validate(), Err(RuleError::NoName));
        let mut r = ok.clone();
        r.actions.clear();
        assert_eq!(r.validate(), Err(RuleError::NoActions));
        let mut r = ok.clone();
        r.conditions = vec![cond(Field::Text, Op::In(vec![]))];
        assert_eq!(r.validate(), Err(RuleError::EmptyValue(Field::Text)));
        assert_eq!(r.validate().expect_err("empty").message(Lang::Zh), "条件“内容”的值不能为空");
        let mut r = ok.clone();
        r.conditions = vec![cond(Field::Priority, Op::Eq(s("asap")))];
        let err = r.validate().expect_err("no such priority");
        assert_eq!(err, RuleError::UnknownPriority(s("asap")));
        assert_eq!(err.message(Lang::En), "`asap` is not a priority (low, normal, high, urgent).");
        let mut r = ok;
        r.actions = vec![Action::SetGroup(s(""))];
        assert_eq!(r.validate(), Err(RuleError::EmptyAction));
        assert_eq!(RuleError::NoActions.message(Lang::En), "The rule has no action.");
    }
}
