//! The insert body: the same rows with and without gzip, compressed chunk by chunk.

use std::io::Read;

use super::*;
use crate::clickhouse::InsertSettings;
use crate::forward::tests::shipment;

fn sink(gzip: bool) -> ClickHouseSink {
    let config = ClickHouseConfig {
        url: "http://ch.invalid:8123".into(),
        database: "logs".into(),
        table: "entries".into(),
        credentials: Default::default(),
        create_table: true,
        collector: "c1".into(),
        insert: InsertSettings {
            gzip,
            ..InsertSettings::default()
        },
    };
    ClickHouseSink::new(&config, Duration::from_secs(1)).unwrap()
}

#[test]
fn the_body_holds_one_row_per_pending_entry_gzipped_or_not() {
    // Enough rows for several compressed chunks.
    let lines: Vec<String> = (0..3_000)
        .map(|i| format!(r#"{{"timestamp":"2026-01-01T00:00:{:02}Z","level":"info","message":"m{i}","pad":"{}"}}"#, i % 60, "x".repeat(100)))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut batch = shipment(
        "api",
        &refs,
        (0..refs.len()).filter(|i| i % 3 != 1).collect(),
    );
    batch.read.positions = (0..refs.len() as u64).map(|i| i * 1000).collect();

    let mut expected = Vec::new();
    let origin = Origin {
        service: "api",
        collector: "c1",
    };
    for &i in &batch.pending {
        write_row(&mut expected, origin, i as u64 * 1000, refs[i].as_bytes());
    }
    assert!(expected.len() > 2 * ROWS_CHUNK, "several chunks");

    let plain = sink(false).body(&batch);
    assert_eq!(plain, expected);

    let gzipped = sink(true).body(&batch);
    assert!(gzipped.len() < expected.len() / 4, "compressed");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, expected);
}
