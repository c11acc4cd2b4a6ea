-- Files on tickets (issue 6): uploaded first, then carried by a comment (comment_id set when it is sent).
-- Never edit a migration that has shipped; add a new one.
CREATE TABLE ticket_attachments (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    ticket_id     TEXT NOT NULL REFERENCES tickets(id),
    comment_id    TEXT,
    uploaded_by   TEXT NOT NULL,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    data          BLOB NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (tenant_id, ticket_id);
ALTER TABLE ticket_comments ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
