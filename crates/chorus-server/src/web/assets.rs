//! The UI's static files, compiled into the binary: one stylesheet and an icon. No
//! CDN and no file system at run time.

use axum::http::header;
use axum::response::IntoResponse;

const CSS: &str = include_str!("../../assets/chorus.css");
const ICON: &str = include_str!("../../assets/icon.svg");

/// How long browsers may keep an asset (it changes only with the binary).
const CACHE: &str = "public, max-age=3600";

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], CSS)
}

pub async fn icon() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, CACHE)], ICON)
}
