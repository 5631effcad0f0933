//! Benchmarks ClickHouse as forwarding target and query backend (issue 13) in one run and
//! prints a markdown table.
//!
//! ```text
//! cargo build --release -p estuary-collector
//! cargo run --release -p estuary-benches --bin bench_clickhouse -- [--entries N]
//! ```
//!
//! It starts a private `clickhouse-server` (Debian's 18.16) on free ports and the release
//! `estuary` on a temporary `LOG_DIR`, stores N entries (default 1,000,000) of 4 services
//! spread over the last 24 h through `POST /logs`, then measures:
//!
//! - (1) forwarding: the collector restarted on those files with `--clickhouse-url` and no
//!   checkpoint, from the spawn until `count()` reaches N, into a table of its own for each
//!   of three settings (the defaults, `--clickhouse-compression none`, and batches of
//!   10,000), with the CPU the collector and `clickhouse-server` spent per entry; baseline:
//!   the same rows (exported from the table as `JSONEachRow`) inserted from a file by
//!   `clickhouse-client` into a copy of the table, in the same run. Every phase starts once
//!   the server's merges of the previous one have finished;
//! - (2) queries: `limit=100` pages (one service, merged) and 24 h histograms (one service,
//!   all) from the files versus from ClickHouse (a second collector with
//!   `--query-backend clickhouse`), the median and slowest of 15 runs each.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;

use estuary_benches::process::{waited_children_cpu_time, Usage};
use estuary_test_support::{http, ClickHouseServer, Collector};

/// Entries per `POST /logs`.
const BATCH: u64 = 5_000;
/// Services the entries are spread over.
const SERVICES: u64 = 4;
/// Runs of each query.
const RUNS: usize = 15;
/// Forwarding gives up after this long without reaching N.
const FORWARD_LIMIT: Duration = Duration::from_secs(600);

/// Benchmark ClickHouse forwarding and queries; prints a markdown table.
#[derive(Debug, Parser)]
struct Args {
    /// Entries stored and forwarded.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Forward only with `--clickhouse-batch-entries` this (and `--clickhouse-batch-bytes`
    /// 512 bytes per entry of it) instead of the three settings.
    #[arg(long)]
    batch_entries: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.entries.div_ceil(BATCH) * BATCH;
    let server = ClickHouseServer::try_start().context("starting clickhouse-server")?;
    let db = server.database("bench");
    let dir = tempfile::tempdir()?;
    let mut files =
        Collector::try_start_in(dir.path(), estuary_test_support::free_port(), &[], &[]).context(
            "starting estuary (build it with cargo build --release -p estuary-collector)",
        )?;
    let started = Instant::now();
    load(&files, n)?;
    let ingest = started.elapsed();
    files.terminate();

    let forwarding = vec![
        "--clickhouse-url".to_owned(),
        server.url(),
        "--clickhouse-database".into(),
        db.clone(),
        "--collector-name".into(),
        "bench".into(),
    ];
    let port = files.addr().port();
    let mut variants: Vec<(String, Vec<String>)> = vec![
        ("defaults (gzip, batches of up to 100,000)".into(), vec![]),
        (
            "`--clickhouse-compression none`".into(),
            vec!["--clickhouse-compression".into(), "none".into()],
        ),
        (
            "batches of up to 10,000 (the other forwarders' default)".into(),
            vec![
                "--clickhouse-batch-entries".into(),
                "10000".into(),
                "--clickhouse-batch-bytes".into(),
                (4 << 20).to_string(),
            ],
        ),
    ];
    if let Some(batch) = args.batch_entries {
        variants = vec![(
            format!("batches of up to {batch}"),
            vec![
                "--clickhouse-batch-entries".into(),
                batch.to_string(),
                "--clickhouse-batch-bytes".into(),
                (batch * 512).to_string(),
            ],
        )];
    }
    let mut forwarded = Vec::new();
    for (i, (name, extra)) in variants.iter().enumerate() {
        let table = if i == 0 {
            "estuary_logs".to_owned()
        } else {
            format!("estuary_logs_{i}")
        };
        let mut flags = forwarding.clone();
        flags.extend(["--clickhouse-table".into(), table.clone()]);
        flags.extend(extra.iter().cloned());
        let run = forward(
            &server,
            dir.path(),
            port,
            &flags,
            &format!("{db}.{table}"),
            n,
        )?;
        forwarded.push((name.clone(), run));
    }
    let client = client_insert(&server, &db, n)?;
    let files = Collector::try_start_in(dir.path(), port, &[], &[])?;

    let mut reader_args = forwarding[..4]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>();
    reader_args.extend([
        "--query-backend",
        "clickhouse",
        "--collector-name",
        "reader",
    ]);
    let reader_dir = tempfile::tempdir()?;
    let reader = Collector::try_start_in(
        reader_dir.path(),
        estuary_test_support::free_port(),
        &reader_args,
        &[],
    )?;
    let queries = [
        ("`GET /logs/svc-1?limit=100`", "/logs/svc-1?limit=100"),
        (
            "`GET /logs?limit=100` (4 services merged)",
            "/logs?limit=100",
        ),
        (
            "`GET /logs/svc-1?limit=100&level=error`",
            "/logs/svc-1?limit=100&level=error",
        ),
        (
            "`GET /histogram?service=svc-1` (24 h, 100 buckets)",
            "/histogram?service=svc-1",
        ),
        ("`GET /histogram` (24 h, all services)", "/histogram"),
    ];
    println!("## ClickHouse: forwarding and queries, {n} entries\n");
    println!("| what | estuary | baseline | ratio |");
    println!("|---|---|---|---|");
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let micros_each = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "| store {n} entries (`POST /logs`, NDJSON, 2 connections) | {:.0} entries/s | | |",
        rate(ingest)
    );
    println!(
        "| `clickhouse-client` inserting the same rows from a file into a copy of the table (after merges settled) | {:.0} entries/s ({:.1} s) | | |",
        rate(client.wall),
        client.wall.as_secs_f64()
    );
    for (name, run) in &forwarded {
        println!(
            "| forward into ClickHouse, {name} (spawn → `count()` = N) | {:.0} entries/s ({:.1} s) | {:.2}× the client | CPU per entry: forwarder {:.2} µs, clickhouse-server {:.2} µs |",
            rate(run.wall),
            run.wall.as_secs_f64(),
            client.wall.as_secs_f64() / run.wall.as_secs_f64(),
            micros_each(run.collector),
            micros_each(run.server),
        );
    }
    println!(
        "| (the client's run: CPU per entry clickhouse-client + clickhouse-server) | | | {:.2} µs + {:.2} µs |",
        micros_each(client.collector),
        micros_each(client.server),
    );
    println!("\n| query (median / slowest of {RUNS}) | files | ClickHouse |");
    println!("|---|---|---|");
    for (name, path) in queries {
        let (f, c) = (latency(&files, path)?, latency(&reader, path)?);
        println!(
            "| {name} | {:.1} / {:.1} ms | {:.1} / {:.1} ms |",
            f.0, f.1, c.0, c.1
        );
    }
    Ok(())
}

/// Stores `n` entries of [`SERVICES`] services, spread over the last 24 h, oldest first.
fn load(collector: &Collector, n: u64) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let day: i128 = 86_400 * 1_000_000_000;
    let step = day / n as i128;
    let batches: Vec<u64> = (0..n / BATCH).collect();
    let url = format!("{}/logs", collector.url);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = batches
            .chunks(batches.len().div_ceil(2))
            .map(|mine| {
                let url = url.clone();
                scope.spawn(move || -> anyhow::Result<()> {
                    let client = http();
                    for &batch in mine {
                        let mut body = Vec::with_capacity(BATCH as usize * 260);
                        for i in batch * BATCH..(batch + 1) * BATCH {
                            let ts = now - day + i as i128 * step;
                            entry(&mut body, i, ts)?;
                        }
                        let answer = client
                            .post(&url)
                            .header("content-type", "application/x-ndjson")
                            .body(body)
                            .send()?;
                        ensure!(
                            answer.status().as_u16() == 201,
                            "POST /logs: {}",
                            answer.status()
                        );
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("loader panicked"))??;
        }
        Ok(())
    })
}

/// One NDJSON line of about 250 bytes.
fn entry(out: &mut Vec<u8>, i: u64, ts: i128) -> anyhow::Result<()> {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(ts)?
        .format(&time::format_description::well_known::Rfc3339)?;
    let level = ["debug", "info", "info", "info", "warn", "error"][(i % 6) as usize];
    writeln!(
        out,
        r#"{{"service":"svc-{}","timestamp":"{time}","level":"{level}","target":"shop::http","message":"GET /api/orders/{} answered 200 in {} ms","trace_id":"{:032x}","fields":{{"user_id":"u{}","status":200}}}}"#,
        i % SERVICES + 1,
        i % 10_000,
        i % 97,
        i * 7919,
        i % 1_000
    )?;
    Ok(())
}

fn count(server: &ClickHouseServer, table: &str) -> u64 {
    server
        .query(&format!("SELECT count() FROM {table}"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// A timed run and the CPU each side used.
struct Run {
    wall: Duration,
    /// The collector (forwarding) or `clickhouse-client`.
    collector: Duration,
    /// `clickhouse-server`.
    server: Duration,
}

/// Starts the collector on `dir` with `flags` and no forwarding checkpoint, and times it
/// until `table` holds `n` rows; stops it then, and waits for the server's merges.
fn forward(
    server: &ClickHouseServer,
    dir: &std::path::Path,
    port: u16,
    flags: &[String],
    table: &str,
    n: u64,
) -> anyhow::Result<Run> {
    let _ = std::fs::remove_dir_all(dir.join(".forward"));
    let server_cpu = server.cpu_time()?;
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let spawned = Instant::now();
    let mut collector = Collector::try_start_in(dir, port, &args, &[])?;
    let deadline = spawned + FORWARD_LIMIT;
    while count(server, table) < n {
        ensure!(Instant::now() < deadline, "forwarding did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = Run {
        wall: spawned.elapsed(),
        collector: collector.cpu_time()?,
        server: server.cpu_time()? - server_cpu,
    };
    collector.terminate();
    settle(server)?;
    Ok(run)
}

/// Waits until the server has no merge running, so that the next phase does not pay for
/// the last one's parts.
fn settle(server: &ClickHouseServer) -> anyhow::Result<()> {
    let deadline = Instant::now() + FORWARD_LIMIT;
    while server.exec("SELECT count() FROM system.merges").trim() != "0" {
        ensure!(Instant::now() < deadline, "merges did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Exports the forwarded rows to a file and times `clickhouse-client` inserting them into
/// a copy of the table.
fn client_insert(server: &ClickHouseServer, db: &str, n: u64) -> anyhow::Result<Run> {
    let path = server.dir().join("rows.json");
    let columns = "ts, ns, service, severity, level, target, message, trace_id, span_id, \
                   attr_keys, attr_values, line, collector, stream_offset";
    let mut answer = http()
        .post(server.url())
        .timeout(Duration::from_secs(600))
        .body(format!(
            "SELECT {columns} FROM {db}.estuary_logs FORMAT JSONEachRow"
        ))
        .send()?;
    let mut file = std::fs::File::create(&path)?;
    answer.copy_to(&mut file)?;
    drop(file);
    server.exec(&format!(
        "CREATE TABLE {db}.client_copy AS {db}.estuary_logs"
    ));
    settle(server)?;
    let (client_cpu, server_cpu) = (waited_children_cpu_time()?, server.cpu_time()?);
    let started = Instant::now();
    let status = Command::new("clickhouse-client")
        .args(["--port", &server.tcp_port.to_string()])
        .args([
            "--query",
            &format!("INSERT INTO {db}.client_copy FORMAT JSONEachRow"),
        ])
        .stdin(std::fs::File::open(&path)?)
        .stdout(Stdio::null())
        .status()
        .context("running clickhouse-client (is it installed? .ci/run installs it)")?;
    let wall = started.elapsed();
    ensure!(status.success(), "clickhouse-client failed");
    ensure!(
        count(server, &format!("{db}.client_copy")) == n,
        "client rows"
    );
    Ok(Run {
        wall,
        collector: waited_children_cpu_time()? - client_cpu,
        server: server.cpu_time()? - server_cpu,
    })
}

fn latency(collector: &Collector, path: &str) -> anyhow::Result<(f64, f64)> {
    let client = http();
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..=RUNS {
        let started = Instant::now();
        let answer = client.get(format!("{}{path}", collector.url)).send()?;
        ensure!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.bytes()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    // The first run warms caches; it is left out.
    times.remove(0);
    times.sort_by(f64::total_cmp);
    Ok((times[RUNS / 2], times[RUNS - 1]))
}
