//! Shared helpers: start the real `estuary` binary on a free port with its own `LOG_DIR`,
//! start a private `redis-server`, and poll for conditions instead of sleeping.

#![allow(dead_code)]

pub mod live;
pub mod redis_server;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly started collector gets to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `estuary` binary `cargo test --workspace` built beside this test executable.
pub fn estuary_bin() -> PathBuf {
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED.get_or_init(locate_estuary_bin).clone()
}

fn locate_estuary_bin() -> PathBuf {
    if let Ok(path) = std::env::var("ESTUARY_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("estuary{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the suite with `cargo test --workspace` (it builds the binary), \
         or set ESTUARY_BIN",
        bin.display()
    );
    bin
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `condition` every 10 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A blocking HTTP client with a sane timeout.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A running `estuary` process with its own `LOG_DIR` and port.
pub struct Collector {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// Its `LOG_DIR`.
    pub dir: PathBuf,
    /// Extra arguments it was started with (kept for `restart`).
    args: Vec<String>,
    /// Extra environment it was started with (kept for `restart`).
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Keeps the temporary `LOG_DIR` alive for the collector's lifetime.
    _tmp: Option<tempfile::TempDir>,
    /// Holds the collector's stderr (outside `LOG_DIR`, so it never looks like a log).
    stderr_dir: tempfile::TempDir,
}

impl Collector {
    /// Starts a collector with a fresh temporary `LOG_DIR`.
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    /// Starts a collector with extra CLI arguments and environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut collector = Self::start_in(&dir, free_port(), args, env);
        collector._tmp = Some(tmp);
        collector
    }

    /// Starts a collector on a given `LOG_DIR` and port (which the caller keeps alive).
    pub fn start_in(dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut collector = Collector {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir: dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            _tmp: None,
            stderr_dir: tempfile::tempdir().expect("tempdir"),
        };
        collector.spawn();
        collector
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(estuary_bin());
        cmd.arg("serve")
            .args(&self.args)
            .env_remove("REDIS_URL")
            .env("PORT", self.port.to_string())
            .env("LOG_DIR", &self.dir)
            .env(
                "RUST_LOG",
                std::env::var("ESTUARY_TEST_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.stderr_file());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn estuary");
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let client = http();
        let url = format!("{}/health", self.url);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(resp) = client.get(&url).send() {
                if resp.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("estuary exited during start-up: {status}");
            }
            assert!(Instant::now() < deadline, "estuary did not become healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr_file(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_dir.path().join("stderr"))
            .expect("stderr file")
    }

    /// Everything the collector has written to stderr so far (across restarts).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_dir.path().join("stderr")).unwrap_or_default()
    }

    /// The process id of the running collector.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILLs the collector and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit status (panics after 30 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "estuary ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the collector again on the same port, `LOG_DIR`, arguments and environment.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts a stopped collector again (after `kill` or `terminate`).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    /// The path of a service's active log file.
    pub fn log_path(&self, service: &str) -> PathBuf {
        self.dir.join(format!("{service}.log"))
    }

    /// The raw bytes of a service's log file (empty when it does not exist).
    pub fn raw(&self, service: &str) -> Vec<u8> {
        std::fs::read(self.log_path(service)).unwrap_or_default()
    }

    /// Every line of a service's log file, each parsed as JSON (panics on a torn or bad line).
    pub fn lines(&self, service: &str) -> Vec<serde_json::Value> {
        let raw = self.raw(service);
        assert!(
            raw.is_empty() || raw.ends_with(b"\n"),
            "{service}.log ends in a partial line"
        );
        raw.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice(l).unwrap_or_else(|e| {
                    panic!(
                        "bad line in {service}.log: {e}: {}",
                        String::from_utf8_lossy(l)
                    )
                })
            })
            .collect()
    }

    /// The names of all files in `LOG_DIR` (to prove nothing was written).
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// `POST /logs` with a JSON body; returns the status and the parsed JSON answer.
    pub fn post_json(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.post_raw("application/json", None, body.to_string().into_bytes())
    }

    /// `POST /logs` with raw bytes, a content type and an optional content encoding.
    pub fn post_raw(
        &self,
        content_type: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let mut req = http()
            .post(format!("{}/logs", self.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(enc) = encoding {
            req = req.header("content-encoding", enc);
        }
        let resp = req.send().expect("POST /logs");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("non-JSON answer ({status}): {e}: {text}"));
        (status, json)
    }

    /// `GET` a path; returns the status and the parsed JSON answer.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = http()
            .get(format!("{}{path}", self.url))
            .send()
            .expect("GET");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("non-JSON answer ({status}) to {path}: {e}: {text}"));
        (status, json)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- estuary stderr ---\n{}", self.stderr());
        }
    }
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Gzips bytes (for `Content-Encoding: gzip` requests).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}
