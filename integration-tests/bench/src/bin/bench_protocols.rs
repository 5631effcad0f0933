//! Benchmarks OTLP/HTTP ingestion beside NDJSON carrying the same entries, in one run, and
//! prints a markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_protocols -- [--quick]
//! ```
//!
//! It starts `target/release/estuary serve` on a free port with a temporary `LOG_DIR`, and
//! measures entries per second over 4 keep-alive connections, 1,000 entries per request:
//! NDJSON `POST /logs` (the baseline), OTLP protobuf `POST /v1/logs` (the target: at least
//! 0.7× NDJSON), and OTLP JSON. The three bodies hold the same entries (service, timestamp,
//! level, message of ~120 bytes, four attributes); the phases are interleaved twice
//! (NDJSON, protobuf, JSON, NDJSON, protobuf, JSON) and averaged, so drift in the machine's
//! load hits all of them alike. Below the table: the collector's CPU time per entry in each
//! phase and its peak RSS over the run.

use std::time::Duration;

use anyhow::{ensure, Context};
use clap::Parser;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use estuary_benches::http::{self, Conn, Request};
use estuary_benches::load::{self, Window};
use estuary_benches::process::Usage as _;
use estuary_benches::report::{self, Row};
use estuary_benches::run::Run;
use estuary_test_support::{free_port, Collector};

/// Connections, as in `bench_collector` (b).
const CONNECTIONS: usize = 4;
/// Entries per request, as in `bench_collector` (b).
const ENTRIES: usize = 1_000;
/// The OTLP target, relative to NDJSON.
const TARGET_RATIO: f64 = 0.7;
/// 2026-11-25T16:01:43.123456Z in unix nanoseconds.
const TIME_NANOS: u64 = 1_795_622_503_123_456_000;
/// The message every entry carries (about what `bench_collector`'s entries carry).
const MESSAGE: &str = "checkout completed for basket with three items after payment \
    authorisation and stock reservation";

/// Benchmark OTLP/HTTP ingestion against NDJSON; prints a markdown table.
#[derive(Debug, Parser)]
struct Args {
    /// Short phases (2 s instead of 5 s).
    #[arg(long)]
    quick: bool,
    /// Where to create the temporary log directory (default: the system's temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let measure = Duration::from_secs(if args.quick { 2 } else { 5 });
    let run = Run::start("bench_protocols", args.dir.as_deref())?;
    let log_dir = run.log_dir()?;
    let collector = Collector::try_start_in(&log_dir, free_port(), &[], &[])?;
    let addr = collector.addr();
    let otlp = otlp_request();
    let phases = [
        (
            "NDJSON `POST /logs`",
            http::post(addr, "/logs", "application/x-ndjson", &ndjson()),
            201,
        ),
        (
            "OTLP protobuf `POST /v1/logs`",
            http::post(
                addr,
                "/v1/logs",
                "application/x-protobuf",
                &otlp.encode_to_vec(),
            ),
            200,
        ),
        (
            "OTLP JSON `POST /v1/logs`",
            http::post(
                addr,
                "/v1/logs",
                "application/json",
                &serde_json::to_vec(&otlp)?,
            ),
            200,
        ),
    ];
    for (name, request, status) in &phases {
        run.runtime
            .block_on(check(addr, request, *status))
            .with_context(|| format!("checking {name}"))?;
    }
    let mut per_sec = [0.0f64; 3];
    // Collector CPU per entry: steadier than throughput when other work shares the machine.
    let mut cpu_per_entry = [0.0f64; 3];
    for round in 0..2 {
        for (i, (name, request, status)) in phases.iter().enumerate() {
            eprintln!("bench_protocols: round {} {name}…", round + 1);
            let window = Window::after(Duration::from_millis(300), measure);
            let requests = vec![request.clone(); CONNECTIONS];
            let cpu_before = collector.cpu_time()?;
            let tally = run
                .runtime
                .block_on(load::closed_loop(addr, requests, *status, window));
            let cpu = collector.cpu_time()?.saturating_sub(cpu_before);
            ensure!(
                tally.errors == 0,
                "{name}: {} errors, first {:?}",
                tally.errors,
                tally.first_error
            );
            per_sec[i] += (tally.ok * ENTRIES as u64) as f64 / measure.as_secs_f64() / 2.0;
            // Warm-up answers are included in `ok_total`, as the CPU time covers the warm-up too.
            cpu_per_entry[i] +=
                cpu.as_secs_f64() * 1e9 / (tally.ok_total * ENTRIES as u64) as f64 / 2.0;
        }
    }
    let ratio = |i: usize| per_sec[i] / per_sec[0];
    let rows = [
        Row {
            metric: phases[1].0.into(),
            estuary: format!("{} entries/s ({:.2}×)", report::count(per_sec[1]), ratio(1)),
            baseline: format!("{} entries/s NDJSON", report::count(per_sec[0])),
            target: "≥ 0.7× NDJSON",
            met: Some(ratio(1) >= TARGET_RATIO),
            peers: "—",
        },
        Row {
            metric: phases[2].0.into(),
            estuary: format!("{} entries/s ({:.2}×)", report::count(per_sec[2]), ratio(2)),
            baseline: format!("{} entries/s NDJSON", report::count(per_sec[0])),
            target: "—",
            met: None,
            peers: "—",
        },
    ];
    println!("{}", report::table(&rows));
    println!(
        "Collector CPU per entry: NDJSON {:.0} ns, OTLP protobuf {:.0} ns ({:.2}× NDJSON's entries per CPU-second), OTLP JSON {:.0} ns ({:.2}×).",
        cpu_per_entry[0], cpu_per_entry[1], cpu_per_entry[0] / cpu_per_entry[1], cpu_per_entry[2], cpu_per_entry[0] / cpu_per_entry[2]
    );
    // The whole run's peak (all three phases): what an allocator or a buffer change costs.
    println!(
        "Collector peak RSS (VmHWM) over the run: {:.1} MiB.",
        collector.peak_rss_kib()? as f64 / 1024.0
    );
    println!("{CONNECTIONS} connections, {ENTRIES} entries per request, {} s per phase, two interleaved rounds averaged. {}", measure.as_secs(), run.machine().note("the load generator and the collector share the machine"));
    Ok(())
}

/// Sends `request` once and checks the answer, so the phase measures what it claims to.
async fn check(addr: std::net::SocketAddr, request: &Request, status: u16) -> anyhow::Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let reply = conn.send(request).await?;
    ensure!(
        reply.status == status,
        "answered {}: {}",
        reply.status,
        String::from_utf8_lossy(reply.body)
    );
    ensure!(
        !String::from_utf8_lossy(reply.body).contains("partialSuccess"),
        "records were refused"
    );
    Ok(())
}

/// The NDJSON body: what the OTLP mapping stores for [`otlp_request`], entry for entry.
fn ndjson() -> Vec<u8> {
    let mut out = String::new();
    for seq in 0..ENTRIES {
        out.push_str(&format!(
            "{{\"timestamp\":\"2026-11-25T16:01:43.123456000Z\",\"service\":\"bench-ndjson\",\"level\":\"INFO\",\
             \"message\":\"{MESSAGE}\",\"fields\":{{\"target\":\"shop::orders\",\"seq\":{seq},\
             \"order_id\":\"o-{seq:08}\",\"total_cents\":12999}}}}\n"
        ));
    }
    out.into_bytes()
}

fn otlp_request() -> ExportLogsServiceRequest {
    let kv = |key: &str, value: Value| KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    };
    let records = (0..ENTRIES as i64)
        .map(|seq| LogRecord {
            time_unix_nano: TIME_NANOS,
            severity_number: 9,
            body: Some(AnyValue {
                value: Some(Value::StringValue(MESSAGE.into())),
            }),
            attributes: vec![
                kv("target", Value::StringValue("shop::orders".into())),
                kv("seq", Value::IntValue(seq)),
                kv("order_id", Value::StringValue(format!("o-{seq:08}"))),
                kv("total_cents", Value::IntValue(12_999)),
            ],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::StringValue("bench-otlp".into()))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
