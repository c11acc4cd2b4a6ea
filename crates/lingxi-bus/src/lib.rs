//! Events between the parts of Lingxi: a message was stored, a conversation changed.
//!
//! The in-process bus is a broadcast channel per tenant-agnostic stream; subscribers filter by tenant and
//! conversation. A NATS-backed bus for several nodes implements the same [`Bus`] surface later (issue 8).

use lingxi_types::{Author, Conversation, ConversationId, Message, TenantId, TicketId};
use tokio::sync::broadcast;

/// Something that happened and that live clients (widget, workspace) must learn about.
#[derive(Clone, Debug)]
pub enum Event {
    /// A message was durably stored.
    MessageStored(Message),
    /// A conversation was created or changed (status, assignment…).
    ConversationChanged(Conversation),
    /// The tenant's queue changed (a conversation entered or left it): queued visitors' positions may have moved.
    QueueChanged(TenantId),
    /// Someone started or stopped typing (not stored).
    Typing {
        /// The tenant.
        tenant_id: TenantId,
        /// The conversation.
        conversation_id: ConversationId,
        /// `Visitor` or `Agent`.
        author: Author,
        /// The agent's name.
        name: Option<String>,
        /// Typing now.
        typing: bool,
    },
    /// A ticket was created or changed (fields, comments, an SLA event): refresh ticket views.
    TicketChanged {
        /// The tenant.
        tenant_id: TenantId,
        /// The ticket.
        ticket_id: TicketId,
        /// Its number.
        number: i64,
    },
    /// The visitor's delivered / read marks moved.
    Receipt {
        /// The tenant.
        tenant_id: TenantId,
        /// The conversation.
        conversation_id: ConversationId,
        /// Received up to.
        delivered_seq: i64,
        /// Seen up to.
        read_seq: i64,
    },
}

impl Event {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Event::MessageStored(m) => m.tenant_id,
            Event::ConversationChanged(c) => c.tenant_id,
            Event::QueueChanged(t) => *t,
            Event::Typing { tenant_id, .. }
            | Event::Receipt { tenant_id, .. }
            | Event::TicketChanged { tenant_id, .. } => *tenant_id,
        }
    }

    /// The conversation the event is about, if it is about one.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Event::MessageStored(m) => Some(m.conversation_id),
            Event::ConversationChanged(c) => Some(c.id),
            Event::QueueChanged(_) | Event::TicketChanged { .. } => None,
            Event::Typing { conversation_id, .. } | Event::Receipt { conversation_id, .. } => Some(*conversation_id),
        }
    }
}

/// The in-process event bus. Cloning gives another handle to the same bus.
#[derive(Clone, Debug)]
pub struct Bus {
    sender: broadcast::Sender<Event>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Bus {
    /// A bus whose slow subscribers may lag by at most `capacity` events (they then resume from storage).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }

    /// Publishes an event to every current subscriber. Publishing with no subscriber is not an error.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// A new subscription receiving every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
