-- SLA (issue 6): per-tenant policies and business calendar, each ticket's deadlines, and the timers that warn and
-- escalate. A timer fires once: a node claims it for a while, then marks it fired in the same transaction as its
-- effects. Never edit a migration that has shipped; add a new one.
ALTER TABLE ticket_settings ADD COLUMN sla_policies TEXT NOT NULL DEFAULT '[]';
ALTER TABLE ticket_settings ADD COLUMN calendar TEXT;

ALTER TABLE tickets ADD COLUMN sla_policy TEXT;
ALTER TABLE tickets ADD COLUMN first_response_due BIGINT;
ALTER TABLE tickets ADD COLUMN resolution_due BIGINT;

CREATE TABLE sla_timers (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    ticket_id      TEXT NOT NULL REFERENCES tickets(id),
    kind           TEXT NOT NULL,
    stage          TEXT NOT NULL,
    fire_at        BIGINT NOT NULL,
    fired_at       BIGINT,
    claimed_by     TEXT,
    claimed_until  BIGINT,
    UNIQUE (ticket_id, kind, stage)
);
CREATE INDEX sla_timers_due ON sla_timers (fired_at, fire_at);
