-- The agent workspace (issue 5): visitor contact and attributes, identities and merges, the browsing track,
-- orders, canned replies, per-agent read state, visitor delivery/read receipts and attachments.
-- Never edit a migration that has shipped; add a new one.
ALTER TABLE visitors ADD COLUMN email TEXT;
ALTER TABLE visitors ADD COLUMN phone TEXT;
ALTER TABLE visitors ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE visitors ADD COLUMN merged_into TEXT;
ALTER TABLE visitors ADD COLUMN last_seen_at BIGINT;

-- Every way a visitor is known: kind is user (the business's customer id), email, phone or anonymous (the tracker's
-- browser id). One identity belongs to one visitor; identifying with one held by another visitor merges the two.
CREATE TABLE visitor_identities (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    visitor_id  TEXT NOT NULL REFERENCES visitors(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, value)
);
CREATE INDEX visitor_identities_visitor ON visitor_identities (tenant_id, visitor_id);
INSERT INTO visitor_identities (tenant_id, kind, value, visitor_id, created_at)
    SELECT tenant_id, 'user', external_id, id, created_at FROM visitors WHERE external_id IS NOT NULL;

-- The browsing track: page and product views, cart additions, orders and custom events, in the order they happened.
CREATE TABLE visitor_events (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    visitor_id    TEXT NOT NULL REFERENCES visitors(id),
    kind          TEXT NOT NULL,
    name          TEXT,
    url           TEXT,
    title         TEXT,
    product_id    TEXT,
    product_name  TEXT,
    amount_cents  BIGINT,
    currency      TEXT,
    properties    TEXT NOT NULL DEFAULT '{}',
    occurred_at   BIGINT NOT NULL,
    received_at   BIGINT NOT NULL
);
CREATE INDEX visitor_events_visitor ON visitor_events (tenant_id, visitor_id, occurred_at);

CREATE TABLE orders (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    external_id   TEXT NOT NULL,
    visitor_id    TEXT REFERENCES visitors(id),
    status        TEXT NOT NULL,
    amount_cents  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    items         TEXT NOT NULL DEFAULT '[]',
    placed_at     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX orders_visitor ON orders (tenant_id, visitor_id, placed_at);

-- owner_id '' = a team reply; otherwise the agent whose personal reply it is.
CREATE TABLE canned_replies (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    owner_id    TEXT NOT NULL DEFAULT '',
    shortcut    TEXT NOT NULL,
    title       TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, owner_id, shortcut)
);

CREATE TABLE conversation_reads (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    user_id          TEXT NOT NULL REFERENCES users(id),
    read_seq         BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
ALTER TABLE conversations ADD COLUMN visitor_delivered_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN visitor_read_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX conversations_visitor ON conversations (tenant_id, visitor_id, created_at);

CREATE TABLE attachments (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    uploaded_by      TEXT NOT NULL,
    name             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    size             BIGINT NOT NULL,
    sha256           TEXT NOT NULL,
    data             BYTEA NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX attachments_conversation ON attachments (tenant_id, conversation_id);
-- The attachment a message carries, as JSON {"id","name","content_type","size"}.
ALTER TABLE messages ADD COLUMN attachment TEXT;
