//! Retention: oldest segments first by age, per-service bytes and total bytes; never the
//! active file; never a segment a reader still needs.

use super::*;
use crate::store::{Store, StoreConfig};

/// A log folder with segments and active files made to measure.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A finished segment of `service` closed `ago` ago, covering `[start, start + bytes)`.
    fn segment(&self, service: &str, ago: Duration, start: u64, bytes: usize) -> PathBuf {
        let service = ServiceName::parse(service).unwrap();
        let folder = segments::service_dir(self.path(), &service);
        std::fs::create_dir_all(&folder).unwrap();
        let rotated = timefmt::now() - ago.as_nanos() as i128;
        let end = start + bytes as u64;
        let name = Segment::file_name(rotated, start, end, Some((1, 2)), false);
        let path = folder.join(name);
        std::fs::write(&path, vec![b'x'; bytes]).unwrap();
        segments::record_base(self.path(), &service, end).unwrap();
        path
    }

    /// `service`'s active file, `bytes` long.
    fn active(&self, service: &str, bytes: usize) -> PathBuf {
        let service = ServiceName::parse(service).unwrap();
        let path = segments::active_path(self.path(), &service);
        std::fs::write(&path, vec![b'y'; bytes]).unwrap();
        path
    }

    fn enforce(&self, policy: RetentionPolicy, needed: &NeededFrom) -> Vec<PathBuf> {
        let mut deleted = enforce(self.path(), &RwLock::new(()), &policy, needed).unwrap();
        deleted.sort();
        deleted
    }
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

fn nothing_needed(_: &ServiceName) -> Option<u64> {
    None
}

fn sorted(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths
}

#[test]
fn age_deletes_the_segments_closed_too_long_ago() {
    let f = Fixture::new();
    let oldest = f.segment("api", hours(3), 0, 10);
    let old = f.segment("api", hours(2), 10, 10);
    let recent = f.segment("api", Duration::from_secs(600), 20, 10);
    let active = f.active("api", 10);
    let policy = RetentionPolicy {
        max_age: Some(hours(1)),
        ..RetentionPolicy::default()
    };
    assert!(!policy.is_off());
    assert_eq!(
        f.enforce(policy, &nothing_needed),
        sorted(vec![oldest, old])
    );
    assert!(recent.exists() && active.exists());
}

#[test]
fn service_bytes_delete_the_oldest_first_counting_the_active_file() {
    let f = Fixture::new();
    let first = f.segment("api", hours(3), 0, 100);
    let second = f.segment("api", hours(2), 100, 100);
    let third = f.segment("api", hours(1), 200, 100);
    f.active("api", 50);
    let other = f.segment("web", hours(9), 0, 500);
    let policy = RetentionPolicy {
        max_service_bytes: Some(210),
        ..RetentionPolicy::default()
    };
    // api: 300 of segments must fit in 210 - 50 active: its two oldest go. web's 500 is
    // over its own cap; api's bytes did not count against it (nor web's against api).
    assert_eq!(
        f.enforce(policy, &nothing_needed),
        sorted(vec![first, second, other])
    );
    assert!(third.exists());
}

#[test]
fn total_bytes_delete_the_oldest_across_services_counting_the_active_files() {
    let f = Fixture::new();
    let api_old = f.segment("api", hours(5), 0, 100);
    let api_new = f.segment("api", hours(1), 100, 100);
    let web = f.segment("web", hours(3), 0, 100);
    f.active("api", 60);
    f.active("web", 60);
    let policy = |total| RetentionPolicy {
        max_total_bytes: Some(total),
        ..RetentionPolicy::default()
    };
    // 300 of segments must fit in 320 - 120 active: the oldest of all goes.
    assert_eq!(f.enforce(policy(320), &nothing_needed), [api_old]);
    // Then web's (closed 3 h ago) before api's newer one (1 h), although api sorts first.
    assert_eq!(f.enforce(policy(220), &nothing_needed), [web]);
    assert!(api_new.exists());
}

#[test]
fn the_active_files_are_never_deleted() {
    let f = Fixture::new();
    let segment = f.segment("api", hours(100), 0, 10);
    let api = f.active("api", 500);
    let web = f.active("web", 500);
    let policy = RetentionPolicy {
        max_age: Some(Duration::ZERO),
        max_service_bytes: Some(0),
        max_total_bytes: Some(0),
    };
    assert_eq!(f.enforce(policy, &nothing_needed), [segment]);
    assert_eq!(std::fs::metadata(api).unwrap().len(), 500);
    assert_eq!(std::fs::metadata(web).unwrap().len(), 500);
}

#[test]
fn a_segment_a_reader_still_needs_is_kept_whatever_the_policy() {
    let f = Fixture::new();
    let first = f.segment("api", hours(3), 0, 100);
    let second = f.segment("api", hours(3), 100, 100);
    let third = f.segment("api", hours(3), 200, 100);
    let web = f.segment("web", hours(3), 0, 100);
    let policy = RetentionPolicy {
        max_age: Some(hours(1)),
        max_service_bytes: Some(0),
        max_total_bytes: Some(0),
    };
    // A reader of api is at 150: the segment holding it and all after it stay.
    let reader_at = |service: &ServiceName| (service.as_str() == "api").then_some(150);
    assert_eq!(f.enforce(policy, &reader_at), sorted(vec![first, web]));
    assert!(second.exists() && third.exists());
    // Once it has read up to the end of a segment, that segment may go.
    let reader_at = |service: &ServiceName| (service.as_str() == "api").then_some(200);
    assert_eq!(f.enforce(policy, &reader_at), [second]);
    assert!(third.exists());
}

#[tokio::test]
async fn after_deleting_every_segment_the_stream_keeps_its_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    config.rotation.max_bytes = 100;
    let store = Store::open(config).unwrap();
    for i in 0..10 {
        let body = format!(
            "{{\"service\":\"api\",\"i\":{i},\"pad\":\"{}\"}}",
            "p".repeat(30)
        );
        let parsed =
            crate::body::parse_body(body.as_bytes(), crate::body::BodyFormat::Json, 1024, "t")
                .unwrap();
        store.append_all(parsed.per_service).await.unwrap();
    }
    store.close().await;
    let api = ServiceName::parse("api").unwrap();
    let end = store.end_of(&api).unwrap();
    let usage = store.usage(&api).unwrap();
    assert!(usage.segments >= 2, "{usage:?}");
    let policy = RetentionPolicy {
        max_service_bytes: Some(0),
        ..RetentionPolicy::default()
    };
    assert_eq!(
        store.enforce_retention(&policy, &nothing_needed).unwrap(),
        usage.segments
    );
    let after = store.usage(&api).unwrap();
    assert_eq!((after.segments, after.segment_bytes), (0, 0));
    assert_eq!(after.active_bytes, usage.active_bytes);
    assert_eq!(store.end_of(&api).unwrap(), end, "positions do not move");
    // The reader is told what it lost, and goes on with what is kept.
    let read = store.reader(api.clone()).read(0, 100, 1 << 20).unwrap();
    let base = end - after.active_bytes;
    assert_eq!(read.lost, Some(0..base));
    assert_eq!(read.next, end);
}
