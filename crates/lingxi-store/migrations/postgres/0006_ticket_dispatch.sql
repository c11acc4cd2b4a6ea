-- Ticket classification and dispatch (issue 6): per-tenant rules, triage group and threshold; each ticket keeps the
-- explanation of how it was classified and routed. Never edit a migration that has shipped; add a new one.
CREATE TABLE ticket_settings (
    tenant_id           TEXT PRIMARY KEY REFERENCES tenants(id),
    rules               TEXT NOT NULL DEFAULT '[]',
    triage_group_id     TEXT REFERENCES skill_groups(id) ON DELETE SET NULL,
    auto_classify       BIGINT NOT NULL DEFAULT 1,
    threshold_permille  BIGINT NOT NULL DEFAULT 500,
    updated_at          BIGINT NOT NULL
);

ALTER TABLE tickets ADD COLUMN dispatch TEXT;
CREATE INDEX tickets_category ON tickets (tenant_id, category);
