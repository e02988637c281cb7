//! tollgate against direct access and against nginx, in one run: `cargo bench --bench proxy
//! [-- --quick]`.
//!
//! An in-process HTTPS origin (hyper + tokio-rustls, HTTP/1.1 only) answers every GET with a
//! small S3 ListObjectsV2 body, `/big?bytes=N` with a streamed body of N bytes, and a PUT by
//! reading its body to the end. The servers under test are separate processes, so that their CPU
//! time and memory can be read from /proc:
//!
//! * `direct`: the client talks to the origin itself;
//! * `nginx`: nginx from the Debian package (`apt-get install nginx-light`), one worker,
//!   terminating TLS and forwarding to the origin over TLS with upstream keep-alive: what a lean
//!   TLS-terminating forwarder costs on this machine (skipped, and said so, when `nginx` is not
//!   installed; `NGINX=/path/to/nginx` picks a binary);
//! * `proxy floor`: tollgate's proxy library alone with an observer that does nothing (this bench
//!   re-run as a child with `--bare-proxy-child`): CONNECT, TLS both ways, HTTP both ways, the
//!   upstream pool, the exchange tap; what identification, pricing and recording add is the rest;
//! * `tollgate --no-record`: `tollgate serve --upstream` identifying and pricing every call;
//! * `tollgate`: the same recording every call into SQLite, which is what the targets are for;
//! * `tollgate --metrics`: the same with live metrics on, scraped every second as Prometheus
//!   would: its throughput over the recording tollgate's is the metrics' cost (target: within 5 %),
//!   measured back to back with it in every round (each first in turn) and given as the median
//!   of the rounds' ratios;
//! * `tollgate --endpoint`: endpoint mode (issue 18), recording: the client sends plain HTTP to
//!   `serve --endpoint-listen` as its AWS endpoint, and tollgate re-signs each request with
//!   aws-sigv4 (credentials: AWS's documented example pair, from its environment) before
//!   forwarding it over TLS, as proxy mode forwards; beside the proxy-mode tollgate;
//! * `baseline`, only when `TOLLGATE_BENCH_BASELINE=/path/to/an/older/tollgate` is set: that
//!   binary, recording, measured in the same rounds, for before/after figures from one sitting.
//!
//! Every target gets the same closed-loop load from one load generator (16 tasks over one
//! reqwest client with 16 keep-alive connections, HTTP/1.1, requests shaped like boto3's signed
//! ListObjectsV2), in interleaved rounds so that a change in the machine's load falls on all of
//! them alike. Then 1 GiB is streamed down and up, directly, through the recording tollgate and
//! through endpoint mode, sampling each tollgate's memory.
//!
//! Targets are reported as PASS or MISS; the process exits non-zero only when the setup fails.
//! Client and origin run in this process and share the machine's cores with the server under
//! test, so other load skews the figures: the report says how much CPU other processes took.
//! The CPU per request of each server is its own CPU time (user and system) over the requests
//! it served, read from /proc; it does not depend on how busy the machine was as much as the
//! rates do. tollgate inherits the environment, so `TOKIO_WORKER_THREADS` sizes both this
//! process's runtime and tollgate's.

mod common;
use common::{machine, machine_busy_seconds, verdict};

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

const CONCURRENCY: usize = 16;
const CHUNK: usize = 64 * 1024;
const GIB: u64 = 1 << 30;
const MIB: f64 = 1024.0 * 1024.0;
/// The host the proxied client names: on tollgate's default intercept list.
const AWS_HOST: &str = "s3.us-east-1.amazonaws.com";
const SMALL_PATH: &str = "/bench-bucket?list-type=2&max-keys=2";
const UPLOAD_PATH: &str = "/bench-bucket/upload.bin";
/// Per small request; the load loop stops issuing at the end of a phase, so a phase overruns by
/// at most this much.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Throughput through the recording tollgate over nginx's, same origin, same load.
const TARGET_NGINX_RATIO: f64 = 0.80;
/// The recording tollgate's p50 less the direct p50.
const TARGET_ADDED_P50_MS: f64 = 0.30;
/// The recording tollgate's own CPU time per small request.
const TARGET_CPU_PER_REQUEST_US: f64 = 35.0;
const TARGET_PEAK_RSS_MIB: f64 = 64.0;
/// Throughput with `--metrics` on (and scraped every second) over the same tollgate without.
const TARGET_METRICS_RATIO: f64 = 0.95;
/// The label of the tollgate with `--metrics` on.
const METRICS_ON: &str = "tollgate (recording, --metrics)";
/// How often the bench scrapes `--metrics`, as a Prometheus would.
const SCRAPE_EVERY: Duration = Duration::from_secs(1);
/// An older tollgate binary to measure beside this one.
const BASELINE_VAR: &str = "TOLLGATE_BENCH_BASELINE";
/// Above this share of the machine used by other processes during a phase, the run is flagged.
const NOISY_SHARE: f64 = 0.10;

struct Settings {
    quick: bool,
    rounds: u32,
    warmup: Duration,
    phase: Duration,
    stream_bytes: u64,
    stream_limit: Duration,
}

impl Settings {
    /// `--quick` for a short smoke run; anything else (`--bench`, filters) is ignored.
    fn from_args() -> Self {
        let quick = std::env::args().skip(1).any(|arg| arg == "--quick");
        if quick {
            Self {
                quick,
                rounds: 1,
                warmup: Duration::from_millis(500),
                phase: Duration::from_secs(2),
                stream_bytes: 256 << 20,
                stream_limit: Duration::from_secs(60),
            }
        } else {
            Self {
                quick,
                rounds: 5,
                warmup: Duration::from_secs(1),
                phase: Duration::from_secs(4),
                stream_bytes: GIB,
                stream_limit: Duration::from_secs(180),
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--bare-proxy-child") {
        return bare::child(&args[at + 1..]);
    }
    let settings = Settings::from_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("proxy bench: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(bench(&settings));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("proxy bench: setup failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One server the load is pointed at.
struct Target {
    label: &'static str,
    client: reqwest::Client,
    url: String,
    /// The processes whose CPU is the server's (none for direct).
    pids: Vec<u32>,
    load: Option<Load>,
}

async fn bench(settings: &Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    let (cpu_model, cores) = machine();

    let origin = Origin::start().await?;
    let files = tempfile::tempdir().context("cannot make a temporary directory")?;
    let origin_ca_path = files.path().join("origin-ca.pem");
    std::fs::write(&origin_ca_path, &origin.ca_pem)?;
    let origin_port = origin.addr.port();

    // The servers under test, each in a home of its own.
    let homes = tempfile::tempdir().context("cannot make a temporary TOLLGATE_HOME")?;
    let spawn = |label: &'static str, mode: Mode| {
        let home = homes.path().join(label);
        let ca = origin_ca_path.clone();
        tokio::task::spawn_blocking(move || Server::start(mode, origin_port, &ca, &home))
    };
    let mut recording = spawn("recording", Mode::Recording).await??;
    let mut unrecorded = spawn("no-record", Mode::NoRecord).await??;
    let mut floor = spawn("floor", Mode::Floor).await??;
    let mut with_metrics = spawn("metrics", Mode::Metrics).await??;
    let mut endpoint = spawn("endpoint", Mode::Endpoint).await??;
    let scraper = Scraper::start(&with_metrics).await?;
    let mut baseline = match std::env::var_os(BASELINE_VAR) {
        Some(_) => Some(spawn("baseline", Mode::Baseline).await??),
        None => None,
    };
    let nginx = match Nginx::start(files.path(), &origin) {
        Ok(nginx) => Some(nginx),
        Err(error) => {
            progress(format!("no nginx comparison: {error:#}"));
            None
        }
    };
    progress(format!(
        "tollgate pid {} on port {}, tollgate --no-record pid {}, proxy floor pid {}, nginx {}, \
         origin on {}",
        recording.pid,
        recording.port,
        unrecorded.pid,
        floor.pid,
        nginx
            .as_ref()
            .map(|n| format!("pids {:?} on port {}", n.pids(), n.port))
            .unwrap_or_else(|| "not running".into()),
        origin.addr
    ));
    let rss_at_start = proc_status_kib(recording.pid, "VmRSS");

    let direct = client(origin.ca_pem.as_bytes(), None)?;
    let proxied = |server: &Server| {
        client(
            &server.ca_pem,
            Some(&format!("http://127.0.0.1:{}", server.port)),
        )
    };
    let direct_base = format!("https://{}", origin.addr);
    let aws_base = format!("https://{AWS_HOST}");

    // One checked request to each, on a new connection: a broken setup fails here.
    let mut targets = vec![Target {
        label: "direct",
        client: direct.clone(),
        url: direct_base.clone(),
        pids: Vec::new(),
        load: None,
    }];
    if let Some(nginx) = &nginx {
        targets.push(Target {
            label: "nginx, 1 worker",
            client: direct.clone(),
            url: format!("https://127.0.0.1:{}", nginx.port),
            pids: nginx.pids(),
            load: None,
        });
    }
    let mut servers = vec![
        ("proxy floor (no-op observer)", &floor),
        ("tollgate --no-record", &unrecorded),
        (METRICS_ON, &with_metrics),
    ];
    if let Some(baseline) = &baseline {
        servers.push(("baseline tollgate (recording)", baseline));
    }
    // Endpoint mode: plain HTTP to tollgate itself, no proxy, no CA.
    targets.push(Target {
        label: "tollgate --endpoint (recording)",
        client: client(origin.ca_pem.as_bytes(), None)?,
        url: endpoint_base(&endpoint),
        pids: vec![endpoint.pid],
        load: None,
    });
    // Last: the figures the targets are for.
    servers.push(("tollgate (recording)", &recording));
    for (label, server) in servers {
        targets.push(Target {
            label,
            client: proxied(server)?,
            url: aws_base.clone(),
            pids: vec![server.pid],
            load: None,
        });
    }
    let mut first_request = Vec::new();
    for target in &targets {
        match preflight(&target.client, &target.url, &origin, target.label).await {
            Ok(time) => first_request.push((target.label, time)),
            Err(error) => {
                let stderr = [&recording, &unrecorded, &floor]
                    .iter()
                    .map(|server| server.stderr_text())
                    .collect::<Vec<_>>()
                    .join("\n");
                let stderr = format!("{stderr}\n{}", endpoint.stderr_text());
                recording.stop();
                unrecorded.stop();
                floor.stop();
                with_metrics.stop();
                endpoint.stop();
                bail!("{error:#}\n{stderr}");
            }
        }
    }
    let upstream_host = origin
        .state
        .preflight_hosts
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or_default();

    // Small responses: every target in turn, round after round. The metrics' pair (on, off)
    // is measured back to back, in turn first (on, off; off, on; ...), and compared round by
    // round: a change in the machine's load then falls on both sides of each ratio alike.
    let metrics_at = targets
        .iter()
        .position(|t| t.label == METRICS_ON)
        .expect("the --metrics target");
    let mut order: Vec<usize> = (0..targets.len()).filter(|&i| i != metrics_at).collect();
    let recording_at = order.len() - 1;
    order.insert(recording_at, metrics_at);
    // The recording tollgate is the last target: the figures the targets are for.
    let last_target = targets.len() - 1;
    let mut metrics_ratios: Vec<f64> = Vec::new();
    for round in 1..=settings.rounds {
        let mut this_round = order.clone();
        if round % 2 == 0 {
            let last = this_round.len() - 1;
            this_round.swap(last - 1, last);
        }
        let mut pair = (None, None);
        for &at in &this_round {
            let target = &mut targets[at];
            progress(format!(
                "small responses, round {round}/{}: {}",
                settings.rounds, target.label
            ));
            let url = format!("{}{SMALL_PATH}", target.url);
            let load = load(&target.client, &url, settings, &target.pids).await?;
            if target.label == METRICS_ON {
                pair.0 = Some(load.rate());
            } else if at == last_target {
                pair.1 = Some(load.rate());
            }
            match &mut target.load {
                Some(total) => total.merge(load)?,
                None => target.load = Some(load),
            }
        }
        if let (Some(on), Some(off)) = pair {
            metrics_ratios.push(on / off);
        }
    }
    let rss_after_small = proc_status_kib(recording.pid, "VmHWM");
    let baseline_rss_after_small = baseline
        .as_ref()
        .and_then(|baseline| proc_status_kib(baseline.pid, "VmHWM"));

    // Streaming, direct then through the recording tollgate, which has the small phases' calls
    // behind it.
    let size_label = size_label(settings.stream_bytes);
    let big_path = format!("/big?bytes={}", settings.stream_bytes);
    progress(format!("{size_label} download and upload, direct"));
    let down_direct = stream(
        &direct,
        Direction::Down,
        &format!("{direct_base}{big_path}"),
        settings,
        recording.pid,
    )
    .await;
    let up_direct = stream(
        &direct,
        Direction::Up,
        &format!("{direct_base}{UPLOAD_PATH}"),
        settings,
        recording.pid,
    )
    .await;
    progress(format!(
        "{size_label} download and upload, through tollgate"
    ));
    let tollgate = &targets.last().expect("tollgate is a target").client;
    let rss_before_streams = proc_status_kib(recording.pid, "VmRSS");
    // Reset the high-water mark so that the peak is the streams' own.
    let hwm_reset = std::fs::write(format!("/proc/{}/clear_refs", recording.pid), "5").is_ok();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let sampling = sampling.clone();
        let pid = recording.pid;
        async move {
            let mut peak = 0u64;
            while sampling.load(Ordering::Relaxed) {
                if let Some(rss) = proc_status_kib(pid, "VmRSS") {
                    peak = peak.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        }
    });
    let down_proxied = stream(
        tollgate,
        Direction::Down,
        &format!("{aws_base}{big_path}"),
        settings,
        recording.pid,
    )
    .await;
    let up_proxied = stream(
        tollgate,
        Direction::Up,
        &format!("{aws_base}{UPLOAD_PATH}"),
        settings,
        recording.pid,
    )
    .await;
    sampling.store(false, Ordering::Relaxed);
    let sampled_peak_kib = sampler.await.unwrap_or(0);
    let hwm_streams = proc_status_kib(recording.pid, "VmHWM");
    let rss_now = proc_status_kib(recording.pid, "VmRSS");

    // The same streams through endpoint mode, its memory sampled the same way.
    progress(format!(
        "{size_label} download and upload, through endpoint mode"
    ));
    let endpoint_client = targets
        .iter()
        .find(|target| target.label.starts_with("tollgate --endpoint"))
        .map(|target| target.client.clone())
        .expect("endpoint mode is a target");
    let endpoint_hwm_reset =
        std::fs::write(format!("/proc/{}/clear_refs", endpoint.pid), "5").is_ok();
    let down_endpoint = stream(
        &endpoint_client,
        Direction::Down,
        &format!("{}{big_path}", endpoint_base(&endpoint)),
        settings,
        endpoint.pid,
    )
    .await;
    let up_endpoint = stream(
        &endpoint_client,
        Direction::Up,
        &format!("{}{UPLOAD_PATH}", endpoint_base(&endpoint)),
        settings,
        endpoint.pid,
    )
    .await;
    let endpoint_peak_kib = proc_status_kib(endpoint.pid, "VmHWM").unwrap_or(0);

    // Stop the servers with the clients' idle keep-alive connections still open, as in real use.
    let stop_started = Instant::now();
    let stopped = tokio::task::block_in_place(|| recording.stop());
    let stop_time = stop_started.elapsed();
    let scrapes = scraper.stop().await;
    unrecorded.stop();
    floor.stop();
    with_metrics.stop();
    endpoint.stop();
    if let Some(baseline) = &mut baseline {
        baseline.stop();
    }
    drop(nginx);

    // The report.
    let mode = if settings.quick {
        format!(
            " (quick: {} round of {} s per target, {size_label} streams)",
            settings.rounds,
            settings.phase.as_secs()
        )
    } else {
        format!(
            "; {} interleaved rounds of {} s per target",
            settings.rounds,
            settings.phase.as_secs()
        )
    };
    println!();
    println!("tollgate proxy bench on {cpu_model}, {cores} cores{mode}");
    println!(
        "small responses ({} B ListObjectsV2 body, boto3-like signed GET), {CONCURRENCY} \
         keep-alive connections, one reqwest load generator for all:",
        origin.state.small.len()
    );
    println!(
        "  {:<30} {:>9} {:>8} {:>8} {:>10} {:>16}",
        "", "req/s", "p50 ms", "p99 ms", "vs direct", "server CPU/req"
    );
    let loads: Vec<(&str, &Load, bool)> = targets
        .iter()
        .filter_map(|t| Some((t.label, t.load.as_ref()?, !t.pids.is_empty())))
        .collect();
    let direct_load = loads[0].1;
    for (label, load, has_server) in &loads {
        println!(
            "  {label:<30} {:>9.0} {:>8.2} {:>8.2} {:>10} {:>16}",
            load.rate(),
            load.p50_ms(),
            load.quantile_ms(0.99),
            format!("{:.2}x", load.rate() / direct_load.rate()),
            if *has_server {
                per_request(load.cpu.server, load.completed)
            } else {
                "-".into()
            }
        );
    }
    let recorded = loads.last().expect("tollgate was measured").1;
    let nginx_load = loads
        .iter()
        .find(|(label, _, _)| label.starts_with("nginx"))
        .map(|(_, load, _)| *load);
    let added_p50 = recorded.p50_ms() - direct_load.p50_ms();
    let cpu_us = recorded
        .cpu
        .server
        .map(|cpu| cpu * 1e6 / recorded.completed.max(1) as f64);
    print!("targets, tollgate recording: ");
    match nginx_load {
        Some(nginx_load) => {
            let ratio = recorded.rate() / nginx_load.rate();
            print!(
                "throughput {ratio:.2}x nginx's (target >= {TARGET_NGINX_RATIO:.2}) {}; ",
                verdict(ratio >= TARGET_NGINX_RATIO)
            );
        }
        None => print!("throughput vs nginx n/a (nginx not installed); "),
    }
    println!(
        "added p50 {added_p50:.2} ms (target <= {TARGET_ADDED_P50_MS:.2}) {}; CPU per request {} \
         (target <= {TARGET_CPU_PER_REQUEST_US:.0} us) {}",
        verdict(added_p50 <= TARGET_ADDED_P50_MS),
        cpu_us
            .map(|us| format!("{us:.1} us"))
            .unwrap_or_else(|| "n/a".into()),
        verdict(cpu_us.is_some_and(|us| us <= TARGET_CPU_PER_REQUEST_US)),
    );
    let cpu_of = |wanted: &str| {
        loads
            .iter()
            .find(|(label, _, _)| label.starts_with(wanted))
            .and_then(|(_, load, _)| Some(load.cpu.server? * 1e6 / load.completed.max(1) as f64))
    };
    // The reference against the same two absolute targets: on a machine where load generator,
    // origin and server share the cores, nginx's own added p50 and CPU say what is reachable.
    if let (Some(nginx_load), Some(nginx_cpu)) = (nginx_load, cpu_of("nginx")) {
        let said = |met: bool| if met { "met" } else { "missed" };
        let nginx_added_p50 = nginx_load.p50_ms() - direct_load.p50_ms();
        println!(
            "nginx itself against the same absolute targets: added p50 {nginx_added_p50:.2} ms \
             ({}), CPU per request {nginx_cpu:.1} us ({})",
            said(nginx_added_p50 <= TARGET_ADDED_P50_MS),
            said(nginx_cpu <= TARGET_CPU_PER_REQUEST_US),
        );
    }
    if let (Some(floor), Some(unrecorded), Some(recording)) = (
        cpu_of("proxy floor"),
        cpu_of("tollgate --no-record"),
        cpu_of("tollgate (recording)"),
    ) {
        println!(
            "tollgate's CPU per request: {floor:.1} us proxy floor (TLS and HTTP both ways, the \
             pool, the tap) + {:.1} us identification and pricing + {:.1} us recording",
            unrecorded - floor,
            recording - unrecorded,
        );
    }
    let rate_of = |wanted: &str| {
        loads
            .iter()
            .find(|(label, _, _)| label.starts_with(wanted))
            .map(|(_, load, _)| load.rate())
    };
    if let (Some(on), Some(off)) = (rate_of(METRICS_ON), rate_of("tollgate (recording)")) {
        let ratio = median(&metrics_ratios).unwrap_or(on / off);
        println!(
            "--metrics on vs off (recording, scraped every {} s, {} scrapes of {:.1} KiB): \
             throughput {ratio:.3}x, the median of the rounds' ratios [{}] (all rounds pooled: \
             {:.3}x) (target >= {TARGET_METRICS_RATIO:.2}) {}; CPU per request {} vs {}",
            SCRAPE_EVERY.as_secs(),
            scrapes.count,
            scrapes.last_bytes as f64 / 1024.0,
            metrics_ratios
                .iter()
                .map(|r| format!("{r:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
            on / off,
            verdict(ratio >= TARGET_METRICS_RATIO),
            cpu_of(METRICS_ON)
                .map(|us| format!("{us:.1} us"))
                .unwrap_or_else(|| "n/a".into()),
            cpu_of("tollgate (recording)")
                .map(|us| format!("{us:.1} us"))
                .unwrap_or_else(|| "n/a".into()),
        );
        if let Some(error) = &scrapes.error {
            println!("  WARNING: a scrape of --metrics failed: {error}");
        }
    }
    if let (Some(baseline), Some(recording)) = (cpu_of("baseline"), cpu_of("tollgate (recording)"))
    {
        let rate = |wanted: &str| {
            loads
                .iter()
                .find(|(label, _, _)| label.starts_with(wanted))
                .map(|(_, load, _)| load.rate())
        };
        println!(
            "against the baseline ({}): CPU per request {recording:.1} us vs {baseline:.1} us \
             ({:.2}x); throughput {:.2}x",
            std::env::var(BASELINE_VAR).unwrap_or_default(),
            recording / baseline,
            rate("tollgate (recording)").unwrap_or(0.0) / rate("baseline").unwrap_or(f64::NAN),
        );
    }
    let peak_kib = if hwm_reset {
        hwm_streams.unwrap_or(0).max(sampled_peak_kib)
    } else {
        hwm_streams.unwrap_or(0)
    };
    let peak_mib = peak_kib as f64 / 1024.0;
    for (label, direct, proxied) in [
        ("download", &down_direct, &down_proxied),
        ("upload", &up_direct, &up_proxied),
    ] {
        let ratio = match (direct.gib_per_s(), proxied.gib_per_s()) {
            (Some(direct), Some(proxied)) => format!("ratio {:.2}", proxied / direct),
            _ => "ratio n/a".into(),
        };
        println!(
            "{size_label} {label}: direct {}, tollgate {} ({ratio}); tollgate CPU {}",
            direct.describe(),
            proxied.describe(),
            proxied
                .cpu
                .server
                .filter(|_| proxied.bytes > 0)
                .map(|cpu| format!("{:.2} s per GiB", cpu * GIB as f64 / proxied.bytes as f64))
                .unwrap_or_else(|| "n/a".into()),
        );
    }
    println!(
        "tollgate peak RSS while streaming {size_label} down and up: {peak_mib:.1} MiB \
         (target <= {TARGET_PEAK_RSS_MIB:.0}) {}",
        verdict(peak_kib > 0 && peak_mib <= TARGET_PEAK_RSS_MIB),
    );
    if let (Some(proxy), Some(endpoint)) = (
        rate_of("tollgate (recording)"),
        rate_of("tollgate --endpoint (recording)"),
    ) {
        println!(
            "endpoint mode vs proxy mode (both recording): throughput {:.2}x; CPU per request {} \
             vs {}",
            endpoint / proxy,
            cpu_of("tollgate --endpoint")
                .map(|us| format!("{us:.1} us"))
                .unwrap_or_else(|| "n/a".into()),
            cpu_of("tollgate (recording)")
                .map(|us| format!("{us:.1} us"))
                .unwrap_or_else(|| "n/a".into()),
        );
    }
    for (label, direct, through) in [
        ("download", &down_direct, &down_endpoint),
        ("upload", &up_direct, &up_endpoint),
    ] {
        let ratio = match (direct.gib_per_s(), through.gib_per_s()) {
            (Some(direct), Some(through)) => format!("ratio {:.2}", through / direct),
            _ => "ratio n/a".into(),
        };
        println!(
            "{size_label} {label} through endpoint mode: {} ({ratio} of direct)",
            through.describe()
        );
    }
    let endpoint_peak_mib = endpoint_peak_kib as f64 / 1024.0;
    println!(
        "endpoint mode's peak RSS while streaming {size_label} down and up: {endpoint_peak_mib:.1} \
         MiB{} (target <= {TARGET_PEAK_RSS_MIB:.0}) {}",
        if endpoint_hwm_reset { "" } else { " (lifetime peak: could not reset)" },
        verdict(endpoint_peak_kib > 0 && endpoint_peak_mib <= TARGET_PEAK_RSS_MIB),
    );

    println!("details:");
    for (label, load, _) in &loads {
        println!(
            "  {label}: {} ok, {} errors{}; p90/p99.9/max {:.2}/{:.2}/{:.2} ms; \
             client+origin CPU {}; server context switches per request {}",
            load.completed,
            load.errors,
            first_error(&load.first_error),
            load.quantile_ms(0.90),
            load.quantile_ms(0.999),
            load.latency_us.max() as f64 / 1000.0,
            per_request(load.cpu.bench, load.completed),
            load.cpu
                .switches
                .map(|n| format!("{:.2}", n as f64 / load.completed.max(1) as f64))
                .unwrap_or_else(|| "n/a".into()),
        );
    }
    println!(
        "  first request on a new connection: {}",
        first_request
            .iter()
            .map(|(label, time)| format!("{label} {:.2} ms", time.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  Host header at the origin for the last proxied preflight: {upstream_host:?}{}",
        if upstream_host == AWS_HOST {
            " (kept)"
        } else {
            " (NOT the host the client named)"
        }
    );
    println!(
        "  tollgate start-up (spawn to its exports, CA created): {:.0} ms; idle VmRSS then {}; \
         peak after the small-response rounds {}",
        recording.startup.as_secs_f64() * 1000.0,
        kib_label(rss_at_start),
        kib_label(rss_after_small),
    );
    if baseline.is_some() {
        println!(
            "  baseline tollgate's peak RSS after the same rounds: {}",
            kib_label(baseline_rss_after_small)
        );
    }
    println!(
        "  tollgate RSS: {} before the streams (what the small-response rounds left); while \
         streaming VmHWM {} ({}); sampled VmRSS peak {}; after {}",
        kib_label(rss_before_streams),
        kib_label(hwm_streams),
        if hwm_reset {
            "reset before the streams"
        } else {
            "could not be reset: lifetime peak"
        },
        kib_label(Some(sampled_peak_kib)),
        kib_label(rss_now),
    );
    let mut phases: Vec<(String, Option<f64>)> = loads
        .iter()
        .map(|(label, load, _)| (label.to_string(), load.cpu.other_share(cores)))
        .collect();
    for (label, run) in [
        ("download direct", &down_direct),
        ("download tollgate", &down_proxied),
        ("upload direct", &up_direct),
        ("upload tollgate", &up_proxied),
    ] {
        phases.push((label.to_string(), run.cpu.other_share(cores)));
    }
    println!(
        "  other processes' CPU, share of the machine: {}",
        phases
            .iter()
            .map(|(label, share)| match share {
                Some(share) => format!("{label} {:.0}%", share * 100.0),
                None => format!("{label} n/a"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    if phases
        .iter()
        .any(|(_, share)| share.is_some_and(|share| share > NOISY_SHARE))
    {
        println!(
            "  WARNING: other processes used more than {:.0}% of the machine during a phase; \
             the rates above are noisy (CPU per request much less so)",
            NOISY_SHARE * 100.0
        );
    }
    println!(
        "  tollgate stopped {:.0} ms after SIGTERM: {stopped}",
        stop_time.as_secs_f64() * 1000.0
    );
    let stderr = recording.stderr_lines();
    if !stderr.is_empty() {
        println!("  tollgate stderr ({} lines):", stderr.len());
        for line in stderr.iter().take(20) {
            println!("    {line}");
        }
        if stderr.len() > 20 {
            println!("    ... {} more", stderr.len() - 20);
        }
    }
    println!(
        "  bench wall time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    origin.stop();
    Ok(())
}

fn progress(message: impl AsRef<str>) {
    eprintln!("[proxy bench] {}", message.as_ref());
}

fn first_error(error: &Option<String>) -> String {
    match error {
        Some(error) => format!(" (first: {error})"),
        None => String::new(),
    }
}

fn per_request(cpu: Option<f64>, requests: u64) -> String {
    match cpu {
        Some(cpu) if requests > 0 => format!("{:.1} us", cpu * 1e6 / requests as f64),
        _ => "n/a".into(),
    }
}

fn kib_label(kib: Option<u64>) -> String {
    match kib {
        Some(kib) => format!("{:.1} MiB", kib as f64 / 1024.0),
        None => "n/a".into(),
    }
}

fn size_label(bytes: u64) -> String {
    if bytes >= GIB && bytes % GIB == 0 {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The machine and /proc.

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is at index 0, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

/// The summed CPU seconds of several processes; `None` if any cannot be read.
fn cpu_seconds_of(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&pid| cpu_seconds(pid)).sum()
}

/// Context switches, voluntary and not, summed over every thread of a process.
fn context_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
        total += status
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.ends_with("ctxt_switches")
                    .then(|| value.trim().parse::<u64>().ok())?
            })
            .sum::<u64>();
    }
    Some(total)
}

/// CPU counters at one instant: the server's, this process's (client and origin), the machine's.
#[derive(Clone)]
struct CpuSnapshot {
    at: Instant,
    server: Option<f64>,
    switches: Option<u64>,
    bench: Option<f64>,
    machine: Option<f64>,
}

impl CpuSnapshot {
    fn take(pids: &[u32]) -> Self {
        Self {
            at: Instant::now(),
            server: cpu_seconds_of(pids),
            switches: pids.iter().map(|&pid| context_switches(pid)).sum(),
            bench: cpu_seconds(std::process::id()),
            machine: machine_busy_seconds(),
        }
    }

    fn until(self, later: Self) -> CpuUsage {
        let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
        CpuUsage {
            wall: later.at - self.at,
            server: delta(self.server, later.server),
            switches: self
                .switches
                .zip(later.switches)
                .map(|(a, b)| b.saturating_sub(a)),
            bench: delta(self.bench, later.bench),
            machine: delta(self.machine, later.machine),
        }
    }
}

/// CPU seconds used between two snapshots (summed over rounds).
#[derive(Clone, Copy)]
struct CpuUsage {
    wall: Duration,
    server: Option<f64>,
    switches: Option<u64>,
    bench: Option<f64>,
    machine: Option<f64>,
}

impl CpuUsage {
    /// The share of the machine used by processes other than the server and this bench.
    fn other_share(&self, cores: usize) -> Option<f64> {
        let others = self.machine? - self.server.unwrap_or(0.0) - self.bench?;
        let capacity = self.wall.as_secs_f64() * cores as f64;
        (capacity > 0.0).then(|| (others / capacity).max(0.0))
    }

    fn add(&mut self, other: &CpuUsage) {
        let sum = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a + b);
        self.wall += other.wall;
        self.server = sum(self.server, other.server);
        self.switches = self.switches.zip(other.switches).map(|(a, b)| a + b);
        self.bench = sum(self.bench, other.bench);
        self.machine = sum(self.machine, other.machine);
    }
}

/// A `kB` field of /proc/<pid>/status (VmRSS, VmHWM).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// The processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The origin.

struct OriginState {
    small: Bytes,
    chunk: Bytes,
    requests: AtomicU64,
    /// Host headers of `/preflight` requests, in arrival order.
    preflight_hosts: Mutex<Vec<String>>,
}

struct Origin {
    addr: SocketAddr,
    ca_pem: String,
    /// The origin's own certificate and key, PEM, for nginx to present too.
    leaf_pem: String,
    key_pem: String,
    state: Arc<OriginState>,
    accept_task: tokio::task::JoinHandle<()>,
}

type OriginBody =
    Either<Full<Bytes>, StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>>;

impl Origin {
    async fn start() -> anyhow::Result<Self> {
        let certificates = origin_certificates()?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certificates.leaf], certificates.key)?;
        // HTTP/1.1 only, so both legs are the same protocol.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
        let state = Arc::new(OriginState {
            small: Bytes::from(list_objects_xml()),
            chunk: Bytes::from(chunk),
            requests: AtomicU64::new(0),
            preflight_hosts: Mutex::new(Vec::new()),
        });
        let accept_task = tokio::spawn(serve_origin(listener, acceptor, state.clone()));
        Ok(Self {
            addr,
            ca_pem: certificates.ca_pem,
            leaf_pem: certificates.leaf_pem,
            key_pem: certificates.key_pem,
            state,
            accept_task,
        })
    }

    fn stop(self) {
        self.accept_task.abort();
    }
}

struct OriginCertificates {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    leaf_pem: String,
    key_pem: String,
}

/// A test CA, and a leaf for `localhost` and 127.0.0.1 signed by it.
fn origin_certificates() -> anyhow::Result<OriginCertificates> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tollgate bench origin CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
    Ok(OriginCertificates {
        ca_pem: ca_cert.pem(),
        leaf_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
        leaf: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    })
}

/// About 700 bytes of ListObjectsV2 response.
fn list_objects_xml() -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Name>bench-bucket</Name><Prefix>logs/</Prefix><KeyCount>2</KeyCount>\
         <MaxKeys>2</MaxKeys><IsTruncated>false</IsTruncated>",
    );
    for (key, etag, size) in [
        (
            "logs/app-0001.json.gz",
            "9b2cf535f27731c974343645a3985328",
            48213,
        ),
        (
            "logs/app-0002.json.gz",
            "e1b849f9631ffc1829b2e31402373e3c",
            51877,
        ),
    ] {
        xml.push_str(&format!(
            "<Contents><Key>{key}</Key><LastModified>2026-11-26T09:14:03.000Z</LastModified>\
             <ETag>&quot;{etag}&quot;</ETag><Size>{size}</Size>\
             <StorageClass>STANDARD</StorageClass></Contents>"
        ));
    }
    xml.push_str("</ListBucketResult>");
    xml
}

async fn serve_origin(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<OriginState>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let service = service_fn(move |request: Request<Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn respond(state: &OriginState, request: Request<Incoming>) -> Response<OriginBody> {
    let id = state.requests.fetch_add(1, Ordering::Relaxed);
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header("x-amz-request-id", format!("{id:016X}"))
        .header(
            "x-amz-id-2",
            "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0emYBDXOo6QBU0Wo=",
        )
        .header(header::SERVER, "AmazonS3");
    let path = request.uri().path().to_string();
    if path == "/preflight" {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string();
        state.preflight_hosts.lock().unwrap().push(host);
    }
    let response = if request.method() == Method::PUT {
        // Read the upload to its end, a frame at a time, and say how much came.
        let mut body = request.into_body();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => bytes += frame.data_ref().map_or(0, |data| data.len() as u64),
                Err(_) => break,
            }
        }
        builder
            .header("x-bench-received", bytes)
            .header(header::ETAG, "\"9b2cf535f27731c974343645a3985328\"")
            .body(Either::Left(Full::new(Bytes::new())))
    } else if path == "/big" {
        let size = request
            .uri()
            .query()
            .and_then(|query| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("bytes=")?.parse::<u64>().ok())
            })
            .unwrap_or(GIB);
        let chunk = state.chunk.clone();
        let whole = size / CHUNK as u64;
        let tail = (size % CHUNK as u64) as usize;
        let last = (tail > 0).then(|| chunk.slice(..tail));
        let frames = futures_util::stream::iter((0..whole).map(move |_| chunk.clone()).chain(last))
            .map(|data| Ok(Frame::data(data)))
            .boxed();
        builder
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .body(Either::Right(StreamBody::new(frames)))
    } else {
        builder
            .header(header::CONTENT_TYPE, "application/xml")
            .body(Either::Left(Full::new(state.small.clone())))
    };
    response.expect("a valid response")
}

// ---------------------------------------------------------------------------------------------
// nginx, as a child process.

struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    /// nginx with one worker, presenting the origin's certificate on a port of its own and
    /// forwarding every request to the origin over TLS, verified, with kept-alive upstream
    /// connections and the Host header the client sent (as tollgate does).
    fn start(dir: &Path, origin: &Origin) -> anyhow::Result<Self> {
        let binary = std::env::var_os("NGINX")
            .map(PathBuf::from)
            .or_else(|| {
                ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
                    .iter()
                    .map(PathBuf::from)
                    .find(|path| path.exists())
            })
            .context("nginx is not installed (Debian: apt-get install nginx-light)")?;
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs"))?;
        std::fs::write(prefix.join("leaf.pem"), &origin.leaf_pem)?;
        std::fs::write(prefix.join("leaf.key"), &origin.key_pem)?;
        std::fs::write(prefix.join("origin-ca.pem"), &origin.ca_pem)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let p = prefix.display();
        let config = format!(
            "worker_processes 1;\n\
             daemon off;\n\
             pid {p}/nginx.pid;\n\
             error_log {p}/logs/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {p}/client_body;\n\
               proxy_temp_path {p}/proxy;\n\
               fastcgi_temp_path {p}/fastcgi;\n\
               uwsgi_temp_path {p}/uwsgi;\n\
               scgi_temp_path {p}/scgi;\n\
               keepalive_requests 1000000;\n\
               upstream origin {{ server {origin}; keepalive 32; }}\n\
               server {{\n\
                 listen 127.0.0.1:{port} ssl;\n\
                 ssl_certificate {p}/leaf.pem;\n\
                 ssl_certificate_key {p}/leaf.key;\n\
                 location / {{\n\
                   proxy_pass https://origin;\n\
                   proxy_http_version 1.1;\n\
                   proxy_set_header Connection \"\";\n\
                   proxy_set_header Host {AWS_HOST};\n\
                   proxy_ssl_verify on;\n\
                   proxy_ssl_name localhost;\n\
                   proxy_ssl_trusted_certificate {p}/origin-ca.pem;\n\
                   proxy_ssl_session_reuse on;\n\
                 }}\n\
               }}\n\
             }}\n",
            origin = origin.addr,
        );
        let config_path = prefix.join("nginx.conf");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(&binary)
            .arg("-p")
            .arg(&prefix)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                bail!("nginx exited at start ({status}): {}", stderr.trim());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && !children_of(child.id()).is_empty()
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("nginx did not listen on port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child, port })
    }

    /// The master and its workers.
    fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        pids.extend(children_of(self.child.id()));
        pids
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own unreaped child.
        // SIGQUIT: nginx's graceful stop, which ends its workers too.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A scraper of `--metrics`, as Prometheus.

/// What the scraper saw.
struct Scrapes {
    count: u64,
    last_bytes: u64,
    error: Option<String>,
}

struct Scraper {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Scrapes>,
}

impl Scraper {
    /// Scrapes `server`'s metrics every [`SCRAPE_EVERY`] until stopped; the address is the one
    /// its stderr names.
    async fn start(server: &Server) -> anyhow::Result<Self> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = loop {
            let found = server.stderr_lines().iter().find_map(|line| {
                line.split_once("metrics for Prometheus at ")
                    .map(|(_, url)| url.trim().to_string())
            });
            if let Some(url) = found {
                break url;
            }
            if Instant::now() > deadline {
                bail!(
                    "tollgate --metrics did not say where its metrics are\n{}",
                    server.stderr_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()?;
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut scrapes = Scrapes {
                    count: 0,
                    last_bytes: 0,
                    error: None,
                };
                let mut tick = tokio::time::interval(SCRAPE_EVERY);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let body = match client.get(&url).send().await {
                        Ok(response) => response.bytes().await,
                        Err(error) => Err(error),
                    };
                    match body {
                        Ok(body) => {
                            scrapes.count += 1;
                            scrapes.last_bytes = body.len() as u64;
                        }
                        Err(error) => scrapes.error = Some(error.to_string()),
                    }
                }
                scrapes
            }
        });
        Ok(Self { stop, task })
    }

    async fn stop(self) -> Scrapes {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or(Scrapes {
            count: 0,
            last_bytes: 0,
            error: Some("the scraper task failed".into()),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// tollgate, and the proxy floor, as child processes.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `tollgate serve`, recording into a database in its own home.
    Recording,
    /// `tollgate serve --no-record`: identification and pricing, no database.
    NoRecord,
    /// This bench as `--bare-proxy-child`: the proxy library with a no-op observer.
    Floor,
    /// Another tollgate binary (`TOLLGATE_BENCH_BASELINE`), recording.
    Baseline,
    /// `tollgate serve --metrics 127.0.0.1:0`, recording.
    Metrics,
    /// `tollgate serve --endpoint-listen 127.0.0.1:0`, recording; loaded through the endpoint.
    Endpoint,
}

struct Server {
    child: Child,
    pid: u32,
    port: u16,
    /// `<home>/ca.pem`.
    ca_pem: Vec<u8>,
    stderr: Arc<Mutex<Vec<String>>>,
    stopped: Option<String>,
    /// From spawn to the `export HTTPS_PROXY=` line (first start: the CA is created too).
    startup: Duration,
    /// Endpoint mode's port (`Mode::Endpoint`).
    endpoint_port: Option<u16>,
}

impl Server {
    fn start(mode: Mode, origin_port: u16, origin_ca: &Path, home: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(home)?;
        let upstream = format!("https://127.0.0.1:{origin_port}");
        let (binary, mut command) = match mode {
            Mode::Floor => {
                let binary = std::env::current_exe()?;
                let mut command = Command::new(&binary);
                command
                    .arg("--bare-proxy-child")
                    .arg(&upstream)
                    .arg(origin_ca)
                    .arg(home);
                (binary, command)
            }
            Mode::Recording | Mode::NoRecord | Mode::Baseline | Mode::Metrics | Mode::Endpoint => {
                let binary = match std::env::var_os(BASELINE_VAR) {
                    Some(path) if mode == Mode::Baseline => PathBuf::from(path),
                    _ => PathBuf::from(env!("CARGO_BIN_EXE_tollgate")),
                };
                let mut command = Command::new(&binary);
                command
                    .args(["serve", "--listen", "127.0.0.1:0", "--quiet", "--upstream"])
                    .arg(&upstream)
                    .arg("--upstream-ca")
                    .arg(origin_ca);
                if mode == Mode::NoRecord {
                    command.arg("--no-record");
                }
                if mode == Mode::Metrics {
                    command.args(["--metrics", "127.0.0.1:0"]);
                }
                if mode == Mode::Endpoint {
                    command.args(["--endpoint-listen", "127.0.0.1:0"]);
                }
                (binary, command)
            }
        };
        let spawned = Instant::now();
        common::hermetic(&mut command);
        if mode == Mode::Endpoint {
            // The key the load's requests are signed with (boto3_headers), and nothing of the
            // machine's: no shared files, no instance metadata.
            command
                .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
                .env(
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                )
                .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    home.join("no-aws-credentials"),
                )
                .env("AWS_EC2_METADATA_DISABLED", "true");
        }
        let mut child = command
            .env("TOLLGATE_HOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id();
        let endpoint_mode = mode == Mode::Endpoint;

        // Keep both pipes drained for the whole run.
        let (port_tx, port_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = proxy_port(&line) {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        std::thread::spawn({
            let stderr = stderr.clone();
            move || {
                let mut reader = BufReader::new(stderr_pipe);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.by_ref().read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => stderr
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&line).trim_end().to_string()),
                    }
                }
            }
        });

        let mut server = Self {
            child,
            pid,
            port: 0,
            ca_pem: Vec::new(),
            stderr,
            stopped: None,
            startup: Duration::ZERO,
            endpoint_port: None,
        };
        match port_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => {
                server.port = port;
                server.startup = spawned.elapsed();
            }
            Err(_) => {
                let status = server.stop();
                bail!(
                    "{} printed no `export HTTPS_PROXY=` line within 30 s ({status})\n{}",
                    binary.display(),
                    server.stderr_text()
                );
            }
        }
        if endpoint_mode {
            // Said on stderr once the endpoint listens, after the exports.
            let deadline = Instant::now() + Duration::from_secs(10);
            while server.endpoint_port.is_none() && Instant::now() < deadline {
                server.endpoint_port = server.stderr_lines().iter().find_map(|line| {
                    let rest = line
                        .split("endpoint listening on http://127.0.0.1:")
                        .nth(1)?;
                    rest.split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse()
                        .ok()
                });
                std::thread::sleep(Duration::from_millis(20));
            }
            if server.endpoint_port.is_none() {
                let status = server.stop();
                bail!(
                    "no endpoint port printed ({status})\n{}",
                    server.stderr_text()
                );
            }
        }
        let ca_path = home.join("ca.pem");
        match std::fs::read(&ca_path) {
            Ok(pem) => server.ca_pem = pem,
            Err(error) => {
                server.stop();
                bail!("cannot read the proxy's CA {}: {error}", ca_path.display());
            }
        }
        Ok(server)
    }

    /// SIGTERM, then up to 20 s for a clean exit, then SIGKILL. Returns how it ended.
    fn stop(&mut self) -> String {
        if let Some(stopped) = &self.stopped {
            return stopped.clone();
        }
        let describe = |status: ExitStatus| match status.code() {
            Some(code) => format!("exit code {code}"),
            None => format!("{status}"),
        };
        let stopped = match self.child.try_wait() {
            Ok(Some(status)) => format!("had already exited ({})", describe(status)),
            _ => {
                // SAFETY: kill has no memory-safety preconditions; pid is our own child, not yet
                // reaped, so it cannot have been reused.
                unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    match self.child.try_wait() {
                        Ok(Some(status)) => break describe(status),
                        Ok(None) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        _ => {
                            let _ = self.child.kill();
                            let _ = self.child.wait();
                            break "did not exit within 20 s of SIGTERM; killed".to_string();
                        }
                    }
                }
            }
        };
        self.stopped = Some(stopped.clone());
        stopped
    }

    fn stderr_lines(&self) -> Vec<String> {
        // Give the reader thread a moment to take the last lines after exit.
        std::thread::sleep(Duration::from_millis(50));
        self.stderr.lock().unwrap().clone()
    }

    fn stderr_text(&self) -> String {
        let lines = self.stderr_lines();
        if lines.is_empty() {
            "the proxy wrote nothing on stderr".into()
        } else {
            format!("the proxy's stderr:\n  {}", lines.join("\n  "))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stopped.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port of an `export HTTPS_PROXY=http://127.0.0.1:<port>` line.
fn proxy_port(line: &str) -> Option<u16> {
    let value = line.trim().strip_prefix("export HTTPS_PROXY=")?;
    let value = value
        .trim_matches(|c| c == '\'' || c == '"')
        .trim_end_matches('/');
    value.rsplit(':').next()?.parse().ok()
}

/// The proxy floor: tollgate's proxy with an observer that does nothing, in a process of its own.
mod bare {
    use std::process::ExitCode;
    use std::sync::Arc;

    use anyhow::Context;
    use tollgate::ca::{CaPaths, LeafCertificates, LocalCa};
    use tollgate::proxy::{Exchange, HostMatcher, Observer, Observers, Proxy, ProxyConfig};

    /// Sees every exchange and does nothing with it, and asks for no body copies.
    struct Nothing;

    impl Observer for Nothing {
        fn on_exchange(&self, _exchange: &Exchange) {}
    }

    /// `--bare-proxy-child UPSTREAM ORIGIN_CA HOME`: serves until SIGTERM.
    pub fn child(args: &[String]) -> ExitCode {
        let [upstream, origin_ca, home] = args else {
            eprintln!("--bare-proxy-child UPSTREAM ORIGIN_CA HOME");
            return ExitCode::FAILURE;
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("proxy floor: cannot start tokio: {error}");
                return ExitCode::FAILURE;
            }
        };
        let result = runtime.block_on(async {
            // The floor intercepts only AWS hosts: its CA is constrained to them, as `ca init` makes it.
            let paths = CaPaths::new(home);
            let (ca, _) = LocalCa::load_or_create(&paths, &["amazonaws.com".to_string()])?;
            let leaves = LeafCertificates::new(
                Arc::new(ca),
                1024,
                vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            )?;
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(tollgate::roots::read_pem_certs(
                std::path::Path::new(origin_ca),
            )?);
            let mut config = ProxyConfig::new(
                "127.0.0.1:0".parse()?,
                HostMatcher::new(["*.amazonaws.com"])?,
                Arc::new(roots),
            );
            config.upstream = Some(upstream.parse().context("upstream URL")?);
            let proxy = Proxy::bind(
                config,
                Arc::new(leaves),
                Observers::new(vec![Arc::new(Nothing) as Arc<dyn Observer>]),
            )
            .await?;
            println!("export HTTPS_PROXY=http://{}", proxy.local_addr());
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            proxy
                .serve(async move {
                    terminate.recv().await;
                })
                .await;
            anyhow::Ok(())
        });
        runtime.shutdown_background();
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("proxy floor: {error:#}");
                ExitCode::FAILURE
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients and load.

fn client(root_pem: &[u8], proxy: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(CONCURRENCY)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem)?)
        .default_headers(boto3_headers());
    let builder = match proxy {
        Some(url) => builder.proxy(reqwest::Proxy::https(url)?),
        None => builder.no_proxy(),
    };
    Ok(builder.build()?)
}

/// What boto3 sends with a ListObjectsV2 besides Host: a SigV4 signature (not checked by the
/// origin; the access key is AWS's documented example), the SDK's user agent and its retry
/// headers. Identification reads these, so a bench without them would flatter it.
fn boto3_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (
            "user-agent",
            "Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux#6.1.0 md/arch#x86_64 \
             lang/python#3.11.2 md/pyimpl#CPython m/Z,b cfg/retry-mode#legacy Botocore/1.40.0",
        ),
        ("accept-encoding", "identity"),
        ("x-amz-date", "20261126T091403Z"),
        (
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("amz-sdk-invocation-id", "2b7c9e4a-5f1d-4c3b-9a8e-7d6f5e4c3b2a"),
        ("amz-sdk-request", "attempt=1; max=5"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261126/us-east-1/s3/aws4_request, \
             SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;host;x-amz-content-sha256;\
             x-amz-date, Signature=0c5b7a0a4ac5f5c5d1b6a6f8e6a7e3d0b2d6f9a1c8e4b7d2a5f3c9e1b8d4a6f2",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
}

/// One request to `/preflight`, checked, so that a broken setup fails loudly before any figure.
/// Returns how long it took, connection set-up included.
/// Endpoint mode's base URL: plain HTTP to tollgate itself.
fn endpoint_base(server: &Server) -> String {
    format!(
        "http://127.0.0.1:{}",
        server.endpoint_port.expect("an endpoint-mode server")
    )
}

async fn preflight(
    client: &reqwest::Client,
    base: &str,
    origin: &Origin,
    label: &str,
) -> anyhow::Result<Duration> {
    let before = origin.state.requests.load(Ordering::Relaxed);
    let started = Instant::now();
    let response = client
        .get(format!("{base}/preflight?list-type=2"))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|error| anyhow::anyhow!("{}", error_chain(&error)))
        .with_context(|| format!("the first request to {label} failed"))?;
    let status = response.status();
    let request_id = response.headers().contains_key("x-amz-request-id");
    let body = response.bytes().await?;
    let elapsed = started.elapsed();
    if status != StatusCode::OK
        || !request_id
        || body != origin.state.small
        || origin.state.requests.load(Ordering::Relaxed) == before
    {
        bail!(
            "the first request to {label} got {status} (x-amz-request-id {}): {}",
            if request_id { "present" } else { "missing" },
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(elapsed)
}

async fn fetch_small(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|error| error_chain(&error))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|error| error_chain(&error))?;
    if status != StatusCode::OK {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
        ));
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

struct Load {
    completed: u64,
    errors: u64,
    first_error: Option<String>,
    window: Duration,
    latency_us: Histogram<u64>,
    /// Over the measured windows.
    cpu: CpuUsage,
}

impl Load {
    fn rate(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64()
    }

    fn quantile_ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn p50_ms(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    /// Adds another round's figures to these.
    fn merge(&mut self, other: Load) -> anyhow::Result<()> {
        self.completed += other.completed;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.window += other.window;
        self.latency_us.add(&other.latency_us)?;
        self.cpu.add(&other.cpu);
        Ok(())
    }
}

struct TaskLoad {
    completed: u64,
    errors: u64,
    first_error: Option<String>,
    latency_us: Histogram<u64>,
}

/// Closed loop: CONCURRENCY tasks each send a request as soon as the last one is answered, for a
/// warm-up and then the measured window. A request counts when it completes inside the window.
async fn load(
    client: &reqwest::Client,
    url: &str,
    settings: &Settings,
    server_pids: &[u32],
) -> anyhow::Result<Load> {
    let start = Instant::now();
    let measure_from = start + settings.warmup;
    let until = measure_from + settings.phase;
    let mut tasks = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        let url = url.to_string();
        tasks.spawn(async move {
            let mut task = TaskLoad {
                completed: 0,
                errors: 0,
                first_error: None,
                latency_us: histogram(),
            };
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let result = fetch_small(&client, &url).await;
                let done = Instant::now();
                let counted = done >= measure_from && done < until;
                match result {
                    Ok(()) if counted => {
                        task.completed += 1;
                        let micros = u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX);
                        task.latency_us.saturating_record(micros.max(1));
                    }
                    Ok(()) => {}
                    Err(error) => {
                        task.errors += u64::from(counted);
                        task.first_error.get_or_insert(error);
                        // Do not spin on a failing setup.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            task
        });
    }

    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_start = CpuSnapshot::take(server_pids);
    tokio::time::sleep_until(until.into()).await;
    let cpu = cpu_start.until(CpuSnapshot::take(server_pids));

    let mut total = Load {
        completed: 0,
        errors: 0,
        first_error: None,
        window: settings.phase,
        latency_us: histogram(),
        cpu,
    };
    let joined = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(10), async {
        while let Some(task) = tasks.join_next().await {
            let task = task?;
            total.completed += task.completed;
            total.errors += task.errors;
            if total.first_error.is_none() {
                total.first_error = task.first_error;
            }
            total.latency_us.add(&task.latency_us)?;
        }
        anyhow::Ok(())
    })
    .await;
    match joined {
        Ok(result) => result?,
        Err(_) => bail!("load tasks still running long after the phase ended"),
    }
    Ok(total)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Down,
    Up,
}

struct Streamed {
    bytes: u64,
    elapsed: Duration,
    error: Option<String>,
    cpu: CpuUsage,
}

impl Streamed {
    fn gib_per_s(&self) -> Option<f64> {
        self.error
            .is_none()
            .then(|| self.bytes as f64 / GIB as f64 / self.elapsed.as_secs_f64())
    }

    fn describe(&self) -> String {
        match (&self.error, self.gib_per_s()) {
            (None, Some(rate)) => format!("{rate:.2} GiB/s"),
            (Some(error), _) => format!(
                "FAILED after {:.1} s and {:.0} MiB ({error})",
                self.elapsed.as_secs_f64(),
                self.bytes as f64 / MIB
            ),
            (None, None) => "n/a".into(),
        }
    }
}

/// Streams one body down (a GET read chunk by chunk) or up (a PUT of 64 KiB chunks made as they
/// are sent, with its Content-Length, as an SDK uploads a file), never holding more than a chunk.
async fn stream(
    client: &reqwest::Client,
    direction: Direction,
    url: &str,
    settings: &Settings,
    server_pid: u32,
) -> Streamed {
    let expected = settings.stream_bytes;
    let limit = settings.stream_limit;
    let cpu_start = CpuSnapshot::take(&[server_pid]);
    let started = cpu_start.at;
    let counted = Arc::new(AtomicU64::new(0));
    let result = tokio::time::timeout(limit + Duration::from_secs(1), async {
        let request = match direction {
            Direction::Down => client.get(url),
            Direction::Up => {
                let chunk = Bytes::from(vec![0x5a; CHUNK]);
                let whole = expected / CHUNK as u64;
                let tail = (expected % CHUNK as u64) as usize;
                let last = (tail > 0).then(|| chunk.slice(..tail));
                let sent = counted.clone();
                let chunks =
                    futures_util::stream::iter((0..whole).map(move |_| chunk.clone()).chain(last))
                        .map(move |data| {
                            sent.fetch_add(data.len() as u64, Ordering::Relaxed);
                            Ok::<_, Infallible>(data)
                        });
                client
                    .put(url)
                    .header(header::CONTENT_LENGTH, expected)
                    .body(reqwest::Body::wrap_stream(chunks))
            }
        };
        let mut response = request
            .timeout(limit)
            .send()
            .await
            .map_err(|error| error_chain(&error))?;
        if response.status() != StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        match direction {
            Direction::Down => {
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|error| error_chain(&error))?
                {
                    counted.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            }
            Direction::Up => {
                let received = response
                    .headers()
                    .get("x-bench-received")
                    .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                if received != Some(expected) {
                    return Err(format!(
                        "the origin received {received:?} bytes, expected {expected}"
                    ));
                }
            }
        }
        Ok(())
    })
    .await;
    let elapsed = started.elapsed();
    let cpu = cpu_start.until(CpuSnapshot::take(&[server_pid]));
    let bytes = counted.load(Ordering::Relaxed);
    let error = match result {
        Ok(Ok(())) if bytes == expected => None,
        Ok(Ok(())) => Some(format!("got {bytes} bytes, expected {expected}")),
        Ok(Err(error)) => Some(error),
        Err(_) => Some(format!("not done within {limit:?}")),
    };
    Streamed {
        bytes,
        elapsed,
        error,
        cpu,
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}
