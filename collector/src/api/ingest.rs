//! `POST /logs`: size limits ▸ decode ▸ validate ▸ stamp ▸ store ▸ 201.
//!
//! Accepts one JSON object (the seed's form), a JSON array of objects, or NDJSON, each
//! optionally gzip-compressed. The body is refused whole on any problem.

use std::borrow::Cow;
use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::BytesMut;
use http_body_util::BodyExt;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::Grant;
use super::openapi::Logged;
use super::{ApiError, AppState};
use crate::body::{parse_body, BodyFormat, ServiceLines};
use crate::service::ServiceName;

/// NDJSON and JSON bodies larger than this are parsed on the blocking pool, so one big
/// batch never holds up the async workers (about a millisecond of parsing).
pub(crate) const INLINE_PARSE_BYTES: usize = 256 * 1024;

/// The answer to a single entry: `Logged` without `accepted`.
const LOGGED: &str = r#"{"status":"logged"}"#;

/// `POST /logs`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// Stores one entry, a JSON array of entries, or NDJSON (optionally gzip); 201 only after
/// the write.
#[utoipa::path(
    post,
    path = "/logs",
    tag = "ingest",
    request_body(content(
        (super::openapi::LogBody = "application/json"),
        (String = "application/x-ndjson")
    )),
    responses(
        (status = 201, description = "Stored", body = super::openapi::Logged),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        super::openapi::IngestErrors
    ),
    security((), ("bearer" = []), ("token_header" = []))
)]
async fn ingest(
    State(state): State<AppState>,
    grant: Grant,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let format = body_format(&headers)?;
    let form = is_form(&headers);
    let max_entry = state.settings.max_entry_bytes;
    let (parsed, raw) = receive(&state, &headers, body, INLINE_PARSE_BYTES, move |decoded| {
        parse_body(decoded, format, max_entry, &now_rfc3339()).map_err(|err| {
            let err = ApiError::from(err);
            if form && err.status() == StatusCode::BAD_REQUEST {
                ApiError::BadRequest(format!("{err} (the body came as application/x-www-form-urlencoded, curl -d's default, and was read as JSON)"))
            } else {
                err
            }
        })
    })
    .await?;
    let single = parsed.single;
    let accepted = parsed.entries();
    store(&state, &grant, parsed.per_service, &raw).await?;
    if single {
        // The common case, answered without serializing anything.
        let json = [(header::CONTENT_TYPE, "application/json")];
        return Ok((StatusCode::CREATED, json, LOGGED).into_response());
    }
    let body = Logged {
        status: "logged",
        accepted: (!single).then_some(accepted),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Receives a request body the way `POST /logs` does — under the body deadline, refused
/// past the size limit (413), gunzipped when `Content-Encoding: gzip` with the same limit on
/// the inflated size — and runs `decode` on it, on the blocking pool when the body is
/// compressed or larger than `inline_bytes` (about a millisecond of decoding in the
/// caller's format: [`INLINE_PARSE_BYTES`] for JSON). Returns what `decode` made and the
/// body as received (what tells a retry of the same request apart, see [`store`]). The protocol adapters (OTLP, Loki push,
/// `_bulk`) share it.
///
/// # Errors
///
/// 408, 413, 415 (encoding) or 400 as an [`ApiError`], or `decode`'s own error.
pub(crate) async fn receive<T, F>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    inline_bytes: usize,
    decode: F,
) -> Result<(T, Bytes), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&[u8]) -> Result<T, ApiError> + Send + 'static,
{
    let gzipped = is_gzipped(headers)?;
    let limit = state.settings.max_body_bytes;
    let raw = state
        .protect
        .read_body(read_limited(headers, body, limit))
        .await?;
    let inline = !gzipped && raw.len() <= inline_bytes;
    let received = raw.clone();
    let work = move || -> Result<T, ApiError> {
        let decoded = if gzipped {
            Cow::Owned(gunzip_limited(&raw, limit)?)
        } else {
            Cow::Borrowed(&raw[..])
        };
        decode(&decoded)
    };
    let value = if inline {
        work()?
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| ApiError::StorageUnavailable)??
    };
    Ok((value, received))
}

/// Stores per-service lines the way `POST /logs` does: the entry count is checked against
/// the per-request bound (413) and the token's service limits on every batch (403), nothing
/// stored on either, then the store appends and
/// acknowledges after the write, and the ingestion counters are updated.
///
/// A body with several services is stored whole or the answer says which services were
/// stored ([`ApiError::PartlyStored`]): the request is then remembered by its `raw` body
/// ([`super::partial`]), and a retry of it stores only the services still missing.
///
/// # Errors
///
/// 403, 503 or 507 as an [`ApiError`].
pub(crate) async fn store(
    state: &AppState,
    grant: &Grant,
    batches: Vec<ServiceLines>,
    raw: &[u8],
) -> Result<(), ApiError> {
    if batches.is_empty() {
        return Ok(());
    }
    let entries = batches.iter().map(|b| b.entries).sum::<usize>();
    let limit = state.settings.max_request_entries;
    if entries > limit {
        return Err(ApiError::TooManyEntries { entries, limit });
    }
    grant.check_batches(&batches)?;
    let ledger = state.protect.partly_stored();
    let retry = ledger.stored_before(raw);
    let (stored_before, batches): (Vec<_>, Vec<_>) = match &retry {
        Some((_, before)) if !before.is_empty() => batches
            .into_iter()
            .partition(|b| before.contains(&b.service)),
        _ => (Vec::new(), batches),
    };
    let mut stored: Vec<(ServiceName, usize)> = stored_before
        .into_iter()
        .map(|b| (b.service, b.entries))
        .collect();
    // The ingestion counters are kept by each service's writer, per commit.
    let counts: Vec<usize> = batches.iter().map(|b| b.entries).collect();
    let outcomes = state.store.append_each(batches).await;
    let mut not_stored = Vec::new();
    let mut cause = None;
    for ((service, outcome), entries) in outcomes.into_iter().zip(counts) {
        match outcome {
            Ok(()) => stored.push((service, entries)),
            Err(err) => {
                cause.get_or_insert(err);
                not_stored.push((service, entries));
            }
        }
    }
    let Some(cause) = cause else {
        if let Some((key, _)) = retry {
            ledger.forget(key);
        }
        return Ok(());
    };
    if stored.is_empty() {
        return Err(cause.into());
    }
    let key = retry.map_or_else(|| ledger.key(raw), |(key, _)| key);
    ledger.remember(key, stored.iter().map(|(s, _)| s.clone()).collect());
    let named = |list: Vec<(ServiceName, usize)>| {
        list.into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect()
    };
    Err(ApiError::PartlyStored {
        cause: Box::new(cause.into()),
        stored: named(stored),
        not_stored: named(not_stored),
    })
}

/// The current time as RFC 3339 UTC with always 9 fraction digits, e.g.
/// `2026-11-25T16:01:43.120000000Z` (never shortened, so stamps have one width).
fn now_rfc3339() -> String {
    crate::timefmt::format_stamp(crate::timefmt::now())
}

/// `application/json` (or no content type, as curl users often send) → JSON;
/// `application/x-ndjson` and its aliases → NDJSON; anything else → 415.
///
/// `application/x-www-form-urlencoded` is read as JSON too: it is what `curl -d '{…}'`
/// sends unless told otherwise, and a real form body fails as JSON with a 400 saying so.
fn body_format(headers: &HeaderMap) -> Result<BodyFormat, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyFormat::Json);
    };
    let text = value.to_str().unwrap_or_default().to_ascii_lowercase();
    let mut parts = text.split(';').map(str::trim);
    let mime = parts.next().unwrap_or_default();
    let charset_ok = parts
        .filter_map(|p| p.strip_prefix("charset="))
        .all(|c| matches!(c.trim_matches('"'), "utf-8" | "utf8"));
    let format = match mime {
        "application/json" | "text/json" | "" | FORM => BodyFormat::Json,
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => BodyFormat::Ndjson,
        _ => return Err(ApiError::UnsupportedContentType(text)),
    };
    if charset_ok {
        Ok(format)
    } else {
        Err(ApiError::UnsupportedContentType(text))
    }
}

/// What `curl -d` sends by default.
const FORM: &str = "application/x-www-form-urlencoded";

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(FORM))
}

fn is_gzipped(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let text = value
        .to_str()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match text.as_str() {
        "gzip" | "x-gzip" => Ok(true),
        "identity" | "" => Ok(false),
        _ => Err(ApiError::UnsupportedEncoding(text)),
    }
}

fn raw_len_hint(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Buffers the body, refusing it as soon as it is known to exceed `limit` — from
/// `Content-Length` before reading anything, or while streaming a chunked body. An
/// over-limit chunked body is drained (discarded, up to [`DRAIN_BYTES`] more) so the client
/// reads the 413 instead of a connection reset.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if raw_len_hint(headers).is_some_and(|len| len > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let mut body = body;
    // Frames are kept as they arrive: a body that came in one frame is used without a copy.
    let mut frames: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|err| ApiError::BadRequest(format!("could not read the body: {err}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            drain(body).await;
            return Err(ApiError::BodyTooLarge { limit });
        }
        frames.push(data);
    }
    Ok(match frames.len() {
        1 => frames.swap_remove(0),
        _ => {
            let mut joined = BytesMut::with_capacity(total);
            frames
                .iter()
                .for_each(|frame| joined.extend_from_slice(frame));
            joined.freeze()
        }
    })
}

/// How much of an over-limit body is read and discarded before the 413 goes out.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// How long draining may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

async fn drain(mut body: Body) {
    let discard = async {
        let mut drained = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, |d| d.len());
            if drained > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// Decompresses at most `limit` bytes; a body that inflates beyond it (a gzip bomb) is
/// refused without ever holding more than `limit + 1` bytes.
fn gunzip_limited(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(compressed);
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|err| ApiError::BadRequest(format!("invalid gzip body: {err}")))?;
    if out.len() > limit {
        return Err(ApiError::BodyTooLarge { limit });
    }
    Ok(out)
}
