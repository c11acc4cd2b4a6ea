//! Agent selection for a conversation waiting for a human.

use lingxi_types::UserId;

/// An agent who could take a conversation, as seen at decision time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentSlot {
    /// The agent.
    pub agent: UserId,
    /// Conversations they serve now.
    pub load: i64,
    /// The most they may serve at once.
    pub capacity: i64,
}

/// The default number of conversations an agent serves at once.
pub const DEFAULT_CAPACITY: i64 = 8;

/// Picks the least-loaded online agent with room; ties go to the agent listed first. `None` when nobody has room.
pub fn pick_least_loaded(online: &[AgentSlot]) -> Option<UserId> {
    online.iter().filter(|s| s.load < s.capacity).min_by_key(|s| s.load).map(|s| s.agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(n: u128, load: i64) -> AgentSlot {
        AgentSlot { agent: UserId(uuid_from(n)), load, capacity: 2 }
    }

    fn uuid_from(n: u128) -> lingxi_types::ids::Uuid {
        lingxi_types::ids::Uuid::from_u128(n)
    }

    #[test]
    fn least_loaded_agent_with_room_wins() {
        assert_eq!(pick_least_loaded(&[slot(1, 1), slot(2, 0), slot(3, 0)]), Some(slot(2, 0).agent));
        assert_eq!(pick_least_loaded(&[slot(1, 2), slot(2, 2)]), None, "everyone full");
        assert_eq!(pick_least_loaded(&[]), None, "nobody online");
    }
}
