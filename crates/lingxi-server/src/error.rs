//! Error → HTTP mapping: every failure becomes `{"code","message"}` with the code's status.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lingxi_service::{AuthError, ServiceError};
use lingxi_types::{ApiError, ErrorCode};

/// An error answered to the client, with a `Retry-After` in seconds when retrying later can succeed.
#[derive(Debug)]
pub struct AppError(pub ApiError, pub Option<u64>);

impl AppError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError(ApiError::new(code, message), None)
    }

    /// 429: too many requests; retry after `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        AppError(ApiError::new(ErrorCode::RateLimited, "too many requests; retry later"), Some(seconds))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0)).into_response();
        if let Some(seconds) = self.1
            && let Ok(v) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(what) => AppError::new(ErrorCode::NotFound, format!("{what} not found")),
            ServiceError::Invalid(m) => AppError::new(ErrorCode::InvalidField, m),
            ServiceError::Conflict(m) => AppError::new(ErrorCode::Conflict, m),
            ServiceError::Forbidden(m) => AppError::new(ErrorCode::Forbidden, m),
            ServiceError::TooLarge(m) => AppError::new(ErrorCode::PayloadTooLarge, m),
            ServiceError::UnsupportedMedia(m) => AppError::new(ErrorCode::UnsupportedMediaType, m),
            ServiceError::UnknownWidgetKey => AppError::new(ErrorCode::UnknownWidgetKey, "unknown widget key"),
            ServiceError::Auth(AuthError::InvalidCredentials) => {
                AppError::new(ErrorCode::InvalidCredentials, "invalid e-mail or password")
            }
            ServiceError::Auth(AuthError::TenantRequired) => {
                AppError::new(ErrorCode::TenantRequired, "this e-mail exists in several tenants: give the tenant")
            }
            ServiceError::Auth(AuthError::Locked { until }) => {
                let seconds = (until - chrono::Utc::now()).num_seconds().max(1) as u64;
                AppError(
                    ApiError::new(
                        ErrorCode::AccountLocked,
                        "too many failed logins: the account is locked for a while",
                    ),
                    Some(seconds),
                )
            }
            ServiceError::Auth(AuthError::Unauthenticated) => {
                AppError::new(ErrorCode::Unauthenticated, "not signed in or the session has ended")
            }
            ServiceError::Store(lingxi_store::StoreError::AlreadyExists(what)) => {
                AppError::new(ErrorCode::AlreadyExists, format!("{what} already exists"))
            }
            ServiceError::Store(other) => {
                tracing::error!(error = %other, "storage failure");
                AppError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl From<lingxi_store::StoreError> for AppError {
    fn from(e: lingxi_store::StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                AppError::new(ErrorCode::PayloadTooLarge, "the body is larger than 64 KiB")
            }
            JsonRejection::JsonDataError(e) => AppError::new(ErrorCode::BadRequest, e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                AppError::new(ErrorCode::BadRequest, "expected Content-Type: application/json")
            }
            other => AppError::new(ErrorCode::BadRequest, other.body_text()),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::new(ErrorCode::BadRequest, r.body_text())
    }
}

/// A JSON body extractor whose rejections use the API's error shape.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query-string extractor whose rejections use the API's error shape.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

/// A handler result.
pub type AppResult<T> = Result<T, AppError>;
