-- Multi-shop intake (issue 6): saved column mappings per source, the imported records (idempotent by platform +
-- kind + external id) and the import runs with their progress.
-- Never edit a migration that has shipped; add a new one.
CREATE TABLE intake_sources (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    name            TEXT NOT NULL,
    mapping         TEXT NOT NULL,
    create_tickets  BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE intake_records (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    platform      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    shop          TEXT,
    order_id      TEXT,
    customer      TEXT,
    amount_cents  BIGINT,
    currency      TEXT NOT NULL,
    status        TEXT,
    rating        BIGINT,
    occurred_at   BIGINT,
    record        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    ticket_id     TEXT,
    run_id        TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, platform, kind, external_id)
);
CREATE INDEX intake_records_order ON intake_records (tenant_id, platform, order_id);

CREATE TABLE intake_runs (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    source       TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    status       TEXT NOT NULL,
    phase        TEXT NOT NULL,
    done         BIGINT NOT NULL DEFAULT 0,
    total        BIGINT NOT NULL DEFAULT 0,
    report       TEXT,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX intake_runs_tenant ON intake_runs (tenant_id, created_at);
