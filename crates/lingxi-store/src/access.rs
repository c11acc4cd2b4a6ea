//! Access control records: the tenant's custom roles, API tokens and security settings.

use crate::rows::{id, millis, now, opt_ts, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::{ApiTokenId, CustomRole, CustomRoleId, Permission, Permissions, TenantId, UserId};
use sqlx::any::AnyRow;

fn permissions(row: &AnyRow) -> StoreResult<Permissions> {
    let names: Vec<String> = serde_json::from_str(&text(row, "permissions")?).unwrap_or_default();
    // A name this version does not know (a downgrade) grants nothing.
    Ok(names.iter().filter_map(|n| Permission::parse(n)).collect())
}

fn permission_text(p: Permissions) -> String {
    serde_json::to_string(&p.iter().map(|p| p.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

fn role(row: &AnyRow) -> StoreResult<CustomRole> {
    Ok(CustomRole {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        permissions: permissions(row)?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// An API token as stored (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Its id.
    pub id: ApiTokenId,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user who created it; the token acts as them, within its permissions.
    pub user_id: UserId,
    /// What it is for.
    pub name: String,
    /// The token's first characters, to recognise it.
    pub prefix: String,
    /// What it may do (never more than its creator may).
    pub permissions: Permissions,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token to record.
#[derive(Clone)]
pub struct NewApiToken {
    /// The user it acts as.
    pub user_id: UserId,
    /// What it is for.
    pub name: String,
    /// The SHA-256 of the token.
    pub token_hash: String,
    /// Its first characters.
    pub prefix: String,
    /// What it may do.
    pub permissions: Permissions,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The token's hash stays out of logs and panics.
impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiToken")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("token_hash", &"<redacted>")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

const TOKEN_COLUMNS: &str =
    "id, tenant_id, user_id, name, prefix, permissions, created_at, expires_at, last_used_at, revoked_at";

fn token(row: &AnyRow) -> StoreResult<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        user_id: id(row, "user_id")?,
        name: text(row, "name")?,
        prefix: text(row, "prefix")?,
        permissions: permissions(row)?,
        created_at: ts(row, "created_at")?,
        expires_at: opt_ts(row, "expires_at")?,
        last_used_at: opt_ts(row, "last_used_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

/// A tenant's security settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecuritySettings {
    /// How many days audit entries are kept.
    pub audit_retention_days: i64,
    /// The origins (`https://shop.example.com`) allowed to embed the chat widget; empty: any.
    pub widget_origins: Vec<String>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self { audit_retention_days: 365, widget_origins: Vec::new() }
    }
}

impl Store {
    /// The tenant's custom roles, by name.
    pub async fn custom_roles(&self, tenant_id: TenantId) -> StoreResult<Vec<CustomRole>> {
        let rows = sqlx::query("SELECT * FROM custom_roles WHERE tenant_id = $1 ORDER BY name, id")
            .bind(tid(tenant_id))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(role).collect()
    }

    /// One custom role of the tenant.
    pub async fn custom_role(&self, tenant_id: TenantId, role_id: CustomRoleId) -> StoreResult<CustomRole> {
        let row = sqlx::query("SELECT * FROM custom_roles WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(role_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(role).transpose()?.ok_or(StoreError::NotFound("role"))
    }

    /// Creates (`id` none) or replaces a custom role; the name must be free in the tenant.
    pub async fn save_custom_role(
        &self,
        tenant_id: TenantId,
        role_id: Option<CustomRoleId>,
        name: &str,
        description: &str,
        perms: Permissions,
    ) -> StoreResult<CustomRole> {
        let at = millis(now());
        let unique =
            |e: sqlx::Error| if is_unique_violation(&e) { StoreError::AlreadyExists("role") } else { e.into() };
        let id = match role_id {
            None => {
                let id = CustomRoleId::generate();
                sqlx::query(
                    "INSERT INTO custom_roles (id, tenant_id, name, description, permissions, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(id.to_string())
                .bind(tid(tenant_id))
                .bind(name)
                .bind(description)
                .bind(permission_text(perms))
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(unique)?;
                id
            }
            Some(id) => {
                let done = sqlx::query(
                    "UPDATE custom_roles SET name = $1, description = $2, permissions = $3, updated_at = $4 \
                     WHERE tenant_id = $5 AND id = $6",
                )
                .bind(name)
                .bind(description)
                .bind(permission_text(perms))
                .bind(at)
                .bind(tid(tenant_id))
                .bind(id.to_string())
                .execute(&self.pool)
                .await
                .map_err(unique)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("role"));
                }
                id
            }
        };
        self.custom_role(tenant_id, id).await
    }

    /// How many users hold a custom role.
    pub async fn custom_role_holders(&self, tenant_id: TenantId, role_id: CustomRoleId) -> StoreResult<usize> {
        let held = sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND custom_role_id = $2")
            .bind(tid(tenant_id))
            .bind(role_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        Ok(held.len())
    }

    /// Deletes a custom role (the caller checks nobody holds it).
    pub async fn delete_custom_role(&self, tenant_id: TenantId, role_id: CustomRoleId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM custom_roles WHERE tenant_id = $1 AND id = $2")
            .bind(tid(tenant_id))
            .bind(role_id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("role"));
        }
        Ok(())
    }

    /// Records a new API token.
    pub async fn create_api_token(&self, tenant_id: TenantId, new: NewApiToken) -> StoreResult<ApiTokenRecord> {
        let id = ApiTokenId::generate();
        sqlx::query(
            "INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, prefix, permissions, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.to_string())
        .bind(tid(tenant_id))
        .bind(new.user_id.to_string())
        .bind(&new.name)
        .bind(&new.token_hash)
        .bind(&new.prefix)
        .bind(permission_text(new.permissions))
        .bind(millis(now()))
        .bind(new.expires_at.map(millis))
        .execute(&self.pool)
        .await?;
        self.api_token(tenant_id, id).await
    }

    /// One API token of the tenant.
    pub async fn api_token(&self, tenant_id: TenantId, token_id: ApiTokenId) -> StoreResult<ApiTokenRecord> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(token_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token).transpose()?.ok_or(StoreError::NotFound("api token"))
    }

    /// The tenant's API tokens, newest first (revoked ones too, for the record).
    pub async fn api_tokens(&self, tenant_id: TenantId) -> StoreResult<Vec<ApiTokenRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(tid(tenant_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token).collect()
    }

    /// The live token with this hash at `at`: not revoked, not expired.
    pub async fn live_api_token(&self, token_hash: &str, at: DateTime<Utc>) -> StoreResult<Option<ApiTokenRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)"
        ))
        .bind(token_hash)
        .bind(millis(at))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token).transpose()
    }

    /// Records that a token was used at `at`.
    pub async fn touch_api_token(
        &self,
        tenant_id: TenantId,
        token_id: ApiTokenId,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(millis(at))
            .bind(tid(tenant_id))
            .bind(token_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes a token of the tenant (once; a revoked token is not found again).
    pub async fn revoke_api_token(&self, tenant_id: TenantId, token_id: ApiTokenId) -> StoreResult<ApiTokenRecord> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(millis(now()))
        .bind(tid(tenant_id))
        .bind(token_id.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("api token"));
        }
        self.api_token(tenant_id, token_id).await
    }

    /// Gives a user a custom role (or takes it away with `None`) together with their built-in role.
    pub async fn set_user_access(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        role: lingxi_types::Role,
        custom_role: Option<CustomRoleId>,
    ) -> StoreResult<lingxi_types::User> {
        let done = sqlx::query("UPDATE users SET role = $1, custom_role_id = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(role.as_str())
            .bind(custom_role.map(|r| r.to_string()))
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        self.user(tenant_id, user_id).await
    }

    /// The tenant's security settings (defaults until saved).
    pub async fn security_settings(&self, tenant_id: TenantId) -> StoreResult<SecuritySettings> {
        let row =
            sqlx::query("SELECT audit_retention_days, widget_origins FROM security_settings WHERE tenant_id = $1")
                .bind(tid(tenant_id))
                .fetch_optional(&self.pool)
                .await?;
        let Some(r) = row else { return Ok(SecuritySettings::default()) };
        Ok(SecuritySettings {
            audit_retention_days: crate::rows::int(&r, "audit_retention_days")?,
            widget_origins: serde_json::from_str(&text(&r, "widget_origins")?).unwrap_or_default(),
        })
    }

    /// Saves the tenant's security settings.
    pub async fn save_security_settings(&self, tenant_id: TenantId, s: &SecuritySettings) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO security_settings (tenant_id, audit_retention_days, widget_origins, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
             audit_retention_days = excluded.audit_retention_days, widget_origins = excluded.widget_origins, \
             updated_at = excluded.updated_at",
        )
        .bind(tid(tenant_id))
        .bind(s.audit_retention_days)
        .bind(serde_json::to_string(&s.widget_origins).unwrap_or_else(|_| "[]".into()))
        .bind(millis(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
