//! Recording runs in SQLite, end to end: real boto3 workloads through the real `tollgate run`
//! against a real moto server, recorded into a real database file, read back with
//! `tollgate report --format json` and `tollgate runs --json`.
//!
//! - a workload whose calls and paginator loops are counted by the script itself (botocore's
//!   `before-send` event and its own page counts) is reported exactly: attempts per operation,
//!   each loop's pages, items and page size, and a listing re-read from its start;
//! - credentials, signatures and payload values never reach the database, its WAL, or what
//!   tollgate prints;
//! - when the disk fills up (RLIMIT_FSIZE on tollgate, or a full tmpfs when the tests may mount
//!   one) the workload still succeeds, the calls that could not be recorded are counted and said,
//!   and what the database holds agrees with what tollgate said it recorded;
//! - a tollgate killed mid-run leaves an `incomplete` run with the calls it had committed.
//!
//! Needs Python with boto3 and moto[server], as the other end-to-end tests (see `moto`).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{hermetic_command, tollgate_command};
use crate::moto::{
    python_with_moto as python, read_json, record_workload, run_bounded, tollgate_record,
    u64_field, Finished, Moto, MANIFEST_DIR,
};

/// How long one `tollgate run` of a workload may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(100);
/// How long `tollgate runs` or `tollgate report` may take.
const CLI_LIMIT: Duration = Duration::from_secs(30);

/// `tollgate ARGS... --db DB` (runs, report): must succeed; returns its stdout.
fn tollgate_cli(scratch: &Path, db: &Path, name: &str, args: &[&str]) -> String {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command.args(args).arg("--db").arg(db);
    let run = run_bounded(command, scratch, name, CLI_LIMIT);
    assert!(
        run.status.success(),
        "tollgate {} failed\n{}",
        args.join(" "),
        run.describe()
    );
    run.stdout
}

fn runs_json(scratch: &Path, db: &Path, name: &str) -> Value {
    let text = tollgate_cli(scratch, db, name, &["runs", "--json"]);
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("`tollgate runs --json` is not JSON ({error}):\n{text}"))
}

fn report_json(scratch: &Path, db: &Path, name: &str, select: &[&str]) -> Value {
    let mut args = vec!["report", "--format", "json"];
    args.extend_from_slice(select);
    let text = tollgate_cli(scratch, db, name, &args);
    let report: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("the JSON report is not JSON ({error}):\n{text}"));
    assert_eq!(report["version"], 1, "{report:#}");
    report
}

fn i64_field(value: &Value, field: &str) -> i64 {
    value[field]
        .as_i64()
        .unwrap_or_else(|| panic!("no number '{field}' in {value:#}"))
}

/// Attempts per "service operation" in a report.
fn report_attempts(report: &Value) -> BTreeMap<String, u64> {
    let mut attempts = BTreeMap::new();
    for row in report["operations"]
        .as_array()
        .expect("operations is a list")
    {
        let key = format!(
            "{} {}",
            row["service"].as_str().expect("service is text"),
            row["operation"].as_str().expect("operation is text")
        );
        *attempts.entry(key).or_default() += u64_field(row, "attempts");
    }
    attempts
}

fn counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .expect("a map of counts")
        .iter()
        .map(|(key, count)| (key.clone(), count.as_u64().expect("a count")))
        .collect()
}

// --- 1. Loops with known ground truth ---

#[test]
fn the_report_has_the_exact_calls_and_loops_the_workload_made() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("db/t.db");
    let (truth, context) =
        record_workload(scratch, &db, &moto, &python, "loops_workload", RUN_LIMIT);

    let report = report_json(scratch, &db, "loops-report", &["--last"]);
    let all = format!("report: {report:#}\nworkload: {truth:#}\n{context}");
    let total = u64_field(&truth, "total_attempts");

    // The run.
    let runs = report["runs"].as_array().expect("runs is a list");
    assert_eq!(runs.len(), 1, "{all}");
    let run_row = &runs[0];
    assert_eq!(run_row["state"], "complete", "{all}");
    assert_eq!(run_row["exit_code"], 0, "{all}");
    assert_eq!(i64_field(run_row, "lost_calls"), 0, "{all}");
    assert_eq!(i64_field(run_row, "calls_recorded"), total as i64, "{all}");

    // Every attempt botocore sent, per operation, and nothing else.
    let expected = counts(&truth["attempts"]);
    assert_eq!(report_attempts(&report), expected, "{all}");
    assert_eq!(u64_field(&report["totals"], "attempts"), total, "{all}");
    assert_eq!(i64_field(&report["totals"], "lost_calls"), 0, "{all}");

    // The loops, in the order their first pages came.
    let loops = report["loops"].as_array().expect("loops is a list");
    let of = |service: &str, operation: &str| -> Vec<&Value> {
        loops
            .iter()
            .filter(|l| l["service"] == service && l["operation"] == operation)
            .collect()
    };
    let listings = of("s3", "ListObjectsV2");
    assert_eq!(listings.len(), 2, "two listings of the bucket\n{all}");
    assert!(
        i64_field(listings[0], "loop_id") < i64_field(listings[1], "loop_id"),
        "{all}"
    );
    let objects: u64 = 1050;
    let pages = objects.div_ceil(100);
    for (index, (name, relisting)) in [("list_objects_v2", false), ("list_objects_v2_again", true)]
        .into_iter()
        .enumerate()
    {
        let seen = &truth["loops"][name];
        assert_eq!(
            (u64_field(seen, "pages"), u64_field(seen, "items")),
            (pages, objects),
            "the workload's own count of {name}\n{all}"
        );
        let listing = listings[index];
        assert_eq!(listing["resource"], truth["bucket"], "{name}\n{all}");
        assert_eq!(i64_field(listing, "pages"), pages as i64, "{name}\n{all}");
        assert_eq!(listing["items"], objects, "{name}\n{all}");
        assert_eq!(listing["page_size"], 100, "{name}\n{all}");
        assert_eq!(listing["page_size_max"], 1000, "{name}\n{all}");
        assert_eq!(listing["complete"], true, "{name}\n{all}");
        assert_eq!(listing["resumed"], false, "{name}\n{all}");
        assert_eq!(listing["relisting"], relisting, "{name}\n{all}");
    }
    // The loops' attempts are the listing's attempts (retries included).
    let listing_attempts: i64 = listings.iter().map(|l| i64_field(l, "attempts")).sum();
    assert_eq!(
        listing_attempts as u64, expected["s3 ListObjectsV2"],
        "{all}"
    );

    for (service, operation, name, page_size, resource) in [
        ("dynamodb", "Scan", "scan", 10, truth["table"].clone()),
        (
            "ec2",
            "DescribeInstances",
            "describe_instances",
            5,
            Value::Null,
        ),
    ] {
        let found = of(service, operation);
        assert_eq!(found.len(), 1, "one {operation} loop\n{all}");
        let found = found[0];
        let seen = &truth["loops"][name];
        assert_eq!(
            i64_field(found, "pages") as u64,
            u64_field(seen, "pages"),
            "{operation} pages\n{all}"
        );
        assert_eq!(
            i64_field(found, "items") as u64,
            u64_field(seen, "items"),
            "{operation} items\n{all}"
        );
        assert_eq!(
            i64_field(found, "attempts") as u64,
            expected[&format!("{service} {operation}")],
            "{operation} attempts\n{all}"
        );
        assert_eq!(found["page_size"], page_size, "{operation}\n{all}");
        assert_eq!(found["complete"], true, "{operation}\n{all}");
        assert_eq!(found["resumed"], false, "{operation}\n{all}");
        assert_eq!(found["relisting"], false, "{operation}\n{all}");
        if !resource.is_null() {
            assert_eq!(found["resource"], resource, "{operation}\n{all}");
        }
    }
    assert_eq!(loops.len(), 4, "no other loops\n{all}");
    let loop_totals = &report["loop_totals"];
    assert_eq!(u64_field(loop_totals, "loops"), 4, "{all}");
    assert_eq!(u64_field(loop_totals, "relistings"), 1, "{all}");
    assert_eq!(u64_field(loop_totals, "stopped_early"), 0, "{all}");
    let all_pages: u64 = [
        "list_objects_v2",
        "list_objects_v2_again",
        "scan",
        "describe_instances",
    ]
    .iter()
    .map(|name| u64_field(&truth["loops"][*name], "pages"))
    .sum();
    assert_eq!(u64_field(loop_totals, "pages"), all_pages, "{all}");

    // `tollgate runs` lists it, complete, with every call.
    let runs = runs_json(scratch, &db, "loops-runs");
    let runs = runs.as_array().expect("runs is a list");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["state"], "complete", "{runs:#?}");
    assert_eq!(i64_field(&runs[0], "calls"), total as i64, "{runs:#?}");
    assert_eq!(i64_field(&runs[0], "lost_calls"), 0, "{runs:#?}");
    assert_eq!(runs[0]["exit_code"], 0, "{runs:#?}");
    assert_eq!(runs[0]["id"], run_row["id"], "{runs:#?}");
    // Issue 13: `runs` showed no cost. Its cost is the report's total, to the digit, and the
    // table shows it as the report's table does.
    assert_eq!(
        runs[0]["cost_usd"], report["totals"]["total_usd"],
        "{runs:#?}"
    );
    let total: rust_decimal::Decimal = report["totals"]["total_usd"]
        .as_str()
        .expect("total_usd is text")
        .parse()
        .expect("a decimal");
    let table = tollgate_cli(scratch, &db, "loops-runs-table", &["runs"]);
    let header = table.lines().next().unwrap_or_default();
    assert!(header.contains("cost"), "{table}");
    assert!(
        table.contains(&tollgate::record::format_usd(total)),
        "the run's cost {total} is not in\n{table}"
    );
}

// --- 2. Secrets never stored ---

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
}

fn random_text(alphabet: &[u8], n: usize) -> String {
    random_bytes(n)
        .into_iter()
        .map(|b| alphabet[usize::from(b) % alphabet.len()] as char)
        .collect()
}

const UPPER_BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";

/// Every file under `dir` (recursively), as (path, bytes).
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path, bytes));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[test]
fn credentials_signatures_and_payloads_never_reach_the_database() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db_dir = scratch.join("db");
    let db = db_dir.join("t.db");
    let truth_path = scratch.join("secrets.json");

    let access_key_id = format!("AKIA{}", random_text(UPPER_BASE32, 16));
    let secret_key = random_text(BASE64, 40);
    let session_token = format!("IQoJb3JpZ2luX2Vj{}", random_text(BASE64, 320));
    let markers: Vec<String> = (0..12)
        .map(|i| format!("tgsecret{i:02}x{}", random_text(HEX, 16)))
        .collect();

    let script = Path::new(MANIFEST_DIR).join("tests/e2e/secrets_workload.py");
    let mut command = tollgate_record(
        scratch,
        &db,
        &moto.url(),
        &python,
        [script.as_os_str(), truth_path.as_os_str()],
    );
    command
        .env("AWS_ACCESS_KEY_ID", &access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret_key)
        .env("AWS_SESSION_TOKEN", &session_token)
        .env("TOLLGATE_MARKERS", markers.join(","));
    let run = run_bounded(command, scratch, "secrets", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "the workload failed\n{context}");
    assert!(run.stdout.contains("secrets_workload: ok"), "{context}");
    let truth = read_json(&truth_path, &context);
    let signatures: Vec<String> = truth["signatures"]
        .as_array()
        .expect("signatures is a list")
        .iter()
        .map(|s| s.as_str().expect("a signature").to_string())
        .collect();
    assert!(
        !signatures.is_empty() && signatures.iter().all(|s| s.len() == 64),
        "{truth:#}"
    );

    // What must never be written anywhere: the credentials whole and in part, every marker,
    // every request signature.
    let mut needles: Vec<(String, String)> = vec![
        ("access key id".into(), access_key_id.clone()),
        (
            "access key id without its prefix".into(),
            access_key_id[4..].to_string(),
        ),
        ("secret access key".into(), secret_key.clone()),
        (
            "part of the secret key".into(),
            secret_key[10..30].to_string(),
        ),
        ("session token".into(), session_token.clone()),
        (
            "part of the session token".into(),
            session_token[100..140].to_string(),
        ),
    ];
    for (index, marker) in markers.iter().enumerate() {
        needles.push((format!("marker {index}"), marker.clone()));
    }
    for signature in &signatures {
        needles.push(("an Authorization signature".into(), signature.clone()));
    }

    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    // The database as the run left it (main file, WAL, shared memory)...
    for (path, bytes) in files_under(&db_dir) {
        haystacks.push((format!("after the run: {}", path.display()), bytes));
    }
    let db_files_after_run: Vec<u8> = files_under(&db_dir)
        .into_iter()
        .flat_map(|(_, bytes)| bytes)
        .collect();
    haystacks.push((
        "tollgate run's stderr".into(),
        run.stderr.clone().into_bytes(),
    ));
    haystacks.push((
        "tollgate run's stdout".into(),
        run.stdout.clone().into_bytes(),
    ));
    for (path, bytes) in files_under(&scratch.join("tollgate-home")) {
        haystacks.push((path.display().to_string(), bytes));
    }
    // ...what the report and the run list show...
    let report = report_json(scratch, &db, "secrets-report", &["--last"]);
    let report_text = serde_json::to_string(&report).expect("JSON");
    let runs = runs_json(scratch, &db, "secrets-runs");
    haystacks.push(("the JSON report".into(), report_text.clone().into_bytes()));
    haystacks.push(("tollgate runs --json".into(), runs.to_string().into_bytes()));
    // ...and the database after they opened it (a checkpoint may move pages around).
    for (path, bytes) in files_under(&db_dir) {
        haystacks.push((format!("after the report: {}", path.display()), bytes));
    }

    let mut leaks = Vec::new();
    for (what, needle) in &needles {
        for (place, bytes) in &haystacks {
            if contains(bytes, needle.as_bytes()) {
                leaks.push(format!("{what} ({needle}) is in {place}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets were stored or printed:\n  {}\n{context}",
        leaks.join("\n  ")
    );

    // The search does find what is stored by design: the bucket (a resource), the key's
    // fingerprint, and the calls themselves.
    let bucket = truth["bucket"].as_str().expect("the bucket");
    assert!(
        contains(&db_files_after_run, bucket.as_bytes()),
        "the bucket name should be in the database files: is the search looking in the right place?"
    );
    let digest = Sha256::digest(access_key_id.as_bytes());
    let fingerprint = format!(
        "AKIA-{}",
        digest[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    assert!(
        contains(&db_files_after_run, fingerprint.as_bytes()),
        "the access key's fingerprint {fingerprint} should be in the database files"
    );
    assert_eq!(
        u64_field(&report["totals"], "attempts"),
        u64_field(&truth, "attempts"),
        "{report_text}\n{context}"
    );
}

// --- 3. A full disk ---

/// HeadObject many times on one object, from a few threads, through botocore's `before-send`
/// count; argv: OUT.json CALLS BUCKET.
const HEAD_OBJECTS: &str = r#"
import json, sys, threading, boto3
from concurrent.futures import ThreadPoolExecutor
from botocore.config import Config
out, calls, bucket = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
record = {"attempts": 0, "heads": 0}
s3 = boto3.client("s3", config=Config(max_pool_connections=8, retries={"mode": "standard"}))
def count(request, **kwargs):
    with lock:
        record["attempts"] += 1
s3.meta.events.register("before-send", count)
s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="k", Body=b"x")
def head(_):
    s3.head_object(Bucket=bucket, Key="k")
    with lock:
        record["heads"] += 1
with ThreadPoolExecutor(max_workers=4) as pool:
    list(pool.map(head, range(calls)))
with open(out, "w") as f:
    json.dump(record, f)
print("heads: ok", record)
"#;

/// Enough calls that their rows cannot fit the space left, however they are batched: with a
/// 63-character bucket in each row's host and resource, 3,000 rows are well over 512 KiB.
const FULL_DISK_CALLS: u64 = 3000;

/// A 63-character bucket name (the longest S3 allows): fat rows fill the disk sooner.
fn long_bucket() -> String {
    let prefix = "tollgate-full-disk-";
    format!("{prefix}{}", random_text(HEX, 63 - prefix.len()))
}

/// `tollgate: recorded N calls` and `tollgate: warning: N calls were not recorded`.
fn recorded_and_lost(stderr: &str) -> (Option<u64>, Option<u64>) {
    let mut recorded = None;
    let mut lost = None;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("tollgate: recorded ") {
            recorded = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        }
        if let Some(rest) = line.strip_prefix("tollgate: warning: ") {
            if rest.contains(" calls were not recorded") {
                lost = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            }
        }
    }
    (recorded, lost)
}

/// What must hold after a run whose database filled up: the workload never noticed, tollgate
/// said how many calls it could not record, and the database agrees with what it said.
fn assert_losses_accounted(
    run: &Finished,
    truth_path: &Path,
    scratch: &Path,
    db: &Path,
    context: &str,
) {
    if let Some(signal) = run.status.signal() {
        panic!(
            "tollgate was killed by signal {signal}{}: a database that cannot grow must cost \
             recording, never the workload's proxy (tollgate should ignore SIGXFSZ, so that a \
             write past RLIMIT_FSIZE fails with EFBIG and is counted as lost)\n{context}",
            if signal == libc::SIGXFSZ {
                " (SIGXFSZ)"
            } else {
                ""
            }
        );
    }
    assert_eq!(
        run.status.code(),
        Some(0),
        "the workload must succeed when the database is full\n{context}"
    );
    let truth = read_json(truth_path, context);
    assert_eq!(
        u64_field(&truth, "heads"),
        FULL_DISK_CALLS,
        "{truth}\n{context}"
    );
    let attempts = u64_field(&truth, "attempts");
    assert!(attempts >= FULL_DISK_CALLS + 2, "{truth}\n{context}");

    let (recorded, lost) = recorded_and_lost(&run.stderr);
    let recorded = recorded.unwrap_or_else(|| panic!("no 'recorded N calls' line\n{context}"));
    let lost = lost.unwrap_or_else(|| panic!("no 'N calls were not recorded' warning\n{context}"));
    assert!(lost > 0, "{context}");
    assert_eq!(
        recorded + lost,
        attempts,
        "recorded + not recorded should be every attempt the workload made ({attempts})\n{context}"
    );

    // Read back without the limit: the rows in the database are the calls tollgate said it
    // recorded.
    let runs = runs_json(scratch, db, "full-disk-runs");
    let all = format!("runs: {runs:#}\nworkload: {truth}\n{context}");
    let runs = runs.as_array().expect("runs is a list");
    assert_eq!(runs.len(), 1, "{all}");
    let row = &runs[0];
    assert_eq!(
        i64_field(row, "calls") as u64,
        recorded,
        "the database holds a different number of calls than tollgate said it recorded\n{all}"
    );
    let report = report_json(scratch, db, "full-disk-report", &["--last"]);
    assert_eq!(
        u64_field(&report["totals"], "attempts"),
        recorded,
        "{report:#}\n{all}"
    );
    if run.stderr.contains("the run's end was not recorded") {
        // The end-of-run update needed room too: the run is left as tollgate found it when it
        // could not finish it, and the next open sees that its process is gone.
        assert_eq!(row["state"], "incomplete", "{all}");
        assert_eq!(row["ended_at_us"], Value::Null, "{all}");
    } else {
        // A run whose calls were not all recorded ended incomplete (issue 16), with its end.
        let state = if lost > 0 { "incomplete" } else { "complete" };
        assert_eq!(row["state"], state, "{all}");
        assert!(row["ended_at_us"].is_i64(), "{all}");
        assert_eq!(row["exit_code"], 0, "{all}");
        assert_eq!(i64_field(row, "lost_calls") as u64, lost, "{all}");
        assert!(row["lost_reason"].is_string(), "{all}");
        assert_eq!(
            i64_field(&report["totals"], "lost_calls") as u64,
            lost,
            "{report:#}\n{all}"
        );
    }
}

#[test]
fn a_file_size_limit_costs_recording_not_the_workload() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("db/t.db");
    let truth_path = scratch.join("heads.json");
    let bucket = long_bucket();
    let mut command = tollgate_record(
        scratch,
        &db,
        &moto.url(),
        &python,
        [
            OsStr::new("-c"),
            OsStr::new(HEAD_OBJECTS),
            truth_path.as_os_str(),
            OsStr::new(&FULL_DISK_CALLS.to_string()),
            OsStr::new(&bucket),
        ],
    );
    // Room for the CA bundle written at start (~220 KiB) and the new database, not for the rows
    // of every call. As `ulimit -f` in a shell would: SIGXFSZ at its default disposition.
    let limit: libc::rlim_t = 512 * 1024;
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut current) },
        0,
        "getrlimit"
    );
    let hard = current.rlim_max;
    assert!(
        hard == libc::RLIM_INFINITY || hard >= limit,
        "the hard file size limit {hard} is already below {limit}"
    );
    // SAFETY: between fork and exec, only async-signal-safe calls (signal, setrlimit).
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let run = run_bounded(command, scratch, "rlimit-fsize", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert_losses_accounted(&run, &truth_path, scratch, &db, &context);
}

/// A tmpfs of `size` mounted on a directory, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// None when this process may not mount one (not root, or no CAP_SYS_ADMIN).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        std::fs::create_dir_all(dir).expect("create the mount point");
        let status = hermetic_command("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(status) if status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            _ => None,
        }
    }
}

impl Tmpfs {
    fn resize(&self, size: &str) {
        let status = hermetic_command("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "cannot grow the tmpfs to {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = hermetic_command("umount")
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = hermetic_command("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

#[test]
fn a_full_disk_costs_recording_not_the_workload() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    // A real ENOSPC needs a small file system of its own.
    let Some(tmpfs) = Tmpfs::mount(&scratch.join("small-disk"), "1m") else {
        eprintln!(
            "skipped: a full disk needs a small tmpfs, and this process may not mount one \
             (run the tests as root to include it)"
        );
        return;
    };
    let moto = Moto::start(&python, scratch);
    let db = tmpfs.dir.join("t.db");
    let truth_path = scratch.join("heads.json");
    let bucket = long_bucket();
    let command = tollgate_record(
        scratch,
        &db,
        &moto.url(),
        &python,
        [
            OsStr::new("-c"),
            OsStr::new(HEAD_OBJECTS),
            truth_path.as_os_str(),
            OsStr::new(&FULL_DISK_CALLS.to_string()),
            OsStr::new(&bucket),
        ],
    );
    let run = run_bounded(command, scratch, "enospc", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    // Room again before reading back (opening the database writes: it marks dead runs).
    tmpfs.resize("8m");
    assert_losses_accounted(&run, &truth_path, scratch, &db, &context);
    drop(tmpfs);
}

// --- 4. Killed mid-run ---

/// Makes some calls (one paginated listing among them), says so in READY (with its pid and the
/// attempts it counted), then sleeps until killed; argv: READY.
const CALLS_THEN_SLEEP: &str = r#"
import json, os, sys, time, boto3
ready = sys.argv[1]
attempts = {}
s3 = boto3.client("s3")
def count(request, event_name=None, **kwargs):
    operation = "s3 " + event_name.rsplit(".", 1)[-1]
    attempts[operation] = attempts.get(operation, 0) + 1
s3.meta.events.register("before-send", count)
bucket = "tollgate-killed-run"
s3.create_bucket(Bucket=bucket)
for i in range(5):
    s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
pages = [len(p.get("Contents", [])) for p in s3.get_paginator("list_objects_v2").paginate(
    Bucket=bucket, PaginationConfig={"PageSize": 2})]
for _ in range(20):
    s3.head_object(Bucket=bucket, Key="k0")
with open(ready + ".tmp", "w") as f:
    json.dump({"pid": os.getpid(), "attempts": attempts, "pages": pages}, f)
os.rename(ready + ".tmp", ready)
time.sleep(300)
"#;

/// SIGKILLs a process by id when dropped.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Records `script` (a Python program that writes its truth as JSON to the path it is given,
/// then sleeps) into `db`, and SIGKILLs tollgate `settle` after the workload is ready, then the
/// workload. Returns the workload's truth and tollgate's stderr with moto's log.
fn kill_when_ready(
    scratch: &Path,
    db: &Path,
    moto: &Moto,
    python: &Path,
    script: &str,
    settle: Duration,
) -> (Value, String) {
    let ready = scratch.join("ready.json");
    let stderr_path = scratch.join("killed.stderr");
    let mut command = tollgate_record(
        scratch,
        db,
        &moto.url(),
        python,
        [OsStr::new("-c"), OsStr::new(script), ready.as_os_str()],
    );
    command
        .stdin(Stdio::null())
        .stdout(File::create(scratch.join("killed.stdout")).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"));
    let mut tollgate = command.spawn().expect("start tollgate run");
    let mut tollgate_guard = KillOnDrop(Some(tollgate.id() as i32));
    let mut workload_guard = KillOnDrop(None);
    let describe = || {
        format!(
            "--- tollgate stderr ---\n{}\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            moto.log_tail()
        )
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while !ready.exists() {
        if let Some(status) = tollgate.try_wait().expect("poll tollgate") {
            panic!(
                "tollgate ended ({status}) before the workload was ready\n{}",
                describe()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the workload did not get ready\n{}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(settle);
    tollgate.kill().expect("SIGKILL tollgate");
    let status = tollgate.wait().expect("reap tollgate");
    tollgate_guard.0 = None;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{}", describe());
    let truth = read_json(&ready, &describe());
    // The workload, in a process group of its own, sleeps on: end it.
    workload_guard.0 = Some(i64_field(&truth, "pid") as i32);
    drop(workload_guard);
    (truth, describe())
}

#[test]
fn a_killed_tollgate_leaves_an_incomplete_run_with_its_committed_calls() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("db/t.db");
    // The writer commits every 100 ms: a second and a half is ample for every call to be in.
    let (truth, describe) = kill_when_ready(
        scratch,
        &db,
        &moto,
        &python,
        CALLS_THEN_SLEEP,
        Duration::from_millis(1500),
    );

    let expected = counts(&truth["attempts"]);
    let total: u64 = expected.values().sum();
    assert_eq!(total, 1 + 5 + 3 + 20, "{truth}");
    let context = format!("workload: {truth}\n{describe}");

    let runs = runs_json(scratch, &db, "killed-runs");
    let all = format!("runs: {runs:#}\n{context}");
    let runs = runs.as_array().expect("runs is a list");
    assert_eq!(runs.len(), 1, "{all}");
    let row = &runs[0];
    assert_eq!(row["state"], "incomplete", "{all}");
    assert_eq!(row["ended_at_us"], Value::Null, "{all}");
    assert_eq!(row["exit_code"], Value::Null, "{all}");
    assert_eq!(i64_field(row, "calls") as u64, total, "{all}");
    let id = i64_field(row, "id").to_string();

    let report = report_json(scratch, &db, "killed-report", &["--run", &id]);
    let all = format!("report: {report:#}\n{context}");
    assert_eq!(report["runs"][0]["state"], "incomplete", "{all}");
    assert_eq!(
        i64_field(&report["runs"][0], "calls_recorded") as u64,
        total,
        "{all}"
    );
    assert_eq!(report_attempts(&report), expected, "{all}");
    // The listing finished before the kill: its loop was handed to the writer when its last
    // page came, not only at the run's end.
    let loops = report["loops"].as_array().expect("loops is a list");
    assert_eq!(loops.len(), 1, "{all}");
    let pages: Vec<u64> = truth["pages"]
        .as_array()
        .expect("pages is a list")
        .iter()
        .map(|n| n.as_u64().expect("a count"))
        .collect();
    assert_eq!(pages, vec![2, 2, 1], "{truth}");
    assert_eq!(loops[0]["operation"], "ListObjectsV2", "{all}");
    assert_eq!(loops[0]["pages"], 3, "{all}");
    assert_eq!(loops[0]["items"], 5, "{all}");
    assert_eq!(loops[0]["page_size"], 2, "{all}");
    assert_eq!(loops[0]["complete"], true, "{all}");
}

/// Calls in a tight loop, then "ready" at once: tollgate is killed while the last of them are
/// still on their way to the database.
const BURST_THEN_SLEEP: &str = r#"
import json, os, sys, time, boto3
ready = sys.argv[1]
attempts = 0
s3 = boto3.client("s3")
def count(request, **kwargs):
    global attempts
    attempts += 1
s3.meta.events.register("before-send", count)
s3.create_bucket(Bucket="tollgate-burst")
s3.put_object(Bucket="tollgate-burst", Key="k", Body=b"x")
for _ in range(300):
    s3.head_object(Bucket="tollgate-burst", Key="k")
with open(ready + ".tmp", "w") as f:
    json.dump({"pid": os.getpid(), "attempts": attempts}, f)
os.rename(ready + ".tmp", ready)
time.sleep(300)
"#;

/// Issue 13: `kill -9` lost the last answered calls silently (the run showed 0 lost calls). The
/// run's ledger counts every answered call outside the process; the next tollgate counts the
/// ones never recorded as lost, so recorded + lost is exactly what the workload was answered.
#[test]
fn kill_9_counts_the_answered_calls_it_did_not_record() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("db/t.db");
    // At once: the writer commits every 100 ms, so the last calls are not in the database yet.
    let (truth, describe) = kill_when_ready(
        scratch,
        &db,
        &moto,
        &python,
        BURST_THEN_SLEEP,
        Duration::ZERO,
    );
    let answered = u64_field(&truth, "attempts");
    assert_eq!(answered, 1 + 1 + 300, "{truth}");

    let runs = runs_json(scratch, &db, "burst-runs");
    let all = format!("runs: {runs:#}\nworkload: {truth}\n{describe}");
    let row = &runs.as_array().expect("runs is a list")[0];
    assert_eq!(row["state"], "incomplete", "{all}");
    let recorded = i64_field(row, "calls") as u64;
    let lost = i64_field(row, "lost_calls") as u64;
    assert_eq!(
        recorded + lost,
        answered,
        "every answered call is recorded or counted\n{all}"
    );
    if lost > 0 {
        let reason = row["lost_reason"].as_str().unwrap_or_default();
        assert!(reason.contains("were not recorded"), "{all}");
    }
    println!("killed at once: {recorded} recorded, {lost} counted as lost");
    // The ledger is settled once: a second look changes nothing.
    let again = runs_json(scratch, &db, "burst-runs-again");
    assert_eq!(again[0]["lost_calls"], row["lost_calls"], "{again:#}");
}
