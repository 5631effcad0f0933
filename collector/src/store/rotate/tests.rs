//! Rotation: the active file becomes a pending segment and the stream continues in a fresh
//! file; finishing names the segment by its time range and (optionally) gzips it.

use std::io::Read;

use super::*;
use crate::query::{Direction, PageRequest};
use crate::store::{FsyncPolicy, Store, StoreConfig};
use crate::timefmt::parse_rfc3339;

fn api() -> ServiceName {
    ServiceName::parse("api").unwrap()
}

fn entry(i: usize, second: usize) -> String {
    format!("{{\"i\":{i},\"timestamp\":\"2026-01-01T00:00:{second:02}Z\"}}\n")
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// The names of the files in `service`'s segment folder, sorted.
fn folder(dir: &Path, service: &ServiceName) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(segments::service_dir(dir, service))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A pending segment of `body` covering `[start, start + body.len())`.
fn pending(dir: &Path, start: u64, body: &str) -> PathBuf {
    let folder = segments::service_dir(dir, &api());
    fs::create_dir_all(&folder).unwrap();
    let end = start + body.len() as u64;
    let path = folder.join(Segment::file_name(timefmt::now(), start, end, None, false));
    fs::write(&path, body).unwrap();
    path
}

#[test]
fn the_stream_continues_in_a_fresh_file_after_the_rotated_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let active = segments::active_path(dir.path(), &api());
    let mut file = LogFile::open(&active, 100).unwrap();
    let body = entry(0, 1) + &entry(1, 2);
    file.commit(body.as_bytes(), &[], crate::store::FsyncPolicy::Never)
        .unwrap();

    let (fresh, segment) = rotate(file, &active, dir.path(), &api(), true).unwrap();
    let end = 100 + body.len() as u64;
    assert_eq!((fresh.base(), fresh.len()), (end, 0));
    assert_eq!(
        fs::read_to_string(&active).unwrap(),
        "",
        "a fresh active file"
    );
    let parsed = segments::list_one(&segment).expect("a segment name");
    assert_eq!((parsed.start, parsed.end), (100, end));
    assert_eq!((parsed.range, parsed.compressed), (None, false), "pending");
    assert_eq!(fs::read_to_string(&segment).unwrap(), body);
    // The base is recorded, so the stream position survives even with no segment left.
    fs::remove_file(&segment).unwrap();
    assert_eq!(segments::active_base(dir.path(), &api()).unwrap(), end);
}

#[test]
fn finishing_names_the_time_range_and_gzips_the_content_intact() {
    let dir = tempfile::tempdir().unwrap();
    // Out of time order, and one line without a timestamp.
    let body = entry(0, 5) + &entry(1, 3) + "{\"no\":\"time\"}\n" + &entry(2, 9);
    let path = pending(dir.path(), 40, &body);
    let finished = finish(&path, true, &RwLock::new(()), true).unwrap();

    let segment = segments::list_one(&finished).expect("a segment name");
    let at = |s: &str| parse_rfc3339(&format!("2026-01-01T00:00:{s}Z")).unwrap();
    assert_eq!(segment.range, Some((at("03"), at("09"))));
    assert_eq!((segment.start, segment.end), (40, 40 + body.len() as u64));
    assert!(segment.compressed);
    assert!(finished.to_string_lossy().ends_with(".log.gz"));
    assert_eq!(gunzip(&finished), body);
    assert_eq!(
        folder(dir.path(), &api()),
        [
            finished.file_name().unwrap().to_string_lossy().into_owned(),
            "40.idx".to_owned()
        ],
        "the pending file and the temporaries are gone; the segment's count index stays"
    );
}

#[test]
fn a_failed_finish_removes_its_temporaries_and_can_be_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let body = entry(0, 5) + &entry(1, 6);
    let path = pending(dir.path(), 0, &body);
    // The new index cannot be written (a directory is in its way): the compression,
    // already written aside, must not stay behind.
    let blocker = segments::service_dir(dir.path(), &api()).join("0.idx.new");
    fs::create_dir(&blocker).unwrap();
    assert!(finish(&path, true, &RwLock::new(()), true).is_err());
    let left = folder(dir.path(), &api());
    assert!(
        left.iter().all(|name| !name.ends_with(".tmp")),
        "no half-written compression: {left:?}"
    );
    assert!(path.exists(), "the pending segment stays readable");

    fs::remove_dir(&blocker).unwrap();
    let finished = finish(&path, true, &RwLock::new(()), true).unwrap();
    assert_eq!(gunzip(&finished), body);
    assert!(!path.exists());
}

#[test]
fn finishing_without_compression_only_renames() {
    let dir = tempfile::tempdir().unwrap();
    let body = entry(0, 1) + &entry(1, 2);
    let path = pending(dir.path(), 0, &body);
    let finished = finish(&path, false, &RwLock::new(()), true).unwrap();
    let segment = segments::list_one(&finished).unwrap();
    assert!(segment.range.is_some());
    assert!(!segment.compressed);
    assert_eq!(fs::read_to_string(&finished).unwrap(), body);
    assert!(!path.exists());
}

#[test]
fn without_the_count_index_finishing_writes_none() {
    let dir = tempfile::tempdir().unwrap();
    let body = entry(0, 1) + &entry(1, 2);
    let path = pending(dir.path(), 0, &body);
    let finished = finish(&path, true, &RwLock::new(()), false).unwrap();
    assert_eq!(gunzip(&finished), body);
    assert_eq!(
        folder(dir.path(), &api()),
        [finished.file_name().unwrap().to_string_lossy().into_owned()],
        "no index beside the segment"
    );
}

#[test]
fn start_up_finishes_pending_segments_and_removes_half_written_compressions() {
    let dir = tempfile::tempdir().unwrap();
    let first = entry(0, 1);
    let done = {
        let path = pending(dir.path(), 0, &first);
        finish(&path, true, &RwLock::new(()), true).unwrap()
    };
    let second = entry(1, 2);
    let left = pending(dir.path(), first.len() as u64, &second);
    let folder_path = segments::service_dir(dir.path(), &api());
    fs::write(folder_path.join("crashed.log.gz.tmp"), b"\x1f\x8b half").unwrap();

    finish_pending(dir.path(), true, &RwLock::new(()), true).unwrap();

    let listed = segments::list(dir.path(), &api()).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].path, done, "a finished segment is left alone");
    assert!(listed[1].compressed && listed[1].range.is_some());
    assert_eq!(gunzip(&listed[1].path), second);
    assert!(!left.exists());
    assert!(
        folder(dir.path(), &api())
            .iter()
            .all(|name| !name.ends_with(".tmp")),
        "{:?}",
        folder(dir.path(), &api())
    );
}

#[test]
fn a_size_policy_never_rotates_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let active = segments::active_path(dir.path(), &api());
    let mut file = LogFile::open(&active, 0).unwrap();
    file.commit(entry(0, 1).as_bytes(), &[], FsyncPolicy::Never)
        .unwrap();
    let policy = |max_bytes| RotationPolicy {
        max_bytes,
        ..RotationPolicy::default()
    };
    assert!(!policy(0).is_due(&file));
    assert!(!policy(file.len() + 1).is_due(&file));
    assert!(policy(file.len()).is_due(&file));
}

#[tokio::test]
async fn the_store_rotates_by_size_and_positions_run_on_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    config.rotation = RotationPolicy {
        max_bytes: 150,
        daily: false,
        compress: true,
    };
    let store = Store::open(config).unwrap();
    let lines: Vec<String> = (0..20).map(|i| entry(i, i)).collect();
    for line in &lines {
        let parsed = crate::body::parse_body(
            format!("{{\"service\":\"api\",{}", &line[1..]).as_bytes(),
            crate::body::BodyFormat::Json,
            1024,
            "unused",
        )
        .unwrap();
        store.append_all(parsed.per_service).await.unwrap();
    }
    // Closing waits for the segments to be finished.
    store.close().await;

    let listed = segments::list(dir.path(), &api()).unwrap();
    assert!(listed.len() >= 3, "{listed:?}");
    let mut at = 0;
    for segment in &listed {
        assert_eq!(segment.start, at, "segments are contiguous");
        assert!(segment.end - segment.start >= 150, "rotated at the size");
        assert!(segment.compressed && segment.range.is_some(), "{segment:?}");
        at = segment.end;
    }
    assert_eq!(segments::active_base(dir.path(), &api()).unwrap(), at);
    assert_eq!(
        store.end_of(&api()).unwrap(),
        at + fs::metadata(segments::active_path(dir.path(), &api()))
            .unwrap()
            .len()
    );

    // Every entry once, in order, each at the position after the one before.
    let page = store
        .query(
            &api(),
            &PageRequest {
                direction: Direction::Forward,
                ..PageRequest::newest(100)
            },
        )
        .unwrap();
    let mut position = 0;
    for (i, hit) in page.hits.iter().enumerate() {
        let stored: serde_json::Value = serde_json::from_slice(&hit.line).unwrap();
        assert_eq!(stored["i"], i);
        assert_eq!(hit.position, position);
        position += hit.line.len() as u64 + 1;
    }
    assert_eq!(page.hits.len(), 20);
    assert_eq!(position, store.end_of(&api()).unwrap());
}

#[test]
fn a_commit_that_would_reach_the_size_limit_does_not_leave_the_file_open() {
    let dir = tempfile::tempdir().unwrap();
    let active = segments::active_path(dir.path(), &api());
    let mut file = LogFile::open(&active, 0).unwrap();
    file.commit(&[b'x'; 90], &[], crate::store::FsyncPolicy::Never)
        .unwrap();
    let by_size = RotationPolicy {
        max_bytes: 100,
        ..RotationPolicy::default()
    };
    assert!(by_size.leaves_open(&file, 9), "ends below the limit");
    assert!(
        !by_size.leaves_open(&file, 10),
        "reaches the limit: rotates after"
    );
    assert!(
        RotationPolicy::default().leaves_open(&file, 1 << 20),
        "never by size"
    );
}

#[test]
fn each_block_is_a_gzip_member_of_its_own_at_its_recorded_offset() {
    let dir = tempfile::tempdir().unwrap();
    // Several blocks' worth (64 KiB each), so the one compressor is reset between members.
    let body: String = (0..12_000).map(|i| entry(i, i % 60)).collect();
    let path = pending(dir.path(), 7, &body);
    let finished = finish(&path, true, &RwLock::new(()), true).unwrap();
    let folder = segments::service_dir(dir.path(), &api());
    let blocks = index::load(&index::sidecar(&folder, 7), 7).unwrap();
    assert!(blocks.len() >= 4, "{} blocks", blocks.len());
    let gz = fs::read(&finished).unwrap();
    let mut offsets = Vec::new();
    for block in &blocks {
        let member = &gz[block.gz_offset as usize..];
        let mut plain = String::new();
        flate2::read::GzDecoder::new(member)
            .read_to_string(&mut plain)
            .unwrap();
        let want = &body[(block.start - 7) as usize..(block.end - 7) as usize];
        assert!(
            plain == want,
            "block at {} decodes to its own lines",
            block.start
        );
        offsets.push(block.gz_offset);
    }
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    assert_eq!(gunzip(&finished), body);
}
