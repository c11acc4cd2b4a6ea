-- Tickets (issue 6), first slice: tickets with a per-tenant number, comments (public replies and internal notes),
-- and the full history of changes. Never edit a migration that has shipped; add a new one.
CREATE TABLE ticket_counters (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    last       BIGINT NOT NULL
);

CREATE TABLE tickets (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    number             BIGINT NOT NULL,
    title              TEXT NOT NULL,
    description        TEXT NOT NULL,
    requester_id       TEXT REFERENCES visitors(id),
    requester_name     TEXT,
    requester_contact  TEXT,
    source             TEXT NOT NULL,
    shop               TEXT,
    platform           TEXT,
    ticket_type        TEXT,
    category           TEXT,
    priority           TEXT NOT NULL,
    status             TEXT NOT NULL,
    assignee_id        TEXT REFERENCES users(id),
    group_id           TEXT REFERENCES skill_groups(id) ON DELETE SET NULL,
    tags               TEXT NOT NULL DEFAULT '[]',
    custom_fields      TEXT NOT NULL DEFAULT '{}',
    conversation_id    TEXT REFERENCES conversations(id),
    external_key       TEXT,
    created_by         TEXT REFERENCES users(id),
    version            BIGINT NOT NULL DEFAULT 1,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    first_response_at  BIGINT,
    solved_at          BIGINT,
    closed_at          BIGINT,
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, external_key)
);
CREATE INDEX tickets_status ON tickets (tenant_id, status, updated_at);
CREATE INDEX tickets_assignee ON tickets (tenant_id, assignee_id, status);
CREATE INDEX tickets_group ON tickets (tenant_id, group_id, status);
CREATE INDEX tickets_conversation ON tickets (tenant_id, conversation_id);

CREATE TABLE ticket_comments (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    author_id   TEXT REFERENCES users(id),
    author_name TEXT NOT NULL,
    public      BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments (tenant_id, ticket_id, created_at);

-- One row per changed field (or event: created, commented), never updated or deleted.
CREATE TABLE ticket_changes (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    actor_id    TEXT REFERENCES users(id),
    actor_name  TEXT NOT NULL,
    field       TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX ticket_changes_ticket ON ticket_changes (tenant_id, ticket_id, created_at);
