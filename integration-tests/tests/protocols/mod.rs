//! The protocol adapters against real clients: the OpenTelemetry Python SDK (OTLP/HTTP),
//! python-logging-loki (Loki push), the official elasticsearch client (`_bulk`), and
//! hand-built bodies for the encodings and the hostile cases. The Python clients are in
//! `integration-tests/python/requirements.txt`; a missing one fails the test saying so.

mod bulk;
mod loki;
mod otlp;
mod trace;

use std::path::Path;
use std::process::Command;

use crate::support::http;

/// Runs `integration-tests/python/<script>` with `args`; returns its stdout.
///
/// # Panics
///
/// When the script fails, saying how to install the clients when one is missing.
fn python(script: &str, args: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("python3 must be installed to run the protocol tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") || stderr.contains("ImportError") {
        panic!(
            "{script} needs Python client libraries that are not installed: run \
             `pip install -r integration-tests/python/requirements.txt`\n{stderr}"
        );
    }
    assert!(out.status.success(), "{script} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// POSTs `body` to `path` with headers; returns the status, headers and body bytes.
fn post(
    url: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = http().post(format!("{url}{path}")).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().expect("POST");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().expect("body").to_vec())
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(bytes)))
}
