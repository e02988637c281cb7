//! End to end: a real boto3 client, unaware of tollgate, runs under `tollgate run --upstream` with
//! a moto server standing in for AWS. What tollgate reports is compared with what botocore itself
//! says it sent (`tests/e2e/s3_paginate.py` counts every HTTP attempt through botocore's events).
//!
//! Needs Python with boto3 and moto[server]: `.venv` in the repository root (made by
//! `scripts/test.sh` from `requirements-test.txt`), or `TOLLGATE_TEST_PYTHON`.
//!
//! Helpers are private to this file on purpose: the module shares nothing with `common`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TOLLGATE: &str = env!("CARGO_BIN_EXE_tollgate");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// How long moto gets to start answering.
const MOTO_START_LIMIT: Duration = Duration::from_secs(30);
/// How long one `tollgate run` of a workload may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// The Python interpreter with boto3 and moto: `TOLLGATE_TEST_PYTHON`, else the repository's
/// `.venv`.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("TOLLGATE_TEST_PYTHON").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        // A bare name (`python3`) is looked up on PATH when run.
        assert!(
            path.is_file() || path.components().count() == 1,
            "TOLLGATE_TEST_PYTHON={} is not a file: point it at a Python with boto3 and \
             moto[server], or unset it to use the repository's .venv (scripts/test.sh makes it)",
            path.display()
        );
        return path;
    }
    let venv = Path::new(MANIFEST_DIR).join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    panic!(
        "the end-to-end tests need Python with boto3 and moto[server], and found neither \
         TOLLGATE_TEST_PYTHON nor {}: run scripts/test.sh (it creates .venv from \
         requirements-test.txt and runs the tests), or set TOLLGATE_TEST_PYTHON to an \
         interpreter that has them",
        venv.display()
    );
}

/// The command that starts moto: `moto_server` beside the interpreter (not resolved through
/// symlinks, which would leave the venv), else `python -m moto.server`.
fn moto_command(python: &Path) -> Command {
    let beside = python.parent().map(|dir| dir.join("moto_server"));
    match beside.filter(|path| path.is_file()) {
        Some(moto_server) => Command::new(moto_server),
        None => {
            let mut command = Command::new(python);
            command.args(["-m", "moto.server"]);
            command
        }
    }
}

/// Leaves the child nothing of the machine's AWS or proxy setup, so that neither a developer's
/// profile nor a proxy of their own can change what it does, and gives it dummy credentials.
/// (`tollgate run` sets the proxy and CA bundle variables for its child itself.)
fn isolate_aws_env(command: &mut Command, scratch: &Path) {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let upper = name.to_ascii_uppercase();
        if upper.starts_with("AWS_")
            || upper.starts_with("BOTO_")
            || matches!(
                upper.as_str(),
                "HTTPS_PROXY" | "HTTP_PROXY" | "ALL_PROXY" | "NO_PROXY"
            )
        {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDTOLLGATEE2ETEST")
        .env("AWS_SECRET_ACCESS_KEY", "tollgate-e2e-dummy-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", scratch.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            scratch.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
}

/// A port that was free a moment ago. Another process may take it before moto binds it; starting
/// moto retries with a new one when that happens.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// A running moto server, killed when dropped (also when the test panics).
struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Moto {
    fn start(python: &Path, scratch: &Path) -> Moto {
        let mut last_error = String::new();
        for attempt in 1..=3 {
            let port = free_port();
            let log = scratch.join(format!("moto-{attempt}.log"));
            let log_file = File::create(&log).expect("create the moto log");
            let mut command = moto_command(python);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone the log handle"))
                .stderr(log_file);
            isolate_aws_env(&mut command, scratch);
            let child = command
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start moto ({command:?}): {error}"));
            let mut moto = Moto { child, port, log };
            match moto.wait_until_answering() {
                Ok(()) => return moto,
                // Dropping `moto` kills whatever is left of it.
                Err(error) => last_error = format!("{error}\n{}", moto.log_tail()),
            }
        }
        panic!("moto did not start: {last_error}");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_answering(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + MOTO_START_LIMIT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = self.child.try_wait().expect("poll moto") {
                return Err(format!("moto exited before answering: {status}"));
            }
            if http_answers(address) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto did not answer on {address} within {MOTO_START_LIMIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("--- moto log ({}) ---\n{tail}", self.log.display())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an HTTP server answers a request on `address`.
fn http_answers(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// What one bounded run of a command left behind.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn describe(&self) -> String {
        format!(
            "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` with its output in files under `scratch`, for at most `limit`: past it the
/// command gets SIGTERM (which `tollgate run` forwards to its child), then SIGKILL, and the test
/// fails with what it had printed.
fn run_bounded(mut command: Command, scratch: &Path, name: &str, limit: Duration) -> Finished {
    let stdout_path = scratch.join(format!("{name}.stdout"));
    let stderr_path = scratch.join(format!("{name}.stderr"));
    command
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create the stdout file"))
        .stderr(File::create(&stderr_path).expect("create the stderr file"));
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let deadline = Instant::now() + limit;
    let mut terminated_at: Option<Instant> = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the command") {
            break status;
        }
        let now = Instant::now();
        match terminated_at {
            None if now > deadline => {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                terminated_at = Some(now);
            }
            Some(at) if now > at + Duration::from_secs(10) => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let finished = Finished {
        status,
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    };
    if terminated_at.is_some() {
        panic!(
            "{name} took longer than {limit:?} and was stopped\n{}",
            finished.describe()
        );
    }
    finished
}

/// `tollgate run [--upstream URL] --summary json --summary-file SUMMARY -- PROGRAM ARGS...`,
/// with its own TOLLGATE_HOME and no AWS setup from the machine.
fn tollgate_run<I, S>(
    scratch: &Path,
    upstream: Option<&str>,
    summary: &Path,
    program: &Path,
    args: I,
) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(TOLLGATE);
    command.current_dir(MANIFEST_DIR).arg("run");
    if let Some(upstream) = upstream {
        command.args(["--upstream", upstream]);
    }
    command
        .args(["--summary", "json", "--summary-file"])
        .arg(summary)
        .arg("--")
        .arg(program)
        .args(args);
    isolate_aws_env(&mut command, scratch);
    command.env("TOLLGATE_HOME", scratch.join("tollgate-home"));
    command
}

fn read_json(path: &Path, context: &str) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {} ({context}): {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| {
        panic!(
            "{} is not JSON ({context}): {error}\n{text}",
            path.display()
        )
    })
}

fn u64_field(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no number '{field}' in {value:#}"))
}

fn is_aws_host(host: &str) -> bool {
    host.ends_with(".amazonaws.com")
}

#[test]
fn boto3_calls_through_tollgate_match_what_botocore_sent() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let upstream = moto.url();

    // 1. The S3 workload: every request botocore sends must be one call in the summary.
    let summary_path = scratch.join("summary.json");
    let botocore_path = scratch.join("botocore.json");
    let script = Path::new(MANIFEST_DIR).join("tests/e2e/s3_paginate.py");
    let command = tollgate_run(
        scratch,
        Some(&upstream),
        &summary_path,
        &python,
        [script.as_os_str(), botocore_path.as_os_str()],
    );
    let started = Instant::now();
    let run = run_bounded(command, scratch, "s3-paginate", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(
        run.status.success(),
        "the workload failed under tollgate\n{context}"
    );
    assert!(run.stdout.contains("s3_paginate: ok"), "{context}");

    let summary = read_json(&summary_path, &context);
    let botocore = read_json(&botocore_path, &context);
    let all = format!("tollgate summary: {summary:#}\nbotocore: {botocore:#}\n{context}");
    assert_eq!(botocore["ok"], Value::Bool(true), "{all}");
    assert_eq!(summary["version"], 1, "{all}");

    let requests = u64_field(&botocore, "requests");
    assert!(
        requests >= 130,
        "the workload sent only {requests} requests\n{all}"
    );
    assert_eq!(
        u64_field(&summary, "calls"),
        requests,
        "tollgate counted a different number of calls than botocore sent\n{all}"
    );

    assert!(
        u64_field(&botocore, "expect_continue") >= 1,
        "no request went with `Expect: 100-continue`: the workload no longer covers it\n{all}"
    );

    // Identification: tollgate names every attempt's operation exactly as botocore did.
    let mut tollgate_operations: std::collections::BTreeMap<String, u64> = Default::default();
    for row in summary["operations"]
        .as_array()
        .expect("operations is a list")
    {
        assert_eq!(row["service"], "s3", "{row}\n{all}");
        let operation = row["operation"]
            .as_str()
            .expect("operation is text")
            .to_string();
        *tollgate_operations.entry(operation).or_default() += u64_field(row, "attempts");
    }
    let botocore_operations: std::collections::BTreeMap<String, u64> = botocore["operations"]
        .as_object()
        .expect("operations is a map")
        .iter()
        .map(|(name, count)| (name.clone(), count.as_u64().expect("a count")))
        .collect();
    assert_eq!(tollgate_operations, botocore_operations, "{all}");

    let rows = summary["hosts"].as_array().expect("hosts is a list");
    let row_calls: u64 = rows.iter().map(|row| u64_field(row, "calls")).sum();
    assert_eq!(
        row_calls, requests,
        "the host rows do not add up to the total\n{all}"
    );
    let tollgate_hosts: BTreeSet<String> = rows
        .iter()
        .map(|row| row["host"].as_str().expect("host is text").to_string())
        .collect();
    for host in &tollgate_hosts {
        assert!(
            is_aws_host(host),
            "tollgate reported a non-AWS host {host}\n{all}"
        );
    }
    let botocore_hosts: BTreeSet<String> = botocore["hosts"]
        .as_array()
        .expect("hosts is a list")
        .iter()
        .map(|host| host.as_str().expect("host is text").to_string())
        .collect();
    assert_eq!(tollgate_hosts, botocore_hosts, "{all}");

    // Every call got a real answer from moto: no 502/504 of tollgate's own. The one 404 is the
    // HeadObject on a deleted key, which the script expects.
    for row in rows {
        let status = row["status"].as_str().expect("status is text");
        assert!(
            matches!(status.parse::<u16>(), Ok(200..=299 | 404)),
            "unexpected status row {row}\n{all}"
        );
    }
    let not_found: u64 = rows
        .iter()
        .filter(|row| row["status"] == "404")
        .map(|row| u64_field(row, "calls"))
        .sum();
    assert_eq!(not_found, 1, "{all}");

    assert_eq!(u64_field(&summary, "client_handshake_failures"), 0, "{all}");
    assert_eq!(u64_field(&summary, "interrupted"), 0, "{all}");
    assert_eq!(
        summary["tunnels"],
        Value::Array(vec![]),
        "nothing should be tunnelled\n{all}"
    );
    // Request bodies may carry aws-chunked framing on top of the payload, so at least.
    assert!(
        u64_field(&summary, "bytes_sent") >= u64_field(&botocore, "bytes_put"),
        "{all}"
    );
    assert!(
        u64_field(&summary, "bytes_received") >= u64_field(&botocore, "bytes_got"),
        "{all}"
    );
    let latency = &summary["latency_ms"];
    let p50 = latency["p50"].as_f64().expect("latency p50");
    let max = latency["max"].as_f64().expect("latency max");
    assert!(p50 > 0.0 && p50 <= max, "{all}");
    // A proxy that did not answer `Expect: 100-continue` would hold each upload for the second
    // botocore waits before sending the body anyway.
    assert!(
        p50 < 500.0,
        "median latency {p50} ms: is `Expect: 100-continue` answered?\n{all}"
    );
    let wall_ms = u64_field(&summary, "wall_time_ms");
    assert!(
        wall_ms > 0 && wall_ms <= started.elapsed().as_millis() as u64 + 1,
        "wall time {wall_ms} ms\n{all}"
    );

    // 2. A workload that makes a call and then fails: its exit code comes back, and the call
    // it made is still in the summary.
    let failing_summary = scratch.join("failing-summary.json");
    let code = "import sys, boto3\n\
                boto3.client('sts', region_name='us-east-1').get_caller_identity()\n\
                print('called sts, now failing')\n\
                sys.exit(5)\n";
    let command = tollgate_run(
        scratch,
        Some(&upstream),
        &failing_summary,
        &python,
        ["-c", code],
    );
    let run = run_bounded(command, scratch, "failing-sts", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert_eq!(run.status.code(), Some(5), "{context}");
    let summary = read_json(&failing_summary, &context);
    assert_eq!(u64_field(&summary, "calls"), 1, "{summary:#}\n{context}");
    let host = summary["hosts"][0]["host"].as_str().unwrap_or_default();
    assert!(
        host.starts_with("sts.") && is_aws_host(host),
        "{summary:#}\n{context}"
    );
    assert_eq!(
        summary["hosts"][0]["status"], "200",
        "{summary:#}\n{context}"
    );
}

/// Calls botocore retries (S3 and DynamoDB, on tollgate's 502) and prints the attempts it counted.
const RETRYING_CLIENTS: &str = r#"
import json, sys, boto3
from botocore.config import Config
attempts = {}
for service, call in (
    ("s3", lambda client: client.head_bucket(Bucket="tollgate-e2e-unreachable")),
    ("dynamodb", lambda client: client.list_tables()),
):
    client = boto3.client(service, config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    attempts[service] = 0
    def count(request, service=service, **kwargs):
        attempts[service] += 1
    client.meta.events.register("before-send", count)
    try:
        call(client)
        sys.exit(f"{service}: the call succeeded with no upstream")
    except client.exceptions.ClientError as error:
        print(service, error.response["ResponseMetadata"]["HTTPStatusCode"], file=sys.stderr)
print(json.dumps(attempts))
"#;

#[test]
fn each_retry_of_a_failing_call_is_counted() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    // Nothing listens there: tollgate answers each attempt with a 502, and botocore retries.
    let upstream = format!("http://127.0.0.1:{}", free_port());
    let summary_path = scratch.join("retries.json");
    let command = tollgate_run(
        scratch,
        Some(&upstream),
        &summary_path,
        &python,
        ["-c", RETRYING_CLIENTS],
    );
    let run = run_bounded(command, scratch, "retries", RUN_LIMIT);
    assert!(run.status.success(), "{}", run.describe());
    let attempts: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|error| panic!("no attempt counts ({error})\n{}", run.describe()));
    let summary = read_json(&summary_path, &run.describe());
    let all = format!(
        "tollgate summary: {summary:#}\nbotocore: {attempts}\n{}",
        run.describe()
    );

    let mut total = 0;
    for (service, host) in [
        ("s3", "tollgate-e2e-unreachable.s3.amazonaws.com"),
        ("dynamodb", "dynamodb.us-east-1.amazonaws.com"),
    ] {
        let sent = u64_field(&attempts, service);
        assert_eq!(
            sent, 3,
            "botocore did not make its 3 attempts at {service}: {all}"
        );
        let rows: Vec<&Value> = summary["hosts"]
            .as_array()
            .expect("hosts is a list")
            .iter()
            .filter(|row| row["host"] == host)
            .collect();
        assert_eq!(rows.len(), 1, "{host}: {all}");
        assert_eq!(rows[0]["status"], "failed (connect)", "{all}");
        assert_eq!(u64_field(rows[0], "calls"), sent, "{host}: {all}");
        total += sent;
    }
    assert_eq!(u64_field(&summary, "calls"), total, "{all}");
    assert_eq!(u64_field(&summary, "client_handshake_failures"), 0, "{all}");

    // The attempts are grouped under one logical call each (amz-sdk-request: attempt=N).
    for (service, operation) in [("s3", "HeadBucket"), ("dynamodb", "ListTables")] {
        let row = summary["operations"]
            .as_array()
            .expect("operations is a list")
            .iter()
            .find(|row| row["service"] == service && row["operation"] == operation)
            .unwrap_or_else(|| panic!("no {service} {operation} row: {all}"));
        assert_eq!(
            (
                u64_field(row, "calls"),
                u64_field(row, "attempts"),
                u64_field(row, "retries"),
                u64_field(row, "errors"),
            ),
            (1, 3, 2, 3),
            "{service} {operation}: {all}"
        );
    }
}

#[test]
fn child_exit_codes_pass_through() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();

    let summary_path = scratch.join("exit-3.json");
    let command = tollgate_run(
        scratch,
        None,
        &summary_path,
        &python,
        ["-c", "import sys; sys.exit(3)"],
    );
    let run = run_bounded(command, scratch, "exit-3", RUN_LIMIT);
    assert_eq!(run.status.code(), Some(3), "{}", run.describe());
    // The summary is still written, and says nothing happened.
    let summary = read_json(&summary_path, &run.describe());
    assert_eq!(u64_field(&summary, "calls"), 0, "{summary:#}");
    assert_eq!(summary["latency_ms"], Value::Null, "{summary:#}");

    // Killed by a signal: 128 + N, as a shell reports it.
    let summary_path = scratch.join("sigterm.json");
    let command = tollgate_run(
        scratch,
        None,
        &summary_path,
        &python,
        [
            "-c",
            "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
        ],
    );
    let run = run_bounded(command, scratch, "sigterm", RUN_LIMIT);
    assert_eq!(run.status.code(), Some(128 + 15), "{}", run.describe());
}
