//! Builds and sends Loki push requests.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use serde_json::value::RawValue;

use super::LokiConfig;
use crate::forward::{http, Delivery, SendError, Shipment, Sink};
use crate::timefmt::{self, Nanos};

/// A label set, sorted by name: the key of a stream.
type Labels = Vec<(String, String)>;

/// Pushes batches to one Loki.
#[derive(Debug, Clone)]
pub struct LokiSink {
    /// The HTTP client (keeps connections alive between pushes).
    client: reqwest::Client,
    /// Where and how to push.
    config: LokiConfig,
}

impl LokiSink {
    /// A sink for `config`, each request bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`reqwest::Error`] when the HTTP client cannot be built.
    pub fn new(config: &LokiConfig, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(LokiSink {
            client: http::client(timeout)?,
            config: config.clone(),
        })
    }

    /// The gzip-compressed JSON push body for `shipment`: one stream per label set, each
    /// stream's entries sorted by timestamp (Loki rejects out-of-order entries in a stream).
    pub fn body(&self, shipment: &Shipment) -> Vec<u8> {
        let now = timefmt::now();
        let mut streams: BTreeMap<Labels, Vec<(Nanos, &[u8])>> = BTreeMap::new();
        for line in shipment.entries() {
            let (labels, ts) = self.describe(shipment.service.as_str(), line, now);
            streams.entry(labels).or_default().push((ts, line));
        }
        // JSON first, then one gzip pass: many small writes into the encoder cost far more
        // than the compression itself.
        let mut json = Vec::with_capacity(shipment.read.buf.len() + shipment.pending.len() * 32);
        write_streams(&mut json, &mut streams).expect("writing to memory cannot fail");
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(&json).expect("writing to memory cannot fail");
        gz.finish().expect("writing to memory cannot fail")
    }

    /// The labels and timestamp of one stored line (its `timestamp`, else now).
    fn describe(&self, service: &str, line: &[u8], now: Nanos) -> (Labels, Nanos) {
        let fields: HashMap<&str, &RawValue> = serde_json::from_slice(line).unwrap_or_default();
        let ts = fields
            .get("timestamp")
            .and_then(|raw| serde_json::from_str::<&str>(raw.get()).ok())
            .and_then(timefmt::parse_rfc3339)
            .unwrap_or(now);
        let mut labels: Labels = Vec::with_capacity(self.config.labels.len());
        for name in &self.config.labels {
            let value = if name == "service" {
                Some(service.to_owned())
            } else {
                fields.get(name.as_str()).map(|raw| label_value(raw))
            };
            if let Some(value) = value {
                labels.push((name.clone(), value));
            }
        }
        if labels.is_empty() {
            // Loki needs at least one label per stream.
            labels.push(("service".to_owned(), service.to_owned()));
        }
        labels.sort();
        (labels, ts)
    }
}

/// A string field's text, or any other value's JSON.
fn label_value(raw: &RawValue) -> String {
    serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_owned())
}

fn write_streams(
    out: &mut impl Write,
    streams: &mut BTreeMap<Labels, Vec<(Nanos, &[u8])>>,
) -> std::io::Result<()> {
    out.write_all(br#"{"streams":["#)?;
    for (i, (labels, values)) in streams.iter_mut().enumerate() {
        values.sort_by_key(|(ts, _)| *ts);
        out.write_all(if i == 0 {
            br#"{"stream":{"#
        } else {
            br#",{"stream":{"#
        })?;
        for (j, (name, value)) in labels.iter().enumerate() {
            if j > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, name)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, value)?;
        }
        out.write_all(br#"},"values":["#)?;
        for (j, (ts, line)) in values.iter().enumerate() {
            write!(out, "{}[\"{ts}\",", if j == 0 { "" } else { "," })?;
            serde_json::to_writer(&mut *out, &String::from_utf8_lossy(line))?;
            out.write_all(b"]")?;
        }
        out.write_all(b"]}")?;
    }
    out.write_all(b"]}")
}

impl Sink for LokiSink {
    type Body = bytes::Bytes;

    fn encode(&self, shipment: &Shipment) -> bytes::Bytes {
        self.body(shipment).into()
    }

    async fn send(&self, _: &Shipment, body: &bytes::Bytes) -> Result<Delivery, SendError> {
        let mut request = self
            .client
            .post(&self.config.push_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body.clone());
        if let Some(tenant) = &self.config.tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        let response = self.config.auth.send(request).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(Delivery::default());
        }
        let text = response.text().await.unwrap_or_default();
        Err(http::classify(status, &text))
    }
}

#[cfg(test)]
mod tests;
