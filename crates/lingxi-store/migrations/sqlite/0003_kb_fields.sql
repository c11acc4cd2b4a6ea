-- Knowledge base, issue 4: plain-text answer rendering, tags, validity period, authorship, and one entry per
-- standard question within a tenant (imports upsert by it). Never edit a migration that has shipped; add a new one.
ALTER TABLE kb_entries ADD COLUMN answer_text TEXT NOT NULL DEFAULT '';
ALTER TABLE kb_entries ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE kb_entries ADD COLUMN valid_from BIGINT;
ALTER TABLE kb_entries ADD COLUMN valid_until BIGINT;
ALTER TABLE kb_entries ADD COLUMN created_by TEXT;
ALTER TABLE kb_entries ADD COLUMN updated_by TEXT;

-- Answers stored before were plain text: they are their own plain-text rendering.
UPDATE kb_entries SET answer_text = answer;

-- Earlier versions allowed the same standard question twice in a tenant: keep every row, make the later ones distinct.
UPDATE kb_entries SET question = question || ' #' || id
WHERE EXISTS (SELECT 1 FROM kb_entries k2 WHERE k2.tenant_id = kb_entries.tenant_id AND k2.question = kb_entries.question AND k2.id < kb_entries.id);

CREATE UNIQUE INDEX kb_entries_tenant_question ON kb_entries (tenant_id, question);
CREATE INDEX kb_entries_tenant_category ON kb_entries (tenant_id, category);
