//! Issue 14: the CI cost gate end to end. Real boto3 against a real moto server through the real
//! proxy (`tollgate run --upstream`), a real SQLite file, the real `tollgate baseline save` and
//! `tollgate gate` processes: a baseline of a suite, then one variant per way a pull request
//! changes what the suite costs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::common::tollgate_command;
use crate::moto::{
    python_with_moto as python, read_json, run_bounded, tollgate_record, Finished, Moto,
    MANIFEST_DIR,
};

const RUN_LIMIT: Duration = Duration::from_secs(120);
const CLI_LIMIT: Duration = Duration::from_secs(30);

/// Records one variant of the suite; returns what botocore sent, per "service Operation".
fn record(scratch: &Path, db: &Path, moto: &Moto, variant: &str) -> BTreeMap<String, u64> {
    let script = Path::new(MANIFEST_DIR).join("tests/e2e/gate_workload.py");
    let out = scratch.join(format!("{variant}.json"));
    let command = tollgate_record(
        scratch,
        db,
        &moto.url(),
        &python(),
        [script.as_os_str(), variant.as_ref(), out.as_os_str()],
    );
    let run = run_bounded(command, scratch, variant, RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(
        run.status.success(),
        "the {variant} suite failed\n{context}"
    );
    let truth = read_json(&out, &context);
    truth["sent"]
        .as_object()
        .expect("sent")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

/// `tollgate ARGS --db DB` in `scratch` (where no tollgate.toml is: the default thresholds).
fn tollgate(
    scratch: &Path,
    db: &Path,
    name: &str,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Finished {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command.args(args).arg("--db").arg(db).current_dir(scratch);
    for (key, value) in env {
        command.env(key, value);
    }
    run_bounded(command, scratch, name, CLI_LIMIT)
}

fn gate(scratch: &Path, db: &Path, name: &str, format: &str) -> Finished {
    tollgate(
        scratch,
        db,
        name,
        &[
            "gate",
            "--baseline",
            "baseline.json",
            "--last",
            "--format",
            format,
        ],
        &[],
    )
}

fn code(run: &Finished) -> Option<i32> {
    run.status.code()
}

fn dec(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a decimal"))
}

/// Published request prices (pricing/s3.toml, aws.amazon.com/s3/pricing/): HeadObject is a
/// Tier2 request, ListObjectsV2 a Tier1 request.
const TIER1: &str = "0.000005";
const TIER2: &str = "0.0000004";

#[test]
fn the_gate_fails_a_suite_whose_api_cost_grew_and_passes_one_that_did_not() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("ci.db");

    // The baseline, as CI on the main branch would save it.
    let base = record(scratch, &db, &moto, "base");
    let saved = tollgate(
        scratch,
        &db,
        "save",
        &["baseline", "save", "--last", "-o", "baseline.json"],
        &[],
    );
    assert_eq!(code(&saved), Some(0), "{}", saved.describe());
    let baseline: Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.join("baseline.json")).expect("the baseline file"),
    )
    .expect("the baseline is JSON");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(MANIFEST_DIR).join("schemas/baseline-v1.schema.json"))
            .expect("the schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&baseline)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{baseline:#}");
    let ops: BTreeMap<String, u64> = baseline["operations"]
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
        .collect();
    assert_eq!(
        ops, base,
        "the baseline holds every call botocore sent, per operation"
    );

    // (a) The same suite: pass.
    record(scratch, &db, &moto, "same");
    let same = gate(scratch, &db, "gate-same", "markdown");
    assert_eq!(code(&same), Some(0), "{}", same.describe());
    assert!(
        same.stdout.starts_with("<!-- tollgate -->"),
        "{}",
        same.stdout
    );
    assert!(same.stdout.contains("PASS"), "{}", same.stdout);

    // (b) A HeadObject per listed key: fail, naming HeadObject, its calls and its cost exactly.
    let head = record(scratch, &db, &moto, "head");
    let heads = head["s3 HeadObject"];
    assert_eq!(heads, 500);
    let summary = scratch.join("step-summary.md");
    let failed = tollgate(
        scratch,
        &db,
        "gate-head",
        &[
            "gate",
            "--baseline",
            "baseline.json",
            "--last",
            "--format",
            "markdown",
        ],
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    assert_eq!(code(&failed), Some(1), "{}", failed.describe());
    let extra = dec(TIER2) * Decimal::from(heads);
    let row = failed
        .stdout
        .lines()
        .find(|line| line.starts_with("| fail | s3 HeadObject"))
        .unwrap_or_else(|| panic!("no HeadObject row\n{}", failed.stdout));
    assert!(
        row.contains("| fail | s3 HeadObject (new) | 0 | 500 | \\$0.00 | \\$0.0002 |"),
        "calls 0 → {heads}, cost $0 → ${extra}\n{}",
        failed.stdout
    );
    assert!(failed.stdout.contains("FAIL"), "{}", failed.stdout);
    assert!(failed.stdout.contains("HeadObject"), "{}", failed.stdout);
    let headline = failed.stdout.lines().nth(3).unwrap_or_default();
    assert!(
        headline.contains("s3 HeadObject: 0 → 500 calls a run, \\$0.00 → \\$0.0002 a run"),
        "the headline leads with the biggest regression\n{}",
        failed.stdout
    );
    assert!(
        headline.contains("finding: 500 HeadObject"),
        "{}",
        failed.stdout
    );
    let written = std::fs::read_to_string(&summary).expect("$GITHUB_STEP_SUMMARY written");
    assert_eq!(
        written, failed.stdout,
        "the step summary gets the same Markdown"
    );
    let json = gate(scratch, &db, "gate-head-json", "json");
    assert_eq!(code(&json), Some(1), "{}", json.describe());
    let json: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(MANIFEST_DIR).join("schemas/gate-v1.schema.json"))
            .expect("the gate's schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{json:#}");
    let op = json["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["operation"] == "HeadObject")
        .expect("HeadObject in the JSON");
    assert_eq!(op["verdict"], "fail");
    assert_eq!(dec(op["calls_after"].as_str().unwrap()), Decimal::from(500));
    assert_eq!(dec(op["usd_after"].as_str().unwrap()), extra);
    let annotations = gate(scratch, &db, "gate-head-github", "github");
    assert_eq!(code(&annotations), Some(1));
    assert!(
        annotations
            .stdout
            .lines()
            .any(|l| l.starts_with("::error title=tollgate::s3 HeadObject: 0 → 500 calls a run")),
        "{}",
        annotations.stdout
    );

    // (c) Pages ten times smaller: fail, naming the listing and the small-pages finding.
    let small = record(scratch, &db, &moto, "small-pages");
    let small_gate = gate(scratch, &db, "gate-small", "markdown");
    assert_eq!(code(&small_gate), Some(1), "{}", small_gate.describe());
    let lists = small["s3 ListObjectsV2"];
    assert_eq!(lists, 10, "two listings of five pages");
    let extra = dec(TIER1) * Decimal::from(lists - base["s3 ListObjectsV2"]);
    assert!(
        small_gate
            .stdout
            .contains("| fail | s3 ListObjectsV2 | 2 | 10 | \\$0.00"),
        "ListObjectsV2 2 → 10 calls (+${extra} a run)\n{}",
        small_gate.stdout
    );
    assert!(
        small_gate.stdout.contains("MaxKeys=100"),
        "the small-pages finding is named\n{}",
        small_gate.stdout
    );

    // (d) 3 % more calls: within the default thresholds.
    record(scratch, &db, &moto, "noisy");
    let noisy = gate(scratch, &db, "gate-noisy", "table");
    assert_eq!(code(&noisy), Some(0), "{}", noisy.describe());

    // (e) Cheaper: pass, and says so.
    record(scratch, &db, &moto, "cheaper");
    let cheaper = gate(scratch, &db, "gate-cheaper", "table");
    assert_eq!(code(&cheaper), Some(0), "{}", cheaper.describe());
    assert!(cheaper.stdout.starts_with("PASS"), "{}", cheaper.stdout);
    assert!(cheaper.stdout.contains("cheaper"), "{}", cheaper.stdout);

    // (f) No usable baseline: exit 2 with what to do.
    let text = std::fs::read_to_string(scratch.join("baseline.json")).unwrap();
    std::fs::write(scratch.join("truncated.json"), &text[..text.len() / 2]).unwrap();
    std::fs::write(
        scratch.join("future.json"),
        text.replace("\"tollgate_baseline\": 1", "\"tollgate_baseline\": 9"),
    )
    .unwrap();
    for (file, says) in [
        (
            "missing.json",
            "tollgate baseline save --last -o missing.json",
        ),
        ("truncated.json", "truncated"),
        ("future.json", "version 9"),
    ] {
        let run = tollgate(
            scratch,
            &db,
            &format!("gate-{file}"),
            &["gate", "--baseline", file, "--last"],
            &[],
        );
        assert_eq!(code(&run), Some(2), "{file}\n{}", run.describe());
        assert!(run.stderr.contains(says), "{file}: {}", run.stderr);
    }
}
