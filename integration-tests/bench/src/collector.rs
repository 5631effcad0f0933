//! The collector under test: the release `estuary` binary started as a child process on a
//! free port, and what `/proc` says about it (CPU time, peak RSS).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};

use super::http::{self, Conn};

/// How long a fresh collector gets to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Clock ticks per second in `/proc/<pid>/stat`: `USER_HZ`, fixed at 100 by the Linux ABI.
const USER_HZ: f64 = 100.0;

/// The `estuary` binary cargo built beside this executable (same profile directory).
///
/// # Errors
///
/// When it is missing, with the command that builds it.
pub fn locate_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let bin = exe.with_file_name(format!("estuary{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!(
            "{} is missing: build the collector first with \
             `cargo build --release -p estuary-collector`",
            bin.display()
        );
    }
    if let Some(newer) = newer_source(&bin) {
        eprintln!(
            "warning: {} is older than {}; rebuild with `cargo build --release -p estuary-collector`",
            bin.display(),
            newer.display()
        );
    }
    Ok(bin)
}

/// A collector source file modified after `bin` was built, if any.
fn newer_source(bin: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../collector/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let modified = entry.metadata().and_then(|m| m.modified());
            if path.is_dir() {
                stack.push(path);
            } else if modified.is_ok_and(|t: SystemTime| t > built) {
                return Some(path);
            }
        }
    }
    None
}

/// A running collector; killed when dropped.
pub struct Collector {
    child: Child,
    addr: SocketAddr,
}

impl Collector {
    /// Starts `bin serve` on a free loopback port storing under `log_dir`, with `extra`
    /// arguments, and waits until `/health` answers.
    ///
    /// # Errors
    ///
    /// When the process cannot start, exits, or does not become healthy in time.
    pub async fn start(bin: &Path, log_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(bin, log_dir, extra, &[]).await
    }

    /// Like [`Collector::start`], with environment variables set for the child (such as
    /// `REDIS_URL`, which is otherwise removed so fan-out stays off).
    ///
    /// # Errors
    ///
    /// When the process cannot start, exits, or does not become healthy in time.
    pub async fn start_with_env(
        bin: &Path,
        log_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let child = Command::new(bin)
            .arg("serve")
            .arg("--port")
            .arg(addr.port().to_string())
            .arg("--log-dir")
            .arg(log_dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .env_remove("REDIS_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut collector = Collector { child, addr };
        collector.wait_healthy().await?;
        Ok(collector)
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let request = http::get(self.addr, "/health");
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the collector exited during start-up ({status})");
            }
            if let Ok(mut conn) = Conn::connect(self.addr).await {
                if conn.send(&request).await.is_ok_and(|r| r.status == 200) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("the collector did not answer /health within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id, for `perf record -p` and the like.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system, all threads) it has used so far.
    ///
    /// # Errors
    ///
    /// When `/proc/<pid>/stat` cannot be read.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&self.pid().to_string())
    }

    /// Its peak resident set size in KiB (`VmHWM`).
    ///
    /// # Errors
    ///
    /// When `/proc/<pid>/status` cannot be read.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in {path}"))
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        // The bench only needs it gone; graceful shutdown is tested elsewhere.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time this benchmark process (the load generator) has used so far.
///
/// # Errors
///
/// When `/proc/self/stat` cannot be read.
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    cpu_time_of("self")
}

/// `utime + stime` of a process (`pid`, or `self`), from `/proc/<pid>/stat`: CPU time it
/// has used so far.
///
/// # Errors
///
/// When `/proc/<pid>/stat` cannot be read.
pub fn cpu_time_of(pid: &str) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name may hold spaces; fields are counted after its closing parenthesis,
    // where field 3 (state) comes first, so utime (14) and stime (15) are 11 and 12.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (tick(11), tick(12)) {
        (Some(user), Some(system)) => Ok(Duration::from_secs_f64((user + system) as f64 / USER_HZ)),
        _ => bail!("unexpected format of {path}"),
    }
}

/// A loopback port nobody listens on right now.
///
/// # Errors
///
/// When no port can be bound.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
