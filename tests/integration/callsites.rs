//! Call sites (issue 21): boto3, unaware of tollgate, runs under `tollgate run --upstream`, and
//! `report --by callsite` names the line of the workload behind each call, with exact counts.
//! Between tollgate and moto sits `tests/e2e/sigv4_upstream.py` (see `verifier`), which checks
//! every request's SigV4 signature with botocore's signer and the known secret and notes any
//! `x-tollgate-*` header that reached it: none may, and every signature must hold.
//!
//! Needs Python with boto3, moto[server] and pytest (see `moto::python_with_moto`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command, workload_constant as constant};
use crate::datastack::datastack_python;
use crate::moto::{dummy_aws_env, python_with_moto as python, run_bounded, Moto, MANIFEST_DIR};
pub(crate) use crate::verifier::Verifier;

const RUN_LIMIT: Duration = Duration::from_secs(120);
const WORKLOAD: &str = "tests/e2e/callsites_workload.py";

/// `tollgate run --db DB --upstream URL -q -- PROGRAM ARGS` from the repository's root, with no
/// PYTHONPATH or pytest state of the test runner's.
fn run_command(scratch: &Path, db: &Path, upstream: &str, python: &Path, args: &[&str]) -> Command {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .current_dir(MANIFEST_DIR)
        .env_remove("PYTHONPATH")
        .env_remove("PYTEST_CURRENT_TEST")
        .arg("run")
        .arg("--db")
        .arg(db)
        .args(["--upstream", upstream, "-q", "--"])
        .arg(python)
        .args(args);
    dummy_aws_env(&mut command, scratch);
    command
}

/// `tollgate report --db DB --last --by KEY --format json`'s groups, by key.
pub(crate) fn groups_by(scratch: &Path, db: &Path, key: &str) -> BTreeMap<String, Value> {
    let output = tollgate_command(&scratch.join("tollgate-home"))
        .arg("report")
        .arg("--db")
        .arg(db)
        .args(["--last", "--by", key, "--format", "json"])
        .output()
        .expect("run tollgate report");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "report --by {key} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("report JSON");
    assert_eq!(report["by"], key, "{report:#}");
    report["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|group| (group["label"].as_str().unwrap().to_string(), group.clone()))
        .collect()
}

/// Calls per operation of a group.
pub(crate) fn operations(group: &Value) -> BTreeMap<String, u64> {
    group["top_operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["operation"].as_str().unwrap().to_string(),
                op["calls"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The line of `# callsite: NAME` in `source`, 1-based.
fn marked_line(source: &str, name: &str) -> usize {
    let marker = format!("# callsite: {name}");
    let lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_end().ends_with(&marker))
        .map(|(index, _)| index + 1)
        .collect();
    assert_eq!(lines.len(), 1, "one `{marker}` in the workload");
    lines[0]
}

#[test]
fn each_call_names_the_line_that_made_it_and_the_header_never_reaches_the_upstream() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let verifier = Verifier::start_default(&python, scratch, &moto.url());
    let db = scratch.join("history.db");
    let run = run_bounded(
        run_command(scratch, &db, &verifier.url(), &python, &[WORKLOAD]),
        scratch,
        "callsites",
        RUN_LIMIT,
    );
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "{context}");
    assert!(run.stdout.contains("callsites_workload: ok"), "{context}");

    let source = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(WORKLOAD)).unwrap();
    let at = |name: &str| format!("{WORKLOAD}:{}", marked_line(&source, name));
    let puts = constant(&source, "PUTS");
    let page = constant(&source, "PAGE");
    let parts = constant(&source, "UPLOAD_PARTS");
    let heads = constant(&source, "HEAD_A") + constant(&source, "HEAD_B");
    let expected: BTreeMap<String, BTreeMap<String, u64>> = [
        (at("setup"), vec![("CreateBucket", 1)]),
        (at("put"), vec![("PutObject", puts)]),
        (at("collection"), vec![("ListObjects", puts / page)]),
        (at("helper"), vec![("HeadObject", heads)]),
        (at("paginator"), vec![("ListObjectsV2", puts / page)]),
        (
            at("upload"),
            vec![
                ("CreateMultipartUpload", 1),
                ("UploadPart", parts),
                ("CompleteMultipartUpload", 1),
            ],
        ),
    ]
    .into_iter()
    .map(|(line, ops)| {
        (
            line,
            ops.into_iter().map(|(op, n)| (op.to_string(), n)).collect(),
        )
    })
    .collect();

    let groups = groups_by(scratch, &db, "callsite");
    let all = format!("{groups:#?}\n{context}");
    // `path:line function`: the path relative to the command's directory, never absolute.
    let mut found: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (label, group) in &groups {
        let (site, function) = label.split_once(' ').unwrap_or((label, ""));
        assert!(!site.starts_with('/'), "{label}\n{all}");
        assert_eq!(
            group["calls"].as_u64().unwrap(),
            operations(group).values().sum::<u64>(),
            "{all}"
        );
        if site == at("helper") {
            assert_eq!(function, "head", "{all}");
        }
        if site == at("put") || site == at("upload") || site == at("paginator") {
            assert_eq!(function, "main", "{all}");
        }
        found.insert(site.to_string(), operations(group));
    }
    assert_eq!(found, expected, "{all}");
    assert!(!groups.contains_key("(no call site)"), "{all}");
    // The other groupings come from the same totals: every call under the one SDK and the one
    // Python process that made them.
    let calls: u64 = expected.values().flat_map(|ops| ops.values()).sum();
    for key in ["sdk", "command"] {
        let groups = groups_by(scratch, &db, key);
        assert_eq!(groups.len(), 1, "{key}: {groups:#?}");
        let (label, group) = groups.iter().next().unwrap();
        let wanted = if key == "sdk" { "Boto3/" } else { "python" };
        assert!(label.contains(wanted), "{key}: {label}");
        assert_eq!(group["calls"].as_u64(), Some(calls), "{key}: {groups:#?}");
    }

    // The upstream saw every call, each signature held, and no tollgate header reached it.
    let requests = verifier.requests();
    assert_eq!(requests.len() as u64, calls, "{requests:#?}\n{all}");
    for request in &requests {
        assert_eq!(request["accepted"], true, "{request}\n{all}");
        assert_eq!(
            request["tollgate_headers"],
            serde_json::json!([]),
            "{request}"
        );
    }

    // Findings name the call sites behind them, and paginator loops the line that started them.
    let output = tollgate_command(&scratch.join("tollgate-home"))
        .arg("report")
        .arg("--db")
        .arg(&db)
        .args(["--last", "--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).expect("report JSON");
    let site_of = |value: &Value| -> String {
        let text = value.as_str().unwrap_or_default();
        text.split_once(' ')
            .map_or(text, |(site, _)| site)
            .to_string()
    };
    for (operation, marker) in [
        ("ListObjectsV2", "paginator"),
        ("ListObjects", "collection"),
    ] {
        let started = report["loops"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["operation"] == operation)
            .unwrap_or_else(|| panic!("no {operation} loop: {report:#}"));
        assert_eq!(site_of(&started["callsite"]), at(marker), "{started:#}");
        let finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "small-pages" && f["evidence"]["operation"] == operation)
            .unwrap_or_else(|| panic!("no small-pages finding for {operation}: {report:#}"));
        let sites = &finding["evidence"]["callsites"];
        assert_eq!(sites.as_array().map(Vec::len), Some(1), "{finding:#}");
        assert_eq!(site_of(&sites[0]["callsite"]), at(marker), "{finding:#}");
        assert_eq!(sites[0]["calls"], puts / page, "{finding:#}");
    }

    // The full report shows the top call sites.
    let output = tollgate_command(&scratch.join("tollgate-home"))
        .arg("report")
        .arg("--db")
        .arg(&db)
        .arg("--last")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("call sites (most expensive first)"),
        "{table}"
    );
    assert!(table.contains(&format!("{} main", at("put"))), "{table}");
    assert!(
        table.contains("clients:") && table.contains("Boto3/"),
        "{table}"
    );
}

#[test]
fn each_pytest_test_gets_its_own_calls() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("history.db");
    let suite = "tests/e2e/callsites_pytest/test_callsites.py";
    let run = run_bounded(
        run_command(
            scratch,
            &db,
            &moto.url(),
            &python,
            &["-m", "pytest", "-q", "-p", "no:cacheprovider", suite],
        ),
        scratch,
        "pytest",
        RUN_LIMIT,
    );
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "{context}");
    assert!(run.stdout.contains("3 passed"), "{context}");

    let source = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(suite)).unwrap();
    let puts = constant(&source, "PUTS");
    let heads = constant(&source, "HEADS");
    let lists = constant(&source, "LISTS");
    let groups = groups_by(scratch, &db, "test");
    let found: BTreeMap<String, BTreeMap<String, u64>> = groups
        .iter()
        .map(|(label, group)| (label.clone(), operations(group)))
        .collect();
    let expected: BTreeMap<String, BTreeMap<String, u64>> = [
        ("test_puts", vec![("CreateBucket", 1), ("PutObject", puts)]),
        (
            "test_heads",
            vec![("CreateBucket", 1), ("PutObject", 1), ("HeadObject", heads)],
        ),
        (
            "test_listing",
            vec![("CreateBucket", 1), ("ListObjectsV2", lists)],
        ),
    ]
    .into_iter()
    .map(|(test, ops)| {
        (
            format!("{suite}::{test}"),
            ops.into_iter().map(|(op, n)| (op.to_string(), n)).collect(),
        )
    })
    .collect();
    assert_eq!(found, expected, "{groups:#?}\n{context}");
}

/// What a Python child of `tollgate run` sees: its PYTHONPATH, whether the user's own
/// `sitecustomize` ran, and its whole environment.
const PROBE: &str = r#"
import json, os, sys
print(json.dumps({
    "pythonpath": os.environ.get("PYTHONPATH"),
    "user_site_ran": os.environ.get("USER_SITE_RAN"),
    "user_module": getattr(sys.modules.get("sitecustomize"), "MARK", None),
    "env": dict(os.environ),
}))
"#;

fn probe(scratch: &Path, python: &Path, pythonpath: Option<&Path>, extra: &[&str]) -> Value {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .env_remove("PYTHONPATH")
        .env_remove("PYTEST_CURRENT_TEST")
        .args(["run", "--no-record", "-q"])
        .args(extra)
        .arg("--")
        .arg(python)
        .args(["-c", PROBE]);
    if let Some(path) = pythonpath {
        command.env("PYTHONPATH", path);
    }
    dummy_aws_env(&mut command, scratch);
    let output = command.output().expect("run the probe");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the probe's JSON")
}

#[test]
fn the_users_sitecustomize_and_pythonpath_are_kept_and_no_callsites_changes_nothing() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let user_site = scratch.join("user-site");
    std::fs::create_dir_all(&user_site).unwrap();
    std::fs::write(
        user_site.join("sitecustomize.py"),
        "import os\nos.environ['USER_SITE_RAN'] = 'yes'\nMARK = 'users'\n",
    )
    .unwrap();

    let with = probe(scratch, &python, Some(&user_site), &[]);
    let pythonpath = with["pythonpath"].as_str().expect("PYTHONPATH set");
    let (first, rest) = pythonpath.split_once(':').expect("two entries");
    assert_eq!(rest, user_site.to_str().unwrap(), "{with:#}");
    assert!(
        Path::new(first).join("sitecustomize.py").is_file(),
        "{with:#}"
    );
    assert_eq!(with["user_site_ran"], "yes", "{with:#}");
    assert_eq!(with["user_module"], "users", "{with:#}");

    // --no-callsites: the user's path as it was, and unset where it was unset.
    let without = probe(scratch, &python, Some(&user_site), &["--no-callsites"]);
    assert_eq!(without["pythonpath"], user_site.to_str().unwrap());
    assert_eq!(without["user_site_ran"], "yes");
    let unset = probe(scratch, &python, None, &["--no-callsites"]);
    assert_eq!(unset["pythonpath"], Value::Null, "{unset:#}");
    // Otherwise the same variables: only PYTHONPATH, and the Node preload's call-site switch,
    // differ (the proxy's port aside).
    let names = |probe: &Value| -> Vec<String> {
        probe["env"].as_object().unwrap().keys().cloned().collect()
    };
    let set = probe(scratch, &python, None, &[]);
    let mut expected = names(&unset);
    expected.push("PYTHONPATH".into());
    expected.push("TOLLGATE_NODE_CALLSITES".into());
    expected.sort();
    assert_eq!(names(&set), expected);
}

/// The bootstrap's own unit tests (`src/cli/test_sitecustomize.py`), with pytest.
#[test]
fn the_bootstraps_unit_tests_pass() {
    let python = python();
    let output = hermetic_command(&python)
        .current_dir(MANIFEST_DIR)
        .env_remove("PYTHONPATH")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg("src/cli/test_sitecustomize.py")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(" passed") && !stdout.contains("failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn aiobotocore_calls_name_the_coroutine_line_that_awaited_them() {
    let python = python();
    let aio_python = datastack_python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("history.db");
    let script = "tests/e2e/callsites_aio.py";
    let run = run_bounded(
        run_command(scratch, &db, &moto.url(), &aio_python, &[script]),
        scratch,
        "aio",
        RUN_LIMIT,
    );
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(
        run.status.success() && run.stdout.contains("aio: ok"),
        "{context}"
    );
    let source = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(script)).unwrap();
    let at = |name: &str| format!("{script}:{} main", marked_line(&source, name));
    let found: BTreeMap<String, BTreeMap<String, u64>> = groups_by(scratch, &db, "callsite")
        .iter()
        .map(|(label, group)| (label.clone(), operations(group)))
        .collect();
    let expected: BTreeMap<String, BTreeMap<String, u64>> = [
        (at("aio-create"), ("CreateBucket", 1)),
        (at("aio-put"), ("PutObject", constant(&source, "PUTS"))),
    ]
    .into_iter()
    .map(|(site, (op, n))| (site, [(op.to_string(), n)].into_iter().collect()))
    .collect();
    assert_eq!(found, expected, "{context}");
}
