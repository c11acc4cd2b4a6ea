-- Access control (issue 7): the tenant's custom roles (named permission sets given to users in place of a built-in
-- role's), API tokens for integrations (stored as SHA-256 hashes, scoped to permissions, revocable) and the tenant's
-- security settings (audit retention, the origins allowed to embed the chat widget). Never edit a migration that
-- has shipped; add a new one.
CREATE TABLE custom_roles (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

ALTER TABLE users ADD COLUMN custom_role_id TEXT REFERENCES custom_roles(id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, created_at);

CREATE TABLE security_settings (
    tenant_id             TEXT PRIMARY KEY REFERENCES tenants(id),
    audit_retention_days  BIGINT NOT NULL,
    widget_origins        TEXT NOT NULL,
    updated_at            BIGINT NOT NULL
);
