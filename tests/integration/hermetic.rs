//! The test suite leaves the user's own setup alone (issue 13, defect 16): a developer with
//! `TOLLGATE_DB`, an AWS profile or a proxy of their own exported must not find the tests' runs
//! in their database, nor the tests going through their proxy.
//!
//! The proof runs the real thing: the test binary runs itself again, one inner test only, in an
//! environment that looks like such a developer's, and the inner test records runs through every
//! helper that starts tollgate. `std::env::set_var` would race the other tests' threads; a
//! process of its own does not.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{tollgate, Tollgate};
use crate::moto::{run_bounded, tollgate_record, tollgate_run};

/// Set only by the outer test: without it the inner test does nothing.
const INNER_GATE: &str = "TOLLGATE_TEST_HERMETIC_INNER";
/// The inner test's full name, for `--exact`.
const INNER_TEST: &str = "hermetic::inner_every_helper_records_only_where_the_test_says";

/// What the developer exported, by name: what it would do if it leaked is in the comment.
fn users_environment(user: &Path) -> Vec<(&'static str, String)> {
    let path = |name: &str| user.join(name).display().to_string();
    vec![
        // Runs recorded into the user's database.
        ("TOLLGATE_DB", path("users-own.db")),
        // Without TOLLGATE_DB, the default database and the CA: also the user's.
        ("XDG_STATE_HOME", path("xdg-state")),
        ("XDG_DATA_HOME", path("xdg-data")),
        // tollgate refuses to start (125): a price overlay that is not there.
        ("TOLLGATE_PRICING", path("users-prices.toml")),
        // tollgate's stderr full of trace lines.
        ("RUST_LOG", "trace".to_string()),
        ("TOLLGATE_LOG", "trace".to_string()),
        // A workload using the user's credentials and account.
        ("AWS_PROFILE", "users-production".to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIAUSERSOWNKEY00000".to_string()),
        // The tests' traffic through a proxy of the user's (nothing listens on port 9).
        ("HTTPS_PROXY", "http://127.0.0.1:9".to_string()),
        ("https_proxy", "http://127.0.0.1:9".to_string()),
        ("ALL_PROXY", "http://127.0.0.1:9".to_string()),
    ]
}

#[test]
fn the_test_suite_never_writes_into_the_users_database() {
    let user = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([INNER_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .envs(users_environment(user.path()))
        .env(INNER_GATE, "1")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    // Nothing of the user's was created: not the database TOLLGATE_DB names, nor the default
    // one, nor a CA in the user's data directory.
    for name in ["users-own.db", "xdg-state", "xdg-data"] {
        assert!(
            !user.path().join(name).exists(),
            "{name} was created in the user's directory\n{all}"
        );
    }
    assert!(output.status.success(), "the inner test failed\n{all}");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the inner test did not run\n{all}"
    );
}

/// Runs only under [`the_test_suite_never_writes_into_the_users_database`].
#[test]
fn inner_every_helper_records_only_where_the_test_says() {
    if std::env::var_os(INNER_GATE).is_none() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();

    // `common::tollgate`: a run, and what its command sees. tollgate sets the proxy for the
    // command itself; nothing else of the user's reaches it.
    let home = scratch.join("home");
    let (code, stdout, stderr) = tollgate(
        &home,
        &[
            "run",
            "-q",
            "--",
            "sh",
            "-c",
            "echo \"${AWS_PROFILE-unset}|${AWS_ACCESS_KEY_ID-unset}|${TOLLGATE_DB-unset}|$HTTPS_PROXY|${ALL_PROXY-unset}\"",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "", "tollgate's stderr, quiet and without logs");
    let fields: Vec<&str> = stdout.trim().split('|').collect();
    assert_eq!(fields[..3], ["unset", "unset", "unset"], "{stdout}");
    assert!(fields[3].starts_with("http://127.0.0.1:"), "{stdout}");
    assert_ne!(fields[3], "http://127.0.0.1:9", "{stdout}");
    assert_eq!(fields[4], "unset", "{stdout}");
    assert!(home.join("tollgate.db").exists(), "recorded in the home");

    // `common::Tollgate::serve`: a proxy that records until stopped. Its database is open
    // before it prints the exports the helper waits for.
    let serve = Tollgate::serve(&[]);
    assert!(serve.home.path().join("tollgate.db").exists());
    drop(serve);

    // `moto::tollgate_run`, as the end-to-end tests run a workload (without moto: `sh`).
    let summary = scratch.join("summary.json");
    let workload_env = scratch.join("workload-env");
    let command = tollgate_run(
        scratch,
        None,
        &summary,
        Path::new("sh"),
        [
            "-c",
            "echo \"${AWS_PROFILE-unset}|$AWS_ACCESS_KEY_ID|${TOLLGATE_DB-unset}\" > \"$0\"",
            workload_env.to_str().unwrap(),
        ],
    );
    let run = run_bounded(command, scratch, "tollgate-run", Duration::from_secs(60));
    assert!(run.status.success(), "{}", run.describe());
    let seen = std::fs::read_to_string(&workload_env).unwrap();
    // The dummy credentials of the tests, never the user's.
    assert_eq!(seen.trim(), "unset|AKIDTOLLGATETEST|unset");
    assert!(scratch.join("tollgate-home/tollgate.db").exists());

    // `moto::tollgate_record`: into the database the test names.
    let db = scratch.join("named.db");
    let command = tollgate_record(
        scratch,
        &db,
        "http://127.0.0.1:9",
        Path::new("true"),
        std::iter::empty::<&str>(),
    );
    let run = run_bounded(command, scratch, "tollgate-record", Duration::from_secs(60));
    assert!(run.status.success(), "{}", run.describe());
    assert!(db.exists(), "{}", run.describe());
}

/// Every process a test starts begins in the hermetic environment: `Command::new` only in
/// `common` (and in the outer test above, which starts the test binary in a user's environment
/// on purpose).
#[test]
fn no_test_starts_a_process_but_through_the_hermetic_helpers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let needle = concat!("Command", "::new(");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".rs") || name == "common.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let allowed = name == "hermetic.rs" && line.contains("Command::new(exe)");
            if line.contains(needle) && !allowed {
                found.push(format!("{name}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "start processes with common::tollgate_command or common::hermetic_command, which \
         leave out the user's TOLLGATE_*, AWS_*, RUST_LOG and proxy variables:\n{}",
        found.join("\n")
    );
}
