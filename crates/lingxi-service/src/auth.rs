//! Passwords, login sessions and tokens.

use crate::{ServiceError, ServiceResult, Services};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use chrono::{Duration, Utc};
use lingxi_store::{NewAudit, NewSession};
use lingxi_types::{Tenant, User};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown e-mail or wrong password (deliberately indistinguishable).
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// The e-mail exists in several tenants.
    #[error("this e-mail exists in several tenants: give the tenant")]
    TenantRequired,
    /// No live session for the token.
    #[error("not signed in or the session has ended")]
    Unauthenticated,
    /// Too many failed logins: the account is locked for a while.
    #[error("too many failed logins: the account is locked for a while")]
    Locked {
        /// When the lock ends.
        until: chrono::DateTime<Utc>,
    },
}

/// How long a login session lasts at most.
const SESSION_HOURS: i64 = 12;
/// How long a session may stay unused.
const SESSION_IDLE_HOURS: i64 = 4;
/// How often a session's last use is written (to spare the database a write per request).
const TOUCH_EVERY_MINUTES: i64 = 5;
/// Consecutive failed logins that lock an account.
pub const LOCK_THRESHOLD: i64 = 5;
/// How long a lock lasts.
const LOCK_MINUTES: i64 = 15;
/// How long a password-reset link works.
pub const RESET_HOURS: i64 = 24;

/// Where a request comes from, for sessions and the audit log.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// The client's address.
    pub ip: Option<String>,
    /// The client's software.
    pub user_agent: Option<String>,
}

/// Passwords attackers try first; a new password may not be one of them.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// Checks a new password: 8 to 256 characters, not a common password, not the e-mail.
pub fn validate_new_password(password: &str, email: &str) -> Result<(), String> {
    let n = password.chars().count();
    if !(8..=256).contains(&n) {
        return Err("the password must be 8 to 256 characters".into());
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.lines().any(|p| p.trim() == lower) {
        return Err("this password is too common; choose another".into());
    }
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if lower == email.to_lowercase() || (!local.is_empty() && lower == local) {
        return Err("the password must not be the e-mail address".into());
    }
    Ok(())
}

/// Whether a stored hash was made with other parameters than today's (then it is upgraded at the next login).
fn needs_rehash(phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return true };
    let current = argon2();
    let params = current.params();
    hash.algorithm.as_str() != "argon2id"
        || hash.params.get_decimal("m") != Some(params.m_cost())
        || hash.params.get_decimal("t") != Some(params.t_cost())
        || hash.params.get_decimal("p") != Some(params.p_cost())
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The user (for an API token: the user who created it).
    pub user: User,
    /// Their tenant.
    pub tenant: Tenant,
    /// What they may do now.
    pub permissions: lingxi_types::Permissions,
    /// The API token the request came with, when not a login session.
    pub api_token: Option<lingxi_types::ApiTokenId>,
}

fn argon2() -> Argon2<'static> {
    // OWASP's first Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password with Argon2id into a PHC string (parameters recorded in it).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// A new random token: 256 bits from the OS's CSPRNG, hex-encoded.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored form of a token: its SHA-256, so a database leak reveals no usable token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A hash to verify against when the e-mail is unknown, so both paths take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("lingxi-dummy-password"))
}

impl Services {
    /// Checks e-mail and password and opens a session; returns its token. Failures are counted per account
    /// (locking it after [`LOCK_THRESHOLD`] in a row) and every attempt is audited.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        tenant_slug: Option<&str>,
        client: &ClientInfo,
    ) -> ServiceResult<(String, Authenticated)> {
        let email = email.trim().to_lowercase();
        let mut candidates = self.store.login_candidates(&email).await?;
        if let Some(slug) = tenant_slug.filter(|s| !s.is_empty()) {
            let tenant = self.store.tenant_by_slug(slug).await?;
            candidates.retain(|c| Some(c.user.tenant_id) == tenant.as_ref().map(|t| t.id));
        }
        if candidates.len() > 1 {
            return Err(AuthError::TenantRequired.into());
        }
        let candidate = candidates.pop();
        let audit = |tenant_id, actor_user, action: &str, detail| NewAudit {
            tenant_id,
            actor_user,
            actor_ip: client.ip.clone(),
            action: action.to_owned(),
            target: Some(email.clone()),
            detail,
        };
        let now = Utc::now();
        if let Some(c) = &candidate
            && let Some(until) = c.locked_until.filter(|u| *u > now)
        {
            self.store.audit(audit(Some(c.user.tenant_id), Some(c.user.id), "login.locked", json!({}))).await?;
            return Err(AuthError::Locked { until }.into());
        }
        let phc = candidate.as_ref().map(|c| c.password_hash.clone()).unwrap_or_else(|| dummy_hash().to_owned());
        let attempt = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&attempt, &phc)).await.unwrap_or(false);
        let Some(c) = candidate.clone().filter(|_| ok) else {
            if let Some(c) = &candidate {
                let until = now + Duration::minutes(LOCK_MINUTES);
                let locked =
                    self.store.record_login_failure(c.user.tenant_id, c.user.id, LOCK_THRESHOLD, until).await?;
                let detail = json!({"reason": "bad_password", "locked": locked.is_some()});
                self.store.audit(audit(Some(c.user.tenant_id), Some(c.user.id), "login.failure", detail)).await?;
            } else {
                self.store.audit(audit(None, None, "login.failure", json!({"reason": "unknown_account"}))).await?;
            }
            return Err(AuthError::InvalidCredentials.into());
        };
        let user = c.user;
        if c.failed_logins > 0 {
            self.store.clear_login_failures(user.tenant_id, user.id).await?;
        }
        if needs_rehash(&c.password_hash) {
            let fresh = password.to_owned();
            if let Ok(hash) = tokio::task::spawn_blocking(move || hash_password(&fresh)).await {
                self.store.set_password_hash(user.tenant_id, user.id, &hash).await?;
            }
        }
        let token = new_token();
        let session = NewSession {
            token_hash: token_hash(&token),
            id: new_token().chars().take(24).collect(),
            expires_at: now + Duration::hours(SESSION_HOURS),
            ip: client.ip.clone(),
            user_agent: client.user_agent.as_ref().map(|u| u.chars().take(300).collect()),
        };
        self.store.create_session(user.tenant_id, user.id, session).await?;
        self.store.audit(audit(Some(user.tenant_id), Some(user.id), "login.success", json!({}))).await?;
        let tenant = self.store.tenant(user.tenant_id).await?;
        tracing::info!(tenant = %tenant.slug, user = %user.id, "login");
        let permissions = self.user_permissions(&user).await?;
        Ok((token, Authenticated { user, tenant, permissions, api_token: None }))
    }

    /// The user a session token (or an API token) belongs to, if it is live; records its use.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Authenticated> {
        if token.starts_with(crate::access::API_TOKEN_PREFIX) {
            return self.authenticate_api_token(token).await?.ok_or_else(|| AuthError::Unauthenticated.into());
        }
        let now = Utc::now();
        let hash = token_hash(token);
        let Some(session) = self.store.live_session(&hash, now, now - Duration::hours(SESSION_IDLE_HOURS)).await?
        else {
            return Err(AuthError::Unauthenticated.into());
        };
        if now - session.last_seen_at > Duration::minutes(TOUCH_EVERY_MINUTES) {
            self.store.touch_session(session.tenant_id, &hash, now).await?;
        }
        let user = self.store.user(session.tenant_id, session.user_id).await?;
        let tenant = self.store.tenant(session.tenant_id).await?;
        let permissions = self.user_permissions(&user).await?;
        Ok(Authenticated { user, tenant, permissions, api_token: None })
    }

    /// Ends a session.
    pub async fn logout(&self, who: &Authenticated, client: &ClientInfo, token: &str) -> ServiceResult<()> {
        self.store.revoke_session(who.tenant.id, &token_hash(token)).await?;
        self.audit(who, client, "logout", None, json!({})).await
    }
}

impl Services {
    /// Appends an action of a signed-in user to the audit log.
    pub async fn audit(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        action: &str,
        target: Option<String>,
        detail: serde_json::Value,
    ) -> ServiceResult<()> {
        self.store
            .audit(NewAudit {
                tenant_id: Some(who.tenant.id),
                actor_user: Some(who.user.id),
                actor_ip: client.ip.clone(),
                action: action.to_owned(),
                target,
                detail: match (who.api_token, detail) {
                    (Some(t), serde_json::Value::Object(mut m)) => {
                        m.insert("via_api_token".into(), json!(t.to_string()));
                        serde_json::Value::Object(m)
                    }
                    (_, d) => d,
                },
            })
            .await?;
        Ok(())
    }

    /// The caller's live sessions.
    pub async fn my_sessions(&self, who: &Authenticated) -> ServiceResult<Vec<lingxi_store::SessionRecord>> {
        Ok(self.store.list_sessions(who.tenant.id, who.user.id, Utc::now()).await?)
    }

    /// Revokes one of the caller's sessions.
    pub async fn revoke_my_session(&self, who: &Authenticated, client: &ClientInfo, id: &str) -> ServiceResult<()> {
        self.store.revoke_session_by_id(who.tenant.id, who.user.id, id).await?;
        self.audit(who, client, "session.revoke", Some(id.to_owned()), json!({})).await
    }

    /// Changes the caller's password: the current one must be given (a wrong one counts as a failed login, so a
    /// stolen session cannot guess it), the new one obeys [`validate_new_password`]. Every other session of the
    /// user is revoked; the one making the change stays. Audited.
    pub async fn change_password(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        token: &str,
        current: &str,
        new: &str,
    ) -> ServiceResult<()> {
        let user = &who.user;
        let candidate = self
            .store
            .login_candidates(&user.email)
            .await?
            .into_iter()
            .find(|c| c.user.id == user.id && c.user.tenant_id == user.tenant_id)
            .ok_or(AuthError::Unauthenticated)?;
        let now = Utc::now();
        if let Some(until) = candidate.locked_until.filter(|u| *u > now) {
            return Err(AuthError::Locked { until }.into());
        }
        let (attempt, phc) = (current.to_owned(), candidate.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&attempt, &phc)).await.unwrap_or(false);
        if !ok {
            let until = now + Duration::minutes(LOCK_MINUTES);
            let locked = self.store.record_login_failure(user.tenant_id, user.id, LOCK_THRESHOLD, until).await?;
            self.audit(who, client, "password.change_failed", None, json!({"locked": locked.is_some()})).await?;
            return Err(ServiceError::Invalid("the current password is wrong".into()));
        }
        validate_new_password(new, &user.email).map_err(ServiceError::Invalid)?;
        if current == new {
            return Err(ServiceError::Invalid("the new password must differ from the current one".into()));
        }
        let fresh = new.to_owned();
        let hash = tokio::task::spawn_blocking(move || hash_password(&fresh))
            .await
            .map_err(|e| ServiceError::Conflict(format!("hashing stopped: {e}")))?;
        self.store.set_password_hash(user.tenant_id, user.id, &hash).await?;
        self.store.clear_login_failures(user.tenant_id, user.id).await?;
        self.store.revoke_other_sessions(user.tenant_id, user.id, &token_hash(token)).await?;
        self.audit(who, client, "password.change", Some(user.id.to_string()), json!({})).await
    }

    /// Issues a one-time password-reset link for a user of the tenant who forgot their password (holders of
    /// `manage_users`, for users who hold no permission they lack; never for oneself, who changes it with the
    /// current one). Returns the token, shown once, and when it expires; an earlier unused link stops working.
    pub async fn issue_password_reset(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        user_id: lingxi_types::UserId,
    ) -> ServiceResult<(String, chrono::DateTime<Utc>)> {
        who.require(lingxi_types::Permission::ManageUsers)?;
        let user = self.store.user(who.tenant.id, user_id).await?;
        if user.id == who.user.id {
            return Err(ServiceError::Conflict("change your own password with 修改密码 (the current one)".into()));
        }
        if user.role == lingxi_types::Role::Owner && who.user.role != lingxi_types::Role::Owner {
            return Err(ServiceError::Forbidden("only an owner resets an owner's password".into()));
        }
        crate::access::within(who, self.user_permissions(&user).await?).map_err(|_| {
            ServiceError::Forbidden("this user holds permissions you do not: you cannot reset their password".into())
        })?;
        let token = format!("lxr_{}", new_token());
        let expires_at = Utc::now() + Duration::hours(RESET_HOURS);
        self.store
            .create_password_reset(who.tenant.id, user.id, &token_hash(&token), Some(who.user.id), expires_at)
            .await?;
        let detail = json!({"email": user.email, "expires_at": expires_at.to_rfc3339()});
        self.audit(who, client, "user.password_reset_issued", Some(user.id.to_string()), detail).await?;
        Ok((token, expires_at))
    }

    /// [`Services::issue_password_reset`] for the operator (`lingxi admin reset-link`): any user of the tenant, by
    /// e-mail; audited without an actor.
    pub async fn issue_password_reset_by_operator(
        &self,
        tenant_id: lingxi_types::TenantId,
        email: &str,
    ) -> ServiceResult<(String, chrono::DateTime<Utc>)> {
        let email = email.trim().to_lowercase();
        let user = self
            .store
            .login_candidates(&email)
            .await?
            .into_iter()
            .map(|c| c.user)
            .find(|u| u.tenant_id == tenant_id)
            .ok_or(ServiceError::NotFound("user"))?;
        let token = format!("lxr_{}", new_token());
        let expires_at = Utc::now() + Duration::hours(RESET_HOURS);
        self.store.create_password_reset(tenant_id, user.id, &token_hash(&token), None, expires_at).await?;
        self.store
            .audit(NewAudit {
                tenant_id: Some(tenant_id),
                actor_user: None,
                actor_ip: None,
                action: "user.password_reset_issued".into(),
                target: Some(user.id.to_string()),
                detail: json!({"email": user.email, "by": "operator", "expires_at": expires_at.to_rfc3339()}),
            })
            .await?;
        Ok((token, expires_at))
    }

    /// Sets a new password with a reset link: the link is used up, every session of the user is revoked and a
    /// login lock lifted. The new password obeys the usual rules. An unknown, used or expired link is refused
    /// with one message.
    pub async fn reset_password(&self, token: &str, new: &str, client: &ClientInfo) -> ServiceResult<User> {
        let dead = || {
            ServiceError::Invalid(
                "this reset link is unknown, used or expired; ask an administrator for a new one".into(),
            )
        };
        if !token.starts_with("lxr_") || token.len() > 100 {
            return Err(dead());
        }
        let hash = token_hash(token);
        let now = Utc::now();
        // The password is checked before the link is used up, so that a refused password leaves the link working.
        let Some(holder) = self.store.password_reset_user(&hash, now).await? else { return Err(dead()) };
        validate_new_password(new, &holder.email).map_err(ServiceError::Invalid)?;
        let Some(user) = self.store.use_password_reset(&hash, now).await? else { return Err(dead()) };
        let fresh = new.to_owned();
        let phc = tokio::task::spawn_blocking(move || hash_password(&fresh))
            .await
            .map_err(|e| ServiceError::Conflict(format!("hashing stopped: {e}")))?;
        self.store.set_password_hash(user.tenant_id, user.id, &phc).await?;
        self.store.clear_login_failures(user.tenant_id, user.id).await?;
        self.store.revoke_all_sessions(user.tenant_id, user.id).await?;
        self.store
            .audit(NewAudit {
                tenant_id: Some(user.tenant_id),
                actor_user: Some(user.id),
                actor_ip: client.ip.clone(),
                action: "user.password_reset".into(),
                target: Some(user.id.to_string()),
                detail: json!({"email": user.email}),
            })
            .await?;
        Ok(user)
    }

    /// Lifts a user's login lock (an administrator's unlock path).
    pub async fn unlock_user(
        &self,
        who: &Authenticated,
        client: &ClientInfo,
        user_id: lingxi_types::UserId,
    ) -> ServiceResult<User> {
        self.store.clear_login_failures(who.tenant.id, user_id).await?;
        let user = self.store.user(who.tenant.id, user_id).await?;
        self.audit(who, client, "user.unlock", Some(user.id.to_string()), json!({"email": user.email})).await?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn new_passwords_must_not_be_common_short_or_the_email() {
        assert!(validate_new_password("password123", "a@b.test").is_err());
        assert!(validate_new_password("Qwerty123", "a@b.test").is_err());
        assert!(validate_new_password("short", "a@b.test").is_err());
        assert!(validate_new_password("lina.zhang", "lina.zhang@b.test").is_err());
        assert!(validate_new_password("violet-harbour-42", "a@b.test").is_ok());
    }

    #[test]
    fn hashes_with_old_parameters_are_upgraded() {
        assert!(!needs_rehash(&hash_password("x")));
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap_or_default(),
        );
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let old = weak.hash_password(b"x", &salt).map(|h| h.to_string()).unwrap_or_default();
        assert!(needs_rehash(&old));
    }

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
