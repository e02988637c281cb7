//! Endpoint mode (issue 18): clients unaware of tollgate, with no proxy and no CA, reach it as
//! `AWS_ENDPOINT_URL` under `tollgate run --endpoint`, and tollgate re-signs each request for the
//! real AWS host. Between tollgate and moto sits `tests/e2e/sigv4_upstream.py`, which checks
//! every request as AWS would, with botocore's own signer (never tollgate's code): signature,
//! access key, payload hash, aws-chunked chunk signatures, and an AWS Host. It rejects what AWS
//! would reject, so an accepted call is one AWS would have accepted.
//!
//! Real boto3, the AWS CLI v1 (`TOLLGATE_TEST_AWSCLI`, from requirements-awscli.txt) and the AWS
//! SDK for Rust (`TOLLGATE_RUST_SDK_TEST_BIN`), each as its users write it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command};
use crate::moto::{
    dummy_aws_env, python_with_moto as python, read_json, run_bounded, Moto, MANIFEST_DIR,
};
use crate::verifier::{Verifier, ACCESS_KEY, SECRET};

const RUN_LIMIT: Duration = Duration::from_secs(180);
const SESSION_TOKEN: &str = "tollgate-test-session-token";
/// The credentials the Rust SDK workload sets in its code (`tests/rust-sdk/src/main.rs`).
const RUST_ACCESS_KEY: &str = "AKIDTOLLGATERUSTSDK";
const RUST_SECRET: &str = "tollgate-rust-sdk-dummy-secret";

/// `tollgate run --endpoint --db DB --upstream URL -q -- PROGRAM ARGS`, with the test's AWS
/// credentials (the `access_key`/`secret` pair) and nothing of the machine's.
fn endpoint_run(
    scratch: &Path,
    db: &Path,
    upstream: &str,
    credentials: (&str, &str),
    program: &Path,
    args: &[&str],
) -> Command {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .current_dir(MANIFEST_DIR)
        .env_remove("PYTHONPATH")
        .args(["run", "--endpoint", "--db"])
        .arg(db)
        .args(["--upstream", upstream, "--"])
        .arg(program)
        .args(args);
    dummy_aws_env(&mut command, scratch);
    command
        .env("AWS_ACCESS_KEY_ID", credentials.0)
        .env("AWS_SECRET_ACCESS_KEY", credentials.1);
    command
}

/// `tollgate report --db DB --last --format json`.
fn report(scratch: &Path, db: &Path) -> Value {
    let output = tollgate_command(&scratch.join("tollgate-home"))
        .arg("report")
        .arg("--db")
        .arg(db)
        .args(["--last", "--format", "json"])
        .output()
        .expect("run tollgate report");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("report JSON")
}

/// `"service Operation" → calls` of a report.
fn operation_calls(report: &Value) -> BTreeMap<String, u64> {
    report["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|op| {
            (
                format!(
                    "{} {}",
                    op["service"].as_str().unwrap(),
                    op["operation"].as_str().unwrap()
                ),
                op["calls"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every request reached the verifier addressed to an AWS host, was accepted, and carried no
/// header of tollgate's own.
fn assert_all_accepted(requests: &[Value], context: &str) {
    assert!(
        !requests.is_empty(),
        "nothing reached the upstream\n{context}"
    );
    for request in requests {
        assert_eq!(request["accepted"], true, "{request}\n{context}");
        assert_eq!(
            request["tollgate_headers"],
            serde_json::json!([]),
            "{request}"
        );
    }
}

fn counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .expect("an object of counts")
        .iter()
        .map(|(key, count)| (key.clone(), count.as_u64().unwrap()))
        .collect()
}

#[test]
fn boto3_the_aws_cli_and_the_rust_sdk_are_re_signed_accepted_and_counted_exactly() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let verifier = Verifier::start(&python, scratch, &moto.url(), ACCESS_KEY, SECRET);

    // The verifier is no rubber stamp: a request signed with the wrong secret is refused, the
    // same request with the right one accepted.
    let control = hermetic_command(&python)
        .arg("-c")
        .arg(CONTROL)
        .args([&verifier.url(), ACCESS_KEY, SECRET])
        .output()
        .expect("run the control");
    assert_eq!(
        String::from_utf8_lossy(&control.stdout).trim(),
        "wrong secret: 403 SignatureDoesNotMatch; right secret: 200",
        "{control:?}"
    );
    verifier.take_requests();

    // boto3: every call accepted, and counted per operation as botocore counted its attempts.
    let db = scratch.join("endpoint.db");
    let truth_path = scratch.join("boto3.json");
    let workload = Path::new(MANIFEST_DIR).join("tests/e2e/endpoint_workload.py");
    // Temporary credentials: the session token passes through, signed.
    let mut command = endpoint_run(
        scratch,
        &db,
        &verifier.url(),
        (ACCESS_KEY, SECRET),
        &python,
        &[workload.to_str().unwrap(), truth_path.to_str().unwrap()],
    );
    command.env("AWS_SESSION_TOKEN", SESSION_TOKEN);
    let run = run_bounded(command, scratch, "boto3", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "{context}");
    let truth = read_json(&truth_path, &context);
    // Nothing but the endpoint: no proxy for the client to use.
    assert!(
        truth["endpoint_url"]
            .as_str()
            .is_some_and(|url| url.starts_with("http://127.0.0.1:")),
        "{truth:#}"
    );
    assert_eq!(truth["https_proxy"], Value::Null, "{truth:#}");
    let attempts = counts(&truth["attempts"]);
    let requests = verifier.take_requests();
    assert_all_accepted(&requests, &context);
    assert_eq!(
        requests.len() as u64,
        attempts.values().sum::<u64>(),
        "{context}"
    );
    assert!(
        requests.iter().all(|r| r["session_token"] == SESSION_TOKEN),
        "{context}"
    );
    // S3 to its regional host, IAM to its global one.
    let hosts: std::collections::BTreeSet<&str> =
        requests.iter().filter_map(|r| r["host"].as_str()).collect();
    for host in [
        "s3.us-east-1.amazonaws.com",
        "dynamodb.us-east-1.amazonaws.com",
        "sqs.us-east-1.amazonaws.com",
        "iam.amazonaws.com",
        "sts.us-east-1.amazonaws.com",
    ] {
        assert!(hosts.contains(host), "{host} in {hosts:?}");
    }
    let endpoint_report = report(scratch, &db);
    assert_eq!(
        operation_calls(&endpoint_report),
        attempts,
        "{endpoint_report:#}"
    );

    // Loops and units as in proxy mode: the same workload through the proxy.
    let proxy_db = scratch.join("proxy.db");
    let proxy_truth = scratch.join("boto3-proxy.json");
    let mut proxied = tollgate_command(&scratch.join("tollgate-home"));
    proxied
        .current_dir(MANIFEST_DIR)
        .env_remove("PYTHONPATH")
        .args(["run", "--db"])
        .arg(&proxy_db)
        .args(["--upstream", &moto.url(), "-q", "--"])
        .arg(&python)
        .args([&workload, &proxy_truth]);
    dummy_aws_env(&mut proxied, scratch);
    let run = run_bounded(proxied, scratch, "boto3-proxy", RUN_LIMIT);
    assert!(run.status.success(), "{}", run.describe());
    let proxy_report = report(scratch, &proxy_db);
    let shape = |report: &Value| -> Vec<Value> {
        let mut operations: Vec<Value> = report["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| {
                // Request units; response bytes (`gb-out`) follow moto's random upload ids.
                let mut units = op["units"].clone();
                units.as_object_mut().unwrap().remove("gb-out");
                serde_json::json!([op["service"], op["operation"], op["calls"], units])
            })
            .collect();
        operations.sort_by_key(|op| op.to_string());
        let mut loops: Vec<Value> = report["loops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::json!([
                    l["operation"],
                    l["pages"],
                    l["items"],
                    l["page_size"],
                    l["complete"]
                ])
            })
            .collect();
        loops.sort_by_key(|l| l.to_string());
        operations.extend(loops);
        operations
    };
    assert_eq!(
        shape(&endpoint_report),
        shape(&proxy_report),
        "endpoint mode and proxy mode see the same calls, units and loops"
    );
    assert!(
        endpoint_report["loops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["operation"] == "ListObjectsV2" && l["pages"] == 4 && l["items"] == 7),
        "{endpoint_report:#}"
    );

    // The AWS CLI v1, as its users type it: per-operation counts equal the CLI's own log of the
    // requests it made.
    {
        let aws = aws_cli();
        let db = scratch.join("cli.db");
        let data = scratch.join("cli-data.bin");
        std::fs::write(&data, vec![7u8; 9 * 1024 * 1024]).unwrap();
        let script = format!(
            "set -e\n\
             aws() {{ '{cli}' --debug \"$@\" 2>>'{log}'; }}\n\
             aws s3 mb s3://tollgate-cli\n\
             aws s3 cp '{data}' s3://tollgate-cli/data.bin\n\
             aws s3api list-objects-v2 --bucket tollgate-cli >/dev/null\n\
             aws s3 cp s3://tollgate-cli/data.bin '{copy}'\n\
             cmp '{data}' '{copy}'\n\
             aws dynamodb list-tables >/dev/null\n\
             aws sts get-caller-identity >/dev/null\n\
             aws s3 rm --recursive s3://tollgate-cli\n",
            cli = aws.display(),
            log = scratch.join("cli-debug.log").display(),
            data = data.display(),
            copy = scratch.join("cli-copy.bin").display(),
        );
        let run = run_bounded(
            endpoint_run(
                scratch,
                &db,
                &verifier.url(),
                (ACCESS_KEY, SECRET),
                Path::new("/bin/bash"),
                &["-c", &script],
            ),
            scratch,
            "awscli",
            RUN_LIMIT,
        );
        let context = format!("{}\n{}", run.describe(), moto.log_tail());
        assert!(run.status.success(), "{context}");
        let debug = std::fs::read_to_string(scratch.join("cli-debug.log")).unwrap();
        let cli_counts = cli_requests(&debug);
        let requests = verifier.take_requests();
        assert_all_accepted(&requests, &context);
        assert_eq!(
            requests.len() as u64,
            cli_counts.values().sum::<u64>(),
            "{cli_counts:?}\n{context}"
        );
        assert!(
            cli_counts.get("s3 UploadPart").is_some_and(|&n| n >= 2),
            "{cli_counts:?}"
        );
        assert_eq!(
            operation_calls(&report(scratch, &db)),
            cli_counts,
            "{context}"
        );
    }

    // The AWS SDK for Rust, with its credentials in code: tollgate resolves the same ones from
    // its environment. Its aws-chunked uploads are re-signed chunk by chunk.
    {
        let rust_workload = rust_workload();
        let rust_verifier =
            Verifier::start(&python, scratch, &moto.url(), RUST_ACCESS_KEY, RUST_SECRET);
        let db = scratch.join("rust.db");
        let run = run_bounded(
            endpoint_run(
                scratch,
                &db,
                &rust_verifier.url(),
                (RUST_ACCESS_KEY, RUST_SECRET),
                &rust_workload,
                &[],
            ),
            scratch,
            "rust-sdk",
            RUN_LIMIT,
        );
        let context = format!("{}\n{}", run.describe(), moto.log_tail());
        assert!(run.status.success(), "{context}");
        let sdk: Value = serde_json::from_str(run.stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|error| panic!("the SDK's counts: {error}\n{context}"));
        let sdk_calls: BTreeMap<String, u64> = counts(&sdk["operations"])
            .into_iter()
            .map(|(key, n)| (key.replacen('.', " ", 1), n))
            .collect();
        let requests = rust_verifier.take_requests();
        assert_all_accepted(&requests, &context);
        assert!(
            requests
                .iter()
                .any(|r| r["payload"] == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
            "the SDK sent signed aws-chunked bodies with signed trailing checksums, re-signed \
             chunk by chunk and trailer\n{context}"
        );
        assert_eq!(
            requests.len() as u64,
            sdk_calls.values().sum::<u64>(),
            "{context}"
        );
        assert_eq!(
            operation_calls(&report(scratch, &db)),
            sdk_calls,
            "{context}"
        );
    }
}

#[test]
fn a_client_signing_as_someone_else_is_refused_and_nothing_is_forwarded() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let verifier = Verifier::start(&python, scratch, &moto.url(), ACCESS_KEY, SECRET);
    let db = scratch.join("refused.db");
    let truth_path = scratch.join("other-key.json");
    let workload = Path::new(MANIFEST_DIR).join("tests/e2e/endpoint_workload.py");
    let command = endpoint_run(
        scratch,
        &db,
        &verifier.url(),
        (ACCESS_KEY, SECRET),
        &python,
        &[
            workload.to_str().unwrap(),
            truth_path.to_str().unwrap(),
            "other-key",
        ],
    );
    let run = run_bounded(command, scratch, "other-key", RUN_LIMIT);
    let context = run.describe();
    assert!(run.status.success(), "{context}");
    let truth = read_json(&truth_path, &context);
    assert_eq!(
        truth["error_code"], "TollgateEndpointIdentityMismatch",
        "{truth:#}"
    );
    let message = truth["message"].as_str().unwrap();
    assert!(
        message.contains("…0000") && message.contains("…TEST"),
        "{message}"
    );
    assert!(
        !message.contains("AKIDSOMEONEELSE"),
        "the key is not spelled out: {message}"
    );
    assert!(
        verifier.take_requests().is_empty(),
        "nothing may be forwarded under another identity"
    );
    assert!(
        run.stderr.contains("endpoint mode refused 1 request"),
        "{context}"
    );
    assert!(run.stderr.contains("recorded 0 calls"), "{context}");
}

/// Signs a ListBuckets for s3.us-east-1.amazonaws.com with botocore, once with a wrong secret and
/// once with the right one, and sends both to the verifier at argv[1].
const CONTROL: &str = r#"
import sys, urllib.request, urllib.error
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, key, secret = sys.argv[1:4]
def send(secret):
    request = AWSRequest(method="GET", url="https://s3.us-east-1.amazonaws.com/",
                         headers={"x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
    S3SigV4Auth(Credentials(key, secret), "s3", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = "s3.us-east-1.amazonaws.com"
    raw = urllib.request.Request(url + "/", headers=headers)
    try:
        return f"{urllib.request.urlopen(raw).status}"
    except urllib.error.HTTPError as error:
        body = error.read().decode()
        code = body.split("<Code>")[1].split("</Code>")[0]
        return f"{error.code} {code}"
print(f"wrong secret: {send('not-the-secret')}; right secret: {send(secret)}")
"#;

/// `Making request for OperationModel(name=X)` lines of botocore's debug log, per operation,
/// as `service X` (the service from the request's URL host).
fn cli_requests(debug: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in debug.lines() {
        let Some(rest) = line.split("Making request for OperationModel(name=").nth(1) else {
            continue;
        };
        let operation = rest.split(')').next().unwrap();
        let service = cli_service(operation);
        *counts.entry(format!("{service} {operation}")).or_insert(0) += 1;
    }
    counts
}

/// The service of the operations the CLI script above makes.
fn cli_service(operation: &str) -> &'static str {
    match operation {
        "ListTables" => "dynamodb",
        "GetCallerIdentity" => "sts",
        _ => "s3",
    }
}

/// The AWS CLI v1 to test with: `TOLLGATE_TEST_AWSCLI`, else `.venv-awscli/bin/aws`.
fn aws_cli() -> PathBuf {
    let path = std::env::var_os("TOLLGATE_TEST_AWSCLI")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join(".venv-awscli/bin/aws"));
    assert!(
        path.is_file(),
        "endpoint mode's test needs the AWS CLI v1 at {}: run scripts/python-env.sh (it installs \
         requirements-awscli.txt into .venv-awscli), or set TOLLGATE_TEST_AWSCLI",
        path.display()
    );
    path
}

/// The Rust SDK workload: `TOLLGATE_RUST_SDK_TEST_BIN`, else its release build.
fn rust_workload() -> PathBuf {
    let path = std::env::var_os("TOLLGATE_RUST_SDK_TEST_BIN")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(MANIFEST_DIR).join("tests/rust-sdk/target/release/tollgate-rust-sdk-test")
        });
    assert!(
        path.is_file(),
        "endpoint mode's test needs the Rust SDK workload at {}: run \
         scripts/build-rust-sdk-test.sh, or set TOLLGATE_RUST_SDK_TEST_BIN",
        path.display()
    );
    path
}

/// `serve --endpoint-listen` beside the proxy, and `tollgate env --endpoint` for a shell: a client
/// given only the printed `AWS_ENDPOINT_URL` is re-signed, accepted and recorded.
#[test]
fn serve_listens_as_an_endpoint_and_env_prints_it() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let verifier = Verifier::start(&python, scratch, &moto.url(), ACCESS_KEY, SECRET);
    let home = scratch.join("serve-home");
    let db = scratch.join("serve.db");
    let mut serve = tollgate_command(&home);
    serve
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--endpoint-listen",
            "127.0.0.1:0",
        ])
        .arg("--db")
        .arg(&db)
        .args(["--upstream", &verifier.url()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(scratch.join("serve.stderr")).unwrap());
    dummy_aws_env(&mut serve, scratch);
    let mut child = serve.spawn().expect("start tollgate serve");
    // The exports are printed once the state `tollgate env` reads is written.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stdout, &mut line).unwrap_or(0) > 0
        && !line.starts_with("export HTTPS_PROXY=")
    {
        line.clear();
    }
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));

    let env = tollgate_command(&home)
        .args(["env", "--endpoint"])
        .output()
        .expect("run tollgate env");
    let exports = String::from_utf8_lossy(&env.stdout).to_string();
    assert!(env.status.success(), "{env:?}");
    assert!(!exports.contains("HTTPS_PROXY"), "{exports}");
    let endpoint = exports
        .lines()
        .find_map(|line| line.strip_prefix("export AWS_ENDPOINT_URL="))
        .unwrap_or_else(|| panic!("no AWS_ENDPOINT_URL in {exports}"))
        .to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let mut client = hermetic_command(&python);
    client
        .args([
            "-c",
            "import boto3; print(len(boto3.client('s3').list_buckets()['Buckets']))",
        ])
        .env("AWS_ENDPOINT_URL", &endpoint);
    dummy_aws_env(&mut client, scratch);
    let output = client.output().expect("run boto3");
    assert!(output.status.success(), "{output:?}");

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = crate::common::wait_timeout(&mut child, Duration::from_secs(30));
    let stderr = std::fs::read_to_string(scratch.join("serve.stderr")).unwrap();
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains("recorded 1 call"), "{stderr}");
    let requests = verifier.take_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_all_accepted(&requests, &stderr);
    assert_eq!(requests[0]["host"], "s3.us-east-1.amazonaws.com");
}
