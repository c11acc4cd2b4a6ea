//! Which agents are online on this node: an agent is online while at least one workspace socket is open.

use lingxi_types::{TenantId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open workspace connections per agent.
#[derive(Clone, Default)]
pub(crate) struct Presence {
    online: Arc<Mutex<HashMap<(TenantId, UserId), usize>>>,
}

impl Presence {
    pub(crate) fn connect(&self, tenant_id: TenantId, user_id: UserId) -> PresenceGuard {
        if let Ok(mut m) = self.online.lock() {
            *m.entry((tenant_id, user_id)).or_insert(0) += 1;
        }
        PresenceGuard { presence: self.clone(), key: (tenant_id, user_id) }
    }

    /// The tenant's online agents, in a stable order.
    pub(crate) fn online(&self, tenant_id: TenantId) -> Vec<UserId> {
        let mut agents: Vec<UserId> = self
            .online
            .lock()
            .map(|m| m.keys().filter(|(t, _)| *t == tenant_id).map(|(_, u)| *u).collect())
            .unwrap_or_default();
        agents.sort();
        agents
    }
}

/// Keeps an agent online until dropped.
pub struct PresenceGuard {
    presence: Presence,
    key: (TenantId, UserId),
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        if let Ok(mut m) = self.presence.online.lock()
            && let Some(n) = m.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}
