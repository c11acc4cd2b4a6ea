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

async fn file(Path(path): Path<String>) -> Response {
    asset(&path)
}

/// Routes of the pages and static files.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/demo", get(demo))
        .route("/agent", get(|| async { asset("agent.html") }))
        .route("/admin", get(|| async { asset("admin.html") }))
        .route("/support", get(|| async { asset("support.html") }))
        .route("/{*path}", get(file))
}
