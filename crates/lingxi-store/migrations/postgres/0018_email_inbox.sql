-- Tickets from incoming e-mail (issue 6): the addresses a tenant receives support mail at (each belongs to one
-- tenant), and the messages already taken in (by Message-ID), so a message delivered twice makes one ticket or one
-- reply. Never edit a migration that has shipped; add a new one.
CREATE TABLE email_inboxes (
    address    TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX email_inboxes_tenant ON email_inboxes (tenant_id);
CREATE TABLE inbound_emails (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    message_id  TEXT NOT NULL,
    ticket_id   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
