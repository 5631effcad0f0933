//! The gate in front of every route but `/health`: who is calling, their rate limit, and
//! whether their token has the route's scope. The verdict reaches handlers as a [`super::Grant`].

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Scope;
use crate::api::connections::ClientAddr;
use crate::api::{ApiError, AppState};

/// The gate of `POST /logs`: token with the `ingest` scope, and the rate limit.
///
/// # Errors
///
/// 401, 403 or 429 as an [`ApiError`].
pub async fn require_ingest(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    gate(&state, Scope::Ingest, request, next).await
}

/// The gate of the read routes (queries, live streams): `query` scope and the rate limit.
///
/// # Errors
///
/// 401, 403 or 429 as an [`ApiError`].
pub async fn require_query(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    gate(&state, Scope::Query, request, next).await
}

/// The gate of `/metrics`: open, or a `query` token with `--metrics-token-required`. Never
/// rate limited, so a busy client cannot blind the operator's scraper.
///
/// # Errors
///
/// 401 or 403 as an [`ApiError`].
pub async fn require_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.access.metrics_token_required() {
        let identity = state.access.identify(request.headers());
        state.access.grant(identity, Scope::Query)?;
    }
    Ok(next.run(request).await)
}

/// Identifies the caller, charges its rate limit (failed guesses count against the
/// client's address), checks the scope and hands the grant to the handler.
async fn gate(
    state: &AppState,
    scope: Scope,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let identity = state.access.identify(request.headers());
    let address = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|info| info.0 .0.ip());
    state.protect.admit(identity.token(), address)?;
    let grant = state.access.grant(identity, scope).inspect_err(|err| {
        tracing::debug!(?address, ?identity, %err, "request refused");
    })?;
    request.extensions_mut().insert(grant);
    Ok(next.run(request).await)
}
