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

CREATE FUNCTION audit_purges_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.cutoff > (extract(epoch FROM now()) * 1000)::bigint - 2592000000 THEN
            RAISE EXCEPTION 'audit entries younger than 30 days are kept';
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit purges are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_purges_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_purges
FOR EACH ROW EXECUTE FUNCTION audit_purges_guard();

DROP TRIGGER audit_log_no_change ON audit_log;
CREATE FUNCTION audit_log_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.tenant_id IS NOT NULL AND OLD.created_at <
        COALESCE((SELECT MAX(cutoff) FROM audit_purges WHERE tenant_id = OLD.tenant_id), 0) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
