//! Issue 13 (#15): one definition of a re-listing (the same client reads the same listing, same
//! non-token parameters, from its first page again, within a run) and of a repeated call (the
//! same call again within a run), whether the listing is re-run inside one run or the command is
//! run again. Real boto3 against a real moto server through the real proxy, real SQLite files.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::tollgate_command;
use crate::moto::{python_with_moto as python, run_bounded, tollgate_record, Moto, MANIFEST_DIR};

const RUN_LIMIT: Duration = Duration::from_secs(100);
const CLI_LIMIT: Duration = Duration::from_secs(30);

/// `python relisting_workload.py BUCKET LISTINGS CHECKS` under `tollgate run`, recorded in `db`.
fn record(scratch: &Path, db: &Path, moto: &Moto, name: &str, listings: u32, checks: u32) {
    let script = Path::new(MANIFEST_DIR).join("tests/e2e/relisting_workload.py");
    let (listings, checks) = (listings.to_string(), checks.to_string());
    let command = tollgate_record(
        scratch,
        db,
        &moto.url(),
        &python(),
        [
            script.as_os_str(),
            "relisted".as_ref(),
            listings.as_ref(),
            checks.as_ref(),
        ],
    );
    let run = run_bounded(command, scratch, name, RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "the workload failed\n{context}");
    assert!(run.stdout.contains("relisting_workload: ok"), "{context}");
}

/// `tollgate report --since 1d --format json` over every run in `db`.
fn report_of_all_runs(scratch: &Path, db: &Path, name: &str) -> Value {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args(["report", "--since", "1d", "--format", "json", "--db"])
        .arg(db)
        .current_dir(scratch);
    let run = run_bounded(command, scratch, name, CLI_LIMIT);
    assert!(run.status.success(), "report failed\n{}", run.describe());
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.stdout))
}

fn finding<'a>(report: &'a Value, rule: &str, operation: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == rule && f["evidence"]["operation"] == operation)
}

#[test]
fn a_relisting_and_a_repeat_are_defined_within_a_run_whether_rerun_inside_it_or_run_again() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);

    // One run that lists the bucket twice from its start and asks STS five times.
    let inside = scratch.join("inside/t.db");
    record(scratch, &inside, &moto, "inside", 2, 5);
    let report = report_of_all_runs(scratch, &inside, "inside-report");
    let all = format!("{report:#}");
    let totals = &report["loop_totals"];
    assert_eq!(totals["loops"], 2, "{all}");
    assert_eq!(
        totals["relistings"], 1,
        "the second listing re-reads the first\n{all}"
    );
    let repeated = finding(&report, "repeated-calls", "GetCallerIdentity")
        .unwrap_or_else(|| panic!("five identical calls in one run are repeats\n{all}"));
    assert_eq!(repeated["saving"]["calls"], 4, "{all}");

    // The same command run five times, one listing and one STS call each: five clients' first
    // reads, so neither a re-listing nor a repeated call, in the report of all five runs.
    let again = scratch.join("again/t.db");
    for i in 0..5 {
        record(scratch, &again, &moto, &format!("again-{i}"), 1, 1);
    }
    let report = report_of_all_runs(scratch, &again, "again-report");
    let all = format!("{report:#}");
    assert_eq!(report["runs"].as_array().map(Vec::len), Some(5), "{all}");
    let totals = &report["loop_totals"];
    assert_eq!(totals["loops"], 5, "{all}");
    assert_eq!(totals["relistings"], 0, "{all}");
    for operation in ["GetCallerIdentity", "ListObjectsV2", "ListBuckets"] {
        assert!(
            finding(&report, "repeated-calls", operation).is_none(),
            "one {operation} per run is not a repeat\n{all}"
        );
    }
}
