//! The forward reader: across gzip and plain segments into the active file, exact `next`
//! positions, partial lines held back, and jumps over what retention deleted.

use std::fs::OpenOptions;
use std::io::Write;

use super::*;
use crate::store::segments::Segment;
use crate::store::{Store, StoreConfig};

fn line(i: usize) -> String {
    format!("{{\"i\":{i}}}\n")
}

/// Entries 0..5 in a gzip segment, 5..10 in a plain one, 10..15 in the active file, which
/// ends in half a line. Returns the folder and the position of each entry (and the end).
fn fixture() -> (tempfile::TempDir, ServiceName, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let service = ServiceName::parse("api").unwrap();
    let folder = segments::service_dir(dir.path(), &service);
    std::fs::create_dir_all(&folder).unwrap();
    let mut positions = vec![0u64];
    for i in 0..15 {
        positions.push(positions[i] + line(i).len() as u64);
    }
    let body = |range: Range<usize>| range.map(line).collect::<String>();
    let gz = folder.join(Segment::file_name(1, 0, positions[5], None, true));
    let mut encoder =
        flate2::write::GzEncoder::new(File::create(gz).unwrap(), flate2::Compression::fast());
    encoder.write_all(body(0..5).as_bytes()).unwrap();
    encoder.finish().unwrap();
    let plain = folder.join(Segment::file_name(
        2,
        positions[5],
        positions[10],
        None,
        false,
    ));
    std::fs::write(plain, body(5..10)).unwrap();
    let active = segments::active_path(dir.path(), &service);
    std::fs::write(active, body(10..15) + "{\"i\":15").unwrap();
    (dir, service, positions)
}

fn reader(dir: &Path, service: &ServiceName) -> StreamReader {
    StreamReader::new(dir, service.clone(), Arc::new(RwLock::new(())))
}

/// The `i` of each line of a chunk.
fn ids(chunk: &StreamChunk) -> Vec<u64> {
    (0..chunk.lines.len())
        .map(|k| {
            let value: serde_json::Value = serde_json::from_slice(chunk.line(k)).unwrap();
            value["i"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn reads_gzip_plain_and_active_files_in_order() {
    let (dir, service, positions) = fixture();
    let chunk = reader(dir.path(), &service).read(0, 100, 1 << 20).unwrap();
    assert_eq!(ids(&chunk), (0..15).collect::<Vec<_>>());
    assert_eq!(chunk.next, positions[15], "up to the last complete line");
    assert_eq!(chunk.lost, None);
    assert!(
        !chunk.buf.contains(&b'\n'),
        "lines come without their newline"
    );
}

#[test]
fn each_read_goes_on_exactly_where_the_last_stopped() {
    let (dir, service, positions) = fixture();
    let mut reader = reader(dir.path(), &service);
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let chunk = reader.read(from, 2, 1 << 20).unwrap();
        if chunk.lines.is_empty() {
            assert_eq!(chunk.next, from, "nothing read, no move");
            break;
        }
        assert!(chunk.lines.len() <= 2);
        let got = ids(&chunk);
        let last = *got.last().unwrap() as usize;
        assert_eq!(
            chunk.next,
            positions[last + 1],
            "next is past the last line read"
        );
        seen.extend(got);
        from = chunk.next;
    }
    assert_eq!(seen, (0..15).collect::<Vec<_>>());

    // From any line's position, a fresh reader starts at that line, in any kind of file.
    for start in [3, 5, 7, 12] {
        let chunk = super::StreamReader::new(dir.path(), service.clone(), Arc::default())
            .read(positions[start], 1, 1 << 20)
            .unwrap();
        assert_eq!(ids(&chunk), [start as u64]);
    }
    // A byte budget stops the read after the line that crosses it.
    let chunk = reader.read(0, 100, 1).unwrap();
    assert_eq!(ids(&chunk), [0]);
}

#[test]
fn a_half_written_line_is_returned_only_once_complete() {
    let (dir, service, positions) = fixture();
    let mut reader = reader(dir.path(), &service);
    let chunk = reader.read(positions[14], 100, 1 << 20).unwrap();
    assert_eq!(ids(&chunk), [14]);
    assert_eq!(chunk.next, positions[15]);
    let again = reader.read(chunk.next, 100, 1 << 20).unwrap();
    assert!(again.lines.is_empty());
    assert_eq!(again.next, positions[15]);

    let active = segments::active_path(dir.path(), &service);
    let mut file = OpenOptions::new().append(true).open(active).unwrap();
    file.write_all(b"}\n").unwrap();
    let done = reader.read(again.next, 100, 1 << 20).unwrap();
    assert_eq!(ids(&done), [15]);
    assert_eq!(done.next, positions[15] + line(15).len() as u64);
}

#[test]
fn a_position_retention_deleted_is_reported_lost_and_skipped() {
    let (dir, service, positions) = fixture();
    let listed = segments::list(dir.path(), &service).unwrap();
    std::fs::remove_file(&listed[0].path).unwrap();
    let mut reader = reader(dir.path(), &service);
    let chunk = reader.read(positions[2], 3, 1 << 20).unwrap();
    assert_eq!(chunk.lost, Some(positions[2]..positions[5]));
    assert_eq!(ids(&chunk), [5, 6, 7]);
    assert_eq!(chunk.next, positions[8]);
    // Reading on from there loses nothing more.
    let on = reader.read(chunk.next, 100, 1 << 20).unwrap();
    assert_eq!(on.lost, None);
    assert_eq!(ids(&on), (8..15).collect::<Vec<_>>());
}

#[test]
fn a_gap_up_to_the_active_file_is_jumped_over() {
    // The newest segment is gone but an older one is kept: positions between them lead
    // to the active file, whose start is recorded in `base`.
    let (dir, service, positions) = fixture();
    let listed = segments::list(dir.path(), &service).unwrap();
    std::fs::remove_file(&listed[1].path).unwrap();
    segments::record_base(dir.path(), &service, positions[10]).unwrap();

    let chunk = reader(dir.path(), &service)
        .read(positions[7], 100, 1 << 20)
        .unwrap();
    assert_eq!(chunk.lost, Some(positions[7]..positions[10]));
    assert_eq!(ids(&chunk), (10..15).collect::<Vec<_>>());
}

#[test]
fn a_missing_segment_between_two_kept_ones_is_jumped_over() {
    let (dir, service, positions) = fixture();
    // A third segment makes the plain one a middle one: 10..15 move into a segment, the
    // active file holds the half line only.
    let folder = segments::service_dir(dir.path(), &service);
    let body: String = (10..15).map(line).collect();
    std::fs::write(
        folder.join(Segment::file_name(
            3,
            positions[10],
            positions[15],
            None,
            false,
        )),
        body,
    )
    .unwrap();
    std::fs::write(segments::active_path(dir.path(), &service), "{\"i\":15").unwrap();
    let listed = segments::list(dir.path(), &service).unwrap();
    std::fs::remove_file(&listed[1].path).unwrap();

    let chunk = reader(dir.path(), &service)
        .read(positions[5], 100, 1 << 20)
        .unwrap();
    assert_eq!(chunk.lost, Some(positions[5]..positions[10]));
    assert_eq!(ids(&chunk), (10..15).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_reader_follows_the_stream_through_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    config.rotation.max_bytes = 60;
    config.rotation.compress = true;
    let store = Store::open(config).unwrap();
    let service = ServiceName::parse("api").unwrap();
    let mut reader = store.reader(service.clone());
    let (mut seen, mut next) = (Vec::new(), 0);
    let mut read_on = |reader: &mut StreamReader, seen: &mut Vec<u64>| loop {
        let chunk = reader.read(next, 1, 1 << 20).unwrap();
        assert_eq!(chunk.lost, None);
        if chunk.lines.is_empty() {
            return;
        }
        seen.extend(ids(&chunk));
        next = chunk.next;
    };
    for i in 0..40 {
        let body = format!("{{\"service\":\"api\",\"i\":{i}}}");
        let parsed =
            crate::body::parse_body(body.as_bytes(), crate::body::BodyFormat::Json, 1024, "t")
                .unwrap();
        store.append_all(parsed.per_service).await.unwrap();
        read_on(&mut reader, &mut seen);
    }
    store.close().await;
    read_on(&mut reader, &mut seen);
    read_on(&mut reader, &mut seen);
    assert!(store.usage(&service).unwrap().segments > 5);
    assert_eq!(
        seen,
        (0..40).collect::<Vec<_>>(),
        "every entry once, in order"
    );
    assert_eq!(next, store.end_of(&service).unwrap());
}
