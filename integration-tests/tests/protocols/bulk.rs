//! `_bulk` and `GET /` from the official elasticsearch Python client, and hostile bodies.

use super::{json, post, python};
use crate::support::{gzip, Collector};

#[test]
fn the_elasticsearch_client_bulk_helper_stores_documents_with_a_status_per_item() {
    let collector = Collector::start_with(&["--ingest-token", "ing"], &[]);
    let answer = json(python("es_bulk.py", &[&collector.url, "ing"]).as_bytes());
    assert_eq!(answer["ok"], 2, "{answer}");
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{answer}");
    assert!(errors[0]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("not a valid service name"));
    assert_eq!(errors[1]["delete"]["status"], 400);
    let indexed = &collector.lines("py-es")[0];
    assert_eq!(indexed["timestamp"], "2024-05-01T10:00:00.123000000Z");
    assert_eq!(indexed["level"], "WARN");
    assert_eq!(indexed["message"], "indexed");
    assert_eq!(collector.lines("py-es-field")[0]["message"], "created");
    assert_eq!(
        collector.files(),
        vec!["py-es-field.log".to_string(), "py-es.log".to_string()]
    );
}

#[test]
fn gzip_bulk_to_an_index_path_answers_like_elasticsearch() {
    let collector = Collector::start();
    let body = "{\"index\":{}}\n{\"message\":\"a\"}\n{\"create\":{\"_index\":\"other\"}}\n{\"message\":\"b\"}\n";
    let (status, headers, answer) = post(
        &collector.url,
        "/fluent-bit/_bulk",
        &[
            ("content-type", "application/x-ndjson"),
            ("content-encoding", "gzip"),
        ],
        gzip(body.as_bytes()),
    );
    assert_eq!(status, 200);
    assert_eq!(headers["x-elastic-product"], "Elasticsearch");
    let answer = json(&answer);
    assert_eq!(answer["errors"], false);
    assert_eq!(answer["items"][0]["index"]["status"], 201);
    assert_eq!(answer["items"][1]["create"]["_index"], "other");
    assert_eq!(collector.lines("fluent-bit").len(), 1);
    assert_eq!(collector.lines("other").len(), 1);
    let root = crate::support::http().get(&collector.url).send().unwrap();
    assert_eq!(root.headers()["x-elastic-product"], "Elasticsearch");
}

#[test]
fn hostile_bulk_bodies_are_refused_and_nothing_invalid_is_written() {
    let collector = Collector::start_with(
        &["--max-body-bytes", "65536", "--max-entry-bytes", "1024"],
        &[],
    );
    let ndjson = ("content-type", "application/x-ndjson");
    for (body, expected) in [
        (b"{\"index\":{}}\n".to_vec(), 400),
        (b"{\"merge\":{}}\n{}\n".to_vec(), 400),
        (b"not json\n".to_vec(), 400),
        (vec![b'{'; 70_000], 413),
        (vec![0xff, 0xfe, b'\n'], 400),
    ] {
        let (status, _, answer) = post(&collector.url, "/_bulk", &[ndjson], body);
        assert_eq!(status, expected, "{}", String::from_utf8_lossy(&answer));
        assert!(json(&answer)["error"].is_string());
    }
    let big = "x".repeat(2000);
    let body = format!(
        "{{\"index\":{{\"_index\":\"Bad Index\"}}}}\n{{\"m\":1}}\n\
         {{\"index\":{{\"_index\":\"ok\"}}}}\n[1,2]\n\
         {{\"index\":{{\"_index\":\"ok\"}}}}\n{{\"message\":\"{big}\"}}\n\
         {{\"index\":{{\"_index\":\"ok\"}}}}\n{{\"service\":{{\"name\":\"a b\"}}}}\n"
    );
    let (status, _, answer) = post(&collector.url, "/_bulk", &[ndjson], body.into_bytes());
    assert_eq!(status, 200);
    let answer = json(&answer);
    assert_eq!(answer["errors"], true);
    let statuses: Vec<_> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"]["status"].clone())
        .collect();
    assert_eq!(statuses, vec![400, 400, 400, 400]);
    assert_eq!(collector.files(), Vec::<String>::new());
    assert_eq!(collector.get("/health").0, 200);
}
