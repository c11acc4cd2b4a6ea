//! Events between the parts of Lingxi: a message was stored, a conversation changed.
//!
//! Every node has an in-process broadcast channel; subscribers (the widget and agent sockets) filter by tenant
//! and conversation. With several nodes ([`Bus::connect_nats`]) every event is also published on one NATS subject
//! and the events of the other nodes are re-broadcast locally, so a visitor on node A and an agent on node B see
//! each other live. NATS only carries the news: the database holds every message, and when the connection to
//! NATS was lost (or this node fell behind) the bus broadcasts [`Event::Resync`] and the sockets re-read what they
//! may have missed from storage.

use futures::StreamExt;
use lingxi_types::{Author, Conversation, ConversationId, Message, TenantId, TicketId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{broadcast, mpsc};

/// Something that happened and that live clients (widget, workspace) must learn about.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The tenant's knowledge base or task flows changed on another node: retrain the bot's model here too.
    KbChanged(TenantId),
    /// The tenant's bot settings were saved on another node: read them again here.
    BotSettingsChanged(TenantId),
    /// Events may have been missed (the connection to the other nodes was lost for a while, or this node fell
    /// behind): every subscriber re-reads its state from storage. Never sent between nodes.
    Resync,
}

impl Event {
    /// The tenant the event belongs to (none for [`Event::Resync`], which concerns everyone).
    pub fn tenant_id(&self) -> Option<TenantId> {
        match self {
            Event::MessageStored(m) => Some(m.tenant_id),
            Event::ConversationChanged(c) => Some(c.tenant_id),
            Event::QueueChanged(t) | Event::KbChanged(t) | Event::BotSettingsChanged(t) => Some(*t),
            Event::Typing { tenant_id, .. }
            | Event::Receipt { tenant_id, .. }
            | Event::TicketChanged { tenant_id, .. } => Some(*tenant_id),
            Event::Resync => None,
        }
    }

    /// The conversation the event is about, if it is about one.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Event::MessageStored(m) => Some(m.conversation_id),
            Event::ConversationChanged(c) => Some(c.id),
            Event::QueueChanged(_)
            | Event::KbChanged(_)
            | Event::BotSettingsChanged(_)
            | Event::TicketChanged { .. }
            | Event::Resync => None,
            Event::Typing { conversation_id, .. } | Event::Receipt { conversation_id, .. } => Some(*conversation_id),
        }
    }
}

/// What a subscriber follows, so that an event wakes only those it concerns (not every socket of the node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Every event of the tenant (the agent workspace).
    Tenant(TenantId),
    /// The events of one conversation (the visitor's widget).
    Conversation(ConversationId),
    /// `QueueChanged` of the tenant only (a queued visitor's place).
    Queue(TenantId),
}

/// Channels per topic, made on first subscription and dropped once nobody listens.
#[derive(Debug, Default)]
struct Topics {
    channels: std::sync::Mutex<std::collections::HashMap<Topic, broadcast::Sender<Event>>>,
    subscriptions: std::sync::atomic::AtomicUsize,
}

/// Events a topic subscriber may lag behind before it resumes from storage. A channel's ring is allocated whole
/// when the topic is first followed, so a conversation's (one per connected visitor) stays small.
fn topic_capacity(topic: Topic) -> usize {
    match topic {
        Topic::Conversation(_) | Topic::Queue(_) => 16,
        Topic::Tenant(_) => 1024,
    }
}

impl Topics {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Topic, broadcast::Sender<Event>>> {
        self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Event> {
        let mut channels = self.lock();
        // Now and then, forget the topics nobody follows any more (closed conversations).
        if self.subscriptions.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            channels.retain(|_, s| s.receiver_count() > 0);
        }
        channels.entry(topic).or_insert_with(|| broadcast::channel(topic_capacity(topic)).0).subscribe()
    }

    fn send(&self, topic: Topic, event: &Event) {
        let mut channels = self.lock();
        if let Some(s) = channels.get(&topic)
            && s.send(event.clone()).is_err()
        {
            channels.remove(&topic);
        }
    }

    fn send_all(&self, event: &Event) {
        for s in self.lock().values() {
            let _ = s.send(event.clone());
        }
    }
}

/// The event bus of a node. Cloning gives another handle to the same bus.
#[derive(Clone, Debug)]
pub struct Bus {
    sender: broadcast::Sender<Event>,
    topics: Arc<Topics>,
    /// Events for the other nodes, in order, to the task that publishes them on NATS.
    remote: Option<mpsc::UnboundedSender<Outbound>>,
    /// This node's name on the shared subject (its own events coming back are skipped).
    node: Arc<str>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new(4096)
    }
}

/// What the publishing task is given: an encoded event, or a request to confirm that everything before it has
/// reached the NATS server.
#[derive(Debug)]
enum Outbound {
    Event(Vec<u8>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// An event as sent to the other nodes.
#[derive(Serialize)]
struct Outgoing<'a> {
    node: &'a str,
    event: &'a Event,
}

/// An event as received from another node.
#[derive(Deserialize)]
struct Incoming {
    node: String,
    event: Event,
}

/// Why the bus could not reach NATS.
#[derive(Debug)]
pub struct BusError(pub String);

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BusError {}

impl Bus {
    /// An in-process bus whose slow subscribers may lag by at most `capacity` events (they then resume from
    /// storage).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender, topics: Arc::default(), remote: None, node: Arc::from("local") }
    }

    /// A bus shared with the other nodes connected to the NATS server at `url` on `subject` (e.g.
    /// `lingxi.events`). `node` names this node (unique among them). Reconnects by itself; after a reconnection
    /// subscribers get [`Event::Resync`].
    pub async fn connect_nats(url: &str, subject: &str, node: &str, capacity: usize) -> Result<Bus, BusError> {
        let (sender, _) = broadcast::channel(capacity);
        let topics: Arc<Topics> = Arc::default();
        let local_bus = Bus { sender: sender.clone(), topics: topics.clone(), remote: None, node: Arc::from(node) };
        let lost = Arc::new(AtomicBool::new(false));
        let on_event = {
            let (sender, lost) = (local_bus.clone(), lost.clone());
            move |event: async_nats::Event| {
                let (sender, lost) = (sender.clone(), lost.clone());
                async move {
                    match event {
                        async_nats::Event::Disconnected => {
                            tracing::warn!("the connection to NATS was lost; reconnecting");
                            lost.store(true, Ordering::SeqCst);
                        }
                        async_nats::Event::Connected => {
                            if lost.swap(false, Ordering::SeqCst) {
                                tracing::info!("reconnected to NATS");
                                sender.deliver(Event::Resync);
                            }
                        }
                        async_nats::Event::SlowConsumer(_) => sender.deliver(Event::Resync),
                        other => tracing::debug!(error = %other, "NATS event"),
                    }
                }
            }
        };
        let client = async_nats::ConnectOptions::new()
            .name(format!("lingxi {node}"))
            .event_callback(on_event)
            .connect(url)
            .await
            .map_err(|e| BusError(format!("cannot connect to NATS at {url}: {e}")))?;
        let mut subscription = client
            .subscribe(subject.to_owned())
            .await
            .map_err(|e| BusError(format!("cannot subscribe to {subject}: {e}")))?;
        let node: Arc<str> = Arc::from(node);
        let (remote, mut outgoing) = mpsc::unbounded_channel::<Outbound>();
        let publisher = client.clone();
        let subject_out = subject.to_owned();
        tokio::spawn(async move {
            while let Some(item) = outgoing.recv().await {
                match item {
                    Outbound::Event(bytes) => {
                        if let Err(e) = publisher.publish(subject_out.clone(), bytes.into()).await {
                            tracing::warn!(error = %e, "an event could not be published to NATS");
                        }
                    }
                    Outbound::Flush(done) => {
                        if let Err(e) = publisher.flush().await {
                            tracing::warn!(error = %e, "NATS did not confirm the events");
                        }
                        let _ = done.send(());
                    }
                }
            }
        });
        let (local, own) = (local_bus.clone(), node.clone());
        tokio::spawn(async move {
            while let Some(m) = subscription.next().await {
                match serde_json::from_slice::<Incoming>(&m.payload) {
                    Ok(i) if *i.node == *own || matches!(i.event, Event::Resync) => {}
                    Ok(i) => local.deliver(i.event),
                    Err(e) => tracing::warn!(error = %e, "an unreadable event on NATS"),
                }
            }
        });
        Ok(Bus { sender, topics, remote: Some(remote), node })
    }

    /// Whether events go to other nodes too.
    pub fn is_shared(&self) -> bool {
        self.remote.is_some()
    }

    /// Publishes an event to every current subscriber of this node and, when shared, of the other nodes.
    /// Publishing with no subscriber is not an error.
    pub fn publish(&self, event: Event) {
        if !matches!(event, Event::Resync) {
            self.publish_others(event.clone());
        }
        self.deliver(event);
    }

    /// Hands an event to this node's subscribers: those of everything, of its tenant, of its conversation (and of
    /// the queue for `QueueChanged`); `Resync` to all.
    fn deliver(&self, event: Event) {
        match &event {
            Event::Resync => self.topics.send_all(&event),
            _ => {
                if let Some(t) = event.tenant_id() {
                    self.topics.send(Topic::Tenant(t), &event);
                    if matches!(event, Event::QueueChanged(_)) {
                        self.topics.send(Topic::Queue(t), &event);
                    }
                }
                if let Some(c) = event.conversation_id() {
                    self.topics.send(Topic::Conversation(c), &event);
                }
            }
        }
        let _ = self.sender.send(event);
    }

    /// A new subscription to one topic's events from now on (and `Resync`).
    pub fn subscribe_to(&self, topic: Topic) -> broadcast::Receiver<Event> {
        self.topics.subscribe(topic)
    }

    /// Publishes an event to the other nodes only (news this node has already acted on).
    pub fn publish_others(&self, event: Event) {
        if let Some(remote) = &self.remote {
            match serde_json::to_vec(&Outgoing { node: &self.node, event: &event }) {
                Ok(bytes) => {
                    let _ = remote.send(Outbound::Event(bytes));
                }
                Err(e) => tracing::warn!(error = %e, "an event could not be encoded"),
            }
        }
    }

    /// Waits until every event published so far has reached the NATS server (at most `limit`), so that what a
    /// client is told was stored is also announced to the other nodes even if this node dies next. Immediate on an
    /// in-process bus.
    pub async fn flushed(&self, limit: std::time::Duration) {
        let Some(remote) = &self.remote else { return };
        let (done, wait) = tokio::sync::oneshot::channel();
        if remote.send(Outbound::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(limit, wait).await;
        }
    }

    /// A new subscription receiving every event of every tenant published from now on (for the node's own
    /// listeners; sockets follow a [`Topic`]).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(t: TenantId, c: ConversationId) -> Event {
        Event::Receipt { tenant_id: t, conversation_id: c, delivered_seq: 1, read_seq: 1 }
    }

    #[test]
    fn an_event_reaches_only_the_topics_it_concerns() {
        let bus = Bus::default();
        let (t, other_t) = (TenantId::generate(), TenantId::generate());
        let (c, other_c) = (ConversationId::generate(), ConversationId::generate());
        let mut conv = bus.subscribe_to(Topic::Conversation(c));
        let mut tenant = bus.subscribe_to(Topic::Tenant(t));
        let mut queue = bus.subscribe_to(Topic::Queue(t));
        let mut all = bus.subscribe();
        bus.publish(receipt(t, other_c));
        bus.publish(receipt(other_t, ConversationId::generate()));
        bus.publish(receipt(t, c));
        bus.publish(Event::QueueChanged(t));
        bus.publish(Event::QueueChanged(other_t));
        bus.publish(Event::Resync);
        assert!(matches!(conv.try_recv(), Ok(Event::Receipt { conversation_id, .. }) if conversation_id == c));
        assert!(matches!(conv.try_recv(), Ok(Event::Resync)));
        assert!(conv.try_recv().is_err());
        let mut n = 0;
        while let Ok(e) = tenant.try_recv() {
            assert!(e.tenant_id() == Some(t) || matches!(e, Event::Resync), "{e:?}");
            n += 1;
        }
        assert_eq!(n, 4, "its two receipts, its queue change and the resync");
        assert!(matches!(queue.try_recv(), Ok(Event::QueueChanged(q)) if q == t));
        assert!(matches!(queue.try_recv(), Ok(Event::Resync)));
        assert!(queue.try_recv().is_err());
        let mut everything = 0;
        while all.try_recv().is_ok() {
            everything += 1;
        }
        assert_eq!(everything, 6);
    }

    #[test]
    fn topics_nobody_follows_are_forgotten() {
        let bus = Bus::default();
        let t = TenantId::generate();
        for _ in 0..2048 {
            drop(bus.subscribe_to(Topic::Conversation(ConversationId::generate())));
        }
        let _kept = bus.subscribe_to(Topic::Tenant(t));
        assert!(bus.topics.lock().len() < 1100, "closed conversations' channels are dropped");
        bus.publish(Event::QueueChanged(t));
        assert!(bus.topics.lock().contains_key(&Topic::Tenant(t)));
    }
}
