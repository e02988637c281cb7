//! What `run` and `serve` share: the proxy options, and starting a proxy from them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use http::Uri;

use super::client_env::ClientEnv;
use super::node_preload::NodePreload;
use super::price_sources::SourceArgs;
use super::python_callsites::PythonCallsites;
use crate::aws;
use crate::aws::usage::Answerer;
use crate::ca::{CaPaths, LeafCertificates, LocalCa};
use crate::endpoint::credentials::DefaultChain;
use crate::endpoint::{AwsEndpoint, Refusals};
use crate::home;
use crate::metrics::{Exporter, MetricsServer};
use crate::pricing::{overlay, Pricer};
use crate::profile::sinks::ledger::{self, Ledger};
use crate::profile::sinks::{MetricLimits, PricingInfo, Recorder, Summary};
use crate::profile::{CallSink, Profiler};
use crate::proxy::{BadPattern, HostMatcher, Observer, Observers, Proxy, ProxyConfig, Timeouts};
use crate::record::RunEnd;
use crate::roots::Roots;
use crate::store::{self, MemoryStore, RunStore};

/// `--upstream-timeout`'s default: why it is what it is, is in that flag's doc (and README's
/// "What it does when things go wrong").
pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 61 * 60;

#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Also intercept hosts matching GLOB (e.g. localhost.localstack.cloud or *.emulator.test).
    /// The AWS domains are always intercepted. The CA must permit the domain: see `ca init --domain`.
    #[arg(long = "intercept", value_name = "GLOB")]
    pub intercept: Vec<String>,

    /// Send every intercepted request to URL (http:// or https://), e.g. a moto or LocalStack
    /// server, keeping its Host header, path and query, so calls are recorded as if they went to AWS.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,

    /// Trust the CA certificates in FILE (PEM) for upstream TLS, besides the system roots.
    #[arg(long = "upstream-ca", value_name = "FILE")]
    pub upstream_ca: Vec<PathBuf>,

    /// Seconds to wait for an upstream's response head, counted from the end of the upload,
    /// before answering 504.
    ///
    /// The default, 3660 (61 minutes), is meant never to make tollgate the one that gives up. It
    /// is longer than anything AWS itself keeps a caller waiting for a response head (Bedrock
    /// inference: up to 60 minutes; Lambda's synchronous Invoke: 15; an SQS long poll: 20 s), so
    /// AWS answers, or fails with its own error, first. It is longer than every SDK's default
    /// read timeout (botocore and the AWS CLI: 60 s; Java: 30 s in v2, 50 s in v1), so the SDK
    /// times out first and retries as it would without tollgate, and a timeout raised for a slow
    /// call is still honoured. Some SDKs have no read timeout by default (JavaScript v3, Go v2,
    /// Rust): for them this only ends a wait for an upstream that will never answer.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_UPSTREAM_TIMEOUT_SECS)]
    pub upstream_timeout: u64,

    /// Seconds a client has to send a request's headers; also how long an idle client connection is kept.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub header_timeout: u64,

    /// Seconds in-flight exchanges get to finish at shutdown.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub shutdown_grace: u64,

    /// KiB of each request and response body copied for analysis.
    #[arg(long, value_name = "KIB", default_value_t = 64)]
    pub body_capture_kib: usize,

    /// Do not load tollgate's Node preload into Node processes (NODE_OPTIONS=--require). Without
    /// it, the AWS SDK for JavaScript, which ignores HTTPS_PROXY, goes around tollgate.
    #[arg(long)]
    pub no_node_preload: bool,

    /// Do not tag Python processes' AWS calls with the line that made them (a `sitecustomize`
    /// first on PYTHONPATH; see README's "Call sites"). The child's environment is then exactly
    /// what it would be without the feature.
    #[arg(long)]
    pub no_callsites: bool,

    #[command(flatten)]
    pub pricing: SourceArgs,

    #[command(flatten)]
    pub record: RecordArgs,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Live metrics for Prometheus.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Serve live metrics for Prometheus at http://ADDR/metrics (e.g. 127.0.0.1:9464): calls,
    /// errors, retries, cost, latency, bytes, pages, and the proxy's and recorder's health. An
    /// empty TOLLGATE_METRICS is unset.
    #[arg(long, value_name = "ADDR", env = "TOLLGATE_METRICS", value_parser = parse_metrics_addr)]
    pub metrics: Option<MetricsAddr>,

    /// How many (service, operation) pairs get an `operation` label of their own in the
    /// metrics; later ones are counted as `other`, so that the number of series stays bounded.
    #[arg(long, value_name = "N", default_value_t = MetricLimits::default().operations)]
    pub metrics_max_operations: usize,

    /// After the run ends (its findings counted), keep serving the metrics until one scrape has
    /// seen the last numbers, at most SECS; so that a short CI job's end is not lost between two
    /// scrapes. 0 (the default) exits at once.
    #[arg(
        long,
        value_name = "SECS",
        env = "TOLLGATE_METRICS_LINGER",
        default_value_t = 0
    )]
    pub metrics_linger: u64,
}

/// The live metrics a run's end still feeds: the findings counter, and the scrapes served.
#[derive(Clone)]
pub struct LiveMetrics {
    pub findings: crate::metrics::FindingsRaised,
    scrapes: Arc<crate::metrics::Scrapes>,
    linger: Duration,
}

impl LiveMetrics {
    /// With `--metrics-linger`: waits until a scrape begun now was served, at most the linger.
    pub async fn linger(&self) {
        if self.linger.is_zero() {
            return;
        }
        let mark = self.scrapes.mark();
        if self.scrapes.served_after(mark, self.linger).await {
            // The answer is written on its connection's task: a moment for it to leave.
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            say!(
                "tollgate: warning: no scrape of the metrics within --metrics-linger {}s",
                self.linger.as_secs()
            );
        }
    }
}

/// `--metrics`'s value: an address, or none for an empty one (an exported but empty
/// TOLLGATE_METRICS, as an empty TOLLGATE_DB, means unset).
#[derive(Debug, Clone, Copy)]
pub struct MetricsAddr(Option<SocketAddr>);

fn parse_metrics_addr(text: &str) -> Result<MetricsAddr, String> {
    if text.trim().is_empty() {
        return Ok(MetricsAddr(None));
    }
    text.trim()
        .parse()
        .map(|addr| MetricsAddr(Some(addr)))
        .map_err(|_| format!("`{text}` is not an address and port, e.g. 127.0.0.1:9464"))
}

impl MetricsArgs {
    fn addr(&self) -> Option<SocketAddr> {
        self.metrics.and_then(|addr| addr.0)
    }

    fn limits(&self) -> MetricLimits {
        MetricLimits {
            operations: self.metrics_max_operations,
            operation_histograms: MetricLimits::default()
                .operation_histograms
                .min(self.metrics_max_operations),
            ..MetricLimits::default()
        }
    }
}

/// Where calls are recorded.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// The history to record into: a SQLite file as PATH, sqlite://PATH or sqlite:PATH, or a
    /// shared PostgreSQL database as postgres://USER@HOST/DB (default: $TOLLGATE_DB, else
    /// tollgate.db in $XDG_STATE_HOME/tollgate).
    // TOLLGATE_DB is read by `database`, not by clap's `env`: clap would take an exported
    // database for a `--db` given, and refuse `--no-record` beside it.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Record nothing (TOLLGATE_DB is ignored): no database is opened or written.
    #[arg(long, conflicts_with = "db")]
    pub no_record: bool,

    /// Label the run (repeatable), e.g. --tag suite=integration --tag branch=main.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
}

impl RecordArgs {
    /// The database named by `--db`, else by TOLLGATE_DB (an empty one is unset); `None` for
    /// the default one.
    pub fn database(&self) -> Option<PathBuf> {
        super::history_arg::database_or_env(self.db.as_deref())
    }
}

/// What becomes of a run's calls under `--no-record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrecorded {
    /// Dropped once counted in the live summary.
    Dropped,
    /// Kept in memory until the process ends, for a report the user asked for (`run --report`
    /// or `--report-file`); nothing is written.
    KeptForReport,
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("`{text}`: tags are KEY=VALUE")),
    }
}

/// How this run is being recorded.
#[allow(clippy::large_enum_variant)]
pub enum Recording {
    On {
        store: Arc<dyn RunStore>,
        recorder: Arc<Recorder>,
    },
    /// `--no-record` with a report asked for: the run is kept in memory for it.
    InMemory {
        store: Arc<dyn RunStore>,
        recorder: Arc<Recorder>,
    },
    /// Recording was asked for but the database could not be used: the run goes on.
    Failed {
        reason: String,
    },
    Off,
}

impl Recording {
    /// Closes the run in the database; returns the line that tells the user where it is.
    pub async fn finish(&self, exit_code: Option<i32>, aws_calls: u64) -> Option<String> {
        match self {
            Recording::On { store, recorder } => {
                let outcome = recorder.outcome();
                let end = RunEnd {
                    exit_code,
                    lost: outcome.lost,
                    lost_reason: outcome.lost_reason.clone(),
                };
                let ended = store.end_run(recorder.run_id(), &end).await;
                if ended.is_ok() {
                    recorder.close_ledger();
                }
                let mut line = format!(
                    "tollgate: recorded {}{} as run {} in {}",
                    counted(outcome.recorded, "call", "calls"),
                    if outcome.loops > 0 {
                        format!(
                            " and {}",
                            // Single pages included: the report tells loops from them.
                            counted(outcome.loops, "listing", "listings")
                        )
                    } else {
                        String::new()
                    },
                    recorder.run_id(),
                    store.location()
                );
                if outcome.lost > 0 {
                    line += &format!(
                        "\ntollgate: warning: {} calls were not recorded: {}",
                        outcome.lost,
                        outcome.lost_reason.as_deref().unwrap_or("unknown")
                    );
                }
                if let Err(error) = ended {
                    line +=
                        &format!("\ntollgate: warning: the run's end was not recorded: {error}");
                }
                Some(line)
            }
            Recording::InMemory { store, recorder } => {
                let outcome = recorder.outcome();
                let end = RunEnd {
                    exit_code,
                    lost: outcome.lost,
                    lost_reason: outcome.lost_reason.clone(),
                };
                // In memory: the end cannot fail, and there is nothing to say where it is.
                let _ = store.end_run(recorder.run_id(), &end).await;
                (outcome.lost > 0).then(|| {
                    format!(
                        "tollgate: warning: {} calls are missing from the report: {}",
                        outcome.lost,
                        outcome.lost_reason.as_deref().unwrap_or("unknown")
                    )
                })
            }
            Recording::Failed { reason } => Some(format!(
                "tollgate: warning: {aws_calls} calls were not recorded: {reason}"
            )),
            Recording::Off => None,
        }
    }

    /// The store, shared, and this run's id, when the run is being recorded (in memory too).
    pub fn shared_store(&self) -> Option<(Arc<dyn RunStore>, i64)> {
        match self {
            Recording::On { store, recorder } | Recording::InMemory { store, recorder } => {
                Some((store.clone(), recorder.run_id()))
            }
            _ => None,
        }
    }

    /// The store and this run's id, when the run is being recorded (in memory too).
    pub fn store(&self) -> Option<(&dyn RunStore, i64)> {
        match self {
            Recording::On { store, recorder } | Recording::InMemory { store, recorder } => {
                Some((store.as_ref(), recorder.run_id()))
            }
            _ => None,
        }
    }

    pub async fn close(&self) {
        if let Recording::On { store, .. } | Recording::InMemory { store, .. } = self {
            store.close().await;
        }
    }
}

/// A bound proxy and what clients need to use it.
pub struct Started {
    pub proxy: Proxy,
    pub client_env: ClientEnv,
    /// Endpoint mode's refusals (requests it would not forward), when it is on.
    pub endpoint_refusals: Option<Arc<Refusals>>,
    pub summary: Arc<Summary>,
    pub recording: Recording,
    /// With `--metrics`.
    pub metrics: Option<LiveMetrics>,
}

/// Loads (or creates) the CA, writes the client bundle, and binds the proxy on `listen`.
/// Starts the proxy for a run of `kind` (`run` or `serve`) of `command`; `unrecorded` says what
/// becomes of its calls under `--no-record`.
pub async fn start(
    args: &ProxyArgs,
    listen: SocketAddr,
    endpoint: Option<SocketAddr>,
    kind: &str,
    command: Vec<String>,
    unrecorded: Unrecorded,
) -> anyhow::Result<Started> {
    // A database tollgate cannot use at all (a URL of a kind it does not support) is an error
    // before anything starts or is created; one that only fails to open is a warning, later.
    if !args.record.no_record {
        if let Some(value) = args.record.database() {
            store::location_of(&value)?;
        }
    }
    // Parse the AWS model off the start-up path: the child starts at once, and the first call
    // waits for the model only if it comes before the parse is done.
    std::thread::spawn(crate::aws::model::Model::embedded);
    // Prices are loaded before anything starts: a broken overlay is an error now, not a run
    // priced wrongly.
    let (table, settings) = overlay::load(&args.pricing.sources()?)?;
    let pricing_info = PricingInfo {
        table: table.version.clone(),
        files: table
            .origins
            .iter()
            .skip(1)
            .map(|origin| origin.to_string())
            .collect(),
        discount_percent: settings.discount_percent.normalize().to_string(),
    };
    let allowances: Vec<_> = if settings.free_allowances {
        table.allowances().cloned().collect()
    } else {
        Vec::new()
    };
    let pricer = Arc::new(Pricer::new(table, settings));
    let home = home::data_dir().context("cannot find tollgate's data directory")?;
    let paths = CaPaths::new(&home);
    let (ca, created) = LocalCa::load_or_create(&paths, &super::ca::ca_domains(&[]))?;
    if created {
        tracing::info!(path = %paths.cert().display(), "created the tollgate CA");
    }
    let intercept = intercept_matcher(&args.intercept)?;
    if let Some(domain) = intercept.domains().find(|domain| !ca.permits(domain)) {
        bail!(
            "--intercept {domain}: the tollgate CA may only issue for {}, so clients would reject \
             its certificates; make a CA that permits it with `tollgate ca rotate --domain {domain}`",
            ca.permitted_domains().join(", ")
        );
    }
    let upstream = args.upstream.as_deref().map(parse_upstream).transpose()?;
    let answerer = match upstream {
        Some(_) => Answerer::StandIn,
        None => Answerer::Aws,
    };

    let system_roots = Roots::system();
    let bundle_path = paths.bundle();
    home::write_atomically(
        &bundle_path,
        system_roots.bundle_with(ca.cert_pem()).as_bytes(),
        0o644,
    )
    .with_context(|| format!("cannot write the CA bundle {}", bundle_path.display()))?;
    let mut upstream_roots = system_roots;
    for file in &args.upstream_ca {
        upstream_roots.add_pem_file(file)?;
    }

    let mut config = ProxyConfig::new(listen, intercept, upstream_roots.store());
    config.upstream = upstream;
    config.body_capture_limit = args.body_capture_kib * 1024;
    config.timeouts = Timeouts {
        client_header: Duration::from_secs(args.header_timeout.max(1)),
        upstream_response: Duration::from_secs(args.upstream_timeout.max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        ..Timeouts::default()
    };

    let leaves = LeafCertificates::new(
        Arc::new(ca),
        1024,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    )?;
    let summary = Arc::new(
        Summary::new(pricing_info.clone())
            .with_allowances(allowances)
            .with_ca_bundle(bundle_path.display().to_string()),
    );
    let mut sinks = vec![summary.clone() as Arc<dyn CallSink>];
    let recording =
        start_recording(&args.record, unrecorded, kind, command, pricing_info.table).await;
    let recorder = match &recording {
        Recording::On { recorder, .. } | Recording::InMemory { recorder, .. } => {
            sinks.push(recorder.clone() as Arc<dyn CallSink>);
            Some(recorder.clone())
        }
        _ => None,
    };
    // Bound before the proxy: a metrics port that is taken is an error now, not a run that
    // Prometheus cannot see.
    let metrics = match args.metrics.addr() {
        Some(addr) => {
            let server = MetricsServer::bind(addr).await?;
            let (exporter, sink) = Exporter::new(args.metrics.limits());
            sink.start_draining();
            sinks.push(sink as Arc<dyn CallSink>);
            Some((server, exporter))
        }
        None => None,
    };
    let profiler = Profiler::new(pricer, sinks).answered_by(answerer);
    let observers = Observers::new(vec![Arc::new(profiler) as Arc<dyn Observer>]);
    let mut proxy = Proxy::bind(config, Arc::new(leaves), observers).await?;
    let mut endpoint_refusals = None;
    if let Some(addr) = endpoint {
        let router = AwsEndpoint::new(
            crate::aws::model::Model::in_use(),
            Arc::new(DefaultChain::default()),
        );
        endpoint_refusals = Some(router.refusals());
        proxy = proxy.with_endpoint(addr, Arc::new(router)).await?;
    }
    let node = if args.no_node_preload {
        None
    } else {
        install_node_preload(&home, &args.intercept)
            .map(|node| node.with_callsites(!args.no_callsites))
    };
    let python = if args.no_callsites {
        None
    } else {
        install_python_callsites(&home)
    };
    let client_env = ClientEnv::new(proxy.local_addr(), &bundle_path)
        .with_node(node)
        .with_python(python)
        .with_endpoint(proxy.endpoint_addr());
    let mut live = None;
    if let Some((server, mut exporter)) = metrics {
        exporter.watch(proxy.stats(), recorder);
        live = Some(LiveMetrics {
            findings: exporter.findings(),
            scrapes: exporter.scrapes(),
            linger: Duration::from_secs(args.metrics.metrics_linger),
        });
        let addr = server.local_addr();
        if !addr.ip().is_loopback() {
            say!(
                "tollgate: warning: --metrics {addr} is reachable from other machines: anyone \
                 who can reach it sees the calls' services, operations and costs"
            );
        }
        say!("tollgate: metrics for Prometheus at http://{addr}/metrics");
        // Serves until the process ends, the last calls included.
        let _ = server.spawn(Arc::new(exporter));
    }
    Ok(Started {
        proxy,
        client_env,
        endpoint_refusals,
        summary,
        recording,
        metrics: live,
    })
}

/// Writes the Node preload into the data directory. One that cannot be written is a warning: the
/// run goes on, with the JavaScript SDK going around tollgate.
fn install_node_preload(home: &std::path::Path, extra: &[String]) -> Option<NodePreload> {
    match NodePreload::install(home, aws::host::intercept_globs(extra)) {
        Ok(preload) => Some(preload),
        Err(error) => {
            eprintln!(
                "tollgate: warning: cannot write the Node preload into {}: {error}; Node \
                 programs' AWS calls will not be seen",
                home.display()
            );
            None
        }
    }
}

/// Writes the Python call-site bootstrap into the data directory. One that cannot be written is
/// a warning: the run goes on, its calls without call sites.
fn install_python_callsites(home: &std::path::Path) -> Option<PythonCallsites> {
    match PythonCallsites::install(home) {
        Ok(python) => Some(python),
        Err(error) => {
            eprintln!(
                "tollgate: warning: cannot write the Python call-site bootstrap into {}: \
                 {error}; calls will have no call sites",
                home.display()
            );
            None
        }
    }
}

/// Opens the database and begins the run. A database that cannot be used is a warning: the
/// workload must run whether or not its calls can be recorded.
async fn start_recording(
    args: &RecordArgs,
    unrecorded: Unrecorded,
    kind: &str,
    command: Vec<String>,
    pricing_version: String,
) -> Recording {
    let meta = super::run_meta::current(kind, command, args.tags.clone(), pricing_version);
    if args.no_record {
        if unrecorded == Unrecorded::Dropped {
            return Recording::Off;
        }
        let store: Arc<dyn RunStore> = Arc::new(MemoryStore::described_as("none (--no-record)"));
        return match store.begin_run(&meta).await {
            Ok(run_id) => {
                let recorder = Recorder::start(store.clone(), run_id, None);
                Recording::InMemory { store, recorder }
            }
            // The memory store does not fail; were it to, the summary is still there.
            Err(_) => Recording::Off,
        };
    }
    let opened = async {
        let store = store::open(args.database().as_deref()).await?;
        let ledgers = ledger_dir();
        if let Some(dir) = &ledgers {
            ledger::settle(store.as_ref(), dir).await;
        }
        let run_id = store.begin_run(&meta).await?;
        // Without its ledger a run is still recorded; only a kill's losses go uncounted.
        let ledger = ledgers.and_then(|dir| match Ledger::create(&dir, &meta.uuid) {
            Ok(ledger) => Some(ledger),
            Err(error) => {
                tracing::warn!("no ledger for this run in {}: {error}", dir.display());
                None
            }
        });
        Ok::<_, store::StoreError>((store, run_id, ledger))
    };
    match opened.await {
        Ok((store, run_id, ledger)) => {
            let recorder = Recorder::start(store.clone(), run_id, ledger);
            Recording::On { store, recorder }
        }
        Err(error) => {
            tracing::warn!("not recording this run: {error}");
            eprintln!("tollgate: warning: not recording this run: {error}");
            Recording::Failed {
                reason: error.to_string(),
            }
        }
    }
}

/// The hosts the proxy intercepts: every AWS API domain, and the `--intercept` globs.
fn intercept_matcher(extra: &[String]) -> Result<HostMatcher, BadPattern> {
    HostMatcher::new(aws::host::intercept_globs(extra))
}

/// `1 call`, `2 calls`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Where runs keep their ledgers: `runs/` in the state directory.
pub(super) fn ledger_dir() -> Option<PathBuf> {
    home::state_dir().ok().map(|dir| dir.join("runs"))
}

fn parse_upstream(url: &str) -> anyhow::Result<Uri> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("--upstream {url} is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => bail!("--upstream {url}: use an http:// or https:// URL, e.g. http://127.0.0.1:5000"),
    }
    if uri.host().is_none() {
        bail!("--upstream {url} has no host");
    }
    if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
        bail!("--upstream {url}: give only scheme, host and port; each request keeps its own path");
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intercepts_aws_partitions_only_by_default() {
        let matcher = intercept_matcher(&[]).unwrap();
        for host in [
            "s3.amazonaws.com",
            "my.bucket.s3.us-east-1.amazonaws.com",
            "STS.AMAZONAWS.COM.",
            "sts.cn-north-1.amazonaws.com.cn",
            "bedrock-runtime.us-east-1.api.aws",
        ] {
            assert!(matcher.matches(host), "{host}");
        }
        for host in [
            "amazonaws.com",
            "evilamazonaws.com",
            "amazonaws.com.evil.net",
            "pypi.org",
            "",
        ] {
            assert!(!matcher.matches(host), "{host}");
        }
    }

    #[test]
    fn intercept_globs_add_to_the_aws_domains() {
        let extra = [
            "localhost.localstack.cloud".to_string(),
            "*.emulator.test".to_string(),
        ];
        let matcher = intercept_matcher(&extra).unwrap();
        assert!(matcher.matches("s3.amazonaws.com"));
        assert!(matcher.matches("localhost.localstack.cloud"));
        assert!(matcher.matches("a.b.emulator.test"));
        assert_eq!(
            matcher.domains().collect::<Vec<_>>(),
            [
                "amazonaws.com",
                "amazonaws.com.cn",
                "api.aws",
                "localhost.localstack.cloud",
                "emulator.test"
            ]
        );
        assert!(intercept_matcher(&["a b".to_string()]).is_err());
    }

    #[test]
    fn metrics_addresses() {
        assert_eq!(
            parse_metrics_addr("127.0.0.1:9464").unwrap().0,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(parse_metrics_addr("").unwrap().0, None);
        assert!(parse_metrics_addr("localhost").is_err());
    }

    #[test]
    fn upstream_urls() {
        assert!(parse_upstream("http://127.0.0.1:5000").is_ok());
        assert!(parse_upstream("https://localhost:4566/").is_ok());
        assert!(parse_upstream("127.0.0.1:5000").is_err());
        assert!(parse_upstream("ftp://x").is_err());
        assert!(parse_upstream("http://x/base").is_err());
    }
}
