-- Password resets (issue 7): an administrator issues a one-time link for a user who forgot their password; the
-- link's token is stored only as its SHA-256, expires, and is used at most once. Never edit a migration that has
-- shipped; add a new one.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_by TEXT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX password_resets_user ON password_resets (tenant_id, user_id);
