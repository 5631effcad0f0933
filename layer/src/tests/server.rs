//! A real, in-process HTTP server standing in for the collector: it decodes gzip NDJSON
//! like the collector does and can be told to fail, so the worker's HTTP behaviour is
//! tested over real sockets without the collector binary.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// A scripted answer: status, extra headers, body.
pub(crate) type Scripted = (u16, Vec<(&'static str, String)>, String);

#[derive(Default)]
struct Inner {
    /// Stored lines, as received.
    lines: Vec<String>,
    /// Headers of every request (stored or not).
    requests: Vec<HeaderMap>,
    /// Answers to give before storing anything again, in order.
    script: VecDeque<Scripted>,
    /// While set, every request gets this answer (a collector that is down or broken).
    failing: Option<Scripted>,
    /// Requests with more lines than this get `413`.
    max_lines: Option<usize>,
    /// Requests whose body contains this text get `400` naming the line's index.
    poison: Option<String>,
}

/// The running server; stopped when dropped.
pub(crate) struct TestServer {
    pub(crate) url: String,
    inner: Arc<Mutex<Inner>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub(crate) fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let state = Arc::clone(&inner);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().route("/logs", post(ingest)).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        TestServer {
            url: format!("http://{addr}"),
            inner,
            stop: Some(stop_tx),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// Every stored line, parsed.
    pub(crate) fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Every stored line, as received.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.with(|i| i.lines.clone())
    }

    /// The headers of every request received.
    pub(crate) fn requests(&self) -> Vec<HeaderMap> {
        self.with(|i| i.requests.clone())
    }

    /// Queues answers for the next requests.
    pub(crate) fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.with(|i| i.script.extend(answers));
    }

    /// Answers every request with `answer` until called with `None`.
    pub(crate) fn set_failing(&self, answer: Option<Scripted>) {
        self.with(|i| i.failing = answer);
    }

    /// Answers `413` to requests with more than `n` lines.
    pub(crate) fn set_max_lines(&self, n: usize) {
        self.with(|i| i.max_lines = Some(n));
    }

    /// Answers `400 {"index": i}` to requests with a line containing `text`.
    pub(crate) fn set_poison(&self, text: &str) {
        self.with(|i| i.poison = Some(text.to_owned()));
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn ingest(
    State(state): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = state.lock().unwrap();
    inner.requests.push(headers.clone());
    if let Some(answer) = inner.failing.clone().or_else(|| inner.script.pop_front()) {
        return scripted(answer);
    }
    let gzip = headers.get("content-encoding").is_some_and(|v| v == "gzip");
    let text = if gzip {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut out)
            .unwrap();
        out
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if inner.max_lines.is_some_and(|max| lines.len() > max) {
        return scripted((413, vec![], r#"{"error":"too large"}"#.into()));
    }
    if let Some(poison) = &inner.poison {
        if let Some(index) = lines.iter().position(|l| l.contains(poison.as_str())) {
            return scripted((
                400,
                vec![],
                format!(r#"{{"error":"bad entry","index":{index}}}"#),
            ));
        }
    }
    let accepted = lines.len();
    inner.lines.extend(lines);
    scripted((
        201,
        vec![],
        format!(r#"{{"status":"logged","accepted":{accepted}}}"#),
    ))
}

fn scripted((status, headers, body): Scripted) -> Response {
    let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (name, value) in headers {
        resp.headers_mut().insert(name, value.parse().unwrap());
    }
    resp
}
