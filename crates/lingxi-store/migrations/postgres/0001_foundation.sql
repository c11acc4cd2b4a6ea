-- The foundation: tenants, users and sessions, visitors, conversations with sequenced messages,
-- the knowledge base and analytics events. Never edit a migration that has shipped; add a new one.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    widget_key  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, email)
);
CREATE INDEX users_email ON users (email);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE visitors (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    external_id  TEXT,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (tenant_id, external_id)
);

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    visitor_id      TEXT NOT NULL REFERENCES visitors(id),
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,
    assigned_agent  TEXT REFERENCES users(id),
    handoff_reason  TEXT,
    last_seq        BIGINT NOT NULL DEFAULT 0,
    bot_failures    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    closed_at       BIGINT
);
CREATE INDEX conversations_tenant_status ON conversations (tenant_id, status, updated_at);

CREATE TABLE widget_sessions (
    token_hash       TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    visitor_id       TEXT NOT NULL REFERENCES visitors(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    created_at       BIGINT NOT NULL
);

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    seq              BIGINT NOT NULL,
    author           TEXT NOT NULL,
    author_user      TEXT REFERENCES users(id),
    author_name      TEXT,
    text             TEXT NOT NULL,
    client_id        TEXT,
    created_at       BIGINT NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, client_id)
);

CREATE TABLE kb_entries (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    question           TEXT NOT NULL,
    similar_questions  TEXT NOT NULL,
    answer             TEXT NOT NULL,
    category           TEXT NOT NULL,
    enabled            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX kb_entries_tenant ON kb_entries (tenant_id);

CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT,
    kind             TEXT NOT NULL,
    detail           TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX events_tenant_kind ON events (tenant_id, kind, created_at);
