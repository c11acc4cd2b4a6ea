-- The bot per tenant (issue 4): its settings document (lingxi_bot::BotSettings as JSON), its task flows
-- (lingxi_bot::FlowSpec as JSON), every decision it made (candidates, scores, outcome, the visitor's rating), the
-- interactive part of bot messages (`meta`: suggestions, guesses, feedback, human button) and the business context
-- the page passed in with the conversation. Never edit a migration that has shipped; add a new one.
CREATE TABLE bot_settings (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
    settings    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE bot_flows (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE bot_decisions (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    conversation_id   TEXT NOT NULL REFERENCES conversations(id),
    message_id        TEXT NOT NULL REFERENCES messages(id),
    reply_message_id  TEXT REFERENCES messages(id),
    text              TEXT NOT NULL,
    resolved_text     TEXT,
    outcome           TEXT NOT NULL,
    entry_id          TEXT,
    confidence_ppm    BIGINT,
    candidates        TEXT NOT NULL,
    reason            TEXT,
    flow              TEXT,
    follow_up         BIGINT NOT NULL,
    source            TEXT,
    feedback          BIGINT,
    latency_us        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX bot_decisions_conversation ON bot_decisions (tenant_id, conversation_id, created_at);
CREATE INDEX bot_decisions_reply ON bot_decisions (tenant_id, reply_message_id);
CREATE INDEX bot_decisions_entry ON bot_decisions (tenant_id, outcome, created_at);

ALTER TABLE messages ADD COLUMN meta TEXT;
ALTER TABLE conversations ADD COLUMN context TEXT;
-- Answers for particular channels (JSON {channel: {answer, answer_text}}; NULL: the main answer everywhere).
ALTER TABLE kb_entries ADD COLUMN channel_answers TEXT;
