//! The `estuary` binary: parse the command line, then serve (set up the collector's own
//! logging to stderr, never into its own store; bind; run until SIGINT/SIGTERM) or run a
//! client command. Failures end with one plain message on stderr and a non-zero status —
//! never a backtrace, even with `RUST_BACKTRACE` set.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use estuary_collector::config::{Cli, Command, ServeArgs};
use estuary_collector::server::{self, ServerError};
use estuary_collector::shutdown;
use estuary_collector::store::StoreError;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, outcome) = match cli.command {
        Some(Command::Serve(config)) => ("estuary", serve(*config)),
        Some(Command::Tail(args)) => (
            "estuary tail",
            client(estuary_collector::cli::tail::run(args)),
        ),
        Some(Command::Query(args)) => (
            "estuary query",
            client(estuary_collector::cli::query::run(args)),
        ),
        Some(Command::Stats(args)) => (
            "estuary stats",
            client(estuary_collector::cli::stats::run(args)),
        ),
        None => ("estuary", serve(cli.serve)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` is the cause chain on one line; `{:?}` would add a backtrace.
            eprintln!("{name}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The collector's own logs go to stderr, filtered by `RUST_LOG` (default `info`), in
/// colour only when stderr is a terminal.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A failed write to stderr (a full disk under a redirected stderr) must not become
        // a panic in whatever task was logging.
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
}

/// Runs a client command on a one-thread runtime.
fn client(
    command: impl std::future::Future<Output = Result<(), estuary_collector::cli::CliError>>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    Ok(runtime.block_on(command)?)
}

/// Threads for blocking work (file writes and reads): enough for many slow disks at once.
const MAX_BLOCKING_THREADS: usize = 64;

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    bound_malloc_arenas();
    init_tracing();
    // Before the settings, whose open-file bound defaults to a share of the limit.
    estuary_collector::store::raise_open_file_limit();
    let settings = args.settings()?;
    // `rediss://` URLs use rustls; it needs one process-wide crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Commits and segment work run on the blocking pool (queries on their own threads): a
    // bound keeps a flood of services from starting hundreds of threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let _keep = survive_file_size_limit();
        let addr = settings.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| bind_error(addr, err))?;
        server::run(settings, listener, shutdown::signal())
            .await
            .map_err(start_error)
    })
}

/// Caps glibc's malloc arenas at one per CPU (its default is eight per CPU), unless
/// `MALLOC_ARENA_MAX` says otherwise. Each thread that allocates may otherwise get an arena
/// of its own that keeps freed memory: under load that is a third of the collector's peak
/// RSS (36 → 30.5 MiB in `bench_collector`, same throughput; docs/benchmarks/single-entry.md).
#[allow(unsafe_code)]
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cpus.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only changes a malloc tunable; it is called before any thread
        // of ours starts, and glibc serialises it with allocations in any case.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// What to do when the address cannot be bound.
fn bind_error(addr: std::net::SocketAddr, err: std::io::Error) -> anyhow::Error {
    let port = addr.port();
    match err.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "port {port} on {} is already in use (another collector?): choose a free one with --port or PORT",
            addr.ip()
        ),
        std::io::ErrorKind::AddrNotAvailable => anyhow::anyhow!(
            "cannot listen on {addr}: {} is not an address of this machine; check --bind (ESTUARY_BIND)",
            addr.ip()
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "not allowed to listen on port {port} ({err}): ports below 1024 need privileges; choose another with --port or PORT"
        ),
        _ => anyhow::Error::new(err).context(format!("cannot listen on {addr}")),
    }
}

/// The server's failure, saying what to do when the log directory is the problem.
fn start_error(err: ServerError) -> anyhow::Error {
    match err {
        ServerError::Store(StoreError::NotWritable { dir, source }) => anyhow::anyhow!(
            "log directory {} is not writable ({source}): fix its permissions or choose another with --log-dir or LOG_DIR",
            dir.display()
        ),
        ServerError::Store(StoreError::Dir { dir, source }) => anyhow::anyhow!(
            "cannot use log directory {} ({source}): check --log-dir or LOG_DIR",
            dir.display()
        ),
        other => anyhow::Error::new(other),
    }
}

/// Under `RLIMIT_FSIZE`, an over-limit write also raises SIGXFSZ, whose default action kills
/// the process. Listening for it replaces that action, so the write fails with `EFBIG`
/// instead and the client gets a 507 like on any full disk.
fn survive_file_size_limit() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::from_raw(libc::SIGXFSZ)).ok()
}
