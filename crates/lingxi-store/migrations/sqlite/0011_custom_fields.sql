-- Typed custom ticket fields per tenant (issue 6): [{key, label_zh, label_en, kind, options, required}].
-- Never edit a migration that has shipped; add a new one.
ALTER TABLE ticket_settings ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '[]';
