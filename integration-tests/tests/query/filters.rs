//! Every filter, and combinations, on a generated multi-service data set with known answers.

use serde_json::{json, Value};

use crate::support::{entry_numbers, Collector};

const LEVELS: [&str; 5] = ["TRACE", "debug", "INFO", "Warning", "ERROR"];

/// Entry `i`: service a/b/c, a level, a target, nested fields, an hour-spread timestamp.
fn entry(i: usize) -> Value {
    let service = ["a", "b", "c"][i % 3];
    json!({
        "service": service,
        "level": LEVELS[i % 5],
        "target": if i.is_multiple_of(4) { "shop::db::pool" } else { "shop::http" },
        "message": format!("event {i} {}", if i.is_multiple_of(7) { "timeout" } else { "ok" }),
        "user_id": i % 11,
        "fields": {"cache": if i.is_multiple_of(2) { "hit" } else { "miss" }},
        "timestamp": format!("2026-11-20T{:02}:{:02}:00Z", i / 60 % 24, i % 60),
        "i": i,
    })
}

fn loaded() -> Collector {
    let collector = Collector::start();
    let body: Vec<Value> = (0..600).map(entry).collect();
    assert_eq!(collector.post_json(&json!(body)).0, 201);
    collector
}

/// The `i`s a query on service `a` returns, in the answer's order.
fn ids(collector: &Collector, query: &str) -> Vec<u64> {
    let (status, body) = collector.get(&format!("/logs/a?limit=10000&{query}"));
    assert_eq!(status, 200, "{query}: {body}");
    assert_eq!(
        body["count"].as_u64(),
        Some(body["logs"].as_array().expect("logs").len() as u64)
    );
    body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["i"].as_u64().expect("i"))
        .collect()
}

fn expected(keep: impl Fn(usize) -> bool) -> Vec<u64> {
    (0..600)
        .filter(|i| i % 3 == 0 && keep(*i))
        .map(|i| i as u64)
        .collect()
}

#[test]
fn each_filter_returns_exactly_the_matching_entries() {
    let c = loaded();
    assert_eq!(ids(&c, ""), expected(|_| true));
    assert_eq!(ids(&c, "level=warn"), expected(|i| i % 5 >= 3));
    assert_eq!(ids(&c, "level=ERROR"), expected(|i| i % 5 == 4));
    assert_eq!(ids(&c, "q=timeout"), expected(|i| i % 7 == 0));
    assert_eq!(ids(&c, "target=shop::db"), expected(|i| i % 4 == 0));
    assert_eq!(
        ids(&c, "target=shop::d"),
        Vec::<u64>::new(),
        "target matches whole path segments"
    );
    assert_eq!(ids(&c, "field.user_id=5"), expected(|i| i % 11 == 5));
    assert_eq!(ids(&c, "field.fields.cache=hit"), expected(|i| i % 2 == 0));
    let since = "since=2026-11-20T03:00:00Z&until=2026-11-20T05:59:59Z";
    assert_eq!(ids(&c, since), expected(|i| (180..360).contains(&i)));
}

#[test]
fn filters_combine_and_order_applies() {
    let c = loaded();
    let combo =
        "level=info&field.fields.cache=miss&target=shop::http&q=ok&since=2026-11-20T01:00:00Z";
    let want = expected(|i| i % 5 >= 2 && i % 2 == 1 && i % 4 != 0 && i % 7 != 0 && i >= 60);
    assert_eq!(ids(&c, combo), want);
    let mut desc = want.clone();
    desc.reverse();
    assert_eq!(ids(&c, &format!("{combo}&order=desc")), desc);
    assert_eq!(ids(&c, &format!("{combo}&order=asc")), want);
    let (_, body) = c.get(&format!("/logs/a?{combo}&limit=3"));
    assert_eq!(body["logs"].as_array().expect("logs").len(), 3);
    assert_eq!(
        body["logs"][2]["i"],
        want[want.len() - 1],
        "the default lists the newest matches oldest first"
    );
    assert!(body["scanned_bytes"].as_u64().expect("cost reported") > 0);
}

#[test]
fn entries_without_rfc3339_timestamps_work_with_every_filter_but_time() {
    let c = Collector::start();
    let body = json!([
        {"service": "odd", "timestamp": "yesterday", "level": "error", "m": "x"},
        {"service": "odd", "timestamp": 12, "level": "info", "m": "y"}
    ]);
    assert_eq!(c.post_json(&body).0, 201);
    assert_eq!(c.get("/logs/odd?level=error").1["count"], 1);
    assert_eq!(c.get("/logs/odd?q=%22y%22").1["count"], 1);
    assert_eq!(c.get("/logs/odd?since=7d").1["count"], 0);
}

#[test]
fn several_services_merge_by_timestamp_and_services_are_listed() {
    let c = loaded();
    let (status, body) = c.get("/logs?service=a,b&limit=10000&level=error");
    assert_eq!(status, 200, "{body}");
    let got: Vec<u64> = body["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["i"].as_u64().expect("i"))
        .collect();
    let want: Vec<u64> = (0..600)
        .filter(|i| i % 3 != 2 && i % 5 == 4)
        .map(|i| i as u64)
        .collect();
    assert_eq!(got, want, "merged oldest first by timestamp");

    let walked = entry_numbers(
        &c.pages("/logs?service=a,b&level=error&limit=7&order=desc"),
        "i",
    );
    let mut desc = want;
    desc.reverse();
    assert_eq!(walked, desc);

    let (_, services) = c.get("/services");
    let names: Vec<&str> = services["services"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["service"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert!(services["services"][0]["bytes"].as_u64().expect("bytes") > 0);
    assert_eq!(
        services["services"][0]["last_timestamp"],
        "2026-11-20T09:57:00Z"
    );
}

#[test]
fn bad_parameters_get_400_naming_the_parameter() {
    let c = Collector::start();
    for (query, name) in [
        ("limit=0", "limit"),
        ("level=loud", "level"),
        ("since=tomorrowish", "since"),
        ("until=5x", "until"),
        ("order=sideways", "order"),
        ("cursor=zzz", "cursor"),
        ("order=asc&cursor=b12", "cursor"),
    ] {
        let (status, body) = c.get(&format!("/logs/a?{query}"));
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["parameter"], name, "{query}: {body}");
    }
    for query in ["nonsense=1", "field.=x", "field.a..b=1"] {
        let (status, body) = c.get(&format!("/logs/a?{query}"));
        assert_eq!(status, 400, "{query}");
        assert!(body["error"].is_string());
    }
    assert_eq!(c.get("/logs?service=a,../b").0, 400);
}

#[test]
fn exclusions_leave_out_exactly_what_they_name_on_every_endpoint() {
    let c = loaded();
    assert_eq!(ids(&c, "q!=timeout"), expected(|i| i % 7 != 0));
    assert_eq!(
        ids(&c, "q!=timeout&q!=event%201"),
        expected(|i| i % 7 != 0 && !i.to_string().starts_with('1')),
        "repeated exclusions all apply"
    );
    assert_eq!(ids(&c, "target!=shop::db"), expected(|i| i % 4 != 0));
    assert_eq!(
        ids(&c, "target!=shop::d"),
        expected(|_| true),
        "target exclusions match whole path segments"
    );
    assert_eq!(ids(&c, "field.user_id!=5"), expected(|i| i % 11 != 5));
    assert_eq!(
        ids(&c, "field.fields.cache!=hit&field.user_id=3"),
        expected(|i| i % 2 == 1 && i % 11 == 3)
    );
    assert_eq!(
        ids(&c, "field.no_such_key!=1"),
        expected(|_| true),
        "entries without the field are kept"
    );
    // Percent-encoded `!` (as browsers' URLSearchParams write it) is the same parameter.
    assert_eq!(ids(&c, "field.user_id%21=5"), expected(|i| i % 11 != 5));

    let (status, merged) = c.get("/logs?service=a,b&limit=10000&level=error&q!=timeout");
    assert_eq!(status, 200, "{merged}");
    let want = (0..600)
        .filter(|i| i % 3 != 2 && i % 5 == 4 && i % 7 != 0)
        .count();
    assert_eq!(merged["count"], want);

    let window = "since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z&bucket=1h";
    let (status, histogram) = c.get(&format!("/histogram?service=a&{window}&q!=timeout"));
    assert_eq!(status, 200, "{histogram}");
    assert_eq!(histogram["total"], expected(|i| i % 7 != 0).len());
    let (status, facets) = c.get(&format!(
        "/facets?service=a&{window}&field=user_id&field.user_id!=0&top=20"
    ));
    assert_eq!(status, 200, "{facets}");
    assert_eq!(facets["distinct"], 10, "user 0 left out: {facets}");
    assert_eq!(facets["entries"], expected(|i| i % 11 != 0).len());

    let (status, bad) = c.get("/logs/a?level!=error");
    assert_eq!(status, 400, "exclusions exist only where documented: {bad}");
}

#[test]
fn odd_values_elsewhere_in_an_entry_never_hide_it_from_a_filter() {
    let c = Collector::start();
    let body = concat!(
        r#"{"service":"odd","user":"u1","n":1e999999,"level":"error","timestamp":"2026-11-20T00:00:00Z"}"#,
        "\n",
        r#"{"service":"odd","user":"u1","n":1E400,"level":"error","timestamp":"2026-11-20T00:00:01Z"}"#,
        "\n",
        r#"{"service":"odd","user":"u1","s":"\ud800","level":"error","timestamp":"2026-11-20T00:00:02Z"}"#,
        "\n",
        r#"{"service":"odd","user":"u2","s":"\udfff","deep":{"x":[1e999999]},"level":"info","timestamp":"2026-11-20T00:00:03Z"}"#,
        "\n"
    );
    let (status, answer) = c.post_raw("application/x-ndjson", None, body.as_bytes().to_vec());
    assert_eq!(status, 201, "{answer}");
    for (query, count) in [
        ("field.user=u1", 3),
        ("field.user!=u1", 1),
        ("field.user=u2&field.deep.x=1", 0),
        ("level=error", 3),
        ("since=2026-11-20T00:00:01Z", 3),
        ("field.n=1e999999", 1),
        ("field.s=%5Cud800", 1),
    ] {
        // The answer holds the entries as stored, `1e999999` included, which the test's
        // own JSON parser refuses: read the count from the text.
        let answer = crate::support::http()
            .get(format!("{}/logs/odd?{query}", c.url))
            .send()
            .expect("query");
        assert_eq!(answer.status(), 200, "{query}");
        let text = answer.text().expect("body");
        assert!(
            text.starts_with(&format!(r#"{{"service":"odd","count":{count},"#)),
            "{query}: {text}"
        );
    }
}
