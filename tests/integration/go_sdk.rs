//! End to end with the AWS SDK for Go v2 as its users write it: `config.LoadDefaultConfig` and
//! `s3.NewFromConfig` (no endpoint, no proxy or CA in code), with the SDK's default HTTP client
//! and with the program's own `*http.Client`, under `tollgate run --upstream` with moto standing
//! in for AWS. What tollgate records is compared with what the SDK counted through a
//! middleware, operation by operation.
//!
//! The workload is `tests/go/workload`, built offline against Debian's
//! `golang-github-aws-aws-sdk-go-v2-dev` (GOPATH mode: `/usr/share/gocode`, or
//! `TOLLGATE_TEST_GOPATH`), with the `go` on PATH (or `TOLLGATE_TEST_GO`). scripts/test.sh
//! installs both (`golang-go`, the SDK package). Needs moto like `e2e`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command};
use crate::moto::{
    assert_clean_run, dummy_aws_env, python_with_moto as python, read_json, run_bounded, u64_field,
    Moto, MANIFEST_DIR,
};

/// How long the workload may take under tollgate before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The workload, built once per test binary.
fn workload() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_workload)
}

fn build_workload() -> PathBuf {
    let go = std::env::var_os("TOLLGATE_TEST_GO")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("go"));
    let sdk_path = std::env::var_os("TOLLGATE_TEST_GOPATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/gocode"));
    assert!(
        sdk_path
            .join("src/github.com/aws/aws-sdk-go-v2/config")
            .is_dir(),
        "the Go SDK test needs the AWS SDK for Go v2 sources in {}: install Debian's \
         golang-go and golang-github-aws-aws-sdk-go-v2-dev (scripts/install-test-deps.sh does), \
         or point TOLLGATE_TEST_GOPATH at a GOPATH that has them",
        sdk_path.display()
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-workload");
    std::fs::create_dir_all(&out).expect("create the Go build directory");
    let binary = out.join("workload");
    let mut gopath = std::ffi::OsString::from(out.join("gopath"));
    gopath.push(":");
    gopath.push(&sdk_path);
    let output = hermetic_command(&go)
        .current_dir(Path::new(MANIFEST_DIR).join("tests/go/workload"))
        .args(["build", "-o"])
        .arg(&binary)
        .arg(".")
        // Offline, from the packaged sources: no module download.
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", out.join("cache"))
        .env("GOFLAGS", "")
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {} to build the Go workload ({error}): install golang-go, or set \
                 TOLLGATE_TEST_GO",
                go.display()
            )
        });
    assert!(
        output.status.success(),
        "the Go workload did not build:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

/// `{"s3.PutObject": 16, ...}` → a map.
fn counts(value: &Value, field: &str) -> BTreeMap<String, u64> {
    value[field]
        .as_object()
        .unwrap_or_else(|| panic!("no map '{field}' in {value:#}"))
        .iter()
        .map(|(name, count)| (name.clone(), count.as_u64().expect("a count")))
        .collect()
}

/// Runs the workload (with `args`) under `tollgate run --upstream <moto>` with a database, and
/// checks tollgate saw exactly what the SDK sent, operation by operation; then what the
/// recorded calls say about their resources and DynamoDB units.
fn workload_matches(args: &[&str]) {
    let workload = workload();
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("history.db");
    let summary_path = scratch.join("summary.json");
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .current_dir(MANIFEST_DIR)
        .args(["run", "--upstream", &moto.url(), "--db"])
        .arg(&db)
        .args(["--summary", "json", "--summary-file"])
        .arg(&summary_path)
        .arg("--")
        .arg(workload)
        .args(args);
    dummy_aws_env(&mut command, scratch);
    let run = run_bounded(command, scratch, "go-sdk", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(
        run.status.success(),
        "the Go SDK workload failed under tollgate\n{context}"
    );
    assert!(
        run.stderr.contains("go workload: ok"),
        "the workload did not finish\n{context}"
    );
    let line = run.stdout.lines().last().unwrap_or_default();
    let sdk: Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("the workload printed no counts ({error})\n{context}"));
    let summary = read_json(&summary_path, &context);
    let all = format!("tollgate summary: {summary:#}\nGo SDK: {sdk:#}\n{context}");

    let sdk_attempts = counts(&sdk, "operations");
    let sdk_calls = counts(&sdk, "calls");
    for (operation, at_least) in [
        ("s3.PutObject", 16),
        ("s3.UploadPart", 3),
        ("s3.ListObjectsV2", 4),
        ("dynamodb.BatchWriteItem", 1),
        ("sqs.SendMessage", 4),
    ] {
        let sent = sdk_attempts.get(operation).copied().unwrap_or(0);
        assert!(
            sent >= at_least,
            "{operation}: {sent} attempts, the workload makes at least {at_least}\n{all}"
        );
    }
    let mut tollgate_attempts: BTreeMap<String, u64> = BTreeMap::new();
    let mut tollgate_calls: BTreeMap<String, u64> = BTreeMap::new();
    let mut units: BTreeMap<String, Value> = BTreeMap::new();
    for row in summary["operations"].as_array().expect("operations") {
        let key = format!(
            "{}.{}",
            row["service"].as_str().expect("service"),
            row["operation"].as_str().expect("operation")
        );
        *tollgate_attempts.entry(key.clone()).or_default() += u64_field(row, "attempts");
        *tollgate_calls.entry(key.clone()).or_default() += u64_field(row, "calls");
        units.insert(key, row["units"].clone());
    }
    assert_eq!(
        tollgate_attempts, sdk_attempts,
        "tollgate's attempts by operation differ from the Go SDK's\n{all}"
    );
    assert_eq!(
        tollgate_calls, sdk_calls,
        "tollgate's calls by operation differ from the Go SDK's\n{all}"
    );
    assert_clean_run(&summary, &all);

    // 25 items of about 1.5 KB: 2 write units each on AWS. moto answers the batch with a made-up
    // ConsumedCapacity of 1 unit; behind --upstream tollgate computes the units itself.
    assert_eq!(
        units["dynamodb.BatchWriteItem"]["write-request-unit"], "50",
        "{all}"
    );
    assert_eq!(
        units["dynamodb.PutItem"]["write-request-unit"], "6",
        "{all}"
    );

    // Every call names its resource: the queue by its name (Go sends SQS as a form, by URL),
    // the batch by its table.
    let csv = tollgate_command(&scratch.join("tollgate-home"))
        .args(["report", "--last", "--format", "csv", "--db"])
        .arg(&db)
        .output()
        .expect("run tollgate report");
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let csv = String::from_utf8(csv.stdout).expect("UTF-8 CSV");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).expect(name);
    let (service, operation, resource) =
        (column("service"), column("operation"), column("resource"));
    let mut resources: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        *resources
            .entry(format!("{}.{}", fields[service], fields[operation]))
            .or_default()
            .entry(fields[resource].to_string())
            .or_default() += 1;
    }
    for (prefix, name) in [
        ("sqs.", "tollgate-go-queue"),
        ("s3.", "tollgate-go-bucket"),
        ("dynamodb.", "tollgate-go-table"),
    ] {
        for (operation, by_resource) in resources.iter().filter(|(op, _)| op.starts_with(prefix)) {
            assert_eq!(
                by_resource.keys().collect::<Vec<_>>(),
                vec![name],
                "{operation} should name {name}\n{csv}"
            );
        }
    }
}

#[test]
fn go_sdk_calls_with_the_default_http_client_match_what_the_sdk_sent() {
    workload_matches(&[]);
}

/// Many Go services pass their own `*http.Client`. With AWS_CA_BUNDLE set, the SDK refuses to
/// start them ("unable to add custom RootCAs HTTPClient"); tollgate must be trusted without it.
#[test]
fn go_sdk_calls_with_the_programs_own_http_client_match_what_the_sdk_sent() {
    workload_matches(&["-custom"]);
}
