//! The knowledge base over HTTP: entries (list with search, filters and paging; get; create; update; delete),
//! import and export as CSV or Excel, the template, and "test the bot". Reading needs any signed-in member of the
//! tenant; changing needs the admin or owner role.

use crate::AppState;
use crate::auth::{Agent, Can, Client, perm};
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lingxi_kb::{EntryInput, TableFormat, parse_time};
use lingxi_service::{BotTest, ImportMode, ImportReport};
use lingxi_store::KbFilter;
use lingxi_types::wire::{KbEntryPage, KbEntryView};
use lingxi_types::{ApiError, EntryId, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// The largest import file accepted.
pub const IMPORT_MAX_BYTES: usize = 20 * 1024 * 1024;
/// The largest page of entries.
pub const MAX_PAGE: i64 = 200;

/// `GET /api/v1/kb/entries` query.
#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Words to find in the standard question, the similar questions or the answer (case-insensitive).
    pub q: Option<String>,
    /// A category path; its sub-categories are included.
    pub category: Option<String>,
    /// Only entries with this tag.
    pub tag: Option<String>,
    /// Only enabled (`true`) or disabled (`false`) entries.
    pub enabled: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// Entries to skip (default 0).
    pub offset: Option<i64>,
}

/// The tenant's entries matching the search and filters, most recently changed first, one page at a time.
#[utoipa::path(get, path = "/api/v1/kb/entries", tag = "knowledge base", params(ListQuery),
    responses((status = 200, body = KbEntryPage), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn list_entries(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<KbEntryPage>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::new(ErrorCode::InvalidField, format!("limit must be 1 to {MAX_PAGE}")));
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(AppError::new(ErrorCode::InvalidField, "offset must not be negative"));
    }
    if [&query.q, &query.category, &query.tag].iter().any(|v| v.as_ref().is_some_and(|s| s.chars().count() > 200)) {
        return Err(AppError::new(ErrorCode::InvalidField, "search texts are at most 200 characters"));
    }
    let filter =
        KbFilter { q: query.q, category: query.category, tag: query.tag, enabled: query.enabled, limit, offset };
    let (entries, total) = state.services.store.search_kb_entries(agent.who.tenant.id, &filter).await?;
    let now = Utc::now();
    Ok(Json(KbEntryPage { items: entries.iter().map(|e| KbEntryView::at(e, now)).collect(), total, limit, offset }))
}

fn entry_id(id: &str) -> AppResult<EntryId> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "kb entry not found"))
}

/// One entry.
#[utoipa::path(get, path = "/api/v1/kb/entries/{id}", tag = "knowledge base",
    params(("id" = String, Path, description = "Entry id")),
    responses((status = 200, body = KbEntryView), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_entry(
    State(state): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
) -> AppResult<Json<KbEntryView>> {
    let entry = state.services.store.kb_entry(agent.who.tenant.id, entry_id(&id)?).await?;
    Ok(Json(KbEntryView::at(&entry, Utc::now())))
}

fn yes() -> bool {
    true
}

/// An entry as sent to `POST /api/v1/kb/entries` and `PUT /api/v1/kb/entries/{id}`.
#[derive(Deserialize, ToSchema)]
pub struct EntryBody {
    /// Standard question (1 to 500 characters, unique in the tenant).
    pub question: String,
    /// Similar questions (at most 200).
    #[serde(default)]
    pub similar_questions: Vec<String>,
    /// Answer: plain text or rich text (HTML, sanitised with an allow-list; see docs/knowledge-base.md).
    pub answer: String,
    /// Answers for particular channels (`web`, `api`), rich text like `answer`; a channel left out (or empty)
    /// uses `answer`.
    #[serde(default)]
    pub channel_answers: std::collections::BTreeMap<String, String>,
    /// Category path, `/`-separated (`售后/退货`).
    #[serde(default)]
    pub category: String,
    /// Tags (at most 20).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether the bot uses it (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// RFC 3339 (or `YYYY-MM-DD[ HH:MM]`, UTC): the bot uses the entry from then on.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// RFC 3339 (or `YYYY-MM-DD[ HH:MM]`, UTC; a date alone means the end of that day): the bot stops then.
    #[serde(default)]
    pub valid_until: Option<String>,
}

fn time_field(value: Option<&str>, end_of_day: bool, field: &str) -> AppResult<Option<chrono::DateTime<Utc>>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_time(v, end_of_day)
            .map(Some)
            .ok_or_else(|| AppError::new(ErrorCode::InvalidField, format!("{field} is not an RFC 3339 time"))),
    }
}

impl EntryBody {
    fn input(self) -> AppResult<EntryInput> {
        Ok(EntryInput {
            valid_from: time_field(self.valid_from.as_deref(), false, "valid_from")?,
            valid_until: time_field(self.valid_until.as_deref(), true, "valid_until")?,
            question: self.question,
            similar_questions: self.similar_questions,
            answer: self.answer,
            channel_answers: self.channel_answers,
            category: self.category,
            tags: self.tags,
            enabled: self.enabled,
        })
    }
}

/// Adds an entry; the bot learns it in the background within a second or so.
#[utoipa::path(post, path = "/api/v1/kb/entries", tag = "knowledge base", request_body = EntryBody,
    responses((status = 201, body = KbEntryView), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 409, body = ApiError)))]
pub async fn create_entry(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageKb>,
    Json(body): Json<EntryBody>,
) -> AppResult<Response> {
    let who = &admin.who;
    let entry = state.services.create_kb_entry(who.tenant.id, who.user.id, body.input()?).await?;
    let detail = json!({"question": entry.question});
    state.services.audit(who, &client, "kb.create", Some(entry.id.to_string()), detail).await?;
    Ok((StatusCode::CREATED, Json(KbEntryView::at(&entry, Utc::now()))).into_response())
}

/// Replaces an entry's fields (all of them, as for a new entry); the bot learns the change in the background.
#[utoipa::path(put, path = "/api/v1/kb/entries/{id}", tag = "knowledge base", request_body = EntryBody,
    params(("id" = String, Path, description = "Entry id")),
    responses((status = 200, body = KbEntryView), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn update_entry(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageKb>,
    Path(id): Path<String>,
    Json(body): Json<EntryBody>,
) -> AppResult<Json<KbEntryView>> {
    let who = &admin.who;
    let entry = state.services.update_kb_entry(who.tenant.id, entry_id(&id)?, who.user.id, body.input()?).await?;
    let detail = json!({"question": entry.question});
    state.services.audit(who, &client, "kb.update", Some(entry.id.to_string()), detail).await?;
    Ok(Json(KbEntryView::at(&entry, Utc::now())))
}

/// Deletes an entry; the bot forgets it in the background.
#[utoipa::path(delete, path = "/api/v1/kb/entries/{id}", tag = "knowledge base",
    params(("id" = String, Path, description = "Entry id")),
    responses((status = 204), (status = 404, body = ApiError), (status = 403, body = ApiError)))]
pub async fn delete_entry(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageKb>,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    state.services.delete_kb_entry(admin.who.tenant.id, entry_id(&id)?).await?;
    state.services.audit(&admin.who, &client, "kb.delete", Some(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/kb/import` query.
#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// `csv` or `xlsx`; defaults to the uploaded file's extension or the body's `Content-Type`.
    pub format: Option<String>,
    /// `all_or_nothing` (default: any invalid row, nothing is imported) or `skip_invalid`.
    pub mode: Option<String>,
}

/// One invalid row of an import.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RowErrorView {
    /// Row number as the spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The column at fault.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// What an import did.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ImportReportView {
    /// `all_or_nothing` or `skip_invalid`.
    pub mode: String,
    /// Non-blank data rows in the file.
    pub total_rows: usize,
    /// Whether the valid rows were written (false when all-or-nothing met an invalid row: nothing was).
    pub applied: bool,
    /// New entries.
    pub created: usize,
    /// Existing entries (same standard question) that changed.
    pub updated: usize,
    /// Existing entries already identical to their row.
    pub unchanged: usize,
    /// Rows not imported.
    pub skipped: usize,
    /// The invalid rows.
    pub errors: Vec<RowErrorView>,
}

impl ImportReportView {
    fn new(mode: ImportMode, r: ImportReport) -> Self {
        ImportReportView {
            mode: match mode {
                ImportMode::AllOrNothing => "all_or_nothing",
                ImportMode::SkipInvalid => "skip_invalid",
            }
            .into(),
            total_rows: r.total_rows,
            applied: r.applied,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            skipped: r.skipped,
            errors: r
                .errors
                .into_iter()
                .map(|e| RowErrorView { row: e.row, column: e.column, message: e.message })
                .collect(),
        }
    }
}

fn import_mode(mode: Option<&str>) -> AppResult<ImportMode> {
    match mode.map(str::trim) {
        None | Some("") | Some("all_or_nothing") => Ok(ImportMode::AllOrNothing),
        Some("skip_invalid") => Ok(ImportMode::SkipInvalid),
        Some(_) => Err(AppError::new(ErrorCode::InvalidField, "mode must be all_or_nothing or skip_invalid")),
    }
}

fn too_large() -> AppError {
    AppError::new(ErrorCode::PayloadTooLarge, "the file is larger than 20 MiB")
}

/// The uploaded file: its bytes, and its format and mode when the multipart form names them.
async fn upload(state: &AppState, req: Request) -> AppResult<(Vec<u8>, Option<TableFormat>, Option<String>)> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|e| AppError::new(ErrorCode::BadRequest, e.body_text()))?;
        let (mut file, mut format, mut mode) = (None, None, None);
        while let Some(field) = form.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                AppError::new(ErrorCode::BadRequest, e.body_text())
            }
        })? {
            match field.name() {
                Some("file") => {
                    format = field.file_name().and_then(TableFormat::from_file_name);
                    let bytes = field.bytes().await.map_err(|e| {
                        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                            too_large()
                        } else {
                            AppError::new(ErrorCode::BadRequest, e.body_text())
                        }
                    })?;
                    file = Some(bytes.to_vec());
                }
                Some("mode") => mode = field.text().await.ok(),
                _ => {}
            }
        }
        let file = file.ok_or_else(|| AppError::new(ErrorCode::BadRequest, "the form has no \"file\" field"))?;
        return Ok((file, format, mode));
    }
    let format = if content_type.starts_with("text/csv") {
        Some(TableFormat::Csv)
    } else if content_type.starts_with(TableFormat::Xlsx.content_type()) {
        Some(TableFormat::Xlsx)
    } else {
        None
    };
    let bytes = axum::body::to_bytes(req.into_body(), IMPORT_MAX_BYTES).await.map_err(|_| too_large())?;
    Ok((bytes.to_vec(), format, None))
}

/// Imports a CSV or Excel file in the template's shape (docs/knowledge-base.md), upserting by standard question in
/// one transaction. The body is either the raw file (with `?format=` or a `Content-Type` of `text/csv` or the xlsx
/// type) or a `multipart/form-data` form with a `file` field (and optionally `mode`). Up to 20 MiB. Invalid rows are
/// reported with their row numbers; by default any invalid row means nothing is imported (`applied: false`).
#[utoipa::path(post, path = "/api/v1/kb/import", tag = "knowledge base", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The file (or a multipart form with a `file` field)"),
    responses((status = 200, body = ImportReportView), (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 413, body = ApiError)))]
pub async fn import(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageKb>,
    Query(query): Query<ImportQuery>,
    req: Request,
) -> AppResult<Json<ImportReportView>> {
    let (bytes, uploaded_format, form_mode) = upload(&state, req).await?;
    let format = match query.format.as_deref() {
        Some(f) => Some(
            TableFormat::parse(f)
                .ok_or_else(|| AppError::new(ErrorCode::InvalidField, "format must be csv or xlsx"))?,
        ),
        None => uploaded_format,
    }
    .ok_or_else(|| AppError::new(ErrorCode::BadRequest, "give ?format=csv or ?format=xlsx"))?;
    let mode = import_mode(query.mode.as_deref().or(form_mode.as_deref()))?;
    let who = &admin.who;
    let report =
        state.services.import_kb(who.tenant.id, Some(who.user.id), format, bytes, mode, &mut |_, _| {}).await?;
    let view = ImportReportView::new(mode, report);
    let summary = json!({"format": format.extension(), "mode": view.mode, "applied": view.applied,
        "rows": view.total_rows, "created": view.created, "updated": view.updated, "invalid": view.errors.len()});
    state.services.audit(who, &client, "kb.import", None, summary).await?;
    Ok(Json(view))
}

/// `?format=csv|xlsx` of the export and the template.
#[derive(Deserialize, IntoParams)]
pub struct FormatQuery {
    /// `csv` (default) or `xlsx`.
    pub format: Option<String>,
}

fn format(query: &FormatQuery) -> AppResult<TableFormat> {
    match query.format.as_deref() {
        None => Ok(TableFormat::Csv),
        Some(f) => {
            TableFormat::parse(f).ok_or_else(|| AppError::new(ErrorCode::InvalidField, "format must be csv or xlsx"))
        }
    }
}

fn download(format: TableFormat, name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}.{}\"", format.extension());
    ([(header::CONTENT_TYPE, format.content_type().to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

/// The whole knowledge base as a file in the import template's shape (with an `id` column).
#[utoipa::path(get, path = "/api/v1/kb/export", tag = "knowledge base", params(FormatQuery),
    responses((status = 200, description = "The CSV or xlsx file", content_type = "application/octet-stream"),
        (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn export(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    agent: Agent,
    Query(query): Query<FormatQuery>,
) -> AppResult<Response> {
    let format = format(&query)?;
    let t = &agent.who.tenant;
    let bytes = state.services.export_kb(t.id, format).await?;
    state.services.audit(&agent.who, &client, "kb.export", None, json!({"format": format.extension()})).await?;
    Ok(download(format, &format!("kb-{}-{}", t.slug, Utc::now().format("%Y%m%d")), bytes))
}

/// The import template with two example rows.
#[utoipa::path(get, path = "/api/v1/kb/template", tag = "knowledge base", params(FormatQuery),
    responses((status = 200, description = "The CSV or xlsx template", content_type = "application/octet-stream"),
        (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn template(_agent: Agent, Query(query): Query<FormatQuery>) -> AppResult<Response> {
    let format = format(&query)?;
    let bytes = lingxi_kb::template(format).map_err(|e| {
        tracing::error!(error = %e, "writing the template failed");
        AppError::new(ErrorCode::Internal, "internal error")
    })?;
    Ok(download(format, "kb-template", bytes))
}

/// `POST /api/v1/kb/test` body.
#[derive(Deserialize, ToSchema)]
pub struct TestBody {
    /// A question as a visitor would type it.
    pub text: String,
}

/// A candidate entry and its calibrated confidence.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CandidateView {
    /// The entry.
    pub entry_id: EntryId,
    /// Its standard question.
    pub question: String,
    /// Calibrated probability that it is the right entry, 0 to 1.
    pub confidence: f32,
}

/// What the bot would do.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct BotTestView {
    /// `answer`, `suggest`, `admit`, `chitchat` or `handoff`.
    pub outcome: String,
    /// The reply the visitor would see (empty for a handoff).
    pub reply: String,
    /// The entry answered from.
    pub entry_id: Option<EntryId>,
    /// The best candidates, best first (at most five).
    pub candidates: Vec<CandidateView>,
    /// How many entries the model in use answers from.
    pub live_entries: usize,
    /// Whether a newer model is being trained (this result comes from the previous one).
    pub retraining: bool,
}

impl From<BotTest> for BotTestView {
    fn from(t: BotTest) -> Self {
        BotTestView {
            outcome: t.outcome.into(),
            reply: t.reply,
            entry_id: t.entry_id,
            candidates: t
                .candidates
                .into_iter()
                .map(|c| CandidateView { entry_id: c.entry_id, question: c.question, confidence: c.confidence })
                .collect(),
            live_entries: t.live_entries,
            retraining: t.retraining,
        }
    }
}

/// "Test the bot": what it would answer to a question now, with its best candidates and their calibrated scores.
/// Nothing is stored and no conversation is involved.
#[utoipa::path(post, path = "/api/v1/kb/test", tag = "knowledge base", request_body = TestBody,
    responses((status = 200, body = BotTestView), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn test(
    State(state): State<AppState>,
    agent: Agent,
    Json(body): Json<TestBody>,
) -> AppResult<Json<BotTestView>> {
    Ok(Json(state.services.test_bot(agent.who.tenant.id, &body.text).await?.into()))
}
