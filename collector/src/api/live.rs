//! Live tail over Server-Sent Events: `GET /logs/stream` (every service) and
//! `GET /logs/{service}/stream`, with the query filters (`level`, `q`, `target`,
//! `field.<path>`, `since`/`until` and the exclusions `q!`, `target!`, `field.<path>!`) and
//! `tail=N` (replay the last N stored entries, then follow). Each `message` event carries one entry; a reader that falls
//! behind the live ring gets one `missed` event saying how many entries went by, and the
//! stream goes on.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState};
use crate::filter::LineFilter;
use crate::live::{LiveCommit, Origin};
use crate::query::PageRequest;
use crate::service::ServiceName;
use crate::store::Store;

/// The most entries `tail=N` replays.
pub const MAX_TAIL: usize = 10_000;

/// `GET /logs/stream` and `GET /logs/{service}/stream`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stream_all))
        .routes(routes!(stream_service))
}

/// Stream parameters, kept as text pairs so bad values get our own 400.
type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// What a stream request asks for.
struct StreamParams {
    filter: LineFilter,
    tail: usize,
}

impl StreamParams {
    fn parse(pairs: Pairs) -> Result<Self, ApiError> {
        let Query(pairs) = pairs.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let mut params = StreamParams {
            filter: LineFilter::default(),
            tail: 0,
        };
        for (key, value) in &pairs {
            if key == "tail" {
                params.tail = parse_tail(value)?;
            } else if !super::query_params::add_filter(&mut params.filter, key, value)? {
                return Err(ApiError::BadRequest(format!("unknown parameter {key:?}")));
            }
        }
        Ok(params)
    }
}

type EventStream = Sse<
    axum::response::sse::KeepAliveStream<
        std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>,
    >,
>;

/// Every service's entries live, as Server-Sent Events.
#[utoipa::path(
    get,
    path = "/logs/stream",
    tag = "live",
    params(
        super::openapi::StreamDocParams
    ),
    responses(
        (status = 200, description = "`message` events (one entry each) and `missed` events", content_type = "text/event-stream", body = String),
        super::openapi::ReadErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn stream_all(State(state): State<AppState>, pairs: Pairs) -> Result<EventStream, ApiError> {
    open_stream(state, None, StreamParams::parse(pairs)?).await
}

/// One service's entries live, as Server-Sent Events.
#[utoipa::path(
    get,
    path = "/logs/{service}/stream",
    tag = "live",
    params(
        ("service" = String, Path, pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$", description = "The service"),
        super::openapi::StreamDocParams
    ),
    responses(
        (status = 200, description = "`message` events (one entry each) and `missed` events", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such endpoint", body = super::openapi::ErrorBody),
        super::openapi::ReadErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn stream_service(
    State(state): State<AppState>,
    service: Result<Path<String>, PathRejection>,
    pairs: Pairs,
) -> Result<EventStream, ApiError> {
    let Path(service) = service.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let params = StreamParams::parse(pairs)?;
    open_stream(state, Some(ServiceName::parse(&service)?), params).await
}

async fn open_stream(
    state: AppState,
    service: Option<ServiceName>,
    params: StreamParams,
) -> Result<EventStream, ApiError> {
    let StreamParams {
        filter,
        tail: tail_n,
    } = params;
    // Past the cap, refuse before doing any work; the slot is held until the stream ends.
    let slot = state.protect.open_stream()?;
    // Subscribe before reading the replay, so nothing falls between the two.
    let receiver = state.live.subscribe();
    let store = state.store.clone();
    let only = service.clone();
    let (replay, covered) = super::error::on_blocking_pool("stream replay", move || {
        replay(&store, only.as_ref(), tail_n)
    })
    .await?;
    let replayed = replay
        .into_iter()
        .filter(|line| filter.matches(line))
        .map(|line| Ok(entry_event(&line)))
        .collect::<Vec<_>>();
    let follower = Follower {
        receiver,
        service,
        filter,
        covered,
        next_entry: None,
    };
    let stopped = state.shutdown.clone().cancelled_owned();
    let events = stream::iter(replayed)
        .chain(follower.into_stream())
        .take_until(stopped);
    let keep_alive = KeepAlive::new().interval(state.settings.sse_heartbeat);
    Ok(Sse::new(slot.hold(events).boxed()).keep_alive(keep_alive))
}

fn parse_tail(raw: &str) -> Result<usize, ApiError> {
    match raw.trim() {
        "" => Ok(0),
        raw => raw
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_TAIL)
            .ok_or(ApiError::Parameter {
                name: "tail",
                reason: format!("must be an integer from 0 to {MAX_TAIL}"),
            }),
    }
}

/// Replayed lines, and for each service the virtual offset they cover.
type Replay = (Vec<Vec<u8>>, HashMap<ServiceName, u64>);

/// The last `n` stored entries (of one service, or of all merged by instant), read with
/// the query engine (so across rotated segments), and for each service the end of its
/// stream when it was read.
fn replay(store: &Store, service: Option<&ServiceName>, n: usize) -> std::io::Result<Replay> {
    let services = match service {
        Some(service) => vec![service.clone()],
        None => store.services()?,
    };
    let request = PageRequest::newest(n.max(1));
    let mut covered = HashMap::new();
    let mut keyed = Vec::new();
    for service in services {
        let page = store.query(&service, &request)?;
        covered.insert(service, page.stream_end);
        let oldest_first: Vec<Vec<u8>> = page
            .hits
            .into_iter()
            .take(n)
            .rev()
            .map(|h| h.line)
            .collect();
        let refs: Vec<&[u8]> = oldest_first.iter().map(Vec::as_slice).collect();
        let keys = crate::filter::order_keys(&refs);
        keyed.extend(keys.into_iter().zip(oldest_first));
    }
    if service.is_none() {
        // By instant, like the merged query (`api::query::merge`): a stable sort keeps each
        // service's own order, and entries with no readable time count as the oldest.
        keyed.sort_by_key(|(key, _)| *key);
        let excess = keyed.len().saturating_sub(n);
        keyed.drain(..excess);
    }
    let lines = keyed.into_iter().map(|(_, line)| line).collect();
    Ok((lines, covered))
}

fn entry_event(line: &[u8]) -> Event {
    Event::default().data(String::from_utf8_lossy(line))
}

/// Follows the live hub for one client.
struct Follower {
    receiver: Receiver<Arc<LiveCommit>>,
    service: Option<ServiceName>,
    filter: LineFilter,
    /// Per service, the offset the replay already covered.
    covered: HashMap<ServiceName, u64>,
    /// The hub-wide entry count expected next; after a lag, the gap is what was missed.
    next_entry: Option<u64>,
}

impl Follower {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        stream::unfold(self, |mut follower| async move {
            let events = follower.next_events().await?;
            Some((stream::iter(events.into_iter().map(Ok)), follower))
        })
        .flatten()
    }

    /// The events of the next batch (possibly none); `None` when the hub is gone.
    async fn next_events(&mut self) -> Option<Vec<Event>> {
        match self.receiver.recv().await {
            Ok(batch) => Some(self.events_of(&batch)),
            Err(RecvError::Lagged(_)) => {
                let missed = match self.receiver.recv().await {
                    Ok(batch) => {
                        let gap = self
                            .next_entry
                            .map_or(0, |n| batch.first_entry.saturating_sub(n));
                        let mut events = vec![missed_event(gap)];
                        events.extend(self.events_of(&batch));
                        return Some(events);
                    }
                    Err(RecvError::Lagged(_)) => 0,
                    Err(RecvError::Closed) => return None,
                };
                Some(vec![missed_event(missed)])
            }
            Err(RecvError::Closed) => None,
        }
    }

    fn events_of(&mut self, batch: &LiveCommit) -> Vec<Event> {
        self.next_entry = Some(batch.first_entry + batch.entries);
        if self.service.as_ref().is_some_and(|s| *s != batch.service) {
            return Vec::new();
        }
        if let Origin::Local { end_offset } = batch.origin {
            if self
                .covered
                .get(&batch.service)
                .is_some_and(|c| end_offset <= *c)
            {
                return Vec::new();
            }
        }
        batch
            .lines
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty() && self.filter.matches(line))
            .map(entry_event)
            .collect()
    }
}

fn missed_event(missed: u64) -> Event {
    Event::default()
        .event("missed")
        .data(format!("{{\"missed\":{missed}}}"))
}
