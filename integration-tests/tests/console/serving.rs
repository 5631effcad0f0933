//! The page and its assets over plain HTTP: strict headers, no token, and `GET /` still the
//! Elasticsearch product check for API clients.

use crate::support::{http, Collector};

const QUERY: &str = "query-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn page(collector: &Collector, accept: &str) -> reqwest::blocking::Response {
    http()
        .get(format!("{}/", collector.url))
        .header("accept", accept)
        .send()
        .expect("GET /")
}

#[test]
fn browsers_get_the_console_and_clients_the_product_check() {
    let collector = Collector::start();
    let browser = page(
        &collector,
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    );
    assert_eq!(browser.status(), 200);
    assert_eq!(
        browser.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(browser.headers().get("x-elastic-product").is_none());
    let html = browser.text().expect("page");
    assert!(html.contains("<title>Estuary</title>"), "{html}");

    for accept in ["*/*", "application/json"] {
        let client = page(&collector, accept);
        assert_eq!(client.status(), 200);
        assert_eq!(client.headers()["x-elastic-product"], "Elasticsearch");
        let body: serde_json::Value = client.json().expect("product check");
        assert_eq!(body["tagline"], "You Know, for Search");
    }
}

#[test]
fn page_and_assets_are_open_strict_and_cacheable() {
    // Even a collector that wants tokens serves the page and its assets without one.
    let collector = Collector::start_with(&["--query-token", QUERY], &[]);
    let answer = page(&collector, "text/html");
    let headers = answer.headers().clone();
    let html = answer.text().expect("page");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-cache");
    // No inline code anywhere in the page, and no data in it.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );

    let main = html
        .split('"')
        .find(|s| s.starts_with("/console/") && s.ends_with("/main.js"))
        .expect("the page loads main.js");
    let version = main
        .trim_start_matches("/console/")
        .trim_end_matches("/main.js");
    let mut total = html.len();
    for (file, content_type) in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let asset = http()
            .get(format!("{}/console/{version}/{file}", collector.url))
            .send()
            .expect("asset");
        assert_eq!(asset.status(), 200, "{file}");
        assert_eq!(asset.headers()["content-type"], content_type, "{file}");
        assert_eq!(
            asset.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(asset.headers()["content-security-policy"].to_str().is_ok());
        assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
        total += asset.bytes().expect("body").len();
    }
    assert!(total < 150 * 1024, "{total} bytes");

    let (status, body) = collector.get("/console/00000000/main.js");
    assert_eq!(status, 404, "an old version's URL: {body}");
    let (status, _) = collector.get(&format!("/console/{version}/nope.js"));
    assert_eq!(status, 404);
    // The API itself still wants the token.
    assert_eq!(collector.get("/services").0, 401);
}
