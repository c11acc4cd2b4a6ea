//! Knowledge-base (FAQ) entries: create, read, update, delete, search with paging, and bulk upsert for imports.

use crate::rows::{id, int, millis, now, opt_id, opt_text, opt_ts, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::{ChannelAnswer, EntryId, KbEntry, TenantId, UserId};
use sqlx::any::AnyRow;

/// The fields of an entry that its author chooses (a new entry, a change, or one row of an import).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKbEntry {
    /// The standard question; unique within the tenant.
    pub question: String,
    /// Other ways to ask it.
    pub similar_questions: Vec<String>,
    /// The answer as sanitised rich text.
    pub answer: String,
    /// The answer as plain text; when empty, `answer` is taken as its own plain text.
    pub answer_text: String,
    /// Answers for particular channels.
    pub channel_answers: std::collections::BTreeMap<String, ChannelAnswer>,
    /// Category path, `/`-separated.
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether the bot uses it.
    pub enabled: bool,
    /// Start of the validity period.
    pub valid_from: Option<DateTime<Utc>>,
    /// End of the validity period (exclusive).
    pub valid_until: Option<DateTime<Utc>>,
    /// The user making the change (none for the CLI and the demo).
    pub author: Option<UserId>,
}

impl Default for NewKbEntry {
    fn default() -> Self {
        NewKbEntry {
            question: String::new(),
            similar_questions: Vec::new(),
            answer: String::new(),
            answer_text: String::new(),
            channel_answers: Default::default(),
            category: String::new(),
            tags: Vec::new(),
            enabled: true,
            valid_from: None,
            valid_until: None,
            author: None,
        }
    }
}

impl NewKbEntry {
    fn plain_answer(&self) -> &str {
        if self.answer_text.is_empty() { &self.answer } else { &self.answer_text }
    }

    /// Whether `e` already holds exactly these fields (an import of it would change nothing).
    fn same_as(&self, e: &KbEntry) -> bool {
        self.question == e.question
            && self.similar_questions == e.similar_questions
            && self.answer == e.answer
            && self.plain_answer() == e.answer_text
            && self.channel_answers == e.channel_answers
            && self.category == e.category
            && self.tags == e.tags
            && self.enabled == e.enabled
            && self.valid_from == e.valid_from
            && self.valid_until == e.valid_until
    }
}

/// Which entries to list: a search text, filters and a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KbFilter {
    /// Words to find in the question, the similar questions or the plain-text answer (case-insensitive substring).
    pub q: Option<String>,
    /// A category path: the entries of this category and of its sub-categories.
    pub category: Option<String>,
    /// Entries carrying this tag.
    pub tag: Option<String>,
    /// Only enabled (`true`) or only disabled (`false`) entries.
    pub enabled: Option<bool>,
    /// Page size.
    pub limit: i64,
    /// Entries to skip.
    pub offset: i64,
}

impl Default for KbFilter {
    fn default() -> Self {
        KbFilter { q: None, category: None, tag: None, enabled: None, limit: 50, offset: 0 }
    }
}

/// What a bulk upsert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KbUpsertCounts {
    /// New entries.
    pub created: usize,
    /// Existing entries (same standard question) whose fields changed.
    pub updated: usize,
    /// Existing entries that already held exactly these fields.
    pub unchanged: usize,
}

const COLUMNS: &str = "id, tenant_id, question, similar_questions, answer, answer_text, category, tags, enabled, \
                       valid_from, valid_until, created_by, updated_by, created_at, updated_at, channel_answers";

/// Rows per multi-row `INSERT` of a bulk upsert (14 parameters each, well under both engines' limits).
const UPSERT_CHUNK: usize = 200;

fn json_list(row: &AnyRow, col: &'static str) -> StoreResult<Vec<String>> {
    let raw = text(row, col)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

/// Channel answers as stored: `NULL` when there are none.
fn channel_json(answers: &std::collections::BTreeMap<String, ChannelAnswer>) -> StoreResult<Option<String>> {
    if answers.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(answers).map(Some).map_err(|e| StoreError::Corrupt(format!("channel answers: {e}")))
}

fn to_json(list: &[String]) -> StoreResult<String> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(format!("list: {e}")))
}

fn entry(row: &AnyRow) -> StoreResult<KbEntry> {
    Ok(KbEntry {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        question: text(row, "question")?,
        similar_questions: json_list(row, "similar_questions")?,
        answer: text(row, "answer")?,
        answer_text: text(row, "answer_text")?,
        channel_answers: match opt_text(row, "channel_answers")? {
            None => Default::default(),
            Some(raw) => {
                serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("channel_answers: {e}")))?
            }
        },
        category: text(row, "category")?,
        tags: json_list(row, "tags")?,
        enabled: int(row, "enabled")? != 0,
        valid_from: opt_ts(row, "valid_from")?,
        valid_until: opt_ts(row, "valid_until")?,
        created_by: opt_id(row, "created_by")?,
        updated_by: opt_id(row, "updated_by")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn duplicate_question(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) { StoreError::AlreadyExists("kb entry with this question") } else { e.into() }
}

/// The `WHERE` clause of a search and its parameters after the tenant (`$1`).
fn search_clause(filter: &KbFilter) -> (String, Vec<String>, Option<i64>) {
    let mut clause = String::from("tenant_id = $1");
    let mut params: Vec<String> = Vec::new();
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        params.push(format!("%{}%", like_escape(&q.to_lowercase())));
        let n = params.len() + 1;
        clause.push_str(&format!(
            " AND (LOWER(question) LIKE ${n} ESCAPE '\\' OR LOWER(similar_questions) LIKE ${n} ESCAPE '\\' \
             OR LOWER(answer_text) LIKE ${n} ESCAPE '\\')"
        ));
    }
    if let Some(c) = filter.category.as_deref().map(|c| c.trim().trim_end_matches('/')).filter(|c| !c.is_empty()) {
        params.push(c.to_owned());
        params.push(format!("{}/%", like_escape(c)));
        let n = params.len();
        clause.push_str(&format!(" AND (category = ${n} OR category LIKE ${} ESCAPE '\\')", n + 1));
    }
    if let Some(tag) = filter.tag.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let quoted = serde_json::to_string(tag).unwrap_or_default();
        params.push(format!("%{}%", like_escape(&quoted)));
        clause.push_str(&format!(" AND tags LIKE ${} ESCAPE '\\'", params.len() + 1));
    }
    let enabled = filter.enabled.map(i64::from);
    if enabled.is_some() {
        clause.push_str(&format!(" AND enabled = ${}", params.len() + 2));
    }
    (clause, params, enabled)
}

impl Store {
    /// Adds an entry to the tenant's knowledge base; a second entry with the same standard question is refused.
    pub async fn create_kb_entry(&self, tenant_id: TenantId, new: NewKbEntry) -> StoreResult<KbEntry> {
        let at = now();
        sqlx::query(&format!(
            "INSERT INTO kb_entries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $13, \
             $14)"
        ))
        .bind(EntryId::generate().to_string())
        .bind(tid(tenant_id))
        .bind(&new.question)
        .bind(to_json(&new.similar_questions)?)
        .bind(&new.answer)
        .bind(new.plain_answer())
        .bind(&new.category)
        .bind(to_json(&new.tags)?)
        .bind(i64::from(new.enabled))
        .bind(new.valid_from.map(millis))
        .bind(new.valid_until.map(millis))
        .bind(new.author.map(|u| u.to_string()))
        .bind(millis(at))
        .bind(channel_json(&new.channel_answers)?)
        .execute(&self.pool)
        .await
        .map_err(duplicate_question)?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM kb_entries WHERE tenant_id = $1 AND question = $2"))
            .bind(tid(tenant_id))
            .bind(&new.question)
            .fetch_one(&self.pool)
            .await?;
        entry(&row)
    }

    /// One entry of the tenant.
    pub async fn kb_entry(&self, tenant_id: TenantId, id: EntryId) -> StoreResult<KbEntry> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM kb_entries WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("kb entry"))?;
        entry(&row)
    }

    /// Replaces the author-chosen fields of an entry of the tenant.
    pub async fn update_kb_entry(&self, tenant_id: TenantId, id: EntryId, new: NewKbEntry) -> StoreResult<KbEntry> {
        let done = sqlx::query(
            "UPDATE kb_entries SET question = $3, similar_questions = $4, answer = $5, answer_text = $6, category = $7, \
             tags = $8, enabled = $9, valid_from = $10, valid_until = $11, updated_by = $12, updated_at = $13, \
             channel_answers = $14 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tid(tenant_id))
        .bind(id.to_string())
        .bind(&new.question)
        .bind(to_json(&new.similar_questions)?)
        .bind(&new.answer)
        .bind(new.plain_answer())
        .bind(&new.category)
        .bind(to_json(&new.tags)?)
        .bind(i64::from(new.enabled))
        .bind(new.valid_from.map(millis))
        .bind(new.valid_until.map(millis))
        .bind(new.author.map(|u| u.to_string()))
        .bind(millis(now()))
        .bind(channel_json(&new.channel_answers)?)
        .execute(&self.pool)
        .await
        .map_err(duplicate_question)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("kb entry"));
        }
        self.kb_entry(tenant_id, id).await
    }

    /// Every entry of the tenant's knowledge base, oldest first.
    pub async fn list_kb_entries(&self, tenant_id: TenantId) -> StoreResult<Vec<KbEntry>> {
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS} FROM kb_entries WHERE tenant_id = $1 ORDER BY created_at, id"))
                .bind(tid(tenant_id))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(entry).collect()
    }

    /// One page of the tenant's entries matching `filter`, most recently changed first, and how many match in all.
    pub async fn search_kb_entries(&self, tenant_id: TenantId, filter: &KbFilter) -> StoreResult<(Vec<KbEntry>, i64)> {
        let (clause, params, enabled) = search_clause(filter);
        let count_sql = format!("SELECT COUNT(*) AS n FROM kb_entries WHERE {clause}");
        let n = params.len() + 2 + usize::from(enabled.is_some());
        let page_sql = format!(
            "SELECT {COLUMNS} FROM kb_entries WHERE {clause} ORDER BY updated_at DESC, id DESC LIMIT ${n} OFFSET ${}",
            n + 1
        );
        let mut count = sqlx::query(&count_sql).bind(tid(tenant_id));
        let mut page = sqlx::query(&page_sql).bind(tid(tenant_id));
        for p in &params {
            count = count.bind(p.clone());
            page = page.bind(p.clone());
        }
        if let Some(e) = enabled {
            count = count.bind(e);
            page = page.bind(e);
        }
        let total = int(&count.fetch_one(&self.pool).await?, "n")?;
        let rows = page.bind(filter.limit.max(0)).bind(filter.offset.max(0)).fetch_all(&self.pool).await?;
        Ok((rows.iter().map(entry).collect::<StoreResult<Vec<_>>>()?, total))
    }

    /// Deletes an entry of the tenant.
    pub async fn delete_kb_entry(&self, tenant_id: TenantId, id: EntryId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM kb_entries WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("kb entry"));
        }
        Ok(())
    }

    /// Creates or updates entries by standard question, all in one transaction: either every entry is written or,
    /// on any failure, none. Entries that already hold the same fields are left untouched, so importing the same
    /// file twice changes nothing. Standard questions must be distinct within `entries` (else nothing is written). `progress` is called with
    /// the number of entries handled so far.
    pub async fn upsert_kb_entries(
        &self,
        tenant_id: TenantId,
        entries: &[NewKbEntry],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> StoreResult<KbUpsertCounts> {
        let mut distinct = std::collections::HashSet::with_capacity(entries.len());
        if !entries.iter().all(|e| distinct.insert(e.question.as_str())) {
            return Err(StoreError::AlreadyExists("kb entry with this question (twice in the batch)"));
        }
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query(&format!("SELECT {COLUMNS} FROM kb_entries WHERE tenant_id = $1"))
            .bind(tid(tenant_id))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(entry)
            .collect::<StoreResult<Vec<_>>>()?;
        let by_question: std::collections::HashMap<&str, &KbEntry> =
            existing.iter().map(|e| (e.question.as_str(), e)).collect();
        let mut counts = KbUpsertCounts::default();
        let mut changed: Vec<&NewKbEntry> = Vec::new();
        for new in entries {
            match by_question.get(new.question.as_str()) {
                None => {
                    counts.created += 1;
                    changed.push(new);
                }
                Some(old) if new.same_as(old) => counts.unchanged += 1,
                Some(_) => {
                    counts.updated += 1;
                    changed.push(new);
                }
            }
        }
        progress(counts.unchanged);
        let at = millis(now());
        let mut done = counts.unchanged;
        for chunk in changed.chunks(UPSERT_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 14;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9,
                        b + 10,
                        b + 11,
                        b + 12,
                        b + 12,
                        b + 13,
                        b + 13,
                        b + 14
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO kb_entries ({COLUMNS}) VALUES {} ON CONFLICT (tenant_id, question) DO UPDATE SET \
                 similar_questions = excluded.similar_questions, answer = excluded.answer, \
                 answer_text = excluded.answer_text, category = excluded.category, tags = excluded.tags, \
                 enabled = excluded.enabled, valid_from = excluded.valid_from, valid_until = excluded.valid_until, \
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at, \
                 channel_answers = excluded.channel_answers",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for new in chunk {
                query = query
                    .bind(EntryId::generate().to_string())
                    .bind(tid(tenant_id))
                    .bind(new.question.clone())
                    .bind(to_json(&new.similar_questions)?)
                    .bind(new.answer.clone())
                    .bind(new.plain_answer().to_owned())
                    .bind(new.category.clone())
                    .bind(to_json(&new.tags)?)
                    .bind(i64::from(new.enabled))
                    .bind(new.valid_from.map(millis))
                    .bind(new.valid_until.map(millis))
                    .bind(new.author.map(|u| u.to_string()))
                    .bind(at)
                    .bind(channel_json(&new.channel_answers)?);
            }
            query.execute(&mut *tx).await.map_err(duplicate_question)?;
            done += chunk.len();
            progress(done);
        }
        tx.commit().await?;
        Ok(counts)
    }
}
