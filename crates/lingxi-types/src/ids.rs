//! Typed ids: newtypes over UUIDv7 so a tenant id can never be passed where a conversation id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
pub use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered (UUIDv7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A tenant: one business using Lingxi, fully isolated from the others.
    TenantId
);
id_type!(
    /// A user of the workspace (owner, admin, supervisor or agent).
    UserId
);
id_type!(
    /// A visitor / customer, one identity across channels.
    VisitorId
);
id_type!(
    /// A conversation between a visitor and the tenant (bot and agents).
    ConversationId
);
id_type!(
    /// One message of a conversation.
    MessageId
);
id_type!(
    /// A knowledge-base (FAQ) entry.
    EntryId
);
id_type!(
    /// An analytics event.
    EventId
);
id_type!(
    /// A skill group (技能组): agents who serve one kind of conversation.
    GroupId
);
id_type!(
    /// A routing rule: conditions on a conversation that send it to a group.
    RuleId
);
id_type!(
    /// One stored assignment decision.
    AssignmentId
);
id_type!(
    /// A ticket (工单).
    TicketId
);
id_type!(
    /// A file attached to a conversation.
    AttachmentId
);
id_type!(
    /// A customer's order, as the business reported it.
    OrderId
);
id_type!(
    /// A canned reply (快捷回复).
    CannedReplyId
);
id_type!(
    /// A tenant's own role: a named set of permissions.
    CustomRoleId
);
id_type!(
    /// An API token for an integration.
    ApiTokenId
);
