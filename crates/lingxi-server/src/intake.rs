//! Multi-shop intake routes (admins): saved sources, shipped mappings with their samples, imports that run in the
//! background with their progress.

use crate::AppState;
use crate::auth::{Can, Client, perm};
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lingxi_intake::{ApplyPolicy, Format};
use lingxi_service::{INTAKE_MAX_BYTES, IntakeUpload};
use lingxi_store::{IntakeRun, IntakeSource};
use lingxi_types::wire::{ItemList, rfc3339};
use lingxi_types::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

/// A saved source on the wire.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IntakeSourceView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The column mapping (see `crates/lingxi-intake`).
    #[schema(value_type = Object)]
    pub mapping: Value,
    /// Whether refunds and negative reviews become tickets.
    pub create_tickets: bool,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<IntakeSource> for IntakeSourceView {
    fn from(s: IntakeSource) -> Self {
        IntakeSourceView {
            id: s.id,
            name: s.name,
            mapping: serde_json::from_str(&s.mapping).unwrap_or(Value::Null),
            create_tickets: s.create_tickets,
            updated_at: rfc3339(s.updated_at),
        }
    }
}

/// A mapping shipped with Lingxi, with a sample export.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ShippedView {
    /// Id (usable as `source` of an import).
    pub id: String,
    /// The mapping.
    #[schema(value_type = Object)]
    pub mapping: Value,
    /// The sample's file name (download at `/api/v1/admin/intake/shipped/{id}/sample`).
    pub sample_name: String,
}

/// An import run on the wire.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IntakeRunView {
    /// Id.
    pub id: String,
    /// The source.
    pub source: String,
    /// The file.
    pub file_name: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// `reading`, `storing`, `tickets` or `finished`.
    pub phase: String,
    /// Progress in the phase.
    pub done: i64,
    /// Of (0 while unknown).
    pub total: i64,
    /// The report once done (`IntakeReport`), or `{"error"}`.
    #[schema(value_type = Object)]
    pub report: Option<Value>,
    /// Who started it.
    pub created_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub finished_at: Option<String>,
}

impl From<IntakeRun> for IntakeRunView {
    fn from(r: IntakeRun) -> Self {
        IntakeRunView {
            id: r.id,
            source: r.source,
            file_name: r.file_name,
            status: r.status,
            phase: r.phase,
            done: r.done,
            total: r.total,
            report: r.report,
            created_by: r.created_by,
            created_at: rfc3339(r.created_at),
            finished_at: r.finished_at.map(rfc3339),
        }
    }
}

/// The tenant's saved sources.
#[utoipa::path(get, path = "/api/v1/admin/intake/sources", tag = "intake",
    responses((status = 200, body = ItemList<IntakeSourceView>), (status = 403, body = ApiError)))]
pub async fn list_sources(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageTickets>,
) -> AppResult<Json<ItemList<IntakeSourceView>>> {
    let items = state.services.intake_sources(admin.who.tenant.id).await?;
    Ok(Json(ItemList { items: items.into_iter().map(Into::into).collect() }))
}

/// A source to save.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// Unique name.
    pub name: String,
    /// The column mapping.
    #[schema(value_type = Object)]
    pub mapping: Value,
    /// Whether refunds and negative reviews become tickets (default true).
    #[serde(default = "yes")]
    pub create_tickets: bool,
}

fn yes() -> bool {
    true
}

/// Saves a new source; its mapping is checked.
#[utoipa::path(post, path = "/api/v1/admin/intake/sources", tag = "intake", request_body = SourceInput,
    responses((status = 201, body = IntakeSourceView), (status = 400, body = ApiError), (status = 409, body = ApiError)))]
pub async fn create_source(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageTickets>,
    Json(b): Json<SourceInput>,
) -> AppResult<Response> {
    let s = state
        .services
        .save_intake_source(admin.who.tenant.id, None, &b.name, &b.mapping.to_string(), b.create_tickets)
        .await?;
    Ok((StatusCode::CREATED, Json(IntakeSourceView::from(s))).into_response())
}

/// Replaces a source.
#[utoipa::path(put, path = "/api/v1/admin/intake/sources/{id}", tag = "intake", request_body = SourceInput,
    params(("id" = String, Path, description = "Source id")),
    responses((status = 200, body = IntakeSourceView), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn update_source(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageTickets>,
    Path(id): Path<String>,
    Json(b): Json<SourceInput>,
) -> AppResult<Json<IntakeSourceView>> {
    let s = state
        .services
        .save_intake_source(admin.who.tenant.id, Some(&id), &b.name, &b.mapping.to_string(), b.create_tickets)
        .await?;
    Ok(Json(s.into()))
}

/// Deletes a source (its records and runs stay).
#[utoipa::path(delete, path = "/api/v1/admin/intake/sources/{id}", tag = "intake",
    params(("id" = String, Path, description = "Source id")),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn delete_source(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageTickets>,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    state.services.delete_intake_source(admin.who.tenant.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The mappings shipped with Lingxi.
#[utoipa::path(get, path = "/api/v1/admin/intake/shipped", tag = "intake",
    responses((status = 200, body = ItemList<ShippedView>), (status = 403, body = ApiError)))]
pub async fn shipped(Can(_admin, _): Can<perm::ManageTickets>) -> Json<ItemList<ShippedView>> {
    Json(ItemList {
        items: lingxi_intake::SHIPPED
            .iter()
            .map(|s| ShippedView {
                id: s.id.to_owned(),
                mapping: serde_json::from_str(s.mapping_json).unwrap_or(Value::Null),
                sample_name: s.sample_name.to_owned(),
            })
            .collect(),
    })
}

/// A shipped mapping's sample export.
#[utoipa::path(get, path = "/api/v1/admin/intake/shipped/{id}/sample", tag = "intake",
    params(("id" = String, Path, description = "Shipped mapping id")),
    responses((status = 200, description = "The sample file"), (status = 404, body = ApiError)))]
pub async fn shipped_sample(Can(_admin, _): Can<perm::ManageTickets>, Path(id): Path<String>) -> AppResult<Response> {
    let s = lingxi_intake::shipped(&id).ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such shipped mapping"))?;
    let kind = if s.sample_name.ends_with(".json") { "application/json" } else { "text/csv; charset=utf-8" };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", s.sample_name)),
        ],
        s.sample,
    )
        .into_response())
}

/// `POST /api/v1/admin/intake/import` query.
#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// A saved source (name or id) or a shipped mapping id (`tmall-refunds`).
    pub source: String,
    /// `csv`, `xlsx` or `json` (default: from `file_name`, else csv).
    pub format: Option<String>,
    /// `all_or_nothing` (default) or `valid_rows`.
    pub mode: Option<String>,
    /// The file's name, for the run's record.
    pub file_name: Option<String>,
}

/// Starts an import of an export (raw body, at most 64 MiB) and answers at once with the run (202); follow its
/// progress at `/api/v1/admin/intake/runs/{id}`.
#[utoipa::path(post, path = "/api/v1/admin/intake/import", tag = "intake", params(ImportQuery),
    request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 202, body = IntakeRunView), (status = 400, body = ApiError), (status = 404, body = ApiError),
              (status = 413, body = ApiError)))]
pub async fn import(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageTickets>,
    Query(q): Query<ImportQuery>,
    req: Request,
) -> AppResult<Response> {
    let file_name = q.file_name.clone().unwrap_or_else(|| format!("upload.{}", q.format.as_deref().unwrap_or("csv")));
    if file_name.chars().count() > 200 {
        return Err(AppError::new(ErrorCode::InvalidField, "file_name is longer than 200 characters"));
    }
    let format = match q.format.as_deref() {
        Some(f) => Format::parse(f)
            .ok_or_else(|| AppError::new(ErrorCode::InvalidField, "format must be csv, xlsx or json"))?,
        None => file_name.rsplit('.').next().and_then(Format::parse).unwrap_or(Format::Csv),
    };
    let policy = match q.mode.as_deref() {
        None | Some("all_or_nothing") => ApplyPolicy::AllOrNothing,
        Some("valid_rows") => ApplyPolicy::ValidRows,
        Some(_) => return Err(AppError::new(ErrorCode::InvalidField, "mode must be all_or_nothing or valid_rows")),
    };
    let who = &admin.who;
    let plan = state.services.intake_plan(who.tenant.id, &q.source).await?;
    let bytes = axum::body::to_bytes(req.into_body(), INTAKE_MAX_BYTES).await.map_err(|_| {
        AppError::new(ErrorCode::PayloadTooLarge, format!("an export may have at most {INTAKE_MAX_BYTES} bytes"))
    })?;
    if bytes.is_empty() {
        return Err(AppError::new(ErrorCode::BadRequest, "the body is empty: send the export file"));
    }
    let summary = json!({"source": plan.source, "file": file_name, "bytes": bytes.len()});
    let run = state
        .services
        .start_intake(
            who.tenant.id,
            Some(&who.user),
            plan,
            IntakeUpload { file_name: file_name.clone(), format, bytes: bytes.to_vec(), policy },
        )
        .await?;
    state.services.audit(who, &client, "intake.import", None, summary).await?;
    Ok((StatusCode::ACCEPTED, Json(IntakeRunView::from(run))).into_response())
}

/// The newest import runs.
#[utoipa::path(get, path = "/api/v1/admin/intake/runs", tag = "intake",
    responses((status = 200, body = ItemList<IntakeRunView>), (status = 403, body = ApiError)))]
pub async fn runs(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageTickets>,
) -> AppResult<Json<ItemList<IntakeRunView>>> {
    let items = state.services.store.intake_runs(admin.who.tenant.id, 50).await?;
    Ok(Json(ItemList { items: items.into_iter().map(Into::into).collect() }))
}

/// One import run, with its progress or report.
#[utoipa::path(get, path = "/api/v1/admin/intake/runs/{id}", tag = "intake",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = IntakeRunView), (status = 404, body = ApiError)))]
pub async fn run(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageTickets>,
    Path(id): Path<String>,
) -> AppResult<Json<IntakeRunView>> {
    Ok(Json(state.services.store.intake_run(admin.who.tenant.id, &id).await?.into()))
}
