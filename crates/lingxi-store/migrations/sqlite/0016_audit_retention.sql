-- Audit retention (issue 7): the audit log stays append-only, except that entries older than a recorded purge's
-- cut-off may be deleted; a purge is recorded first in audit_purges and cannot reach entries younger than 30 days
-- (by the database's own clock). Never edit a migration that has shipped; add a new one.
CREATE TABLE audit_purges (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    cutoff      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_purges_tenant ON audit_purges (tenant_id, cutoff);

CREATE TRIGGER audit_purges_min_age BEFORE INSERT ON audit_purges
WHEN NEW.cutoff > CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 2592000000
BEGIN SELECT RAISE(ABORT, 'audit entries younger than 30 days are kept'); END;

CREATE TRIGGER audit_purges_no_change BEFORE UPDATE ON audit_purges
BEGIN SELECT RAISE(ABORT, 'audit purges are append-only'); END;
CREATE TRIGGER audit_purges_no_delete BEFORE DELETE ON audit_purges
BEGIN SELECT RAISE(ABORT, 'audit purges are append-only'); END;

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.tenant_id IS NULL
  OR OLD.created_at >= COALESCE((SELECT MAX(cutoff) FROM audit_purges WHERE tenant_id = OLD.tenant_id), 0)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
