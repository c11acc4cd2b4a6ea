//! Administration: users and the tenant's settings (the knowledge base is in `kb`).

use crate::AppState;
use crate::auth::{Can, Client, may_grant, perm};
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lingxi_service::{hash_password, validate_new_password};
use lingxi_types::wire::{ItemList, UserView};
use lingxi_types::{ApiError, ApiTokenId, CustomRole, CustomRoleId, ErrorCode, Permission, Permissions, Role, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A user as administrators see it: the user and whether their login is locked.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AdminUserView {
    /// The user.
    #[serde(flatten)]
    pub user: UserView,
    /// RFC 3339: the login is locked until then after repeated failures (`null` when not locked).
    pub locked_until: Option<String>,
}

/// The users of the tenant, with their lock state.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    responses((status = 200, body = ItemList<AdminUserView>), (status = 403, body = ApiError)))]
pub async fn list_users(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageUsers>,
) -> AppResult<Json<ItemList<AdminUserView>>> {
    let t = &admin.who.tenant;
    let users = state.services.store.list_users(t.id).await?;
    let locks: std::collections::HashMap<UserId, chrono::DateTime<chrono::Utc>> =
        state.services.store.locked_users(t.id, chrono::Utc::now()).await?.into_iter().collect();
    let items = users
        .iter()
        .map(|u| AdminUserView {
            user: UserView::new(u, t),
            locked_until: locks.get(&u.id).map(|at| lingxi_types::wire::rfc3339(*at)),
        })
        .collect();
    Ok(Json(ItemList { items }))
}

/// `PUT /api/v1/admin/users/{id}/role` body.
#[derive(Deserialize, ToSchema)]
pub struct RoleChange {
    /// The new built-in role (`agent` when a custom role is given).
    pub role: Role,
    /// A custom role of the tenant whose permissions replace the built-in role's.
    #[serde(default)]
    pub custom_role: Option<CustomRoleId>,
}

/// Changes a user's role, built-in or custom (effective at their next request). Only an owner grants or takes away
/// the owner role; nobody grants permissions they lack, changes someone who holds more than they do, or changes
/// their own role. Audited with the roles before and after.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/role", tag = "admin", request_body = RoleChange,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn set_role(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageUsers>,
    Path(id): Path<String>,
    Json(body): Json<RoleChange>,
) -> AppResult<Json<UserView>> {
    let id: UserId = id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "user not found"))?;
    let user = state.services.set_user_access(&admin.who, &client, id, body.role, body.custom_role).await?;
    Ok(Json(UserView::new(&user, &admin.who.tenant)))
}

/// One permission, with its labels.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PermissionInfo {
    /// Its name.
    pub name: Permission,
    /// Chinese label.
    pub label_zh: String,
    /// English label.
    pub label_en: String,
}

/// A built-in role and what it may do.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct BuiltInRole {
    /// The role.
    pub role: Role,
    /// Its permissions.
    pub permissions: Permissions,
}

/// The roles of the tenant: every permission, the built-in roles and the custom roles.
#[derive(Serialize, ToSchema)]
pub struct RolesView {
    /// Every permission, in order.
    pub permissions: Vec<PermissionInfo>,
    /// The built-in roles.
    pub built_in: Vec<BuiltInRole>,
    /// The tenant's custom roles.
    pub custom: Vec<CustomRole>,
}

/// The permissions, the built-in roles and the tenant's custom roles.
#[utoipa::path(get, path = "/api/v1/admin/roles", tag = "admin",
    responses((status = 200, body = RolesView), (status = 403, body = ApiError)))]
pub async fn roles(State(state): State<AppState>, Can(admin, _): Can<perm::ManageUsers>) -> AppResult<Json<RolesView>> {
    let custom = state.services.custom_roles(&admin.who).await?;
    Ok(Json(RolesView {
        permissions: Permission::ALL
            .iter()
            .map(|p| PermissionInfo { name: *p, label_zh: p.label().0.into(), label_en: p.label().1.into() })
            .collect(),
        built_in: Role::ALL.iter().map(|r| BuiltInRole { role: *r, permissions: r.permissions() }).collect(),
        custom,
    }))
}

/// A custom role to save.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// Its name (1 to 80 characters, unique in the tenant, not a built-in role's).
    pub name: String,
    /// What it is for (up to 500 characters).
    #[serde(default)]
    pub description: String,
    /// Its permissions (the workspace permission is always added); only ones the caller holds.
    pub permissions: Permissions,
}

/// Creates a custom role. Audited.
#[utoipa::path(post, path = "/api/v1/admin/roles", tag = "admin", request_body = RoleInput,
    responses((status = 201, body = CustomRole), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn create_role(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageUsers>,
    Json(body): Json<RoleInput>,
) -> AppResult<Response> {
    let role = state
        .services
        .save_custom_role(&admin.who, &client, None, &body.name, &body.description, body.permissions)
        .await?;
    Ok((StatusCode::CREATED, Json(role)).into_response())
}

fn role_id(id: &str) -> Result<CustomRoleId, AppError> {
    id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "role not found"))
}

/// Changes a custom role; its users have the new permissions at their next request. Audited.
#[utoipa::path(put, path = "/api/v1/admin/roles/{id}", tag = "admin", request_body = RoleInput,
    params(("id" = String, Path, description = "Custom role id")),
    responses((status = 200, body = CustomRole), (status = 400, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn update_role(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageUsers>,
    Path(id): Path<String>,
    Json(body): Json<RoleInput>,
) -> AppResult<Json<CustomRole>> {
    let id = role_id(&id)?;
    let role = state
        .services
        .save_custom_role(&admin.who, &client, Some(id), &body.name, &body.description, body.permissions)
        .await?;
    Ok(Json(role))
}

/// Deletes a custom role nobody holds (409 while someone does). Audited.
#[utoipa::path(delete, path = "/api/v1/admin/roles/{id}", tag = "admin",
    params(("id" = String, Path, description = "Custom role id")),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn delete_role(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageUsers>,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    state.services.delete_custom_role(&admin.who, &client, role_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API token as listed (never the token).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ApiTokenView {
    /// Id.
    pub id: ApiTokenId,
    /// What it is for.
    pub name: String,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// What it may do (narrowed at each use to what its creator may do then).
    pub permissions: Permissions,
    /// The user it acts as.
    pub user_id: UserId,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; `null`: never expires.
    pub expires_at: Option<String>,
    /// RFC 3339; to the minute.
    pub last_used_at: Option<String>,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
}

impl From<lingxi_store::ApiTokenRecord> for ApiTokenView {
    fn from(r: lingxi_store::ApiTokenRecord) -> Self {
        use lingxi_types::wire::rfc3339;
        Self {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            permissions: r.permissions,
            user_id: r.user_id,
            created_at: rfc3339(r.created_at),
            expires_at: r.expires_at.map(rfc3339),
            last_used_at: r.last_used_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
        }
    }
}

/// The tenant's API tokens, newest first, revoked ones included.
#[utoipa::path(get, path = "/api/v1/admin/api-tokens", tag = "admin",
    responses((status = 200, body = ItemList<ApiTokenView>), (status = 403, body = ApiError)))]
pub async fn api_tokens(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageApiTokens>,
) -> AppResult<Json<ItemList<ApiTokenView>>> {
    let items = state.services.api_tokens(&admin.who).await?.into_iter().map(Into::into).collect();
    Ok(Json(ItemList { items }))
}

/// `POST /api/v1/admin/api-tokens` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenInput {
    /// What it is for (1 to 80 characters).
    pub name: String,
    /// What it may do: only permissions the caller holds.
    pub permissions: Permissions,
    /// Days until it stops working (1 to 3650); absent: never.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// A new API token: the token is shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token, for `Authorization: Bearer`; only its hash is kept.
    pub token: String,
    /// The token as listed.
    pub item: ApiTokenView,
}

/// Creates an API token acting as the caller within the given permissions. Audited.
#[utoipa::path(post, path = "/api/v1/admin/api-tokens", tag = "admin", request_body = NewTokenInput,
    responses((status = 201, body = CreatedToken), (status = 400, body = ApiError), (status = 403, body = ApiError)))]
pub async fn create_api_token(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageApiTokens>,
    Json(body): Json<NewTokenInput>,
) -> AppResult<Response> {
    let (token, record) = state
        .services
        .create_api_token(&admin.who, &client, &body.name, body.permissions, body.expires_in_days)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, item: record.into() })).into_response())
}

/// Revokes an API token at once. Audited.
#[utoipa::path(delete, path = "/api/v1/admin/api-tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "API token id")),
    responses((status = 200, body = ApiTokenView), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageApiTokens>,
    Path(id): Path<String>,
) -> AppResult<Json<ApiTokenView>> {
    let id: ApiTokenId = id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "api token not found"))?;
    Ok(Json(state.services.revoke_api_token(&admin.who, &client, id).await?.into()))
}

/// `POST /api/v1/admin/users` body.
#[derive(Deserialize, ToSchema)]
pub struct CreateUser {
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Initial password (at least 8 characters).
    pub password: String,
    /// Role.
    pub role: Role,
}

/// Checks an e-mail's shape: one `@`, something on both sides, no spaces.
pub fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if !a.is_empty() && b.contains('.') && !email.contains(char::is_whitespace))
        && email.len() <= 254
}

/// Adds a user to the tenant.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
pub async fn create_user(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageUsers>,
    Json(body): Json<CreateUser>,
) -> AppResult<Response> {
    let email = body.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(AppError::new(ErrorCode::InvalidField, "email is not a valid e-mail address"));
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::new(ErrorCode::InvalidField, "name must be 1 to 100 characters"));
    }
    validate_new_password(&body.password, &email).map_err(|m| AppError::new(ErrorCode::InvalidField, m))?;
    if !may_grant(admin.who.user.role, body.role) || !body.role.permissions().is_subset(admin.who.permissions) {
        return Err(AppError::new(ErrorCode::Forbidden, "you cannot grant that role"));
    }
    let password = body.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| AppError::new(ErrorCode::Internal, "internal error"))?;
    let t = &admin.who.tenant;
    let user = state.services.store.create_user(t.id, &email, name, body.role, &hash).await?;
    let detail = serde_json::json!({"email": user.email, "role": user.role});
    state.services.audit(&admin.who, &client, "user.create", Some(user.id.to_string()), detail).await?;
    Ok((StatusCode::CREATED, Json(UserView::new(&user, t))).into_response())
}

/// Lifts a user's login lock.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, body = ApiError), (status = 403, body = ApiError)))]
pub async fn unlock_user(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageUsers>,
    Path(id): Path<String>,
) -> AppResult<Json<UserView>> {
    let id: UserId = id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "user not found"))?;
    let user = state.services.unlock_user(&admin.who, &client, id).await?;
    Ok(Json(UserView::new(&user, &admin.who.tenant)))
}

/// A password-reset link, shown once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IssuedReset {
    /// The one-time token (`lxr_…`).
    pub token: String,
    /// The link to give the user: the agent sign-in page with the token in its fragment (never sent to servers).
    pub path: String,
    /// When it stops working (RFC 3339; 24 hours).
    pub expires_at: String,
}

/// Issues a one-time password-reset link for a user who forgot their password (not oneself, not a user holding
/// permissions the caller lacks; owners only by owners). An earlier unused link of the user stops working.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/password-reset", tag = "admin",
    params(("id" = String, Path, description = "User id")),
    responses((status = 201, body = IssuedReset), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn issue_password_reset(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageUsers>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: UserId = id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "user not found"))?;
    let (token, expires_at) = state.services.issue_password_reset(&admin.who, &client, id).await?;
    let body = IssuedReset {
        path: format!("/agent#reset={token}"),
        token,
        expires_at: lingxi_types::wire::rfc3339(expires_at),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/admin/audit` query.
#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// At most this many (default 200, max 1000).
    pub limit: Option<i64>,
}

/// One audited action.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// Id.
    pub id: String,
    /// Acting user.
    pub actor_user: Option<String>,
    /// Acting address.
    pub actor_ip: Option<String>,
    /// What, e.g. `login.failure`.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
    /// RFC 3339.
    pub created_at: String,
}

impl From<lingxi_store::AuditRecord> for AuditView {
    fn from(r: lingxi_store::AuditRecord) -> Self {
        Self {
            id: r.id,
            actor_user: r.actor_user.map(|u| u.to_string()),
            actor_ip: r.actor_ip,
            action: r.action,
            target: r.target,
            detail: r.detail,
            created_at: lingxi_types::wire::rfc3339(r.created_at),
        }
    }
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = ItemList<AuditView>), (status = 403, body = ApiError)))]
pub async fn audit_log(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ViewAudit>,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<ItemList<AuditView>>> {
    let rows = state.services.store.audit_log(admin.who.tenant.id, q.limit.unwrap_or(200)).await?;
    Ok(Json(ItemList { items: rows.into_iter().map(AuditView::from).collect() }))
}

/// The tenant's settings.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    /// Id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// The widget key to embed.
    pub widget_key: String,
}

/// The tenant's settings, with the widget key.
#[utoipa::path(get, path = "/api/v1/admin/tenant", tag = "admin",
    responses((status = 200, body = TenantView), (status = 403, body = ApiError)))]
pub async fn tenant(Can(admin, _): Can<perm::ManageSettings>) -> Json<TenantView> {
    let t = &admin.who.tenant;
    Json(TenantView {
        id: t.id.to_string(),
        slug: t.slug.clone(),
        name: t.name.clone(),
        widget_key: t.widget_key.clone(),
    })
}

/// The tenant's security settings.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SecurityView {
    /// Days audit entries are kept (30 to 3650); older ones are deleted hourly, and each purge is audited.
    pub audit_retention_days: i64,
    /// Origins allowed to embed the chat widget; empty: any site.
    pub widget_origins: Vec<String>,
}

impl From<lingxi_store::SecuritySettings> for SecurityView {
    fn from(s: lingxi_store::SecuritySettings) -> Self {
        Self { audit_retention_days: s.audit_retention_days, widget_origins: s.widget_origins }
    }
}

/// The tenant's security settings: audit retention and the origins allowed to embed the widget.
#[utoipa::path(get, path = "/api/v1/admin/security", tag = "admin",
    responses((status = 200, body = SecurityView), (status = 403, body = ApiError)))]
pub async fn security(
    State(state): State<AppState>,
    Can(admin, _): Can<perm::ManageSettings>,
) -> AppResult<Json<SecurityView>> {
    Ok(Json(state.services.security_settings(&admin.who).await?.into()))
}

/// Changes the tenant's security settings. Audited with before and after.
#[utoipa::path(put, path = "/api/v1/admin/security", tag = "admin", request_body = lingxi_service::SecurityInput,
    responses((status = 200, body = SecurityView), (status = 400, body = ApiError), (status = 403, body = ApiError)))]
pub async fn save_security(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ManageSettings>,
    Json(body): Json<lingxi_service::SecurityInput>,
) -> AppResult<Json<SecurityView>> {
    Ok(Json(state.services.save_security_settings(&admin.who, &client, &body).await?.into()))
}

/// `GET /api/v1/admin/audit/export` query.
#[derive(Deserialize, IntoParams)]
pub struct AuditExportQuery {
    /// From (RFC 3339 or `YYYY-MM-DD`); default: 30 days ago.
    pub from: Option<String>,
    /// Up to (RFC 3339, or `YYYY-MM-DD` for that whole day); default: now.
    pub to: Option<String>,
    /// `csv` (default) or `json`.
    pub format: Option<String>,
}

/// The most entries one export holds.
pub const MAX_AUDIT_EXPORT: i64 = 100_000;

/// The tenant's audit log between two dates, oldest first, as CSV (UTF-8 with BOM, for spreadsheets) or JSON.
/// The export itself is audited.
#[utoipa::path(get, path = "/api/v1/admin/audit/export", tag = "admin", params(AuditExportQuery),
    responses((status = 200, description = "text/csv or application/json"), (status = 400, body = ApiError),
              (status = 403, body = ApiError)))]
pub async fn audit_export(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Can(admin, _): Can<perm::ViewAudit>,
    Query(q): Query<AuditExportQuery>,
) -> AppResult<Response> {
    let now = chrono::Utc::now();
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => lingxi_service::parse_bound("from", s, false)?,
        None => now - chrono::Duration::days(30),
    };
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => lingxi_service::parse_bound("to", s, true)?,
        None => now + chrono::Duration::seconds(1),
    };
    if to <= from {
        return Err(AppError::new(ErrorCode::InvalidField, "to must be after from"));
    }
    let json = match q.format.as_deref().unwrap_or("csv") {
        "csv" => false,
        "json" => true,
        _ => return Err(AppError::new(ErrorCode::InvalidField, "format must be csv or json")),
    };
    let rows = state.services.store.audit_range(admin.who.tenant.id, from, to, MAX_AUDIT_EXPORT).await?;
    let detail = serde_json::json!({"from": lingxi_types::wire::rfc3339(from), "to": lingxi_types::wire::rfc3339(to),
                                    "entries": rows.len(), "format": if json { "json" } else { "csv" }});
    state.services.audit(&admin.who, &client, "audit.export", None, detail).await?;
    let name = format!("audit-{}-{}", admin.who.tenant.slug, from.format("%Y%m%d"));
    let views: Vec<AuditView> = rows.into_iter().map(AuditView::from).collect();
    let (body, content_type, ext) = if json {
        (
            serde_json::to_vec(&ItemList { items: views })
                .map_err(|_| AppError::new(ErrorCode::Internal, "internal error"))?,
            "application/json",
            "json",
        )
    } else {
        let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
        let header = ["created_at", "action", "actor_user", "actor_ip", "target", "detail", "id"];
        let bad = |_| AppError::new(ErrorCode::Internal, "internal error");
        w.write_record(header).map_err(bad)?;
        for v in &views {
            let detail = v.detail.to_string();
            let cells = [
                &v.created_at,
                &v.action,
                v.actor_user.as_deref().unwrap_or(""),
                v.actor_ip.as_deref().unwrap_or(""),
                v.target.as_deref().unwrap_or(""),
                &detail,
                &v.id,
            ];
            // A spreadsheet must not run a cell as a formula.
            w.write_record(cells.iter().map(|c| csv_safe(c).into_owned())).map_err(bad)?;
        }
        (
            w.into_inner().map_err(|_| AppError::new(ErrorCode::Internal, "internal error"))?,
            "text/csv; charset=utf-8",
            "csv",
        )
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.{ext}\"")),
        ],
        body,
    )
        .into_response())
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`.
fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}
