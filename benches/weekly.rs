//! The weekly report over a big history: `cargo bench --bench weekly [-- --calls N]`.
//!
//! Writes 8 weeks of runs (20 a week, 1,000,000 calls by default, over eight operations of
//! three services with a tag each) through the SQLite store's own write path into a temporary
//! database, then times `report::weekly::build` for 8 weeks by service, by operation and by tag.
//! Target: each at most 2 s (issue 15). Prints PASS or MISS; exits non-zero only when the setup
//! fails.

// Shared with the other benches; this one needs only part of it.
#[allow(dead_code)]
mod common;
use common::{machine, verdict};

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use rust_decimal::Decimal;
use time::{Date, Month, UtcOffset};
use tollgate::findings::Thresholds;
use tollgate::record::{Call, RunEnd, RunMeta};
use tollgate::report::weekly::{self, AnomalyRule, GroupBy, WeekZone, WeeklyOptions};
use tollgate::store::{Batch, RunStore, SqliteStore};

const WEEKS: usize = 8;
const RUNS_A_WEEK: usize = 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    match runtime.block_on(bench(calls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weekly bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(total: usize) -> anyhow::Result<()> {
    let (cpu, cores) = machine();
    println!("machine: {cpu}, {cores} cores");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("weekly.db");
    let store = SqliteStore::open(&path).await?;
    // 2026-W42 .. 2026-W49.
    let first_monday = Date::from_calendar_date(2026, Month::October, 12)?;
    let operations = [
        ("s3", "GetObject", "0.0000004"),
        ("s3", "PutObject", "0.000005"),
        ("s3", "ListObjectsV2", "0.000005"),
        ("dynamodb", "GetItem", "0.000000125"),
        ("dynamodb", "Query", "0.000000125"),
        ("dynamodb", "PutItem", "0.000000625"),
        ("sqs", "SendMessage", "0.0000004"),
        ("sqs", "ReceiveMessage", "0.0000004"),
    ];
    let runs = WEEKS * RUNS_A_WEEK;
    let per_run = total / runs;
    let started = Instant::now();
    for run in 0..runs {
        let week = run / RUNS_A_WEEK;
        let day = first_monday + time::Duration::days((week * 7 + run % 7) as i64);
        let at_us = day.midnight().assume_utc().unix_timestamp() * 1_000_000
            + (run % RUNS_A_WEEK) as i64 * 60_000_000;
        let mut meta = RunMeta::new("run");
        meta.started_at = SystemTime::UNIX_EPOCH + Duration::from_micros(at_us as u64);
        meta.command = vec!["pytest".into(), format!("suite-{}", run % 4)];
        meta.tags = vec![("suite".into(), format!("suite-{}", run % 4))];
        let id = store.begin_run(&meta).await?;
        let mut calls = Vec::with_capacity(per_run);
        for i in 0..per_run {
            let (service, operation, price) = operations[(i * 7 + run) % operations.len()];
            let mut call = Call::sample(service, operation).at_us(at_us + i as i64 * 100);
            call.seq = i as u64;
            call.cost = price.parse::<Decimal>()?;
            call.fingerprint = Some(format!("{:x}", i % 5_000));
            calls.push(call);
        }
        for chunk in calls.chunks(10_000) {
            let processes = vec![None; chunk.len()];
            store
                .write_batch(
                    id,
                    Batch {
                        calls: chunk,
                        processes: &processes,
                        loops: &[],
                    },
                )
                .await?;
        }
        store.end_run(id, &RunEnd::default()).await?;
    }
    println!(
        "history: {} runs, {} calls over {WEEKS} weeks, written in {:.1} s",
        runs,
        per_run * runs,
        started.elapsed().as_secs_f64()
    );
    let thresholds = Thresholds::default();
    for by in [
        GroupBy::Service,
        GroupBy::Operation,
        GroupBy::Tag("suite".into()),
    ] {
        let options = WeeklyOptions {
            last_week_day: first_monday + time::Duration::weeks(WEEKS as i64 - 1),
            weeks: WEEKS,
            by: by.clone(),
            zone: WeekZone::Offset(UtcOffset::UTC),
            tags: Vec::new(),
            anomaly: AnomalyRule::default(),
            movers: 5,
            pricer: None,
        };
        let started = Instant::now();
        let report = weekly::build(&store, &options, &thresholds).await?;
        let took = started.elapsed();
        let calls: u64 = report.weeks.iter().map(|w| w.calls).sum();
        anyhow::ensure!(calls == (per_run * runs) as u64, "the report lost calls");
        println!(
            "weekly by {:<10} {:>7.3} s for {} weeks, {} calls   target <= 2 s: {}",
            by.name(),
            took.as_secs_f64(),
            report.weeks.len(),
            calls,
            verdict(took <= Duration::from_secs(2))
        );
    }
    store.close().await;
    Ok(())
}
