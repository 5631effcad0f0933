//! The `_bulk` body (a `create` action naming the entry's index, then the stored line) and
//! how a bulk answer's per-item statuses decide what is retried and what is refused.

use super::*;
use crate::forward::elasticsearch::{IndexTemplate, DEFAULT_INDEX};
use crate::forward::http::Auth;
use crate::forward::send_once;
use crate::forward::tests::{shipment, TinyServer};

fn sink(url: &str, index: &str, auth: Auth) -> ElasticsearchSink {
    let config = ElasticsearchConfig::new(url, IndexTemplate(index.into()), auth);
    ElasticsearchSink::new(&config, Duration::from_secs(10)).unwrap()
}

/// The body as (action, document) pairs.
fn pairs(body: &[u8]) -> Vec<(serde_json::Value, String)> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with('\n'), "_bulk needs the last line ended too");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() % 2, 0, "{text}");
    lines
        .chunks(2)
        .map(|pair| (serde_json::from_str(pair[0]).unwrap(), pair[1].to_owned()))
        .collect()
}

fn answer(json: &str) -> Delivery {
    sort_items(serde_json::from_str(json).unwrap())
}

#[test]
fn each_entry_is_a_create_action_into_its_days_index_then_the_line() {
    let lines = [
        r#"{"m":"a","timestamp":"2026-01-01T23:59:59Z"}"#,
        r#"{"m":"sent already","timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"m":"b","timestamp":"2026-01-02T00:00:00.5+00:00","x":{"y":[1,"é"]}}"#,
        r#"{"m":"no time"}"#,
    ];
    let batch = shipment("api", &lines, vec![0, 2, 3]);
    let body = sink("http://es", "logs-{service}-{yyyy.MM.dd}", Auth::None).body(&batch);
    let today = time::OffsetDateTime::now_utc();
    let today = format!(
        "logs-api-{:04}.{:02}.{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    let create = |index: &str| serde_json::json!({"create": {"_index": index}});
    assert_eq!(
        pairs(&body),
        [
            (create("logs-api-2026.01.01"), lines[0].to_owned()),
            (create("logs-api-2026.01.02"), lines[2].to_owned()),
            (create(&today), lines[3].to_owned()),
        ]
    );
}

#[test]
fn an_undated_template_is_one_index_per_service() {
    let lines = [
        r#"{"timestamp":"2020-05-05T00:00:00Z"}"#,
        r#"{"timestamp":"2026-01-01T00:00:00Z"}"#,
    ];
    let body = sink("http://es", "estuary-{service}", Auth::None).body(&shipment(
        "billing-worker",
        &lines,
        vec![0, 1],
    ));
    let indexes: Vec<serde_json::Value> = pairs(&body)
        .into_iter()
        .map(|(action, _)| action["create"]["_index"].clone())
        .collect();
    assert_eq!(
        indexes,
        ["estuary-billing-worker", "estuary-billing-worker"]
    );
}

#[test]
fn a_bulk_answer_retries_429_and_5xx_items_and_refuses_the_others() {
    assert_eq!(
        answer(r#"{"errors":false,"items":[{"create":{"status":201}}]}"#),
        Delivery::default()
    );
    let mixed = r#"{"errors":true,"items":[
        {"create":{"status":201}},
        {"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},
        {"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}},
        {"create":{"status":503}},
        {"create":{"status":200}},
        {"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},
        {}
    ]}"#;
    assert_eq!(
        answer(mixed),
        Delivery {
            rejected: 2,
            // An item without a status is retried rather than lost.
            retry: vec![1, 3, 6],
        }
    );
}

#[tokio::test]
async fn a_bulk_request_and_its_answers_over_http() {
    let line = r#"{"m":1,"timestamp":"2026-01-01T00:00:00Z"}"#;
    let batch = shipment("api", &[line, line], vec![0, 1]);
    let server = TinyServer::start(vec![
        (
            200,
            r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":500}}]}"#,
        ),
        // Fewer items than entries: which failed is unknown, so all are sent again.
        (
            200,
            r#"{"errors":true,"items":[{"create":{"status":500}}]}"#,
        ),
        (200, "<html>proxy error</html>"),
        (400, r#"{"error":"bad request"}"#),
        (503, ""),
        (413, ""),
        // No errors: the items need not be there at all (`filter_path=errors`).
        (200, r#"{"errors":false}"#),
    ])
    .await;
    let auth = Auth::from_options(Some("elastic"), Some("changeme"), Some("ignored"));
    let sink = sink(&format!("{}/", server.url), DEFAULT_INDEX, auth);

    let first = send_once(&sink, &batch).await.unwrap();
    assert_eq!(
        first,
        Delivery {
            rejected: 0,
            retry: vec![1]
        }
    );
    let received = server.received();
    let request = &received[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/_bulk")
    );
    assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        request.header("authorization"),
        Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==")
    );
    assert_eq!(request.body, sink.body(&batch));

    for expected in ["items", "unreadable", "reject", "retry", "too large"] {
        let outcome = send_once(&sink, &batch).await;
        let ok = match expected {
            "reject" => matches!(outcome, Err(SendError::Reject(_))),
            "too large" => matches!(outcome, Err(SendError::TooLarge(_))),
            "items" => matches!(&outcome, Err(SendError::Retry(r)) if r.contains("1 items for 2")),
            "unreadable" => {
                matches!(&outcome, Err(SendError::Retry(r)) if r.contains("unreadable"))
            }
            _ => matches!(outcome, Err(SendError::Retry(_))),
        };
        assert!(ok, "{expected}: {outcome:?}");
    }
    assert_eq!(send_once(&sink, &batch).await.unwrap(), Delivery::default());
}
