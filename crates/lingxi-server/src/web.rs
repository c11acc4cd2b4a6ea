//! The web UI, embedded in the binary: landing page, demo shop, widget, agent workspace, admin.

use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn asset(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => ([(header::CONTENT_TYPE, content_type(path))], file.data.into_owned()).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `/support?key=…`.
#[derive(serde::Deserialize)]
struct SupportQuery {
    key: Option<String>,
}

/// The hosted support form. The tenant's allowed widget origins may frame it (a help centre embedding the form);
/// X-Frame-Options stays SAMEORIGIN for browsers without CSP frame-ancestors, which then show it only on its own.
async fn support(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    let mut response = asset("support.html");
    let key = axum::extract::Query::<SupportQuery>::try_from_uri(&uri)
        .ok()
        .and_then(|q| q.0.key)
        .filter(|k| !k.is_empty() && k.len() <= 200);
    let origins = match key {
        Some(k) => state.services.support_frame_origins(&k).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading the support page's frame origins failed");
            Vec::new()
        }),
        None => Vec::new(),
    };
    if !origins.is_empty()
        && let Ok(value) = header::HeaderValue::from_str(&crate::csp_framed_by(&origins))
    {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

async fn demo(State(state): State<AppState>) -> Response {
    let Some(file) = Assets::get("demo.html") else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let key = match &state.demo_tenant {
        Some(slug) => state.services.store.tenant_by_slug(slug).await.ok().flatten().map(|t| t.widget_key),
        None => None,
    };
    let html = String::from_utf8_lossy(&file.data).replace("{{WIDGET_KEY}}", &key.unwrap_or_default());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// The demo shop's order system, as the demo task flows call it: `LX20261203` is a shipped order, `LX00000000`
/// makes it fail (to show the bot's failure path), other order numbers are being prepared.
async fn demo_order_status(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    if state.demo_tenant.is_none() {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let order_id = demo_slot(&body, "order_id");
    let reply = match order_id.as_str() {
        "LX00000000" => return (StatusCode::SERVICE_UNAVAILABLE, "order system unavailable").into_response(),
        "LX20261203" => serde_json::json!({
            "order_id": order_id, "status_zh": "已发货", "status_en": "shipped", "carrier": "顺丰速运 SF Express",
            "tracking_no": "SF1403920261203", "eta": "2026-12-05",
        }),
        _ => serde_json::json!({
            "order_id": order_id, "status_zh": "仓库备货中", "status_en": "being prepared at the warehouse",
            "carrier": "-", "tracking_no": "-", "eta": "3 天内发货 / ships within 3 days",
        }),
    };
    axum::Json(reply).into_response()
}

/// The demo shop's returns desk: accepts every return and gives it a number derived from the order's.
async fn demo_returns(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    if state.demo_tenant.is_none() {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let order_id = demo_slot(&body, "order_id");
    if order_id == "LX00000000" {
        return (StatusCode::SERVICE_UNAVAILABLE, "returns desk unavailable").into_response();
    }
    let digits: String = order_id.chars().filter(char::is_ascii_digit).collect();
    axum::Json(serde_json::json!({
        "return_no": format!("RT{digits}"),
        "status": "submitted",
        "address": "上海市浦东新区灵犀路 1 号退货仓 / Returns, 1 Lingxi Rd, Shanghai",
    }))
    .into_response()
}

fn demo_slot(body: &[u8], name: &str) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["slots"][name].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn file(Path(path): Path<String>) -> Response {
    asset(&path)
}

/// Routes of the pages and static files.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/demo", get(demo))
        .route("/demo/api/order-status", axum::routing::post(demo_order_status))
        .route("/demo/api/returns", axum::routing::post(demo_returns))
        .route("/agent", get(|| async { asset("agent.html") }))
        .route("/admin", get(|| async { asset("admin.html") }))
        .route("/support", get(support))
        .route("/{*path}", get(file))
}
