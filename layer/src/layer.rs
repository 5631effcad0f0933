//! [`EstuaryLayer`]: the part that runs on the application's threads.

use std::cell::RefCell;
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::format::Format;
use crate::handle::{Handle, Shared};
use crate::no_feedback::on_worker_thread;
use crate::queue::Rejected;
use crate::record::{self, Scratch};
use crate::scope_cache::{self, ScopeVersion};
use crate::span_fields::{SpanJson, Timings};
use crate::stats::Counters;

thread_local! {
    /// Reused serialization buffers: no allocation per event once warmed up.
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// The `tracing_subscriber::Layer` that serializes events and spans to JSON and queues
/// them for the worker. Made by [`layer`](crate::layer()) or [`Builder`](crate::Builder).
///
/// The application thread only serializes into a reused buffer and copies the line into the
/// bounded queue; it never does I/O, and it never blocks unless
/// [`Overflow::Block`](crate::Overflow::Block) was chosen.
///
/// # Examples
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// let (layer, _guard) = tracing_estuary::layer("checkout")?;
/// tracing_subscriber::registry()
///     .with(layer)
///     .with(tracing_subscriber::fmt::layer())
///     .init();
/// # Ok::<(), tracing_estuary::Error>(())
/// ```
pub struct EstuaryLayer {
    shared: Arc<Shared>,
    format: Arc<Format>,
    /// Tells each thread's cached span stack when span fields changed.
    scope_version: ScopeVersion,
    /// The subscriber this layer is part of, to ask `tracing-opentelemetry` for a span's
    /// context (weak, so the layer never keeps its own subscriber alive).
    #[cfg(feature = "opentelemetry")]
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl EstuaryLayer {
    pub(crate) fn new(shared: Arc<Shared>, format: Arc<Format>) -> Self {
        EstuaryLayer {
            shared,
            format,
            scope_version: ScopeVersion::new(),
            #[cfg(feature = "opentelemetry")]
            dispatch: std::sync::OnceLock::new(),
        }
    }

    /// The OpenTelemetry trace and span id of span `id()`, when `tracing-opentelemetry` gives
    /// it a valid context. Must not be called while the span's extensions are borrowed.
    #[cfg(feature = "opentelemetry")]
    fn trace_ids(&self, id: impl FnOnce() -> Option<Id>) -> Option<record::TraceIds> {
        use opentelemetry::trace::TraceContextExt as _;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(&id()?, &dispatch)?;
        let span = cx.span();
        let context = span.span_context();
        context
            .is_valid()
            .then(|| (context.trace_id().to_bytes(), context.span_id().to_bytes()))
    }

    /// Without the feature the span is not even looked up.
    #[cfg(not(feature = "opentelemetry"))]
    fn trace_ids(&self, _id: impl FnOnce() -> Option<Id>) -> Option<record::TraceIds> {
        None
    }

    /// A handle to this layer's counters and flush.
    pub fn handle(&self) -> Handle {
        Handle::new(Arc::clone(&self.shared))
    }

    /// Runs `f` with this thread's scratch buffers (fresh ones if they are in use by an
    /// event logged from inside a `Debug` impl, or already destroyed at thread exit).
    fn with_scratch(&self, f: impl FnOnce(&mut Scratch)) {
        let mut f = Some(f);
        let _ = SCRATCH.try_with(|cell| {
            if let Ok(mut scratch) = cell.try_borrow_mut() {
                (f.take().expect("called once"))(&mut scratch);
                scratch.trim();
            }
        });
        if let Some(f) = f {
            f(&mut Scratch::new());
        }
    }

    /// Hands a finished line to the queue, counting it if it cannot be taken.
    fn enqueue(&self, line: &[u8]) {
        let c = &self.shared.counters;
        if line.len() > self.format.max_entry_bytes {
            return Counters::add(&c.dropped_oversize, 1);
        }
        match self.shared.queue.push(line) {
            Ok(()) => {}
            Err(Rejected::Full) => Counters::add(&c.dropped_queue_full, 1),
            Err(Rejected::Closed) => Counters::add(&c.dropped_shutdown, 1),
        }
    }
}

impl std::fmt::Debug for EstuaryLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EstuaryLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for EstuaryLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if on_worker_thread() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let json = SpanJson::new(attrs);
        let mut ext = span.extensions_mut();
        // `replace`, not `insert`: a second estuary layer on the same registry must not panic.
        ext.replace(json);
        if self.format.span_close {
            ext.replace(Timings::new());
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if on_worker_thread() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            if let Some(json) = span.extensions_mut().get_mut::<SpanJson>() {
                json.record(values);
                self.scope_version.span_recorded();
            }
        }
    }

    #[cfg(feature = "opentelemetry")]
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        use tracing_log::NormalizeEvent as _;
        if on_worker_thread() {
            return;
        }
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if !self.format.enabled(meta) {
            return;
        }
        let trace = self.trace_ids(|| ctx.event_span(event).map(|span| span.id()));
        // Only a contextual event's spans are this thread's current stack.
        let scope_key = event
            .is_contextual()
            .then(|| self.scope_version.key())
            .flatten();
        self.with_scratch(|s| {
            record::write_event(s, &self.format, event, meta, trace, &ctx, scope_key);
            self.enqueue(&s.line);
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        scope_cache::stack_moved();
        if self.format.span_close {
            if let Some(span) = ctx.span(id) {
                if let Some(t) = span.extensions_mut().get_mut::<Timings>() {
                    t.enter();
                }
            }
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        scope_cache::stack_moved();
        if self.format.span_close {
            if let Some(span) = ctx.span(id) {
                if let Some(t) = span.extensions_mut().get_mut::<Timings>() {
                    t.exit();
                }
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.format.span_close || on_worker_thread() {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        if !self.format.enabled(span.metadata()) {
            return;
        }
        let timings = span.extensions_mut().get_mut::<Timings>().map(|t| {
            t.close();
            (t.busy, t.idle)
        });
        let Some((busy, idle)) = timings else { return };
        let trace = self.trace_ids(|| Some(id.clone()));
        self.with_scratch(|s| {
            record::write_span_close(s, &self.format, &span, busy, idle, trace);
            self.enqueue(&s.line);
        });
    }
}
