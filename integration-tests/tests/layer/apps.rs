//! Real programs using the layer (`fixtures/layer_app_*.rs`), run as child processes.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::Collector;

fn run(bin: &str, args: &[&str], collector: &Collector, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("ESTUARY_URL", &collector.url)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the app");
    assert!(
        out.status.success(),
        "{bin} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_plain_main_app_delivers_every_event_with_exact_spans_and_fields_on_exit() {
    let collector = Collector::start();
    run(env!("CARGO_BIN_EXE_layer_app_plain"), &[], &collector, &[]);
    // No waiting: the app has exited, so its guard already delivered everything.
    let lines = collector.lines("layer-plain");
    let events: Vec<&Value> = lines.iter().filter(|l| l["fields"]["i"].is_u64()).collect();
    let order: Vec<u64> = events
        .iter()
        .map(|l| l["fields"]["i"].as_u64().unwrap())
        .collect();
    assert_eq!(
        order,
        (0..10_000).collect::<Vec<_>>(),
        "all 10,000, in order, once"
    );
    assert_eq!(lines.len(), 10_001, "plus the helper thread's event");

    let job = json!({"name": "job", "job_id": 7, "kind": "import"});
    let batch = json!({"name": "batch", "index": 3, "size": 250});
    let e = events[5];
    assert_eq!(e["message"], "event 5");
    assert_eq!(e["level"], "INFO");
    assert_eq!(e["service"], "layer-plain");
    assert_eq!(e["target"], "layer_app_plain");
    assert_eq!(
        e["fields"],
        json!({"i": 5, "even": false, "ratio": 0.5, "label": "quote \" and ✓"})
    );
    assert_eq!(e["spans"], json!([job, batch]));
    assert_eq!(e["span"], batch);
    assert_eq!(e["thread_name"], "main");
    assert_eq!(e["file"], "integration-tests/fixtures/layer_app_plain.rs");
    assert!(e["line"].is_u64() && e["pid"].is_u64() && e["host"].is_string());
    assert!(e["timestamp"].as_str().unwrap().ends_with('Z'));

    let helper = lines
        .iter()
        .find(|l| l["message"] == "helper thread")
        .unwrap();
    assert_eq!(helper["spans"], json!([job, batch]));
    assert_eq!(helper["fields"], json!({"from": "helper"}));
    assert_ne!(helper["thread_id"], e["thread_id"]);
}

#[test]
fn tokio_apps_deliver_from_tasks_and_blocking_threads_in_both_flavors() {
    let collector = Collector::start();
    for flavor in ["multi", "current"] {
        let service = format!("layer-tokio-{flavor}");
        let env = [
            ("LAYER_APP_SERVICE", service.as_str()),
            ("LAYER_APP_EVENTS", "2000"),
        ];
        run(
            env!("CARGO_BIN_EXE_layer_app_tokio"),
            &[flavor],
            &collector,
            &env,
        );
        let lines = collector.lines(&service);
        assert_eq!(lines.len(), 2_001, "{flavor}");
        for task in 0..4 {
            let n = lines.iter().filter(|l| l["span"]["task"] == task).count();
            assert_eq!(n, 500, "{flavor}: task {task}");
        }
        let blocking = lines
            .iter()
            .find(|l| l["message"] == "from a blocking thread")
            .unwrap();
        let expected = if flavor == "multi" {
            "multi_thread"
        } else {
            "current_thread"
        };
        assert_eq!(blocking["fields"]["flavor"], expected);
    }
}

#[test]
fn no_feedback_loop_with_rust_log_trace() {
    let collector = Collector::start();
    let env = [("RUST_LOG", "trace"), ("LAYER_APP_EVENTS", "200")];
    let out = run(env!("CARGO_BIN_EXE_layer_app_plain"), &[], &collector, &env);
    let lines = collector.lines("layer-plain");
    // Exactly the app's own events: nothing from reqwest, hyper, h2 or the layer's worker
    // (which would also multiply without end if they fed back).
    assert_eq!(lines.len(), 201);
    let foreign: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] != "layer_app_plain")
        .collect();
    assert!(foreign.is_empty(), "{foreign:?}");
    assert_eq!(collector.files(), ["layer-plain.log"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("tracing-estuary"), "{stderr}");
}
