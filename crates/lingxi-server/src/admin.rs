//! Administration: users and the tenant's settings (the knowledge base is in `kb`).

use crate::AppState;
use crate::auth::{Admin, Client, may_grant};
use crate::error::{AppError, AppResult, Json, Query};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lingxi_service::{hash_password, validate_new_password};
use lingxi_types::wire::{ItemList, UserView};
use lingxi_types::{ApiError, ErrorCode, Role, UserId};
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
    Admin(admin): Admin,
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
    /// The new role.
    pub role: Role,
}

/// Changes a user's role (effective at their next request). Only an owner grants or takes away the owner role;
/// nobody changes their own role. Audited with the roles before and after.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/role", tag = "admin", request_body = RoleChange,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 403, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
pub async fn set_role(
    State(state): State<AppState>,
    Client(client, _ip): Client,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(body): Json<RoleChange>,
) -> AppResult<Json<UserView>> {
    let id: UserId = id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "user not found"))?;
    let t = &admin.who.tenant;
    let before = state.services.store.user(t.id, id).await?;
    if before.id == admin.who.user.id {
        return Err(AppError::new(ErrorCode::Conflict, "you cannot change your own role; ask another administrator"));
    }
    let caller = admin.who.user.role;
    if !may_grant(caller, body.role) || !may_grant(caller, before.role) {
        return Err(AppError::new(ErrorCode::Forbidden, "only an owner grants or takes away the owner role"));
    }
    let user = state.services.store.set_user_role(t.id, id, body.role).await?;
    let detail = serde_json::json!({"email": user.email, "from": before.role, "to": user.role});
    state.services.audit(&admin.who, &client, "user.role", Some(user.id.to_string()), detail).await?;
    Ok(Json(UserView::new(&user, t)))
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
    Admin(admin): Admin,
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
    if !may_grant(admin.who.user.role, body.role) {
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
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> AppResult<Json<UserView>> {
    let id: UserId = id.parse().map_err(|_| AppError::new(ErrorCode::NotFound, "user not found"))?;
    let user = state.services.unlock_user(&admin.who, &client, id).await?;
    Ok(Json(UserView::new(&user, &admin.who.tenant)))
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

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = ItemList<AuditView>), (status = 403, body = ApiError)))]
pub async fn audit_log(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<ItemList<AuditView>>> {
    let rows = state.services.store.audit_log(admin.who.tenant.id, q.limit.unwrap_or(200)).await?;
    Ok(Json(ItemList {
        items: rows
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                actor_user: r.actor_user.map(|u| u.to_string()),
                actor_ip: r.actor_ip,
                action: r.action,
                target: r.target,
                detail: r.detail,
                created_at: lingxi_types::wire::rfc3339(r.created_at),
            })
            .collect(),
    }))
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
pub async fn tenant(Admin(admin): Admin) -> Json<TenantView> {
    let t = &admin.who.tenant;
    Json(TenantView {
        id: t.id.to_string(),
        slug: t.slug.clone(),
        name: t.name.clone(),
        widget_key: t.widget_key.clone(),
    })
}
