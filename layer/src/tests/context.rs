//! Where an entry came from: records of the `log` crate keep their real location, and with
//! the `opentelemetry` feature entries carry the span's trace context.

use super::capture;

#[test]
fn records_from_the_log_crate_keep_their_real_target_module_file_and_line() {
    let (lines, _, _) = capture(
        |b| b,
        || {
            tracing_log::format_trace(
                &log::Record::builder()
                    .args(format_args!("legacy says {}", 1))
                    .level(log::Level::Warn)
                    .target("legacy::db")
                    .module_path_static(Some("legacy::db"))
                    .file_static(Some("src/db.rs"))
                    .line(Some(42))
                    .build(),
            )
            .unwrap();
        },
    );
    let line = &lines[0];
    assert_eq!(line["target"], "legacy::db");
    assert_eq!(line["module_path"], "legacy::db");
    assert_eq!(line["file"], "src/db.rs");
    assert_eq!(line["line"], 42);
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["message"], "legacy says 1");
    assert_eq!(line["fields"], serde_json::json!({}), "no log.* fields");
}

#[cfg(not(feature = "opentelemetry"))]
#[test]
fn without_the_feature_there_is_no_trace_context() {
    let (lines, _, _) = capture(
        |b| b,
        || tracing::info_span!("s").in_scope(|| tracing::info!("x")),
    );
    assert!(lines[0].get("trace_id").is_none());
}

#[cfg(feature = "opentelemetry")]
#[test]
fn entries_carry_the_opentelemetry_trace_and_span_ids_of_the_current_span() {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::prelude::*;

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let server = super::TestServer::start();
    let (layer, guard) = crate::Builder::new("unit-test")
        .endpoint(&server.url)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(layer);
    let mut expected = (String::new(), String::new());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside");
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let cx = span.context();
        let context = cx.span().span_context().clone();
        expected = (
            context.trace_id().to_string(),
            context.span_id().to_string(),
        );
        tracing::info!("inside");
    });
    guard.shutdown().unwrap();
    let lines = server.json();
    let outside = lines.iter().find(|l| l["message"] == "outside").unwrap();
    assert!(outside.get("trace_id").is_none());
    let inside = lines.iter().find(|l| l["message"] == "inside").unwrap();
    assert_eq!(inside["trace_id"], expected.0);
    assert_eq!(inside["span_id"], expected.1);
    assert_eq!(expected.0.len(), 32);
}
