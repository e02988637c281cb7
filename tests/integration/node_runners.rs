//! JavaScript test suites under `tollgate run` (issue 21, item 6), as users run them: a jest
//! suite (`tests/node/jest`), a vitest suite (`tests/node/vitest`; both runners pinned by
//! `tests/node/package-lock.json`) and a `node --test` suite (`tests/node/node_test`) call the
//! AWS SDK for JavaScript v3 from their tests, with no line of tollgate's in them. jest loads each test file and the SDK through its own module
//! registry in a vm context, out of reach of the preload's `Client` patch; the preload labels
//! the calls at the transport instead (see `installCallsites` in src/cli/node-preload.cjs).
//! `report --by test` must give each test exactly its calls and `report --by callsite` must name
//! each line marked `// callsite: NAME`, on every Node release the Node SDK tests use. Between
//! tollgate and moto, the verifying upstream checks every SigV4 signature and that no
//! `x-tollgate-*` header reaches it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::callsites::{groups_by, operations, Verifier};
use crate::common::{hermetic_command, tollgate_command};
use crate::moto::{dummy_aws_env, python_with_moto as python, run_bounded, Moto};
use crate::node_sdk::{first_node, node_22, node_dir, second_major, second_node, workload};

const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Calls per operation.
type Calls = BTreeMap<String, u64>;

/// A suite's source, with its marked lines and constants.
struct Suite {
    /// The file, as the report shows it (relative to the directory the suite runs in).
    file: &'static str,
    source: String,
}

impl Suite {
    fn read(dir: &Path, file: &'static str) -> Self {
        let source = std::fs::read_to_string(dir.join(file)).unwrap();
        Self { file, source }
    }

    /// `file:line` of the line marked `// callsite: NAME`.
    fn at(&self, name: &str) -> String {
        let marker = format!("// callsite: {name}");
        let lines: Vec<usize> = self
            .source
            .lines()
            .enumerate()
            .filter(|(_, line)| line.trim_end().ends_with(&marker))
            .map(|(index, _)| index + 1)
            .collect();
        assert_eq!(lines.len(), 1, "one `{marker}` in {}", self.file);
        format!("{}:{}", self.file, lines[0])
    }

    /// The constant `const NAME = N;`.
    fn constant(&self, name: &str) -> u64 {
        crate::common::workload_constant(&self.source, name)
    }
}

fn calls(ops: &[(&str, u64)]) -> Calls {
    ops.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

/// Runs `args` on `node` in `dir` under `tollgate run --upstream <verifier>` (with `verify`;
/// else moto itself); returns the report's groups by test and by call site, as label → calls
/// per operation.
fn run_suite(
    node: &Path,
    dir: &Path,
    args: &[&str],
    done: &str,
    major: &str,
    verify: bool,
) -> (BTreeMap<String, Calls>, BTreeMap<String, Calls>, String) {
    workload();
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let verifier = verify.then(|| Verifier::start_default(&python, scratch, &moto.url()));
    let upstream = verifier.as_ref().map_or_else(|| moto.url(), Verifier::url);
    let db = scratch.join("history.db");
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .current_dir(dir)
        .arg("run")
        .arg("--db")
        .arg(&db)
        .args(["--upstream", &upstream, "-q", "--"])
        .arg(node)
        .args(args);
    dummy_aws_env(&mut command, scratch);
    let run = run_bounded(command, scratch, "node-suite", RUN_LIMIT);
    let context = format!("{major}\n{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "{context}");
    assert!(
        run.stdout.contains(done) || run.stderr.contains(done),
        "expected `{done}`\n{context}"
    );
    let version = String::from_utf8(
        hermetic_command(node)
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(version.starts_with(major), "{version}: expected {major}");
    let by = |key: &str| -> BTreeMap<String, Calls> {
        groups_by(scratch, &db, key)
            .iter()
            .map(|(label, group)| (label.clone(), operations(group)))
            .collect()
    };
    let (tests, sites) = (by("test"), by("callsite"));
    let Some(verifier) = verifier else {
        return (tests, sites, context);
    };
    // Every signature held, and no tollgate header reached the upstream.
    let total: u64 = tests.values().flat_map(|ops| ops.values()).sum();
    let requests = verifier.requests();
    assert_eq!(requests.len() as u64, total, "{requests:#?}\n{context}");
    for request in &requests {
        assert_eq!(request["accepted"], true, "{request}\n{context}");
        assert_eq!(
            request["tollgate_headers"],
            serde_json::json!([]),
            "{request}"
        );
    }
    (tests, sites, context)
}

fn jest_dir() -> PathBuf {
    node_dir().join("jest")
}

/// The jest suite on `node`: each test's calls, the hooks' calls under no test, each marked
/// line with its function.
fn jest_suite_on(node: &Path, major: &str) {
    let dir = jest_dir();
    let jest = node_dir().join("node_modules/jest/bin/jest.js");
    assert!(
        jest.is_file(),
        "the jest test needs jest in {}: run scripts/node-env.sh (npm ci)",
        node_dir().display()
    );
    let suite = Suite::read(&dir, "s3_sqs.test.js");
    // As a user runs jest in the project's directory; no cache and no watchman, so that the run
    // depends on nothing outside the test.
    let (tests, sites, context) = run_suite(
        node,
        &dir,
        &[
            jest.to_str().unwrap(),
            "--no-cache",
            "--no-watchman",
            suite.file,
        ],
        "Tests:       3 passed, 3 total",
        major,
        true,
    );
    let test = |name: &str| format!("{}::{name}", suite.file);
    let expected_tests: BTreeMap<String, Calls> = [
        (
            "(no test)".to_string(),
            calls(&[("CreateBucket", 1), ("ListObjectsV2", 1)]),
        ),
        (
            test("s3 puts"),
            calls(&[("PutObject", suite.constant("PUTS"))]),
        ),
        (
            test("s3 heads"),
            calls(&[("HeadObject", suite.constant("HEADS"))]),
        ),
        (
            test("sqs sends"),
            calls(&[
                ("CreateQueue", 1),
                ("SendMessage", suite.constant("MESSAGES")),
            ]),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(tests, expected_tests, "by test\n{context}");
    let site = |marker: &str, function: &str| format!("{} {function}", suite.at(marker));
    let expected_sites: BTreeMap<String, Calls> = [
        (site("setup", "<anonymous>"), calls(&[("CreateBucket", 1)])),
        (
            site("teardown", "<anonymous>"),
            calls(&[("ListObjectsV2", 1)]),
        ),
        (
            site("put", "<anonymous>"),
            calls(&[("PutObject", suite.constant("PUTS"))]),
        ),
        (
            site("heads", "<anonymous>"),
            calls(&[("HeadObject", suite.constant("HEADS"))]),
        ),
        (site("queue", "<anonymous>"), calls(&[("CreateQueue", 1)])),
        (
            site("helper", "sendMessage"),
            calls(&[("SendMessage", suite.constant("MESSAGES"))]),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(sites, expected_sites, "by callsite\n{context}");
}

#[test]
fn jest_tests_get_their_own_calls_and_lines_on_the_first_node() {
    jest_suite_on(&first_node(), "v");
}

/// Kinesis from a jest test: the SDK's HTTP/2 client, labelled at the session's `request`.
/// Against moto itself: the JS SDK signs HTTP/2's `:authority` pseudo-header, which the
/// verifying upstream (botocore's signer) cannot reproduce from the HTTP/1.1 request.
#[test]
fn jest_tests_over_http2_get_their_own_calls_and_lines() {
    let dir = jest_dir();
    let jest = node_dir().join("node_modules/jest/bin/jest.js");
    let suite = Suite::read(&dir, "kinesis.test.js");
    let (tests, sites, context) = run_suite(
        &first_node(),
        &dir,
        &[
            jest.to_str().unwrap(),
            "--no-cache",
            "--no-watchman",
            suite.file,
        ],
        "Tests:       1 passed, 1 total",
        "v",
        false,
    );
    let expected_tests: BTreeMap<String, Calls> = [(
        format!("{}::kinesis streams", suite.file),
        calls(&[("CreateStream", 1), ("ListStreams", 1)]),
    )]
    .into_iter()
    .collect();
    assert_eq!(tests, expected_tests, "by test\n{context}");
    let expected_sites: BTreeMap<String, Calls> = [
        ("stream", calls(&[("CreateStream", 1)])),
        ("streams", calls(&[("ListStreams", 1)])),
    ]
    .into_iter()
    .map(|(marker, ops)| (format!("{} <anonymous>", suite.at(marker)), ops))
    .collect();
    assert_eq!(sites, expected_sites, "by callsite\n{context}");
}

#[test]
fn jest_tests_get_their_own_calls_and_lines_on_node_22() {
    jest_suite_on(&node_22(), "v22.");
}

#[test]
fn jest_tests_get_their_own_calls_and_lines_on_node_24() {
    jest_suite_on(&second_node(), second_major());
}

/// The `node --test` suite on `node`: each marked line; on a Node with node:test's
/// `getTestContext` (24), each test's calls, and the file-level `before` hook's under no test;
/// before it, every call under no test (Node 20 and 22 do not say which test is running).
fn node_test_suite_on(node: &Path, major: &str, named: bool) {
    let dir = node_dir().join("node_test");
    let suite = Suite::read(&dir, "s3.test.mjs");
    let (tests, sites, context) = run_suite(
        node,
        &dir,
        &["--test", "--test-reporter=tap", suite.file],
        "# pass 2",
        major,
        true,
    );
    let (puts, heads) = (suite.constant("PUTS"), suite.constant("HEADS"));
    let expected_tests: BTreeMap<String, Calls> = if named {
        [
            ("(no test)".to_string(), calls(&[("CreateBucket", 1)])),
            (
                format!("{}::s3 > puts", suite.file),
                calls(&[("PutObject", puts)]),
            ),
            (
                format!("{}::s3 > heads", suite.file),
                calls(&[("HeadObject", heads)]),
            ),
        ]
        .into_iter()
        .collect()
    } else {
        [(
            "(no test)".to_string(),
            calls(&[
                ("CreateBucket", 1),
                ("PutObject", puts),
                ("HeadObject", heads),
            ]),
        )]
        .into_iter()
        .collect()
    };
    assert_eq!(tests, expected_tests, "by test\n{context}");
    let expected_sites: BTreeMap<String, Calls> = [
        ("setup", calls(&[("CreateBucket", 1)])),
        ("put", calls(&[("PutObject", puts)])),
        ("head", calls(&[("HeadObject", heads)])),
    ]
    .into_iter()
    .map(|(marker, ops)| (format!("{} <anonymous>", suite.at(marker)), ops))
    .collect();
    assert_eq!(sites, expected_sites, "by callsite\n{context}");
}

#[test]
fn node_test_calls_name_their_lines_on_the_first_node() {
    let node = first_node();
    // Named where the first Node is 24 or later (TOLLGATE_TEST_NODE may point at one).
    let output = hermetic_command(&node)
        .args(["-p", "typeof require('node:test').getTestContext"])
        .output()
        .expect("run node");
    let named = String::from_utf8_lossy(&output.stdout).trim() == "function";
    node_test_suite_on(&node, "v", named);
}

#[test]
fn node_test_calls_name_their_lines_on_node_22() {
    node_test_suite_on(&node_22(), "v22.", false);
}

#[test]
fn node_test_tests_get_their_own_calls_on_node_24() {
    node_test_suite_on(&second_node(), second_major(), true);
}

/// The vitest suite on `node`: each test's calls, beforeAll's under no test, each marked line
/// (vitest transforms the file with vite: its inline source maps give the lines as written).
fn vitest_suite_on(node: &Path, major: &str) {
    let dir = node_dir().join("vitest");
    let vitest = node_dir().join("node_modules/vitest/vitest.mjs");
    assert!(
        vitest.is_file(),
        "the vitest test needs vitest in {}: run scripts/node-env.sh (npm ci)",
        node_dir().display()
    );
    let suite = Suite::read(&dir, "s3_sqs.test.mjs");
    let (tests, sites, context) = run_suite(
        node,
        &dir,
        &[vitest.to_str().unwrap(), "run", "--no-cache"],
        "3 passed",
        major,
        true,
    );
    let test = |name: &str| format!("{}::{name}", suite.file);
    let expected_tests: BTreeMap<String, Calls> = [
        ("(no test)".to_string(), calls(&[("CreateBucket", 1)])),
        (
            test("s3 > puts"),
            calls(&[("PutObject", suite.constant("PUTS"))]),
        ),
        (
            test("s3 > heads"),
            calls(&[("HeadObject", suite.constant("HEADS"))]),
        ),
        (
            test("sqs > sends"),
            calls(&[
                ("CreateQueue", 1),
                ("SendMessage", suite.constant("MESSAGES")),
            ]),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(tests, expected_tests, "by test\n{context}");
    // By line; the helper by its name too. (vitest calls a test's function with no receiver,
    // which V8 reports as top-level code: an anonymous one is shown as `<module>`.)
    let by_line: BTreeMap<String, Calls> = sites
        .iter()
        .map(|(label, ops)| {
            let (site, function) = label.split_once(' ').unwrap_or((label, ""));
            if site == suite.at("helper") {
                assert_eq!(function, "sendMessage", "{label}\n{context}");
            }
            (site.to_string(), ops.clone())
        })
        .collect();
    let expected_sites: BTreeMap<String, Calls> = [
        ("setup", calls(&[("CreateBucket", 1)])),
        ("put", calls(&[("PutObject", suite.constant("PUTS"))])),
        ("heads", calls(&[("HeadObject", suite.constant("HEADS"))])),
        ("queue", calls(&[("CreateQueue", 1)])),
        (
            "helper",
            calls(&[("SendMessage", suite.constant("MESSAGES"))]),
        ),
    ]
    .into_iter()
    .map(|(marker, ops)| (suite.at(marker), ops))
    .collect();
    assert_eq!(by_line, expected_sites, "by callsite\n{context}");
}

#[test]
fn vitest_tests_get_their_own_calls_and_lines_on_the_first_node() {
    vitest_suite_on(&first_node(), "v");
}

#[test]
fn vitest_tests_get_their_own_calls_and_lines_on_node_22() {
    vitest_suite_on(&node_22(), "v22.");
}

#[test]
fn vitest_tests_get_their_own_calls_and_lines_on_node_24() {
    vitest_suite_on(&second_node(), second_major());
}
