//! The writer actor: group commit, order, acknowledgement after the write, and refusal
//! with rollback when the write fails.

use std::sync::Mutex;

use super::*;

/// Records every commit event, with the file's length at the moment it was announced.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(Arc<Committed>, u64)>>,
    path: Mutex<Option<PathBuf>>,
}

impl CommitListener for Recorder {
    fn committed(&self, commit: &Arc<Committed>) {
        let path = self.path.lock().unwrap().clone().expect("path");
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        self.events.lock().unwrap().push((commit.clone(), len));
    }
}

impl Recorder {
    /// (entries, lines, end offset) of each commit so far.
    fn commits(&self) -> Vec<(usize, String, u64)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _)| {
                let lines = String::from_utf8(c.lines.to_vec()).unwrap();
                (c.entries, lines, c.end_offset)
            })
            .collect()
    }
}

/// A writer for service `api` in `dir`, not yet running, and its queue.
struct Harness {
    writer: Writer,
    queue: mpsc::Sender<Append>,
    recorder: Arc<Recorder>,
    path: PathBuf,
}

fn harness(dir: &std::path::Path, max_commit_bytes: usize) -> Harness {
    let mut config = StoreConfig::new(dir);
    config.max_commit_bytes = max_commit_bytes;
    let service = ServiceName::parse("api").unwrap();
    let path = segments::active_path(dir, &service);
    let recorder = Arc::new(Recorder::default());
    *recorder.path.lock().unwrap() = Some(path.clone());
    let listeners: Arc<[Arc<dyn CommitListener>]> = Arc::new([recorder.clone() as _]);
    let (queue, receiver) = mpsc::channel(64);
    let writer = Writer::new(
        service,
        path.clone(),
        &config,
        listeners,
        Arc::new(RwLock::new(())),
        TaskTracker::new(),
        receiver,
    );
    Harness {
        writer,
        queue,
        recorder,
        path,
    }
}

/// Queues `lines` (complete lines) and returns where its outcome arrives.
async fn queue(
    queue: &mpsc::Sender<Append>,
    lines: &str,
) -> oneshot::Receiver<Result<(), AppendError>> {
    let (ack, acked) = oneshot::channel();
    let parsed = crate::body::ServiceLines::from_lines(
        ServiceName::parse("tests").expect("name"),
        lines.as_bytes().to_vec(),
    );
    let append = Append {
        lines: parsed.lines,
        entries: parsed.entries,
        facts: parsed.facts,
        ack,
    };
    queue.send(append).await.expect("writer queue");
    acked
}

fn read(path: &std::path::Path) -> String {
    String::from_utf8(std::fs::read(path).unwrap_or_default()).unwrap()
}

#[tokio::test]
async fn appends_queued_together_go_out_as_one_commit_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path(), 1 << 20);
    let first = queue(&h.queue, "{\"i\":0}\n").await;
    let second = queue(&h.queue, "{\"i\":1}\n{\"i\":2}\n").await;
    let third = queue(&h.queue, "{\"i\":3}\n").await;
    let running = tokio::spawn(h.writer.run());
    for ack in [first, second, third] {
        assert!(matches!(ack.await, Ok(Ok(()))));
    }
    let all = "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n";
    assert_eq!(read(&h.path), all);
    assert_eq!(
        h.recorder.commits(),
        [(4, all.to_owned(), all.len() as u64)],
        "one commit event for the whole group"
    );
    drop(h.queue);
    running
        .await
        .expect("the writer ends when its queue closes");
}

#[tokio::test]
async fn a_group_stops_at_the_commit_size() {
    let dir = tempfile::tempdir().unwrap();
    // Each append is 8 bytes: the first two reach 16 >= 10, the third goes alone.
    let h = harness(dir.path(), 10);
    let acks = [
        queue(&h.queue, "{\"i\":0}\n").await,
        queue(&h.queue, "{\"i\":1}\n").await,
        queue(&h.queue, "{\"i\":2}\n").await,
    ];
    let running = tokio::spawn(h.writer.run());
    for ack in acks {
        assert!(matches!(ack.await, Ok(Ok(()))));
    }
    assert_eq!(
        h.recorder.commits(),
        [
            (2, "{\"i\":0}\n{\"i\":1}\n".to_owned(), 16),
            (1, "{\"i\":2}\n".to_owned(), 24)
        ]
    );
    drop(h.queue);
    running.await.unwrap();
}

#[tokio::test]
async fn an_ack_and_its_commit_event_come_after_the_bytes_are_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path(), 1 << 20);
    let running = tokio::spawn(h.writer.run());
    let mut expected = String::new();
    for i in 0..50 {
        let line = format!("{{\"i\":{i}}}\n");
        expected.push_str(&line);
        queue(&h.queue, &line).await.await.unwrap().unwrap();
        assert_eq!(
            read(&h.path),
            expected,
            "acknowledged entry {i} is in the file"
        );
    }
    for (commit, len_when_announced) in h.recorder.events.lock().unwrap().iter() {
        assert!(
            *len_when_announced >= commit.end_offset,
            "announced at length {len_when_announced}, before its end {}",
            commit.end_offset
        );
    }
    drop(h.queue);
    running.await.unwrap();
}

#[tokio::test]
async fn a_path_that_cannot_be_written_refuses_the_append_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path(), 1 << 20);
    // A folder where the active file should be: opening it for append fails.
    std::fs::create_dir(&h.path).unwrap();
    let running = tokio::spawn(h.writer.run());
    let refused = queue(&h.queue, "{\"lost\":1}\n").await.await.unwrap();
    assert!(matches!(refused, Err(AppendError::Io(_))), "{refused:?}");
    assert!(
        h.recorder.commits().is_empty(),
        "a failed write is not announced"
    );

    std::fs::remove_dir(&h.path).unwrap();
    queue(&h.queue, "{\"kept\":1}\n")
        .await
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read(&h.path), "{\"kept\":1}\n");
    assert_eq!(h.recorder.commits(), [(1, "{\"kept\":1}\n".to_owned(), 11)]);
    drop(h.queue);
    running.await.unwrap();
}

/// Set in the child process that runs [`a_write_cut_short_is_rolled_back`] under a file
/// size limit (the limit is per process, so it must not touch the other tests).
const FSIZE_CHILD: &str = "ESTUARY_TEST_FSIZE_CHILD";

/// A write the kernel cuts short (here: the file size limit, as a full disk would) leaves
/// no partial line: the file is truncated back, the append is refused as "full", nothing
/// is announced, and the next append is written right after the last good one.
#[test]
fn a_write_cut_short_is_rolled_back() {
    if std::env::var_os(FSIZE_CHILD).is_none() {
        let name = "store::writer::tests::a_write_cut_short_is_rolled_back";
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(FSIZE_CHILD, "1")
            .output()
            .expect("run the test binary");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Past the limit the kernel sends SIGXFSZ, which would end the process; with a
        // handler registered the write fails with EFBIG instead.
        let _sigxfsz =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ))
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let h = harness(dir.path(), 1 << 20);
        let running = tokio::spawn(h.writer.run());
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let maximum = getrlimit(Resource::Fsize).maximum;
        setrlimit(
            Resource::Fsize,
            Rlimit {
                current: Some(100),
                maximum,
            },
        )
        .unwrap();

        let first = format!("{{\"pad\":\"{}\"}}\n", "a".repeat(50)); // 61 bytes
        queue(&h.queue, &first).await.await.unwrap().unwrap();
        // 61 + 81 > 100: the kernel writes 39 bytes, then refuses the rest.
        let too_long = format!("{{\"pad\":\"{}\"}}\n", "b".repeat(70));
        let refused = queue(&h.queue, &too_long).await.await.unwrap();
        assert!(matches!(refused, Err(AppendError::Full(_))), "{refused:?}");
        assert_eq!(read(&h.path), first, "the partial line was cut off");

        let next = "{\"c\":1}\n";
        queue(&h.queue, next).await.await.unwrap().unwrap();
        assert_eq!(read(&h.path), format!("{first}{next}"));
        let ends: Vec<u64> = h.recorder.commits().iter().map(|c| c.2).collect();
        assert_eq!(ends, [61, 61 + next.len() as u64]);

        setrlimit(
            Resource::Fsize,
            Rlimit {
                current: maximum,
                maximum,
            },
        )
        .unwrap();
        drop(h.queue);
        running.await.unwrap();
    });
}
