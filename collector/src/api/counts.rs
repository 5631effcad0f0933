//! Counts before lines: `GET /histogram` (entries per time bucket by level, from the count
//! index where it answers) and `GET /facets` (the most frequent values of a field, under a
//! scan budget). Both take the query's parameters (`service`, `since`, `until`, `level`,
//! `q`, `target`, `field.*`) and add their own.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::backend::QueryBackend;
use super::query_params::{self, QuerySpec};
use super::{ApiError, AppState};
use crate::query::{FacetRequest, Facets, Histogram, HistogramRequest, LevelCounts, ScanMeter};
use crate::service::ServiceName;
use crate::timefmt::{self, Nanos};

/// The window when `since` is not given: the last 24 hours.
const DEFAULT_WINDOW: Nanos = 24 * 3_600 * 1_000_000_000;
/// Buckets aimed at when `bucket` is not given.
const DEFAULT_BUCKETS: usize = 100;
/// The most buckets one answer holds.
const MAX_BUCKETS: usize = 10_000;
/// Bucket widths chosen from, in seconds.
const NICE_BUCKETS: [i128; 9] = [1, 5, 10, 30, 60, 300, 900, 3_600, 86_400];
/// Values a facet answer lists by default, and at most.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1_000;
/// Bytes a facet request reads at most (less when `--max-scan-bytes` says so): 256 MiB.
const FACET_BUDGET: u64 = 256 * 1024 * 1024;
const SECOND: Nanos = 1_000_000_000;
const LEVEL_NAMES: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];

/// `GET /histogram` and `GET /facets`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(histogram))
        .routes(routes!(facets))
}

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The parameters of the counting endpoints (documentation; the query's filters apply too).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CountParams {
    /// Comma-separated services; absent: every service.
    pub service: Option<String>,
    /// Window start: RFC 3339 or a span back from now (default `24h`).
    pub since: Option<String>,
    /// Window end (default now).
    pub until: Option<String>,
    /// Minimum severity.
    pub level: Option<String>,
    /// Text contained in the stored line.
    pub q: Option<String>,
    /// Module path, or a prefix of it at a `::`.
    pub target: Option<String>,
    /// Histogram: bucket width as a span (`10s`, `5m`, `1h`); absent: a round width giving
    /// about `buckets` buckets.
    pub bucket: Option<String>,
    /// Histogram: how many buckets to aim for when `bucket` is absent (default 100).
    pub buckets: Option<u32>,
    /// Facets: the field, dotted (`target`, `host`, `fields.user_id`).
    pub field: Option<String>,
    /// Facets: how many values to list (default 10).
    pub top: Option<u32>,
}

/// The extra parameters, taken out before the query's own parser sees the rest.
#[derive(Default)]
struct Extra {
    bucket: Option<String>,
    buckets: Option<String>,
    field: Option<String>,
    top: Option<String>,
}

fn split(pairs: Pairs) -> Result<(QuerySpec, Extra), ApiError> {
    let Query(pairs) = pairs.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut extra = Extra::default();
    let mut rest = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "bucket" => extra.bucket = Some(value),
            "buckets" => extra.buckets = Some(value),
            "field" => extra.field = Some(value),
            "top" => extra.top = Some(value),
            "limit" | "order" | "cursor" => {
                return Err(ApiError::BadRequest(format!("unknown parameter {key:?}")))
            }
            _ => rest.push((key, value)),
        }
    }
    Ok((query_params::parse(&rest)?, extra))
}

async fn services(state: &AppState, spec: &QuerySpec) -> Result<Vec<ServiceName>, ApiError> {
    super::backend::names(state, spec).await
}

/// The window: `since` (default 24 h ago) to `until` (default now).
fn window(spec: &QuerySpec) -> Result<(Nanos, Nanos), ApiError> {
    let until = spec.request.filter.until.unwrap_or_else(timefmt::now);
    let since = spec.request.filter.since.unwrap_or(until - DEFAULT_WINDOW);
    if since > until {
        return Err(ApiError::Parameter {
            name: "since",
            reason: "must not be after until".into(),
        });
    }
    Ok((since, until))
}

/// The bucket width: as given, or the roundest width giving at most `buckets` buckets.
fn bucket_width(extra: &Extra, span: Nanos) -> Result<Nanos, ApiError> {
    let bad = |name: &'static str, reason: &str| ApiError::Parameter {
        name,
        reason: reason.into(),
    };
    let width = match &extra.bucket {
        Some(text) => timefmt::parse_span(text)
            .map(|d| d.whole_nanoseconds())
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("bucket", "must be a span like 10s, 5m or 1h"))?,
        None => {
            let target = count(
                "buckets",
                extra.buckets.as_deref(),
                DEFAULT_BUCKETS,
                MAX_BUCKETS,
            )?;
            let wanted = span / target as i128;
            NICE_BUCKETS
                .iter()
                .map(|s| s * SECOND)
                .find(|w| *w >= wanted)
                .unwrap_or_else(|| (span / target as i128).max(SECOND))
        }
    };
    if span / width >= MAX_BUCKETS as i128 {
        return Err(bad(
            "bucket",
            "gives more than 10000 buckets for this window",
        ));
    }
    Ok(width)
}

/// A count parameter from 1 to `max`, `default` when absent.
fn count(
    name: &'static str,
    text: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(text) = text else { return Ok(default) };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::Parameter {
            name,
            reason: format!("must be an integer from 1 to {max}"),
        })
}

/// Entries per time bucket by level (entries without a level count as info), over a
/// window, for one service, several or all. What the count index cannot answer is read
/// under the query budget; an answer that ran out says `stopped`.
#[utoipa::path(
    get,
    path = "/histogram",
    tag = "query",
    params(CountParams),
    responses(
        (status = 200, description = "Counts per bucket", body = Object),
        super::openapi::ReadErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn histogram(State(state): State<AppState>, pairs: Pairs) -> Result<Json<Value>, ApiError> {
    let (spec, extra) = split(pairs)?;
    let (since, until) = window(&spec)?;
    let bucket = bucket_width(&extra, until - since)?;
    let budget = state.protect.scan_budget();
    let _cancel = super::query::CancelOnDrop(budget.clone());
    let request = HistogramRequest {
        filter: spec.request.filter.clone(),
        since,
        until,
        bucket,
        budget: budget.clone(),
    };
    let names = services(&state, &spec).await?;
    if let QueryBackend::ClickHouse(reader) = &state.backend {
        let only = super::backend::restriction(&spec, &names);
        let total = reader
            .within(&budget)
            .histogram(only.as_deref(), &request)
            .await?;
        return Ok(Json(histogram_body(&names, &request, &total)));
    }
    let store = state.store.clone();
    let (services, asked) = (names.clone(), request.clone());
    let count = move || {
        let request = asked;
        let mut meter = ScanMeter::new(request.budget.clone());
        let mut total = Histogram {
            buckets: vec![[0; 6]; request.buckets()],
            ..Histogram::default()
        };
        for service in &services {
            total.add(&store.histogram(service, &request, &mut meter)?);
        }
        Ok(total)
    };
    let total = super::query::scan_until_shutdown(&state, &budget, "histogram", count).await?;
    Ok(Json(histogram_body(&names, &request, &total)))
}

fn histogram_body(services: &[ServiceName], request: &HistogramRequest, h: &Histogram) -> Value {
    let origin = request.origin();
    let mut totals: LevelCounts = [0; 6];
    let buckets: Vec<Value> = h
        .buckets
        .iter()
        .enumerate()
        .map(|(i, counts)| {
            for (t, c) in totals.iter_mut().zip(counts) {
                *t += c;
            }
            json!({
                "start": timefmt::format_rfc3339(origin + i as i128 * request.bucket),
                "counts": levels(counts),
                "total": counts.iter().sum::<u64>(),
            })
        })
        .collect();
    let names: Vec<&str> = services.iter().map(ServiceName::as_str).collect();
    let mut body = json!({
        "services": names,
        "since": timefmt::format_rfc3339(request.since),
        "until": timefmt::format_rfc3339(request.until),
        "bucket_seconds": request.bucket as f64 / SECOND as f64,
        "buckets": buckets,
        "totals": levels(&totals),
        "total": totals.iter().sum::<u64>(),
        "index_blocks": h.index_blocks,
        "scanned_bytes": h.work.scanned_bytes,
        "files_scanned": h.work.files_scanned,
        "segments_skipped": h.work.segments_skipped,
    });
    if let Some(stop) = h.stopped {
        body["stopped"] = json!(stop.name());
    }
    body
}

fn levels(counts: &LevelCounts) -> Value {
    let map: serde_json::Map<String, Value> = LEVEL_NAMES
        .iter()
        .zip(counts)
        .map(|(name, count)| ((*name).to_owned(), json!(count)))
        .collect();
    Value::Object(map)
}

/// The most frequent values of a field over a window, newest entries first, under a scan
/// budget; the answer says whether it read everything.
#[utoipa::path(
    get,
    path = "/facets",
    tag = "query",
    params(CountParams),
    responses(
        (status = 200, description = "Top values with counts", body = Object),
        super::openapi::ReadErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn facets(State(state): State<AppState>, pairs: Pairs) -> Result<Json<Value>, ApiError> {
    let (mut spec, extra) = split(pairs)?;
    let field = extra
        .field
        .filter(|f| !f.is_empty() && f.split('.').all(|p| !p.is_empty()))
        .ok_or_else(|| ApiError::Parameter {
            name: "field",
            reason: "is required: a dotted path such as target or fields.user_id".into(),
        })?;
    let top = count("top", extra.top.as_deref(), DEFAULT_TOP, MAX_TOP)?;
    let (since, until) = window(&spec)?;
    spec.request.filter.since = Some(since);
    spec.request.filter.until = Some(until);
    let mut budget = state.protect.scan_budget();
    budget.max_bytes = Some(
        budget
            .max_bytes
            .map_or(FACET_BUDGET, |max| max.min(FACET_BUDGET)),
    );
    let _cancel = super::query::CancelOnDrop(budget.clone());
    let request = FacetRequest {
        filter: spec.request.filter.clone(),
        field: field.split('.').map(str::to_owned).collect(),
        budget,
    };
    let names = services(&state, &spec).await?;
    let counted = match &state.backend {
        QueryBackend::ClickHouse(reader) => {
            let only = super::backend::restriction(&spec, &names);
            // ClickHouse counts every row (no sampling budget), under the query budget.
            reader
                .within(&state.protect.scan_budget())
                .facets(only.as_deref(), &request)
                .await?
        }
        QueryBackend::Files => files_facets(&state, names, request).await?,
    };
    facets_body(&field, since, until, top, &counted)
}

async fn files_facets(
    state: &AppState,
    names: Vec<ServiceName>,
    request: FacetRequest,
) -> Result<Facets, ApiError> {
    let store = state.store.clone();
    let budget = request.budget.clone();
    let count = move || {
        let mut facets = Facets {
            exhaustive: true,
            ..Facets::default()
        };
        let mut meter = ScanMeter::new(request.budget.clone());
        for service in &names {
            store.facets(service, &request, &mut meter, &mut facets)?;
        }
        Ok(facets)
    };
    super::query::scan_until_shutdown(state, &budget, "facets", count).await
}

fn facets_body(
    field: &str,
    since: Nanos,
    until: Nanos,
    top: usize,
    counted: &Facets,
) -> Result<Json<Value>, ApiError> {
    let mut values: Vec<(&String, &u64)> = counted.values.iter().collect();
    values.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let listed: Vec<Value> = values
        .iter()
        .take(top)
        .map(|(value, count)| json!({"value": value, "count": count}))
        .collect();
    let mut body = json!({
        "field": field,
        "since": timefmt::format_rfc3339(since),
        "until": timefmt::format_rfc3339(until),
        "values": listed,
        "distinct": values.len(),
        "entries": counted.entries,
        "exhaustive": counted.exhaustive,
        "scanned_bytes": counted.work.scanned_bytes,
        "files_scanned": counted.work.files_scanned,
        "segments_skipped": counted.work.segments_skipped,
    });
    if let Some(stop) = counted.stopped {
        body["stopped"] = json!(stop.name());
    }
    Ok(Json(body))
}
