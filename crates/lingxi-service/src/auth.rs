//! Passwords, login sessions and tokens.

use crate::{ServiceResult, Services};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use chrono::{Duration, Utc};
use lingxi_types::{Tenant, User};
use rand::RngCore;
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
}

/// How long a login session lasts.
const SESSION_HOURS: i64 = 12;

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The user.
    pub user: User,
    /// Their tenant.
    pub tenant: Tenant,
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
    /// Checks e-mail and password and opens a session; returns its token.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        tenant_slug: Option<&str>,
    ) -> ServiceResult<(String, Authenticated)> {
        let mut candidates = self.store.login_candidates(email.trim()).await?;
        if let Some(slug) = tenant_slug.filter(|s| !s.is_empty()) {
            let Some(tenant) = self.store.tenant_by_slug(slug).await? else {
                return Err(AuthError::InvalidCredentials.into());
            };
            candidates.retain(|(u, _)| u.tenant_id == tenant.id);
        }
        if candidates.len() > 1 {
            return Err(AuthError::TenantRequired.into());
        }
        let candidate = candidates.pop();
        let phc = candidate.as_ref().map(|(_, h)| h.clone()).unwrap_or_else(|| dummy_hash().to_owned());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc)).await.unwrap_or(false);
        let Some((user, _)) = candidate.filter(|_| ok) else {
            return Err(AuthError::InvalidCredentials.into());
        };
        let token = new_token();
        self.store
            .create_session(user.tenant_id, user.id, &token_hash(&token), Utc::now() + Duration::hours(SESSION_HOURS))
            .await?;
        let tenant = self.store.tenant(user.tenant_id).await?;
        tracing::info!(tenant = %tenant.slug, user = %user.id, "login");
        Ok((token, Authenticated { user, tenant }))
    }

    /// The user a session token belongs to, if the session is live.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Authenticated> {
        let Some(session) = self.store.live_session(&token_hash(token), Utc::now()).await? else {
            return Err(AuthError::Unauthenticated.into());
        };
        let user = self.store.user(session.tenant_id, session.user_id).await?;
        let tenant = self.store.tenant(session.tenant_id).await?;
        Ok(Authenticated { user, tenant })
    }

    /// Ends a session.
    pub async fn logout(&self, who: &Authenticated, token: &str) -> ServiceResult<()> {
        self.store.revoke_session(who.tenant.id, &token_hash(token)).await?;
        Ok(())
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
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
