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

/// `run --quiet --report-file F` wrote no file: --quiet silences the terminal, not files asked
/// for by name.
#[test]
fn quiet_still_writes_the_report_and_summary_files_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let db = dir.path().join("t.db");
    let report = dir.path().join("report.md");
    let summary = dir.path().join("summary.json");
    let args = [
        "run",
        "--quiet",
        "--db",
        db.to_str().unwrap(),
        "--report",
        "markdown",
        "--report-file",
        report.to_str().unwrap(),
        "--summary",
        "json",
        "--summary-file",
        summary.to_str().unwrap(),
        "--",
        "true",
    ];
    let run = tollgate_in(&home, dir.path(), &[], &args);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "quiet: {stderr}");
    let markdown = std::fs::read_to_string(&report)
        .unwrap_or_else(|error| panic!("no report at {}: {error}", report.display()));
    assert!(markdown.contains("tollgate"), "{markdown}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("the summary file"))
            .expect("JSON");
    assert!(json.is_object(), "{json}");
}

/// Defect 20: `--db postgres://host/db` was taken for a path: a folder `postgres:` appeared in
/// the working directory, with a SQLite file in it. A URL of a kind tollgate does not support is
/// refused, naming the supported ones, before anything is created or run.
#[test]
fn a_database_url_tollgate_does_not_support_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let marker = dir.path().join("ran");
    let touch = ["touch", marker.to_str().unwrap()];
    let said = |stderr: &str, url: &str| {
        assert!(stderr.contains(url), "{stderr}");
        assert!(
            stderr.contains("sqlite://PATH") && stderr.contains("sqlite:PATH"),
            "the supported forms are named: {stderr}"
        );
    };
    // Issue 16: PostgreSQL is supported now; other kinds of database are not.
    let mysql = "mysql://db.example/tollgate";
    let mysql_path = Path::new(mysql);
    let s3 = "s3://bucket/tollgate.db";

    // `run`: tollgate's own error (125), and the command does not run.
    for (args, env, url) in [
        (vec!["run", "--db", mysql, "--"], vec![], mysql),
        (vec!["run", "--"], vec![("TOLLGATE_DB", mysql_path)], mysql),
        (vec!["run", "--db", s3, "--"], vec![], s3),
    ] {
        let args: Vec<&str> = args.into_iter().chain(touch).collect();
        let run = tollgate_in(&home, &work, &env, &args);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(125), "{args:?}: {stderr}");
        said(&stderr, url);
        assert!(
            stderr.contains("postgres://USER@HOST/DB"),
            "PostgreSQL's form is named: {stderr}"
        );
        assert!(!marker.exists(), "{args:?} ran the command");
    }

    // `report` and `runs`: 2.
    for command in ["report", "runs"] {
        let run = tollgate_in(&home, &work, &[], &[command, "--db", mysql]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{command}: {stderr}");
        said(&stderr, mysql);
    }

    // `serve`: 2, at once, never listening.
    let mut serve = tollgate_command(&home)
        .args(["serve", "--listen", "127.0.0.1:0", "--db", mysql])
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = crate::common::wait_timeout(&mut serve, std::time::Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    said(&stderr, mysql);

    // A PostgreSQL server that is not there: a clear error naming it, never its password, and
    // nothing created here.
    let unreachable = "postgres://writer:hunter2-secret@127.0.0.1:1/tollgate";
    let run = tollgate_in(&home, &work, &[], &["runs", "--db", unreachable]);
    let stderr = text(&run.stderr);
    assert_ne!(run.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("postgres://writer:***@127.0.0.1:1/tollgate"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");

    // Nothing in the working directory: no `postgres:` or `mysql:` folder.
    let left: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Defect 20: `sqlite:///abs/path`, `sqlite://PATH` and `sqlite:PATH` name the file, as a plain
/// path does, for recording and for reading back.
#[test]
fn sqlite_urls_name_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let absolute = dir.path().join("history/abs.db");
    let absolute_url = format!("sqlite://{}", absolute.display());
    assert!(absolute_url.starts_with("sqlite:///"), "{absolute_url}");
    for (url, file) in [
        (absolute_url.as_str(), absolute.clone()),
        ("sqlite://relative.db", work.join("relative.db")),
        ("sqlite:short.db", work.join("short.db")),
        ("SQLite:upper.db", work.join("upper.db")),
    ] {
        let run = tollgate_in(&home, &work, &[], &["run", "-q", "--db", url, "--", "true"]);
        assert_eq!(run.status.code(), Some(0), "{url}: {}", text(&run.stderr));
        assert!(file.is_file(), "{url}: no {}", file.display());
        let runs = tollgate_in(&home, &work, &[], &["runs", "--json", "--db", url]);
        assert_eq!(runs.status.code(), Some(0), "{url}: {}", text(&runs.stderr));
        let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
        assert_eq!(runs.as_array().map(Vec::len), Some(1), "{url}: {runs:#}");
    }
    // TOLLGATE_DB takes the same forms.
    let from_env = work.join("from-env.db");
    let run = tollgate_in(
        &home,
        &work,
        &[("TOLLGATE_DB", Path::new("sqlite:from-env.db"))],
        &["run", "-q", "--", "true"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(from_env.is_file());
    assert!(!work.join("sqlite:").exists() && !work.join("SQLite:").exists());
}

/// Issue 20, item 8: `TOLLGATE_DB=` (set but empty) made every reading command fail with "a
/// value is required for '--db <PATH>'". Empty is unset: the default database is used.
#[test]
fn an_empty_tollgate_db_is_an_unset_one() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let empty = [("TOLLGATE_DB", Path::new(""))];
    let run = tollgate_in(&home, dir.path(), &empty, &["run", "-q", "--", "true"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(home.join("tollgate.db").exists(), "the default database");
    for args in [
        &["runs", "--json"][..],
        &["report", "--format", "json"],
        &["weekly", "--format", "json"],
    ] {
        let out = tollgate_in(&home, dir.path(), &empty, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("a value is required"),
            "{args:?}: {stderr}"
        );
    }
    // A TOLLGATE_DB with a value is still read by them.
    let missing = dir.path().join("missing.db");
    let out = tollgate_in(&home, dir.path(), &[("TOLLGATE_DB", &missing)], &["runs"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
