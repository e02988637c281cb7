//! Issue 15: the weekly report over ten weeks of runs written through the store's own write path
//! (a real SQLite file, runs with chosen start times), read back by the real `tollgate weekly`
//! process, and checked against the test's own computation: each week's totals, the change from
//! the week before, the injected change (DynamoDB Query calls triple in the sixth week shown),
//! an empty week, and the anomaly (S3 spends ten times its usual in the last week).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rust_decimal::Decimal;
use serde_json::Value;
use tollgate::record::{Call, RunEnd, RunMeta};
use tollgate::store::{self, Batch};

use crate::common::tollgate_command;
use crate::html::{browser, chromium, console_messages, png_size, BROWSER_LIMIT};
use crate::moto::run_bounded;

/// Monday 2026-09-28 00:00 UTC, the start of 2026-W40.
const W40_US: i64 = 1_790_553_600_000_000;
const WEEK_US: i64 = 7 * 86_400_000_000;

#[derive(Default, Clone)]
struct Expected {
    runs: u64,
    calls: u64,
    cost: Decimal,
    by_service: BTreeMap<String, Decimal>,
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// One run's calls: `gets` S3 GetObjects, `puts` S3 PutObjects, `queries` DynamoDB Queries.
fn calls_of(at_us: i64, gets: u64, puts: u64, queries: u64) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut add = |service: &str, operation: &str, n: u64, each: &str| {
        for i in 0..n {
            let mut call = Call::sample(service, operation).at_us(at_us + i as i64 * 1000);
            call.cost = dec(each);
            calls.push(call);
        }
    };
    add("s3", "GetObject", gets, "0.0000004");
    add("s3", "PutObject", puts, "0.000005");
    add("dynamodb", "Query", queries, "0.000000125");
    calls
}

#[test]
fn the_weekly_report_matches_an_independent_computation_of_ten_weeks() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let db = scratch.join("weekly.db");

    // W40..W49: two weeks of history before the eight shown (W42..W49); W44 has no runs.
    let mut expected: Vec<Expected> = vec![Expected::default(); 10];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = store::open(Some(&db)).await.expect("a new database");
        for (week, e) in expected.iter_mut().enumerate() {
            if week == 4 {
                continue;
            }
            // Three runs a week, the last week four (CI ran more often).
            let runs = if week == 9 { 4 } else { 3 };
            for run in 0..runs {
                let at = W40_US + week as i64 * WEEK_US + (run as i64 + 1) * 86_400_000_000;
                // The sixth week shown (W47, index 7): Query calls triple. The last week: S3
                // PutObjects ten times their usual.
                let queries = if week >= 7 { 90 } else { 30 };
                let puts = if week == 9 { 200 } else { 20 };
                let calls = calls_of(at, 100, puts, queries);
                let mut meta = RunMeta::new("run");
                meta.started_at = SystemTime::UNIX_EPOCH + Duration::from_micros(at as u64);
                meta.command = vec!["pytest".into()];
                let id = store.begin_run(&meta).await.unwrap();
                let processes = vec![None; calls.len()];
                store
                    .write_batch(
                        id,
                        Batch {
                            calls: &calls,
                            processes: &processes,
                            loops: &[],
                        },
                    )
                    .await
                    .unwrap();
                store.end_run(id, &RunEnd::default()).await.unwrap();
                e.runs += 1;
                e.calls += calls.len() as u64;
                for call in &calls {
                    e.cost += call.cost;
                    *e.by_service.entry(call.service.clone()).or_default() += call.cost;
                }
            }
        }
        store.close().await;
    });

    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args([
            "weekly",
            "--week",
            "2026-W49",
            "--weeks",
            "8",
            "--by",
            "service",
            "--format",
            "json",
            "--anomaly-min-usd",
            "0.0005",
            "--db",
        ])
        .arg(&db)
        .current_dir(scratch);
    let run = run_bounded(command, scratch, "weekly", Duration::from_secs(60));
    assert!(run.status.success(), "{}", run.describe());
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let all = format!("{report:#}");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/weekly-v1.schema.json"),
        )
        .expect("the weekly schema"),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{all}");

    let weeks = report["weeks"].as_array().expect("weeks");
    let names: Vec<&str> = weeks.iter().map(|w| w["week"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "2026-W42", "2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48",
            "2026-W49"
        ],
        "eight weeks, the empty one included\n{all}"
    );
    let money = |v: &Value| dec(v.as_str().unwrap_or_else(|| panic!("money: {v}")));
    for (shown, week) in weeks.iter().enumerate() {
        let index = shown + 2;
        let want = &expected[index];
        let name = &names[shown];
        assert_eq!(week["runs"], want.runs, "{name} runs\n{all}");
        assert_eq!(week["calls"], want.calls, "{name} calls\n{all}");
        assert_eq!(money(&week["cost_usd"]), want.cost, "{name} cost\n{all}");
        if shown == 0 {
            assert!(week["change"].is_null(), "{all}");
            continue;
        }
        let before = &expected[index - 1];
        let change = &week["change"];
        assert_eq!(
            change["calls"].as_i64().unwrap(),
            want.calls as i64 - before.calls as i64,
            "{name} calls change\n{all}"
        );
        assert_eq!(
            money(&change["cost_usd"]),
            want.cost - before.cost,
            "{name}\n{all}"
        );
        assert_eq!(
            change["runs"].as_i64().unwrap(),
            want.runs as i64 - before.runs as i64,
            "{all}"
        );
    }
    // The tripled Query calls: DynamoDB moves up in W47, by exactly 3 runs × 60 Queries.
    let w47 = &weeks[5];
    let dynamo_up = w47["movers_up"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "dynamodb")
        .unwrap_or_else(|| panic!("DynamoDB moved up in W47\n{all}"));
    assert_eq!(dynamo_up["calls_before"], 90);
    assert_eq!(dynamo_up["calls_after"], 270);
    assert_eq!(
        money(&dynamo_up["change_usd"]),
        dec("0.000000125") * Decimal::from(180),
        "{all}"
    );
    // The anomaly: only S3 in W49, and flagged on its group too. (DynamoDB's tripled calls
    // cost $0.00002 more a week: under the $0.0005 floor.)
    for (shown, week) in weeks.iter().enumerate() {
        let flagged: Vec<&str> = week["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["key"].as_str().unwrap())
            .collect();
        if shown == 7 {
            assert_eq!(flagged, ["s3"], "{all}");
            let s3 = week["groups"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["key"] == "s3")
                .unwrap();
            assert_eq!(s3["anomaly"], true, "{all}");
            assert_eq!(
                money(&s3["cost_usd"]),
                expected[9].by_service["s3"],
                "{all}"
            );
        } else {
            assert!(flagged.is_empty(), "{} {flagged:?}\n{all}", names[shown]);
        }
    }
    // Four runs instead of three: the change says the runs grew as well as the cost per run.
    let last = &weeks[7]["change"];
    assert_eq!(last["runs"], 1, "{all}");
    let per_run_before = expected[8].cost / Decimal::from(expected[8].runs);
    let per_run_after = expected[9].cost / Decimal::from(expected[9].runs);
    let want = ((per_run_after - per_run_before) * Decimal::from(100) / per_run_before).round_dp(1);
    assert_eq!(
        dec(last["cost_per_run_percent"].as_str().unwrap()),
        want,
        "{all}"
    );

    // The same weeks as one HTML page, in a real headless Chromium.
    let Some(chromium) = chromium() else {
        return;
    };
    let page = scratch.join("weekly.html");
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args([
            "weekly", "--week", "2026-W49", "--weeks", "8", "--format", "html",
        ])
        .args(["--anomaly-min-usd", "0.0005", "-o"])
        .arg(&page)
        .arg("--db")
        .arg(&db)
        .current_dir(scratch);
    let run = run_bounded(command, scratch, "weekly-html", Duration::from_secs(60));
    assert!(run.status.success(), "{}", run.describe());
    let url = format!("file://{}", page.display());
    let mut load = browser(&chromium, scratch, "profile-weekly");
    load.arg("--dump-dom").arg(&url);
    let loaded = run_bounded(load, scratch, "weekly-dom", BROWSER_LIMIT);
    assert!(loaded.status.success(), "{}", loaded.describe());
    let console = console_messages(&loaded.stderr);
    assert!(
        console.is_empty(),
        "the page logged:\n{}",
        console.join("\n")
    );
    let dom = &loaded.stdout;
    let chart = |id: &str| -> &str {
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no chart {id}\n{dom}"));
        let end = dom[start..].find("</figure>").expect("the chart ends") + start;
        &dom[start..end]
    };
    // Stacked cost: one segment per service with a cost, per week with runs (7 weeks, 2 services).
    assert_eq!(
        chart("chart-cost-by-service").matches("data-week=").count(),
        14,
        "{dom}"
    );
    for (shown, name) in names.iter().enumerate() {
        let s3 = format!("data-week=\"{name}\" data-service=\"s3\" data-usd=\"");
        let segment = chart("chart-cost-by-service").find(&s3);
        match expected[shown + 2].by_service.get("s3") {
            Some(cost) => {
                let at = segment.unwrap_or_else(|| panic!("no s3 segment for {name}")) + s3.len();
                let drawn = &chart("chart-cost-by-service")[at..];
                let drawn = &drawn[..drawn.find('"').unwrap()];
                assert_eq!(dec(drawn), *cost, "{name}");
            }
            None => assert!(segment.is_none(), "{name} had no runs"),
        }
    }
    // Calls: a point per week (8) for each of the three operations.
    assert_eq!(chart("chart-calls").matches("<circle").count(), 24, "{dom}");
    // Cost per run: a point per week with runs.
    assert_eq!(
        chart("chart-per-run").matches("<circle").count(),
        7,
        "{dom}"
    );
    assert!(chart("chart-movers").contains("data-key=\"s3\""), "{dom}");
    for outside in ["src=", "<link", "url(", "@import", "<script"] {
        assert!(!dom.contains(outside), "{outside} in the page");
    }
    // A screenshot, kept as the test's artifact.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("weekly-report.png");
    let _ = std::fs::remove_file(&png);
    let mut shoot = browser(&chromium, scratch, "profile-weekly-shot");
    shoot
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1100,1800")
        .arg(&url);
    let shot = run_bounded(shoot, scratch, "weekly-shot", BROWSER_LIMIT);
    assert!(shot.status.success(), "{}", shot.describe());
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert_eq!(png_size(&bytes), Some((1100, 1800)));
    assert!(bytes.len() > 30_000, "a blank page? {} bytes", bytes.len());
}
