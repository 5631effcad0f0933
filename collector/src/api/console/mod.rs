//! The web console: a few ES modules, a stylesheet and one HTML page, embedded in the
//! binary and served by the collector itself (no second server, no CDN).
//!
//! - `GET /` answers the page to browsers (an `Accept` that prefers `text/html`, see
//!   [`prefers_html`]) and stays the Elasticsearch product check for API clients.
//! - `GET /console/{version}/{file}` serves the assets. `version` is a hash of every asset,
//!   so a new build gets new URLs and the assets can be cached for a year; the page itself
//!   is revalidated on every load.
//!
//! Page and assets need no token: the page asks for one when the API answers 401. Every
//! answer carries a strict `Content-Security-Policy` (no inline code, `connect-src 'self'`),
//! so an entry that slipped into the DOM as markup still could not run.
//!
//! # Examples
//!
//! ```
//! use estuary_collector::api::console;
//!
//! assert!(console::prefers_html("text/html,application/xhtml+xml,*/*;q=0.8"));
//! assert!(!console::prefers_html("application/json"));
//! assert!(console::version().len() == 8);
//! ```

mod assets;
mod negotiate;

use std::sync::OnceLock;

use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use negotiate::prefers_html;

use super::{ApiError, AppState};

/// What the page may load and run: its own scripts, styles and API, nothing inline, never
/// framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";
/// Assets live under a versioned path and never change there.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";
/// The page names the current version of the assets, so it is checked on every load.
const PAGE_CACHE: &str = "no-cache";

/// `GET /console/{version}/{file}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/console/{version}/{file}", get(asset))
}

/// The hash of every embedded asset (8 hex digits), the `{version}` of their URLs.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hasher = crc32fast::Hasher::new();
        for asset in assets::ALL {
            hasher.update(asset.name.as_bytes());
            hasher.update(asset.body);
        }
        hasher.update(assets::PAGE.as_bytes());
        format!("{:08x}", hasher.finalize())
    })
}

/// The page, with the asset version filled in (once).
fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| assets::PAGE.replace("{{version}}", version()))
}

/// Middleware for `GET /`: the console page when the client prefers HTML (a browser), the
/// route below (the product check) otherwise.
pub async fn page_for_browsers(request: Request, next: Next) -> Response {
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(prefers_html);
    let mut response = if wants_page {
        let mut page = (StatusCode::OK, page()).into_response();
        secure(page.headers_mut(), "text/html; charset=utf-8", PAGE_CACHE);
        page
    } else {
        next.run(request).await
    };
    // Caches must keep the page and the product check apart.
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
    response
}

async fn asset(Path((asked, file)): Path<(String, String)>) -> Result<Response, ApiError> {
    // An old page asking for old assets gets a 404 rather than new files under an old
    // (immutable) URL.
    if asked != version() {
        return Err(ApiError::NotFound);
    }
    let asset = assets::ALL
        .iter()
        .find(|a| a.name == file)
        .ok_or(ApiError::NotFound)?;
    let mut response = (StatusCode::OK, asset.body).into_response();
    secure(response.headers_mut(), asset.content_type, ASSET_CACHE);
    Ok(response)
}

/// The headers every console answer carries.
fn secure(headers: &mut HeaderMap, content_type: &'static str, cache: &'static str) {
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_TYPE, content_type);
    set(headers, header::CACHE_CONTROL, cache);
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_assets_that_exist() {
        let page = page();
        assert!(!page.contains("{{version}}"));
        for name in ["console.css", "main.js", "icon.svg"] {
            let url = format!("/console/{}/{name}", version());
            assert!(page.contains(&url), "{url} is not in the page");
        }
        let prefix = format!("/console/{}/", version());
        for url in page.split('"').filter(|s| s.starts_with("/console/")) {
            let name = url.strip_prefix(&prefix).expect("the current version");
            assert!(
                assets::ALL.iter().any(|a| a.name == name),
                "{url} is not embedded"
            );
        }
    }

    #[test]
    fn every_module_import_is_embedded() {
        for asset in assets::ALL.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let from = line.rsplit("'./").next().unwrap().trim_end_matches("';");
                assert!(
                    assets::ALL.iter().any(|a| a.name == from),
                    "{} imports {from}, which is not embedded",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_console_stays_small() {
        let total: usize = assets::ALL.iter().map(|a| a.body.len()).sum::<usize>() + PAGE_LEN;
        assert!(total <= 150 * 1024, "the console is {total} bytes");
    }

    const PAGE_LEN: usize = assets::PAGE.len();
}
