//! What `/proc` says about the processes a benchmark runs: the collector, `redis-server` and
//! `clickhouse-server` it started (through [`Usage`]) and the benchmark itself, the load generator
//! ([`own_cpu_time`]); and the CPU each used in a phase, as reported ([`Cpu`]).

use std::time::Duration;

use anyhow::{bail, Context};
use estuary_test_support::redis_server::RedisServer;
use estuary_test_support::{ClickHouseServer, Collector};

/// Clock ticks per second in `/proc/<pid>/stat`: `USER_HZ`, fixed at 100 by the Linux ABI.
const USER_HZ: f64 = 100.0;

/// CPU used during a phase by each process, and the phase's wall-clock time.
#[derive(Default, Clone, Copy)]
pub struct Cpu {
    /// The collector, all threads.
    pub collector: Duration,
    /// `redis-server`, when the phase ran one.
    pub redis: Option<Duration>,
    /// This process: the load generator, and the consumers or the fake destination.
    pub bench: Duration,
    /// The phase's length.
    pub wall: Duration,
}

impl Cpu {
    /// The cores each process kept busy on average, e.g. `collector 1.50 cores,
    /// redis-server 0.20, bench process 0.10`.
    pub fn note(&self) -> String {
        let cores = |cpu: Duration| cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9);
        let redis = self
            .redis
            .map(|redis| format!(", redis-server {:.2}", cores(redis)))
            .unwrap_or_default();
        format!(
            "collector {:.2} cores{redis}, bench process {:.2}",
            cores(self.collector),
            cores(self.bench)
        )
    }
}

/// A running child process whose use of the machine a benchmark reports.
pub trait Usage {
    /// Its process id.
    fn process_id(&self) -> u32;

    /// CPU time (user + system, all threads) it has used so far.
    ///
    /// # Errors
    ///
    /// When `/proc/<pid>/stat` cannot be read.
    fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&self.process_id().to_string())
    }

    /// Its peak resident set size in KiB (`VmHWM`).
    ///
    /// # Errors
    ///
    /// When `/proc/<pid>/status` cannot be read.
    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.process_id());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in {path}"))
    }

    /// Voluntary context switches (a thread blocking: parking, waiting for I/O) of its live
    /// threads so far, from `/proc/<pid>/task/*/status`; threads that have exited are not
    /// counted, so only differences over a phase mean something.
    ///
    /// # Errors
    ///
    /// When `/proc/<pid>/task` cannot be listed.
    fn voluntary_switches(&self) -> anyhow::Result<u64> {
        let tasks = format!("/proc/{}/task", self.process_id());
        let mut switches = 0;
        for task in std::fs::read_dir(&tasks).with_context(|| format!("listing {tasks}"))? {
            // A thread may exit between listing and reading: it is simply not counted.
            let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
                continue;
            };
            switches += status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        Ok(switches)
    }
}

impl Usage for Collector {
    fn process_id(&self) -> u32 {
        self.pid()
    }
}

impl Usage for ClickHouseServer {
    fn process_id(&self) -> u32 {
        self.pid()
    }
}

impl Usage for RedisServer {
    fn process_id(&self) -> u32 {
        self.pid()
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

/// CPU time (user + system) of this process's children that have exited and been waited
/// for (`cutime + cstime`): the difference around a child's run is that child's CPU.
///
/// # Errors
///
/// When `/proc/self/stat` cannot be read.
pub fn waited_children_cpu_time() -> anyhow::Result<Duration> {
    ticks_of("self", 13, 14)
}

/// `utime + stime` of a process (`pid`, or `self`), from `/proc/<pid>/stat`: CPU time it
/// has used so far.
///
/// # Errors
///
/// When `/proc/<pid>/stat` cannot be read.
fn cpu_time_of(pid: &str) -> anyhow::Result<Duration> {
    ticks_of(pid, 11, 12)
}

/// The sum of two clock-tick fields of `/proc/<pid>/stat`, counted after the command name.
fn ticks_of(pid: &str, first: usize, second: usize) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name may hold spaces; fields are counted after its closing parenthesis,
    // where field 3 (state) comes first, so utime (14) and stime (15) are 11 and 12, and
    // cutime (16) and cstime (17) are 13 and 14.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    match (tick(first), tick(second)) {
        (Some(user), Some(system)) => Ok(Duration::from_secs_f64((user + system) as f64 / USER_HZ)),
        _ => bail!("unexpected format of {path}"),
    }
}

/// The CPUs this process may run on, from `Cpus_allowed_list` in `/proc/self/status`
/// (e.g. `0-1` or `0,2-3`).
///
/// # Errors
///
/// When `/proc/self/status` cannot be read or the list is malformed.
pub fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .context("no Cpus_allowed_list")?;
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (first, last): (usize, usize) = (first.parse()?, last.parse()?);
        cpus.extend(first..=last);
    }
    Ok(cpus)
}

/// Pins `pid` to the CPUs in `cpus` (a `taskset` list such as `1` or `0-1`): all its
/// threads when `all_threads` (threads it starts later inherit it), otherwise only the
/// thread whose id is `pid` (a process's main thread).
///
/// # Errors
///
/// When `taskset` cannot be run or refuses.
pub fn pin(pid: u32, cpus: &str, all_threads: bool) -> anyhow::Result<()> {
    let mut taskset = std::process::Command::new("taskset");
    if all_threads {
        taskset.arg("-a");
    }
    let status = taskset
        .args(["-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running taskset")?;
    if !status.success() {
        bail!("taskset -p -c {cpus} {pid} failed: {status}");
    }
    Ok(())
}
