//! Authentication extractors: bearer token or session cookie, CSRF rule for cookies, role checks.

use crate::AppState;
use crate::error::AppError;
use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use lingxi_service::{Authenticated, ClientInfo};
use lingxi_types::{ErrorCode, Permission, Role};
use std::marker::PhantomData;
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

/// Authenticates the request (session cookie, bearer session token or API token), without a permission check.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Agent, AppError> {
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

/// A workspace user: signed in and holding [`Permission::Workspace`].
impl FromRequestParts<AppState> for Agent {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let agent = authenticate(parts, state).await?;
        agent.who.require(Permission::Workspace)?;
        Ok(agent)
    }
}

/// Anyone signed in, a session or an API token, whatever their permissions (`GET /me`).
pub struct Signed(pub Agent);

impl FromRequestParts<AppState> for Signed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Signed(authenticate(parts, state).await?))
    }
}

/// A user signed in with a login session, not an API token (logout, sessions, password).
pub struct SessionUser(pub Agent);

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let agent = authenticate(parts, state).await?;
        if agent.who.api_token.is_some() {
            return Err(AppError::new(ErrorCode::Forbidden, "this needs a signed-in user, not an API token"));
        }
        Ok(SessionUser(agent))
    }
}

/// A permission a route needs, as a type (see [`Can`]).
pub trait Needs {
    /// The permission.
    const PERMISSION: Permission;
}

/// The permissions as types, one per [`Permission`].
pub mod perm {
    use super::Needs;
    use lingxi_types::Permission;

    macro_rules! markers {
        ($($name:ident),+) => {$(
            #[doc = concat!("Needs [`Permission::", stringify!($name), "`].")]
            pub struct $name;
            impl Needs for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )+};
    }

    markers!(
        ManageKb,
        ManageBot,
        ManageRouting,
        ManageTickets,
        ManageUsers,
        ViewAudit,
        ManageSettings,
        ManageApiTokens,
        ManageCustomerData
    );
}

/// A signed-in user or API token holding the permission `P` (a user need not hold the workspace permission).
pub struct Can<P: Needs>(pub Agent, pub PhantomData<P>);

impl<P: Needs> FromRequestParts<AppState> for Can<P> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let agent = authenticate(parts, state).await?;
        agent.who.require(P::PERMISSION)?;
        Ok(Can(agent, PhantomData))
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

/// Whether `role` may assign `target` to a new user: only an owner makes owners.
pub fn may_grant(role: Role, target: Role) -> bool {
    role == Role::Owner || target != Role::Owner
}
