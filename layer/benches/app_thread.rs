//! Cost of logging on the application's thread, per event, for tracing-estuary beside the
//! `tracing-subscriber` JSON formatter (to `io::sink()`, and through
//! `tracing_appender::non_blocking`), plus how many events reached their destination and
//! the process's peak RSS.
//!
//! Run: `cargo bench -p tracing-estuary --bench app_thread`
//! (`ESTUARY_BENCH_EVENTS=N` sets the events per thread, default 200,000;
//! `ESTUARY_BENCH_QUEUE_MIB=N` the estuary rows' `queue_max_bytes`, default the layer's.
//! One child: `ESTUARY_BENCH_CHILD="estuary A 2 200000" <this binary>`; add
//! `ESTUARY_BENCH_THREADS=1` for each thread's CPU and run-queue wait over the burst, and
//! `ESTUARY_BENCH_TIMELINE=1` for the queue's fill every 2 ms.)
//!
//! Each measurement runs in a child process (this binary re-executed) so peak RSS and
//! global subscribers do not leak between contenders. The workload is an event with five
//! fields inside two nested spans with fields; variant A enters the spans once per 100
//! events, variant B creates both spans for every event. Thread CPU time is what the
//! application's thread spent; wall time includes waiting for the CPU (2 cores shared with
//! the worker and, for estuary, the in-process counting HTTP server).

use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_subscriber::prelude::*;

const CHILD_ENV: &str = "ESTUARY_BENCH_CHILD";
/// Overrides the layer's `queue_max_bytes` (in MiB) to chart memory against delivery.
const QUEUE_MIB_ENV: &str = "ESTUARY_BENCH_QUEUE_MIB";
/// Set (to anything): a child also prints each thread's CPU time and run-queue wait during
/// the burst (from `schedstat`), how long the drain after it took, and what the stand-in
/// received (requests and bytes, gzipped or not).
const THREADS_ENV: &str = "ESTUARY_BENCH_THREADS";
/// Set (with [`THREADS_ENV`]): also the queue's fill, the drops, the requests and the lines
/// counted, every 2 ms of the burst.
const TIMELINE_ENV: &str = "ESTUARY_BENCH_TIMELINE";
/// `estuary` is the layer's defaults (drop newest once memory and the spill file are
/// full); `estuary-nospill` the same without a spill file (the default before it), and
/// `estuary-block` that with `Overflow::Block`.
const CONTENDERS: [&str; 6] = [
    "no-layer",
    "fmt-json-sink",
    "fmt-json-nonblocking",
    "estuary",
    "estuary-nospill",
    "estuary-block",
];

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(spec) => child(&spec),
        Err(_) => parent(),
    }
}

fn parent() {
    let events: u64 = std::env::var("ESTUARY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let exe = std::env::current_exe().expect("current_exe");
    println!("events per thread: {events}; ns/event = thread CPU time (wall time) per event on each app thread\n");
    println!("| layer | variant | threads | CPU ns/event | wall ns/event | vs fmt-json CPU | delivered | spilled | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for variant in ["A", "B"] {
        for threads in [1, 2] {
            let mut baseline = None;
            for contender in CONTENDERS {
                let spec = format!("{contender} {variant} {threads} {events}");
                let out = Command::new(&exe)
                    .env(CHILD_ENV, &spec)
                    .output()
                    .expect("child");
                let text = String::from_utf8_lossy(&out.stdout);
                let Some(line) = text.lines().find(|l| l.starts_with("RESULT")) else {
                    eprintln!("{spec} failed: {}", String::from_utf8_lossy(&out.stderr));
                    continue;
                };
                let f: Vec<&str> = line.split_whitespace().collect();
                let (cpu, wall): (f64, f64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
                let (delivered, total, rss_kib, spilled): (u64, u64, u64, u64) = (
                    f[3].parse().unwrap(),
                    f[4].parse().unwrap(),
                    f[5].parse().unwrap(),
                    f[6].parse().unwrap(),
                );
                if contender == "fmt-json-sink" {
                    baseline = Some(cpu);
                }
                let ratio = baseline.map_or("—".into(), |b| format!("{:.2}×", cpu / b));
                let delivered = match contender {
                    "no-layer" => "—".to_string(),
                    "fmt-json-sink" => "synchronous".to_string(),
                    _ => format!(
                        "{:.1}% ({delivered}/{total})",
                        100.0 * delivered as f64 / total as f64
                    ),
                };
                let spilled = match contender {
                    "estuary" => format!("{:.1}%", 100.0 * spilled as f64 / total as f64),
                    _ => "—".to_string(),
                };
                println!(
                    "| {contender} | {variant} | {threads} | {cpu:.0} | {wall:.0} | {ratio} | {delivered} | {spilled} | {:.1} MiB |",
                    rss_kib as f64 / 1024.0
                );
            }
        }
    }
}

/// The workload: `events` events per thread, spans per variant.
fn workload(variant: &str, events: u64) {
    if variant == "A" {
        let mut i = 0;
        while i < events {
            let outer = tracing::info_span!("request", method = "GET", request_id = i);
            let _o = outer.enter();
            let inner = tracing::info_span!("db", table = "orders", shard = 3u32);
            let _i = inner.enter();
            for _ in 0..100.min(events - i) {
                event(i);
                i += 1;
            }
        }
    } else {
        for i in 0..events {
            let outer = tracing::info_span!("request", method = "GET", request_id = i);
            let _o = outer.enter();
            let inner = tracing::info_span!("db", table = "orders", shard = 3u32);
            let _i = inner.enter();
            event(i);
        }
    }
}

#[inline(never)]
fn event(i: u64) {
    tracing::info!(
        user_id = i,
        latency_ms = 12.5f64,
        path = "/api/orders",
        ok = true,
        attempt = 3u8,
        "request handled"
    );
}

/// A writer that counts the lines reaching it (the destination of the non-blocking writer).
#[derive(Clone)]
struct CountingSink(Arc<AtomicU64>);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = memchr::memchr_iter(b'\n', buf).count() as u64;
        self.0.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn child(spec: &str) {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let (contender, variant) = (parts[0], parts[1]);
    let threads: u64 = parts[2].parse().unwrap();
    let events: u64 = parts[3].parse().unwrap();
    let counted = Arc::new(AtomicU64::new(0));
    let mut finish: Box<dyn FnOnce()> = Box::new(|| {});
    let mut handle = None;
    match contender {
        "no-layer" => tracing_subscriber::registry().init(),
        "fmt-json-sink" => tracing_subscriber::registry()
            .with(json_layer(std::io::sink))
            .init(),
        "fmt-json-nonblocking" => {
            let (writer, guard) = tracing_appender::non_blocking(CountingSink(counted.clone()));
            tracing_subscriber::registry()
                .with(json_layer(writer))
                .init();
            finish = Box::new(move || drop(guard));
        }
        "estuary" | "estuary-nospill" | "estuary-block" => {
            let url = counting_server(counted.clone());
            let mut builder = tracing_estuary::Builder::new("bench");
            if contender != "estuary" {
                builder = builder.spill_max_bytes(0);
            }
            if contender == "estuary-block" {
                builder = builder.overflow(tracing_estuary::Overflow::Block);
            }
            if let Some(mib) = std::env::var(QUEUE_MIB_ENV)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
            {
                builder = builder.queue_max_bytes(mib * 1024 * 1024);
            }
            let (layer, guard) = builder
                .endpoint(url)
                .flush_timeout(Duration::from_secs(60))
                .build()
                .expect("layer");
            tracing_subscriber::registry().with(layer).init();
            handle = Some(guard.handle());
            finish = Box::new(move || {
                if let Err(e) = guard.shutdown() {
                    eprintln!("shutdown: {e}");
                }
            });
        }
        other => panic!("unknown contender {other}"),
    }
    let verbose = std::env::var_os(THREADS_ENV).is_some();
    let start = verbose.then(thread_times);
    let app_times = std::sync::Mutex::new(Vec::new());
    let burst_start = Instant::now();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let timeline = (verbose && std::env::var_os(TIMELINE_ENV).is_some())
        .then(|| {
            let (handle, counted, sampling) = (handle.clone()?, counted.clone(), sampling.clone());
            Some(std::thread::spawn(move || {
                let mut rows = Vec::new();
                while sampling.load(Ordering::Relaxed) {
                    let s: tracing_estuary::Stats = handle.stats();
                    rows.push((
                        burst_start.elapsed(),
                        s.queued_bytes,
                        s.dropped_queue_full,
                        s.requests,
                        counted.load(Ordering::Relaxed),
                    ));
                    std::thread::sleep(Duration::from_millis(2));
                }
                rows
            }))
        })
        .flatten();
    let results: Vec<(Duration, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                std::thread::Builder::new()
                    .name(format!("app-{t}"))
                    .spawn_scoped(s, || {
                        let sched = verbose.then(own_times);
                        let cpu = cpu_time::ThreadTime::now();
                        let wall = Instant::now();
                        workload(variant, events);
                        if let Some((c0, w0)) = sched {
                            let (c1, w1) = own_times();
                            app_times.lock().unwrap().push((c1 - c0, w1 - w0));
                        }
                        (cpu.elapsed(), wall.elapsed())
                    })
                    .unwrap()
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let burst = burst_start.elapsed();
    sampling.store(false, Ordering::Relaxed);
    if let Some(t) = timeline {
        for (at, queued, dropped, requests, counted) in t.join().unwrap() {
            println!(
                "T {:6.1} ms queued {:6.2} MiB dropped {dropped:6} requests {requests:4} counted {counted:6}",
                at.as_secs_f64() * 1e3,
                queued as f64 / 1048576.0
            );
        }
    }
    let after_burst = verbose.then(thread_times);
    let counted_at_burst = counted.load(Ordering::Relaxed);
    finish();
    let drain = burst_start.elapsed() - burst;
    if let (Some(start), Some(mid)) = (start, after_burst) {
        println!(
            "BURST {:.1} ms, {counted_at_burst} lines counted by then; DRAIN {:.1} ms",
            burst.as_secs_f64() * 1e3,
            drain.as_secs_f64() * 1e3
        );
        for (t, (cpu, wait)) in app_times.lock().unwrap().iter().enumerate() {
            println!(
                "THREAD app-{t:<12} burst cpu {:7.1} ms wait {:7.1} ms",
                *cpu as f64 / 1e6,
                *wait as f64 / 1e6
            );
        }
        for (name, (cpu, wait)) in &mid {
            let (c0, w0) = start.get(name).copied().unwrap_or((0, 0));
            println!(
                "THREAD {name:<16} burst cpu {:7.1} ms wait {:7.1} ms",
                (cpu - c0) as f64 / 1e6,
                (wait - w0) as f64 / 1e6
            );
        }
        let r = &RECEIVED;
        println!(
            "RECEIVED gzip {} requests {} bytes; plain {} requests {} bytes",
            r[0].load(Ordering::Relaxed),
            r[1].load(Ordering::Relaxed),
            r[2].load(Ordering::Relaxed),
            r[3].load(Ordering::Relaxed)
        );
    }
    let total = events * threads;
    // The server counts asynchronously to the 201s it sent; give stragglers a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while counted.load(Ordering::Relaxed) < total
        && Instant::now() < deadline
        && contender.starts_with("estuary")
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let cpu_ns = results.iter().map(|r| r.0.as_nanos() as f64).sum::<f64>() / (total as f64);
    let wall_ns = results
        .iter()
        .map(|r| r.1.as_nanos() as f64)
        .fold(0.0, f64::max)
        / events as f64;
    let delivered = match contender {
        "fmt-json-sink" | "no-layer" => total,
        _ => counted.load(Ordering::Relaxed),
    };
    let spilled = handle.map_or(0, |h| h.stats().spilled);
    println!(
        "RESULT {cpu_ns:.1} {wall_ns:.1} {delivered} {total} {} {spilled}",
        peak_rss_kib()
    );
}

fn json_layer<W>(writer: W) -> impl tracing_subscriber::Layer<tracing_subscriber::Registry>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(writer)
}

/// What the stand-in received: gzip requests, their bytes, plain requests, their bytes.
static RECEIVED: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// A thread's (CPU time, run-queue wait) in ns from its `schedstat` file (zeros if unreadable).
fn schedstat(path: &std::path::Path) -> (u64, u64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut f = text
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    (f.next().unwrap_or(0), f.next().unwrap_or(0))
}

/// This thread's (CPU time, run-queue wait) in ns.
fn own_times() -> (u64, u64) {
    schedstat("/proc/thread-self/schedstat".as_ref())
}

/// Each live thread's (CPU time, run-queue wait) in ns by name (`/proc/self/task/*/schedstat`;
/// threads of one name are summed). The app threads have exited by the second snapshot: they
/// report their own through [`own_times`].
fn thread_times() -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut times = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let (cpu, wait) = schedstat(&path.join("schedstat"));
        let e: &mut (u64, u64) = times.entry(name.trim().to_string()).or_default();
        e.0 += cpu;
        e.1 += wait;
    }
    times
}

/// Peak resident set size (`VmHWM`) in KiB.
fn peak_rss_kib() -> u64 {
    let mut status = String::new();
    let _ =
        std::fs::File::open("/proc/self/status").and_then(|mut f| f.read_to_string(&mut status));
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A real HTTP server on its own thread that decodes gzip NDJSON and counts the lines, with
/// the collector's 10 MiB body limit.
fn counting_server(counted: Arc<AtomicU64>) -> String {
    use axum::{body::Bytes, http::HeaderMap, http::StatusCode, routing::post, Router};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("counting-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route(
                        "/logs",
                        post(move |headers: HeaderMap, body: Bytes| {
                            let counted = counted.clone();
                            async move {
                                let gunzipped;
                                let gz =
                                    headers.get("content-encoding").is_some_and(|v| v == "gzip");
                                let slot = if gz { 0 } else { 2 };
                                RECEIVED[slot].fetch_add(1, Ordering::Relaxed);
                                RECEIVED[slot + 1].fetch_add(body.len() as u64, Ordering::Relaxed);
                                let text: &[u8] = if gz {
                                    let mut buf = Vec::with_capacity(body.len() * 8);
                                    flate2::read::GzDecoder::new(&body[..])
                                        .read_to_end(&mut buf)
                                        .unwrap();
                                    gunzipped = buf;
                                    &gunzipped
                                } else {
                                    &body
                                };
                                // Drop reports are not the benchmark's events.
                                let reports = memchr::memmem::find_iter(
                                    text,
                                    b"\"target\":\"tracing_estuary\"",
                                )
                                .count();
                                let n = (memchr::memchr_iter(b'\n', text).count() - reports) as u64;
                                counted.fetch_add(n, Ordering::Relaxed);
                                (
                                    StatusCode::CREATED,
                                    format!("{{\"status\":\"logged\",\"accepted\":{n}}}"),
                                )
                            }
                        }),
                    )
                    // The collector's body limit (axum's default is 2 MB).
                    .layer(axum::extract::DefaultBodyLimit::max(10 * 1024 * 1024));
                axum::serve(listener, app).await.unwrap();
            });
        })
        .unwrap();
    format!("http://{}", rx.recv().unwrap())
}
