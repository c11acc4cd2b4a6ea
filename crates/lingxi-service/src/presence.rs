//! Which agents have a workspace open on this node. The database holds what routing reads (status and a heartbeat,
//! so several nodes agree); this registry knows whose heartbeat this node must keep fresh.

use lingxi_store::Store;
use lingxi_types::{TenantId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open workspace connections per agent on this node.
#[derive(Clone, Default)]
pub(crate) struct Presence {
    online: Arc<Mutex<HashMap<(TenantId, UserId), usize>>>,
}

impl Presence {
    pub(crate) fn connect(&self, tenant_id: TenantId, user_id: UserId, store: Store) -> PresenceGuard {
        if let Ok(mut m) = self.online.lock() {
            *m.entry((tenant_id, user_id)).or_insert(0) += 1;
        }
        PresenceGuard { presence: self.clone(), key: (tenant_id, user_id), store }
    }

    /// Every agent connected to this node.
    pub(crate) fn connected(&self) -> Vec<(TenantId, UserId)> {
        let mut agents: Vec<_> = self.online.lock().map(|m| m.keys().copied().collect()).unwrap_or_default();
        agents.sort();
        agents
    }

    fn is_connected(&self, key: (TenantId, UserId)) -> bool {
        self.online.lock().map(|m| m.contains_key(&key)).unwrap_or(false)
    }
}

/// Keeps an agent's workspace registered until dropped; the last one to go marks the agent disconnected.
pub struct PresenceGuard {
    presence: Presence,
    key: (TenantId, UserId),
    store: Store,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let mut last = false;
        if let Ok(mut m) = self.presence.online.lock()
            && let Some(n) = m.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
                last = true;
            }
        }
        if last && let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (presence, key, store) = (self.presence.clone(), self.key, self.store.clone());
            rt.spawn(async move {
                // A workspace that reconnected meanwhile keeps the agent connected.
                if !presence.is_connected(key)
                    && let Err(e) = store.agent_disconnected(key.0, key.1).await
                {
                    tracing::warn!(error = %e, "could not mark an agent disconnected");
                }
            });
        }
    }
}
