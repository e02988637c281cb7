//! Findings whose savings are true (issue 24 items 1–3, issue 20 item 5), end to end: a real
//! boto3 workload (`tests/e2e/truth_workload.py`) runs under `tollgate run --db DB --upstream
//! MOTO` against a real moto server, and the findings of `tollgate report --last --format json`
//! are checked against what the workload counted itself:
//!
//! - `download_file` of a multi-part object (ranged GETs of distinct ranges) is not a
//!   repeated-calls finding; the same range read 5 times is, with those 5 calls only;
//! - 20 HEADs, then a listing of 5 other keys, is not head-per-key; a listing and then a HEAD
//!   of each listed key is, saving exactly those HEADs;
//! - 5 empty SQS receives get no "cache" advice but an empty-receives finding;
//! - no operation has more calls claimed by findings than the run made.
//!
//! Needs Python with boto3 and moto[server], as the other end-to-end tests (see `moto`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::common::tollgate_command;
use crate::moto::{python_with_moto as python, record_workload, run_bounded, u64_field, Moto};

const RUN_LIMIT: Duration = Duration::from_secs(120);
const CLI_LIMIT: Duration = Duration::from_secs(30);

/// S3 Standard Tier2: "$0.0004 per 1,000 GET, SELECT and all other requests" (HEAD too),
/// https://aws.amazon.com/s3/pricing/ (us-east-1).
const S3_TIER2: &str = "0.0000004";

fn report_json(scratch: &Path, db: &Path) -> Value {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args(["report", "--last", "--format", "json", "--db"])
        .arg(db)
        .current_dir(scratch);
    let run = run_bounded(command, scratch, "report", CLI_LIMIT);
    assert!(
        run.status.success(),
        "tollgate report failed\n{}",
        run.describe()
    );
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("the JSON report is not JSON ({error}):\n{}", run.stdout))
}

fn saved_calls(finding: &Value) -> u64 {
    finding["saving"]["calls"].as_u64().unwrap_or(0)
}

#[test]
fn findings_claim_only_the_calls_their_advice_removes() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("db/truth.db");
    let (truth, context) =
        record_workload(scratch, &db, &moto, &python, "truth_workload", RUN_LIMIT);
    let report = report_json(scratch, &db);
    let all = format!("report: {report:#}\nworkload: {truth:#}\n{context}");
    let bucket = |name: &str| {
        truth["buckets"][name]
            .as_str()
            .expect("a bucket")
            .to_string()
    };
    let size = |name: &str| u64_field(&truth["sizes"], name);
    let attempts = |key: &str| truth["attempts"][key].as_u64().unwrap_or(0);
    let findings: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings is a list")
        .iter()
        .collect();
    let by_id: BTreeMap<&str, &Value> = findings
        .iter()
        .map(|f| (f["id"].as_str().expect("an id"), *f))
        .collect();

    // The download's ranged GETs: distinct ranges, all of them (the workload's own count).
    let ranges: Vec<&str> = truth["ranges"]
        .as_array()
        .expect("ranges")
        .iter()
        .map(|r| r.as_str().unwrap_or("none"))
        .collect();
    let download_gets = u64_field(&truth, "download_gets") as usize;
    assert!(download_gets >= 6, "{all}");
    let distinct: BTreeSet<&str> = ranges[..download_gets].iter().copied().collect();
    assert_eq!(
        distinct.len(),
        download_gets,
        "the download's ranges differ\n{all}"
    );
    assert!(
        !distinct.contains("none"),
        "every download GET is ranged\n{all}"
    );

    // --- repeated-calls: the same range 5 times is a repeat; the download's ranges are not ---
    let dl = bucket("dl");
    let repeated = by_id
        .get(format!("repeated-calls:s3:GetObject:{dl}").as_str())
        .unwrap_or_else(|| panic!("no repeated-calls finding for the repeated range\n{all}"));
    let repeats = size("repeats");
    assert_eq!(
        u64_field(&repeated["evidence"], "calls"),
        repeats,
        "only the same-range GETs are identical, never the download's\n{all}"
    );
    assert_eq!(saved_calls(repeated), repeats - 1, "{all}");
    assert!(
        repeated["title"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("{repeats} identical GetObject"))),
        "{all}"
    );

    // --- head-per-key: HEADs before a listing of other keys are not; HEADs of listed keys are ---
    let early = bucket("early");
    assert!(
        !by_id.contains_key(format!("head-per-key:s3:HeadObject:{early}").as_str()),
        "20 HEADs before a listing of 5 other keys are not a HEAD per listed key\n{all}"
    );
    let listed = bucket("listed");
    let head = by_id
        .get(format!("head-per-key:s3:HeadObject:{listed}").as_str())
        .unwrap_or_else(|| panic!("no head-per-key finding for the listed keys\n{all}"));
    let heads = size("listed");
    assert_eq!(u64_field(&head["evidence"], "calls"), heads, "{all}");
    assert_eq!(saved_calls(head), heads, "{all}");
    let usd: Decimal = head["saving"]["usd"]
        .as_str()
        .expect("a saving in dollars")
        .parse()
        .expect("a decimal");
    assert_eq!(
        usd,
        Decimal::from_str_exact(S3_TIER2).unwrap() * Decimal::from(heads),
        "{all}"
    );

    // --- receives: never "cache", the empty answers instead ---
    let receives = size("receives");
    for finding in &findings {
        if finding["evidence"]["operation"] == "ReceiveMessage" {
            assert_ne!(finding["rule"], "repeated-calls", "{all}");
            assert!(
                !finding["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("cache the answer")),
                "{all}"
            );
        }
    }
    let empty = findings
        .iter()
        .find(|f| f["rule"] == "empty-receives")
        .unwrap_or_else(|| panic!("no empty-receives finding\n{all}"));
    assert_eq!(empty["evidence"]["operation"], "ReceiveMessage", "{all}");
    assert_eq!(u64_field(&empty["evidence"], "calls"), receives, "{all}");
    assert!(
        empty["detail"]
            .as_str()
            .is_some_and(|d| d.contains("WaitTimeSeconds=20")),
        "{all}"
    );
    // Long polling leaves at most one empty answer per 20 s of the receives' span.
    let span = truth["receive_span_s"].as_f64().expect("a span");
    let left = (span / 20.0).floor() as u64 + 1;
    assert_eq!(saved_calls(empty), receives - left, "{all}");

    // --- no operation has more calls claimed than the run made ---
    let mut claimed: BTreeMap<String, u64> = BTreeMap::new();
    for finding in &findings {
        if finding["rule"] == "implied-costs" {
            continue;
        }
        let evidence = &finding["evidence"];
        let key = format!(
            "{} {}",
            evidence["service"].as_str().unwrap_or(""),
            evidence["operation"].as_str().unwrap_or("")
        );
        *claimed.entry(key).or_default() += saved_calls(finding);
    }
    for (key, calls) in &claimed {
        // The workload counts by endpoint prefix, which is the service's name for these.
        let made = attempts(key);
        assert!(
            *calls <= made,
            "{key}: findings claim {calls} calls, the run made {made}\n{all}"
        );
    }
}
