//! The forwarder loop against a scripted destination (checkpoint only after acceptance,
//! partial retries, refusals, restarts, stopping, entries lost to retention), and what the
//! sinks' own tests share: shipments built from lines, and a tiny real HTTP server.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::task::{BatchSettings, Task};
use super::{Delivery, ForwarderStatus, SendError, Shipment, Sink};
use crate::service::ServiceName;
use crate::store::{RetentionPolicy, Store, StoreConfig, StreamChunk};

/// A shipment of `lines` of `service`, of which `pending` are still to be delivered.
pub(crate) fn shipment(service: &str, lines: &[&str], pending: Vec<usize>) -> Shipment {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for line in lines {
        let start = buf.len();
        buf.extend_from_slice(line.as_bytes());
        ranges.push(start..buf.len());
    }
    Shipment {
        service: ServiceName::parse(service).unwrap(),
        read: StreamChunk {
            buf,
            lines: ranges,
            ..StreamChunk::default()
        },
        pending,
    }
}

/// One request as the tiny server received it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP/1.1 server on a local port answering each connection with the next of its
/// answers (status, body), then closing it. No mock library: the sinks' real client talks
/// to it.
pub(crate) struct TinyServer {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl TinyServer {
    pub async fn start(answers: Vec<(u16, &'static str)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            for (status, body) in answers {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let request = read_request(&mut socket).await;
                log.lock().unwrap().push(request);
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
                let _ = socket.shutdown().await;
            }
        });
        TinyServer { url, received }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Received {
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the client closed before sending a whole head");
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap().split(' ');
    let (method, path) = (
        start.next().unwrap().to_owned(),
        start.next().unwrap().to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the client closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    Received {
        method,
        path,
        headers,
        body,
    }
}

/// The checkpoint name (and forwarder name) of the tests below.
const NAME: &str = "scripted";

/// One `send` as the scripted destination saw it.
#[derive(Debug, Clone)]
struct Sent {
    service: String,
    entries: Vec<String>,
    /// The saved checkpoint of the service at the moment of the send.
    checkpoint: Option<u64>,
}

/// A destination answering from a script (then `otherwise`), recording every send.
#[derive(Clone)]
struct Scripted(Arc<ScriptedInner>);

struct ScriptedInner {
    store: Store,
    answers: Mutex<VecDeque<Result<Delivery, SendError>>>,
    otherwise: Result<Delivery, SendError>,
    sent: Mutex<Vec<Sent>>,
}

impl Scripted {
    fn new(store: &Store, answers: Vec<Result<Delivery, SendError>>) -> Self {
        Self::with_otherwise(store, answers, Ok(Delivery::default()))
    }

    fn with_otherwise(
        store: &Store,
        answers: Vec<Result<Delivery, SendError>>,
        otherwise: Result<Delivery, SendError>,
    ) -> Self {
        Scripted(Arc::new(ScriptedInner {
            store: store.clone(),
            answers: Mutex::new(answers.into()),
            otherwise,
            sent: Mutex::default(),
        }))
    }

    fn sent(&self) -> Vec<Sent> {
        self.0.sent.lock().unwrap().clone()
    }
}

impl Sink for Scripted {
    type Body = ();

    fn encode(&self, _: &Shipment) {}

    async fn send(&self, shipment: &Shipment, (): &()) -> Result<Delivery, SendError> {
        let checkpoint = self
            .0
            .store
            .checkpoint(NAME)
            .unwrap()
            .get(&shipment.service);
        self.0.sent.lock().unwrap().push(Sent {
            service: shipment.service.to_string(),
            entries: shipment
                .entries()
                .map(|e| String::from_utf8(e.to_vec()).unwrap())
                .collect(),
            checkpoint,
        });
        let next = self.0.answers.lock().unwrap().pop_front();
        next.unwrap_or_else(|| match &self.0.otherwise {
            Ok(_) => Ok(Delivery::default()),
            Err(err) => Err(err.clone()),
        })
    }
}

/// A running forwarder task.
struct Running {
    status: Arc<ForwarderStatus>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("the forwarder stops when told to")
            .unwrap();
    }
}

fn start(store: &Store, sink: Scripted, retry: Duration) -> Running {
    spawn_task(store, sink, "scripted", settings(1000, retry))
}

/// Batches of up to `max_entries` sent at once, retried after `retry`.
fn settings(max_entries: usize, retry: Duration) -> BatchSettings {
    BatchSettings {
        max_entries,
        max_bytes: 1 << 20,
        wait: Duration::ZERO,
        retry_min: retry,
        retry_max: retry,
    }
}

/// Starts a forwarder task sending to `sink`.
fn spawn_task<S: Sink>(
    store: &Store,
    sink: S,
    kind: &'static str,
    settings: BatchSettings,
) -> Running {
    let status = Arc::new(ForwarderStatus::new(NAME, kind, "http://test.invalid"));
    let wake = Arc::new(Notify::new());
    let task = Task::new(sink, status.clone(), store.clone(), settings, wake.clone()).unwrap();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(task.run(stop.clone()));
    Running {
        status,
        wake,
        stop,
        handle,
    }
}

fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreConfig::new(dir.path())).unwrap()
}

/// Appends entries `i` in `range` to `service`; returns the lines as stored.
async fn append(store: &Store, service: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let body: String = range
        .map(|i| format!("{{\"service\":\"{service}\",\"i\":{i},\"timestamp\":\"t\"}}\n"))
        .collect();
    let parsed =
        crate::body::parse_body(body.as_bytes(), crate::body::BodyFormat::Ndjson, 1024, "t")
            .unwrap();
    store.append_all(parsed.per_service).await.unwrap();
    body.lines().map(str::to_owned).collect()
}

fn checkpoint(store: &Store, service: &str) -> Option<u64> {
    store
        .checkpoint(NAME)
        .unwrap()
        .get(&ServiceName::parse(service).unwrap())
}

fn end_of(store: &Store, service: &str) -> u64 {
    store.end_of(&ServiceName::parse(service).unwrap()).unwrap()
}

/// Whether every one of `services` is checkpointed at its end: all of it delivered.
fn caught_up(store: &Store, services: &[&str]) -> bool {
    services
        .iter()
        .all(|service| checkpoint(store, service) == Some(end_of(store, service)))
}

/// Polls `done` until it holds (or fails after 10 s, naming `what`).
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn retry(reason: &str) -> Result<Delivery, SendError> {
    Err(SendError::Retry(reason.into()))
}

#[tokio::test]
async fn the_checkpoint_moves_only_once_the_destination_accepted_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let api = append(&store, "api", 0..5).await;
    let web = append(&store, "web", 0..2).await;
    let sink = Scripted::new(&store, vec![retry("down"), retry("still down")]);
    let running = start(&store, sink.clone(), Duration::from_millis(1));
    until("both services delivered", || {
        caught_up(&store, &["api", "web"])
    })
    .await;
    let sent = sink.sent();
    let to_api: Vec<&Sent> = sent.iter().filter(|s| s.service == "api").collect();
    assert_eq!(to_api.len(), 3, "two failures, then the accepted send");
    for send in &to_api {
        assert_eq!(send.entries, api, "the whole batch, in order, each time");
        assert_eq!(send.checkpoint, None, "no checkpoint before acceptance");
    }
    let to_web: Vec<&Sent> = sent.iter().filter(|s| s.service == "web").collect();
    assert_eq!(to_web.len(), 1);
    assert_eq!(to_web[0].entries, web);
    assert_eq!(running.status.sent.load(Relaxed), 7);
    assert_eq!(running.status.retries.load(Relaxed), 2);
    assert_eq!(running.status.rejected.load(Relaxed), 0);

    // New entries: woken by the commit, only they are sent.
    let more = append(&store, "api", 5..7).await;
    running.wake.notify_one();
    until("the new entries delivered", || caught_up(&store, &["api"])).await;
    let last = sink.sent().pop().unwrap();
    assert_eq!(last.entries, more);
    running.stop().await;
}

#[tokio::test]
async fn only_the_entries_to_retry_are_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let lines = append(&store, "api", 0..4).await;
    let sink = Scripted::new(
        &store,
        vec![
            // Of 0..4: 0 accepted, 3 refused for good, 1 and 2 to retry.
            Ok(Delivery {
                rejected: 1,
                retry: vec![1, 2],
            }),
            // Of [1, 2]: 1 accepted, 2 to retry.
            Ok(Delivery {
                rejected: 0,
                retry: vec![1],
            }),
        ],
    );
    let running = start(&store, sink.clone(), Duration::from_millis(1));
    until("delivered", || caught_up(&store, &["api"])).await;
    let sent: Vec<Vec<String>> = sink.sent().into_iter().map(|s| s.entries).collect();
    assert_eq!(
        sent,
        [
            lines.clone(),
            vec![lines[1].clone(), lines[2].clone()],
            vec![lines[2].clone()],
        ]
    );
    assert_eq!(running.status.sent.load(Relaxed), 3);
    assert_eq!(running.status.rejected.load(Relaxed), 1);
    running.stop().await;
}

#[tokio::test]
async fn a_refused_batch_is_counted_and_skipped_and_a_restart_resumes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    append(&store, "api", 0..3).await;
    let sink = Scripted::new(&store, vec![Err(SendError::Reject("400".into()))]);
    let running = start(&store, sink.clone(), Duration::from_millis(1));
    until("skipped", || caught_up(&store, &["api"])).await;
    assert_eq!(running.status.rejected.load(Relaxed), 3);
    assert_eq!(running.status.sent.load(Relaxed), 0);
    assert_eq!(sink.sent().len(), 1, "a refused batch is not sent again");
    running.stop().await;

    // A new forwarder with the same name starts from the saved position.
    let more = append(&store, "api", 3..5).await;
    let sink = Scripted::new(&store, Vec::new());
    let running = start(&store, sink.clone(), Duration::from_millis(1));
    until("resumed", || caught_up(&store, &["api"])).await;
    let sent = sink.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].entries, more);
    running.stop().await;
}

#[tokio::test]
async fn stopping_while_the_destination_is_down_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    append(&store, "api", 0..3).await;
    let sink = Scripted::with_otherwise(&store, Vec::new(), retry("down"));
    // A long backoff: stopping must cut the wait short.
    let running = start(&store, sink.clone(), Duration::from_secs(3600));
    until("a first attempt", || !sink.sent().is_empty()).await;
    running.stop().await;
    assert_eq!(checkpoint(&store, "api"), None);
    assert_eq!(sink.sent().len(), 1);
}

#[tokio::test]
async fn entries_deleted_before_they_were_sent_are_counted_as_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    config.rotation.max_bytes = 100;
    let store = Store::open(config).unwrap();
    // This forwarder has seen api before: it is at the very beginning.
    let mut saved = store.checkpoint(NAME).unwrap();
    saved.set(&ServiceName::parse("api").unwrap(), 0);
    saved.save().unwrap();
    let mut lines = Vec::new();
    for i in 0..10 {
        // One commit each, so the last rotation leaves entries in the active file.
        lines.extend(append(&store, "api", i..i + 1).await);
    }
    store.close().await;
    let no_reader = |_: &ServiceName| None;
    let policy = RetentionPolicy {
        max_service_bytes: Some(0),
        ..RetentionPolicy::default()
    };
    assert!(store.enforce_retention(&policy, &no_reader).unwrap() > 0);
    let usage = store.usage(&ServiceName::parse("api").unwrap()).unwrap();
    let kept_from = usage.stream_end - usage.active_bytes;
    assert!(kept_from > 0);

    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let sink = Scripted::new(&store, Vec::new());
    let running = start(&store, sink.clone(), Duration::from_millis(1));
    until("delivered", || caught_up(&store, &["api"])).await;
    assert_eq!(running.status.lost_bytes.load(Relaxed), kept_from);
    let sent: Vec<String> = sink.sent().into_iter().flat_map(|s| s.entries).collect();
    assert!(!sent.is_empty());
    assert_eq!(
        sent,
        lines[lines.len() - sent.len()..],
        "what was kept, once"
    );
    running.stop().await;
}

/// A destination that takes at most `max_bytes` of entries per request (413 beyond), and
/// records what it accepted.
#[derive(Clone, Default)]
struct SizeLimited {
    max_bytes: usize,
    accepted: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<usize>>,
}

impl Sink for SizeLimited {
    type Body = ();

    fn encode(&self, _: &Shipment) {}

    async fn send(&self, shipment: &Shipment, (): &()) -> Result<Delivery, SendError> {
        *self.requests.lock().unwrap() += 1;
        let size: usize = shipment.entries().map(<[u8]>::len).sum();
        if size > self.max_bytes {
            return Err(SendError::TooLarge("413 Payload Too Large".into()));
        }
        let mut accepted = self.accepted.lock().unwrap();
        accepted.extend(
            shipment
                .entries()
                .map(|e| String::from_utf8(e.to_vec()).unwrap()),
        );
        Ok(Delivery::default())
    }
}

#[tokio::test]
async fn a_batch_too_large_for_the_destination_goes_in_halves_in_order_and_an_entry_too_large_alone_is_skipped(
) {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut lines = append(&store, "api", 0..5).await;
    let huge = format!(
        "{{\"service\":\"api\",\"pad\":\"{}\",\"timestamp\":\"t\"}}\n",
        "x".repeat(4000)
    );
    let parsed = crate::body::parse_body(
        huge.as_bytes(),
        crate::body::BodyFormat::Ndjson,
        1 << 20,
        "t",
    )
    .unwrap();
    store.append_all(parsed.per_service).await.unwrap();
    lines.extend(append(&store, "api", 5..12).await);
    let one = lines[0].len();
    let sink = SizeLimited {
        max_bytes: 3 * one,
        ..SizeLimited::default()
    };
    // A backoff would stall the test: splitting for size must not wait.
    let running = spawn_task(
        &store,
        sink.clone(),
        "limited",
        settings(1000, Duration::from_secs(3600)),
    );
    until("delivered", || caught_up(&store, &["api"])).await;
    let status = running.status.clone();
    assert_eq!(
        *sink.accepted.lock().unwrap(),
        lines,
        "every entry that fits, once, in order"
    );
    assert_eq!(
        status.rejected.load(Relaxed),
        1,
        "the entry too large alone"
    );
    assert_eq!(status.sent.load(Relaxed), 12);
    assert!(*sink.requests.lock().unwrap() < 40);
    running.stop().await;
}

/// A destination that records the order of encodes and sends, and holds each send until
/// the batch after it has been encoded (or a timeout passes).
#[derive(Clone, Default)]
struct Overlapping {
    /// `("encode" | "send" | "sent", first entry)` in the order they happened.
    events: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl Overlapping {
    fn count(&self, what: &str) -> usize {
        let events = self.events.lock().unwrap();
        events.iter().filter(|(w, _)| *w == what).count()
    }
}

impl Sink for Overlapping {
    type Body = String;

    fn encode(&self, shipment: &Shipment) -> String {
        let first = String::from_utf8(shipment.entries().next().unwrap().to_vec()).unwrap();
        self.events.lock().unwrap().push(("encode", first.clone()));
        first
    }

    async fn send(&self, _: &Shipment, first: &String) -> Result<Delivery, SendError> {
        self.events.lock().unwrap().push(("send", first.clone()));
        let sends = self.count("send");
        // Wait (boundedly) for the next batch's encode, which should overlap this send.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.count("encode") <= sends && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.events.lock().unwrap().push(("sent", first.clone()));
        Ok(Delivery::default())
    }
}

#[tokio::test]
async fn the_next_batch_is_encoded_while_one_is_in_flight_and_batches_are_delivered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let api = append(&store, "api", 0..25).await;
    let web = append(&store, "web", 0..5).await;
    let sink = Overlapping::default();
    let running = spawn_task(
        &store,
        sink.clone(),
        "overlap",
        settings(10, Duration::from_millis(1)),
    );
    until("delivered", || caught_up(&store, &["api", "web"])).await;
    let status = running.status.clone();
    running.stop().await;
    let events = sink.events.lock().unwrap().clone();
    let sends: Vec<&str> = events
        .iter()
        .filter(|(what, _)| *what == "send")
        .map(|(_, first)| first.as_str())
        .collect();
    // Round robin: a batch of each service, then the rest of the one with more.
    assert_eq!(sends, [&api[0], &web[0], &api[10], &api[20]]);
    // Each send but the last was still in flight when the next batch was encoded.
    let mut done = 0;
    for (i, (what, first)) in events.iter().enumerate() {
        if *what == "sent" && first != &api[20] {
            done += 1;
            let encoded = events[..i].iter().filter(|(w, _)| *w == "encode").count();
            assert!(
                encoded > done,
                "the batch after {first} was encoded only after it was sent: {events:?}"
            );
        }
    }
    assert_eq!(done, 3);
    assert_eq!(status.sent.load(Relaxed), 30);
}

/// A destination that takes its time over every batch and records whose it was.
#[derive(Clone, Default)]
struct Slow {
    services: Arc<Mutex<Vec<String>>>,
}

impl Sink for Slow {
    type Body = ();

    fn encode(&self, _: &Shipment) {}

    async fn send(&self, shipment: &Shipment, (): &()) -> Result<Delivery, SendError> {
        self.services
            .lock()
            .unwrap()
            .push(shipment.service.to_string());
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok(Delivery::default())
    }
}

#[tokio::test]
async fn a_long_backlog_does_not_keep_a_service_that_appeared_meanwhile_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    append(&store, "big", 0..40).await;
    let sink = Slow::default();
    // Ten full batches of "big": 2.5 s of sending.
    let running = spawn_task(
        &store,
        sink.clone(),
        "slow",
        settings(4, Duration::from_millis(1)),
    );
    until("the first batch is on its way", || {
        !sink.services.lock().unwrap().is_empty()
    })
    .await;
    append(&store, "late", 0..1).await;
    until("both delivered", || caught_up(&store, &["big", "late"])).await;
    running.stop().await;
    let order = sink.services.lock().unwrap().clone();
    let late = order.iter().position(|s| s == "late").unwrap();
    let last_big = order.iter().rposition(|s| s == "big").unwrap();
    assert_eq!(order.iter().filter(|s| *s == "big").count(), 10);
    assert!(
        late < last_big,
        "the late service waited for the whole backlog: {order:?}"
    );
}
