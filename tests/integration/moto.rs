//! Shared by the end-to-end tests that run a real SDK under `tollgate run --upstream` against a
//! real moto server: finding Python and moto, starting moto on a free port (killed on drop),
//! isolating the child from the machine's AWS setup, and running a command with a time limit.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command};

pub(crate) const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// How long moto gets to start answering.
pub(crate) const MOTO_START_LIMIT: Duration = Duration::from_secs(30);

/// The Python interpreter with boto3 and moto: `TOLLGATE_TEST_PYTHON`, else the repository's
/// `.venv`.
pub(crate) fn python_with_moto() -> PathBuf {
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
pub(crate) fn moto_command(python: &Path) -> Command {
    let beside = python.parent().map(|dir| dir.join("moto_server"));
    match beside.filter(|path| path.is_file()) {
        Some(moto_server) => hermetic_command(moto_server),
        None => {
            let mut command = hermetic_command(python);
            command.args(["-m", "moto.server"]);
            command
        }
    }
}

/// Gives a workload (or `tollgate run` of one) dummy credentials and a region, and no AWS
/// configuration files. `command` comes from [`hermetic_command`] or [`tollgate_command`], which
/// leave out the machine's AWS, proxy and tollgate setup: neither a developer's profile nor a
/// proxy of their own can change what it does. (`tollgate run` sets the proxy and CA bundle
/// variables for its child itself.)
pub(crate) fn dummy_aws_env(command: &mut Command, scratch: &Path) {
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDTOLLGATETEST")
        .env("AWS_SECRET_ACCESS_KEY", "tollgate-test-dummy-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
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
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// A running moto server, killed when dropped (also when the test panics).
pub(crate) struct Moto {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
}

impl Moto {
    pub(crate) fn start(python: &Path, scratch: &Path) -> Moto {
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
            dummy_aws_env(&mut command, scratch);
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

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn wait_until_answering(&mut self) -> Result<(), String> {
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

    pub(crate) fn log_tail(&self) -> String {
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
pub(crate) fn http_answers(address: SocketAddr) -> bool {
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
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Finished {
    pub(crate) fn describe(&self) -> String {
        format!(
            "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` with its output in files under `scratch`, for at most `limit`: past it the
/// command gets SIGTERM (which `tollgate run` forwards to its child), then SIGKILL, and the test
/// fails with what it had printed.
pub(crate) fn run_bounded(
    mut command: Command,
    scratch: &Path,
    name: &str,
    limit: Duration,
) -> Finished {
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
pub(crate) fn tollgate_run<I, S>(
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
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
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
    dummy_aws_env(&mut command, scratch);
    command
}

pub(crate) fn read_json(path: &Path, context: &str) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {} ({context}): {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| {
        panic!(
            "{} is not JSON ({context}): {error}\n{text}",
            path.display()
        )
    })
}

pub(crate) fn u64_field(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no number '{field}' in {value:#}"))
}

pub(crate) fn is_aws_host(host: &str) -> bool {
    host.ends_with(".amazonaws.com")
}

/// What every clean run against moto has in common: each call got a real answer from moto (2xx,
/// or the single 404 the workloads expect for a deleted key), never one of tollgate's own
/// 502/504; no client rejected tollgate's CA; no response was cut short; nothing was tunnelled.
pub(crate) fn assert_clean_run(summary: &Value, all: &str) {
    let rows = summary["hosts"].as_array().expect("hosts is a list");
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
    assert_eq!(u64_field(summary, "client_handshake_failures"), 0, "{all}");
    assert_eq!(u64_field(summary, "interrupted"), 0, "{all}");
    assert_eq!(
        summary["tunnels"],
        Value::Array(vec![]),
        "nothing should be tunnelled\n{all}"
    );
}

/// `tollgate run --db DB --upstream URL -- PROGRAM ARGS...`, with its own TOLLGATE_HOME under
/// `scratch` and no AWS setup from the machine.
pub(crate) fn tollgate_record<I, S>(
    scratch: &Path,
    db: &Path,
    upstream: &str,
    program: &Path,
    args: I,
) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .current_dir(MANIFEST_DIR)
        .arg("run")
        .arg("--db")
        .arg(db)
        .args(["--upstream", upstream])
        .arg("--")
        .arg(program)
        .args(args);
    dummy_aws_env(&mut command, scratch);
    command
}

/// Records `tests/e2e/<stem>.py` through `tollgate run --db DB --upstream <moto>` with the path
/// of its truth file as its argument, checks that it finished (`<stem>: ok`, `"ok": true`), and
/// returns its truth and the run's output and moto's log for failure messages.
pub(crate) fn record_workload(
    scratch: &Path,
    db: &Path,
    moto: &Moto,
    python: &Path,
    stem: &str,
    limit: Duration,
) -> (Value, String) {
    let truth_path = scratch.join(format!("{stem}.json"));
    let script = Path::new(MANIFEST_DIR).join(format!("tests/e2e/{stem}.py"));
    let command = tollgate_record(
        scratch,
        db,
        &moto.url(),
        python,
        [script.as_os_str(), truth_path.as_os_str()],
    );
    let run = run_bounded(command, scratch, stem, limit);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "the workload failed\n{context}");
    assert!(run.stdout.contains(&format!("{stem}: ok")), "{context}");
    let truth = read_json(&truth_path, &context);
    assert_eq!(truth["ok"], true, "{truth:#}\n{context}");
    (truth, context)
}
