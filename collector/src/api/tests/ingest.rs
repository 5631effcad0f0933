//! `POST /logs`: what is answered, what is stored, and that a refused body stores nothing.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::{header, Method, StatusCode};
use serde_json::json;

use super::{field, request, TestApi};
use crate::api::auth::AccessControl;
use crate::api::protect::Limits;
use crate::api::ApiSettings;
use crate::timefmt::{self, parse_rfc3339};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// An API whose bodies may hold at most `max_body` bytes and entries `max_entry`.
fn limited(max_body: usize, max_entry: usize) -> TestApi {
    let settings = ApiSettings {
        max_body_bytes: max_body,
        max_entry_bytes: max_entry,
        ..ApiSettings::default()
    };
    TestApi::with(settings, AccessControl::default(), Limits::default())
}

#[tokio::test]
async fn a_single_object_is_logged_and_stored_with_a_timestamp() {
    let api = TestApi::new();
    let before = timefmt::now();
    let reply = api
        .post_json(r#"{"service":"api", "message":"hi", "n":1.50}"#)
        .await;
    let after = timefmt::now();
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header(header::CONTENT_TYPE), Some("application/json"));
    // The seed's answer exactly: no `accepted` for a single object.
    assert_eq!(reply.json(), json!({"status": "logged"}));

    // Stored as sent (key order, number spelling), the timestamp appended.
    let page = api
        .store
        .query(
            &crate::service::ServiceName::parse("api").unwrap(),
            &crate::query::PageRequest::newest(10),
        )
        .unwrap();
    assert_eq!(page.hits.len(), 1);
    let line = String::from_utf8(page.hits[0].line.clone()).unwrap();
    assert!(
        line.starts_with(r#"{"service":"api","message":"hi","n":1.50,"timestamp":""#),
        "{line}"
    );
    let stamp = api.stored("api")[0]["timestamp"]
        .as_str()
        .map(str::to_owned)
        .unwrap();
    let stamped = parse_rfc3339(&stamp).expect("an RFC 3339 timestamp");
    assert!(
        (before..=after).contains(&stamped),
        "{stamp} is the time of the request"
    );
}

#[tokio::test]
async fn arrays_and_ndjson_answer_the_count_and_keep_the_order() {
    let api = TestApi::new();
    let array = r#"[{"service":"api","i":0},{"service":"web","i":1},{"service":"api","i":2}]"#;
    let reply = api.post_json(array).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json(), json!({"status": "logged", "accepted": 3}));

    let ndjson = "{\"service\":\"api\",\"i\":3}\n\n{\"service\":\"api\",\"i\":4}\n";
    let reply = api.post("application/x-ndjson", ndjson).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json(), json!({"status": "logged", "accepted": 2}));

    let reply = api
        .post("application/jsonl", "{\"service\":\"web\",\"i\":5}")
        .await;
    assert_eq!(reply.json(), json!({"status": "logged", "accepted": 1}));

    let api_lines = api.get("/logs/api").await.json();
    assert_eq!(field(&api_lines["logs"], "i"), [0, 2, 3, 4]);
    let web_lines = api.get("/logs/web").await.json();
    assert_eq!(field(&web_lines["logs"], "i"), [1, 5]);
}

#[tokio::test]
async fn a_gzip_body_is_inflated() {
    let api = TestApi::new();
    let body = gzip(b"{\"service\":\"api\",\"i\":0}\n{\"service\":\"api\",\"i\":1}\n");
    let reply = api
        .send(
            request(Method::POST, "/logs")
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.json()["accepted"], 2);
    assert_eq!(
        field(&api.get("/logs/api").await.json()["logs"], "i"),
        [0, 1]
    );
}

#[tokio::test]
async fn an_entry_without_a_service_is_stored_as_unknown() {
    let api = TestApi::new();
    let reply = api.post_json(r#"{"message":"stray"}"#).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(api.services(), ["unknown"]);
    let page = api.get("/logs/unknown").await.json();
    assert_eq!(page["count"], 1);
    assert_eq!(page["logs"][0]["message"], "stray");
}

#[tokio::test]
async fn an_invalid_body_gets_a_json_400_and_nothing_is_stored() {
    let api = TestApi::new();
    // (body, content type, the entry to blame when one is)
    let cases: [(&[u8], &str, Option<usize>); 7] = [
        (br#"{"service":"api","m":"#, "application/json", Some(0)),
        (br#"[{"service":"api"},{"#, "application/json", None),
        (br#"{"service":"../etc"}"#, "application/json", Some(0)),
        (
            br#"[{"service":"api"},{"service":"a/b"}]"#,
            "application/json",
            Some(1),
        ),
        (br#"[{"service":"api"},5]"#, "application/json", Some(1)),
        (
            b"{\"service\":\"api\"}\n[1]\n",
            "application/x-ndjson",
            Some(1),
        ),
        (
            b"{\"service\":\"api\",\"m\":\"\xff\"}",
            "application/json",
            None,
        ),
    ];
    for (body, content_type, index) in cases {
        let reply = api.post(content_type, Bytes::from_static(body)).await;
        let error = reply.assert_error(StatusCode::BAD_REQUEST);
        assert_eq!(
            error.get("index").and_then(|i| i.as_u64()),
            index.map(|i| i as u64),
            "{error} for {:?}",
            String::from_utf8_lossy(body)
        );
    }
    let reply = api.post_json("   ").await;
    reply.assert_error(StatusCode::BAD_REQUEST);
    // All or nothing: the valid entries before the bad one were not written either.
    assert!(api.services().is_empty(), "{:?}", api.services());
    assert_eq!(api.store.open_writers(), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_however_it_arrives() {
    let entry = format!(r#"{{"service":"api","pad":"{}"}}"#, "x".repeat(400));
    let entry = entry.as_bytes();
    let limit = entry.len();
    let api = limited(limit, 1024);

    // Exactly at the limit: accepted.
    let reply = api.post_json(std::str::from_utf8(entry).unwrap()).await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let over = [entry, b" "].concat();
    // Announced by Content-Length: refused before reading, so a body that is still on
    // its way (here: never arrives) does not hold the answer up.
    let never_arrives = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        api.send(
            request(Method::POST, "/logs")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, over.len())
                .body(Body::from_stream(never_arrives))
                .unwrap(),
        ),
    )
    .await
    .expect("answered without reading the body");
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE);

    // Streamed in frames without a length: refused while reading.
    let frames = over
        .chunks(10)
        .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
        .collect::<Vec<_>>();
    let reply = api
        .post(
            "application/json",
            Body::from_stream(futures_util::stream::iter(frames)),
        )
        .await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE);

    // Small on the wire, over the limit once inflated (a gzip bomb).
    let bomb = gzip(&[b' '; 64 * 1024]);
    assert!(bomb.len() < limit);
    let reply = api
        .send(
            request(Method::POST, "/logs")
                .header(header::CONTENT_ENCODING, "gzip")
                .body(Body::from(bomb))
                .unwrap(),
        )
        .await;
    reply.assert_error(StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(api.stored("api").len(), 1, "only the first body was stored");
}

#[tokio::test]
async fn an_entry_over_the_entry_limit_gets_413_naming_it() {
    let api = limited(1024 * 1024, 40);
    let body = r#"[{"service":"api","i":0},{"service":"api","pad":"xxxxxxxxxxxxxxxxxxxxxxxx"}]"#;
    let error = api
        .post_json(body)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["index"], 1);
    assert!(api.services().is_empty());
}

#[tokio::test]
async fn a_form_or_an_unknown_encoding_gets_415_and_nothing_is_stored() {
    let api = TestApi::new();
    let entry = r#"{"service":"api"}"#;
    for content_type in [
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json; charset=latin1",
    ] {
        api.post(content_type, entry)
            .await
            .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let reply = api
        .send(
            request(Method::POST, "/logs")
                .header(header::CONTENT_ENCODING, "br")
                .body(Body::from(entry))
                .unwrap(),
        )
        .await;
    reply.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(api.services().is_empty());

    // The accepted spellings of JSON, for contrast — and curl's default form type, whose
    // body people type as JSON.
    for content_type in [
        "application/json; charset=utf-8",
        "text/json",
        "application/x-www-form-urlencoded",
    ] {
        assert_eq!(
            api.post(content_type, entry).await.status,
            StatusCode::CREATED
        );
    }
    let reply = api
        .send(
            request(Method::POST, "/logs")
                .body(Body::from(entry))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "no content type is JSON");
    assert_eq!(api.stored("api").len(), 4);
}
