//! The `estuary` binary: parse the configuration, set up the collector's own logging
//! (to stderr, never into its own store), bind, and run until SIGINT/SIGTERM.

use anyhow::Context;
use clap::Parser;
use estuary_collector::config::{Cli, Command, ServeArgs};
use estuary_collector::{server, shutdown};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Some(Command::Serve(config)) => serve(*config),
        Some(Command::Tail(args)) => tail(args),
        Some(Command::Query(args)) => client_runtime()?
            .block_on(estuary_collector::cli::query::run(args))
            .map_err(Into::into),
        Some(Command::Stats(args)) => client_runtime()?
            .block_on(estuary_collector::cli::stats::run(args))
            .map_err(Into::into),
        None => serve(cli.serve),
    }
}

/// The collector's own logs go to stderr, filtered by `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn tail(args: estuary_collector::cli::tail::TailArgs) -> anyhow::Result<()> {
    client_runtime()?.block_on(estuary_collector::cli::tail::run(args))?;
    Ok(())
}

/// The client subcommands need only one thread.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    // `rediss://` URLs use rustls; it needs one process-wide crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let _keep = survive_file_size_limit();
        let addr = settings.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        server::run(settings, listener, shutdown::signal())
            .await
            .context("collector failed")
    })
}

/// Under `RLIMIT_FSIZE`, an over-limit write also raises SIGXFSZ, whose default action kills
/// the process. Listening for it replaces that action, so the write fails with `EFBIG`
/// instead and the client gets a 507 like on any full disk.
fn survive_file_size_limit() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::from_raw(libc::SIGXFSZ)).ok()
}
