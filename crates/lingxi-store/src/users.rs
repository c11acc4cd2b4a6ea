//! Workspace users and their server-side sessions.

use crate::rows::{enum_col, id, int, millis, now, opt_id, opt_text, opt_ts, text, ts};
use crate::{Store, StoreError, StoreResult, is_unique_violation, tid};
use chrono::{DateTime, Utc};
use lingxi_types::{Role, TenantId, User, UserId};
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, tenant_id, email, name, role, custom_role_id, created_at";

fn user(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: id(row, "id")?,
        tenant_id: id(row, "tenant_id")?,
        email: text(row, "email")?,
        name: text(row, "name")?,
        role: enum_col(row, "role", Role::parse)?,
        custom_role: opt_id(row, "custom_role_id")?,
        created_at: ts(row, "created_at")?,
    })
}

/// A live session: who it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's public id (not the token).
    pub id: String,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: UserId,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen_at: DateTime<Utc>,
    /// When it stops being valid whatever the activity.
    pub expires_at: DateTime<Utc>,
    /// The address it was opened from.
    pub ip: Option<String>,
    /// The browser or client that opened it.
    pub user_agent: Option<String>,
}

/// A user found by e-mail at login, with what the login check needs.
#[derive(Clone)]
pub struct LoginCandidate {
    /// The user.
    pub user: User,
    /// The PHC password hash.
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Locked until then, if locked.
    pub locked_until: Option<DateTime<Utc>>,
}

/// The hash stays out of logs and panics.
impl std::fmt::Debug for LoginCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCandidate")
            .field("user", &self.user.id)
            .field("password_hash", &"<redacted>")
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .finish()
    }
}

/// Where a new session comes from.
#[derive(Clone, Default)]
pub struct NewSession {
    /// The stored hash of the token.
    pub token_hash: String,
    /// The public id.
    pub id: String,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Client address.
    pub ip: Option<String>,
    /// Client software.
    pub user_agent: Option<String>,
}

/// The token's hash stays out of logs and panics (it is what a stolen database would be matched against).
impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("token_hash", &"<redacted>")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

const SESSION_COLUMNS: &str = "id, tenant_id, user_id, created_at, last_seen_at, expires_at, ip, user_agent";

fn session(r: &AnyRow) -> StoreResult<SessionRecord> {
    let created_at = ts(r, "created_at")?;
    Ok(SessionRecord {
        id: opt_text(r, "id")?.unwrap_or_default(),
        tenant_id: id(r, "tenant_id")?,
        user_id: id(r, "user_id")?,
        created_at,
        last_seen_at: opt_ts(r, "last_seen_at")?.unwrap_or(created_at),
        expires_at: ts(r, "expires_at")?,
        ip: opt_text(r, "ip")?,
        user_agent: opt_text(r, "user_agent")?,
    })
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
            custom_role: None,
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

    /// Every user with this e-mail, in any tenant, with what the login check needs: the login lookup.
    pub async fn login_candidates(&self, email: &str) -> StoreResult<Vec<LoginCandidate>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, password_hash, failed_logins, locked_until FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LoginCandidate {
                    user: user(r)?,
                    password_hash: text(r, "password_hash")?,
                    failed_logins: int(r, "failed_logins")?,
                    locked_until: opt_ts(r, "locked_until")?,
                })
            })
            .collect()
    }

    /// Counts a failed login; at `threshold` consecutive failures the account is locked until `lock_until`.
    /// Returns the lock's end when this failure locked the account.
    pub async fn record_login_failure(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        threshold: i64,
        lock_until: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END \
             WHERE tenant_id = $3 AND id = $4 RETURNING failed_logins",
        )
        .bind(threshold)
        .bind(millis(lock_until))
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let failures = row.map(|r| int(&r, "failed_logins")).transpose()?.unwrap_or(0);
        Ok((failures >= threshold).then_some(lock_until))
    }

    /// Clears the failure count and any lock (after a good login, or an admin's unlock).
    pub async fn clear_login_failures(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE tenant_id = $1 AND id = $2")
                .bind(tid(tenant_id))
                .bind(user_id.to_string())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
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

    /// The tenant's users whose login is locked at `now`, with when the lock ends.
    pub async fn locked_users(
        &self,
        tenant_id: TenantId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(UserId, DateTime<Utc>)>> {
        let rows = sqlx::query("SELECT id, locked_until FROM users WHERE tenant_id = $1 AND locked_until > $2")
            .bind(tid(tenant_id))
            .bind(millis(now))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((id(r, "id")?, ts(r, "locked_until")?))).collect()
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
    pub async fn create_session(&self, tenant_id: TenantId, user_id: UserId, new: NewSession) -> StoreResult<()> {
        let at = millis(now());
        sqlx::query(
            "INSERT INTO sessions (token_hash, id, tenant_id, user_id, created_at, last_seen_at, expires_at, ip, \
             user_agent) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
        )
        .bind(new.token_hash)
        .bind(new.id)
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .bind(at)
        .bind(millis(new.expires_at))
        .bind(new.ip)
        .bind(new.user_agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this token hash at `at`: not revoked, before its absolute expiry, and used since
    /// `idle_since` (idle expiry). A session without a recorded use counts from its creation.
    pub async fn live_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL \
             AND expires_at > $2 AND COALESCE(last_seen_at, created_at) > $3"
        ))
        .bind(token_hash)
        .bind(millis(at))
        .bind(millis(idle_since))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session).transpose()
    }

    /// Records that a session was used at `at`.
    pub async fn touch_session(&self, tenant_id: TenantId, token_hash: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE tenant_id = $2 AND token_hash = $3")
            .bind(millis(at))
            .bind(tid(tenant_id))
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A user's live sessions at `at`, newest first.
    pub async fn list_sessions(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL \
             AND expires_at > $3 ORDER BY created_at DESC"
        ))
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .bind(millis(at))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session).collect()
    }

    /// Revokes one of a user's sessions by its public id.
    pub async fn revoke_session_by_id(&self, tenant_id: TenantId, user_id: UserId, id: &str) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND id = $4 \
             AND revoked_at IS NULL",
        )
        .bind(millis(now()))
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("session"));
        }
        Ok(())
    }

    /// Revokes every session of a user (password change, account disabled).
    pub async fn revoke_all_sessions(&self, tenant_id: TenantId, user_id: UserId) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL")
            .bind(millis(now()))
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes every session of a user but one (a password change keeps the session that made it).
    pub async fn revoke_other_sessions(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        keep_token_hash: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL \
             AND token_hash <> $4",
        )
        .bind(millis(now()))
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .bind(keep_token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
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

impl Store {
    /// Records a password-reset link for a user (by its token's hash); earlier unused links of the user stop working.
    pub async fn create_password_reset(
        &self,
        tenant_id: TenantId,
        user_id: UserId,
        token_hash: &str,
        created_by: Option<UserId>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM password_resets WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL")
            .bind(tid(tenant_id))
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, tenant_id, user_id, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(tid(tenant_id))
        .bind(user_id.to_string())
        .bind(created_by.map(|u| u.to_string()))
        .bind(millis(now()))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a password-reset link: marks it used and returns its user, if it exists, is unused and has not expired
    /// at `at`. Atomic: of two concurrent uses, one wins.
    pub async fn use_password_reset(&self, token_hash: &str, at: DateTime<Utc>) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING tenant_id, user_id",
        )
        .bind(token_hash)
        .bind(millis(at))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let tenant_id: TenantId = id(&row, "tenant_id")?;
        let user_id: UserId = id(&row, "user_id")?;
        Ok(Some(self.user(tenant_id, user_id).await?))
    }

    /// The user of a password-reset link that would work at `at` (the page asks before showing its form).
    pub async fn password_reset_user(&self, token_hash: &str, at: DateTime<Utc>) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT tenant_id, user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(millis(at))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let tenant_id: TenantId = id(&row, "tenant_id")?;
        let user_id: UserId = id(&row, "user_id")?;
        Ok(Some(self.user(tenant_id, user_id).await?))
    }
}
