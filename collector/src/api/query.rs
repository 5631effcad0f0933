//! Queries: `GET /logs/{service}` (the seed's `{"service","count","logs"}` plus filters,
//! order and cursors), `GET /logs?service=a,b` (several services merged by the instant of
//! each entry), and `GET /services`. Stored lines are passed through as bytes.

use std::collections::BTreeMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::backend::{self, QueryBackend};
use super::query_params::{self, decode_position, QuerySpec};
use super::{ApiError, AppState};
use crate::filter::order_keys;
use crate::query::{Hit, Order, Page, PageRequest, Position, ScanBudget, Stop, Work};
use crate::service::ServiceName;
use crate::timefmt::Nanos;

pub use super::query_params::{DEFAULT_LIMIT, MAX_LIMIT};

/// `GET /logs/{service}`, `GET /logs` and `GET /services`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(query_service))
        .routes(routes!(query_merged))
        .routes(routes!(super::services::list))
}

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn parse_spec(pairs: Pairs) -> Result<QuerySpec, ApiError> {
    let Query(pairs) = pairs.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    query_params::parse(&pairs)
}

/// The newest entries of a service (the seed's `{"service","count","logs"}`), filtered and
/// paged. `field.<path>=<value>` parameters (not listed here) filter on any key.
#[utoipa::path(
    get,
    path = "/logs/{service}",
    tag = "query",
    params(
        ("service" = String, Path, pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$", description = "The service"),
        super::openapi::FilterParams
    ),
    responses(
        (status = 200, description = "A page of entries", body = super::openapi::LogsPage),
        (status = 404, description = "No such endpoint (an empty service name)", body = super::openapi::ErrorBody),
        super::openapi::ReadErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn query_service(
    State(state): State<AppState>,
    service: Result<Path<String>, PathRejection>,
    pairs: Pairs,
) -> Result<Response, ApiError> {
    let Path(service) = service.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let service = ServiceName::parse(&service)?;
    let spec = parse_spec(pairs)?;
    let head = format!("{{\"service\":\"{service}\",");
    if let QueryBackend::ClickHouse(reader) = &state.backend {
        let only = Some(vec![service.as_str().to_owned()]);
        let reader = reader.within(&state.protect.scan_budget());
        return backend::clickhouse_page(&reader, only, &spec, &head).await;
    }
    let mut request = spec.request.clone();
    request.cursor = match spec
        .cursor
        .as_deref()
        .map(|c| decode_position(request.direction, c))
        .transpose()?
    {
        None | Some(Position::Start) => None,
        Some(Position::At(offset)) => Some(offset),
        Some(Position::Done) => {
            return Err(ApiError::Parameter {
                name: "cursor",
                reason: "this query has no more pages".into(),
            })
        }
    };
    let budget = state.protect.scan_budget();
    let _cancel = CancelOnDrop(budget.clone());
    request.budget = budget;
    let page = run_query(&state, service.clone(), request).await?;
    let next = page
        .next_cursor
        .map(|c| Position::At(c).encode(spec.request.direction));
    let lines: Vec<&[u8]> = page.hits.iter().map(|h| h.line.as_slice()).collect();
    let stopped = page.stopped.map(|s| s.reason);
    Ok(render(
        &head,
        ordered(lines, spec.order),
        next,
        &page.work,
        stopped,
    ))
}

/// Several services (all when `service` is absent) merged by timestamp.
#[utoipa::path(
    get,
    path = "/logs",
    tag = "query",
    params(
        ("service" = Option<String>, Query, description = "Comma-separated services"),
        super::openapi::FilterParams
    ),
    responses(
        (status = 200, description = "A page of entries", body = super::openapi::MergedPage),
        super::openapi::ReadErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn query_merged(State(state): State<AppState>, pairs: Pairs) -> Result<Response, ApiError> {
    let spec = parse_spec(pairs)?;
    let services = backend::names(&state, &spec).await?;
    let names: Vec<&str> = services.iter().map(ServiceName::as_str).collect();
    let head = format!("{{\"services\":{},", json!(names));
    if let QueryBackend::ClickHouse(reader) = &state.backend {
        let only = backend::restriction(&spec, &services);
        let reader = reader.within(&state.protect.scan_budget());
        return backend::clickhouse_page(&reader, only, &spec, &head).await;
    }
    let positions = merged_positions(&spec, &services)?;
    let mut per_service = Vec::new();
    let mut cost = Work::default();
    // One budget for the whole request: each service gets what the previous left, and at
    // least an equal share, so that every service's walk moves on.
    let budget = state.protect.scan_budget();
    let _cancel = CancelOnDrop(budget.clone());
    let share = budget
        .max_bytes
        .map(|max| max / services.len().max(1) as u64);
    for (service, position) in services.iter().zip(&positions) {
        let mut request = spec.request.clone();
        request.budget = budget.clone();
        request.budget.max_bytes = budget.max_bytes.map(|max| {
            max.saturating_sub(cost.scanned_bytes)
                .max(share.unwrap_or(0))
                .max(1)
        });
        request.cursor = match position {
            // Kept (with nothing) so the next cursor still says it is done, rather than
            // dropping it and starting it over.
            Position::Done => {
                per_service.push((service.clone(), *position, finished_page()));
                continue;
            }
            Position::Start => None,
            Position::At(offset) => Some(*offset),
        };
        let page = run_query(&state, service.clone(), request).await?;
        cost.add(page.work);
        per_service.push((service.clone(), *position, page));
    }
    let stopped = per_service
        .iter()
        .find_map(|(_, _, page)| page.stopped.map(|s| s.reason));
    let (taken, next) = merge(per_service, &spec);
    let lines: Vec<&[u8]> = taken.iter().map(|(_, h)| h.line.as_slice()).collect();
    Ok(render(
        &head,
        ordered(lines, spec.order),
        next,
        &cost,
        stopped,
    ))
}

/// The page of a service whose walk is over.
fn finished_page() -> Page {
    Page {
        hits: Vec::new(),
        next_cursor: None,
        work: Work::default(),
        stream_end: 0,
        stopped: None,
    }
}

/// Each service's starting position, from a merged cursor `svc:pos,svc:pos`.
fn merged_positions(spec: &QuerySpec, services: &[ServiceName]) -> Result<Vec<Position>, ApiError> {
    let mut given = BTreeMap::new();
    for part in spec
        .cursor
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let (name, pos) = part.split_once(':').ok_or(ApiError::Parameter {
            name: "cursor",
            reason: "is not a cursor from a previous page of this query".into(),
        })?;
        given.insert(
            name.to_owned(),
            decode_position(spec.request.direction, pos)?,
        );
    }
    Ok(services
        .iter()
        .map(|s| given.get(s.as_str()).copied().unwrap_or(Position::Start))
        .collect())
}

/// Merges per-service pages by the instant of each entry, keeps `limit`, and computes the
/// next cursor.
///
/// Each page is already in its walk's order, so this is a k-way merge that takes from the
/// head of one page at a time: whatever is taken from a service is a prefix of its page,
/// which keeps the cursor exact even when a service's own clock went backwards. Instants
/// come from [`order_keys`]: RFC 3339 at any offset and epoch numbers compare as time; an
/// entry whose `timestamp` names no time goes with the entry stored before it; a page with
/// no readable time at all counts as older than every timed entry.
fn merge(
    per_service: Vec<(ServiceName, Position, Page)>,
    spec: &QuerySpec,
) -> (Vec<(ServiceName, Hit)>, Option<String>) {
    let backward = spec.order != Order::Asc;
    let keys: Vec<Vec<Option<Nanos>>> = per_service
        .iter()
        .map(|(_, _, page)| walk_keys(page, backward))
        .collect();
    let mut heads = vec![0usize; per_service.len()];
    let mut all: Vec<(ServiceName, Hit)> = Vec::new();
    while all.len() < spec.request.limit {
        let next = (0..per_service.len())
            .filter(|&k| heads[k] < keys[k].len())
            .min_by(|&a, &b| {
                let (ka, kb) = (keys[a][heads[a]], keys[b][heads[b]]);
                comes_first(ka, kb, backward).then(a.cmp(&b))
            });
        let Some(k) = next else { break };
        if blocked_by_a_stopped_scan(&per_service, &heads, keys[k][heads[k]], backward) {
            break;
        }
        let (service, _, page) = &per_service[k];
        all.push((service.clone(), page.hits[heads[k]].clone()));
        heads[k] += 1;
    }
    let mut parts = Vec::new();
    let mut more = false;
    for (k, (service, start, outcome)) in per_service.iter().enumerate() {
        let taken: Vec<&Hit> = outcome.hits[..heads[k]].iter().collect();
        let position = next_position(*start, outcome, &taken, backward);
        more |= position != Position::Done;
        parts.push(format!(
            "{service}:{}",
            position.encode(spec.request.direction)
        ));
    }
    let next = more.then(|| parts.join(","));
    (all, next)
}

/// Whether an entry at `key` must wait: a service whose scan stopped at its budget, and
/// whose matches are all taken, may still hold entries that come before it (it examined
/// its entries only down to its last examined one).
fn blocked_by_a_stopped_scan(
    per_service: &[(ServiceName, Position, Page)],
    heads: &[usize],
    key: Option<Nanos>,
    backward: bool,
) -> bool {
    per_service.iter().zip(heads).any(|((_, _, page), &head)| {
        let Some(stopped) = page.stopped else {
            return false;
        };
        if head < page.hits.len() {
            return false;
        }
        match stopped.last_examined {
            Some(boundary) if stopped.examined_any => {
                comes_first(key, Some(boundary), backward) == std::cmp::Ordering::Greater
            }
            _ => true,
        }
    })
}

/// The order keys of a page's hits, in the page's order.
fn walk_keys(page: &Page, backward: bool) -> Vec<Option<Nanos>> {
    let mut lines: Vec<&[u8]> = page.hits.iter().map(|h| h.line.as_slice()).collect();
    if backward {
        lines.reverse();
    }
    let mut keys = order_keys(&lines);
    if backward {
        keys.reverse();
    }
    keys
}

/// `Less` when an entry at `a` is listed before one at `b`: newest first going backward,
/// oldest first going forward. Entries with no readable time count as the oldest.
fn comes_first(a: Option<Nanos>, b: Option<Nanos>, backward: bool) -> std::cmp::Ordering {
    let (a, b) = (a.unwrap_or(Nanos::MIN), b.unwrap_or(Nanos::MIN));
    if backward {
        b.cmp(&a)
    } else {
        a.cmp(&b)
    }
}

fn next_position(start: Position, outcome: &Page, taken: &[&Hit], backward: bool) -> Position {
    if taken.len() == outcome.hits.len() {
        return outcome.next_cursor.map_or(Position::Done, Position::At);
    }
    match (taken.last(), backward) {
        (Some(last), true) => Position::At(last.position),
        // Forward: the next page starts at the first hit not taken.
        (_, false) => Position::At(outcome.hits[taken.len()].position),
        (None, true) => start,
    }
}

/// Cancels a request's scans when it is dropped: when its client goes away mid-query, the
/// handler is dropped, and the scan stops at its next look at the budget.
pub(super) struct CancelOnDrop(pub(super) ScanBudget);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs one page scan on the query threads; at shutdown, tells the scan to stop and
/// answers 503.
async fn run_query(
    state: &AppState,
    service: ServiceName,
    request: PageRequest,
) -> Result<Page, ApiError> {
    let store = state.store.clone();
    let budget = request.budget.clone();
    let scan = move || store.query(&service, &request);
    scan_until_shutdown(state, &budget, "query", scan).await
}

/// Runs `scan` on the query threads under `budget`; at shutdown, tells it to stop and
/// answers 503.
pub(super) async fn scan_until_shutdown<T: Send + 'static>(
    state: &AppState,
    budget: &ScanBudget,
    what: &'static str,
    scan: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::select! {
        answer = state.protect.scans().run(what, scan) => answer,
        () = state.shutdown.cancelled() => {
            budget.cancel();
            Err(ApiError::StorageUnavailable)
        }
    }
}

/// Scans return newest first for backward orders; the seed's form lists oldest first.
fn ordered(mut lines: Vec<&[u8]>, order: Order) -> Vec<&[u8]> {
    if order == Order::LatestOldestFirst {
        lines.reverse();
    }
    lines
}

/// Writes `<head>"count":N,"logs":[…],"next_cursor":…,"scanned_bytes":…}` with each stored
/// line spliced in as is. A line that is not valid JSON (a hand-edited file) is skipped, so
/// the answer always is.
pub(super) fn render(
    head: &str,
    lines: Vec<&[u8]>,
    next_cursor: Option<String>,
    cost: &Work,
    stopped: Option<Stop>,
) -> Response {
    let valid: Vec<&[u8]> = lines
        .into_iter()
        .filter(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok())
        .collect();
    let mut out = Vec::with_capacity(256 + valid.iter().map(|l| l.len() + 1).sum::<usize>());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(format!("\"count\":{},\"logs\":[", valid.len()).as_bytes());
    for (i, line) in valid.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"]");
    if let Some(cursor) = next_cursor {
        out.extend_from_slice(format!(",\"next_cursor\":{}", json!(cursor)).as_bytes());
    }
    if let Some(stop) = stopped {
        out.extend_from_slice(format!(",\"stopped\":\"{}\"", stop.name()).as_bytes());
    }
    let stats = format!(
        ",\"scanned_bytes\":{},\"files_scanned\":{},\"segments_skipped\":{}}}",
        cost.scanned_bytes, cost.files_scanned, cost.segments_skipped
    );
    out.extend_from_slice(stats.as_bytes());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}
