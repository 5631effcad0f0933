//! The architecture's rules, checked on the source: the store alone knows its files, its
//! parts stay private, flags stay in `config`, and no two modules of either crate import
//! each other in a circle.

use std::path::{Path, PathBuf};

/// The crate's `src` folder.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its path relative to `src`.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src()).expect("under src");
                let text = std::fs::read_to_string(&path).expect("read source");
                files.push((relative.display().to_string(), text));
            }
        }
    }
    files.sort();
    files
}

/// The code lines of `text` (comments and doc comments left out).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.trim()))
        .filter(|(_, line)| !line.starts_with("//"))
}

/// Lines outside `allowed` folders/files that contain any of `needles`.
fn offenders(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (file, text) in sources(&src()) {
        if allowed.iter().any(|a| file.starts_with(a)) {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if let Some(needle) = needles.iter().find(|needle| line.contains(*needle)) {
                found.push(format!("{file}:{n}: `{needle}` in `{line}`"));
            }
        }
    }
    found
}

#[test]
fn only_the_store_touches_the_files() {
    let file_work = [
        "std::fs",
        "fs::",
        "File::open",
        "File::create",
        "OpenOptions",
        "read_dir",
        "remove_file",
        ".log\"",
        "\"segments\"",
        "\".forward",
        "SEGMENTS_DIR",
        "file_name()",
    ];
    // The tokens file and the CLI's token file are the operator's configuration, not the
    // store's; the API's tests read answers, whose `"segments"` key is a count.
    let found = offenders(
        &file_work,
        &["store/", "api/auth/tokens.rs", "cli/token.rs", "api/tests/"],
    );
    assert!(
        found.is_empty(),
        "outside `store`, code names the store's files:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_store_shows_only_its_door() {
    let store = std::fs::read_to_string(src().join("store/mod.rs")).expect("store/mod.rs");
    let public: Vec<&str> = store
        .lines()
        .filter(|l| l.starts_with("pub mod ") || l.starts_with("pub(crate) mod "))
        .collect();
    assert!(
        public.is_empty(),
        "store submodules must be private: {public:?}"
    );
}

#[test]
fn flags_stay_at_the_edge() {
    let found = offenders(
        &[
            "clap::",
            "ServeArgs",
            "ForwardArgs",
            "ProtectArgs",
            "AccessArgs",
        ],
        &["config/", "cli/", "main.rs"],
    );
    assert!(
        found.is_empty(),
        "domain modules must take their own settings, not flags:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_module_imports_its_importers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("scripts/check-module-cycles.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(root.join("collector/src"))
        .arg(root.join("layer/src"))
        .output()
        .expect("python3 runs scripts/check-module-cycles.py");
    assert!(
        output.status.success(),
        "import cycles:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
