//! The Python data stack as its users write it (s3fs over aiobotocore, pandas CSV over s3://,
//! polars through the Rust `object_store`, pandas parquet and pyarrow through pyarrow's own S3
//! client), through `tollgate run --upstream` against moto, with
//! a counting upstream between tollgate and moto: every request the wire carried is an operation
//! tollgate recorded, per operation, and each call names the outermost client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

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
        for line in std::fs::read_to_string(&self.log).unwrap().lines() {
            let request: Value = serde_json::from_str(line).unwrap();
            *counts.entry(s3_operation(&request)).or_default() += 1;
        }
        counts
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

    // Each call names the client the user called, not the SDK underneath.
    let output = tollgate_command(&home)
        .args(["report", "--last", "--format", "csv", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let sdk_column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|c| c == "sdk")
        .unwrap();
    let mut sdks = BTreeMap::<String, u64>::new();
    for row in reader.records() {
        let row = row.unwrap();
        let sdk = row.get(sdk_column).unwrap_or("");
        *sdks
            .entry(sdk.split('/').next().unwrap().to_string())
            .or_default() += 1;
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
    assert!(
        !sdks.contains_key("Botocore") && !sdks.contains_key("botocore"),
        "{sdks:?}"
    );
}
