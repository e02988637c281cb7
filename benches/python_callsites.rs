//! What tollgate's Python call-site bootstrap (`src/cli/sitecustomize.py`) costs a Python
//! program: `cargo bench --bench python_callsites [-- --quick]`. Both sides in one sitting, in
//! interleaved rounds so that other load falls on both alike; medians.
//!
//! "With" is the environment `tollgate run` gives a Python child (the bootstrap's directory
//! first on PYTHONPATH); "without" is what `tollgate run --no-callsites` leaves (no PYTHONPATH).
//!
//! * per interpreter start: `python -c pass`, and `python -c "import boto3; boto3.client('s3')"`
//!   (the bootstrap patches botocore when it is imported, and tags the client when it is made);
//!   the CPU time (user + system) of the whole process, which other load on the machine moves
//!   far less than wall time.
//!   Python caches the bootstrap's bytecode at the first start; with PYTHONDONTWRITEBYTECODE=1
//!   it cannot, and every start compiles it: measured as a case of its own.
//! * per call: in one process, N `head_object` calls of a boto3 client whose `before-send` is
//!   answered by a handler of the script's own (registered after the bootstrap's, so the
//!   bootstrap's runs first and adds its header), so the time is botocore's own work per call
//!   (serialising, signing, parsing) plus the bootstrap's, with no network, as the thread's CPU
//!   time. The script checks
//!   that the header was there with the bootstrap and absent without it.
//!
//! `PYTHON=/path/to/python` picks the interpreter (default: `TOLLGATE_TEST_PYTHON`, else
//! `python3`); it needs boto3.

#[allow(dead_code)] // each bench uses its own subset
mod common;
use common::{machine, median};

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const BOOTSTRAP: &str = include_str!("../src/cli/sitecustomize.py");

const CLIENT_SCRIPT: &str = "import boto3; boto3.client('s3', region_name='us-east-1')";

/// N HeadObject calls answered in-process; prints `<ns per call> <tagged calls>`.
const CALLS_SCRIPT: &str = r#"
import sys, time
import boto3
from botocore.awsrequest import AWSResponse

class Raw:
    def stream(self, **_):
        return iter(())

tagged = 0

def answer(request, **_):
    global tagged
    if "x-tollgate-callsite" in request.headers:
        tagged += 1
    return AWSResponse(request.url, 200, {"content-length": "0", "etag": '"e"'}, Raw())

s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="bench",
                  aws_secret_access_key="bench")
s3.meta.events.register("before-send", answer)
n = int(sys.argv[1])
for _ in range(300):
    s3.head_object(Bucket="bench", Key="k")
start = time.thread_time_ns()
for _ in range(n):
    s3.head_object(Bucket="bench", Key="k")
elapsed = time.thread_time_ns() - start
print(elapsed / n, tagged)
"#;

fn python() -> PathBuf {
    ["PYTHON", "TOLLGATE_TEST_PYTHON"]
        .iter()
        .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

fn command(python: &Path, bootstrap: Option<&Path>) -> Command {
    let mut command = Command::new(python);
    common::hermetic(&mut command);
    command
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONSTARTUP")
        .env_remove("PYTEST_CURRENT_TEST")
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(dir) = bootstrap {
        command.env("PYTHONPATH", dir);
    }
    command
}

/// CPU time (user + system, ms) of every child waited for so far.
fn children_cpu_ms() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Median CPU time and wall time (ms) of `python -c SCRIPT`, without and with the bootstrap:
/// `((cpu without, cpu with), (wall without, wall with))`.
fn starts(
    python: &Path,
    dir: &Path,
    script: &str,
    rounds: usize,
    no_bytecode: bool,
) -> ((f64, f64), (f64, f64)) {
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    let (mut plain_wall, mut with_wall) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for tagged in [round % 2 == 0, round % 2 != 0] {
            let cpu = children_cpu_ms();
            let started = Instant::now();
            let mut child = command(python, tagged.then_some(dir));
            if no_bytecode {
                child.env("PYTHONDONTWRITEBYTECODE", "1");
            }
            let status = child
                .args(["-c", script])
                .stdout(Stdio::null())
                .status()
                .expect("run python");
            assert!(status.success(), "python -c {script:?} failed");
            let wall = started.elapsed().as_secs_f64() * 1e3;
            let cpu = children_cpu_ms() - cpu;
            if tagged { &mut with } else { &mut plain }.push(cpu);
            if tagged {
                &mut with_wall
            } else {
                &mut plain_wall
            }
            .push(wall);
        }
    }
    (
        (median(&mut plain), median(&mut with)),
        (median(&mut plain_wall), median(&mut with_wall)),
    )
}

fn main() -> ExitCode {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (start_rounds, call_runs, calls) = if quick {
        (10, 3, 1_000)
    } else {
        (40, 7, 5_000)
    };
    let python = python();
    let version = match command(&python, None)
        .args([
            "-c",
            "import sys, boto3; print(sys.version.split()[0], boto3.__version__)",
        ])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            eprintln!(
                "python_callsites bench: cannot run {} with boto3 (set PYTHON=/path/to/python)",
                python.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("sitecustomize.py"), BOOTSTRAP).expect("write the bootstrap");
    let (cpu, cores) = machine();
    println!("Python call-site bootstrap cost: python, boto3 {version}; {cpu}, {cores} cores");

    // Python caches the bootstrap's bytecode beside it (in tollgate's data directory) at the
    // first start; PYTHONDONTWRITEBYTECODE=1 (common in container images) stops that, and then
    // every start compiles it again: measured apart, with a directory that has no cache.
    let uncached = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(uncached.path().join("sitecustomize.py"), BOOTSTRAP)
        .expect("write the bootstrap");
    let cases = [
        ("`python -c pass`", "pass", dir.path(), false),
        ("boto3 client", CLIENT_SCRIPT, dir.path(), false),
        (
            "`python -c pass`, PYTHONDONTWRITEBYTECODE=1",
            "pass",
            uncached.path(),
            true,
        ),
    ];
    for (what, script, dir, no_bytecode) in cases {
        let ((plain_ms, with_ms), (plain_wall, with_wall)) =
            starts(&python, dir, script, start_rounds, no_bytecode);
        println!(
            "per start ({what}, median of {start_rounds}): CPU {plain_ms:.1} ms with \
             --no-callsites, {with_ms:.1} ms with call sites: {:+.1} ms, x{:.3} (wall {plain_wall:.1} \
             ms, {with_wall:.1} ms: x{:.3})",
            with_ms - plain_ms,
            with_ms / plain_ms,
            with_wall / plain_wall
        );
    }

    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for round in 0..call_runs {
        for tagged in [round % 2 == 0, round % 2 != 0] {
            let out = command(&python, tagged.then_some(dir.path()))
                .args(["-c", CALLS_SCRIPT, &calls.to_string()])
                .output()
                .expect("run python");
            assert!(out.status.success(), "the calls script failed");
            let text = String::from_utf8_lossy(&out.stdout);
            let (ns, seen) = text.trim().split_once(' ').expect("`ns tagged`");
            let seen: u64 = seen.parse().expect("a count");
            let expected = if tagged { calls as u64 + 300 } else { 0 };
            assert_eq!(
                seen, expected,
                "calls that carried the header (tagged: {tagged})"
            );
            let ns: f64 = ns.parse().expect("ns per call");
            if tagged { &mut with } else { &mut plain }.push(ns);
        }
    }
    let (plain_us, with_us) = (median(&mut plain) / 1e3, median(&mut with) / 1e3);
    println!(
        "per call (boto3 head_object answered in-process, thread CPU, median of {call_runs} runs of \
         {calls}): {plain_us:.1} us with --no-callsites, {with_us:.1} us with call sites: \
         {:+.2} us, x{:.3}",
        with_us - plain_us,
        with_us / plain_us
    );
    ExitCode::SUCCESS
}
