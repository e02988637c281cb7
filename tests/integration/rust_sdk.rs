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
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::tollgate_command;
use crate::moto::{
    assert_clean_run, is_aws_host, python_with_moto as python, read_json, run_bounded,
    tollgate_run, u64_field, Moto, MANIFEST_DIR,
};

/// The workload binary's name (`tests/rust-sdk/Cargo.toml`).
const WORKLOAD_NAME: &str = "tollgate-rust-sdk-test";
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
        Some(&moto.url()),
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
    assert_eq!(summary["version"], 2, "{all}");

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
            is_aws_host(host),
            "tollgate reported a non-AWS host {host}\n{all}"
        );
    }
    assert!(
        rows.iter().any(|row| row["host"] == ACCOUNT_ENDPOINT),
        "no call to the account-based DynamoDB endpoint {ACCOUNT_ENDPOINT}\n{all}"
    );
    assert_clean_run(&summary, &all);

    // Issue 21: the README's few lines for the Rust SDK (an interceptor setting
    // `x-tollgate-callsite`) name each call's site; tollgate's `report --by callsite` adds up
    // exactly what the SDK sent under each (tests/integration/callsites.rs shows the header never
    // reaches the upstream).
    let sdk_sites = counts(&sdk, "callsites");
    assert_eq!(sdk_sites.len(), 4, "one site per client\n{all}");
    assert_eq!(sdk_sites.values().sum::<u64>(), attempts, "{all}");
    let output = tollgate_command(&scratch.join("tollgate-home"))
        .args(["report", "--last", "--by", "callsite", "--format", "json"])
        .output()
        .expect("run tollgate report");
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("report JSON");
    let tollgate_sites: BTreeMap<String, u64> = report["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|group| {
            (
                group["label"].as_str().unwrap().to_string(),
                group["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tollgate_sites, sdk_sites, "{report:#}\n{all}");
}
