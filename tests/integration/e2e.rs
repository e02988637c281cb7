//! End to end: a real boto3 client, unaware of tollgate, runs under `tollgate run --upstream` with
//! a moto server standing in for AWS. What tollgate reports is compared with what botocore itself
//! says it sent (`tests/e2e/s3_paginate.py` counts every HTTP attempt through botocore's events).
//!
//! Needs Python with boto3 and moto[server]: `.venv` in the repository root (made by
//! `scripts/test.sh` from `requirements-test.txt`), or `TOLLGATE_TEST_PYTHON`.
//!
//! The moto and process helpers are in `moto`, shared with the Rust SDK test.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::moto::{
    assert_clean_run, free_port, is_aws_host, python_with_moto as python, read_json, run_bounded,
    tollgate_run, u64_field, Moto, MANIFEST_DIR,
};

/// How long one `tollgate run` of a workload may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(90);

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
    assert_eq!(summary["version"], 2, "{all}");

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

    // The one 404 is the HeadObject on a deleted key, which the script expects.
    assert_clean_run(&summary, &all);
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

/// Makes a bucket and an object, then fetches it through presigned URLs as a user would hand them
/// out: SigV2 (`signature_version='s3'`) path-style on the legacy global endpoint and
/// virtual-hosted, and SigV4, each in a separate short-lived process (as curl or a browser
/// would), plus one SigV2 fetch from this process. Prints the URLs' hosts, in order.
const PRESIGNED_FETCHES: &str = r#"
import subprocess, sys, urllib.request
import boto3
from botocore.config import Config

s3 = boto3.client("s3", region_name="us-east-1")
s3.create_bucket(Bucket="tollgate-presigned")
s3.put_object(Bucket="tollgate-presigned", Key="report.csv", Body=b"a,b\n1,2\n")

def presign(signature_version, addressing_style):
    client = boto3.client("s3", region_name="us-east-1", config=Config(
        signature_version=signature_version, s3={"addressing_style": addressing_style}))
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": "tollgate-presigned", "Key": "report.csv"}, ExpiresIn=600)

urls = [presign("s3", "path"), presign("s3", "virtual"), presign("s3v4", "virtual")]
fetch = "import sys, urllib.request; assert urllib.request.urlopen(sys.argv[1]).read() == b'a,b\\n1,2\\n'"
for url in urls:
    subprocess.run([sys.executable, "-c", fetch, url], check=True)
assert urllib.request.urlopen(urls[0]).read() == b"a,b\n1,2\n"
for url in urls:
    print(url.split("?")[0])
"#;

/// Issue 13, defect 12: a presigned SigV2 GetObject was recorded with an empty region, attempt
/// and client pid. What the request tells (the region of the endpoint, the first attempt of a
/// URL fetch) is filled; what it cannot (a bucket on the legacy global endpoint is served from
/// its own region; the client of a connection closed before it could be looked up, as a URL
/// fetch's is) says `unknown`, never empty.
#[test]
fn presigned_get_object_is_recorded_with_region_attempt_and_client() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let summary_path = scratch.join("summary.json");
    let command = tollgate_run(
        scratch,
        Some(&moto.url()),
        &summary_path,
        &python,
        ["-c", PRESIGNED_FETCHES],
    );
    let run = run_bounded(command, scratch, "presigned", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "{context}");
    let hosts: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        hosts,
        [
            "https://s3.amazonaws.com/tollgate-presigned/report.csv",
            "https://tollgate-presigned.s3.amazonaws.com/report.csv",
            "https://tollgate-presigned.s3.amazonaws.com/report.csv",
        ],
        "{context}"
    );

    let report = crate::common::tollgate_command(&scratch.join("tollgate-home"))
        .args(["report", "--format", "csv"])
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let csv = String::from_utf8(report.stdout).unwrap();
    let all = format!("{csv}\n{context}");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    // The fields read here hold no commas.
    let gets: Vec<Vec<&str>> = lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|row| row[column("operation")] == "GetObject")
        .collect();
    assert_eq!(gets.len(), 4, "{all}");
    let regions: Vec<&str> = gets.iter().map(|row| row[column("region")]).collect();
    // In the order fetched: SigV2 path-style on s3.amazonaws.com (us-east-1's), SigV2 on the
    // bucket's global name (its region is not in the request), SigV4 (its scope names it), and
    // SigV2 path-style again.
    assert_eq!(
        regions,
        ["us-east-1", "unknown", "us-east-1", "us-east-1"],
        "{all}"
    );
    for row in &gets {
        assert_eq!(row[column("service")], "s3", "{all}");
        assert_eq!(row[column("status")], "200", "{all}");
        assert_eq!(row[column("attempt")], "1", "{all}");
        assert_eq!(row[column("kind")], "operation", "{all}");
        for field in ["client_pid", "client_command"] {
            assert!(!row[column(field)].is_empty(), "{field} empty: {all}");
        }
        let pid = row[column("client_pid")];
        assert!(
            pid == "unknown" || pid.parse::<u32>().is_ok(),
            "client_pid {pid}: {all}"
        );
    }
    // The workload's own process made the first calls over a connection it kept open: found.
    let calls: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .collect();
    let create = calls
        .iter()
        .find(|row| row[column("operation")] == "CreateBucket")
        .unwrap();
    assert!(create[column("client_pid")].parse::<u32>().is_ok(), "{all}");
}
