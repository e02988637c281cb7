//! Where runs go: `--db`, `TOLLGATE_DB` and `--no-record`, with the real binary (issue 13).

use std::path::Path;
use std::process::{Output, Stdio};

use crate::common::{python, tollgate_command, Origin};

/// `tollgate ARGS` with `TOLLGATE_HOME=home` and the variables `env`, in `cwd`.
fn tollgate_in(home: &Path, cwd: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    tollgate_command(home)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Defect 17: `--no-record` refused to run when `TOLLGATE_DB` was exported ("cannot be used
/// with --db"). The flag on the command line wins over the environment; `--db` beside it is
/// still a contradiction.
#[test]
fn no_record_wins_over_tollgate_db_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let from_env = dir.path().join("from-env.db");
    let env = [("TOLLGATE_DB", from_env.as_path())];

    let run = tollgate_in(
        &home,
        dir.path(),
        &env,
        &["run", "--no-record", "--", "true"],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("cannot be used with"), "{stderr}");
    assert!(!from_env.exists(), "--no-record recorded into TOLLGATE_DB");
    assert!(!home.join("tollgate.db").exists(), "--no-record recorded");

    // Without --no-record, TOLLGATE_DB is still the database.
    let run = tollgate_in(&home, dir.path(), &env, &["run", "-q", "--", "true"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(from_env.exists(), "TOLLGATE_DB is no longer used");
    let runs = tollgate_in(&home, dir.path(), &env, &["runs", "--json"]);
    assert_eq!(runs.status.code(), Some(0), "{}", text(&runs.stderr));
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs:#}");

    // --db and --no-record together: a usage error, and the command does not run.
    let named = dir.path().join("named.db");
    let marker = dir.path().join("ran");
    let run = tollgate_in(
        &home,
        dir.path(),
        &[],
        &[
            "run",
            "--no-record",
            "--db",
            named.to_str().unwrap(),
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    assert!(!marker.exists() && !named.exists(), "{stderr}");
}

/// Defect 17: `run --no-record --report markdown --report-file F` wrote no file and said
/// nothing. The report asked for is made from the run, kept in memory for it; no database is
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_with_a_report_file_writes_the_report_from_the_run_kept_in_memory() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let from_env = dir.path().join("from-env.db");
    let report = dir.path().join("report.md");
    let origin_ca = origin.ca.write(dir.path());
    // One S3 ListObjectsV2 through the proxy (the origin answers as S3 would).
    let client = "import urllib.request; \
                  urllib.request.urlopen('https://s3.us-east-1.amazonaws.com/my-bucket?list-type=2').read()";
    let python = python();
    let upstream = origin.url();
    let args = [
        "run",
        "--no-record",
        "--upstream",
        &upstream,
        "--upstream-ca",
        origin_ca.to_str().unwrap(),
        "--report",
        "markdown",
        "--report-file",
        report.to_str().unwrap(),
        "--",
        python.to_str().unwrap(),
        "-c",
        client,
    ];
    // Blocking, on one of the two workers: the origin answers on the other.
    let run = tollgate_in(&home, dir.path(), &[("TOLLGATE_DB", &from_env)], &args);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let markdown = std::fs::read_to_string(&report)
        .unwrap_or_else(|error| panic!("no report at {}: {error}\n{stderr}", report.display()));
    assert!(markdown.contains("ListObjectsV2"), "{markdown}");
    assert!(
        markdown.contains("database none (--no-record)"),
        "{markdown}"
    );
    // Nothing was recorded anywhere, and stderr does not claim it was.
    assert!(!from_env.exists() && !home.join("tollgate.db").exists());
    assert!(!stderr.contains("recorded"), "{stderr}");
}
