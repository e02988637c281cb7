//! The Python data stack as its users write it (s3fs over aiobotocore, pandas CSV over s3://,
//! polars and deltalake through the Rust `object_store`, pandas parquet and pyarrow through
//! pyarrow's own S3 client, duckdb's httpfs given tollgate's CA), through `tollgate run
//! --upstream` against moto, with a counting upstream between tollgate and moto: every request
//! the wire carried is an operation tollgate recorded, per operation, and each call names the
//! outermost client; and the data stack's findings (a prefix listed again, small files uploaded
//! in parts) claim what the wire shows (issue 24 item 4).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command, wait_for_port_file};
use crate::moto::{dummy_aws_env, python_with_moto, run_bounded, Moto};

/// The Python of requirements-datastack.txt (scripts/python-env.sh installs it, scripts/test.sh
/// points TOLLGATE_TEST_DATASTACK_PYTHON at it): aiobotocore pins a botocore of its own, older
/// than `.venv`'s.
pub(crate) fn datastack_python() -> PathBuf {
    let python = std::env::var_os("TOLLGATE_TEST_DATASTACK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-datastack/bin/python")
        });
    assert!(
        python.exists(),
        "no data-stack Python at {}: run scripts/python-env.sh (scripts/test.sh does)",
        python.display()
    );
    python
}

/// The counting upstream (tests/e2e/counting_upstream.py), killed when dropped.
struct Counter {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Counter {
    fn start(python: &Path, scratch: &Path, target: &str) -> Counter {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/counting_upstream.py");
        let port_file = scratch.join("counter.port");
        let log = scratch.join("wire.jsonl");
        let child = hermetic_command(python)
            .arg(script)
            .arg(&port_file)
            .arg(target)
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(scratch.join("counter.stderr")).unwrap())
            .spawn()
            .expect("start the counting upstream");
        let port = wait_for_port_file(&port_file, "the counting upstream");
        Counter { child, port, log }
    }

    /// What the wire carried, as S3 operations: told apart here from method, path, query and
    /// headers alone, independently of tollgate's identification.
    fn operations(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for request in self.requests() {
            *counts.entry(s3_operation(&request)).or_default() += 1;
        }
        counts
    }

    /// The requests in the order they came, each listing page with `truncated` from its answer,
    /// each read with its `answer` (status, Content-Range, ETag, bytes received).
    fn requests(&self) -> Vec<Value> {
        let mut requests: Vec<Value> = Vec::new();
        let mut answers: BTreeMap<u64, Value> = BTreeMap::new();
        for line in std::fs::read_to_string(&self.log).unwrap().lines() {
            let entry: Value = serde_json::from_str(line).unwrap();
            match entry["answer_to"].as_u64() {
                Some(n) => {
                    answers.insert(n, entry);
                }
                None => requests.push(entry),
            }
        }
        for request in &mut requests {
            if let Some(answer) = answers.remove(&request["n"].as_u64().unwrap()) {
                match answer["truncated"].as_bool() {
                    Some(truncated) => request["truncated"] = Value::Bool(truncated),
                    None => request["answer"] = answer,
                }
            }
        }
        requests
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bucket a request addresses: the host's first label (virtual-hosted) or the path's first
/// segment (path-style).
fn s3_bucket(request: &Value) -> String {
    let host = request["host"].as_str().unwrap_or("");
    let path = request["path"].as_str().unwrap_or("");
    if host.starts_with("s3.") || host.starts_with("s3-") {
        path.trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_string()
    } else {
        host.split(".s3").next().unwrap_or("").to_string()
    }
}

/// A query's parameters but `except`, sorted: what makes two listing requests the same listing.
fn query_without(request: &Value, except: &str) -> String {
    let mut pairs: Vec<&str> = request["query"]
        .as_str()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(except))
        .collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// S3's operations that change what a listing of the bucket returns.
const WRITES: &[&str] = &[
    "s3 PutObject",
    "s3 CopyObject",
    "s3 CompleteMultipartUpload",
    "s3 DeleteObject",
    "s3 DeleteObjects",
];

/// Per bucket, the listing pages that only repeated an answer the program already had, counted
/// on the wire: a listing (bucket and parameters but the continuation token) read again from its
/// first page with no write to the bucket since its previous read; as many of its pages as that
/// read got (all when it was read to its end).
fn relisted_pages(requests: &[Value]) -> BTreeMap<String, u64> {
    struct Read {
        listing: (String, String),
        at: usize,
        pages: u64,
        complete: bool,
    }
    let mut reads: Vec<Read> = Vec::new();
    let mut writes: Vec<(String, usize)> = Vec::new();
    for (at, request) in requests.iter().enumerate() {
        let operation = s3_operation(request);
        if WRITES.contains(&operation.as_str()) {
            writes.push((s3_bucket(request), at));
        }
        if operation != "s3 ListObjectsV2" {
            continue;
        }
        let listing = (
            s3_bucket(request),
            query_without(request, "continuation-token"),
        );
        let complete = request["truncated"] == Value::Bool(false);
        let continues = request["query"]
            .as_str()
            .unwrap()
            .contains("continuation-token=");
        match reads.iter_mut().rev().find(|r| r.listing == listing) {
            Some(read) if continues => {
                read.pages += 1;
                read.complete = complete;
            }
            _ => reads.push(Read {
                listing,
                at,
                pages: 1,
                complete,
            }),
        }
    }
    let mut saved: BTreeMap<String, u64> = BTreeMap::new();
    for (i, read) in reads.iter().enumerate() {
        let Some(before) = reads[..i].iter().rev().find(|r| r.listing == read.listing) else {
            continue;
        };
        let bucket = &read.listing.0;
        if writes
            .iter()
            .any(|(b, at)| b == bucket && (before.at..read.at).contains(at))
        {
            continue;
        }
        let pages = if before.complete {
            read.pages
        } else {
            read.pages.min(before.pages)
        };
        *saved.entry(bucket.clone()).or_default() += pages;
    }
    saved
}

/// Per bucket, the multipart uploads (by upload id) that completed with one part below 5 MiB,
/// counted on the wire.
fn small_uploads(requests: &[Value]) -> BTreeMap<String, u64> {
    let upload_id = |request: &Value| {
        request["query"]
            .as_str()
            .unwrap()
            .split('&')
            .find_map(|pair| pair.strip_prefix("uploadId="))
            .map(str::to_string)
    };
    let mut parts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut completed: Vec<(String, String)> = Vec::new();
    for request in requests {
        match s3_operation(request).as_str() {
            "s3 UploadPart" => parts
                .entry(upload_id(request).unwrap())
                .or_default()
                .push(request["length"].as_u64().unwrap()),
            "s3 CompleteMultipartUpload" => {
                completed.push((s3_bucket(request), upload_id(request).unwrap()))
            }
            _ => {}
        }
    }
    let mut small: BTreeMap<String, u64> = BTreeMap::new();
    for (bucket, id) in completed {
        if matches!(parts.get(&id).map(Vec::as_slice), Some([bytes]) if *bytes < 5 * 1024 * 1024) {
            *small.entry(bucket).or_default() += 1;
        }
    }
    small
}

fn s3_operation(request: &Value) -> String {
    let text = |name: &str| request[name].as_str().unwrap_or("").to_string();
    let (method, host, path, query) = (text("method"), text("host"), text("path"), text("query"));
    let keys: Vec<&str> = query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| q.split('=').next().unwrap())
        .collect();
    // Virtual-hosted (`bucket.s3.amazonaws.com/key`) or path-style (`s3.amazonaws.com/bucket/key`).
    let path_style = host.starts_with("s3.") || host.starts_with("s3-");
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    let has_key = if path_style {
        segments.len() == 2 && !segments[1].is_empty()
    } else {
        !path.trim_start_matches('/').is_empty()
    };
    let op = match (method.as_str(), has_key) {
        ("PUT", false) => "CreateBucket",
        ("PUT", true) if keys.contains(&"partNumber") => "UploadPart",
        ("PUT", true) if !request["copy_source"].is_null() => "CopyObject",
        ("PUT", true) => "PutObject",
        ("GET", false) if keys.contains(&"location") => "GetBucketLocation",
        ("GET", false) if keys.contains(&"list-type") => "ListObjectsV2",
        ("GET", false) => "ListObjects",
        ("GET", true) => "GetObject",
        ("HEAD", false) => "HeadBucket",
        ("HEAD", true) => "HeadObject",
        ("POST", true) if keys.contains(&"uploads") => "CreateMultipartUpload",
        ("POST", true) if keys.contains(&"uploadId") => "CompleteMultipartUpload",
        ("POST", false) if keys.contains(&"delete") => "DeleteObjects",
        ("DELETE", true) if keys.contains(&"uploadId") => "AbortMultipartUpload",
        ("DELETE", true) => "DeleteObject",
        ("DELETE", false) => "DeleteBucket",
        _ => "unclassified",
    };
    format!("s3 {op}")
}

/// The object a request addresses: its bucket and key.
fn s3_object(request: &Value) -> (String, String) {
    let host = request["host"].as_str().unwrap_or("");
    let path = request["path"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches('/');
    if host.starts_with("s3.") || host.starts_with("s3-") {
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        (bucket.to_string(), key.to_string())
    } else {
        (s3_bucket(request), path.to_string())
    }
}

/// Per bucket, counted on the wire: the HEADs (answered 200) that a later GET of the same key
/// (answered 2xx) answered, one HEAD per GET. None of these buckets is listed.
fn heads_then_gets(requests: &[Value]) -> BTreeMap<String, u64> {
    let mut waiting: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut answered = BTreeMap::new();
    for request in requests {
        let status = request["answer"]["status"].as_u64().unwrap_or(0);
        let object = s3_object(request);
        match s3_operation(request).as_str() {
            "s3 HeadObject" if status == 200 => *waiting.entry(object).or_default() += 1,
            "s3 GetObject" if (200..300).contains(&status) => {
                if let Some(heads) = waiting.get_mut(&object).filter(|n| **n > 0) {
                    *heads -= 1;
                    *answered.entry(object.0).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    answered
}

/// Per bucket, counted on the wire: the bytes GETs received of an object (same ETag) that other
/// GET requests had received before (the same request again is a repeat, not counted), and the
/// GETs all of whose bytes had come before.
fn refetched(requests: &[Value]) -> BTreeMap<String, (u64, u64)> {
    // By object: its ETag, and the spans received of it.
    type Spans = BTreeMap<(String, String), (String, Vec<(u64, u64)>)>;
    let mut spans = Spans::new();
    let mut seen: std::collections::BTreeSet<String> = Default::default();
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for request in requests {
        if s3_operation(request) != "s3 GetObject" {
            continue;
        }
        let answer = &request["answer"];
        let received = answer["received"].as_u64().unwrap();
        let span = match answer["status"].as_u64().unwrap() {
            200 => (0, received),
            206 => {
                let range = answer["content_range"].as_str().unwrap();
                let (first, last) = range
                    .trim_start_matches("bytes ")
                    .split('/')
                    .next()
                    .unwrap()
                    .split_once('-')
                    .unwrap();
                (first.parse().unwrap(), last.parse::<u64>().unwrap() + 1)
            }
            _ => continue,
        };
        let identity = format!(
            "{} {} {} {}",
            request["host"], request["path"], request["query"], request["range"]
        );
        if !seen.insert(identity) {
            continue;
        }
        let object = s3_object(request);
        let etag = answer["etag"].as_str().unwrap_or("").to_string();
        let (known, before) = spans
            .entry(object.clone())
            .or_insert((etag.clone(), Vec::new()));
        if *known != etag {
            *known = etag;
            before.clear();
        }
        // What of `span` the earlier spans cover: their parts inside it, merged.
        let mut inside: Vec<(u64, u64)> = before
            .iter()
            .map(|&(s, e)| (s.max(span.0), e.min(span.1)))
            .filter(|(s, e)| s < e)
            .collect();
        inside.sort_unstable();
        let (mut again, mut reach) = (0, span.0);
        for (s, e) in inside {
            let s = s.max(reach);
            if e > s {
                again += e - s;
                reach = e;
            }
        }
        before.push(span);
        if again > 0 {
            let entry = out.entry(object.0).or_default();
            entry.0 += again;
            if again == span.1 - span.0 {
                entry.1 += 1;
            }
        }
    }
    out
}

/// Issue 24 item 4: a HEAD followed by a GET of the same key, and bytes downloaded again by
/// overlapping ranges, as boto3, s3fs, pandas and polars make them: each finding claims exactly
/// what the wire shows, per bucket, and s3transfer's ranged parts of a big object (which
/// overlap nothing) are not flagged.
#[test]
fn heads_then_gets_and_overlapping_ranges_claim_what_the_wire_shows() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("tollgate-home");
    std::fs::create_dir_all(&home).unwrap();
    let moto = Moto::start(&python_with_moto(), scratch.path());
    let counter = Counter::start(&python_with_moto(), scratch.path(), &moto.url());
    let db = scratch.path().join("history.db");
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let mut command = tollgate_command(&home);
    command
        .args(["run", "--db"])
        .arg(&db)
        .args(["--upstream", &format!("http://127.0.0.1:{}", counter.port)])
        .args(["--", "sh", "-c", r#""$0" "$1" "$2" && "$3" "$4" "$2""#])
        .arg(python_with_moto())
        .arg(e2e.join("ranged_reads.py"))
        .arg("lake-reads")
        .arg(datastack_python())
        .arg(e2e.join("datastack_reads.py"));
    dummy_aws_env(&mut command, scratch.path());
    let finished = run_bounded(command, scratch.path(), "reads", Duration::from_secs(180));
    assert!(finished.status.success(), "{}", finished.describe());

    let output = tollgate_command(&home)
        .args(["report", "--last", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let of = |rule: &str| -> BTreeMap<String, &Value> {
        findings
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| (f["evidence"]["resource"].as_str().unwrap().to_string(), f))
            .collect()
    };
    let requests = counter.requests();

    // HEAD then GET: boto3's head_object + get_object (3), s3fs's open and pandas' read_csv
    // through it (3), s3transfer's HEAD before its ranged parts (1).
    let wire = heads_then_gets(&requests);
    assert_eq!(wire.get("lake-reads-boto3"), Some(&3), "{wire:?}");
    assert_eq!(wire.get("lake-reads-s3fs"), Some(&3), "{wire:?}");
    let claimed: BTreeMap<String, u64> = of("head-then-get")
        .into_iter()
        .map(|(bucket, f)| (bucket, f["saving"]["calls"].as_u64().unwrap()))
        .collect();
    assert_eq!(claimed, wire, "{findings:#?}");
    // A HEAD is an S3 Standard Tier 2 request, $0.0004 per 1,000 (us-east-1).
    for (bucket, finding) in of("head-then-get") {
        let usd: Decimal = finding["saving"]["usd"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            usd,
            Decimal::new(4, 7) * Decimal::from(wire[&bucket]),
            "{finding:#}"
        );
    }

    // Overlapping ranges: boto3's four ranges (20,000 bytes overlap, 10,000 inside what was
    // read: that GET's call too; the repeated range is a repeat); polars reads a small parquet
    // file's last 256 KiB (all of it) for the footer, then its column chunks again.
    let wire = refetched(&requests);
    assert_eq!(wire.get("lake-reads-boto3"), Some(&(30_000, 1)), "{wire:?}");
    assert!(!wire.contains_key("lake-reads-big"), "{wire:?}");
    assert!(
        wire.get("lake-reads-polars")
            .is_some_and(|(bytes, _)| *bytes > 0),
        "polars reads small parquet files twice: {wire:?}"
    );
    let claimed: BTreeMap<String, (u64, u64)> = of("overlapping-ranges")
        .into_iter()
        .map(|(bucket, f)| {
            (
                bucket,
                (
                    f["saving"]["bytes"].as_u64().unwrap(),
                    f["saving"]["calls"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(claimed, wire, "{findings:#?}");
    // The bytes' data transfer at $0.09 per GB (2^30 bytes), and a whole GET's request
    // ($0.0004 per 1,000), exactly as the GETs were priced.
    for (bucket, finding) in of("overlapping-ranges") {
        let usd: Decimal = finding["saving"]["usd"].as_str().unwrap().parse().unwrap();
        let (bytes, calls) = wire[&bucket];
        let expected = Decimal::new(9, 2) * Decimal::from(bytes) / Decimal::from(1u64 << 30)
            + Decimal::new(4, 7) * Decimal::from(calls);
        // Published to 12 places (half to even).
        assert_eq!(usd, expected.round_dp(12), "{bucket}: {finding:#}");
    }
}

#[test]
fn the_python_data_stack_is_recorded_exactly_and_named_by_its_outermost_client() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("tollgate-home");
    std::fs::create_dir_all(&home).unwrap();
    let moto = Moto::start(&python_with_moto(), scratch.path());
    let counter = Counter::start(&python_with_moto(), scratch.path(), &moto.url());
    let db = scratch.path().join("history.db");
    let workload = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/datastack_workload.py");
    let mut command = tollgate_command(&home);
    command
        .args(["run", "--db"])
        .arg(&db)
        .args(["--upstream", &format!("http://127.0.0.1:{}", counter.port)])
        .arg("--")
        .arg(datastack_python())
        .arg(&workload)
        .arg("lake-datastack");
    dummy_aws_env(&mut command, scratch.path());
    let finished = run_bounded(
        command,
        scratch.path(),
        "datastack",
        Duration::from_secs(180),
    );
    assert!(finished.status.success(), "{}", finished.describe());

    let output = tollgate_command(&home)
        .args(["report", "--last", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let recorded: BTreeMap<String, u64> = report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                format!(
                    "{} {}",
                    op["service"].as_str().unwrap(),
                    op["operation"].as_str().unwrap()
                ),
                op["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    let wire = counter.operations();
    assert!(!wire.contains_key("s3 unclassified"), "{wire:?}");
    assert!(
        wire.values().sum::<u64>() >= 15,
        "the workload ran: {wire:?}"
    );
    assert_eq!(recorded, wire, "tollgate vs the wire");

    // Issue 24 item 4: the data stack's findings claim what the wire shows, per bucket.
    let requests = counter.requests();
    let findings = report["findings"].as_array().unwrap();
    let saved = |rule: &str| -> BTreeMap<String, u64> {
        findings
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| {
                (
                    f["evidence"]["resource"].as_str().unwrap().to_string(),
                    f["saving"]["calls"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let mut relisted = relisted_pages(&requests);
    assert!(
        relisted.values().sum::<u64>() >= 3,
        "the workload lists again: {relisted:?}"
    );
    let mut claimed_relisted = saved("relisting");
    // delta-rs reads `_delta_log/` and duckdb its glob's prefix more than three times each:
    // for a listing's fourth read on, the store keeps no time of the same listing's previous
    // read, and the rule counts only what no write to the bucket since its first listing of
    // the same page size can have changed. At most the truth there, and some of it.
    let delta = "lake-datastack-delta".to_string();
    let (claimed, truth) = (
        claimed_relisted.remove(&delta).unwrap_or(0),
        relisted.remove(&delta).unwrap_or(0),
    );
    assert!(
        0 < claimed && claimed <= truth,
        "delta-rs and duckdb: {claimed} pages claimed, {truth} re-read with no write in between"
    );
    // Elsewhere every listing is read at most three times (or again only after a write):
    // exactly what the wire shows.
    assert_eq!(claimed_relisted, relisted, "{findings:#?}");
    let small = small_uploads(&requests);
    assert!(
        small.values().sum::<u64>() >= 2,
        "pandas writes small parquet files as multipart uploads: {small:?}"
    );
    let two_each: BTreeMap<String, u64> = small.iter().map(|(b, n)| (b.clone(), 2 * n)).collect();
    assert_eq!(saved("small-multipart"), two_each, "{findings:#?}");
    // Each saves a CreateMultipartUpload and a CompleteMultipartUpload, S3 Standard Tier 1
    // requests at $0.005 per 1,000 (us-east-1): $0.00001 an upload.
    for finding in findings.iter().filter(|f| f["rule"] == "small-multipart") {
        let uploads = finding["saving"]["calls"].as_u64().unwrap() / 2;
        let usd: Decimal = finding["saving"]["usd"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            usd,
            Decimal::new(1, 5) * Decimal::from(uploads),
            "{finding:#}"
        );
    }
    // No call claimed twice: per operation, the findings claim at most the calls the wire
    // carried.
    let mut claimed: BTreeMap<String, u64> = BTreeMap::new();
    for finding in findings {
        let calls = finding["saving"]["calls"].as_u64().unwrap_or(0);
        let operation = finding["evidence"]["operation"].as_str().unwrap_or("");
        if finding["rule"] == "small-multipart" {
            *claimed
                .entry("s3 CreateMultipartUpload".into())
                .or_default() += calls / 2;
            *claimed
                .entry("s3 CompleteMultipartUpload".into())
                .or_default() += calls / 2;
        } else if calls > 0 {
            *claimed.entry(format!("s3 {operation}")).or_default() += calls;
        }
    }
    for (operation, calls) in &claimed {
        assert!(
            *calls <= wire.get(operation).copied().unwrap_or(0),
            "{operation}: {calls} claimed, {:?} on the wire\n{findings:#?}",
            wire.get(operation)
        );
    }

    // Each call names the client the user called, not the SDK underneath.
    let output = tollgate_command(&home)
        .args(["report", "--last", "--format", "csv", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let mut column = |name: &str| {
        reader
            .headers()
            .unwrap()
            .iter()
            .position(|c| c == name)
            .unwrap()
    };
    let (sdk_column, callsite_column) = (column("sdk"), column("callsite"));
    let mut sdks = BTreeMap::<String, u64>::new();
    // pyarrow's calls (the AWS SDK for C++) by call site: its client takes no header, so the
    // bootstrap gives the line that resolved the `s3://` URI as its proxy credentials.
    let mut pyarrow_sites = BTreeMap::<String, u64>::new();
    for row in reader.records() {
        let row = row.unwrap();
        let sdk = row.get(sdk_column).unwrap_or("");
        let sdk = sdk.split('/').next().unwrap().to_string();
        if sdk == "aws-sdk-cpp" {
            *pyarrow_sites
                .entry(row.get(callsite_column).unwrap_or("").to_string())
                .or_default() += 1;
        }
        *sdks.entry(sdk).or_default() += 1;
    }
    let source = std::fs::read_to_string(&workload).unwrap();
    let lines_with = |needle: &str| -> Vec<String> {
        source
            .lines()
            .enumerate()
            .filter(|(_, line)| line.contains(needle))
            .map(|(i, _)| format!("tests/e2e/datastack_workload.py:{} <module>", i + 1))
            .collect()
    };
    let pyarrow_lines: Vec<String> = [
        "frame.to_parquet(",
        "pd.read_parquet(",
        "pq.read_table(",
        "ds.dataset(",
    ]
    .iter()
    .flat_map(|needle| lines_with(needle))
    .collect();
    assert!(
        pyarrow_sites
            .keys()
            .all(|site| pyarrow_lines.contains(site)),
        "every pyarrow call names a line of the workload that hands pyarrow an s3:// URI: \
         {pyarrow_sites:?}, lines {pyarrow_lines:?}"
    );
    for needle in ["pd.read_parquet(", "pq.read_table("] {
        let line = &lines_with(needle)[0];
        assert!(
            pyarrow_sites.get(line).is_some_and(|calls| *calls >= 1),
            "{line}: {pyarrow_sites:?}"
        );
    }
    assert!(
        sdks.contains_key("aiobotocore"),
        "s3fs and pandas: {sdks:?}"
    );
    assert!(
        sdks.contains_key("polars"),
        "polars' object_store: {sdks:?}"
    );
    // pandas parquet and pyarrow with default arguments: pyarrow's own client (the AWS SDK for
    // C++, which reads no proxy variable), routed by tollgate's Python bootstrap.
    assert!(
        sdks.get("aws-sdk-cpp").is_some_and(|calls| *calls >= 5),
        "pyarrow's S3 client: {sdks:?}"
    );
    // deltalake's delta-rs (the Rust object_store) and duckdb's httpfs.
    assert!(
        sdks.contains_key("object_store"),
        "delta-rs' object_store: {sdks:?}"
    );
    assert!(sdks.contains_key("duckdb"), "duckdb's httpfs: {sdks:?}");
    assert!(
        !sdks.contains_key("Botocore") && !sdks.contains_key("botocore"),
        "{sdks:?}"
    );
}
