//! `GET /logs/{service}`, `GET /logs` and `GET /services`: order, limits, cursors, merging.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{field, TestApi};

/// An API holding entries `i` = 0..n of `service`, posted in one NDJSON body.
async fn with_entries(api: &TestApi, service: &str, n: usize) {
    let body: String = (0..n)
        .map(|i| {
            let level = if i % 3 == 0 { "error" } else { "info" };
            format!("{{\"service\":\"{service}\",\"i\":{i},\"level\":\"{level}\"}}\n")
        })
        .collect();
    let reply = api.post("application/x-ndjson", body).await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

/// Follows `next_cursor` from `first` until the last page; returns each page's `field`s.
async fn pages(api: &TestApi, first: &str, field_name: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut uri = first.to_owned();
    loop {
        assert!(pages.len() < 50, "paging does not end: {uri}");
        let reply = api.get(&uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
        let page = reply.json();
        let logs = &page["logs"];
        assert_eq!(page["count"], logs.as_array().unwrap().len());
        pages.push(field(logs, field_name));
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(cursor) => {
                let separator = if first.contains('?') { '&' } else { '?' };
                uri = format!("{first}{separator}cursor={cursor}");
            }
            None => return pages,
        }
    }
}

#[tokio::test]
async fn the_newest_n_come_oldest_first_and_the_cursor_pages_back() {
    let api = TestApi::new();
    with_entries(&api, "api", 10).await;

    let page = api.get("/logs/api?limit=4").await.json();
    assert_eq!(page["service"], "api");
    assert_eq!(page["count"], 4);
    assert_eq!(field(&page["logs"], "i"), [6, 7, 8, 9]);
    assert!(page["next_cursor"].is_string());
    for cost in ["scanned_bytes", "files_scanned", "segments_skipped"] {
        assert!(page[cost].is_u64(), "{cost} in {page}");
    }

    let walked = pages(&api, "/logs/api?limit=4", "i").await;
    assert_eq!(
        walked,
        [
            vec![json!(6), json!(7), json!(8), json!(9)],
            vec![json!(2), json!(3), json!(4), json!(5)],
            vec![json!(0), json!(1)],
        ]
    );

    // Without `limit`: the default (100) covers all ten, and there is no next page.
    let page = api.get("/logs/api").await.json();
    assert_eq!(page["count"], 10);
    assert!(page.get("next_cursor").is_none(), "{page}");
}

#[tokio::test]
async fn desc_and_asc_orders_page_their_own_way() {
    let api = TestApi::new();
    with_entries(&api, "api", 7).await;
    let desc = pages(&api, "/logs/api?order=desc&limit=3", "i").await;
    assert_eq!(
        desc.concat(),
        (0..7).rev().map(|i| json!(i)).collect::<Vec<_>>()
    );
    assert_eq!(desc.len(), 3);
    let asc = pages(&api, "/logs/api?order=asc&limit=3", "i").await;
    assert_eq!(asc.concat(), (0..7).map(|i| json!(i)).collect::<Vec<_>>());
    assert_eq!(asc[0], [json!(0), json!(1), json!(2)]);
}

#[tokio::test]
async fn filters_reach_the_store() {
    let api = TestApi::new();
    with_entries(&api, "api", 10).await;
    let errors = pages(&api, "/logs/api?level=error&limit=2", "i").await;
    assert_eq!(errors, [[json!(6), json!(9)], [json!(0), json!(3)]]);
    let field_match = api.get("/logs/api?field.i=4").await.json();
    assert_eq!(field(&field_match["logs"], "i"), [4]);
}

#[tokio::test]
async fn a_service_never_written_is_an_empty_page() {
    let api = TestApi::new();
    let page = api.get("/logs/quiet").await.json();
    assert_eq!(page["service"], "quiet");
    assert_eq!(page["count"], 0);
    assert_eq!(page["logs"], json!([]));
}

#[tokio::test]
async fn bad_parameters_get_a_400_naming_them() {
    let api = TestApi::new();
    with_entries(&api, "api", 3).await;
    let asc_cursor = api.get("/logs/api?order=asc&limit=1").await.json()["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for (uri, parameter) in [
        ("/logs/api?limit=0", Some("limit")),
        ("/logs/api?limit=10001", Some("limit")),
        ("/logs/api?limit=ten", Some("limit")),
        ("/logs/api?level=loud", Some("level")),
        ("/logs/api?since=yesterday", Some("since")),
        ("/logs/api?order=up", Some("order")),
        // A cursor of the other order is not taken for a position.
        (&format!("/logs/api?cursor={asc_cursor}"), Some("cursor")),
        ("/logs/api?cursor=b12x", Some("cursor")),
        ("/logs/api?colour=red", None),
        ("/logs/.hidden", None),
        ("/logs?service=a,../b", None),
    ] {
        let error = api.get(uri).await.assert_error(StatusCode::BAD_REQUEST);
        assert_eq!(
            error.get("parameter").and_then(Value::as_str),
            parameter,
            "{uri}: {error}"
        );
    }
}

#[tokio::test]
async fn several_services_merge_by_timestamp() {
    let api = TestApi::new();
    // Interleaved across services and requests; each service's own entries arrive in time
    // order, as one producer's do.
    for (service, second) in [("b", 2), ("a", 1), ("a", 3), ("b", 4), ("a", 5), ("b", 6)] {
        let body = format!(
            "{{\"service\":\"{service}\",\"s\":{second},\"timestamp\":\"2026-01-01T00:00:0{second}Z\"}}"
        );
        assert_eq!(api.post_json(&body).await.status, StatusCode::CREATED);
    }
    let s = |list: &[u64]| list.iter().map(|s| json!(s)).collect::<Vec<_>>();

    let page = api.get("/logs?service=a,b&limit=4").await.json();
    assert_eq!(page["services"], json!(["a", "b"]));
    assert_eq!(page["count"], 4);
    assert_eq!(field(&page["logs"], "s"), s(&[3, 4, 5, 6]));
    assert!(page["next_cursor"].is_string());

    // The newest first across services, each page listed oldest first (the default).
    let latest = pages(&api, "/logs?service=a,b&limit=4", "s").await;
    assert_eq!(latest, [s(&[3, 4, 5, 6]), s(&[1, 2])]);
    let desc = pages(&api, "/logs?service=b,a&order=desc&limit=4", "s").await;
    assert_eq!(desc, [s(&[6, 5, 4, 3]), s(&[2, 1])]);
    let asc = pages(&api, "/logs?service=a,b&order=asc&limit=2", "s").await;
    assert_eq!(asc, [s(&[1, 2]), s(&[3, 4]), s(&[5, 6])]);

    // One service named: only its entries.
    let only_a = api.get("/logs?service=a&order=asc").await.json();
    assert_eq!(field(&only_a["logs"], "s"), s(&[1, 3, 5]));
    // Without `service`: every service.
    let all = api.get("/logs?order=asc").await.json();
    assert_eq!(all["services"], json!(["a", "b"]));
    assert_eq!(field(&all["logs"], "s"), s(&[1, 2, 3, 4, 5, 6]));
}

#[tokio::test]
async fn services_lists_each_with_its_bytes_and_newest_timestamp() {
    let api = TestApi::new();
    assert_eq!(
        api.get("/services").await.json(),
        json!({"count": 0, "services": []})
    );
    for body in [
        r#"{"service":"web","timestamp":"2026-01-01T00:00:09Z"}"#,
        r#"{"service":"api","timestamp":"2026-01-01T00:00:01Z"}"#,
        r#"{"service":"api","timestamp":"2026-01-01T00:00:02Z"}"#,
    ] {
        assert_eq!(api.post_json(body).await.status, StatusCode::CREATED);
    }
    /// One item of the list, as the contract names its fields.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Info {
        service: String,
        bytes: u64,
        active_bytes: u64,
        segments: usize,
        last_timestamp: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct List {
        count: usize,
        services: Vec<Info>,
    }
    let list: List = serde_json::from_slice(&api.get("/services").await.body).unwrap();
    assert_eq!(list.count, 2);
    let stored_bytes = |service: &str| -> u64 {
        let page = api
            .store
            .query(
                &crate::service::ServiceName::parse(service).unwrap(),
                &crate::query::PageRequest::newest(100),
            )
            .unwrap();
        page.hits.iter().map(|h| h.line.len() as u64 + 1).sum()
    };
    let info = |service: &str, last: &str| Info {
        service: service.into(),
        bytes: stored_bytes(service),
        active_bytes: stored_bytes(service),
        segments: 0,
        last_timestamp: Some(last.into()),
    };
    assert_eq!(
        list.services,
        [
            info("api", "2026-01-01T00:00:02Z"),
            info("web", "2026-01-01T00:00:09Z")
        ]
    );
}
