//! Routing persistence: skill groups, agent availability, routing rules, the queue and atomic assignment.
//!
//! The one invariant that matters under concurrency lives in [`Store::assign`]: a conversation is assigned at most
//! once per queueing and an agent never serves more than their capacity. Both hold because the assignment runs in one
//! transaction that first writes the agent's row (a row lock on PostgreSQL, the write lock on SQLite), then counts
//! the agent's conversations, then moves the conversation with a compare-and-set on its status.

use crate::conversations::{CONVERSATION_SELECT, conversation};
use crate::rows::{enum_col, id, int, millis, now, opt_id, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use lingxi_types::*;
use sqlx::any::AnyRow;

/// How long an agent's workspace heartbeat stays fresh: an agent unseen for longer is not connected.
pub const HEARTBEAT_TTL_MS: i64 = 45_000;

/// A skill group to create or replace.
#[derive(Clone, Debug)]
pub struct GroupInput {
    /// Display name.
    pub name: String,
    /// Strategy within the group.
    pub strategy: RoutingStrategy,
    /// Skills the group's conversations need.
    pub skills: Vec<String>,
    /// Return customers to their last agent.
    pub sticky: bool,
    /// The members (users of the tenant).
    pub members: Vec<UserId>,
}

/// An agent who may be given a conversation now (status online, connected), with their load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailableAgent {
    /// The agent.
    pub user_id: UserId,
    /// Display name.
    pub name: String,
    /// Conversations served now.
    pub load: i64,
    /// Capacity.
    pub capacity: i64,
    /// Last assignment (ms since the epoch).
    pub last_assigned_ms: i64,
    /// Skills.
    pub skills: Vec<String>,
    /// Groups they belong to.
    pub groups: Vec<GroupId>,
}

/// What an assignment must check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssignChecks {
    /// The agent must be online and connected.
    pub require_available: bool,
    /// The agent must have room.
    pub enforce_capacity: bool,
}

impl AssignChecks {
    /// Routing: both checks.
    pub const ROUTING: AssignChecks = AssignChecks { require_available: true, enforce_capacity: true };
    /// A person's explicit choice (claim, takeover): no checks.
    pub const EXPLICIT: AssignChecks = AssignChecks { require_available: false, enforce_capacity: false };
}

/// The outcome of an assignment attempt.
#[derive(Clone, Debug)]
pub enum AssignOutcome {
    /// Done.
    Assigned(Box<Conversation>),
    /// The agent has no room.
    AgentFull,
    /// The agent is not online or not connected.
    AgentUnavailable,
    /// The conversation is no longer in one of the expected statuses.
    ConversationMoved,
}

fn json_list(row: &AnyRow, col: &str) -> StoreResult<Vec<String>> {
    let s = text(row, col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("bad list in {col}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl Store {
    // ---- skill groups ----

    /// The tenant's skill groups with their members, by name.
    pub async fn groups(&self, tenant_id: TenantId) -> StoreResult<Vec<SkillGroup>> {
        let rows = sqlx::query(
            "SELECT id, name, strategy, skills, sticky FROM skill_groups WHERE tenant_id = $1 ORDER BY name, id",
        )
        .bind(tid(tenant_id))
        .fetch_all(&self.pool)
        .await?;
        let members = sqlx::query("SELECT group_id, user_id FROM group_members WHERE tenant_id = $1 ORDER BY user_id")
            .bind(tid(tenant_id))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let gid: GroupId = id(r, "id")?;
            let mut m = Vec::new();
            for row in &members {
                if id::<GroupId>(row, "group_id")? == gid {
                    m.push(id(row, "user_id")?);
                }
            }
            out.push(SkillGroup {
                id: gid,
                name: text(r, "name")?,
                strategy: enum_col(r, "strategy", RoutingStrategy::parse)?,
                skills: json_list(r, "skills")?,
                sticky: int(r, "sticky")? != 0,
                members: m,
            });
        }
        Ok(out)
    }

    /// One skill group of the tenant.
    pub async fn group(&self, tenant_id: TenantId, group_id: GroupId) -> StoreResult<SkillGroup> {
        self.groups(tenant_id).await?.into_iter().find(|g| g.id == group_id).ok_or(StoreError::NotFound("group"))
    }

    async fn check_members(&self, tenant_id: TenantId, members: &[UserId]) -> StoreResult<()> {
        for m in members {
            let found = sqlx::query("SELECT 1 AS one FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(tid(tenant_id))
                .bind(m.to_string())
                .fetch_optional(&self.pool)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("user"));
            }
        }
        Ok(())
    }

    /// Creates a skill group (the name is unique in the tenant; members must be users of the tenant).
    pub async fn create_group(&self, tenant_id: TenantId, input: &GroupInput) -> StoreResult<SkillGroup> {
        self.check_members(tenant_id, &input.members).await?;
        let gid = GroupId::generate();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO skill_groups (id, tenant_id, name, strategy, skills, sticky, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(gid.to_string())
        .bind(tid(tenant_id))
        .bind(&input.name)
        .bind(input.strategy.as_str())
        .bind(to_json(&input.skills))
        .bind(i64::from(input.sticky))
        .bind(millis(now()))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists("group name")),
            r => r?,
        };
        insert_members(&mut tx, tenant_id, gid, &input.members).await?;
        tx.commit().await?;
        self.group(tenant_id, gid).await
    }

    /// Replaces a skill group's settings and members.
    pub async fn update_group(
        &self,
        tenant_id: TenantId,
        group_id: GroupId,
        input: &GroupInput,
    ) -> StoreResult<SkillGroup> {
        self.check_members(tenant_id, &input.members).await?;
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE skill_groups SET name = $1, strategy = $2, skills = $3, sticky = $4 WHERE tenant_id = $5 AND id = $6",
        )
        .bind(&input.name)
        .bind(input.strategy.as_str())
        .bind(to_json(&input.skills))
        .bind(i64::from(input.sticky))
        .bind(tid(tenant_id))
        .bind(group_id.to_string())
        .execute(&mut *tx)
        .await;
        let updated = match updated {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists("group name")),
            r => r?,
        };
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("group"));
        }
        sqlx::query("DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2")
            .bind(tid(tenant_id))
            .bind(group_id.to_string())
            .execute(&mut *tx)
            .await?;
        insert_members(&mut tx, tenant_id, group_id, &input.members).await?;
        tx.commit().await?;
        self.group(tenant_id, group_id).await
    }

    /// Deletes a skill group; its queued conversations fall back to "any agent".
    pub async fn delete_group(&self, tenant_id: TenantId, group_id: GroupId) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM skill_groups WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(group_id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("group"));
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- routing rules ----

    /// The tenant's routing rules in evaluation order.
    pub async fn routing_rules(&self, tenant_id: TenantId) -> StoreResult<Vec<RouteRule>> {
        let rows = sqlx::query(
            "SELECT id, name, conditions, group_id, priority, enabled FROM routing_rules \
             WHERE tenant_id = $1 ORDER BY position, id",
        )
        .bind(tid(tenant_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let conditions = serde_json::from_str(&text(r, "conditions")?)
                    .map_err(|e| StoreError::Corrupt(format!("bad rule conditions: {e}")))?;
                Ok(RouteRule {
                    id: id(r, "id")?,
                    name: text(r, "name")?,
                    conditions,
                    group_id: opt_id(r, "group_id")?,
                    priority: int(r, "priority")?,
                    enabled: int(r, "enabled")? != 0,
                })
            })
            .collect()
    }

    /// Replaces the tenant's routing rules, atomically, with `rules` in this order. Groups must be the tenant's.
    pub async fn replace_routing_rules(&self, tenant_id: TenantId, rules: &[RouteRule]) -> StoreResult<()> {
        let groups: Vec<GroupId> = self.groups(tenant_id).await?.iter().map(|g| g.id).collect();
        if rules.iter().any(|r| r.group_id.is_some_and(|g| !groups.contains(&g))) {
            return Err(StoreError::NotFound("group"));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM routing_rules WHERE tenant_id = $1").bind(tid(tenant_id)).execute(&mut *tx).await?;
        for (i, r) in rules.iter().enumerate() {
            sqlx::query(
                "INSERT INTO routing_rules (id, tenant_id, position, name, conditions, group_id, priority, enabled) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(r.id.to_string())
            .bind(tid(tenant_id))
            .bind(i as i64)
            .bind(&r.name)
            .bind(to_json(&r.conditions))
            .bind(r.group_id.map(|g| g.to_string()))
            .bind(r.priority)
            .bind(i64::from(r.enabled))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- agents ----

    async fn ensure_agent_state(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<()> {
        let exists = sqlx::query("SELECT 1 AS one FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        sqlx::query(
            "INSERT INTO agent_states (user_id, tenant_id, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id.to_string())
        .bind(tid(tenant_id))
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets the status an agent chose.
    pub async fn set_agent_status(&self, tenant_id: TenantId, user_id: UserId, status: AgentStatus) -> StoreResult<()> {
        self.ensure_agent_state(tenant_id, user_id).await?;
        sqlx::query("UPDATE agent_states SET status = $1, updated_at = $2 WHERE tenant_id = $3 AND user_id = $4")
            .bind(status.as_str())
            .bind(millis(now()))
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets what routing may give an agent.
    pub async fn set_agent_profile(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        capacity: i64,
        skills: &[String],
    ) -> StoreResult<()> {
        self.ensure_agent_state(tenant_id, user_id).await?;
        sqlx::query(
            "UPDATE agent_states SET capacity = $1, skills = $2, updated_at = $3 WHERE tenant_id = $4 AND user_id = $5",
        )
        .bind(capacity)
        .bind(to_json(&skills))
        .bind(millis(now()))
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An agent's workspace connected: fresh heartbeat; an agent who was offline becomes online.
    pub async fn agent_connected(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<AgentStatus> {
        self.ensure_agent_state(tenant_id, user_id).await?;
        let row = sqlx::query(
            "UPDATE agent_states SET seen_at = $1, \
             status = CASE WHEN status = 'offline' THEN 'online' ELSE status END \
             WHERE tenant_id = $2 AND user_id = $3 RETURNING status",
        )
        .bind(millis(now()))
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        enum_col(&row, "status", AgentStatus::parse)
    }

    /// Refreshes the heartbeat of agents connected to this node.
    pub async fn agent_heartbeat(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<()> {
        sqlx::query("UPDATE agent_states SET seen_at = $1 WHERE tenant_id = $2 AND user_id = $3")
            .bind(millis(now()))
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The agent's last workspace on this node disconnected.
    pub async fn agent_disconnected(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<()> {
        sqlx::query("UPDATE agent_states SET seen_at = 0 WHERE tenant_id = $1 AND user_id = $2")
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every user of the tenant as routing sees them, by name.
    pub async fn agent_profiles(&self, tenant_id: TenantId) -> StoreResult<Vec<AgentProfile>> {
        let cutoff = millis(now()) - HEARTBEAT_TTL_MS;
        let rows = sqlx::query(
            "SELECT u.id, u.name, u.role, COALESCE(a.status, 'offline') AS status, COALESCE(a.capacity, 8) AS capacity, \
             COALESCE(a.skills, '[]') AS skills, COALESCE(a.seen_at, 0) AS seen_at, \
             (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = u.tenant_id AND c.assigned_agent = u.id \
              AND c.status = 'assigned') AS load \
             FROM users u LEFT JOIN agent_states a ON a.user_id = u.id WHERE u.tenant_id = $1 ORDER BY u.name, u.id",
        )
        .bind(tid(tenant_id))
        .fetch_all(&self.pool)
        .await?;
        let memberships = self.memberships(tenant_id).await?;
        rows.iter()
            .map(|r| {
                let user_id: UserId = id(r, "id")?;
                Ok(AgentProfile {
                    user_id,
                    name: text(r, "name")?,
                    role: enum_col(r, "role", Role::parse)?,
                    status: enum_col(r, "status", AgentStatus::parse)?,
                    connected: int(r, "seen_at")? > cutoff,
                    capacity: int(r, "capacity")?,
                    load: int(r, "load")?,
                    skills: json_list(r, "skills")?,
                    groups: memberships.iter().filter(|(u, _)| *u == user_id).map(|(_, g)| *g).collect(),
                })
            })
            .collect()
    }

    async fn memberships(&self, tenant_id: TenantId) -> StoreResult<Vec<(UserId, GroupId)>> {
        let rows = sqlx::query("SELECT user_id, group_id FROM group_members WHERE tenant_id = $1")
            .bind(tid(tenant_id))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((id(r, "user_id")?, id(r, "group_id")?))).collect()
    }

    /// Agents who may be given a conversation now: status online and a fresh heartbeat, with their loads.
    pub async fn available_agents(&self, tenant_id: TenantId) -> StoreResult<Vec<AvailableAgent>> {
        let cutoff = millis(now()) - HEARTBEAT_TTL_MS;
        let rows = sqlx::query(
            "SELECT u.id, u.name, a.capacity, a.skills, a.last_assigned_at, \
             (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = a.tenant_id AND c.assigned_agent = a.user_id \
              AND c.status = 'assigned') AS load \
             FROM agent_states a JOIN users u ON u.id = a.user_id \
             WHERE a.tenant_id = $1 AND a.status = 'online' AND a.seen_at > $2 ORDER BY u.id",
        )
        .bind(tid(tenant_id))
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        let memberships = self.memberships(tenant_id).await?;
        rows.iter()
            .map(|r| {
                let user_id: UserId = id(r, "id")?;
                Ok(AvailableAgent {
                    user_id,
                    name: text(r, "name")?,
                    load: int(r, "load")?,
                    capacity: int(r, "capacity")?,
                    last_assigned_ms: int(r, "last_assigned_at")?,
                    skills: json_list(r, "skills")?,
                    groups: memberships.iter().filter(|(u, _)| *u == user_id).map(|(_, g)| *g).collect(),
                })
            })
            .collect()
    }

    /// Agents (of any tenant) with assigned conversations whose workspace has not been seen since `cutoff_ms`.
    pub async fn absent_agents_with_conversations(&self, cutoff_ms: i64) -> StoreResult<Vec<(TenantId, UserId)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT c.tenant_id, c.assigned_agent FROM conversations c \
             LEFT JOIN agent_states a ON a.user_id = c.assigned_agent \
             WHERE c.status = 'assigned' AND c.assigned_agent IS NOT NULL AND COALESCE(a.seen_at, 0) < $1",
        )
        .bind(cutoff_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((id(r, "tenant_id")?, id(r, "assigned_agent")?))).collect()
    }

    // ---- the queue ----

    /// Puts a conversation in the queue of a group (or of "any agent") with a priority, if it is in one of `from`.
    /// A conversation that was queued before keeps its original queue time, so it is not sent to the back.
    #[allow(clippy::too_many_arguments)]
    pub async fn enqueue(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        from: &[ConversationStatus],
        group_id: Option<GroupId>,
        priority: i64,
        reason: HandoffReason,
        keep_queue_time: bool,
        route_rule: Option<&str>,
    ) -> StoreResult<Option<Conversation>> {
        let at = millis(now());
        let marks: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 9)).collect();
        let sql = format!(
            "UPDATE conversations SET status = 'queued', assigned_agent = NULL, group_id = $1, priority = $2, \
             handoff_reason = $3, updated_at = $4, route_rule = $8, \
             queued_at = CASE WHEN $5 = 1 AND queued_at IS NOT NULL THEN queued_at ELSE $4 END \
             WHERE tenant_id = $6 AND id = $7 AND status IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql)
            .bind(group_id.map(|g| g.to_string()))
            .bind(priority)
            .bind(reason.as_str())
            .bind(at)
            .bind(i64::from(keep_queue_time))
            .bind(tid(tenant_id))
            .bind(conversation_id.to_string())
            .bind(route_rule);
        for s in from {
            q = q.bind(s.as_str());
        }
        if q.execute(&self.pool).await?.rows_affected() == 0 {
            return Ok(None);
        }
        self.conversation(tenant_id, conversation_id).await.map(Some)
    }

    /// The tenant's queue in serving order: highest priority first, then longest waiting.
    pub async fn queue(&self, tenant_id: TenantId, limit: i64) -> StoreResult<Vec<Conversation>> {
        let rows = sqlx::query(&format!(
            "{CONVERSATION_SELECT} WHERE c.tenant_id = $1 AND c.status = 'queued' \
             ORDER BY c.priority DESC, c.queued_at, c.id LIMIT $2"
        ))
        .bind(tid(tenant_id))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation).collect()
    }

    /// The tenant's queued conversations that entered the queue before `before`, longest waiting first.
    pub async fn queued_before(
        &self,
        tenant_id: TenantId,
        before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<Conversation>> {
        let rows = sqlx::query(&format!(
            "{CONVERSATION_SELECT} WHERE c.tenant_id = $1 AND c.status = 'queued' AND c.queued_at < $2 \
             ORDER BY c.queued_at, c.id LIMIT 500"
        ))
        .bind(tid(tenant_id))
        .bind(millis(before))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation).collect()
    }

    /// Tenants with conversations waiting in the queue.
    pub async fn tenants_with_queue(&self) -> StoreResult<Vec<TenantId>> {
        let rows = sqlx::query("SELECT DISTINCT tenant_id FROM conversations WHERE status = 'queued'")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| id(r, "tenant_id")).collect()
    }

    /// A queued conversation's place in its group's queue (1 = next), or `None` when it is not queued.
    pub async fn queue_position(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<i64>> {
        let c = self.conversation(tenant_id, conversation_id).await?;
        let (ConversationStatus::Queued, Some(queued_at)) = (c.status, c.queued_at) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM conversations WHERE tenant_id = $1 AND status = 'queued' \
             AND COALESCE(group_id, '') = $2 \
             AND (priority > $3 OR (priority = $3 AND (queued_at < $4 OR (queued_at = $4 AND id < $5))))",
        )
        .bind(tid(tenant_id))
        .bind(c.group_id.map(|g| g.to_string()).unwrap_or_default())
        .bind(c.priority)
        .bind(millis(queued_at))
        .bind(c.id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(int(&row, "n")? + 1))
    }

    /// How many conversations of a group (or of "any agent") were assigned by routing since `since_ms`.
    pub async fn routed_since(
        &self,
        tenant_id: TenantId,
        group_id: Option<GroupId>,
        since_ms: i64,
    ) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM assignments WHERE tenant_id = $1 AND COALESCE(group_id, '') = $2 \
             AND created_at >= $3",
        )
        .bind(tid(tenant_id))
        .bind(group_id.map(|g| g.to_string()).unwrap_or_default())
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        int(&row, "n")
    }

    /// The agent who was last assigned to one of this visitor's earlier conversations (not `current`).
    pub async fn last_agent_of_visitor(
        &self,
        tenant_id: TenantId,
        visitor_id: VisitorId,
        current: ConversationId,
    ) -> StoreResult<Option<UserId>> {
        let row = sqlx::query(
            "SELECT agent_id FROM assignments WHERE tenant_id = $1 AND visitor_id = $2 AND conversation_id <> $3 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(tid(tenant_id))
        .bind(visitor_id.to_string())
        .bind(current.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| id(&r, "agent_id")).transpose()
    }

    /// Atomically assigns a conversation in one of `from` to an agent, storing the decision. See the module
    /// documentation for why two concurrent assignments can neither double-assign nor exceed a capacity.
    pub async fn assign(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
        from: &[ConversationStatus],
        agent: UserId,
        checks: AssignChecks,
        explanation: &Explanation,
    ) -> StoreResult<AssignOutcome> {
        if !checks.require_available {
            // Explicit choices may name an agent who never connected: give them their row first.
            self.ensure_agent_state(tenant_id, agent).await?;
        }
        let at = millis(now());
        let mut tx = self.pool.begin().await?;
        // Lock the agent's row first (the write also takes SQLite's write lock at once).
        let locked = if checks.require_available {
            sqlx::query(
                "UPDATE agent_states SET last_assigned_at = $1 WHERE tenant_id = $2 AND user_id = $3 \
                 AND status = 'online' AND seen_at > $4 RETURNING capacity",
            )
            .bind(at)
            .bind(tid(tenant_id))
            .bind(agent.to_string())
            .bind(at - HEARTBEAT_TTL_MS)
            .fetch_optional(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE agent_states SET last_assigned_at = $1 WHERE tenant_id = $2 AND user_id = $3 RETURNING capacity",
            )
            .bind(at)
            .bind(tid(tenant_id))
            .bind(agent.to_string())
            .fetch_optional(&mut *tx)
            .await?
        };
        let Some(locked) = locked else {
            tx.rollback().await?;
            return Ok(AssignOutcome::AgentUnavailable);
        };
        if checks.enforce_capacity {
            let capacity = int(&locked, "capacity")?;
            let load = sqlx::query(
                "SELECT COUNT(*) AS n FROM conversations WHERE tenant_id = $1 AND assigned_agent = $2 \
                 AND status = 'assigned'",
            )
            .bind(tid(tenant_id))
            .bind(agent.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if int(&load, "n")? >= capacity {
                tx.rollback().await?;
                return Ok(AssignOutcome::AgentFull);
            }
        }
        let marks: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 5)).collect();
        let sql = format!(
            "UPDATE conversations SET status = 'assigned', assigned_agent = $1, updated_at = $2 \
             WHERE tenant_id = $3 AND id = $4 AND status IN ({}) RETURNING visitor_id, group_id",
            marks.join(", ")
        );
        let mut q =
            sqlx::query(&sql).bind(agent.to_string()).bind(at).bind(tid(tenant_id)).bind(conversation_id.to_string());
        for s in from {
            q = q.bind(s.as_str());
        }
        let Some(moved) = q.fetch_optional(&mut *tx).await? else {
            tx.rollback().await?;
            return Ok(AssignOutcome::ConversationMoved);
        };
        sqlx::query(
            "INSERT INTO assignments (id, tenant_id, conversation_id, visitor_id, agent_id, group_id, explanation, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(AssignmentId::generate().to_string())
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .bind(text(&moved, "visitor_id")?)
        .bind(agent.to_string())
        .bind(opt_id::<GroupId>(&moved, "group_id")?.map(|g| g.to_string()))
        .bind(to_json(explanation))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AssignOutcome::Assigned(Box::new(self.conversation(tenant_id, conversation_id).await?)))
    }

    /// Every assignment decision of a conversation, oldest first.
    pub async fn assignments(
        &self,
        tenant_id: TenantId,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<Assignment>> {
        let rows = sqlx::query(
            "SELECT a.id, a.conversation_id, a.agent_id, u.name AS agent_name, a.group_id, a.explanation, a.created_at \
             FROM assignments a JOIN users u ON u.id = a.agent_id \
             WHERE a.tenant_id = $1 AND a.conversation_id = $2 ORDER BY a.created_at, a.id",
        )
        .bind(tid(tenant_id))
        .bind(conversation_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Assignment {
                    id: id(r, "id")?,
                    conversation_id: id(r, "conversation_id")?,
                    agent_id: id(r, "agent_id")?,
                    agent_name: text(r, "agent_name")?,
                    group_id: opt_id(r, "group_id")?,
                    explanation: serde_json::from_str(&text(r, "explanation")?)
                        .map_err(|e| StoreError::Corrupt(format!("bad explanation: {e}")))?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }

    /// The open conversations an agent serves.
    pub async fn conversations_of_agent(&self, tenant_id: TenantId, agent: UserId) -> StoreResult<Vec<Conversation>> {
        let rows = sqlx::query(&format!(
            "{CONVERSATION_SELECT} WHERE c.tenant_id = $1 AND c.assigned_agent = $2 AND c.status = 'assigned' \
             ORDER BY c.updated_at"
        ))
        .bind(tid(tenant_id))
        .bind(agent.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation).collect()
    }
}

async fn insert_members(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: TenantId,
    group_id: GroupId,
    members: &[UserId],
) -> StoreResult<()> {
    let mut seen = Vec::new();
    for m in members {
        if seen.contains(m) {
            continue;
        }
        seen.push(*m);
        sqlx::query("INSERT INTO group_members (tenant_id, group_id, user_id) VALUES ($1, $2, $3)")
            .bind(tid(tenant_id))
            .bind(group_id.to_string())
            .bind(m.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
