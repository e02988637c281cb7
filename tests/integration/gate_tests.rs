//! Issue 21, items 6 and 7: the CI gate per test and per call site, end to end. A pytest suite
//! (`tests/e2e/gate_pytest`) of real boto3 against a real moto server runs under the real
//! `tollgate run --upstream` (its Python bootstrap names each call's line and test), once as the
//! baseline and once with one test grown (a HEAD per key, made at a marked line of `sync.py`).
//! `tollgate gate` must fail, name the test that grew with its exact extra calls and cost, and
//! name the line that made them, in its table, JSON, Markdown and GitHub annotations; and a
//! baseline saved before tollgate kept per-test figures still gates, per operation.

use std::path::Path;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::common::{tollgate_command, workload_constant as constant};
use crate::moto::{
    dummy_aws_env, python_with_moto as python, run_bounded, Finished, Moto, MANIFEST_DIR,
};

const RUN_LIMIT: Duration = Duration::from_secs(180);
const CLI_LIMIT: Duration = Duration::from_secs(30);
const SUITE: &str = "tests/e2e/gate_pytest";
/// HeadObject is an S3 Tier 2 request (pricing/s3.toml, aws.amazon.com/s3/pricing/).
const TIER2: &str = "0.0000004";

/// Runs the suite in `variant` under `tollgate run --db DB --upstream MOTO`, from the
/// repository's root.
fn record(scratch: &Path, db: &Path, moto: &Moto, variant: &str) {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .current_dir(MANIFEST_DIR)
        .env_remove("PYTHONPATH")
        .env_remove("PYTEST_CURRENT_TEST")
        .env("TOLLGATE_GATE_VARIANT", variant)
        .arg("run")
        .arg("--db")
        .arg(db)
        .args(["--upstream", &moto.url(), "-q", "--"])
        .arg(python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", SUITE]);
    dummy_aws_env(&mut command, scratch);
    let run = run_bounded(command, scratch, variant, RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(
        run.status.success(),
        "the {variant} suite failed\n{context}"
    );
    assert!(run.stdout.contains("3 passed"), "{context}");
}

/// `tollgate ARGS --db DB` in `scratch` (no tollgate.toml there: the default thresholds).
fn tollgate(scratch: &Path, db: &Path, name: &str, args: &[&str]) -> Finished {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command.args(args).arg("--db").arg(db).current_dir(scratch);
    run_bounded(command, scratch, name, CLI_LIMIT)
}

fn gate(scratch: &Path, db: &Path, baseline: &str, format: &str) -> Finished {
    tollgate(
        scratch,
        db,
        &format!("gate-{format}"),
        &["gate", "--baseline", baseline, "--last", "--format", format],
    )
}

fn schema_accepts(schema: &str, value: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(MANIFEST_DIR).join(schema)).expect("the schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema:#} rejects it: {errors:#?}\n{value:#}"
    );
}

/// `{"operation": calls}` of one test in a baseline.
fn test_calls(baseline: &Value, test: &str) -> std::collections::BTreeMap<String, u64> {
    baseline["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["test"] == test)
        .unwrap_or_else(|| panic!("no test {test} in {baseline:#}"))["operations"]
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

#[test]
fn the_gate_names_the_test_and_the_line_of_each_grown_operation() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("ci.db");
    let tests_file = format!("{SUITE}/test_sync.py");
    let tests_source = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(&tests_file)).unwrap();
    let keys = constant(&tests_source, "KEYS");
    let puts = constant(&tests_source, "PUTS");
    let lists = constant(&tests_source, "LISTS");
    let sync_source =
        std::fs::read_to_string(Path::new(MANIFEST_DIR).join(SUITE).join("sync.py")).unwrap();
    let head_line = sync_source
        .lines()
        .position(|line| line.trim_end().ends_with("# callsite: head"))
        .expect("the marked line")
        + 1;
    let site = format!("{SUITE}/sync.py:{head_line} copy_all");
    let shown_site = format!("{SUITE}/sync.py:{head_line} in copy_all");
    let copy_all = format!("{tests_file}::test_copy_all");

    // The baseline, with each test's calls.
    record(scratch, &db, &moto, "base");
    let saved = tollgate(
        scratch,
        &db,
        "save",
        &["baseline", "save", "--last", "-o", "baseline.json"],
    );
    assert_eq!(saved.status.code(), Some(0), "{}", saved.describe());
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.join("baseline.json")).unwrap())
            .expect("the baseline is JSON");
    schema_accepts("schemas/baseline-v1.schema.json", &baseline);
    let expect = |ops: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
        ops.iter().map(|(op, n)| (op.to_string(), *n)).collect()
    };
    assert_eq!(
        test_calls(&baseline, &copy_all),
        expect(&[
            ("CreateBucket", 1),
            ("PutObject", keys),
            ("ListObjectsV2", 1)
        ]),
        "{baseline:#}"
    );
    assert_eq!(
        test_calls(&baseline, &format!("{tests_file}::test_puts")),
        expect(&[("CreateBucket", 1), ("PutObject", puts)]),
        "{baseline:#}"
    );
    assert_eq!(
        test_calls(&baseline, &format!("{tests_file}::test_listing")),
        expect(&[("CreateBucket", 1), ("ListObjectsV2", lists)]),
        "{baseline:#}"
    );
    assert_eq!(
        baseline["tests"].as_array().unwrap().len(),
        3,
        "{baseline:#}"
    );
    // Each operation keeps where it was called: PutObject from two lines.
    let put = baseline["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["operation"] == "PutObject")
        .expect("PutObject");
    let put_sites: Vec<u64> = put["callsites"]
        .as_array()
        .expect("callsites")
        .iter()
        .map(|s| s["calls"].as_u64().unwrap())
        .collect();
    assert_eq!(put_sites, vec![keys, puts], "{put:#}");

    // The same suite: a pass, no test changed.
    record(scratch, &db, &moto, "base");
    let same = gate(scratch, &db, "baseline.json", "json");
    assert_eq!(same.status.code(), Some(0), "{}", same.describe());
    let same: Value = serde_json::from_str(&same.stdout).expect("gate JSON");
    assert_eq!(same["verdict"], "pass", "{same:#}");
    assert_eq!(same["tests"], serde_json::json!([]), "{same:#}");

    // One test grows: a HEAD per key in copy_all.
    record(scratch, &db, &moto, "grown");
    let json = gate(scratch, &db, "baseline.json", "json");
    assert_eq!(json.status.code(), Some(1), "{}", json.describe());
    let outcome: Value = serde_json::from_str(&json.stdout).expect("gate JSON");
    schema_accepts("schemas/gate-v1.schema.json", &outcome);
    assert_eq!(outcome["verdict"], "fail", "{outcome:#}");
    let head = outcome["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["operation"] == "HeadObject")
        .unwrap_or_else(|| panic!("no HeadObject change: {outcome:#}"));
    assert_eq!(head["verdict"], "fail", "{head:#}");
    assert_eq!(
        head["callsites"],
        serde_json::json!([{"callsite": site, "calls": keys.to_string()}]),
        "{head:#}"
    );
    // Exactly one test changed, on one operation, by exactly its HEADs.
    let tests = outcome["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 1, "{outcome:#}");
    let grown = &tests[0];
    assert_eq!(grown["test"], copy_all.as_str(), "{grown:#}");
    assert_eq!(grown["operation"], "HeadObject", "{grown:#}");
    assert_eq!(grown["verdict"], "fail", "{grown:#}");
    assert_eq!(grown["new"], true, "{grown:#}");
    assert_eq!(grown["calls_before"], "0", "{grown:#}");
    assert_eq!(grown["calls_after"], keys.to_string(), "{grown:#}");
    let extra_usd = Decimal::from(keys) * TIER2.parse::<Decimal>().unwrap();
    assert_eq!(
        grown["usd_after"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        extra_usd,
        "{grown:#}"
    );
    assert_eq!(
        grown["callsites"],
        serde_json::json!([{"callsite": site, "calls": keys.to_string()}]),
        "{grown:#}"
    );

    // The failure message, the PR comment and the annotations name the test and the line:
    // `<test>: +40 HeadObject, +$0.000016 a run (new), at <file>:<line> in copy_all`.
    let is_test_line = |line: &str, test: &str, site: &str, dollar: &str| {
        line.contains(&format!("{test}: +{keys} HeadObject, +{dollar}"))
            && line.ends_with(&format!(" a run (new), {site}"))
    };
    let table = gate(scratch, &db, "baseline.json", "table");
    assert_eq!(table.status.code(), Some(1), "{}", table.describe());
    let headline = table.stdout.lines().next().unwrap_or_default();
    assert!(
        headline.starts_with("FAIL")
            && headline.contains(&format!("at {shown_site}"))
            && headline.contains(&format!("test {copy_all}: +{keys} HeadObject a run")),
        "{}",
        table.stdout
    );
    let at_site = format!("at {shown_site}");
    assert!(
        table.stdout.lines().any(
            |l| l.trim_start().starts_with("fail") && is_test_line(l, &copy_all, &at_site, "$")
        ),
        "{}",
        table.stdout
    );

    let markdown = gate(scratch, &db, "baseline.json", "markdown");
    let md_site = format!("at `{SUITE}/sync.py:{head_line}` in `copy_all`");
    assert!(
        markdown.stdout.lines().any(|l| l.starts_with("- fail ")
            && is_test_line(l, &format!("`{copy_all}`"), &md_site, "\\$")),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown
            .stdout
            .contains(&format!("- s3 HeadObject: {md_site}\n")),
        "{}",
        markdown.stdout
    );

    let github = gate(scratch, &db, "baseline.json", "github");
    let annotations: Vec<&str> = github
        .stdout
        .lines()
        .filter(|l| l.starts_with("::"))
        .collect();
    assert!(
        annotations.iter().any(
            |l| l.starts_with("::error title=tollgate::s3 HeadObject: 0 → ")
                && l.contains(&format!("; {at_site}"))
        ),
        "{annotations:#?}"
    );
    assert!(
        annotations
            .iter()
            .any(|l| l.starts_with("::error title=tollgate::")
                && is_test_line(l, &copy_all, &at_site, "$")),
        "{annotations:#?}"
    );

    // A baseline saved before tollgate kept tests and call sites still gates, per operation.
    let mut old = baseline.clone();
    old.as_object_mut().unwrap().remove("tests");
    for op in old["operations"].as_array_mut().unwrap() {
        op.as_object_mut().unwrap().remove("callsites");
    }
    std::fs::write(
        scratch.join("old.json"),
        serde_json::to_string(&old).unwrap(),
    )
    .unwrap();
    let older = gate(scratch, &db, "old.json", "json");
    assert_eq!(older.status.code(), Some(1), "{}", older.describe());
    let older: Value = serde_json::from_str(&older.stdout).expect("gate JSON");
    assert_eq!(older["tests"], serde_json::json!([]), "{older:#}");
    assert!(
        older["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op["operation"] == "HeadObject" && op["callsites"][0]["callsite"] == site),
        "{older:#}"
    );
}
