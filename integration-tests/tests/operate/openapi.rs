//! `GET /openapi.json` describes every endpoint the binary serves, and what it serves
//! matches it (the full property-based run is `scripts/api-fuzz.sh`, run by CI).

use serde_json::Value;

use crate::support::Collector;

#[test]
fn the_document_lists_every_endpoint_and_each_answers_as_documented() {
    let collector = Collector::start();
    let (status, doc) = collector.get("/openapi.json");
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let mut listed: Vec<String> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("ops")
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "GET /",
            "GET /facets",
            "GET /health",
            "GET /histogram",
            "GET /logs",
            "GET /logs/stream",
            "GET /logs/{service}",
            "GET /logs/{service}/stream",
            "GET /metrics",
            "GET /services",
            "POST /_bulk",
            "POST /logs",
            "POST /loki/api/v1/push",
            "POST /v1/logs",
            "POST /{index}/_bulk",
            "PUT /_bulk",
            "PUT /{index}/_bulk",
        ]
    );
    assert_eq!(
        collector
            .post_json(&serde_json::json!({"service": "doc", "m": 1}))
            .0,
        201
    );
    for path in ["/health", "/logs", "/logs/doc", "/services", "/histogram"] {
        let (status, _) = collector.get(path);
        assert_eq!(status, 200, "{path}");
        let documented: &Value =
            &paths[path.replace("/doc", "/{service}").as_str()]["get"]["responses"]["200"];
        assert!(documented.is_object(), "{path} has no documented 200");
    }
    let (status, body) = collector.get("/logs/doc?limit=0");
    assert_eq!(status, 400);
    assert!(paths["/logs/{service}"]["get"]["responses"]["400"].is_object());
    assert!(body["error"].is_string());
}
