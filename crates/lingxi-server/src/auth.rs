//! Authentication extractors: bearer token or session cookie, CSRF rule for cookies, role checks.

use crate::AppState;
use crate::error::AppError;
use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use lingxi_service::{Authenticated, ClientInfo};
use lingxi_types::{ErrorCode, Role};
use std::net::SocketAddr;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "lingxi_session";
/// The header that cookie-authenticated state changes must carry.
pub const CSRF_HEADER: &str = "x-lingxi-csrf";

/// A signed-in workspace user and the token they presented.
pub struct Agent {
    /// Who.
    pub who: Authenticated,
    /// The token (to revoke on logout).
    pub token: String,
}

/// The session token from the `Authorization: Bearer` header or the session cookie; `true` when from the cookie.
pub fn presented_token(parts: &Parts) -> Option<(String, bool)> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some((t.trim().to_owned(), false));
    }
    cookie(parts, SESSION_COOKIE).map(|t| (t, true))
}

fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (token, from_cookie) = presented_token(parts)
            .or_else(|| query_token(parts).map(|t| (t, false)))
            .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated, "sign in first"))?;
        let state_changing = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_cookie && state_changing && !parts.headers.contains_key(CSRF_HEADER) {
            return Err(AppError::new(ErrorCode::CsrfRequired, "cookie-authenticated changes need X-Lingxi-Csrf"));
        }
        let who = state.services.authenticate(&token).await?;
        Ok(Agent { who, token })
    }
}

/// A `?token=` query parameter, accepted only for WebSocket upgrades (browsers cannot set headers on them).
fn query_token(parts: &Parts) -> Option<String> {
    let is_upgrade = parts.headers.get(axum::http::header::UPGRADE).is_some();
    if !is_upgrade {
        return None;
    }
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
}

/// A signed-in user whose role may administer the tenant.
pub struct Admin(pub Agent);

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let agent = Agent::from_request_parts(parts, state).await?;
        if !agent.who.user.role.can_administer() {
            return Err(AppError::new(ErrorCode::Forbidden, "this needs the admin or owner role"));
        }
        Ok(Admin(agent))
    }
}

/// Where the request comes from: the peer address (when the server was started with connect info) and the
/// `User-Agent`. Proxies' forwarding headers are not trusted.
pub struct Client(pub ClientInfo, pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(300).collect());
        Ok(Client(ClientInfo { ip: ip.map(|i| i.to_string()), user_agent }, ip))
    }
}

/// Whether `role` may assign `target` to a new user: nobody can create a role above their own.
pub fn may_grant(role: Role, target: Role) -> bool {
    match role {
        Role::Owner => true,
        Role::Admin => target != Role::Owner,
        _ => false,
    }
}
