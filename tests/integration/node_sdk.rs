//! End to end with the AWS SDK for JavaScript v3 on real Node: its S3, DynamoDB, SQS and Kinesis
//! clients as a user writes them (`new S3Client({region})`: no endpoint, no agent, no proxy
//! setting), run under `tollgate run --upstream` with moto standing in for AWS. Node ignores
//! HTTPS_PROXY; only tollgate's Node preload (NODE_OPTIONS=--require) brings these calls to
//! tollgate. What tollgate reports is compared with what the SDK counted through a middleware.
//!
//! The workload is `tests/node/workload.mjs`, its packages pinned by `tests/node/package-lock.json`
//! and installed by `scripts/node-env.sh` (`npm ci`, run by scripts/test.sh). Node: the one on
//! PATH (or `TOLLGATE_TEST_NODE`), and a second major release from npm's `node` package
//! (`tests/node/node24`, or `TOLLGATE_TEST_NODE_SECOND`). Needs moto like `e2e`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{tollgate_command, Origin};
use crate::moto::{
    assert_clean_run, dummy_aws_env, is_aws_host, python_with_moto as python, read_json,
    run_bounded, tollgate_run, u64_field, Moto, MANIFEST_DIR,
};

/// How long the workload may take under tollgate before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(180);

pub(crate) fn node_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/node")
}

/// The workload, after checking that its packages are installed.
pub(crate) fn workload() -> PathBuf {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/@aws-sdk/client-s3").is_dir(),
        "the Node SDK test needs the packages of {}: run scripts/node-env.sh (npm ci, which \
         scripts/test.sh runs), with Node 20 or later and npm on PATH",
        dir.join("package-lock.json").display()
    );
    dir.join("workload.mjs")
}

/// The Node on PATH, or `TOLLGATE_TEST_NODE`.
pub(crate) fn first_node() -> PathBuf {
    std::env::var_os("TOLLGATE_TEST_NODE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

/// The version the second Node reports starts with this (any, when TOLLGATE_TEST_NODE_SECOND
/// names another).
pub(crate) fn second_major() -> &'static str {
    if std::env::var_os("TOLLGATE_TEST_NODE_SECOND").is_some_and(|v| !v.is_empty()) {
        "v"
    } else {
        "v24."
    }
}

/// A second major release: `TOLLGATE_TEST_NODE_SECOND`, else npm's `node` package installed by
/// scripts/node-env.sh.
pub(crate) fn second_node() -> PathBuf {
    if let Some(path) = std::env::var_os("TOLLGATE_TEST_NODE_SECOND").filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    let path = node_dir().join("node24/node_modules/node/bin/node");
    assert!(
        path.is_file(),
        "the Node SDK test runs on a second Node release too, and found neither \
         TOLLGATE_TEST_NODE_SECOND nor {}: run scripts/node-env.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// `{"s3.PutObject": 30, ...}` → a map.
fn counts(value: &Value, field: &str) -> BTreeMap<String, u64> {
    value[field]
        .as_object()
        .unwrap_or_else(|| panic!("no map '{field}' in {value:#}"))
        .iter()
        .map(|(name, count)| (name.clone(), count.as_u64().expect("a count")))
        .collect()
}

/// Runs the workload on `node` under `tollgate run --upstream <moto>` and checks tollgate saw
/// exactly what the SDK sent, operation by operation. `extra_env` is set for the run.
fn workload_matches_on(node: &Path, major: &str, extra_env: &[(&str, &str)]) {
    let workload = workload();
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);

    let summary_path = scratch.join("summary.json");
    let mut command = tollgate_run(
        scratch,
        Some(&moto.url()),
        &summary_path,
        node,
        [workload.as_os_str()],
    );
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let run = run_bounded(command, scratch, "node-sdk", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(
        run.status.success(),
        "the Node SDK workload failed under tollgate\n{context}"
    );
    assert!(
        run.stderr.contains("node workload: ok"),
        "the workload did not finish\n{context}"
    );
    let line = run.stdout.lines().last().unwrap_or_default();
    let sdk: Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("the workload printed no counts ({error})\n{context}"));
    let summary = read_json(&summary_path, &context);
    let all = format!("tollgate summary: {summary:#}\nNode SDK: {sdk:#}\n{context}");
    assert!(
        sdk["node"].as_str().unwrap_or("").starts_with(major),
        "expected Node {major}\n{all}"
    );

    let sdk_attempts = counts(&sdk, "operations");
    let sdk_calls = counts(&sdk, "calls");
    let attempts = u64_field(&sdk, "attempts");
    // The workload is what it says: every service, the worker thread's and child process's
    // calls, a 6 MiB upload, HTTP/2 for Kinesis.
    for (operation, at_least) in [
        ("s3.PutObject", 22),
        ("s3.ListObjectsV2", 3),
        ("dynamodb.PutItem", 5),
        ("dynamodb.BatchWriteItem", 1),
        ("sqs.SendMessage", 5),
        ("sqs.ReceiveMessage", 1),
        ("kinesis.PutRecord", 4),
        ("kinesis.GetRecords", 1),
    ] {
        let sent = sdk_attempts.get(operation).copied().unwrap_or(0);
        assert!(
            sent >= at_least,
            "{operation}: {sent} attempts, the workload makes at least {at_least}\n{all}"
        );
    }
    let protocols = counts(&sdk, "protocols");
    assert!(
        protocols.contains_key("kinesis:h2") && protocols.contains_key("s3:http/1.1"),
        "the workload should use HTTP/2 for Kinesis and HTTP/1.1 for S3\n{all}"
    );

    assert_eq!(
        u64_field(&summary, "calls"),
        attempts,
        "tollgate counted a different number of calls than the Node SDK sent\n{all}"
    );
    assert!(
        u64_field(&summary, "bytes_sent") >= 6 << 20,
        "the 6 MiB upload did not go through tollgate\n{all}"
    );
    let mut tollgate_attempts: BTreeMap<String, u64> = BTreeMap::new();
    let mut tollgate_calls: BTreeMap<String, u64> = BTreeMap::new();
    for row in summary["operations"].as_array().expect("operations") {
        let key = format!(
            "{}.{}",
            row["service"].as_str().expect("service"),
            row["operation"].as_str().expect("operation")
        );
        *tollgate_attempts.entry(key.clone()).or_default() += u64_field(row, "attempts");
        *tollgate_calls.entry(key).or_default() += u64_field(row, "calls");
    }
    assert_eq!(
        tollgate_attempts, sdk_attempts,
        "tollgate's attempts by operation differ from the Node SDK's\n{all}"
    );
    assert_eq!(
        tollgate_calls, sdk_calls,
        "tollgate's calls by operation differ from the Node SDK's executions\n{all}"
    );
    for row in summary["hosts"].as_array().expect("hosts") {
        let host = row["host"].as_str().expect("host");
        assert!(is_aws_host(host), "a non-AWS host {host}\n{all}");
    }
    assert_clean_run(&summary, &all);
}

#[test]
fn node_sdk_calls_through_tollgate_match_what_the_sdk_sent_on_the_first_node() {
    workload_matches_on(&first_node(), "v", &[]);
}

/// The SDK supports every Node from 20 (from January 2027, 22): the middle release too.
#[test]
fn node_sdk_calls_through_tollgate_match_what_the_sdk_sent_on_node_22() {
    workload_matches_on(&node_22(), "v22.", &[]);
}

/// Node 22, from npm's `node` package installed by scripts/node-env.sh.
pub(crate) fn node_22() -> PathBuf {
    let path = node_dir().join("node22/node_modules/node/bin/node");
    assert!(
        path.is_file(),
        "the Node SDK test runs on Node 22 too, and found no {}: run scripts/node-env.sh \
         (scripts/test.sh does)",
        path.display()
    );
    path
}

#[test]
fn node_sdk_calls_through_tollgate_match_what_the_sdk_sent_on_node_24() {
    workload_matches_on(&second_node(), second_major(), &[]);
}

/// Node 24 sends its global agent and fetch through HTTPS_PROXY itself when asked: the preload
/// steps aside for them (no tunnel inside Node's tunnel) and still routes the SDK's own agents.
#[test]
fn node_sdk_calls_are_counted_once_when_node_proxies_too() {
    workload_matches_on(
        &second_node(),
        second_major(),
        &[("NODE_USE_ENV_PROXY", "1")],
    );
}

/// With NODE_USE_ENV_PROXY=1, Node 24 sends its global agent and fetch through HTTPS_PROXY
/// (tollgate) itself: the preload must step aside for them, or the call would be tunnelled
/// inside Node's own tunnel. Without it, the preload routes the global agent.
#[test]
fn node_own_proxying_and_the_preload_count_each_call_once() {
    let python = python();
    let scratch = tempfile::tempdir().unwrap();
    let moto = Moto::start(&python, scratch.path());
    let script = "(async () => { \
        const status = await new Promise((resolve, reject) => \
          require('https').get('https://sqs.us-east-1.amazonaws.com/?Action=ListQueues', (res) => { \
            res.resume(); resolve(res.statusCode); }).on('error', reject)); \
        const statuses = [status]; \
        if (process.env.NODE_USE_ENV_PROXY) { \
          statuses.push((await fetch('https://sqs.us-east-1.amazonaws.com/?Action=ListQueues')).status); \
        } \
        console.log(JSON.stringify(statuses)); \
      })().catch((error) => { console.error(error); process.exit(1); });";
    for (env, calls) in [(&[("NODE_USE_ENV_PROXY", "1")][..], 2), (&[][..], 1)] {
        let (summary, stdout, stderr) = run_node_script(
            scratch.path(),
            &second_node(),
            script,
            &["--upstream", &moto.url()],
            env,
        );
        let all = format!("{env:?}\n{summary:#}\n{stdout}\n{stderr}");
        let statuses: Vec<u16> = serde_json::from_str(stdout.trim()).expect(&all);
        assert_eq!(statuses, vec![200; calls as usize], "{all}");
        assert_eq!(u64_field(&summary, "calls"), calls, "{all}");
        assert_eq!(u64_field(&summary, "client_handshake_failures"), 0, "{all}");
    }
}

/// A Node script run by `node` under `tollgate run`: the summary, stdout and stderr.
fn run_node_script(
    scratch: &Path,
    node: &Path,
    script: &str,
    tollgate_args: &[&str],
    env: &[(&str, &str)],
) -> (Value, String, String) {
    let summary_path = scratch.join("summary.json");
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .arg("run")
        .args(tollgate_args)
        .args(["--no-record", "--summary", "json", "--summary-file"])
        .arg(&summary_path)
        .arg("--")
        .arg(node)
        .args(["-e", script]);
    dummy_aws_env(&mut command, scratch);
    for (name, value) in env {
        command.env(name, value);
    }
    let run = run_bounded(command, scratch, "node-script", Duration::from_secs(60));
    let context = run.describe();
    assert!(run.status.success(), "the script failed\n{context}");
    (read_json(&summary_path, &context), run.stdout, run.stderr)
}

/// What is not an intercepted host, and what NO_PROXY covers, goes exactly where it went
/// without tollgate: straight to the server, not through tollgate.
#[tokio::test(flavor = "multi_thread")]
async fn node_preload_leaves_other_hosts_and_no_proxy_alone() {
    let origin = Origin::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let ca = origin.ca.write(scratch.path());
    // Two requests to the local origin: one by its own name, one by an AWS name (resolved to
    // the origin by the request's own `lookup`) that NO_PROXY covers.
    let script = format!(
        r#"
const https = require('https');
const fs = require('fs');
const ca = fs.readFileSync({ca:?});
const get = (host, extra) => new Promise((resolve, reject) => {{
  https.get({{ host, port: {port}, path: '/echo', ca, servername: 'localhost', checkServerIdentity: () => undefined, ...extra }}, (res) => {{
    res.resume();
    res.on('end', () => resolve(res.headers['x-seen-path']));
  }}).on('error', reject);
}});
(async () => {{
  const direct = await get('localhost', {{}});
  const bypassed = await get('s3.us-east-1.amazonaws.com', {{
    lookup: (_host, options, cb) => options.all ? cb(null, [{{ address: '127.0.0.1', family: 4 }}]) : cb(null, '127.0.0.1', 4),
  }});
  console.log(JSON.stringify({{ direct, bypassed }}));
}})().catch((error) => {{ console.error(error); process.exit(1); }});
"#,
        port = origin.addr.port()
    );
    let (summary, stdout, stderr) = run_node_script(
        scratch.path(),
        &first_node(),
        &script,
        &[],
        &[("NO_PROXY", "localhost.invalid,.amazonaws.com")],
    );
    let all = format!("{summary:#}\n{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.trim()).expect(&all);
    // Both reached the origin itself...
    assert_eq!(seen["direct"], "/echo", "{all}");
    assert_eq!(seen["bypassed"], "/echo", "{all}");
    // ...and neither went through tollgate, not even as a tunnel.
    assert_eq!(u64_field(&summary, "calls"), 0, "{all}");
    assert_eq!(summary["tunnels"], Value::Array(vec![]), "{all}");
}

/// `run` appends the preload to the NODE_OPTIONS the user has; `--no-node-preload` leaves
/// NODE_OPTIONS as it was.
#[test]
fn node_options_get_the_preload_unless_turned_off() {
    let scratch = tempfile::tempdir().unwrap();
    let print = "console.log(JSON.stringify([process.env.NODE_OPTIONS ?? null, \
                 process.env.TOLLGATE_NODE_HOSTS ?? null, \
                 Boolean(globalThis[Symbol.for('tollgate.node-preload')])]))";
    let user = [("NODE_OPTIONS", "--max-old-space-size=300")];
    let (_, with, _) = run_node_script(scratch.path(), &first_node(), print, &[], &user);
    let with: Value = serde_json::from_str(with.trim()).unwrap();
    let preload = scratch.path().join("tollgate-home/node-preload.cjs");
    assert_eq!(
        with[0],
        format!("--max-old-space-size=300 --require {}", preload.display()),
        "{with}"
    );
    assert!(
        with[1].as_str().unwrap().contains("*.amazonaws.com"),
        "{with}"
    );
    assert_eq!(with[2], true, "the preload was not loaded: {with}");
    assert!(preload.is_file());

    let (_, without, _) = run_node_script(
        scratch.path(),
        &first_node(),
        print,
        &["--no-node-preload"],
        &user,
    );
    let without: Value = serde_json::from_str(without.trim()).unwrap();
    assert_eq!(
        without,
        serde_json::json!(["--max-old-space-size=300", null, false])
    );
}

/// What the preload cannot route, it says: `fetch`, which no agent reaches, on a Node that does
/// not proxy it itself; and a tollgate that is no longer there.
#[test]
fn node_preload_says_what_it_cannot_route() {
    let scratch = tempfile::tempdir().unwrap();
    // The warning comes before fetch does anything: the script leaves at once.
    let script = "try { fetch('https://s3.us-east-1.amazonaws.com/').catch(() => {}); } \
                  finally { process.exit(0); }";
    let (_, _, stderr) = run_node_script(scratch.path(), &first_node(), script, &[], &[]);
    assert!(
        stderr.contains("fetch(https://s3.us-east-1.amazonaws.com) goes around tollgate")
            && stderr.contains("NODE_USE_ENV_PROXY=1"),
        "{stderr}"
    );

    // The preload of a tollgate that has gone: a clear error, not a DNS failure.
    let preload = scratch.path().join("tollgate-home/node-preload.cjs");
    let closed = crate::moto::free_port();
    let output = crate::common::hermetic_command(first_node())
        .args(["--require"])
        .arg(&preload)
        .args([
            "-e",
            "require('https').get('https://sqs.us-east-1.amazonaws.com/').on('error', (e) => { \
             console.log(e.code + ' ' + e.message); })",
        ])
        .env("TOLLGATE_NODE_PROXY", format!("http://127.0.0.1:{closed}"))
        .env("TOLLGATE_NODE_HOSTS", "*.amazonaws.com")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "ECONNREFUSED tollgate: cannot tunnel to sqs.us-east-1.amazonaws.com:443 through \
             tollgate at 127.0.0.1:{closed}"
        )),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Call sites (issue 21, item 2): the JS SDK, unaware of tollgate, sends commands from lines
/// marked `// callsite: NAME` in `tests/node/callsites.mjs` (awaited one by one, fired together
/// without await from a class method, from a helper called from two places, from a
/// paginator); `report --by callsite` names each marked line, relative to the command's
/// directory, with exactly the calls made there. Between tollgate and moto, the verifying
/// upstream recomputes every SigV4 signature: each holds, and no `x-tollgate-*` header reaches
/// it. With `--no-callsites`, the same calls have no call site.
fn node_calls_name_their_lines(node: &Path, major: &str) {
    use crate::callsites::{groups_by, operations, Verifier};
    const SCRIPT: &str = "tests/node/callsites.mjs";
    workload();
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let verifier = Verifier::start_default(&python, scratch, &moto.url());
    let source = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(SCRIPT)).unwrap();
    let constant = |name: &str| crate::common::workload_constant(&source, name);
    let at = |name: &str| -> String {
        let marker = format!("// callsite: {name}");
        let lines: Vec<usize> = source
            .lines()
            .enumerate()
            .filter(|(_, line)| line.trim_end().ends_with(&marker))
            .map(|(index, _)| index + 1)
            .collect();
        assert_eq!(lines.len(), 1, "one `{marker}` in {SCRIPT}");
        format!("{SCRIPT}:{}", lines[0])
    };
    let expected: BTreeMap<String, (&str, BTreeMap<String, u64>)> = [
        ("setup", "main", "CreateBucket", 1),
        ("put", "main", "PutObject", constant("PUTS")),
        (
            "helper",
            "head",
            "HeadObject",
            constant("HEAD_A") + constant("HEAD_B"),
        ),
        (
            "paginator",
            "main",
            "ListObjectsV2",
            constant("PUTS") / constant("PAGE"),
        ),
        ("queue", "main", "CreateQueue", 1),
        (
            "fired",
            "Mailer.sendAll",
            "SendMessage",
            constant("MESSAGES"),
        ),
    ]
    .into_iter()
    .map(|(marker, function, operation, calls)| {
        (
            format!("{} {function}", at(marker)),
            (marker, BTreeMap::from([(operation.to_string(), calls)])),
        )
    })
    .collect();
    let total: u64 = expected.values().flat_map(|(_, ops)| ops.values()).sum();

    for callsites in [true, false] {
        let db = scratch.join(format!("history-{callsites}.db"));
        let mut command = tollgate_command(&scratch.join("tollgate-home"));
        command.current_dir(MANIFEST_DIR).arg("run");
        if !callsites {
            command.arg("--no-callsites");
        }
        command
            .arg("--db")
            .arg(&db)
            .args(["--upstream", &verifier.url(), "-q", "--"])
            .arg(node)
            .arg(SCRIPT);
        dummy_aws_env(&mut command, scratch);
        let run = run_bounded(command, scratch, "node-callsites", RUN_LIMIT);
        let context = format!("{}\n{}", run.describe(), moto.log_tail());
        assert!(run.status.success(), "{context}");
        assert!(run.stderr.contains("node callsites: ok"), "{context}");
        let groups = groups_by(scratch, &db, "callsite");
        let all = format!("{major} callsites={callsites}\n{groups:#?}\n{context}");
        if !callsites {
            assert_eq!(
                groups.keys().collect::<Vec<_>>(),
                vec!["(no call site)"],
                "{all}"
            );
            assert_eq!(groups["(no call site)"]["calls"], total, "{all}");
            continue;
        }
        let found: BTreeMap<String, BTreeMap<String, u64>> = groups
            .iter()
            .map(|(label, group)| (label.clone(), operations(group)))
            .collect();
        let wanted: BTreeMap<String, BTreeMap<String, u64>> = expected
            .iter()
            .map(|(label, (_, ops))| (label.clone(), ops.clone()))
            .collect();
        assert_eq!(found, wanted, "{all}");
    }

    // Both runs: every signature held, and no tollgate header reached the upstream.
    let requests = verifier.requests();
    assert_eq!(requests.len() as u64, 2 * total, "{requests:#?}");
    for request in &requests {
        assert_eq!(request["accepted"], true, "{request}");
        assert_eq!(
            request["tollgate_headers"],
            serde_json::json!([]),
            "{request}"
        );
    }
}

#[test]
fn node_sdk_calls_name_their_call_sites_on_the_first_node() {
    node_calls_name_their_lines(&first_node(), "v");
}

#[test]
fn node_sdk_calls_name_their_call_sites_on_node_24() {
    node_calls_name_their_lines(&second_node(), second_major());
}
