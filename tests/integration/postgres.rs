//! The shared PostgreSQL store, end to end, against a real PostgreSQL server: a throwaway cluster
//! made by `initdb` in a temporary directory on a free port (as the `postgres` user when the
//! tests run as root, since PostgreSQL refuses to run as root), with a password, removed when
//! the test ends.
//!
//! - a real boto3 workload recorded into PostgreSQL is recorded exactly, and the same kind of run
//!   recorded into SQLite and pushed gives the same report JSON from either backend;
//! - `push` twice adds nothing, and a push killed halfway then repeated equals one clean push;
//! - 8 concurrent `tollgate run`s into one server lose nothing and keep exact totals;
//! - the server stopped mid-run: the workload succeeds, the loss is counted, shown and kept, and
//!   the run is marked incomplete;
//! - the password never reaches what tollgate prints or the database.
//!
//! Needs PostgreSQL's server binaries (Debian's `postgresql`; scripts/test.sh installs it) and
//! Python with boto3 and moto, as the other end-to-end tests.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command};
use crate::moto::{
    free_port, python_with_moto as python, read_json, run_bounded, tollgate_record, u64_field,
    Moto, MANIFEST_DIR,
};

const RUN_LIMIT: Duration = Duration::from_secs(180);
const CLI_LIMIT: Duration = Duration::from_secs(60);
const PASSWORD: &str = "pw-Tq7-s3cret";

/// PostgreSQL's server programs: on PATH, else Debian's versioned directory.
fn pg_bin(program: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
    {
        return path;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path().join("bin").join(program))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the PostgreSQL tests need the server's `{program}`: install Debian's \
                 `postgresql` package (scripts/test.sh does), or put its bin directory on PATH"
            )
        })
}

/// A throwaway PostgreSQL cluster, stopped and removed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, PASSWORD).unwrap();
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        give_to_server_user(&data);
        let cluster = Cluster {
            dir,
            port: free_port(),
        };
        cluster.as_server_user(
            pg_bin("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "tollgate",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", password_file.display()),
            ],
        );
        cluster.start_server();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_server_user(&self, program: PathBuf, args: &[&str]) {
        let mut command = if is_root() {
            let mut command = hermetic_command("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            hermetic_command(&program)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}\n{}\nlog: {}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.data().join("log")).unwrap_or_default()
        );
    }

    fn start_server(&self) {
        let data = self.data();
        self.as_server_user(
            pg_bin("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                data.join("log").to_str().unwrap(),
                "-o",
                &format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    self.port,
                    data.display()
                ),
                "-w",
                "start",
            ],
        );
    }

    fn stop_server(&self) {
        let data = self.data();
        self.as_server_user(
            pg_bin("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        self.url_of("postgres")
    }

    fn url_of(&self, database: &str) -> String {
        format!(
            "postgres://tollgate:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Runs `statement` with psql in `database`; returns its unaligned output.
    fn sql(&self, database: &str, statement: &str) -> String {
        let output = hermetic_command(pg_bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "tollgate",
            ])
            .args([
                "-d",
                database,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ])
            .env("PGPASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {statement}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Serves TLS only, with a certificate for `localhost` and 127.0.0.1 from `ca`; restarts.
    fn require_tls(&self, ca: &crate::common::TestCa) {
        let data = self.data();
        let (cert, key) = ca.server_pem(&["localhost", "127.0.0.1"]);
        std::fs::write(data.join("server.crt"), cert).unwrap();
        std::fs::write(data.join("server.key"), key).unwrap();
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
        let hba: String = hba
            .lines()
            .map(|line| match line.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        for file in ["server.crt", "server.key", "pg_hba.conf", "postgresql.conf"] {
            give_to_server_user(&data.join(file));
        }
        self.stop_server();
        self.start_server();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let mut command = if is_root() {
            let mut command = hermetic_command("runuser");
            command.args(["-u", "postgres", "--"]).arg(pg_bin("pg_ctl"));
            command
        } else {
            hermetic_command(pg_bin("pg_ctl"))
        };
        let _ = command
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// As root, `path` goes to the `postgres` user, which PostgreSQL runs as (it refuses root;
/// Debian's package creates the user).
fn give_to_server_user(path: &Path) {
    if !is_root() {
        return;
    }
    let user = nix::unistd::User::from_name("postgres")
        .expect("read the user database")
        .expect(
            "the tests run as root and there is no `postgres` user: install Debian's postgresql",
        );
    std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .unwrap_or_else(|error| panic!("cannot give {} to postgres: {error}", path.display()));
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `tollgate ARGS...` with its own home: must succeed; returns stdout (and checks that neither
/// stream shows the password).
fn tollgate_ok(scratch: &Path, name: &str, args: &[&str]) -> String {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command.args(args);
    let run = run_bounded(command, scratch, name, CLI_LIMIT);
    assert!(
        run.status.success(),
        "tollgate {} failed\n{}",
        args.join(" "),
        run.describe()
    );
    assert_no_password(&run.stdout, name);
    assert_no_password(&run.stderr, name);
    run.stdout
}

fn assert_no_password(text: &str, what: &str) {
    assert!(
        !text.contains(PASSWORD),
        "the database password shows in {what}:\n{text}"
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}):\n{text}"))
}

/// Attempts per "service operation" in a report.
fn attempts(report: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for row in report["operations"].as_array().expect("operations") {
        let key = format!(
            "{} {}",
            row["service"].as_str().unwrap(),
            row["operation"].as_str().unwrap()
        );
        *out.entry(key).or_default() += u64_field(row, "attempts");
    }
    out
}

/// `value` without what names where or when it was made, or a run's id in its database: what
/// differs between two databases holding the same runs.
fn without_places(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in [
                "database",
                "generated_at",
                "saved_at",
                "created_at",
                "id",
                "run_id",
                "run_ids",
            ] {
                if map.contains_key(key) {
                    map.insert(key.to_string(), Value::Null);
                }
            }
            for child in map.values_mut() {
                without_places(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(without_places),
        _ => {}
    }
}

/// A report without what differs between two databases holding the same run: where it is,
/// when it was made, and the run's id there.
fn comparable(mut report: Value) -> Value {
    report["database"] = Value::Null;
    report["generated_at"] = Value::Null;
    for run in report["runs"].as_array_mut().unwrap() {
        run["id"] = Value::Null;
    }
    for list in ["loops"] {
        if let Some(rows) = report[list].as_array_mut() {
            for row in rows {
                row["run_id"] = Value::Null;
            }
        }
    }
    report
}

#[test]
fn a_boto3_run_into_postgres_is_exact_and_reports_as_the_same_run_from_sqlite() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let python = python();
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let script = Path::new(MANIFEST_DIR).join("tests/e2e/loops_workload.py");

    // Recorded straight into PostgreSQL: exactly the calls botocore sent.
    let truth_path = scratch.join("truth-pg.json");
    let command = tollgate_record(
        scratch,
        Path::new(&url),
        &moto.url(),
        &python,
        [script.as_os_str(), truth_path.as_os_str()],
    );
    let run = run_bounded(command, scratch, "record-pg", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "the workload failed\n{context}");
    assert_no_password(&run.stdout, "the run's output");
    assert_no_password(&run.stderr, "the run's log");
    let truth = read_json(&truth_path, &context);
    let report = json(&tollgate_ok(
        scratch,
        "report-pg",
        &["report", "--db", &url, "--format", "json", "--last"],
    ));
    let sent: BTreeMap<String, u64> = truth["attempts"]
        .as_object()
        .expect("the workload's attempts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(attempts(&report), sent, "{report:#}\n{context}");
    let runs = json(&tollgate_ok(
        scratch,
        "runs-pg",
        &["runs", "--db", &url, "--json"],
    ));
    assert_eq!(runs[0]["state"], "complete", "{runs:#}");
    assert_eq!(runs[0]["lost_calls"], 0, "{runs:#}");
    assert_eq!(
        runs[0]["calls"].as_u64(),
        Some(u64_field(&truth, "total_attempts")),
        "{runs:#}"
    );
    // The command line was recorded without the password.
    assert_no_password(&runs.to_string(), "the recorded runs");
    assert!(runs.to_string().contains("tollgate:***@"), "{runs:#}");

    // The same workload into SQLite (against a fresh moto: the workload counts its own EC2
    // instances), pushed: one report, whichever backend it is read from.
    drop(moto);
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("local.db");
    let truth_path = scratch.join("truth-sqlite.json");
    let command = tollgate_record(
        scratch,
        &db,
        &moto.url(),
        &python,
        [script.as_os_str(), truth_path.as_os_str()],
    );
    let run = run_bounded(command, scratch, "record-sqlite", RUN_LIMIT);
    assert!(run.status.success(), "{}", run.describe());
    let db_arg = db.to_str().unwrap();
    // Into a database of its own, so that both hold exactly the same runs.
    cluster.sql("postgres", "CREATE DATABASE mirror");
    let mirror = cluster.url_of("mirror");
    let pushed = {
        let mut command = tollgate_command(&scratch.join("tollgate-home"));
        command.args(["push", "--db-from", db_arg, "--to", &mirror]);
        run_bounded(command, scratch, "push", CLI_LIMIT)
    };
    assert!(pushed.status.success(), "{}", pushed.describe());
    assert!(
        pushed.stderr.contains("pushed 1 run"),
        "{}",
        pushed.describe()
    );
    assert_no_password(&pushed.stderr, "push");
    let from_sqlite = json(&tollgate_ok(
        scratch,
        "report-sqlite",
        &["report", "--db", db_arg, "--format", "json", "--last"],
    ));
    let from_postgres = json(&tollgate_ok(
        scratch,
        "report-pushed",
        &["report", "--db", &mirror, "--format", "json", "--last"],
    ));
    assert_eq!(
        from_postgres["runs"][0]["uuid"],
        from_sqlite["runs"][0]["uuid"]
    );
    assert_eq!(comparable(from_postgres.clone()), comparable(from_sqlite));
    // A history written before the group totals (postgres 0007, and so before 0009: the call
    // sites and tests as text in every call, which 0007 reads): migrated, its groups come from
    // its calls, and the report and every call's row are the same.
    let csv = |name: &str| {
        tollgate_ok(
            scratch,
            name,
            &["report", "--db", &mirror, "--format", "csv", "--last"],
        )
    };
    let pushed_csv = csv("csv-pushed");
    cluster.sql(
        "mirror",
        "ALTER TABLE calls ADD COLUMN callsite TEXT, ADD COLUMN test TEXT; \
         UPDATE calls SET \
         callsite = (SELECT text FROM call_labels l \
                     WHERE l.run_id = calls.run_id AND l.label_id = calls.callsite_label), \
         test = (SELECT text FROM call_labels l \
                 WHERE l.run_id = calls.run_id AND l.label_id = calls.test_label); \
         ALTER TABLE calls DROP COLUMN callsite_label, DROP COLUMN test_label; \
         DROP TABLE call_labels; DELETE FROM _sqlx_migrations WHERE version = 9",
    );
    cluster.sql(
        "mirror",
        "DROP TABLE group_totals; DROP INDEX calls_s3_object_writes; \
         ALTER TABLE loops DROP COLUMN callsite; DELETE FROM _sqlx_migrations WHERE version = 7",
    );
    let migrated = json(&tollgate_ok(
        scratch,
        "report-migrated",
        &["report", "--db", &mirror, "--format", "json", "--last"],
    ));
    assert!(
        !migrated["clients"].as_array().unwrap().is_empty(),
        "{migrated:#}"
    );
    assert_eq!(comparable(migrated), comparable(from_postgres));
    assert_eq!(csv("csv-migrated"), pushed_csv);
    // Every format, not only JSON: the table of both runs at once.
    let table_pg = tollgate_ok(scratch, "table-pg", &["report", "--db", &mirror, "--last"]);
    let table_sqlite = tollgate_ok(
        scratch,
        "table-sqlite",
        &["report", "--db", db_arg, "--last"],
    );
    let body = |table: &str| {
        table
            .lines()
            .filter(|line| !line.starts_with("database:") && !line.contains("run "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&table_pg), body(&table_sqlite));
    // The weekly report of this week (the run's), and the runs' own figures.
    let now = time::OffsetDateTime::now_utc();
    let (year, week, _) = now.to_iso_week_date();
    let this_week = format!("{year}-W{week:02}");
    let weekly = |db: &str, name: &str| {
        let mut weekly = json(&tollgate_ok(
            scratch,
            name,
            &[
                "weekly", "--db", db, "--format", "json", "--week", &this_week,
            ],
        ));
        weekly["generated_at"] = Value::Null;
        weekly["database"] = Value::Null;
        let runs = weekly["weeks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| u64_field(w, "runs"))
            .sum::<u64>();
        assert_eq!(runs, 1, "{weekly:#}");
        weekly
    };
    assert_eq!(
        weekly(&mirror, "weekly-pg"),
        weekly(db_arg, "weekly-sqlite")
    );
    let runs_of = |db: &str, name: &str| {
        let mut runs = json(&tollgate_ok(scratch, name, &["runs", "--db", db, "--json"]));
        runs[0]["id"] = Value::Null;
        runs
    };
    assert_eq!(
        runs_of(&mirror, "runs-mirror"),
        runs_of(db_arg, "runs-sqlite")
    );

    // The gate: the same baseline from either backend, and the same verdict against it.
    let baseline = |db: &str, name: &str| {
        let file = scratch.join(format!("{name}.json"));
        tollgate_ok(
            scratch,
            name,
            &[
                "baseline",
                "save",
                "--db",
                db,
                "--last",
                "-o",
                file.to_str().unwrap(),
            ],
        );
        let mut baseline = json(&std::fs::read_to_string(&file).unwrap());
        without_places(&mut baseline);
        (file, baseline)
    };
    let (baseline_file, from_sqlite) = baseline(db_arg, "baseline-sqlite");
    let (_, from_mirror) = baseline(&mirror, "baseline-mirror");
    assert_eq!(from_mirror, from_sqlite);
    let gate = |db: &str, name: &str| {
        let mut command = tollgate_command(&scratch.join("tollgate-home"));
        command.args([
            "gate",
            "--db",
            db,
            "--last",
            "--format",
            "json",
            "--baseline",
        ]);
        command.arg(&baseline_file);
        let run = run_bounded(command, scratch, name, CLI_LIMIT);
        assert_eq!(run.status.code(), Some(0), "{}", run.describe());
        let mut verdict = json(&run.stdout);
        without_places(&mut verdict);
        verdict
    };
    assert_eq!(gate(&mirror, "gate-mirror"), gate(db_arg, "gate-sqlite"));

    // Pushed again: nothing more.
    let again = {
        let mut command = tollgate_command(&scratch.join("tollgate-home"));
        command.args(["push", "--db-from", db_arg, "--to", &mirror]);
        run_bounded(command, scratch, "push-again", CLI_LIMIT)
    };
    assert!(again.status.success(), "{}", again.describe());
    assert!(
        again.stderr.contains("pushed 0 runs (0 calls)")
            && again.stderr.contains("1 already there"),
        "{}",
        again.describe()
    );
    let runs = json(&tollgate_ok(
        scratch,
        "runs-after",
        &["runs", "--db", &mirror, "--json"],
    ));
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs:#}");
}

/// Spawns `command` with its output in files named after `name`.
fn spawn(mut command: Command, scratch: &Path, name: &str) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(File::create(scratch.join(format!("{name}.stdout"))).unwrap())
        .stderr(File::create(scratch.join(format!("{name}.stderr"))).unwrap());
    command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
}

fn output_of(scratch: &Path, name: &str) -> String {
    format!(
        "--- {name} stdout ---\n{}\n--- {name} stderr ---\n{}",
        std::fs::read_to_string(scratch.join(format!("{name}.stdout"))).unwrap_or_default(),
        std::fs::read_to_string(scratch.join(format!("{name}.stderr"))).unwrap_or_default()
    )
}

fn wait(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn eight_concurrent_runs_into_one_server_lose_nothing() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let python = python();
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let script = Path::new(MANIFEST_DIR).join("tests/e2e/gate_workload.py");
    let mut children = Vec::new();
    for n in 0..8 {
        let out = scratch.join(format!("truth-{n}.json"));
        let command = tollgate_record(
            scratch,
            Path::new(&url),
            &moto.url(),
            &python,
            [script.as_os_str(), "cheaper".as_ref(), out.as_os_str()],
        );
        children.push((n, out, spawn(command, scratch, &format!("run-{n}"))));
    }
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0;
    for (n, out, mut child) in children {
        let status = wait(&mut child, RUN_LIMIT, &format!("run {n}"));
        let context = output_of(scratch, &format!("run-{n}"));
        assert!(
            status.success(),
            "run {n} failed\n{context}\n{}",
            moto.log_tail()
        );
        let truth = read_json(&out, &context);
        for (key, count) in truth["sent"].as_object().unwrap() {
            let count = count.as_u64().unwrap();
            *expected.entry(key.clone()).or_default() += count;
            total += count;
        }
    }
    let runs = json(&tollgate_ok(
        scratch,
        "runs",
        &["runs", "--db", &url, "--json"],
    ));
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 8, "{runs:#?}");
    for run in runs {
        assert_eq!(run["state"], "complete", "{run:#}");
        assert_eq!(run["lost_calls"], 0, "{run:#}");
    }
    let recorded: u64 = runs.iter().map(|run| u64_field(run, "calls")).sum();
    assert_eq!(recorded, total);
    // Totals over all eight runs: every call of every run, per operation, and the money is
    // the sum of the runs' own.
    let report = json(&tollgate_ok(
        scratch,
        "report",
        &["report", "--db", &url, "--format", "json", "--since", "1d"],
    ));
    assert_eq!(attempts(&report), expected, "{report:#}");
    let per_run: rust_decimal::Decimal = runs
        .iter()
        .map(|run| {
            run["cost_usd"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    let total_usd: rust_decimal::Decimal = report["totals"]["total_usd"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Each run's figure is published rounded to 12 places; the total is summed exactly first.
    let rounding = rust_decimal::Decimal::new(8, 12);
    assert!(
        (total_usd - per_run).abs() <= rounding,
        "{total_usd} vs {per_run}\n{report:#}"
    );
    assert!(total_usd > rust_decimal::Decimal::ZERO, "{report:#}");
}

#[test]
fn the_server_stopped_mid_run_loses_calls_counted_but_never_the_workload() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let python = python();
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let control = scratch.join("control");
    std::fs::create_dir(&control).unwrap();
    let script = Path::new(MANIFEST_DIR).join("tests/e2e/phased_workload.py");
    let mut command = tollgate_record(
        scratch,
        Path::new(&url),
        &moto.url(),
        &python,
        [script.as_os_str(), control.as_os_str(), "20".as_ref()],
    );
    command.args([] as [&str; 0]);
    let mut child = spawn(command, scratch, "phased");
    let await_file = |name: &str| {
        let deadline = Instant::now() + RUN_LIMIT;
        while !control.join(name).exists() {
            assert!(
                Instant::now() < deadline,
                "{name} never came\n{}",
                output_of(scratch, "phased")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    await_file("phase1.done");
    // Phase 1's batch is written within 100 ms; then the server goes away for phase 2.
    std::thread::sleep(Duration::from_secs(2));
    cluster.stop_server();
    File::create(control.join("go2")).unwrap();
    await_file("phase2.done");
    // Long enough for the writer to give up on phase 2's batch (it waits 5 s for a connection).
    std::thread::sleep(Duration::from_secs(8));
    cluster.start_server();
    File::create(control.join("go3")).unwrap();
    let status = wait(&mut child, RUN_LIMIT, "the phased run");
    let context = format!("{}\n{}", output_of(scratch, "phased"), moto.log_tail());
    assert!(status.success(), "the workload must succeed\n{context}");
    let truth = read_json(&control.join("truth.json"), &context);
    let per_phase: Vec<u64> = truth["per_phase"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    let total: u64 = per_phase.iter().sum();

    // The loss is shown when the run ends...
    let stdout = std::fs::read_to_string(scratch.join("phased.stdout")).unwrap();
    let stderr = std::fs::read_to_string(scratch.join("phased.stderr")).unwrap();
    assert!(
        format!("{stdout}{stderr}").contains("not recorded"),
        "the loss is not shown\n{context}"
    );
    assert_no_password(&stdout, "the run's output");
    assert_no_password(&stderr, "the run's log");
    // ... and kept with the run, which is marked incomplete.
    let runs = json(&tollgate_ok(
        scratch,
        "runs",
        &["runs", "--db", &url, "--json"],
    ));
    let run = &runs[0];
    assert_eq!(run["state"], "incomplete", "{run:#}\n{context}");
    let lost = u64_field(run, "lost_calls");
    let recorded = u64_field(run, "calls");
    assert_eq!(recorded + lost, total, "{run:#}\n{context}");
    // Phase 2's first batch waited for the server and was lost; a later batch of it may have
    // been written once the server was back.
    assert!(lost >= 1 && lost <= per_phase[1], "{run:#}\n{context}");
    assert!(
        recorded >= per_phase[0] + per_phase[2],
        "{run:#}\n{context}"
    );
    assert!(
        run["lost_reason"]
            .as_str()
            .is_some_and(|r| r.contains("database server cannot be reached")),
        "{run:#}"
    );
    assert_no_password(&run.to_string(), "the run's loss reason");
}

/// A local history of `runs` runs of `calls` calls each, a day apart, the last one 12 hours ago.
fn local_history(path: &Path, runs: u32, calls: usize) {
    use tollgate::record::{Call, RunEnd, RunMeta};
    use tollgate::store::{Batch, RunStore, SqliteStore};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(path).await.unwrap();
        let now = std::time::SystemTime::now();
        for n in 0..runs {
            let started = now - Duration::from_secs(86_400 * u64::from(runs - n) - 43_200);
            let meta = RunMeta {
                started_at: started,
                ..RunMeta::new("run")
            };
            let run = RunStore::begin_run(&store, &meta).await.unwrap();
            let at = tollgate::store::micros(started);
            let batch: Vec<Call> = (0..calls)
                .map(|i| Call {
                    resource: Some(format!("bucket-{}", i % 7)),
                    fingerprint: Some(format!("f{}", i % 20)),
                    // Priced, so that the repeats' findings claim money.
                    cost: rust_decimal::Decimal::new(4 + (i % 3) as i64, 7),
                    ..Call::sample(["s3", "dynamodb", "sqs"][i % 3], "Op").at_us(at + i as i64)
                })
                .collect();
            let processes = vec![None; batch.len()];
            RunStore::write_batch(
                &store,
                run,
                Batch {
                    calls: &batch,
                    processes: &processes,
                    loops: &[],
                },
            )
            .await
            .unwrap();
            RunStore::end_run(&store, run, &RunEnd::default())
                .await
                .unwrap();
            // As `tollgate run` does at its end.
            tollgate::findings::kept::keep(&store, run, &Default::default())
                .await
                .unwrap();
        }
        RunStore::close(&store).await;
    });
}

fn push(scratch: &Path, from: &Path, to: &str, name: &str) -> crate::moto::Finished {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args(["push", "--db-from"])
        .arg(from)
        .args(["--to", to]);
    let run = run_bounded(command, scratch, name, CLI_LIMIT);
    assert!(run.status.success(), "{}", run.describe());
    assert_no_password(&run.stderr, name);
    run
}

#[test]
fn a_push_killed_halfway_then_repeated_equals_one_clean_push() {
    const RUNS: u32 = 60;
    let cluster = Cluster::start();
    cluster.sql("postgres", "CREATE DATABASE clean");
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let db = scratch.join("local.db");
    local_history(&db, RUNS, 5_000);

    // Killed (SIGKILL, no goodbye) once its first runs are in.
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args(["push", "--db-from"])
        .arg(&db)
        .args(["--to", &cluster.url()]);
    let mut child = spawn(command, scratch, "push-killed");
    let deadline = Instant::now() + CLI_LIMIT;
    loop {
        let pushed: u32 = cluster
            .sql(
                "postgres",
                "SELECT count(*) FROM pg_tables WHERE tablename = 'runs'",
            )
            .parse()
            .unwrap();
        if pushed == 1 && cluster.sql("postgres", "SELECT count(*) FROM runs") != "0" {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the push ended before it could be interrupted\n{}",
            output_of(scratch, "push-killed")
        );
        assert!(Instant::now() < deadline, "no run was ever pushed");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial: u32 = cluster
        .sql("postgres", "SELECT count(*) FROM runs")
        .parse()
        .unwrap();
    assert!(
        partial > 0 && partial < RUNS,
        "{partial} of {RUNS} runs were in when the push was killed"
    );
    // Whole runs only: every run there has all its calls.
    assert_eq!(
        cluster.sql(
            "postgres",
            "SELECT count(*) FROM runs r WHERE (SELECT count(*) FROM calls c WHERE c.run_id = r.id) <> 5000"
        ),
        "0"
    );

    let again = push(scratch, &db, &cluster.url(), "push-again");
    assert!(
        again
            .stderr
            .contains(&format!("pushed {} runs", RUNS - partial))
            && again.stderr.contains(&format!("{partial} already there")),
        "{}",
        again.describe()
    );
    push(scratch, &db, &cluster.url_of("clean"), "push-clean");

    let report = |url: &str, name: &str| {
        comparable(json(&tollgate_ok(
            scratch,
            name,
            &["report", "--db", url, "--format", "json", "--since", "365d"],
        )))
    };
    let resumed = report(&cluster.url(), "report-resumed");
    assert_eq!(resumed["runs"].as_array().unwrap().len(), RUNS as usize);
    assert_eq!(resumed["totals"]["attempts"], u64::from(RUNS) * 5_000);
    let clean = report(&cluster.url_of("clean"), "report-clean");
    for (key, value) in resumed.as_object().unwrap() {
        assert_eq!(value, &clean[key], "the reports differ in {key}");
    }
    assert_eq!(resumed, clean);
    let calls = |database: &str| cluster.sql(database, "SELECT count(*) FROM calls");
    assert_eq!(calls("postgres"), calls("clean"));

    // Retention, on the server as on a file: the runs older than 30 days go, whole.
    let pruned = {
        let mut command = tollgate_command(&scratch.join("tollgate-home"));
        command.args(["prune", "--older-than", "30d", "--db", &cluster.url()]);
        run_bounded(command, scratch, "prune", CLI_LIMIT)
    };
    assert!(pruned.status.success(), "{}", pruned.describe());
    assert!(
        pruned.stderr.contains("deleted 30 runs (150000 calls)"),
        "{}",
        pruned.describe()
    );
    assert_eq!(cluster.sql("postgres", "SELECT count(*) FROM runs"), "30");
    assert_eq!(
        cluster.sql("postgres", "SELECT count(*) FROM calls"),
        "150000"
    );
    assert_eq!(
        cluster.sql(
            "postgres",
            "SELECT count(*) FROM operation_totals t WHERE NOT EXISTS \
             (SELECT 1 FROM runs r WHERE r.id = t.run_id)"
        ),
        "0"
    );
}

#[test]
fn tls_verify_full_with_a_private_ca_and_a_newer_schema_refused() {
    let cluster = Cluster::start();
    let ca = crate::common::TestCa::new();
    cluster.require_tls(&ca);
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let ca_file = ca.write(scratch);
    let url = |mode: &str, root: &Path| {
        format!(
            "postgres://tollgate:{PASSWORD}@localhost:{}/postgres?sslmode={mode}&sslrootcert={}",
            cluster.port,
            root.display()
        )
    };
    // Verified against the private CA, by name: the history is created and read.
    let verified = url("verify-full", &ca_file);
    let runs = json(&tollgate_ok(
        scratch,
        "tls-runs",
        &["runs", "--db", &verified, "--json"],
    ));
    assert_eq!(runs, Value::Array(vec![]));

    let refused = |db: &str, name: &str| {
        let mut command = tollgate_command(&scratch.join("tollgate-home"));
        command.args(["runs", "--db", db]);
        let run = run_bounded(command, scratch, name, CLI_LIMIT);
        assert!(
            !run.status.success(),
            "{name} was accepted\n{}",
            run.describe()
        );
        assert_no_password(&run.stdout, name);
        assert_no_password(&run.stderr, name);
        run.stderr
    };
    // The server takes TLS only: without it, no connection.
    let plain = refused(
        &format!(
            "postgres://tollgate:{PASSWORD}@127.0.0.1:{}/postgres?sslmode=disable",
            cluster.port
        ),
        "plain",
    );
    assert!(plain.contains("tollgate:***@"), "{plain}");
    // A server whose certificate another CA signed is not trusted.
    let other = crate::common::TestCa::new();
    let other_dir = scratch.join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other_file = other.write(&other_dir);
    let untrusted = refused(&url("verify-full", &other_file), "untrusted");
    assert!(
        untrusted.to_lowercase().contains("certificate"),
        "{untrusted}"
    );

    // A schema a newer tollgate migrated further is refused, not guessed at.
    cluster.sql(
        "postgres",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    );
    let newer = refused(&verified, "newer");
    assert!(newer.contains("upgrade tollgate"), "{newer}");
}

#[test]
fn every_history_dashboard_query_has_rows_and_its_weeks_equal_the_weekly_report() {
    let cluster = Cluster::start();
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let db = scratch.join("local.db");
    local_history(&db, 30, 600);
    push(scratch, &db, &cluster.url(), "push");

    let dashboard: Value = json(
        &std::fs::read_to_string(Path::new(MANIFEST_DIR).join("dashboards/tollgate-history.json"))
            .unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let grafana = |sql: &str| {
        sql.replace("$__unixEpochFrom()", &(now - 90 * 86_400).to_string())
            .replace("$__unixEpochTo()", &now.to_string())
    };
    let mut queries = 0;
    let mut weekly_sql = None;
    let mut findings_sql = None;
    let mut savings_sql = None;
    for panel in dashboard["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"], "${DS_POSTGRES}",
            "no fixed datasource: {panel:#}"
        );
        for target in panel["targets"].as_array().unwrap() {
            let sql = grafana(target["rawSql"].as_str().unwrap());
            assert!(!sql.contains("$__"), "a Grafana macro left: {sql}");
            let rows = cluster.sql("postgres", &sql);
            assert!(
                !rows.is_empty(),
                "panel {} returned no rows:\n{sql}",
                panel["title"]
            );
            queries += 1;
            match panel["title"].as_str().unwrap() {
                "Cost per week by service" => weekly_sql = Some(rows),
                "Findings per week by rule" => findings_sql = Some(rows),
                "Savings the findings claim per week by rule" => savings_sql = Some(rows),
                _ => {}
            }
        }
    }
    assert!(queries >= 6, "{queries} queries");

    // The weeks it shows are the weekly report's, service by service.
    let from_dashboard: BTreeMap<(String, String), rust_decimal::Decimal> = weekly_sql
        .expect("the weekly panel")
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            let cost: rust_decimal::Decimal = fields[2].parse().unwrap();
            (
                (fields[0][..10].to_string(), fields[1].to_string()),
                cost.round_dp(12).normalize(),
            )
        })
        .collect();
    let weekly = json(&tollgate_ok(
        scratch,
        "weekly",
        &[
            "weekly",
            "--db",
            &cluster.url(),
            "--format",
            "json",
            "--weeks",
            "8",
        ],
    ));
    let mut compared = 0;
    for week in weekly["weeks"].as_array().unwrap() {
        let start = week["start"].as_str().unwrap()[..10].to_string();
        let services = week["service_cost_usd"].as_object().unwrap();
        let shown: BTreeMap<&(String, String), &rust_decimal::Decimal> = from_dashboard
            .iter()
            .filter(|((day, _), _)| *day == start)
            .collect();
        assert_eq!(
            shown.len(),
            services.len(),
            "week {start}: {week:#}\n{shown:?}"
        );
        for (service, cost) in services {
            let cost: rust_decimal::Decimal = cost.as_str().unwrap().parse().unwrap();
            assert_eq!(
                from_dashboard.get(&(start.clone(), service.clone())),
                Some(&cost.normalize()),
                "week {start}, {service}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 12, "only {compared} weekly figures compared");

    // Its findings, week by week and rule by rule, are the runs' own reports' findings, and
    // their savings the reports' exact amounts.
    let by_week_and_rule = |rows: String| -> BTreeMap<(String, String), rust_decimal::Decimal> {
        rows.lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('|').collect();
                let value: rust_decimal::Decimal = fields[2].parse().unwrap();
                (
                    (fields[0][..10].to_string(), fields[1].to_string()),
                    value.normalize(),
                )
            })
            .collect()
    };
    let shown_findings = by_week_and_rule(findings_sql.expect("the findings panel"));
    let shown_savings = by_week_and_rule(savings_sql.expect("the savings panel"));
    let runs = json(&tollgate_ok(
        scratch,
        "runs",
        &["runs", "--db", &cluster.url(), "--json", "--limit", "100"],
    ));
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 30, "{runs:?}");
    let mut reported_findings: BTreeMap<(String, String), rust_decimal::Decimal> = BTreeMap::new();
    let mut reported_savings: BTreeMap<(String, String), rust_decimal::Decimal> = BTreeMap::new();
    for run in runs {
        let id = run["id"].as_i64().unwrap().to_string();
        let started = run["started_at_us"].as_i64().unwrap();
        let report = json(&tollgate_ok(
            scratch,
            "report",
            &[
                "report",
                "--db",
                &cluster.url(),
                "--run",
                &id,
                "--format",
                "json",
            ],
        ));
        let week = week_start(started);
        for finding in report["findings"].as_array().unwrap() {
            let rule = finding["rule"].as_str().unwrap().to_string();
            *reported_findings
                .entry((week.clone(), rule.clone()))
                .or_default() += rust_decimal::Decimal::ONE;
            if let Some(usd) = finding["saving"]["usd"].as_str() {
                *reported_savings.entry((week.clone(), rule)).or_default() +=
                    usd.parse::<rust_decimal::Decimal>().unwrap();
            }
        }
    }
    let normalized = |map: BTreeMap<(String, String), rust_decimal::Decimal>| {
        map.into_iter()
            .map(|(key, value)| (key, value.normalize()))
            .collect::<BTreeMap<_, _>>()
    };
    let reported_findings = normalized(reported_findings);
    let reported_savings = normalized(reported_savings);
    assert!(
        reported_findings
            .values()
            .any(|n| *n > rust_decimal::Decimal::ZERO)
            && reported_savings
                .values()
                .any(|usd| *usd > rust_decimal::Decimal::ZERO),
        "the runs' reports raise findings that save money: {reported_findings:?}"
    );
    assert_eq!(shown_findings, reported_findings);
    assert_eq!(shown_savings, reported_savings);
}

/// The Monday (UTC) of the week a time (µs since the epoch) falls in, as `YYYY-MM-DD`.
fn week_start(at_us: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_us) * 1_000).unwrap();
    let monday =
        at.date() - time::Duration::days(i64::from(at.weekday().number_days_from_monday()));
    monday.to_string()
}

/// Issue 21 item 7 on PostgreSQL: a history written before its 0009 (call sites and tests as
/// text in every call) is migrated on connect: each run's labels stored once, numbered in the
/// order of their first call, every call reading back the same call site and test, the text
/// columns gone. A run written after numbers its own labels, with a book of any size (one too
/// small for the run's labels finds the others in the table), and reads back as written.
#[test]
fn call_sites_stored_as_text_in_postgres_are_interned_when_migrated() {
    use futures_util::TryStreamExt as _;
    use tollgate::record::{Call, RunMeta};
    use tollgate::store::{Batch, PostgresStore, RunStore};
    let cluster = Cluster::start();
    cluster.sql("postgres", "CREATE DATABASE labels");
    let url = cluster.url_of("labels");
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(MANIFEST_DIR).join("migrations/postgres");
    for entry in std::fs::read_dir(&source).unwrap() {
        let name = entry.unwrap().file_name();
        let version: u32 = name.to_str().unwrap()[..4].parse().unwrap();
        if version <= 8 {
            std::fs::copy(source.join(&name), dir.path().join(&name)).unwrap();
        }
    }
    type Labels = (Option<String>, Option<String>);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Two runs of 60 calls: (run, seq, call site, test).
        let mut rows: Vec<(i64, i64, Labels)> = Vec::new();
        {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::migrate::Migrator::new(dir.path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
            for uuid in ["u1", "u2"] {
                let run: i64 = sqlx::query_scalar(
                    "INSERT INTO runs (uuid, kind, state, started_at_us, tollgate_version, \
                     pricing_version, model_version) \
                     VALUES ($1, 'run', 'complete', 0, '0', '0', '0') RETURNING id",
                )
                .bind(uuid)
                .fetch_one(&pool)
                .await
                .unwrap();
                for seq in 0..60i64 {
                    let labels = (
                        (seq % 4 != 0).then(|| format!("app/sync.py:{} copy_{uuid}", 10 + seq % 3)),
                        (seq % 6 != 5).then(|| format!("tests/t.py::test_{}", seq / 20)),
                    );
                    sqlx::query(
                        "INSERT INTO calls (run_id, seq, started_at_us, duration_us, kind, \
                         service, operation, host, status, throttled, bytes_sent, \
                         bytes_received, price_status, cost_usd, transfer_usd, implied_usd, \
                         callsite, test) \
                         VALUES ($1, $2, $3, 2000, 'operation', 's3', 'GetObject', 'h', 200, \
                         false, 1, 2, 'priced', 0.0000004, 0, 0, $4, $5)",
                    )
                    .bind(run)
                    .bind(seq)
                    .bind(seq * 1_000)
                    .bind(&labels.0)
                    .bind(&labels.1)
                    .execute(&pool)
                    .await
                    .unwrap();
                    rows.push((run, seq, labels));
                }
            }
            pool.close().await;
        }

        let store = PostgresStore::open(&url).await.unwrap();
        let runs: Vec<i64> = {
            let mut runs: Vec<i64> = rows.iter().map(|r| r.0).collect();
            runs.dedup();
            runs
        };
        for (n, &run) in runs.iter().enumerate() {
            let read: Vec<(i64, Labels)> = store
                .calls(&[run])
                .map_ok(|c| (c.started_at_us, (c.callsite, c.test)))
                .try_collect()
                .await
                .unwrap();
            let want: Vec<(i64, Labels)> = rows
                .iter()
                .filter(|r| r.0 == run)
                .map(|r| (r.1 * 1_000, r.2.clone()))
                .collect();
            assert_eq!(read, want, "run {run}");
            let labels: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT label_id, kind, text FROM call_labels WHERE run_id = $1 ORDER BY label_id",
            )
            .bind(run)
            .fetch_all(store.pool())
            .await
            .unwrap();
            // In the order of their first call: seq 0 names test 0 (and no call site), seq 1
            // site 11, seq 2 site 12, seq 3 site 10, seq 20 test 1, seq 40 test 2.
            let uuid = ["u1", "u2"][n];
            let site = |line: u32| {
                (
                    "callsite".to_string(),
                    format!("app/sync.py:{line} copy_{uuid}"),
                )
            };
            let test = |t: u32| ("test".to_string(), format!("tests/t.py::test_{t}"));
            let got: Vec<(String, String)> = labels
                .iter()
                .map(|(_, kind, text)| (kind.clone(), text.clone()))
                .collect();
            assert_eq!(
                got,
                [test(0), site(11), site(12), site(10), test(1), test(2)],
                "run {run}"
            );
            let ids: Vec<i64> = labels.iter().map(|l| l.0).collect();
            assert_eq!(ids, (1..=6).collect::<Vec<i64>>());
        }
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'calls' AND column_name IN ('callsite', 'test', \
             'callsite_label', 'test_label') ORDER BY 1",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(columns, ["callsite_label", "test_label"]);

        // Runs written now, with the store's book and with one of 4 short labels: 600 calls
        // naming 12 call sites and 9 tests in batches of 100, read back as written, each label
        // stored once.
        let calls: Vec<Call> = (0..600usize)
            .map(|n| Call {
                seq: n as u64,
                callsite: (n % 7 != 3).then(|| format!("src/s.py:{} f", 40 + n % 12)),
                test: (n % 5 != 0).then(|| format!("t.py::t{}", n / 10 % 9)),
                ..Call::sample("s3", "GetObject").at_us(1_000_000 + n as i64 * 1_000)
            })
            .collect();
        let written: Vec<(i64, Labels)> = calls
            .iter()
            .enumerate()
            .map(|(n, c)| {
                (
                    1_000_000 + n as i64 * 1_000,
                    (c.callsite.clone(), c.test.clone()),
                )
            })
            .collect();
        for capacity in [None, Some(4 * (16 + 48))] {
            let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
            if let Some(capacity) = capacity {
                store.limit_label_book(run, capacity).await;
            }
            for chunk in calls.chunks(100) {
                let processes = vec![None; chunk.len()];
                let batch = Batch {
                    calls: chunk,
                    processes: &processes,
                    loops: &[],
                };
                store.write_batch(run, batch).await.unwrap();
            }
            let read: Vec<(i64, Labels)> = store
                .calls(&[run])
                .map_ok(|c| (c.started_at_us, (c.callsite, c.test)))
                .try_collect()
                .await
                .unwrap();
            assert_eq!(read, written, "book of {capacity:?} bytes");
            let (labels, first): (i64, i64) =
                sqlx::query_as("SELECT count(*), min(label_id) FROM call_labels WHERE run_id = $1")
                    .bind(run)
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            assert_eq!((labels, first), (21, 1), "book of {capacity:?} bytes");
        }
        RunStore::close(&store).await;
    });
}
