//! The product's records and value types, independent of storage and wire formats.

use crate::ids::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares a closed string enum with `as_str` / `parse` used by storage and the wire alike.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// Parses the stored and wire name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What a user may do in the workspace; checked on the server for every route.
    Role {
        /// Owns the tenant; everything.
        Owner = "owner",
        /// Manages users, the knowledge base and settings.
        Admin = "admin",
        /// Supervises agents and conversations.
        Supervisor = "supervisor",
        /// Serves conversations.
        Agent = "agent",
    }
);

impl Role {
    /// Whether the role may serve conversations.
    pub fn can_serve(self) -> bool {
        true
    }

    /// What the built-in role may do. Owners and admins hold every permission (only an owner may make owners);
    /// supervisors supervise conversations, see contact data, import orders and read reports; agents use the
    /// workspace.
    pub fn permissions(self) -> Permissions {
        use Permission::*;
        match self {
            Role::Owner | Role::Admin => Permissions::all(),
            Role::Supervisor => {
                [Workspace, SuperviseConversations, ViewPii, ImportOrders, ViewReports].into_iter().collect()
            }
            Role::Agent => [Workspace].into_iter().collect(),
        }
    }
}

string_enum!(
    /// One thing a user or an API token may do; roles (built-in and custom) are sets of them. Checked on the
    /// server for every route.
    Permission {
        /// Use the workspace: serve conversations, work tickets, read the knowledge base and visitor cards.
        Workspace = "workspace",
        /// See every conversation of the tenant, take over, edit team canned replies.
        SuperviseConversations = "supervise_conversations",
        /// See contact data (phone, e-mail) unmasked; each view is audited.
        ViewPii = "view_pii",
        /// Record and import customers' orders.
        ImportOrders = "import_orders",
        /// Read the service reports (SLA).
        ViewReports = "view_reports",
        /// Edit the knowledge base.
        ManageKb = "manage_kb",
        /// Change the bot's settings and task flows.
        ManageBot = "manage_bot",
        /// Manage skill groups, agents' capacity and routing rules.
        ManageRouting = "manage_routing",
        /// Configure tickets: intake sources and imports, classification and dispatch, webhooks.
        ManageTickets = "manage_tickets",
        /// Manage users, their roles and the tenant's custom roles.
        ManageUsers = "manage_users",
        /// Read and export the audit log.
        ViewAudit = "view_audit",
        /// Change the tenant's settings (security settings, widget origins, audit retention).
        ManageSettings = "manage_settings",
        /// Create and revoke API tokens.
        ManageApiTokens = "manage_api_tokens",
        /// Export and delete a customer's data on request.
        ManageCustomerData = "manage_customer_data",
    }
);

impl Permission {
    /// The permission's label for the console, in Chinese and English.
    pub fn label(self) -> (&'static str, &'static str) {
        use Permission::*;
        match self {
            Workspace => ("使用工作台", "Use the workspace"),
            SuperviseConversations => ("督导全部会话", "Supervise all conversations"),
            ViewPii => ("查看联系方式", "View contact data"),
            ImportOrders => ("导入订单", "Import orders"),
            ViewReports => ("查看报表", "View reports"),
            ManageKb => ("管理知识库", "Manage the knowledge base"),
            ManageBot => ("管理机器人", "Manage the bot"),
            ManageRouting => ("管理路由", "Manage routing"),
            ManageTickets => ("管理工单设置", "Manage ticket settings"),
            ManageUsers => ("管理用户与角色", "Manage users and roles"),
            ViewAudit => ("查看审计日志", "View the audit log"),
            ManageSettings => ("管理租户设置", "Manage tenant settings"),
            ManageApiTokens => ("管理 API 令牌", "Manage API tokens"),
            ManageCustomerData => ("导出与删除客户数据", "Export and delete customer data"),
        }
    }

    fn bit(self) -> u32 {
        1 << Permission::ALL.iter().position(|p| *p == self).unwrap_or(31)
    }
}

/// A set of [`Permission`]s, written as a list of their names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u32);

impl Permissions {
    /// No permission.
    pub fn none() -> Self {
        Self(0)
    }

    /// Every permission.
    pub fn all() -> Self {
        Permission::ALL.iter().copied().collect()
    }

    /// Whether the set holds `p`.
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Adds `p`.
    pub fn insert(&mut self, p: Permission) {
        self.0 |= p.bit();
    }

    /// Whether every permission of `self` is in `other`.
    pub fn is_subset(self, other: Permissions) -> bool {
        self.0 & !other.0 == 0
    }

    /// The permissions in both sets.
    pub fn intersect(self, other: Permissions) -> Permissions {
        Self(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }

    /// The permissions of `self` missing from `other`.
    pub fn missing_from(self, other: Permissions) -> Vec<Permission> {
        self.iter().filter(|p| !other.contains(*p)).collect()
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut s = Self::none();
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Permission>::deserialize(d)?.into_iter().collect())
    }
}

impl utoipa::PartialSchema for Permissions {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new().items(<Permission as utoipa::PartialSchema>::schema()).into()
    }
}

impl utoipa::ToSchema for Permissions {}

/// A tenant's own role: a named set of permissions given to users in place of a built-in role's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CustomRole {
    /// Its id.
    pub id: CustomRoleId,
    /// The tenant.
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// Its name, unique in the tenant.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// What its users may do ([`Permission::Workspace`] always among them).
    pub permissions: Permissions,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

string_enum!(
    /// Who wrote a message.
    Author {
        /// The visitor / customer.
        Visitor = "visitor",
        /// The bot.
        Bot = "bot",
        /// A human agent.
        Agent = "agent",
        /// The system (status changes).
        System = "system",
        /// An agent's internal note: shown to agents only, never to the visitor.
        Note = "note",
    }
);

string_enum!(
    /// Where a conversation stands.
    ConversationStatus {
        /// The bot is answering.
        Bot = "bot",
        /// Handed off, waiting for an agent.
        Queued = "queued",
        /// An agent is serving it.
        Assigned = "assigned",
        /// Finished.
        Closed = "closed",
    }
);

string_enum!(
    /// Why a conversation was handed to a human.
    HandoffReason {
        /// The visitor asked for a human.
        VisitorRequest = "visitor_request",
        /// The bot repeatedly could not answer.
        LowConfidence = "low_confidence",
        /// Strong negative emotion in the visitor's messages.
        NegativeEmotion = "negative_emotion",
        /// An agent took the conversation over.
        AgentTakeover = "agent_takeover",
        /// An agent or supervisor transferred the conversation to a group.
        Transfer = "transfer",
        /// The agent serving it went offline.
        AgentOffline = "agent_offline",
        /// A VIP visitor (by flag or tag) is served by humans.
        Vip = "vip",
        /// A business rule (a keyword in the message, or the category of the matched entry).
        Rule = "rule",
    }
);

string_enum!(
    /// An agent's availability as they set it; routing only assigns to `online` agents who are connected.
    AgentStatus {
        /// Takes new conversations.
        Online = "online",
        /// Serves current conversations, takes no new ones.
        Busy = "busy",
        /// Away from the desk for a while.
        Away = "away",
        /// Not working.
        Offline = "offline",
    }
);

string_enum!(
    /// How a skill group picks one of its available agents.
    RoutingStrategy {
        /// The agent serving the fewest conversations (ties: the one who waited longest for a new one).
        LeastLoaded = "least_loaded",
        /// Turn by turn: the agent whose last assignment is oldest.
        RoundRobin = "round_robin",
        /// The agent whose skills best cover what the conversation needs (language, category, the group's
        /// skills); ties by load.
        SkillMatch = "skill_match",
    }
);

string_enum!(
    /// The channel a conversation came through.
    Channel {
        /// The web widget.
        Web = "web",
        /// The generic API channel.
        Api = "api",
    }
);

string_enum!(
    /// The analytics events recorded from the message stream.
    EventKind {
        /// A conversation was opened.
        ConversationOpened = "conversation_opened",
        /// The bot answered a visitor message.
        BotAnswered = "bot_answered",
        /// The bot could not answer a visitor message.
        BotFailed = "bot_failed",
        /// A handoff to a human was requested.
        HandoffRequested = "handoff_requested",
        /// An agent was assigned.
        AgentAssigned = "agent_assigned",
        /// The first human reply of a conversation.
        FirstResponse = "first_response",
        /// The conversation was closed.
        ConversationClosed = "conversation_closed",
        /// The bot took a conversation back from the humans.
        BotTakeback = "bot_takeback",
        /// 猜你想问 questions were shown to the visitor.
        GuessShown = "guess_shown",
        /// The visitor clicked a guess.
        GuessClicked = "guess_clicked",
        /// The visitor rated a bot answer.
        BotRated = "bot_rated",
    }
);

/// A tenant (one business).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// The short unique name used in URLs and the CLI.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// The public key that the web widget presents.
    pub widget_key: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A workspace user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// Login e-mail, unique within the tenant.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The tenant's custom role that replaces the built-in role's permissions, if one is given.
    pub custom_role: Option<CustomRoleId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A visitor / customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visitor {
    /// Its id.
    pub id: VisitorId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The business's own id for the customer, when known.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Tags (segments), system and manual.
    pub tags: Vec<String>,
    /// Whether a VIP: routed ahead of everyone else.
    pub vip: bool,
    /// E-mail, when known.
    pub email: Option<String>,
    /// Phone, when known.
    pub phone: Option<String>,
    /// Custom attributes (plan, city, …).
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Set when this visitor was merged into another one: that one holds everything now.
    pub merged_into: Option<VisitorId>,
    /// When a tracked event or a conversation last came from them.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When first seen.
    pub created_at: DateTime<Utc>,
}

/// A conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The visitor.
    pub visitor_id: VisitorId,
    /// The visitor's display name (joined for convenience).
    pub visitor_name: String,
    /// The channel.
    pub channel: Channel,
    /// Current status.
    pub status: ConversationStatus,
    /// The agent serving it, if any.
    pub assigned_agent: Option<UserId>,
    /// The assigned agent's display name (joined).
    pub assigned_agent_name: Option<String>,
    /// Why it was handed off, if it was.
    pub handoff_reason: Option<HandoffReason>,
    /// The highest sequence number used.
    pub last_seq: i64,
    /// How many consecutive visitor messages the bot could not answer.
    pub bot_failures: i64,
    /// The business context the page passed in (`{"order_status":"payment_failed"}`), values as text.
    pub context: std::collections::BTreeMap<String, String>,
    /// The skill group it was routed to, if any.
    pub group_id: Option<GroupId>,
    /// Queue priority (higher first).
    pub priority: i64,
    /// The name of the routing rule that chose its group, if any.
    pub route_rule: Option<String>,
    /// When it last entered the queue.
    pub queued_at: Option<DateTime<Utc>>,
    /// The visitor's language (`zh` or `en`), from their first message.
    pub language: Option<String>,
    /// The page the widget was opened on.
    pub entry_page: Option<String>,
    /// The knowledge-base category the bot last matched.
    pub category: Option<String>,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last activity.
    pub updated_at: DateTime<Utc>,
    /// Closed at.
    pub closed_at: Option<DateTime<Utc>>,
    /// The visitor's widget received the messages up to this seq.
    pub visitor_delivered_seq: i64,
    /// The visitor has seen the messages up to this seq.
    pub visitor_read_seq: i64,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Per-conversation sequence number, from 1, without gaps.
    pub seq: i64,
    /// Who wrote it.
    pub author: Author,
    /// The agent who wrote it, for agent messages.
    pub author_user: Option<UserId>,
    /// Display name of the author.
    pub author_name: Option<String>,
    /// The text exactly as typed.
    pub text: String,
    /// The sender's idempotency key.
    pub client_id: Option<String>,
    /// The file it carries.
    pub attachment: Option<AttachmentRef>,
    /// What makes a bot message interactive (suggestions, guesses, rating, the human button); bot messages only.
    pub bot: Option<BotMeta>,
    /// Stored at.
    pub created_at: DateTime<Utc>,
}

/// The interactive part of a bot message (`bot` of the message object, `docs/protocol.md`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BotMeta {
    /// `answer`, `suggest`, `admit`, `chitchat`, `flow`, `flow_failed` or `summary` (the handoff note).
    pub outcome: String,
    /// The entry answered from.
    #[serde(default)]
    pub entry_id: Option<EntryId>,
    /// "Did you mean" candidates, shown as buttons (outcome `suggest`).
    #[serde(default)]
    pub suggestions: Vec<BotOption>,
    /// 猜你想问: questions likely for this visitor.
    #[serde(default)]
    pub guesses: Vec<BotOption>,
    /// Whether the visitor may rate this message useful / not useful.
    #[serde(default)]
    pub feedback: bool,
    /// Whether to offer a "talk to a human" button.
    #[serde(default)]
    pub human: bool,
}

/// An entry offered to the visitor as a button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BotOption {
    /// The entry.
    pub entry_id: EntryId,
    /// Its standard question.
    pub question: String,
}

/// A file carried by a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentRef {
    /// Its id (download at `/api/v1/attachments/{id}`).
    pub id: AttachmentId,
    /// The file name as uploaded.
    pub name: String,
    /// The checked media type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
}

/// A knowledge-base (FAQ) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KbEntry {
    /// Its id.
    pub id: EntryId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The standard question.
    pub question: String,
    /// Other ways customers ask the same thing.
    pub similar_questions: Vec<String>,
    /// The answer as sanitised rich text (an HTML fragment of the allowed tags only).
    pub answer: String,
    /// The answer as plain text, for channels that cannot show rich text (and for the bot's chat reply).
    pub answer_text: String,
    /// Answers for particular channels (`web`, `api`), used there instead of `answer`.
    pub channel_answers: std::collections::BTreeMap<String, ChannelAnswer>,
    /// Category path, e.g. "售后/退货".
    pub category: String,
    /// Free labels.
    pub tags: Vec<String>,
    /// Whether the bot uses it.
    pub enabled: bool,
    /// The bot uses it from this time on (always when absent).
    pub valid_from: Option<DateTime<Utc>>,
    /// The bot stops using it at this time (never when absent).
    pub valid_until: Option<DateTime<Utc>>,
    /// Who created it (absent for imports by the CLI and the demo).
    pub created_by: Option<UserId>,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Updated at.
    pub updated_at: DateTime<Utc>,
}

/// An entry's answer for one channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAnswer {
    /// Sanitised rich text.
    pub answer: String,
    /// Plain text.
    pub answer_text: String,
}

impl KbEntry {
    /// The plain-text answer for a channel: its own variant when it has one, else the main answer.
    pub fn answer_text_for(&self, channel: Channel) -> &str {
        self.channel_answers.get(channel.as_str()).map_or(self.answer_text.as_str(), |a| a.answer_text.as_str())
    }

    /// Whether the bot may answer from it at `now`: enabled and inside its validity period.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.enabled
            && self.valid_from.is_none_or(|from| from <= now)
            && self.valid_until.is_none_or(|until| now < until)
    }
}

/// The time type used in records.
pub type DateTimeUtc = DateTime<Utc>;
