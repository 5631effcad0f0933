use super::decode::parse;
use super::map::map_document;
use super::*;

fn doc(source: &str, index: Option<&str>) -> Result<(String, serde_json::Value), String> {
    let mut line = Vec::new();
    map_document(&mut line, source, index, 9_000_000_000)
        .map(|service| {
            (
                service.as_str().to_owned(),
                serde_json::from_slice(&line).unwrap(),
            )
        })
        .map_err(|err| err.reason)
}

#[test]
fn documents_keep_their_members_and_gain_the_collector_form() {
    let (service, line) = doc(r#"{"@timestamp":"2024-05-01T10:00:00.5+02:00","message":"hi","log":{"level":"warning"},"n":1}"#, Some("web-logs")).unwrap();
    assert_eq!(service, "web-logs");
    assert_eq!(line["timestamp"], "2024-05-01T08:00:00.500000000Z");
    assert_eq!(line["@timestamp"], "2024-05-01T10:00:00.5+02:00");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["n"], 1);
    let (service, line) = doc(
        r#"{"service":{"name":"pay","version":"2"},"log":"from docker","level":30}"#,
        Some("x"),
    )
    .unwrap();
    assert_eq!(service, "pay");
    assert_eq!(line["ecs_service"]["version"], "2");
    assert_eq!(line["message"], "from docker");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["timestamp"], "1970-01-01T00:00:09.000000000Z");
    let (service, _) = doc(r#"{"service":"api","timestamp":1714557600000}"#, Some("x")).unwrap();
    assert_eq!(service, "api");
}

#[test]
fn bad_documents_are_refused_with_a_reason() {
    assert!(doc(r#"{"service":"../x"}"#, None)
        .unwrap_err()
        .contains("not a valid service name"));
    assert!(doc(r#"{"a":1}"#, Some("Bad Index"))
        .unwrap_err()
        .contains("index name"));
    assert!(doc(r#"{"a":1,"a":2}"#, None)
        .unwrap_err()
        .contains("duplicate"));
    assert!(doc(r#"{"timestamp":"soon"}"#, None)
        .unwrap_err()
        .contains("date"));
    assert!(doc("[1]", None).is_err());
}

#[test]
fn bodies_split_into_actions() {
    let body = b"{\"index\":{\"_index\":\"a\",\"_id\":7}}\n{\"m\":1}\n{\"delete\":{\"_id\":\"x\"}}\n{\"create\":{}}\n{\"m\":2}\n";
    let actions = parse(body, Some("dflt")).unwrap();
    assert_eq!(actions.len(), 3);
    assert_eq!(actions[0].id.as_deref(), Some("7"));
    assert_eq!(actions[1].source, None);
    assert_eq!(actions[2].index.as_deref(), Some("dflt"));
    let (batches, items) = apply(&actions, 1 << 20, 0);
    assert_eq!(batches.into_inner().len(), 2);
    assert_eq!(items[1]["delete"]["status"], 400);
    assert_eq!(items[2]["create"]["status"], 201);
    for bad in [
        &b"{\"index\":{}}\n"[..],
        b"{\"upsert\":{}}\n{}\n",
        b"",
        b"{\"index\":{},\"create\":{}}\n{}\n",
    ] {
        assert!(parse(bad, None).is_err());
    }
}
