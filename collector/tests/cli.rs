//! The binary's command line: every setting is documented and reads its variable.
//! (Having an integration test here also makes `cargo test` build the `estuary` binary that
//! the workspace's integration tests run.)

use std::process::Command;

#[test]
fn serve_help_documents_every_setting_and_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_estuary"))
        .args(["serve", "--help"])
        .output()
        .expect("run estuary");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf8");
    for var in [
        "PORT",
        "LOG_DIR",
        "REDIS_URL",
        "SERVICE_NAME",
        "ESTUARY_BIND",
        "ESTUARY_FSYNC",
        "ESTUARY_MAX_BODY_BYTES",
        "ESTUARY_MAX_ENTRY_BYTES",
        "ESTUARY_CORS_ORIGINS",
    ] {
        assert!(
            help.contains(&format!("env: {var}")),
            "{var} missing from:\n{help}"
        );
    }
}
