//! Direct vs through-tollgate, in one run: `cargo bench --bench proxy [-- --quick]`.
//!
//! An in-process HTTPS origin (hyper + tokio-rustls, HTTP/1.1 only) answers every path with a
//! small S3 ListObjectsV2 body, and `/big?bytes=N` with a streamed body of N bytes. tollgate runs
//! as a separate process (`tollgate serve --upstream https://127.0.0.1:<origin>`), so its CPU time
//! and memory can be read from /proc. The same closed-loop load (16 tasks, one reqwest client with
//! 16 keep-alive connections) is run once against the origin directly and once through tollgate,
//! then one large download is streamed each way.
//!
//! Targets are reported as PASS or MISS; the process exits non-zero only when the setup fails.
//! Client, origin and proxy share the machine's cores, so other load skews the figures: the
//! report says how much CPU other processes took during each phase. tollgate inherits the
//! environment, so `TOKIO_WORKER_THREADS` sizes both this process's runtime and tollgate's.

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
use http::{header, Request, Response, StatusCode};
use http_body_util::{Either, Full, StreamBody};
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
/// Per small request; the load loop stops issuing at the end of a phase, so a phase overruns by
/// at most this much.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const TARGET_THROUGHPUT_RATIO: f64 = 0.50;
const TARGET_ADDED_P50_MS: f64 = 0.50;
const TARGET_PEAK_RSS_MIB: f64 = 64.0;
/// Above this share of the machine used by other processes during a phase, the run is flagged.
const NOISY_SHARE: f64 = 0.10;

struct Settings {
    quick: bool,
    warmup: Duration,
    phase: Duration,
    download_bytes: u64,
    download_limit: Duration,
}

impl Settings {
    /// `--quick` for a short smoke run; anything else (`--bench`, filters) is ignored.
    fn from_args() -> Self {
        let quick = std::env::args().skip(1).any(|arg| arg == "--quick");
        if quick {
            Self {
                quick,
                warmup: Duration::from_secs(1),
                phase: Duration::from_secs(3),
                download_bytes: 256 << 20,
                download_limit: Duration::from_secs(60),
            }
        } else {
            Self {
                quick,
                warmup: Duration::from_secs(1),
                phase: Duration::from_secs(10),
                download_bytes: GIB,
                download_limit: Duration::from_secs(180),
            }
        }
    }
}

fn main() -> ExitCode {
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

async fn bench(settings: &Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    let (cpu_model, cores) = machine();

    // The origin, its CA on disk for --upstream-ca.
    let origin = Origin::start().await?;
    let files = tempfile::tempdir().context("cannot make a temporary directory")?;
    let origin_ca_path = files.path().join("origin-ca.pem");
    std::fs::write(&origin_ca_path, &origin.ca_pem)?;

    // tollgate, in a TOLLGATE_HOME of its own.
    let home = tempfile::tempdir().context("cannot make a temporary TOLLGATE_HOME")?;
    let origin_port = origin.addr.port();
    let home_path = home.path().to_path_buf();
    let ca_path = origin_ca_path.clone();
    let mut proxy =
        tokio::task::spawn_blocking(move || Tollgate::start(origin_port, &ca_path, &home_path))
            .await??;
    progress(format!(
        "tollgate pid {} listening on 127.0.0.1:{}, origin on {}",
        proxy.pid, proxy.port, origin.addr
    ));
    let rss_at_start = proc_status_kib(proxy.pid, "VmRSS");

    let direct = client(origin.ca_pem.as_bytes(), None)?;
    let proxied = client(
        &proxy.ca_pem,
        Some(&format!("http://127.0.0.1:{}", proxy.port)),
    )?;
    let direct_base = format!("https://{}", origin.addr);
    let proxied_base = format!("https://{AWS_HOST}");

    // One checked request each way, on a new connection: a broken setup fails here.
    let preflights = async {
        let direct_first = preflight(&direct, &direct_base, &origin, "direct").await?;
        let proxied_first = preflight(&proxied, &proxied_base, &origin, "through tollgate").await?;
        anyhow::Ok((direct_first, proxied_first))
    }
    .await;
    let (direct_first, proxied_first) = match preflights {
        Ok(times) => times,
        Err(error) => {
            proxy.stop();
            bail!("{error:#}\n{}", proxy.stderr_text());
        }
    };
    let upstream_host = origin
        .state
        .preflight_hosts
        .lock()
        .unwrap()
        .get(1)
        .cloned()
        .unwrap_or_default();

    // Small responses, direct then proxied.
    let conns0 = origin.state.connections.load(Ordering::Relaxed);
    progress(format!(
        "small responses, direct: {} s warm-up + {} s",
        settings.warmup.as_secs(),
        settings.phase.as_secs()
    ));
    let small_direct = load(
        &direct,
        &format!("{direct_base}{SMALL_PATH}"),
        settings,
        proxy.pid,
    )
    .await?;
    let conns1 = origin.state.connections.load(Ordering::Relaxed);
    progress(format!(
        "small responses, through tollgate: {} s warm-up + {} s",
        settings.warmup.as_secs(),
        settings.phase.as_secs()
    ));
    let small_proxied = load(
        &proxied,
        &format!("{proxied_base}{SMALL_PATH}"),
        settings,
        proxy.pid,
    )
    .await?;
    let conns2 = origin.state.connections.load(Ordering::Relaxed);
    if small_proxied.completed == 0 {
        proxy.stop();
        bail!(
            "no request through tollgate succeeded: {}\n{}",
            small_proxied.first_error.as_deref().unwrap_or("?"),
            proxy.stderr_text()
        );
    }
    let rss_after_small = proc_status_kib(proxy.pid, "VmHWM");

    // The large download, direct then proxied.
    let size_label = size_label(settings.download_bytes);
    let big_path = format!("/big?bytes={}", settings.download_bytes);
    progress(format!("{size_label} download, direct"));
    let big_direct = download(
        &direct,
        &format!("{direct_base}{big_path}"),
        settings,
        proxy.pid,
    )
    .await;
    progress(format!("{size_label} download, through tollgate"));
    // Reset the proxy's high-water mark so that the peak is the download's own.
    let hwm_reset = std::fs::write(format!("/proc/{}/clear_refs", proxy.pid), "5").is_ok();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn({
        let sampling = sampling.clone();
        let pid = proxy.pid;
        async move {
            let mut peak = 0u64;
            while sampling.load(Ordering::Relaxed) {
                if let Some(rss) = proc_status_kib(pid, "VmRSS") {
                    peak = peak.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        }
    });
    let big_proxied = download(
        &proxied,
        &format!("{proxied_base}{big_path}"),
        settings,
        proxy.pid,
    )
    .await;
    sampling.store(false, Ordering::Relaxed);
    let sampled_peak_kib = sampler.await.unwrap_or(0);
    let hwm_big = proc_status_kib(proxy.pid, "VmHWM");
    let rss_now = proc_status_kib(proxy.pid, "VmRSS");

    // Stop tollgate with the clients' idle keep-alive connections still open, as in real use.
    let stop_started = Instant::now();
    let stopped = tokio::task::block_in_place(|| proxy.stop());
    let stop_time = stop_started.elapsed();
    drop(direct);
    drop(proxied);

    // The report.
    let mode = if settings.quick {
        format!(
            " (quick: {} s phases, {size_label} download)",
            settings.phase.as_secs()
        )
    } else {
        String::new()
    };
    println!();
    println!("tollgate proxy bench on {cpu_model}, {cores} cores{mode}");
    let heading = format!(
        "small responses ({} B body), {CONCURRENCY} connections:",
        origin.state.small.len()
    );
    println!("{heading}  {:>8} {}", "direct", small_direct.line());
    println!(
        "{:width$}  {:>8} {}",
        "",
        "tollgate",
        small_proxied.line(),
        width = heading.len()
    );
    let throughput_ratio = small_proxied.rate() / small_direct.rate();
    let added_p50 = small_proxied.p50_ms() - small_direct.p50_ms();
    println!(
        "ratio: throughput {throughput_ratio:.2} (target >= {TARGET_THROUGHPUT_RATIO:.2}) {}; \
         added p50 {added_p50:.2} ms (target <= {TARGET_ADDED_P50_MS:.2}) {}",
        verdict(throughput_ratio >= TARGET_THROUGHPUT_RATIO),
        verdict(added_p50 <= TARGET_ADDED_P50_MS),
    );
    match small_proxied.cpu.proxy {
        Some(cpu) => println!(
            "proxy CPU per request: {:.0} us ({:.2} s CPU over {} requests, {:.0}% of one core)",
            cpu * 1e6 / small_proxied.completed as f64,
            cpu,
            small_proxied.completed,
            cpu * 100.0 / small_proxied.window.as_secs_f64()
        ),
        None => println!(
            "proxy CPU per request: unavailable (cannot read /proc/{}/stat)",
            proxy.pid
        ),
    }
    let switches = small_proxied
        .cpu
        .proxy_switches
        .map(|n| format!("{:.2}", n as f64 / small_proxied.completed as f64))
        .unwrap_or_else(|| "n/a".into());
    let peak_kib = if hwm_reset {
        hwm_big.unwrap_or(0).max(sampled_peak_kib)
    } else {
        hwm_big.unwrap_or(0)
    };
    let peak_mib = peak_kib as f64 / 1024.0;
    let download_ratio = match (big_direct.gib_per_s(), big_proxied.gib_per_s()) {
        (Some(direct), Some(proxied)) => format!("ratio {:.2}", proxied / direct),
        _ => "ratio n/a".into(),
    };
    println!(
        "{size_label} download: direct {}, tollgate {} ({download_ratio}); \
         proxy peak RSS {peak_mib:.1} MiB (target <= {TARGET_PEAK_RSS_MIB:.0}) {}",
        big_direct.describe(),
        big_proxied.describe(),
        verdict(peak_kib > 0 && peak_mib <= TARGET_PEAK_RSS_MIB),
    );

    println!("details:");
    for (label, run) in [("direct:  ", &small_direct), ("tollgate:", &small_proxied)] {
        println!(
            "  small, {label} {} ok, {} errors{}; p90/p99.9/max {:.2}/{:.2}/{:.2} ms; \
             client+origin CPU {}",
            run.completed,
            run.errors,
            first_error(&run.first_error),
            run.quantile_ms(0.90),
            run.quantile_ms(0.999),
            run.latency_us.max() as f64 / 1000.0,
            per_request(run.cpu.bench, run.completed),
        );
    }
    println!(
        "  first request on a new connection: direct {:.2} ms, tollgate {:.2} ms \
         (CONNECT, TLS to tollgate with a freshly minted leaf, TLS upstream)",
        direct_first.as_secs_f64() * 1000.0,
        proxied_first.as_secs_f64() * 1000.0,
    );
    println!(
        "  Host header at the origin for the proxied request: {upstream_host:?}{}",
        if upstream_host == AWS_HOST {
            " (kept)"
        } else {
            " (NOT the host the client named)"
        }
    );
    println!(
        "  origin TLS connections accepted: direct phase {}, tollgate phase {} \
         (the latter from tollgate's upstream pool)",
        conns1 - conns0,
        conns2 - conns1
    );
    println!(
        "  tollgate start-up (spawn to its exports, CA created): {:.0} ms; idle VmRSS then {}",
        proxy.startup.as_secs_f64() * 1000.0,
        kib_label(rss_at_start)
    );
    println!("  proxy context switches per request: {switches}");
    println!(
        "  proxy VmRSS over the measured tollgate window: {} at the start, {} at the end",
        kib_label(small_proxied.cpu.proxy_rss_kib.0),
        kib_label(small_proxied.cpu.proxy_rss_kib.1),
    );
    println!(
        "  proxy CPU while idle (direct phase): {}",
        small_direct
            .cpu
            .proxy
            .map(|cpu| format!("{cpu:.2} s"))
            .unwrap_or_else(|| "n/a".into())
    );
    if let (Some(cpu), true) = (big_proxied.cpu.proxy, big_proxied.bytes > 0) {
        println!(
            "  proxy CPU for the proxied download: {cpu:.2} s ({:.2} s per GiB); \
             client+origin CPU: direct {}, tollgate {}",
            cpu * GIB as f64 / big_proxied.bytes as f64,
            big_direct.bench_cpu_per_gib(),
            big_proxied.bench_cpu_per_gib(),
        );
    }
    println!(
        "  proxy RSS: peak after small-response load {}; download peak {} ({}); \
         sampled VmRSS peak {}; after download {}",
        kib_label(rss_after_small),
        kib_label(hwm_big),
        if hwm_reset {
            "VmHWM reset before the download"
        } else {
            "VmHWM could not be reset: lifetime peak"
        },
        kib_label(Some(sampled_peak_kib)),
        kib_label(rss_now),
    );
    let phases = [
        ("small direct", small_direct.cpu.other_share(cores)),
        ("small tollgate", small_proxied.cpu.other_share(cores)),
        ("download direct", big_direct.cpu.other_share(cores)),
        ("download tollgate", big_proxied.cpu.other_share(cores)),
    ];
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
             the figures above are noisy",
            NOISY_SHARE * 100.0
        );
    }
    println!(
        "  tollgate stopped {:.0} ms after SIGTERM: {stopped}",
        stop_time.as_secs_f64() * 1000.0
    );
    let stderr = proxy.stderr_lines();
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
        Some(cpu) if requests > 0 => format!("{:.0} us per request", cpu * 1e6 / requests as f64),
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

/// CPU counters at one instant: tollgate's, this process's (client and origin), the machine's.
#[derive(Clone, Copy)]
struct CpuSnapshot {
    at: Instant,
    proxy: Option<f64>,
    proxy_switches: Option<u64>,
    proxy_rss_kib: Option<u64>,
    bench: Option<f64>,
    machine: Option<f64>,
}

impl CpuSnapshot {
    fn take(proxy_pid: u32) -> Self {
        Self {
            at: Instant::now(),
            proxy: cpu_seconds(proxy_pid),
            proxy_switches: context_switches(proxy_pid),
            proxy_rss_kib: proc_status_kib(proxy_pid, "VmRSS"),
            bench: cpu_seconds(std::process::id()),
            machine: machine_busy_seconds(),
        }
    }

    fn until(self, later: Self) -> CpuUsage {
        let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
        CpuUsage {
            wall: later.at - self.at,
            proxy: delta(self.proxy, later.proxy),
            proxy_switches: self
                .proxy_switches
                .zip(later.proxy_switches)
                .map(|(a, b)| b.saturating_sub(a)),
            proxy_rss_kib: (self.proxy_rss_kib, later.proxy_rss_kib),
            bench: delta(self.bench, later.bench),
            machine: delta(self.machine, later.machine),
        }
    }
}

/// CPU seconds used between two snapshots.
#[derive(Clone, Copy)]
struct CpuUsage {
    wall: Duration,
    proxy: Option<f64>,
    proxy_switches: Option<u64>,
    /// tollgate's VmRSS at the start and at the end.
    proxy_rss_kib: (Option<u64>, Option<u64>),
    bench: Option<f64>,
    machine: Option<f64>,
}

impl CpuUsage {
    /// The share of the machine used by processes other than tollgate and this bench.
    fn other_share(&self, cores: usize) -> Option<f64> {
        let others = self.machine? - self.proxy? - self.bench?;
        let capacity = self.wall.as_secs_f64() * cores as f64;
        (capacity > 0.0).then(|| (others / capacity).max(0.0))
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

// ---------------------------------------------------------------------------------------------
// The origin.

struct OriginState {
    small: Bytes,
    chunk: Bytes,
    connections: AtomicU64,
    requests: AtomicU64,
    /// Host headers of `/preflight` requests, in arrival order.
    preflight_hosts: Mutex<Vec<String>>,
}

struct Origin {
    addr: SocketAddr,
    ca_pem: String,
    state: Arc<OriginState>,
    accept_task: tokio::task::JoinHandle<()>,
}

type OriginBody =
    Either<Full<Bytes>, StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>>;

impl Origin {
    async fn start() -> anyhow::Result<Self> {
        let (ca_pem, leaf, key) = origin_certificates()?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf], key)?;
        // HTTP/1.1 only, so both legs are the same protocol.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
        let state = Arc::new(OriginState {
            small: Bytes::from(list_objects_xml()),
            chunk: Bytes::from(chunk),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            preflight_hosts: Mutex::new(Vec::new()),
        });
        let accept_task = tokio::spawn(serve_origin(listener, acceptor, state.clone()));
        Ok(Self {
            addr,
            ca_pem,
            state,
            accept_task,
        })
    }

    fn stop(self) {
        self.accept_task.abort();
    }
}

/// A test CA, and a leaf for `localhost` and 127.0.0.1 signed by it.
fn origin_certificates() -> anyhow::Result<(String, CertificateDer<'static>, PrivateKeyDer<'static>)>
{
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
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    Ok((ca_cert.pem(), leaf.der().clone(), key))
}

/// About 600 bytes of ListObjectsV2 response.
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
        state.connections.fetch_add(1, Ordering::Relaxed);
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(&state, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn respond(state: &OriginState, request: &Request<Incoming>) -> Response<OriginBody> {
    let id = state.requests.fetch_add(1, Ordering::Relaxed);
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header("x-amz-request-id", format!("{id:016X}"))
        .header(
            "x-amz-id-2",
            "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0emYBDXOo6QBU0Wo=",
        )
        .header(header::SERVER, "AmazonS3");
    let path = request.uri().path();
    if path == "/preflight" {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string();
        state.preflight_hosts.lock().unwrap().push(host);
    }
    let response = if path == "/big" {
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
// tollgate, as a child process.

struct Tollgate {
    child: Child,
    pid: u32,
    port: u16,
    /// `<TOLLGATE_HOME>/ca.pem`.
    ca_pem: Vec<u8>,
    stderr: Arc<Mutex<Vec<String>>>,
    stopped: Option<String>,
    /// From spawn to the `export HTTPS_PROXY=` line (first start: the CA is created too).
    startup: Duration,
}

impl Tollgate {
    fn start(origin_port: u16, origin_ca: &Path, home: &Path) -> anyhow::Result<Self> {
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_tollgate"));
        let spawned = Instant::now();
        let mut child = common::hermetic(&mut Command::new(&binary))
            .args(["serve", "--listen", "127.0.0.1:0", "--quiet", "--upstream"])
            .arg(format!("https://127.0.0.1:{origin_port}"))
            .arg("--upstream-ca")
            .arg(origin_ca)
            .env("TOLLGATE_HOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id();

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

        let mut tollgate = Self {
            child,
            pid,
            port: 0,
            ca_pem: Vec::new(),
            stderr,
            stopped: None,
            startup: Duration::ZERO,
        };
        match port_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => {
                tollgate.port = port;
                tollgate.startup = spawned.elapsed();
            }
            Err(_) => {
                let status = tollgate.stop();
                bail!(
                    "tollgate printed no `export HTTPS_PROXY=` line within 30 s ({status})\n{}",
                    tollgate.stderr_text()
                );
            }
        }
        let ca_path = home.join("ca.pem");
        match std::fs::read(&ca_path) {
            Ok(pem) => tollgate.ca_pem = pem,
            Err(error) => {
                tollgate.stop();
                bail!("cannot read tollgate's CA {}: {error}", ca_path.display());
            }
        }
        Ok(tollgate)
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
            "tollgate wrote nothing on stderr".into()
        } else {
            format!("tollgate's stderr:\n  {}", lines.join("\n  "))
        }
    }
}

impl Drop for Tollgate {
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

// ---------------------------------------------------------------------------------------------
// Clients and load.

fn client(root_pem: &[u8], proxy: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(CONCURRENCY)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem)?);
    let builder = match proxy {
        Some(url) => builder.proxy(reqwest::Proxy::https(url)?),
        None => builder.no_proxy(),
    };
    Ok(builder.build()?)
}

/// One request to `/preflight`, checked, so that a broken setup fails loudly before any figure.
/// Returns how long it took, connection set-up included.
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
        .with_context(|| format!("the first request {label} failed"))?;
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
            "the first request {label} got {status} (x-amz-request-id {}): {}",
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
    /// Over the measured window.
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

    fn line(&self) -> String {
        format!(
            "{:>5.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
            self.rate(),
            self.p50_ms(),
            self.quantile_ms(0.99)
        )
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
    proxy_pid: u32,
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
    let cpu_start = CpuSnapshot::take(proxy_pid);
    tokio::time::sleep_until(until.into()).await;
    let cpu = cpu_start.until(CpuSnapshot::take(proxy_pid));

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

struct Download {
    bytes: u64,
    elapsed: Duration,
    error: Option<String>,
    cpu: CpuUsage,
}

impl Download {
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

    fn bench_cpu_per_gib(&self) -> String {
        match self.cpu.bench {
            Some(cpu) if self.bytes > 0 => {
                format!("{:.2} s per GiB", cpu * GIB as f64 / self.bytes as f64)
            }
            _ => "n/a".into(),
        }
    }
}

/// Streams one response, counting its bytes chunk by chunk, never holding more than one chunk.
async fn download(
    client: &reqwest::Client,
    url: &str,
    settings: &Settings,
    proxy_pid: u32,
) -> Download {
    let expected = settings.download_bytes;
    let limit = settings.download_limit;
    let cpu_start = CpuSnapshot::take(proxy_pid);
    let started = cpu_start.at;
    let mut bytes = 0u64;
    let result = tokio::time::timeout(limit + Duration::from_secs(1), async {
        let mut response = client
            .get(url)
            .timeout(limit)
            .send()
            .await
            .map_err(|error| error_chain(&error))?;
        if response.status() != StatusCode::OK {
            return Err(format!("status {}", response.status()));
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| error_chain(&error))?
        {
            bytes += chunk.len() as u64;
        }
        Ok(())
    })
    .await;
    let elapsed = started.elapsed();
    let cpu = cpu_start.until(CpuSnapshot::take(proxy_pid));
    let error = match result {
        Ok(Ok(())) if bytes == expected => None,
        Ok(Ok(())) => Some(format!("got {bytes} bytes, expected {expected}")),
        Ok(Err(error)) => Some(error),
        Err(_) => Some(format!("not done within {limit:?}")),
    };
    Download {
        bytes,
        elapsed,
        error,
        cpu,
    }
}
