//! The error-code table: every error the API returns has a stable code and an HTTP status.

use serde::{Deserialize, Serialize};

/// A stable, documented error code. The wire form is the snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body or query is not of the documented shape.
    BadRequest,
    /// A field is present but its value is invalid (too long, empty, unknown enum value…).
    InvalidField,
    /// The body is larger than the limit.
    PayloadTooLarge,
    /// The file type is not accepted, or the file is not of the type it claims.
    UnsupportedMediaType,
    /// No valid session or token was presented.
    Unauthenticated,
    /// E-mail or password is wrong.
    InvalidCredentials,
    /// The e-mail exists in several tenants: the tenant slug must be given.
    TenantRequired,
    /// The caller is authenticated but its role does not allow the action.
    Forbidden,
    /// A cookie-authenticated state change came without the CSRF header.
    CsrfRequired,
    /// The page's origin is not among the tenant's allowed widget origins.
    OriginNotAllowed,
    /// The resource does not exist (or belongs to another tenant, which looks the same).
    NotFound,
    /// The widget key is unknown.
    UnknownWidgetKey,
    /// The action conflicts with the current state (e.g. replying to a closed conversation).
    Conflict,
    /// The resource already exists (e.g. a user with that e-mail).
    AlreadyExists,
    /// Too many requests; retry later.
    RateLimited,
    /// Too many failed logins: the account is locked for a while (or until an admin unlocks it).
    AccountLocked,
    /// The database is not reachable.
    Unavailable,
    /// An unexpected failure; details are logged on the server, never sent.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest | Self::InvalidField | Self::TenantRequired => 400,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unauthenticated | Self::InvalidCredentials => 401,
            Self::Forbidden | Self::CsrfRequired | Self::OriginNotAllowed => 403,
            Self::NotFound | Self::UnknownWidgetKey => 404,
            Self::Conflict | Self::AlreadyExists => 409,
            Self::RateLimited | Self::AccountLocked => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidField => "invalid_field",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TenantRequired => "tenant_required",
            Self::Forbidden => "forbidden",
            Self::CsrfRequired => "csrf_required",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::NotFound => "not_found",
            Self::UnknownWidgetKey => "unknown_widget_key",
            Self::Conflict => "conflict",
            Self::AlreadyExists => "already_exists",
            Self::RateLimited => "rate_limited",
            Self::AccountLocked => "account_locked",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// The body of every error response: `{"code": "...", "message": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// A human-readable explanation, safe to show to the caller.
    pub message: String,
}

impl ApiError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_name_matches_serde() {
        for code in [ErrorCode::BadRequest, ErrorCode::UnknownWidgetKey, ErrorCode::CsrfRequired, ErrorCode::Internal] {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
