//! Workspace users and their server-side sessions.

use crate::rows::{enum_col, id, millis, now, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::{Role, TenantId, User, UserId};
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, tenant_id, email, name, role, created_at";

fn user(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        email: text(row, "email")?,
        name: text(row, "name")?,
        role: enum_col(row, "role", Role::parse)?,
        created_at: ts(row, "created_at")?,
    })
}

/// A live session: who it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: UserId,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Creates a user; the e-mail must be new in the tenant. `password_hash` is a PHC string.
    pub async fn create_user(
        &self,
        tenant_id: TenantId,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> StoreResult<User> {
        let u = User {
            id: UserId::generate(),
            tenant_id,
            email: email.to_owned(),
            name: name.to_owned(),
            role,
            created_at: now(),
        };
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(u.id.to_string())
        .bind(tid(tenant_id))
        .bind(&u.email)
        .bind(&u.name)
        .bind(u.role.as_str())
        .bind(password_hash)
        .bind(millis(u.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists("user") } else { e.into() })?;
        Ok(u)
    }

    /// Every user with this e-mail, in any tenant, with the password hash: the login lookup.
    pub async fn login_candidates(&self, email: &str) -> StoreResult<Vec<(User, String)>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = $1"))
            .bind(email)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((user(r)?, text(r, "password_hash")?))).collect()
    }

    /// Replaces a user's password hash (e.g. when the hashing parameters are upgraded).
    pub async fn set_password_hash(&self, tenant_id: TenantId, user_id: UserId, hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(hash)
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The users of a tenant, oldest first.
    pub async fn list_users(&self, tenant_id: TenantId) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY created_at, id"))
            .bind(tid(tenant_id))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user).collect()
    }

    /// One user of the tenant.
    pub async fn user(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<User> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"))
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user).transpose()?.ok_or(StoreError::NotFound("user"))
    }

    /// Records a session, identified by the hash of its token.
    pub async fn create_session(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, tenant_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .bind(millis(now()))
        .bind(millis(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live (not revoked, not expired at `at`) session with this token hash.
    pub async fn live_session(&self, token_hash: &str, at: DateTime<Utc>) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT tenant_id, user_id, expires_at FROM sessions \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(millis(at))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRecord {
                tenant_id: id(&r, "tenant_id")?,
                user_id: id(&r, "user_id")?,
                expires_at: ts(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    /// Revokes a session of the tenant.
    pub async fn revoke_session(&self, tenant_id: TenantId, token_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND token_hash = $3")
            .bind(millis(now()))
            .bind(tid(tenant_id))
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
