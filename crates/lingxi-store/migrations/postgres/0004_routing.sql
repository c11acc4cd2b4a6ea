-- Routing (issue 5): skill groups and members, agent availability and capacity, routing rules, the queue fields
-- of a conversation, visitor tags / VIP, and the stored explanation of every assignment.
-- Never edit a migration that has shipped; add a new one.
CREATE TABLE skill_groups (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    strategy    TEXT NOT NULL,
    skills      TEXT NOT NULL DEFAULT '[]',
    sticky      BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE group_members (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    group_id   TEXT NOT NULL REFERENCES skill_groups(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (tenant_id, user_id);

-- One row per agent: what they set (status), what routing may give them (capacity, skills), the heartbeat of their
-- connected workspaces (seen_at; 0 = not connected) and when they were last given a conversation.
CREATE TABLE agent_states (
    user_id           TEXT PRIMARY KEY REFERENCES users(id),
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    status            TEXT NOT NULL DEFAULT 'offline',
    capacity          BIGINT NOT NULL DEFAULT 8,
    skills            TEXT NOT NULL DEFAULT '[]',
    seen_at           BIGINT NOT NULL DEFAULT 0,
    last_assigned_at  BIGINT NOT NULL DEFAULT 0,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX agent_states_tenant ON agent_states (tenant_id, status, seen_at);

CREATE TABLE routing_rules (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    position    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    conditions  TEXT NOT NULL,
    group_id    TEXT REFERENCES skill_groups(id) ON DELETE SET NULL,
    priority    BIGINT NOT NULL DEFAULT 0,
    enabled     BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX routing_rules_tenant ON routing_rules (tenant_id, position);

ALTER TABLE conversations ADD COLUMN group_id TEXT REFERENCES skill_groups(id) ON DELETE SET NULL;
ALTER TABLE conversations ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN route_rule TEXT;
ALTER TABLE conversations ADD COLUMN queued_at BIGINT;
ALTER TABLE conversations ADD COLUMN language TEXT;
ALTER TABLE conversations ADD COLUMN entry_page TEXT;
ALTER TABLE conversations ADD COLUMN category TEXT;
UPDATE conversations SET queued_at = updated_at WHERE status = 'queued';
CREATE INDEX conversations_queue ON conversations (tenant_id, status, priority, queued_at);
CREATE INDEX conversations_agent ON conversations (tenant_id, assigned_agent, status);

ALTER TABLE visitors ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE visitors ADD COLUMN vip BIGINT NOT NULL DEFAULT 0;

CREATE TABLE assignments (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    visitor_id       TEXT NOT NULL REFERENCES visitors(id),
    agent_id         TEXT NOT NULL REFERENCES users(id),
    group_id         TEXT,
    explanation      TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX assignments_conversation ON assignments (tenant_id, conversation_id, created_at);
CREATE INDEX assignments_visitor ON assignments (tenant_id, visitor_id, created_at);
CREATE INDEX assignments_group ON assignments (tenant_id, group_id, created_at);
