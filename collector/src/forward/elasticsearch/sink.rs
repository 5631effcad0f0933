//! Builds and sends `_bulk` requests, and reads the per-item answers.

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;

use super::ElasticsearchConfig;
use crate::forward::{http, Delivery, SendError, Shipment, Sink};
use crate::timefmt;

/// Sends batches to one Elasticsearch or OpenSearch cluster.
#[derive(Debug, Clone)]
pub struct ElasticsearchSink {
    /// The HTTP client (keeps connections alive between requests).
    client: reqwest::Client,
    /// Where and how to send.
    config: ElasticsearchConfig,
}

/// The part of a `_bulk` answer that matters: per item, its status.
#[derive(Debug, Deserialize)]
struct BulkResponse {
    errors: bool,
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Debug, Deserialize)]
struct BulkItem {
    status: u16,
}

impl ElasticsearchSink {
    /// A sink for `config`, each request bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`reqwest::Error`] when the HTTP client cannot be built.
    pub fn new(config: &ElasticsearchConfig, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(ElasticsearchSink {
            client: http::client(timeout)?,
            config: config.clone(),
        })
    }

    /// The NDJSON body: a `create` action and the stored line per entry, each ending in
    /// `\n` (the last one too, as `_bulk` requires).
    pub fn body(&self, shipment: &Shipment) -> Vec<u8> {
        let service = shipment.service.as_str();
        let now = timefmt::now();
        let fixed = (!self.config.index.is_dated()).then(|| self.config.index.render(service, now));
        let mut body = Vec::with_capacity(shipment.read.buf.len() + shipment.len() * 64);
        for line in shipment.entries() {
            let index = match &fixed {
                Some(index) => index.clone(),
                None => self
                    .config
                    .index
                    .render(service, crate::filter::timestamp_nanos(line).unwrap_or(now)),
            };
            body.extend_from_slice(br#"{"create":{"_index":"#);
            serde_json::to_writer(&mut body, &index).expect("writing to memory cannot fail");
            body.extend_from_slice(b"}}\n");
            body.write_all(line).expect("writing to memory cannot fail");
            body.push(b'\n');
        }
        body
    }
}

/// Which items to retry (429 and 5xx) and how many failed for good.
fn sort_items(response: BulkResponse) -> Delivery {
    let mut delivery = Delivery::default();
    if !response.errors {
        return delivery;
    }
    for (i, item) in response.items.iter().enumerate() {
        let status = item.values().next().map_or(500, |item| item.status);
        match status {
            200..=299 => {}
            429 | 500..=599 => delivery.retry.push(i),
            _ => delivery.rejected += 1,
        }
    }
    delivery
}

impl Sink for ElasticsearchSink {
    type Body = bytes::Bytes;

    fn encode(&self, shipment: &Shipment) -> bytes::Bytes {
        self.body(shipment).into()
    }

    async fn send(&self, shipment: &Shipment, body: &bytes::Bytes) -> Result<Delivery, SendError> {
        let request = self
            .client
            .post(&self.config.bulk_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body.clone());
        let response = self.config.auth.send(request).await?;
        let status = response.status();
        let text = response.text().await.map_err(|e| http::transport(&e))?;
        if !status.is_success() {
            return Err(http::classify(status, &text));
        }
        let parsed: BulkResponse = serde_json::from_str(&text)
            .map_err(|e| SendError::Retry(format!("unreadable _bulk answer: {e}")))?;
        if parsed.errors && parsed.items.len() != shipment.len() {
            return Err(SendError::Retry(format!(
                "_bulk answered {} items for {}",
                parsed.items.len(),
                shipment.len()
            )));
        }
        Ok(sort_items(parsed))
    }
}

#[cfg(test)]
mod tests;
