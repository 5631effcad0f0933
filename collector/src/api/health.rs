//! `GET /health`: the seed's `{"status":"healthy","service":…}` plus what helps an operator.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;

/// `GET /health`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Status for load balancers and operators; always open. `status` is `healthy`, or
/// `degraded` while writes fail (`storage.failing` says which services and why), for a
/// few seconds after the process ran out of file descriptors, or while a forwarder's
/// attempts fail (`forwarders[].last_error` says why); it is
/// answered with 200 either way, so the collector stays reachable for reads.
#[utoipa::path(get, path = "/health", tag = "status", responses((status = 200, description = "The collector is up: `healthy`, or `degraded` with the reason", body = Object)))]
async fn health(State(state): State<AppState>) -> Json<Value> {
    let failing = state.store.write_failures();
    let shortage = state.store.descriptor_shortage();
    let (status, reason) = match failing.first() {
        None => match (&shortage, state.forwarders.failing()) {
            (Some(shortage), _) => ("degraded", Some(shortage.clone())),
            (None, Some((name, err))) => (
                "degraded",
                Some(format!(
                    "forwarder {name} is failing (entries wait in the files): {err}"
                )),
            ),
            (None, None) => ("healthy", None),
        },
        Some((service, err)) => (
            "degraded",
            Some(format!(
                "writes are failing for {} service(s), e.g. {service}: {err}",
                failing.len()
            )),
        ),
    };
    let failing: serde_json::Map<String, Value> = failing
        .into_iter()
        .map(|(service, err)| (service, Value::String(err)))
        .collect();
    Json(json!({
        "status": status,
        "reason": reason,
        "storage": {"writable": failing.is_empty(), "failing": failing},
        "service": state.settings.service_name,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "log_dir": state.store.dir().display().to_string(),
        "fsync": format!("{:?}", state.store.fsync()).to_lowercase(),
        "open_writers": state.store.open_writers(),
        "max_open_writers": state.store.max_open_writers(),
        "live_streams": state.live.readers(),
        "queries_running": state.protect.queries_running(),
        "fanout": state.fanout.as_ref().map_or(json!({"enabled": false}), |f| f.snapshot()),
        "forwarders": state.forwarders.snapshot(),
    }))
}
