//! End to end with the AWS SDK for Rust: its S3, DynamoDB and SQS clients, unaware of tollgate
//! (default HTTPS client, `BehaviorVersion::latest()`, no endpoint override), run under
//! `tollgate run --upstream` with a moto server standing in for AWS. What tollgate reports is
//! compared with what the SDK itself counted through an interceptor.
//!
//! The workload is a separate crate, `tests/rust-sdk`, kept out of this build: build it with
//! `scripts/build-rust-sdk-test.sh` (or point `TOLLGATE_RUST_SDK_TEST_BIN` at a built binary).
//! Needs moto[server] like `e2e`: `.venv` in the repository root, or `TOLLGATE_TEST_PYTHON`.
//!
//! Helpers are private to this file on purpose: the module shares nothing with `common`.

use std::collections::BTreeMap;
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

/// The workload binary's name (`tests/rust-sdk/Cargo.toml`).
const WORKLOAD_NAME: &str = "tollgate-rust-sdk-test";
/// How long moto gets to start answering.
const MOTO_START_LIMIT: Duration = Duration::from_secs(30);
/// How long the workload may take under tollgate before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// The account id in the credentials of the workload's second DynamoDB client, which sends its
/// calls to the account-based endpoint.
const ACCOUNT_ENDPOINT: &str = "123456789012.ddb.us-east-1.amazonaws.com";

/// The built workload: `TOLLGATE_RUST_SDK_TEST_BIN`, else the release build in `tests/rust-sdk`.
fn workload() -> PathBuf {
    if let Some(path) = std::env::var_os("TOLLGATE_RUST_SDK_TEST_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "TOLLGATE_RUST_SDK_TEST_BIN={} is not a file: build the workload with \
             scripts/build-rust-sdk-test.sh, which prints its path, or unset the variable",
            path.display()
        );
        return path;
    }
    let built = Path::new(MANIFEST_DIR)
        .join("tests/rust-sdk/target/release")
        .join(WORKLOAD_NAME);
    if built.is_file() {
        return built;
    }
    panic!(
        "the Rust SDK test needs its workload binary, and found neither \
         TOLLGATE_RUST_SDK_TEST_BIN nor {}: run scripts/build-rust-sdk-test.sh (a separate \
         crate with the AWS SDK for Rust, kept out of the main build), or set \
         TOLLGATE_RUST_SDK_TEST_BIN to the binary it builds",
        built.display()
    );
}

/// The Python interpreter with moto: `TOLLGATE_TEST_PYTHON`, else the repository's `.venv`.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("TOLLGATE_TEST_PYTHON").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        // A bare name (`python3`) is looked up on PATH when run.
        assert!(
            path.is_file() || path.components().count() == 1,
            "TOLLGATE_TEST_PYTHON={} is not a file: point it at a Python with moto[server], or \
             unset it to use the repository's .venv (scripts/test.sh makes it)",
            path.display()
        );
        return path;
    }
    let venv = Path::new(MANIFEST_DIR).join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    panic!(
        "the Rust SDK test needs Python with moto[server], and found neither \
         TOLLGATE_TEST_PYTHON nor {}: run scripts/test.sh (it creates .venv from \
         requirements-test.txt and runs the tests), or set TOLLGATE_TEST_PYTHON to an \
         interpreter that has it",
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

/// Leaves the child nothing of the machine's AWS or proxy setup (no profile, no
/// `AWS_ENDPOINT_URL*`, no proxy of a developer's own), and gives it dummy credentials. The
/// workload sets its own region and credentials too; these keep aws-config's other lookups
/// (profile files, IMDS) off the machine. (`tollgate run` sets the proxy and CA bundle variables
/// for its child itself.)
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
        .env("AWS_ACCESS_KEY_ID", "AKIDTOLLGATERUSTSDK")
        .env("AWS_SECRET_ACCESS_KEY", "tollgate-rust-sdk-dummy-secret")
        .env("AWS_REGION", "us-east-1")
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

/// `tollgate run --upstream URL --summary json --summary-file SUMMARY -- PROGRAM ARGS...`, with
/// its own TOLLGATE_HOME and no AWS setup from the machine.
fn tollgate_run<I, S>(
    scratch: &Path,
    upstream: &str,
    summary: &Path,
    program: &Path,
    args: I,
) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(TOLLGATE);
    command
        .current_dir(MANIFEST_DIR)
        .args(["run", "--upstream", upstream])
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

/// `{"s3.PutObject": 30, ...}` → a map.
fn counts(value: &Value, field: &str) -> BTreeMap<String, u64> {
    value[field]
        .as_object()
        .unwrap_or_else(|| panic!("no map '{field}' in {value:#}"))
        .iter()
        .map(|(name, count)| {
            let count = count
                .as_u64()
                .unwrap_or_else(|| panic!("{field}.{name} is not a count: {value:#}"));
            (name.clone(), count)
        })
        .collect()
}

#[test]
fn rust_sdk_calls_through_tollgate_match_what_the_sdk_sent() {
    let workload = workload();
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);

    let summary_path = scratch.join("summary.json");
    let command = tollgate_run(
        scratch,
        &moto.url(),
        &summary_path,
        &workload,
        std::iter::empty::<&str>(),
    );
    let run = run_bounded(command, scratch, "rust-sdk", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(
        run.status.success(),
        "the Rust SDK workload failed under tollgate\n{context}"
    );
    assert!(
        run.stderr.contains("rust-sdk workload: ok"),
        "the workload did not finish\n{context}"
    );

    // The SDK's own counts: the last line of its stdout.
    let line = run.stdout.lines().last().unwrap_or_default();
    let sdk: Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("the workload printed no counts ({error})\n{context}"));
    let summary = read_json(&summary_path, &context);
    let all = format!("tollgate summary: {summary:#}\nRust SDK: {sdk:#}\n{context}");
    assert_eq!(summary["version"], 1, "{all}");

    let sdk_attempts = counts(&sdk, "operations");
    let sdk_calls = counts(&sdk, "calls");
    let attempts = u64_field(&sdk, "attempts");
    assert_eq!(
        attempts,
        sdk_attempts.values().sum::<u64>(),
        "the workload's counts do not add up\n{all}"
    );
    // The workload is what it says it is: every service, the paginator's pages, the batch calls.
    assert!(
        attempts >= 70,
        "the workload sent only {attempts} requests\n{all}"
    );
    for (operation, at_least) in [
        ("s3.PutObject", 30),
        ("s3.ListObjectsV2", 3),
        ("s3.DeleteObjects", 1),
        ("dynamodb.PutItem", 5),
        ("dynamodb.Query", 1),
        ("dynamodb.BatchWriteItem", 1),
        ("sqs.SendMessage", 3),
        ("sqs.SendMessageBatch", 1),
        ("sqs.ReceiveMessage", 1),
        ("sqs.DeleteMessageBatch", 1),
    ] {
        let sent = sdk_attempts.get(operation).copied().unwrap_or(0);
        assert!(
            sent >= at_least,
            "{operation}: {sent} attempts, the workload makes at least {at_least}\n{all}"
        );
    }

    // Every HTTP attempt the SDK made went through tollgate, once.
    assert_eq!(
        u64_field(&summary, "calls"),
        attempts,
        "tollgate counted a different number of calls than the Rust SDK sent\n{all}"
    );

    // Identification: every attempt under the service and operation the SDK called, none unknown.
    let mut tollgate_attempts: BTreeMap<String, u64> = BTreeMap::new();
    let mut tollgate_calls: BTreeMap<String, u64> = BTreeMap::new();
    for row in summary["operations"]
        .as_array()
        .expect("operations is a list")
    {
        let service = row["service"].as_str().expect("service is text");
        let operation = row["operation"].as_str().expect("operation is text");
        assert!(
            matches!(service, "s3" | "dynamodb" | "sqs") && !operation.starts_with("unknown"),
            "a call tollgate did not identify as an S3, DynamoDB or SQS operation: {row}\n{all}"
        );
        let key = format!("{service}.{operation}");
        *tollgate_attempts.entry(key.clone()).or_default() += u64_field(row, "attempts");
        *tollgate_calls.entry(key).or_default() += u64_field(row, "calls");
    }
    assert_eq!(
        tollgate_attempts, sdk_attempts,
        "tollgate's attempts by operation differ from the Rust SDK's\n{all}"
    );
    // And grouped into the logical calls the SDK made (`amz-sdk-request: attempt=N`).
    assert_eq!(
        tollgate_calls, sdk_calls,
        "tollgate's calls by operation differ from the Rust SDK's executions\n{all}"
    );

    // The hosts are AWS's own, the account-based DynamoDB endpoint among them, and every call got
    // a real answer from moto: no 502/504 of tollgate's own. The one 404 is the HeadObject on a
    // key that was never put, which the workload expects.
    let rows = summary["hosts"].as_array().expect("hosts is a list");
    assert_eq!(
        rows.iter().map(|row| u64_field(row, "calls")).sum::<u64>(),
        attempts,
        "the host rows do not add up to the total\n{all}"
    );
    for row in rows {
        let host = row["host"].as_str().expect("host is text");
        assert!(
            host.ends_with(".amazonaws.com"),
            "tollgate reported a non-AWS host {host}\n{all}"
        );
        let status = row["status"].as_str().expect("status is text");
        assert!(
            matches!(status.parse::<u16>(), Ok(200..=299 | 404)),
            "unexpected status row {row}\n{all}"
        );
    }
    assert!(
        rows.iter().any(|row| row["host"] == ACCOUNT_ENDPOINT),
        "no call to the account-based DynamoDB endpoint {ACCOUNT_ENDPOINT}\n{all}"
    );
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
}
