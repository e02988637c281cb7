//! Recording and reporting: what the request path pays per recorded call, how many calls per
//! second the writer sustains into SQLite, and how long a report over them takes.
//!
//! `cargo bench --bench store [-- OPTIONS]`; options: `--calls N` (default 1,000,000), `--quick`
//! (100,000), `--clients N` (client connections, default 256: each costs the writer a lookup in
//! /proc; `--clients 1` isolates the database path), `--keep FILE` (record into FILE and keep it),
//! `--only path|write|report` (`report` reads the FILE an earlier `--keep` run recorded),
//! `--postgres URL` (write and report into that PostgreSQL database instead of a SQLite file;
//! PostgreSQL's targets: >= 50,000 calls/s, report over 1,000,000 calls <= 2 s).
//! Targets: >= 100,000 calls/s written with none lost; `report` over 1,000,000 calls <= 2 s.
//! The machine is shared: each phase says how much CPU other processes took meanwhile, and the
//! CPU time by thread (producer, writer task, SQLite) is steadier than the wall-clock rate.
//!
//! The calls are real: synthetic but signed exchanges (S3 GetObject/PutObject/ListObjectsV2 with
//! paginator tokens, DynamoDB GetItem, SQS SendMessage, a few errors and retries) identified and
//! priced once each by `call_from_exchange` with the built-in prices, giving a pool of a few
//! thousand distinct calls (object and item sizes vary, so costs and units do). Each recorded
//! call is one of them with its own time, duration, invocation id, client connection, parameter
//! digest (a fifth repeat one of 100 per operation, the rest are unique), a call site (one of 40)
//! and a test (one of 36, each for 5,000 calls in turn) and, for listings, page tokens that chain
//! pages into loops.
//!
//! Phases, each into a database of its own in a temporary directory:
//! 1. request path: ns per `Profiler::deliver` to the recorder (what the proxy's task pays after
//!    identification: loop linking, the copy, the channel), in bursts that fit the writer's queue
//!    so that nothing is dropped; the copy alone for comparison;
//! 2. sustained writing: the calls fed as fast as the queue accepts, the producer holding back
//!    only to keep the queue below its bound (so none is lost); calls/s until `flush` returns;
//! 3. report: `Report::build` over the recorded run, then `target/release/tollgate report --db
//!    FILE --format json` end to end (skipped with a message when that binary is missing).
//!
//! Targets are reported as PASS or MISS; the process exits non-zero only when the setup fails or
//! calls were lost.

mod common;
use common::{machine, machine_busy_seconds, verdict};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use sqlx::Row;
use tollgate::aws::identify::Identifier;
use tollgate::aws::model::Model;
use tollgate::aws::pages::PageAnswer;
use tollgate::aws::signing;
use tollgate::aws::usage::Answerer;
use tollgate::findings::{rules, Thresholds};
use tollgate::pricing::{overlay, Pricer};
use tollgate::procnet::client_process;
use tollgate::profile::sinks::ledger::Ledger;
use tollgate::profile::sinks::Recorder;
use tollgate::profile::{call_from_exchange, CallSink, Profiler};
use tollgate::proxy::{BodyRecord, Exchange, Outcome, ResponseRecord, Transport};
use tollgate::record::{Call, PriceStatus, RunEnd, RunMeta};
use tollgate::report::Report;
use tollgate::store::{PostgresStore, RunStore, SqliteStore};

const TARGET_CALLS_PER_S: f64 = 100_000.0;
const TARGET_POSTGRES_CALLS_PER_S: f64 = 50_000.0;
const TARGET_REPORT_S: f64 = 2.0;
/// The writer's queue holds 65,536 messages (`QUEUE_ROWS` in src/store/writer.rs); a call can
/// also send one message of finished loops, so at most this many unwritten calls are let out.
const MAX_IN_FLIGHT: u64 = 30_000;
/// `Report::build` and `tollgate report` runs (each reads everything again); one only when the
/// first took longer than `REPEAT_UNDER`.
const REPORT_ROUNDS: usize = 2;
const REPEAT_UNDER: Duration = Duration::from_secs(10);
/// Request-path bursts: fed without pause, then flushed (untimed) so the next starts empty.
const BURST: usize = 16_384;
const REQUEST_PATH_BURSTS: usize = 12;
/// Distinct client connections (keep-alive pools of a few processes): the writer looks each up
/// once, in /proc.
const CLIENTS: u64 = 256;
/// Parameter sets that calls repeat (per operation).
const HOT_PARAMETERS: u64 = 100;
/// Listings paged concurrently (distinct prefixes).
const LISTINGS: usize = 16;
/// Call sites (`file:line function`, as the Python and Node hooks send them) per kind of call:
/// 40 in all, realistic lengths (30-70 bytes).
const CALLSITES: [(&str, &str, [u32; 8]); 5] = [
    (
        "src/pipeline/ingest/sync_objects.py",
        "copy_partition_to_curated",
        [42, 57, 88, 131, 142, 208, 233, 301],
    ),
    (
        "src/pipeline/export/writer.py",
        "write_results",
        [19, 27, 64, 65, 90, 118, 160, 171],
    ),
    (
        "src/pipeline/ingest/listing.py",
        "list_new_objects",
        [33, 48, 77, 102, 103, 150, 188, 240],
    ),
    (
        "src/app/sessions/store.py",
        "load_session",
        [12, 35, 36, 58, 91, 97, 144, 199],
    ),
    (
        "src/app/orders/events.py",
        "publish_order_event",
        [21, 22, 40, 81, 85, 126, 127, 164],
    ),
];
/// Tests (`file::name`), each running for [`CALLS_PER_TEST`] calls in turn.
const TESTS: usize = 36;
const CALLS_PER_TEST: u64 = 5_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Only {
    All,
    /// The request path only.
    Path,
    /// Sustained writing only (with `--keep`, into that file).
    Write,
    /// The report only, over the database `--keep` names (recorded by an earlier run).
    Report,
}

struct Settings {
    calls: u64,
    clients: u64,
    /// Keep the recorded database here (to profile `tollgate report` on it).
    keep: Option<PathBuf>,
    only: Only,
    /// Write and report into this PostgreSQL database instead.
    postgres: Option<String>,
}

impl Settings {
    /// `--calls N`, `--quick` (100,000 calls), `--clients N`, `--keep FILE`,
    /// `--only path|write|report`; anything else (`--bench`, filters) is ignored.
    fn from_args() -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str| {
            args.iter()
                .position(|arg| arg == name)
                .and_then(|at| args.get(at + 1))
        };
        let number = |name: &str| value(name).and_then(|n| n.replace('_', "").parse().ok());
        let quick = args.iter().any(|arg| arg == "--quick");
        let only = match value("--only").map(String::as_str) {
            None => Only::All,
            Some("path") => Only::Path,
            Some("write") => Only::Write,
            Some("report") => Only::Report,
            Some(other) => bail!("--only {other}: use path, write or report"),
        };
        let keep = value("--keep").map(PathBuf::from);
        let postgres = value("--postgres").cloned();
        if only == Only::Report && keep.is_none() && postgres.is_none() {
            bail!("--only report needs --keep FILE (a database recorded with --keep FILE)");
        }
        Ok(Self {
            calls: number("--calls").unwrap_or(if quick { 100_000 } else { 1_000_000 }),
            clients: number("--clients").unwrap_or(CLIENTS).max(1),
            keep,
            only,
            postgres,
        })
    }

    fn runs(&self, phase: Only) -> bool {
        self.only == Only::All || self.only == phase
    }
}

fn main() -> ExitCode {
    let settings = match Settings::from_args() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("store bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("store bench: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(bench(&settings));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("store bench: setup failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns false when calls were lost.
async fn bench(settings: &Settings) -> anyhow::Result<bool> {
    let started = Instant::now();
    let (cpu_model, cores) = machine();
    let (table, pricing_settings) =
        overlay::load(&Default::default()).context("the built-in price table")?;
    let pricing_version = table.version.clone();
    let pricer = Arc::new(Pricer::new(table, pricing_settings));
    let identifier = Identifier::new(Model::embedded());
    let pool_started = Instant::now();
    let pool = Pool::build(&identifier, &pricer)?;
    progress(format!(
        "{} distinct priced calls built in {:.0} ms",
        pool.len(),
        pool_started.elapsed().as_secs_f64() * 1000.0
    ));
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let db = match &settings.keep {
        Some(path) => path.clone(),
        None => dir.path().join("tollgate.db"),
    };
    println!(
        "tollgate store bench on {cpu_model}, {cores} cores; {} distinct calls in the pool, \
         {} client connections",
        pool.len(),
        settings.clients
    );
    let mut ok = true;

    if settings.runs(Only::Path) {
        progress("request path: ns per Profiler::deliver to the recorder");
        let load = Load::start();
        let path = dir.path().join("request-path.db");
        let (store, run) = open_run(sqlite(&path).await?, &pricing_version).await?;
        // With its ledger, as `tollgate run` records: its count is on the request path.
        let ledger = Ledger::create(&dir.path().join("runs"), "request-path")?;
        let recorder = Recorder::start(store.clone(), run, Some(ledger));
        let profiler = Profiler::new(pricer.clone(), vec![recorder.clone() as Arc<dyn CallSink>]);
        let mut calls = Calls::new(&pool, 1, settings.clients);
        let figures = request_path(&profiler, &mut calls).await;
        let outcome = recorder.outcome();
        store.end_run(run, &run_end(&outcome)).await?;
        drop(profiler);
        drop(recorder);
        store.close().await;
        ok &= outcome.lost == 0;
        println!(
            "request path (Profiler::deliver to the recorder with the writer running; {} calls in bursts of \
             {BURST}, each flushed before the next){}:",
            figures.calls,
            load.finish(cores)
        );
        println!(
            "  mean {:.0} ns per call (the copy alone {:.0} ns); one by one p50/p99/p99.9/max \
             {}/{}/{}/{} ns (+~{:.0} ns of timer); lost {}",
            figures.mean_ns,
            figures.row_ns,
            figures.latency.value_at_quantile(0.50),
            figures.latency.value_at_quantile(0.99),
            figures.latency.value_at_quantile(0.999),
            figures.latency.max(),
            figures.timer_ns,
            outcome.lost,
        );
    }

    let mut recorded = None;
    if settings.runs(Only::Write) {
        progress(format!(
            "sustained writing: {} calls, at most {MAX_IN_FLIGHT} unwritten",
            settings.calls
        ));
        let lookup = client_lookup();
        for stale in [db.clone(), wal_path(&db), shm_path(&db)] {
            let _ = std::fs::remove_file(stale);
        }
        let load = Load::start();
        let server_before = settings.postgres.as_ref().and_then(|_| postgres_seconds());
        let file = match &settings.postgres {
            Some(_) => None,
            None => Some(Arc::new(SqliteStore::open(&db).await?)),
        };
        let target: Arc<dyn RunStore> = match (&file, &settings.postgres) {
            (Some(file), _) => file.clone(),
            (None, Some(url)) => Arc::new(PostgresStore::open(url).await?),
            (None, None) => unreachable!("a file unless --postgres"),
        };
        let (store, run) = open_run(target, &pricing_version).await?;
        let ledger = Ledger::create(&dir.path().join("runs"), "sustained")?;
        let recorder = Recorder::start(store.clone(), run, Some(ledger));
        let profiler = Profiler::new(pricer.clone(), vec![recorder.clone() as Arc<dyn CallSink>]);
        let mut calls = Calls::new(&pool, 2, settings.clients);
        let figures = sustained(&profiler, &recorder, &mut calls, settings.calls).await;
        let server_seconds = server_before
            .zip(postgres_seconds())
            .map(|(before, after)| after - before);
        let load = load.finish(cores);
        let outcome = recorder.outcome();
        store.end_run(run, &run_end(&outcome)).await?;
        drop(profiler);
        drop(recorder);
        let (loop_rows, tables) = match &file {
            Some(file) => db_tables(file, run).await,
            None => (-1, Vec::new()),
        };
        let wal_before_close = file_size(&wal_path(&db));
        store.close().await;
        let db_bytes = file_size(&db) + file_size(&wal_path(&db));
        ok &= outcome.lost == 0;
        recorded = Some(figures.recorded);
        let per_call = |x: f64| x / figures.recorded.max(1) as f64;

        let rate = figures.recorded as f64 / figures.elapsed.as_secs_f64();
        let (backend, target_rate) = match &settings.postgres {
            Some(_) => ("PostgreSQL", TARGET_POSTGRES_CALLS_PER_S),
            None => ("SQLite", TARGET_CALLS_PER_S),
        };
        println!(
            "sustained writing into {backend}: {} recorded, {} lost{} in {:.2} s (first call to \
             flush returned) = {rate:.0} calls/s (target >= {target_rate:.0}) {}; ratio {:.2}{load}",
            figures.recorded,
            outcome.lost,
            outcome
                .lost_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            figures.elapsed.as_secs_f64(),
            verdict(rate >= target_rate && outcome.lost == 0),
            rate / target_rate,
        );
        println!(
            "  slowest / fastest {}-call window: {:.0} / {:.0} calls/s; the producer held back \
             {:.2} s ({} waits) to keep the queue below its bound",
            figures.window,
            figures.slowest,
            figures.fastest,
            figures.held_back.as_secs_f64(),
            figures.waits
        );
        println!(
            "  CPU by thread: {}",
            figures
                .cpu
                .iter()
                .map(|(name, seconds)| format!(
                    "{name} {seconds:.2} s ({:.2} us/call)",
                    per_call(seconds * 1e6)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(seconds) = server_seconds {
            println!(
                "  the PostgreSQL server (this machine's postgres processes): {seconds:.2} s \
                 ({:.2} us/call), counted above among the other processes",
                per_call(seconds * 1e6)
            );
        }
        println!(
            "  (the producer runs on the main thread; the writer task on tokio-rt-worker, SQLite \
             on sqlx-sqlite-worker)"
        );
        println!(
            "  client process lookups (procnet::client_process on the writer task, once per new \
             client connection; /proc/net/tcp lists {} sockets): {:.2} ms each for a port \
             without a socket, {} for a live connection{}; up to ~{:.2} s of the writer's time \
             for these {} connections (less where one lookup serves a batch)",
            lookup.tcp_lines,
            lookup.missing.as_secs_f64() * 1000.0,
            lookup
                .live
                .map(|t| format!("{:.2} ms", t.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "n/a".into()),
            if lookup.found { "" } else { " (not found)" },
            settings.clients.min(figures.recorded) as f64 * lookup.missing.as_secs_f64(),
            settings.clients.min(figures.recorded),
        );
        println!(
            "  on_call under write load (1 in 64 timed): p50/p99/p99.9/max {}/{}/{}/{} ns",
            figures.latency.value_at_quantile(0.50),
            figures.latency.value_at_quantile(0.99),
            figures.latency.value_at_quantile(0.999),
            figures.latency.max(),
        );
        println!(
            "  database: {:.1} MiB = {:.0} bytes per call (WAL before close {:.1} MiB); {} loops",
            db_bytes as f64 / MIB,
            per_call(db_bytes as f64),
            wal_before_close as f64 / MIB,
            loop_rows,
        );
        if !tables.is_empty() {
            println!(
                "  by table and index: {}",
                tables
                    .iter()
                    .map(|(name, bytes)| format!(
                        "{name} {:.1} MiB ({:.0} B/call)",
                        *bytes as f64 / MIB,
                        per_call(*bytes as f64)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }

    if settings.runs(Only::Report) {
        progress("report: Report::build");
        let load = Load::start();
        let at = match &settings.postgres {
            Some(url) => url.clone(),
            None => db.display().to_string(),
        };
        let figures = report(&at, settings.postgres.is_some(), recorded).await?;
        let load = load.finish(cores);
        progress("report: the tollgate binary");
        let binary = binary_report(Path::new(&at));
        let calls = figures.calls.max(1);
        let scaled = |time: Duration| time.as_secs_f64() * 1_000_000.0 / calls as f64;
        let note = if calls == 1_000_000 {
            String::new()
        } else {
            " for 1,000,000 calls, scaled linearly".into()
        };
        println!("report over {calls} calls ({}){load}:", figures.summary);
        println!(
            "  Report::build: first {:.3} s, best of {} {:.3} s (JSON {:.3} s more, {:.1} MiB); \
             Store::open {:.3} s",
            figures.builds[0].as_secs_f64(),
            figures.builds.len(),
            figures.best().as_secs_f64(),
            figures.json.as_secs_f64(),
            figures.json_bytes as f64 / MIB,
            figures.open.as_secs_f64(),
        );
        println!(
            "  the store queries it makes, one by one: {}",
            figures
                .parts
                .iter()
                .map(|(name, time, rows)| format!(
                    "{name} {:.3} s ({rows} rows)",
                    time.as_secs_f64()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match &binary {
            Ok(run) => println!(
                "  tollgate report --format json, end to end ({}): first {:.3} s, best of {} \
                 {:.3} s (target <= {TARGET_REPORT_S:.1} s{note}) {}; {:.2}x the target; {:.1} MiB \
                 out",
                run.binary.display(),
                run.times[0].as_secs_f64(),
                run.times.len(),
                run.best().as_secs_f64(),
                verdict(scaled(run.best()) <= TARGET_REPORT_S),
                scaled(run.best()) / TARGET_REPORT_S,
                run.output as f64 / MIB,
            ),
            Err(why) => println!(
                "  tollgate report: skipped ({why}); Report::build {} against the target \
                 (<= {TARGET_REPORT_S:.1} s{note}); {:.2}x the target",
                verdict(scaled(figures.best()) <= TARGET_REPORT_S),
                scaled(figures.best()) / TARGET_REPORT_S,
            ),
        }
        if let Ok(run) = &binary {
            if let Some(stale) = &run.stale {
                println!("  NOTE: {stale}");
            }
        }
    }
    println!("bench wall time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(ok)
}

async fn sqlite(path: &Path) -> anyhow::Result<Arc<dyn RunStore>> {
    Ok(Arc::new(SqliteStore::open(path).await?))
}

async fn open_run(
    store: Arc<dyn RunStore>,
    pricing_version: &str,
) -> anyhow::Result<(Arc<dyn RunStore>, i64)> {
    let meta = RunMeta {
        command: vec!["bench".into(), "store".into()],
        tags: vec![("bench".into(), "store".into())],
        pricing_version: pricing_version.to_string(),
        ..RunMeta::new("run")
    };
    let run = store.begin_run(&meta).await?;
    Ok((store, run))
}

fn run_end(outcome: &tollgate::profile::sinks::RecorderOutcome) -> RunEnd {
    RunEnd {
        exit_code: Some(0),
        lost: outcome.lost,
        lost_reason: outcome.lost_reason.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: the request path.

struct RequestPath {
    calls: u64,
    mean_ns: f64,
    row_ns: f64,
    timer_ns: f64,
    latency: Histogram<u64>,
}

async fn request_path(profiler: &Profiler, calls: &mut Calls<'_>) -> RequestPath {
    let flush = || async { tollgate::proxy::Observer::flush(profiler).await };
    // Warm-up: the writer's statements prepared, the pool's connections open.
    let burst = calls.burst(BURST);
    for call in burst {
        profiler.deliver(call);
    }
    flush().await;

    // Whole bursts timed: the mean.
    let mut timed = Duration::ZERO;
    let mut count = 0u64;
    for _ in 0..REQUEST_PATH_BURSTS {
        let burst = calls.burst(BURST);
        count += burst.len() as u64;
        let started = Instant::now();
        for call in burst {
            profiler.deliver(call);
        }
        timed += started.elapsed();
        flush().await;
    }

    // Each call timed: the distribution.
    let mut latency = histogram();
    let timer_started = Instant::now();
    for _ in 0..100_000 {
        black_box(Instant::now());
    }
    let timer_ns = timer_started.elapsed().as_nanos() as f64 / 100_000.0;
    for _ in 0..REQUEST_PATH_BURSTS {
        let burst = calls.burst(BURST);
        for call in burst {
            let started = Instant::now();
            profiler.deliver(call);
            let _ = latency.record(started.elapsed().as_nanos() as u64);
        }
        flush().await;
    }

    // The copy the recorder makes alone, without the loop tracker and the channel.
    let burst = calls.burst(BURST);
    let started = Instant::now();
    for call in &burst {
        black_box(call.clone());
    }
    let row_ns = started.elapsed().as_nanos() as f64 / burst.len() as f64;

    RequestPath {
        calls: count,
        mean_ns: timed.as_nanos() as f64 / count as f64,
        row_ns,
        timer_ns,
        latency,
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 2: sustained writing.

struct Sustained {
    recorded: u64,
    elapsed: Duration,
    window: u64,
    slowest: f64,
    fastest: f64,
    held_back: Duration,
    waits: u64,
    latency: Histogram<u64>,
    cpu: Vec<(String, f64)>,
}

async fn sustained(
    profiler: &Profiler,
    recorder: &Recorder,
    calls: &mut Calls<'_>,
    total: u64,
) -> Sustained {
    let mut latency = histogram();
    let mut held_back = Duration::ZERO;
    let mut waits = 0u64;
    let window = (total / 10).max(1);
    let mut checkpoints: Vec<(u64, Instant)> = Vec::new();
    let mut next_checkpoint = 0u64;
    let cpu_before = thread_cpu();
    let started = Instant::now();
    checkpoints.push((0, started));
    let mut recorded = 0u64;
    for sent in 0..total {
        if sent % 512 == 0 || sent - recorded >= MAX_IN_FLIGHT {
            recorded = recorder.outcome().recorded;
            while sent - recorded >= MAX_IN_FLIGHT {
                let wait_started = Instant::now();
                tokio::time::sleep(Duration::from_micros(500)).await;
                held_back += wait_started.elapsed();
                waits += 1;
                recorded = recorder.outcome().recorded;
            }
            if recorded >= next_checkpoint + window {
                next_checkpoint = recorded;
                checkpoints.push((recorded, Instant::now()));
            }
        }
        let call = calls.next().clone();
        if sent % 64 == 0 {
            let at = Instant::now();
            profiler.deliver(call);
            let _ = latency.record(at.elapsed().as_nanos() as u64);
        } else {
            profiler.deliver(call);
        }
    }
    tollgate::proxy::Observer::flush(profiler).await;
    let elapsed = started.elapsed();
    let cpu_after = thread_cpu();
    let recorded = recorder.outcome().recorded;
    checkpoints.push((recorded, started + elapsed));
    let rates: Vec<f64> = checkpoints
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| (w[1].0 - w[0].0) as f64 / (w[1].1 - w[0].1).as_secs_f64())
        .collect();
    let mut cpu: BTreeMap<String, f64> = BTreeMap::new();
    for (name, after) in cpu_after {
        let before = cpu_before.get(&name).copied().unwrap_or(0.0);
        *cpu.entry(name).or_default() += after - before;
    }
    Sustained {
        recorded,
        elapsed,
        window,
        slowest: rates.iter().copied().fold(f64::INFINITY, f64::min),
        fastest: rates.iter().copied().fold(0.0, f64::max),
        held_back,
        waits,
        latency,
        cpu: cpu.into_iter().filter(|(_, s)| *s >= 0.005).collect(),
    }
}

/// CPU seconds by thread kind (tokio workers, sqlx's SQLite threads, ...), from /proc.
fn thread_cpu() -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let ticks = 100.0; // USER_HZ
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close]
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .to_string();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let time = |at: usize| fields.get(at).and_then(|v| v.parse::<f64>().ok());
        // utime and stime: fields 14 and 15 of stat, 11 and 12 after the name.
        if let (Some(user), Some(system)) = (time(11), time(12)) {
            *by_name.entry(name).or_insert(0.0) += (user + system) / ticks;
        }
    }
    by_name
}

// ---------------------------------------------------------------------------------------------
// Phase 3: the report.

/// Loops recorded, and the largest tables and indexes by bytes (dbstat, when compiled in).
async fn db_tables(store: &SqliteStore, run: i64) -> (i64, Vec<(String, i64)>) {
    let loops: i64 = sqlx::query_scalar("SELECT count(*) FROM loops WHERE run_id = ?")
        .bind(run)
        .fetch_one(store.pool())
        .await
        .unwrap_or(-1);
    let tables = sqlx::query(
        "SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 4",
    )
    .fetch_all(store.pool())
    .await
    .map(|rows| {
        rows.iter()
            .filter_map(|row| Some((row.try_get("name").ok()?, row.try_get("bytes").ok()?)))
            .collect()
    })
    .unwrap_or_default();
    (loops, tables)
}

struct ReportFigures {
    calls: u64,
    summary: String,
    open: Duration,
    builds: Vec<Duration>,
    json: Duration,
    json_bytes: usize,
    /// What `Report::build` reads, one query method at a time: name, time, rows returned.
    parts: Vec<(&'static str, Duration, usize)>,
}

impl ReportFigures {
    fn best(&self) -> Duration {
        self.builds.iter().copied().min().unwrap_or_default()
    }
}

/// `Report::build` over the last run (with the default finding thresholds), twice, then the
/// store's query methods it uses one by one.
async fn report(db: &str, postgres: bool, recorded: Option<u64>) -> anyhow::Result<ReportFigures> {
    if !postgres && !Path::new(db).is_file() {
        bail!("no database at {db}");
    }
    let open_started = Instant::now();
    let store: Box<dyn RunStore> = if postgres {
        Box::new(PostgresStore::open(db).await?)
    } else {
        Box::new(SqliteStore::open(Path::new(db)).await?)
    };
    let open = open_started.elapsed();
    let runs = store.select_runs(&Default::default()).await?;
    let thresholds = Thresholds::default();
    let mut builds = Vec::new();
    let mut json = Duration::ZERO;
    let mut json_bytes = 0;
    let mut summary = String::new();
    let mut calls = 0;
    for _ in 0..REPORT_ROUNDS {
        if builds.first().is_some_and(|first| *first > REPEAT_UNDER) {
            break;
        }
        let started = Instant::now();
        let report = Report::build(store.as_ref(), &runs, &thresholds).await?;
        builds.push(started.elapsed());
        let started = Instant::now();
        json_bytes = (serde_json::to_string_pretty(&report)? + "\n").len();
        json = started.elapsed();
        calls = report.totals.attempts;
        summary = format!(
            "{} operations, {} loops, {} findings, {} timeline points, total ${}",
            report.operations.len(),
            report.loops.len(),
            report.findings.len(),
            report.timeline.len(),
            report.totals.total_usd.exact()
        );
    }
    if let Some(recorded) = recorded.filter(|r| *r != calls) {
        bail!("the report counts {calls} calls, {recorded} were recorded");
    }
    let per_item: Vec<(&str, &str)> = rules::BATCHABLE
        .iter()
        .map(|b| (b.service, b.operation))
        .chain(rules::PER_KEY_AFTER_LISTING.iter().copied())
        .collect();
    let mut parts = Vec::new();
    macro_rules! part {
        ($name:expr, $query:expr) => {{
            let started = Instant::now();
            let rows = $query.await?.len();
            parts.push(($name, started.elapsed(), rows));
        }};
    }
    part!("runs", store.runs(Some(&runs), i64::MAX));
    part!("operations", store.operations(&runs));
    part!("loops", store.loops(&runs));
    part!(
        "repeated_calls",
        store.repeated_calls(&runs, thresholds.repeated_min.min(thresholds.polling_min))
    );
    part!(
        "calls_by_resource",
        store.calls_by_resource(&runs, &per_item)
    );
    part!("failures", store.failures(&runs));
    part!("regions", store.regions(&runs));
    part!("implied", store.implied(&runs));
    part!("timeline", store.timeline(&runs, 60));
    store.close().await;
    Ok(ReportFigures {
        calls,
        summary,
        open,
        builds,
        json,
        json_bytes,
        parts,
    })
}

struct BinaryRun {
    binary: PathBuf,
    times: Vec<Duration>,
    output: usize,
    /// Set when src/ changed after the binary was built.
    stale: Option<String>,
}

impl BinaryRun {
    fn best(&self) -> Duration {
        self.times.iter().copied().min().unwrap_or_default()
    }
}

/// `tollgate report --db FILE --format json`, three times, end to end.
fn binary_report(db: &Path) -> Result<BinaryRun, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let binary = target.join("release").join("tollgate");
    if !binary.is_file() {
        return Err(format!(
            "{} is missing: run `cargo build --release` first",
            binary.display()
        ));
    }
    let mut times = Vec::new();
    let mut output = 0;
    for _ in 0..REPORT_ROUNDS {
        if times.first().is_some_and(|first| *first > REPEAT_UNDER) {
            break;
        }
        let started = Instant::now();
        let run = common::hermetic(&mut Command::new(&binary))
            .args(["report", "--db"])
            .arg(db)
            .args(["--format", "json"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        times.push(started.elapsed());
        if !run.status.success() {
            return Err(format!(
                "{} report failed ({}): {}",
                binary.display(),
                run.status,
                String::from_utf8_lossy(&run.stderr).trim()
            ));
        }
        output = run.stdout.len();
    }
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    let newest = newest_source(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let stale = match (built, newest) {
        (Some(built), Some(newest)) if newest > built => Some(format!(
            "{} is older than src/ (last change {:.0} s after it was built): \
             `cargo build --release` to time the current code",
            binary.display(),
            newest
                .duration_since(built)
                .unwrap_or_default()
                .as_secs_f64()
        )),
        _ => None,
    };
    Ok(BinaryRun {
        binary,
        times,
        output,
        stale,
    })
}

fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

// ---------------------------------------------------------------------------------------------
// The calls.

/// The distinct calls: identified and priced once each.
struct Pool {
    get: Vec<Call>,
    get_missing: Call,
    put: Vec<Call>,
    /// One per listing (prefix); its page facts are rewritten per page.
    list: Vec<Call>,
    get_item: Vec<Call>,
    get_item_throttled: Call,
    send: Vec<Call>,
}

const BUCKETS: [&str; 4] = [
    "analytics-raw",
    "analytics-curated",
    "app-uploads",
    "build-artifacts",
];
const TABLES: [&str; 4] = ["users", "sessions", "orders", "feature-flags"];
const QUEUES: [&str; 3] = ["orders", "emails", "audit-events"];

impl Pool {
    fn build(identifier: &Identifier<'_>, pricer: &Pricer) -> anyhow::Result<Self> {
        let mut rng = Rng(0x5eed);
        let call =
            |spec: Spec| call_from_exchange(identifier, pricer, &spec.exchange(), Answerer::Aws);
        let get = (0..2000)
            .map(|i| {
                let bucket = BUCKETS[i % BUCKETS.len()];
                let size = rng.log_uniform(1 << 10, 64 << 20);
                call(Spec::s3_get(
                    bucket,
                    &format!("data/part-{i:05}.parquet"),
                    size,
                ))
            })
            .collect();
        let put = (0..500)
            .map(|i| {
                let bucket = BUCKETS[i % BUCKETS.len()];
                let size = rng.log_uniform(256, 16 << 20);
                call(Spec::s3_put(bucket, &format!("out/{i:05}.json"), size))
            })
            .collect();
        let list: Vec<Call> = (0..LISTINGS)
            .map(|i| {
                call(Spec::s3_list(
                    BUCKETS[i % BUCKETS.len()],
                    &format!("logs/{i}/"),
                ))
            })
            .collect();
        let get_item = (0..64)
            .map(|i| {
                let size = rng.log_uniform(64, 40 << 10);
                call(Spec::get_item(TABLES[i % TABLES.len()], size, i % 3 == 0))
            })
            .collect();
        let send = (0..64)
            .map(|i| {
                let size = rng.log_uniform(64, 200 << 10);
                call(Spec::send_message(QUEUES[i % QUEUES.len()], size))
            })
            .collect();
        let pool = Self {
            get,
            get_missing: call(Spec::s3_missing("app-uploads", "missing/object")),
            put,
            list,
            get_item,
            get_item_throttled: call(Spec::throttled("orders")),
            send,
        };
        // The pool must be what it claims to be.
        let check = |call: &Call, service: &str, operation: &str| {
            if call.service != service || call.operation != operation {
                bail!(
                    "expected {service} {operation}, identified {} {}",
                    call.service,
                    call.operation
                );
            }
            Ok(())
        };
        check(&pool.get[0], "s3", "GetObject")?;
        check(&pool.get_missing, "s3", "GetObject")?;
        check(&pool.put[0], "s3", "PutObject")?;
        check(&pool.list[0], "s3", "ListObjectsV2")?;
        check(&pool.get_item[0], "dynamodb", "GetItem")?;
        check(&pool.get_item_throttled, "dynamodb", "GetItem")?;
        check(&pool.send[0], "sqs", "SendMessage")?;
        if pool.list.iter().any(|call| call.page.is_none()) {
            bail!("ListObjectsV2 without page facts");
        }
        if !pool.get_item_throttled.is_throttled() {
            bail!("the throttled GetItem is not seen as throttled");
        }
        if pool
            .get
            .iter()
            .all(|call| matches!(call.price, PriceStatus::Unpriced { .. }))
        {
            bail!("GetObject is unpriced: {:?}", pool.get[0].price);
        }
        Ok(pool)
    }

    fn len(&self) -> usize {
        self.get.len()
            + self.put.len()
            + self.list.len()
            + self.get_item.len()
            + self.send.len()
            + 2
    }
}

/// The stream of calls to record: pool calls with their own times, ids and page tokens.
struct Calls<'p> {
    pool: &'p Pool,
    clients: u64,
    /// The pool's calls, rewritten in place per call.
    scratch: Scratch,
    rng: Rng,
    seq: u64,
    clock: SystemTime,
    listings: Vec<Listing>,
    next_listing: usize,
    /// Call sites by kind of call (get, put, list, get item, send), and the tests.
    callsites: [Vec<String>; 5],
    tests: Vec<String>,
}

struct Scratch {
    get: Vec<Call>,
    get_missing: Call,
    put: Vec<Call>,
    list: Vec<Call>,
    get_item: Vec<Call>,
    get_item_throttled: Call,
    send: Vec<Call>,
}

/// A listing being paged: which page of how many, in its loop number `round`.
struct Listing {
    round: u64,
    page: u64,
    pages: u64,
}

impl<'p> Calls<'p> {
    fn new(pool: &'p Pool, seed: u64, clients: u64) -> Self {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let listings = (0..LISTINGS)
            .map(|_| Listing {
                round: 0,
                page: 0,
                pages: 1 + rng.below(8),
            })
            .collect();
        Self {
            pool,
            clients,
            scratch: Scratch {
                get: pool.get.clone(),
                get_missing: pool.get_missing.clone(),
                put: pool.put.clone(),
                list: pool.list.clone(),
                get_item: pool.get_item.clone(),
                get_item_throttled: pool.get_item_throttled.clone(),
                send: pool.send.clone(),
            },
            rng,
            seq: 0,
            clock: SystemTime::now(),
            listings,
            next_listing: 0,
            callsites: CALLSITES.map(|(file, function, lines)| {
                lines
                    .iter()
                    .map(|line| format!("{file}:{line} {function}"))
                    .collect()
            }),
            tests: (0..TESTS)
                .map(|n| {
                    format!(
                        "tests/integration/test_{}.py::test_{}[case-{n}]",
                        ["ingest", "export", "orders", "sessions"][n % 4],
                        ["copies_partitions", "lists_new_objects", "reads_hot_items"][n % 3]
                    )
                })
                .collect(),
        }
    }

    /// The next call, with its number and client connection.
    fn next(&mut self) -> &Call {
        self.seq += 1;
        let rng = &mut self.rng;
        let seq = self.seq;
        let client = SocketAddr::from(([127, 0, 0, 1], 40_000 + (self.seq % self.clients) as u16));
        // 10 µs apart: 100,000 calls a second of wall time.
        self.clock += Duration::from_micros(10);
        let roll = rng.below(1000);
        let call: &mut Call = match roll {
            0..=349 if roll % 100 == 7 => &mut self.scratch.get_missing,
            0..=349 => &mut self.scratch.get[rng.below(self.pool.get.len() as u64) as usize],
            350..=499 => &mut self.scratch.put[rng.below(self.pool.put.len() as u64) as usize],
            500..=599 => {
                let index = self.next_listing;
                self.next_listing = (self.next_listing + 1) % LISTINGS;
                let listing = &mut self.listings[index];
                let call = &mut self.scratch.list[index];
                let token = |page: u64| format!("1{index:02x}{:08x}{page:04x}", listing.round);
                let page = call.page.as_mut().expect("checked in Pool::build");
                page.continues_from = if listing.page == 0 {
                    Vec::new()
                } else {
                    vec![token(listing.page)]
                };
                let last = listing.page + 1 == listing.pages;
                page.answer = Some(PageAnswer {
                    next: if last {
                        Vec::new()
                    } else {
                        vec![token(listing.page + 1)]
                    },
                    items: Some(if last { 1 + rng.below(1000) } else { 1000 }),
                    items_unknown: None,
                    unreadable: false,
                });
                listing.page += 1;
                if last {
                    listing.round += 1;
                    listing.page = 0;
                    listing.pages = 1 + rng.below(8);
                }
                call
            }
            600..=849 if roll % 100 == 3 => &mut self.scratch.get_item_throttled,
            600..=849 => {
                &mut self.scratch.get_item[rng.below(self.pool.get_item.len() as u64) as usize]
            }
            _ => &mut self.scratch.send[rng.below(self.pool.send.len() as u64) as usize],
        };
        call.seq = seq;
        call.client = client;
        call.loop_id = None;
        call.started_at = self.clock;
        call.duration = Duration::from_micros(rng.log_uniform(1_500, 400_000));
        call.attempt = Some(if rng.below(100) == 0 { 2 } else { 1 });
        let id = call.invocation_id.get_or_insert_with(String::new);
        id.clear();
        let (a, b) = (rng.next(), rng.next());
        let _ = write!(
            id,
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        );
        // Parameters: a fifth of the calls repeat one of a few hot parameter sets (the same
        // object read again, polling), the rest are one-offs.
        let fingerprint = call.fingerprint.get_or_insert_with(String::new);
        fingerprint.clear();
        let digest = if rng.below(5) == 0 {
            rng.below(HOT_PARAMETERS)
        } else {
            rng.next()
        };
        let _ = write!(fingerprint, "{digest:016x}");
        // Who made it: one of a few lines per kind of call (its program's call sites), during
        // one of a few dozen tests, each running for a stretch of calls, as a test suite does.
        let kind = match roll {
            0..=349 => 0,
            350..=499 => 1,
            500..=599 => 2,
            600..=849 => 3,
            _ => 4,
        };
        let sites = &self.callsites[kind];
        call.callsite = Some(sites[rng.below(sites.len() as u64) as usize].clone());
        call.test = Some(self.tests[(seq / CALLS_PER_TEST) as usize % self.tests.len()].clone());
        call
    }

    /// `n` calls, owned.
    fn burst(&mut self, n: usize) -> Vec<Call> {
        (0..n).map(|_| self.next().clone()).collect()
    }
}

/// A signed request and its response, as the proxy would have seen them.
struct Spec {
    service: &'static str,
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    response_headers: Vec<(&'static str, String)>,
    response_body: Vec<u8>,
    /// Response bytes that passed (`response_body` is what was captured of them).
    response_bytes: u64,
}

const JSON_10: &str = "application/x-amz-json-1.0";

impl Spec {
    fn new(service: &'static str, method: &'static str, url: String) -> Self {
        Self {
            service,
            method,
            url,
            headers: Vec::new(),
            body: Vec::new(),
            status: 200,
            response_headers: vec![("x-amz-request-id", "4442587FB7D0A2F9".into())],
            response_body: Vec::new(),
            response_bytes: 0,
        }
    }

    fn s3_get(bucket: &str, key: &str, size: u64) -> Self {
        let mut spec = Self::new(
            "s3",
            "GET",
            format!("https://{bucket}.s3.us-east-1.amazonaws.com/{key}"),
        );
        spec.response_headers
            .push(("content-type", "application/octet-stream".into()));
        spec.response_headers
            .push(("content-length", size.to_string()));
        spec.response_headers
            .push(("etag", "\"9b2cf535f27731c974343645a3985328\"".into()));
        spec.response_bytes = size;
        spec
    }

    fn s3_missing(bucket: &str, key: &str) -> Self {
        let mut spec = Self::new(
            "s3",
            "GET",
            format!("https://{bucket}.s3.us-east-1.amazonaws.com/{key}"),
        );
        spec.status = 404;
        spec.response_headers
            .push(("content-type", "application/xml".into()));
        spec.response_body =
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
            <Message>The specified key does not exist.</Message><Key>missing/object</Key>\
            <RequestId>4442587FB7D0A2F9</RequestId></Error>"
                .to_vec();
        spec
    }

    fn s3_put(bucket: &str, key: &str, size: u64) -> Self {
        let mut spec = Self::new(
            "s3",
            "PUT",
            format!("https://{bucket}.s3.us-east-1.amazonaws.com/{key}"),
        );
        spec.headers
            .push(("content-type", "application/json".into()));
        // Captured head of a larger body.
        spec.body = vec![b' '; size.min(4096) as usize];
        spec.response_headers
            .push(("etag", "\"9b2cf535f27731c974343645a3985328\"".into()));
        spec
    }

    fn s3_list(bucket: &str, prefix: &str) -> Self {
        let mut spec = Self::new(
            "s3",
            "GET",
            format!(
                "https://{bucket}.s3.us-east-1.amazonaws.com/?list-type=2&max-keys=1000&prefix={}",
                prefix.replace('/', "%2F")
            ),
        );
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
        );
        let _ = write!(
            xml,
            "<Name>{bucket}</Name><Prefix>{prefix}</Prefix><KeyCount>1000</KeyCount>\
             <MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
        );
        for i in 0..1000 {
            let _ = write!(
                xml,
                "<Contents><Key>{prefix}2026/11/26/{i:06}.log.gz</Key>\
                 <LastModified>2026-11-26T14:37:04.000Z</LastModified>\
                 <ETag>\"9b2cf535f27731c974343645a3985328\"</ETag><Size>{}</Size>\
                 <StorageClass>STANDARD</StorageClass></Contents>",
                1000 + i * 37
            );
        }
        xml.push_str(
            "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=\
             </NextContinuationToken></ListBucketResult>",
        );
        spec.response_headers
            .push(("content-type", "application/xml".into()));
        spec.response_body = xml.into_bytes();
        spec
    }

    fn get_item(table: &str, item_bytes: u64, consumed: bool) -> Self {
        let mut spec = Self::new(
            "dynamodb",
            "POST",
            "https://dynamodb.us-east-1.amazonaws.com/".into(),
        );
        spec.headers
            .push(("x-amz-target", "DynamoDB_20120810.GetItem".into()));
        spec.headers.push(("content-type", JSON_10.into()));
        spec.body = serde_json::json!({
            "TableName": table,
            "Key": {"id": {"S": "user-7f3a9c"}},
            "ReturnConsumedCapacity": if consumed { "TOTAL" } else { "NONE" },
        })
        .to_string()
        .into_bytes();
        let mut response = serde_json::json!({
            "Item": {
                "id": {"S": "user-7f3a9c"},
                "payload": {"S": "x".repeat(item_bytes as usize)},
                "version": {"N": "17"},
            }
        });
        if consumed {
            let units = (item_bytes as f64 / 4096.0).ceil().max(1.0) * 0.5;
            response["ConsumedCapacity"] =
                serde_json::json!({"TableName": table, "CapacityUnits": units});
        }
        spec.response_headers.push(("content-type", JSON_10.into()));
        spec.response_body = response.to_string().into_bytes();
        spec
    }

    fn throttled(table: &str) -> Self {
        let mut spec = Self::get_item(table, 100, false);
        spec.status = 400;
        spec.response_headers = vec![
            ("content-type", JSON_10.into()),
            (
                "x-amzn-errortype",
                "ProvisionedThroughputExceededException".into(),
            ),
        ];
        spec.response_body = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#.to_vec();
        spec
    }

    fn send_message(queue: &str, size: u64) -> Self {
        let mut spec = Self::new("sqs", "POST", "https://sqs.us-east-1.amazonaws.com/".into());
        spec.headers
            .push(("x-amz-target", "AmazonSQS.SendMessage".into()));
        spec.headers.push(("content-type", JSON_10.into()));
        spec.body = serde_json::json!({
            "QueueUrl": format!("https://sqs.us-east-1.amazonaws.com/123456789012/{queue}"),
            "MessageBody": "m".repeat(size as usize),
        })
        .to_string()
        .into_bytes();
        spec.response_headers.push(("content-type", JSON_10.into()));
        spec.response_body = br#"{"MD5OfMessageBody":"51b0a325...","MessageId":"d6790f8d-d575-4d8c-9d8a-8e2c6f4a5c0e"}"#.to_vec();
        spec
    }

    fn exchange(self) -> Exchange {
        let mut request = http::Request::builder()
            .method(self.method)
            .uri(&self.url)
            .body(self.body)
            .expect("a valid request");
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).expect("a valid header"),
            );
        }
        headers.append(
            "user-agent",
            HeaderValue::from_static(
                "aws-sdk-java/2.29.6 ua/2.1 os/Linux#6.8.0 lang/java#21.0.5 md/OpenJDK_64-Bit_Server_VM#21.0.5+11 \
                 app/ingest-worker",
            ),
        );
        headers.append(
            "amz-sdk-invocation-id",
            HeaderValue::from_static("0d9b4b72-6a5c-4a4b-9f2e-3c8e1f0b7a61"),
        );
        headers.append(
            "amz-sdk-request",
            HeaderValue::from_static("attempt=1; max=3"),
        );
        signing::sign_request(
            &mut request,
            &signing::example_credentials(None),
            self.service,
            "us-east-1",
            SystemTime::now(),
        )
        .expect("signing");
        let uri = request.uri().clone();
        let (parts, body) = request.into_parts();
        let mut response_headers = HeaderMap::new();
        for (name, value) in &self.response_headers {
            response_headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).expect("a valid header"),
            );
        }
        let response_bytes = self.response_bytes.max(self.response_body.len() as u64);
        Exchange {
            id: 1,
            client: SocketAddr::from(([127, 0, 0, 1], 40_000)),
            transport: Transport::Https,
            host: uri.host().unwrap_or_default().to_ascii_lowercase(),
            port: 443,
            method: parts.method,
            uri: uri
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/")
                .parse()
                .expect("origin form"),
            version: Version::HTTP_11,
            request_headers: parts.headers,
            response_tap: None,
            request_body: BodyRecord {
                bytes: body.len() as u64,
                captured: Bytes::from(body),
                complete: true,
                ..Default::default()
            },
            response: Some(ResponseRecord {
                status: StatusCode::from_u16(self.status).expect("a status"),
                version: Version::HTTP_11,
                headers: response_headers,
            }),
            response_body: BodyRecord {
                bytes: response_bytes,
                truncated: (self.response_body.len() as u64) < response_bytes,
                captured: Bytes::from(self.response_body),
                complete: true,
                ..Default::default()
            },
            outcome: Outcome::Complete,
            started_at: SystemTime::now(),
            time_to_response_head: Some(Duration::from_millis(8)),
            duration: Duration::from_millis(12),
        }
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Between `low` and `high`, uniform in log scale: sizes and latencies.
    fn log_uniform(&mut self, low: u64, high: u64) -> u64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let (low, high) = ((low as f64).ln(), (high as f64).ln());
        (low + unit * (high - low)).exp() as u64
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

const MIB: f64 = 1024.0 * 1024.0;

/// How busy the rest of the machine was during a phase: other processes' share of all cores,
/// from /proc/stat less this process's own time.
struct Load {
    started: Instant,
    machine: Option<f64>,
    own: Option<f64>,
}

impl Load {
    fn start() -> Self {
        Self {
            started: Instant::now(),
            machine: machine_busy_seconds(),
            own: own_seconds(),
        }
    }

    /// `; other processes used N% of the machine`, with a warning past 10%.
    fn finish(self, cores: usize) -> String {
        let wall = self.started.elapsed().as_secs_f64() * cores as f64;
        match (
            self.machine,
            machine_busy_seconds(),
            self.own,
            own_seconds(),
        ) {
            (Some(m0), Some(m1), Some(o0), Some(o1)) if wall > 0.0 => {
                let share = ((m1 - m0) - (o1 - o0)).max(0.0) / wall;
                format!(
                    "; other processes used {:.0}% of the machine{}",
                    share * 100.0,
                    if share > 0.10 { " (NOISY)" } else { "" }
                )
            }
            _ => String::new(),
        }
    }
}

/// The CPU seconds (user + system) of this machine's `postgres` processes, the exited ones
/// included (through their parents' children's times): a local server's work, to tell it from
/// the other processes' load.
fn postgres_seconds() -> Option<f64> {
    let mut ticks = 0.0;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != "postgres" {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        for index in 11..=14 {
            ticks += fields
                .get(index)
                .and_then(|field| field.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
        found = true;
    }
    found.then_some(ticks / 100.0)
}

/// This process's CPU seconds (user + system).
fn own_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn progress(message: impl AsRef<str>) {
    eprintln!("[store bench] {}", message.as_ref());
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn shm_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-shm");
    PathBuf::from(name)
}

/// What the writer pays per new client connection (`procnet::client_process`, on its task):
/// for a port with no socket (the bench's clients), and for a live connection of this process
/// (what the proxy's clients are); and the lines of /proc/net/tcp it reads.
struct ClientLookup {
    missing: Duration,
    live: Option<Duration>,
    found: bool,
    tcp_lines: usize,
}

fn client_lookup() -> ClientLookup {
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let missing = median(
        (0..5)
            .map(|i| {
                let started = Instant::now();
                black_box(client_process(SocketAddr::from((
                    [127, 0, 0, 1],
                    39_000 + i,
                ))));
                started.elapsed()
            })
            .collect(),
    );
    let live = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| {
            let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
            let accepted = listener.accept()?;
            Ok((stream, accepted))
        })
        .ok();
    let (live, found) = match &live {
        Some((stream, _)) => {
            let addr = stream.local_addr().expect("a local address");
            let mut found = false;
            let time = median(
                (0..5)
                    .map(|_| {
                        let started = Instant::now();
                        found = client_process(addr).is_some();
                        started.elapsed()
                    })
                    .collect(),
            );
            (Some(time), found)
        }
        None => (None, false),
    };
    ClientLookup {
        missing,
        live,
        found,
        tcp_lines: std::fs::read_to_string("/proc/net/tcp")
            .map(|t| t.lines().count().saturating_sub(1))
            .unwrap_or(0),
    }
}
