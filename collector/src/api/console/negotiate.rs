//! Whether an `Accept` header prefers HTML: browsers ask for `text/html` first, API
//! clients (curl's `*/*`, Elasticsearch clients' `application/json`) do not.

/// `true` when `text/html` is acceptable and weighs at least as much as JSON and the
/// wildcards; `*/*` alone (curl) is not a browser.
///
/// # Examples
///
/// ```
/// use estuary_collector::api::console::prefers_html;
///
/// assert!(prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
/// assert!(!prefers_html("*/*"));
/// assert!(!prefers_html("application/json, text/html;q=0.5"));
/// assert!(!prefers_html("text/html;q=0"));
/// ```
pub fn prefers_html(accept: &str) -> bool {
    let mut html = None;
    let mut others: f32 = 0.0;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => {
                html = Some(html.map_or(weight, |h: f32| h.max(weight)));
            }
            "application/json" | "*/*" | "application/*" => others = others.max(weight),
            _ => {}
        }
    }
    html.is_some_and(|h| h > 0.0 && h >= others)
}

#[cfg(test)]
mod tests {
    use super::prefers_html;

    #[test]
    fn browsers_get_the_page_and_clients_the_product_check() {
        // Chromium and Firefox navigations.
        assert!(prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"));
        assert!(prefers_html("TEXT/HTML"));
        // curl, the Elasticsearch clients, fetch() defaults.
        assert!(!prefers_html("*/*"));
        assert!(!prefers_html("application/json"));
        assert!(!prefers_html(
            "application/vnd.elasticsearch+json; compatible-with=8"
        ));
        assert!(!prefers_html(""));
        assert!(!prefers_html("text/html;q=0.1, application/json"));
    }
}
