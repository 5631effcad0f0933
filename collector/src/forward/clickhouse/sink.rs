//! Builds and sends ClickHouse inserts; prepares the table first.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::clickhouse::row::{write_row, Origin};
use crate::clickhouse::{schema, ClickHouseConfig, ClickHouseError, Client};
use crate::forward::{Delivery, SendError, Shipment, Sink};

/// Inserts batches into one ClickHouse table.
#[derive(Debug)]
pub struct ClickHouseSink {
    /// The server and table.
    client: Client,
    /// Whether the table was checked (and created) since the last failure that may mean it
    /// changed.
    ready: AtomicBool,
}

impl ClickHouseSink {
    /// A sink for `config`, each request bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`reqwest::Error`] when the HTTP client cannot be built.
    pub fn new(config: &ClickHouseConfig, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(ClickHouseSink {
            client: Client::new(config, timeout)?,
            ready: AtomicBool::new(false),
        })
    }

    /// Detects the version, creates the table when missing (if allowed) and checks its
    /// columns.
    ///
    /// # Errors
    ///
    /// [`ClickHouseError`]: unreachable, credentials refused, or an incompatible table.
    pub async fn prepare(&self) -> Result<(), ClickHouseError> {
        let config = self.client.config();
        let version = self.client.version().await?;
        let features = schema::Features::of(&version);
        if config.create_table {
            let ddl = schema::create_table(&config.qualified(), features);
            self.client.query(&ddl).await?;
        }
        let columns = self
            .client
            .query(&schema::columns_query(&config.database, &config.table))
            .await?;
        let table = format!("{}.{}", config.database, config.table);
        if columns.trim().is_empty() {
            return Err(ClickHouseError::Schema {
                table,
                reason: "it does not exist and --clickhouse-create-table is off".into(),
            });
        }
        if let Some(reason) = schema::check_columns(&columns) {
            return Err(ClickHouseError::Schema { table, reason });
        }
        tracing::info!(%table, version = ?version, ?features, "ClickHouse table ready");
        Ok(())
    }

    /// The `JSONEachRow` body for `shipment`'s pending entries, gzip-compressed when the
    /// insert settings say so. Rows are compressed as they are written, a few hundred KiB
    /// at a time, so a batch never holds its uncompressed rows whole.
    pub fn body(&self, shipment: &Shipment) -> Vec<u8> {
        let config = self.client.config();
        let origin = Origin {
            service: shipment.service.as_str(),
            collector: &config.collector,
        };
        let rows = shipment.pending.iter().map(|&i| {
            let at = shipment.read.positions[i];
            (at, shipment.read.line(i))
        });
        if !config.insert.gzip {
            let mut body = Vec::with_capacity(shipment.read.buf.len() * 3);
            for (at, line) in rows {
                write_row(&mut body, origin, at, line);
            }
            return body;
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(shipment.read.buf.len() / 4),
            flate2::Compression::fast(),
        );
        let mut chunk = Vec::with_capacity(ROWS_CHUNK + 4096);
        for (at, line) in rows {
            write_row(&mut chunk, origin, at, line);
            if chunk.len() >= ROWS_CHUNK {
                gz.write_all(&chunk).expect("writing to memory cannot fail");
                chunk.clear();
            }
        }
        gz.write_all(&chunk).expect("writing to memory cannot fail");
        gz.finish().expect("writing to memory cannot fail")
    }
}

/// Rows written before they are handed to the compressor.
const ROWS_CHUNK: usize = 256 * 1024;

impl Sink for ClickHouseSink {
    type Body = bytes::Bytes;

    fn encode(&self, shipment: &Shipment) -> bytes::Bytes {
        self.body(shipment).into()
    }

    async fn send(&self, _: &Shipment, body: &bytes::Bytes) -> Result<Delivery, SendError> {
        if !self.ready.load(Ordering::Relaxed) {
            self.prepare()
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?;
            self.ready.store(true, Ordering::Relaxed);
        }
        match self.client.insert(body.clone()).await {
            Ok(()) => Ok(Delivery::default()),
            // Every failure is retried, never skipped: the rows are ours and well formed,
            // so a refusal is a server or table problem an operator can fix (and /health
            // shows it). The table is checked again before the next attempt.
            Err(err) => {
                if !matches!(err, ClickHouseError::Unreachable { .. }) {
                    self.ready.store(false, Ordering::Relaxed);
                }
                Err(SendError::Retry(err.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
