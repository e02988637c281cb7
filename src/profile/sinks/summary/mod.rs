//! What `tollgate run` prints when the command ends: calls and their exact cost by service and
//! operation (retries grouped under their logical call), by host and status, bytes each way,
//! latency percentiles, and the hosts tunnelled without decryption.
//!
//! This file is the sink: what each call adds on the request path. `report.rs` turns it into the
//! [`SummaryReport`] data, and `text.rs` renders that for a terminal.

mod report;
mod text;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use dashmap::DashMap;
use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::pricing::table::AllowanceEntry;
use crate::profile::CallSink;
use crate::proxy::{Distrust, Tunnel};
use crate::record::{micros, Call, OperationTally, PriceStatus};

pub use report::{
    AllowanceRow, CostSummary, DistrustingClient, FreeAllowances, HostRow, ImpliedRow, Latency,
    OperationRow, SummaryReport, TunnelRow,
};
pub use text::human_bytes;

/// Aggregates exchanges as they complete. Lock-free per key; the latency histogram is one short
/// critical section per exchange.
pub struct Summary {
    by_operation: DashMap<(String, String), OperationStats>,
    by_host: DashMap<(String, StatusKey), Counts>,
    tunnels: DashMap<String, Counts>,
    latency_us: Mutex<Histogram<u64>>,
    /// The slowest call exactly: percentiles never show more.
    latency_max_us: AtomicU64,
    interrupted: AtomicU64,
    implied: DashMap<(String, String, &'static str), (u64, Decimal)>,
    /// Calls priced at us-east-1 rates for want of their region's, by region.
    borrowed_prices: DashMap<String, u64>,
    pricing: PricingInfo,
    /// Monthly free allowances to show against this run's use (the overlay's `free_allowances`).
    allowances: Vec<AllowanceEntry>,
    /// Clients that did not accept tollgate's certificate, by command and library.
    distrusting: DashMap<(Option<String>, Option<&'static str>), u64>,
    /// The bundle a client should trust, for the fixes the summary names.
    ca_bundle: Option<String>,
    /// Distrusting connections whose process was looked up ([`MAX_DISTRUST_LOOKUPS`] at most).
    distrust_lookups: AtomicU64,
}

/// How many distrusting connections get their process looked up in `/proc`.
const MAX_DISTRUST_LOOKUPS: u64 = 16;

/// Libraries whose own HTTP client trusts neither `SSL_CERT_FILE` nor `AWS_CA_BUNDLE`, found by
/// the shared objects a process has mapped: what names the fix that works for them.
const DISTRUSTING_LIBRARIES: &[(&str, &str)] = &[("duckdb", "duckdb"), ("arrow", "pyarrow")];

/// The first library of [`DISTRUSTING_LIBRARIES`] that `maps` (a `/proc/PID/maps`) has loaded.
fn tls_library(maps: &str) -> Option<&'static str> {
    DISTRUSTING_LIBRARIES.iter().find_map(|(marker, name)| {
        maps.lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .any(|path| {
                std::path::Path::new(path)
                    .file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|file| file.contains(marker) && file.contains(".so"))
            })
            .then_some(*name)
    })
}

/// Which prices the summary's costs come from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PricingInfo {
    /// A digest of the built-in table.
    pub table: String,
    /// The files read after the built-in table (imported prices, the overlay).
    pub files: Vec<String>,
    /// Percent off every price, from the overlay.
    pub discount_percent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum StatusKey {
    Code(u16),
    /// No response from upstream; the proxy answered 502/504.
    Failed(&'static str),
}

impl std::fmt::Display for StatusKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(code) => write!(f, "{code}"),
            Self::Failed(kind) => write!(f, "failed ({kind})"),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    calls: u64,
    bytes_sent: u64,
    bytes_received: u64,
    errors: u64,
}

/// Per service and operation: the tally every report keeps, and what only the summary shows.
#[derive(Default)]
struct OperationStats {
    tally: OperationTally,
    /// GB of data transfer out that were priced (for the free allowance).
    transfer_gb: Decimal,
    unpriced_reason: Option<String>,
}

impl Default for Summary {
    fn default() -> Self {
        Self::new(PricingInfo::default())
    }
}

impl Summary {
    pub fn new(pricing: PricingInfo) -> Self {
        Self {
            by_operation: DashMap::new(),
            by_host: DashMap::new(),
            tunnels: DashMap::new(),
            // 1 µs to 1 hour at 3 significant figures: a few tens of KiB.
            latency_max_us: AtomicU64::new(0),
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            ),
            interrupted: AtomicU64::new(0),
            implied: DashMap::new(),
            borrowed_prices: DashMap::new(),
            pricing,
            allowances: Vec::new(),
            distrusting: DashMap::new(),
            ca_bundle: None,
            distrust_lookups: AtomicU64::new(0),
        }
    }

    /// The CA bundle clients are told to trust.
    pub fn with_ca_bundle(mut self, path: impl Into<String>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Shows what these monthly free allowances would absorb of the run's cost.
    pub fn with_allowances(mut self, allowances: Vec<AllowanceEntry>) -> Self {
        self.allowances = allowances;
        self
    }
}

impl Summary {
    fn record_call(&self, call: &Call) {
        let key = bounded_key(
            &self.by_operation,
            (call.service.clone(), call.operation.clone()),
            || (call.service.clone(), OTHER.into()),
        );
        let mut stats = self.by_operation.entry(key).or_default();
        stats.tally.add(call, micros(call.started_at));
        if let PriceStatus::Unpriced { reason } = &call.price {
            stats.unpriced_reason.get_or_insert_with(|| reason.clone());
        }
        if let Some(gb) = call.transfer_gb {
            stats.transfer_gb += gb;
        }
        drop(stats);
        for implied in &call.implied {
            let why = implied.implied_by.unwrap_or("implied");
            let mut entry = self
                .implied
                .entry((implied.service.clone(), implied.entry.to_string(), why))
                .or_default();
            entry.0 += 1;
            entry.1 += implied.amount;
        }
    }
}

/// How many distinct rows each table keeps. Keys come from the traffic (hosts of virtual-hosted
/// buckets, path templates of unknown calls), so a long run could otherwise grow without bound;
/// past the cap, new keys are counted together under `(other)`.
const MAX_ROWS: usize = 4096;
const OTHER: &str = "(other)";

fn bounded_key<K: std::hash::Hash + Eq, V>(
    map: &DashMap<K, V>,
    key: K,
    overflow: impl FnOnce() -> K,
) -> K {
    if map.len() < MAX_ROWS || map.contains_key(&key) {
        key
    } else {
        overflow()
    }
}

impl CallSink for Summary {
    fn on_call(&self, call: &Call) {
        self.record_call(call);
        if let Some(region) = call
            .estimated
            .as_deref()
            .and_then(crate::pricing::cost::fallback_region)
        {
            // Region names are few and bounded by AWS's list: no `bounded_key` needed.
            *self.borrowed_prices.entry(region.to_string()).or_default() += 1;
        }
        let status = match (call.status, call.upstream_failure) {
            (Some(status), _) => StatusKey::Code(status),
            (None, Some(failure)) => StatusKey::Failed(failure.as_str()),
            (None, None) => StatusKey::Failed("no response"),
        };
        if call.interrupted {
            self.interrupted.fetch_add(1, Ordering::Relaxed);
        }
        {
            let mut counts = self
                .by_host
                .entry(bounded_key(
                    &self.by_host,
                    (call.host.clone(), status.clone()),
                    || (OTHER.into(), status),
                ))
                .or_default();
            counts.calls += 1;
            counts.bytes_sent += call.bytes_sent;
            counts.bytes_received += call.bytes_received;
        }
        let micros = u64::try_from(call.duration.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .saturating_record(micros.max(1));
        self.latency_max_us.fetch_max(micros, Ordering::Relaxed);
    }

    fn on_distrust(&self, distrust: &Distrust) {
        // Looked up now: a client that cannot connect usually exits soon after. It runs on the
        // connection's task (never a call's path), and a client that retries in a tight loop
        // must not turn it into a /proc scan per connection: the first few are named, the rest
        // only counted.
        let named = self.distrust_lookups.fetch_add(1, Ordering::Relaxed) < MAX_DISTRUST_LOOKUPS;
        let process = named
            .then(|| crate::procnet::client_process(distrust.client))
            .flatten();
        let library = process
            .as_ref()
            .and_then(|p| std::fs::read_to_string(format!("/proc/{}/maps", p.pid)).ok())
            .and_then(|maps| tls_library(&maps));
        *self
            .distrusting
            .entry((process.map(|p| p.command), library))
            .or_default() += 1;
    }

    fn on_tunnel(&self, tunnel: &Tunnel) {
        let mut counts = self
            .tunnels
            .entry(bounded_key(
                &self.tunnels,
                format!("{}:{}", tunnel.host, tunnel.port),
                || OTHER.into(),
            ))
            .or_default();
        counts.calls += 1;
        counts.bytes_sent += tunnel.bytes_up;
        counts.bytes_received += tunnel.bytes_down;
        counts.errors += u64::from(tunnel.error.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profiler;
    use crate::proxy::{
        BodyRecord, Exchange, Observer, Outcome, ProxyStats, ResponseRecord, Transport,
        UpstreamFailure,
    };
    use http::{HeaderMap, Method, StatusCode, Uri, Version};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    pub(super) fn exchange(
        host: &str,
        status: Option<u16>,
        millis: u64,
        sent: u64,
        received: u64,
    ) -> Exchange {
        Exchange {
            id: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Https,
            host: host.into(),
            port: 443,
            method: Method::GET,
            uri: Uri::from_static("/"),
            version: Version::HTTP_11,
            request_headers: HeaderMap::new(),
            request_body: BodyRecord {
                bytes: sent,
                complete: true,
                ..Default::default()
            },
            response: status.map(|code| ResponseRecord {
                status: StatusCode::from_u16(code).unwrap(),
                version: Version::HTTP_11,
                headers: HeaderMap::new(),
            }),
            response_tap: None,
            response_body: BodyRecord {
                bytes: received,
                complete: true,
                ..Default::default()
            },
            outcome: match status {
                Some(_) => Outcome::Complete,
                None => Outcome::UpstreamFailed {
                    kind: UpstreamFailure::Connect,
                    message: "refused".into(),
                },
            },
            started_at: SystemTime::now(),
            time_to_response_head: None,
            duration: Duration::from_millis(millis),
        }
    }

    /// The summary behind a real profiler with the built-in prices.
    pub(super) fn profiled() -> (Arc<Summary>, Profiler) {
        let summary = Arc::new(Summary::default());
        let (table, settings) = crate::pricing::overlay::load(&Default::default()).unwrap();
        let pricer = Arc::new(crate::pricing::Pricer::new(table, settings));
        let profiler = Profiler::new(pricer, vec![summary.clone() as Arc<dyn CallSink>]);
        (summary, profiler)
    }

    #[test]
    fn aggregates_by_host_and_status_with_percentiles() {
        let (summary, profiler) = profiled();
        for millis in 1..=100 {
            profiler.on_exchange(&exchange("s3.amazonaws.com", Some(200), millis, 10, 100));
        }
        profiler.on_exchange(&exchange("s3.amazonaws.com", Some(503), 5, 0, 0));
        profiler.on_exchange(&exchange("sts.amazonaws.com", None, 5, 0, 0));
        summary.on_tunnel(&Tunnel {
            client: "127.0.0.1:1".parse().unwrap(),
            host: "pypi.org".into(),
            port: 443,
            bytes_up: 5,
            bytes_down: 7,
            duration: Duration::ZERO,
            error: None,
        });
        let report = summary.report(&ProxyStats::default(), Duration::from_secs(1));
        assert_eq!(report.calls, 102);
        assert_eq!(report.bytes_sent, 1000);
        assert_eq!(report.bytes_received, 10_000);
        assert_eq!(report.hosts[0].calls, 100);
        assert_eq!(report.hosts[0].status, "200");
        assert!(report
            .hosts
            .iter()
            .any(|row| row.host == "sts.amazonaws.com" && row.status == "failed (connect)"));
        let latency = report.latency_ms.as_ref().unwrap();
        assert!((latency.p50 - 49.0).abs() < 1.0, "{}", latency.p50);
        assert!((latency.max - 100.0).abs() < 0.2, "{}", latency.max);
        assert_eq!(report.tunnels[0].bytes_received, 7);
        // 100 ListBuckets (S3 Tier1, $0.000005 each) plus 100 B each of data transfer out
        // ($0.09 per 2^30 bytes); the 503 is not billed; the unanswered call never reached AWS.
        let s3 = report
            .operations
            .iter()
            .find(|row| row.operation == "ListBuckets")
            .unwrap();
        assert_eq!(s3.cost_usd.exact(), "0.0005");
        assert_eq!(s3.priced, 100);
        assert_eq!(s3.not_billed, 1);
        let transfer = Decimal::from(100 * 100) * Decimal::from_str_exact("0.09").unwrap()
            / Decimal::from(1u64 << 30);
        assert_eq!(
            report.cost.transfer_usd.0.round_dp(20),
            transfer.round_dp(20)
        );
        let text = report.render_text();
        assert!(text.contains("102 AWS calls"), "{text}");
        assert!(text.contains("cost $0.0005008"), "{text}");
        assert!(text.contains("pypi.org:443  1 connection, 12 B"), "{text}");
    }

    #[test]
    fn tables_stay_bounded_and_keep_every_count() {
        let summary = Summary::default();
        let total = MAX_ROWS + 100;
        for index in 0..total {
            summary.on_tunnel(&Tunnel {
                client: "127.0.0.1:1".parse().unwrap(),
                host: format!("host-{index}.example"),
                port: 443,
                bytes_up: 1,
                bytes_down: 1,
                duration: Duration::ZERO,
                error: None,
            });
        }
        let report = summary.report(&ProxyStats::default(), Duration::from_secs(1));
        assert_eq!(report.tunnels.len(), MAX_ROWS + 1);
        let connections: u64 = report.tunnels.iter().map(|row| row.connections).sum();
        assert_eq!(connections, total as u64);
        let other = report.tunnels.iter().find(|row| row.host == OTHER).unwrap();
        assert_eq!(other.connections, 100);
    }
}

#[cfg(test)]
mod distrust_tests {
    use super::tls_library;

    #[test]
    fn a_library_with_its_own_trust_store_is_found_in_the_process_maps() {
        let maps = "\
7f1c2a000000-7f1c2a200000 r-xp 00000000 08:01 1234 /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c2b000000-7f1c2d000000 r-xp 00000000 08:01 5678 /venv/lib/python3.11/site-packages/duckdb/duckdb.cpython-311-x86_64-linux-gnu.so
7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0 [stack]
";
        assert_eq!(tls_library(maps), Some("duckdb"));
        let arrow = "7f00-7f01 r-xp 0 08:01 9 /venv/lib/python3.11/site-packages/pyarrow/libarrow.so.1800\n";
        assert_eq!(tls_library(arrow), Some("pyarrow"));
        // A path that merely mentions it (a data file, a directory) is not the library.
        let data = "7f00-7f01 r--p 0 08:01 9 /home/me/duckdb-notes/data.parquet\n";
        assert_eq!(tls_library(data), None);
        assert_eq!(tls_library(""), None);
    }
}
