//! Assembles one NDJSON line per event (or closed span, or drop report) in the wire schema
//! documented in the README.

use std::time::SystemTime;

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::format::{level_json, Format};
use crate::json::{write_int, write_rfc3339, write_str, FieldVisitor};
use crate::scope_cache::{ScopeCache, ScopeKey};
use crate::span_fields::SpanJson;

/// Buffers kept per thread: capacity is reused from one event to the next.
pub(crate) struct Scratch {
    /// The line being built; handed to the queue when complete.
    pub(crate) line: Vec<u8>,
    /// The event's fields (`"k":v,…`), gathered before they can be placed.
    fields: Vec<u8>,
    /// The event's message as a JSON string (the message field may come last).
    message: Vec<u8>,
    /// The thread's span stack as the last event rendered it.
    scope: ScopeCache,
}

/// A buffer grown past this by one huge event is shrunk back afterwards.
const KEEP_CAPACITY: usize = 64 * 1024;

impl Scratch {
    pub(crate) const fn new() -> Self {
        Scratch {
            line: Vec::new(),
            fields: Vec::new(),
            message: Vec::new(),
            scope: ScopeCache::new(),
        }
    }

    /// Returns memory a rare huge event made a thread keep.
    pub(crate) fn trim(&mut self) {
        for buf in [&mut self.line, &mut self.fields, &mut self.message] {
            if buf.capacity() > KEEP_CAPACITY {
                buf.clear();
                buf.shrink_to(KEEP_CAPACITY / 4);
            }
        }
        if self.scope.json.capacity() > KEEP_CAPACITY {
            self.scope.clear();
            self.scope.json.shrink_to(KEEP_CAPACITY / 4);
        }
    }
}

thread_local! {
    /// `,"thread_name":"…","thread_id":N` for the current thread, built on first use.
    static THREAD_JSON: Box<[u8]> = thread_json();
}

fn thread_json() -> Box<[u8]> {
    let thread = std::thread::current();
    let mut buf = Vec::new();
    if let Some(name) = thread.name() {
        buf.extend_from_slice(b",\"thread_name\":");
        write_str(&mut buf, name);
    }
    // `ThreadId::as_u64` is unstable; its `Debug` form is `ThreadId(N)`.
    let id = format!("{:?}", thread.id());
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    buf.extend_from_slice(b",\"thread_id\":");
    buf.extend_from_slice(if digits.is_empty() {
        b"0"
    } else {
        digits.as_bytes()
    });
    buf.into_boxed_slice()
}

/// `{"timestamp":…,"level":…,"service":…,"target":…`
fn head(line: &mut Vec<u8>, format: &Format, level: &Level, target: &str) {
    line.clear();
    line.extend_from_slice(b"{\"timestamp\":");
    write_rfc3339(line, SystemTime::now());
    line.extend_from_slice(b",\"level\":");
    line.extend_from_slice(level_json(level));
    line.extend_from_slice(&format.service);
    line.extend_from_slice(b",\"target\":");
    write_str(line, target);
}

/// `,"file":…,"line":…,"module_path":…,"thread_name":…,"thread_id":…,"host":…,"pid":…}\n`
fn tail(line: &mut Vec<u8>, format: &Format, meta: Option<&Metadata<'_>>) {
    if let Some(meta) = meta {
        if let Some(file) = meta.file() {
            line.extend_from_slice(b",\"file\":");
            write_str(line, file);
        }
        if let Some(n) = meta.line() {
            line.extend_from_slice(b",\"line\":");
            write_int(line, n);
        }
        if let Some(module) = meta.module_path() {
            line.extend_from_slice(b",\"module_path\":");
            write_str(line, module);
        }
    }
    // During thread teardown the cache may be gone; compute it once more then.
    if THREAD_JSON.try_with(|t| line.extend_from_slice(t)).is_err() {
        line.extend_from_slice(&thread_json());
    }
    line.extend_from_slice(&format.suffix);
    line.extend_from_slice(b"}\n");
}

/// `,"spans":[{…},…],"span":{…}` from the spans root first (nothing when there are none).
/// Written straight into the line; the current span is a copy of the last element.
fn spans<'a, S>(line: &mut Vec<u8>, from_root: impl Iterator<Item = SpanRef<'a, S>>)
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let open = line.len();
    line.extend_from_slice(b",\"spans\":[");
    let mut leaf = 0..0;
    for span in from_root {
        if leaf.end > 0 {
            line.push(b',');
        }
        let start = line.len();
        match span.extensions().get::<SpanJson>() {
            Some(json) => line.extend_from_slice(json.as_bytes()),
            // A span this layer never saw created (e.g. made before it was added).
            None => {
                line.extend_from_slice(b"{\"name\":");
                write_str(line, span.name());
                line.push(b'}');
            }
        }
        leaf = start..line.len();
    }
    if leaf.end == 0 {
        line.truncate(open);
        return;
    }
    line.extend_from_slice(b"],\"span\":");
    line.extend_from_within(leaf);
}

/// An OpenTelemetry trace id and span id, as bytes.
pub(crate) type TraceIds = ([u8; 16], [u8; 8]);

/// Serializes an event into `s.line`. `meta` is the event's metadata, or for a record from
/// the `log` crate its normalized metadata (real target, module, file and line), in which
/// case the `log.*` fields that carried them are left out. `scope_key` is the key of the
/// thread's current span stack for a contextual event (its spans come from the cache when
/// they were rendered under that key), `None` to look them up.
pub(crate) fn write_event<S>(
    s: &mut Scratch,
    format: &Format,
    event: &Event<'_>,
    meta: &Metadata<'_>,
    trace: Option<TraceIds>,
    ctx: &Context<'_, S>,
    scope_key: Option<ScopeKey>,
) where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let from_log = !std::ptr::eq(meta, event.metadata());
    head(&mut s.line, format, meta.level(), meta.target());
    s.fields.clear();
    s.message.clear();
    let mut visitor = FieldVisitor::for_event(&mut s.fields, &mut s.message);
    if from_log {
        event.record(&mut SkipLogFields(&mut visitor));
    } else {
        event.record(&mut visitor);
    }
    s.line.extend_from_slice(b",\"message\":");
    if s.message.is_empty() {
        s.line.extend_from_slice(b"\"\"");
    } else {
        s.line.extend_from_slice(&s.message);
    }
    s.line.extend_from_slice(b",\"fields\":{");
    s.line.extend_from_slice(&s.fields);
    s.line.push(b'}');
    write_trace(&mut s.line, trace);
    let scope = s.scope.get_or_render(scope_key, |buf| {
        if let Some(scope) = ctx.event_scope(event) {
            spans(buf, scope.from_root());
        }
    });
    s.line.extend_from_slice(scope);
    tail(&mut s.line, format, Some(meta));
}

/// Serializes a span-close record (`"message":"close"`, busy and idle time in `fields`).
pub(crate) fn write_span_close<S>(
    s: &mut Scratch,
    format: &Format,
    span: &SpanRef<'_, S>,
    busy_ns: u64,
    idle_ns: u64,
    trace: Option<TraceIds>,
) where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let meta = span.metadata();
    head(&mut s.line, format, meta.level(), meta.target());
    s.line
        .extend_from_slice(b",\"message\":\"close\",\"fields\":{\"busy_ns\":");
    write_int(&mut s.line, busy_ns);
    s.line.extend_from_slice(b",\"idle_ns\":");
    write_int(&mut s.line, idle_ns);
    s.line.push(b'}');
    write_trace(&mut s.line, trace);
    spans(&mut s.line, span.scope().from_root());
    tail(&mut s.line, format, Some(meta));
}

/// `,"trace_id":"<32 hex>","span_id":"<16 hex>"` when there is a trace context.
fn write_trace(line: &mut Vec<u8>, trace: Option<TraceIds>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let Some((trace_id, span_id)) = trace else {
        return;
    };
    for (key, id) in [
        (&b",\"trace_id\":\""[..], &trace_id[..]),
        (b",\"span_id\":\"", &span_id[..]),
    ] {
        line.extend_from_slice(key);
        for b in id {
            line.push(HEX[usize::from(b >> 4)]);
            line.push(HEX[usize::from(b & 0xf)]);
        }
        line.push(b'"');
    }
}

/// Leaves out the `log.target`, `log.module_path`, `log.file` and `log.line` fields
/// `tracing-log` adds to records from the `log` crate: they are the record's metadata.
struct SkipLogFields<'v, V>(&'v mut V);

impl<V: tracing::field::Visit> tracing::field::Visit for SkipLogFields<'_, V> {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.record_f64(field, value);
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        if !field.name().starts_with("log.") {
            self.0.record_i64(field, value);
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if !field.name().starts_with("log.") {
            self.0.record_u64(field, value);
        }
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.record_bool(field, value);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if !field.name().starts_with("log.") {
            self.0.record_str(field, value);
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if !field.name().starts_with("log.") {
            self.0.record_debug(field, value);
        }
    }
}

/// Drop totals by reason, for the report entry.
pub(crate) struct DropCounts {
    pub(crate) queue_full: u64,
    pub(crate) oversize: u64,
    pub(crate) rejected: u64,
    pub(crate) shutdown: u64,
}

/// Serializes `{"message":"tracing-estuary dropped N events", "fields":{…totals…}}`.
pub(crate) fn write_drop_report(line: &mut Vec<u8>, format: &Format, n: u64, totals: &DropCounts) {
    head(line, format, &Level::WARN, "tracing_estuary");
    line.extend_from_slice(b",\"message\":\"tracing-estuary dropped ");
    write_int(line, n);
    line.extend_from_slice(b" events\",\"fields\":{\"dropped\":");
    write_int(line, n);
    for (key, value) in [
        (&b",\"queue_full\":"[..], totals.queue_full),
        (b",\"oversize\":", totals.oversize),
        (b",\"rejected\":", totals.rejected),
        (b",\"shutdown\":", totals.shutdown),
    ] {
        line.extend_from_slice(key);
        write_int(line, value);
    }
    line.push(b'}');
    tail(line, format, None);
}
