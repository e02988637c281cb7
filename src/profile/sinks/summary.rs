//! What `tollgate run` prints when the command ends: calls and their exact cost by service and
//! operation (retries grouped under their logical call), by host and status, bytes each way,
//! latency percentiles, and the hosts tunnelled without decryption.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use dashmap::DashMap;
use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::pricing::table::{AllowanceEntry, DATA_TRANSFER};
use crate::profile::CallSink;
use crate::proxy::{ProxyStats, Tunnel};
use crate::record::{cost_label, exact, micros, Call, OperationTally, PriceStatus, Unit, Usd};

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
    pricing: PricingInfo,
    /// Monthly free allowances to show against this run's use (the overlay's `free_allowances`).
    allowances: Vec<AllowanceEntry>,
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
            pricing,
            allowances: Vec::new(),
        }
    }

    /// Shows what these monthly free allowances would absorb of the run's cost.
    pub fn with_allowances(mut self, allowances: Vec<AllowanceEntry>) -> Self {
        self.allowances = allowances;
        self
    }

    /// A point-in-time view, with the proxy's own counters.
    pub fn report(&self, proxy: &ProxyStats, wall_time: Duration) -> SummaryReport {
        let mut hosts: Vec<HostRow> = self
            .by_host
            .iter()
            .map(|entry| {
                let ((host, status), counts) = (entry.key(), entry.value());
                HostRow {
                    host: host.clone(),
                    status: status.to_string(),
                    calls: counts.calls,
                    bytes_sent: counts.bytes_sent,
                    bytes_received: counts.bytes_received,
                }
            })
            .collect();
        // Busiest host first, each host's statuses together.
        let mut per_host: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for row in &hosts {
            *per_host.entry(row.host.clone()).or_default() += row.calls;
        }
        hosts.sort_by(|a, b| {
            per_host[&b.host]
                .cmp(&per_host[&a.host])
                .then_with(|| a.host.cmp(&b.host))
                .then_with(|| a.status.cmp(&b.status))
        });
        let mut tunnels: Vec<TunnelRow> = self
            .tunnels
            .iter()
            .map(|entry| TunnelRow {
                host: entry.key().clone(),
                connections: entry.calls,
                bytes_sent: entry.bytes_sent,
                bytes_received: entry.bytes_received,
                errors: entry.errors,
            })
            .collect();
        tunnels.sort_by(|a, b| a.host.cmp(&b.host));
        let histogram = self.latency_us.lock().unwrap_or_else(|p| p.into_inner());
        let max_us = self.latency_max_us.load(Ordering::Relaxed);
        let ms = |quantile: f64| histogram.value_at_quantile(quantile).min(max_us) as f64 / 1000.0;
        let latency_ms = (!histogram.is_empty()).then(|| Latency {
            p50: ms(0.50),
            p90: ms(0.90),
            p99: ms(0.99),
            max: max_us as f64 / 1000.0,
        });
        let mut operations: Vec<OperationRow> = self
            .by_operation
            .iter()
            .map(|entry| {
                let ((service, operation), stats) = (entry.key(), entry.value());
                let tally = &stats.tally;
                let ms = |q: f64| tally.latency_ms(q).unwrap_or(0.0);
                OperationRow {
                    service: service.clone(),
                    operation: operation.clone(),
                    calls: tally.calls(),
                    attempts: tally.attempts,
                    retries: tally.retries,
                    errors: tally.errors,
                    throttled: tally.throttled,
                    bytes_sent: tally.bytes_sent,
                    bytes_received: tally.bytes_received,
                    p50_ms: ms(0.5),
                    p99_ms: ms(0.99),
                    cost_usd: Usd(tally.cost),
                    transfer_usd: Usd(tally.transfer),
                    implied_usd: Usd(tally.implied),
                    priced: tally.priced,
                    free: tally.free,
                    not_billed: tally.not_billed,
                    unpriced: tally.unpriced,
                    estimated: tally.estimated,
                    unpriced_reason: stats.unpriced_reason.clone(),
                    // The units of the calls' own charges: data transfer out has its own
                    // column here (`transfer_usd`), as in the text summary.
                    units: tally
                        .units
                        .iter()
                        .filter(|(unit, _)| **unit != Unit::GbOut)
                        .map(|(unit, quantity)| (unit.to_string(), exact(*quantity)))
                        .collect(),
                }
            })
            .collect();
        // Most expensive first, then busiest.
        operations.sort_by(|a, b| {
            b.total()
                .cmp(&a.total())
                .then_with(|| b.attempts.cmp(&a.attempts))
                .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
        });
        let mut implied: Vec<ImpliedRow> = self
            .implied
            .iter()
            .map(|entry| {
                let ((service, operation, why), (calls, cost)) = (entry.key(), entry.value());
                ImpliedRow {
                    service: service.clone(),
                    operation: operation.clone(),
                    why: why.to_string(),
                    calls: *calls,
                    cost_usd: Usd(*cost),
                }
            })
            .collect();
        implied.sort_by(|a, b| {
            (&a.service, &a.operation, &a.why).cmp(&(&b.service, &b.operation, &b.why))
        });
        let sum = |f: fn(&OperationRow) -> u64| operations.iter().map(f).sum::<u64>();
        let own: Usd = operations.iter().map(|r| r.cost_usd).sum();
        let transfer: Usd = operations.iter().map(|r| r.transfer_usd).sum();
        let implied_total: Usd = operations.iter().map(|r| r.implied_usd).sum();
        let cost = CostSummary {
            total_usd: own + transfer + implied_total,
            calls_usd: own,
            transfer_usd: transfer,
            implied_usd: implied_total,
            priced: sum(|r| r.priced),
            free: sum(|r| r.free),
            not_billed: sum(|r| r.not_billed),
            unpriced: sum(|r| r.unpriced),
            estimated: sum(|r| r.estimated),
            implied,
            pricing: self.pricing.clone(),
            free_allowances: self.free_allowances(),
        };
        SummaryReport {
            version: 2,
            cost,
            operations,
            calls: hosts.iter().map(|row| row.calls).sum(),
            bytes_sent: hosts.iter().map(|row| row.bytes_sent).sum(),
            bytes_received: hosts.iter().map(|row| row.bytes_received).sum(),
            wall_time_ms: wall_time.as_millis() as u64,
            latency_ms,
            hosts,
            tunnels,
            interrupted: self.interrupted.load(Ordering::Relaxed),
            client_handshake_failures: proxy.handshake_failures.load(Ordering::Relaxed),
            connections_cut_at_shutdown: proxy.cut_at_shutdown.load(Ordering::Relaxed),
            refused_tunnels: proxy.refused_tunnels.load(Ordering::Relaxed),
        }
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

impl Summary {
    /// What each allowance would absorb if this run were the month's only use: its cost times
    /// the share of its units the allowance covers.
    fn free_allowances(&self) -> Option<FreeAllowances> {
        if self.allowances.is_empty() {
            return None;
        }
        let mut rows = Vec::new();
        let mut absorbed_total = Decimal::ZERO;
        for allowance in &self.allowances {
            let (mut used, mut cost) = (Decimal::ZERO, Decimal::ZERO);
            for entry in self.by_operation.iter() {
                let ((service, operation), stats) = (entry.key(), entry.value());
                if allowance.service == DATA_TRANSFER {
                    used += stats.transfer_gb;
                    cost += stats.tally.transfer;
                } else if *service == allowance.service && allowance.covers(operation) {
                    if let Some(units) = stats.tally.units.get(&allowance.unit) {
                        used += *units;
                        cost += stats.tally.cost;
                    }
                }
            }
            if used.is_zero() {
                continue;
            }
            let absorbed = if used <= allowance.quantity {
                cost
            } else {
                cost * allowance.quantity / used
            };
            absorbed_total += absorbed;
            rows.push(AllowanceRow {
                id: allowance.id.to_string(),
                unit: allowance.unit.to_string(),
                free_per_month: exact(allowance.quantity),
                used: exact(used),
                absorbed_usd: Usd(absorbed),
            });
        }
        Some(FreeAllowances {
            absorbed_usd: Usd(absorbed_total),
            allowances: rows,
        })
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

/// The summary as data: rendered as text for people, serialised as JSON for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryReport {
    /// Bumped whenever a field changes meaning or goes away (2: costs).
    pub version: u32,
    /// What the calls cost, exactly.
    pub cost: CostSummary,
    /// Intercepted HTTP exchanges (every attempt, retries included).
    pub calls: u64,
    /// Request body bytes sent upstream, over all calls.
    pub bytes_sent: u64,
    /// Response body bytes received, over all calls.
    pub bytes_received: u64,
    pub wall_time_ms: u64,
    /// By service and operation, most attempts first. Unknown AWS calls appear with operation
    /// `unknown: <method> <path template>`; traffic that is not AWS under service `not-aws`.
    pub operations: Vec<OperationRow>,
    /// From request to the end of the response body; `null` when there were no calls.
    pub latency_ms: Option<Latency>,
    pub hosts: Vec<HostRow>,
    pub tunnels: Vec<TunnelRow>,
    /// Exchanges whose response did not reach its end.
    pub interrupted: u64,
    /// Clients that gave up the TLS handshake with tollgate: usually a CA they do not trust.
    pub client_handshake_failures: u64,
    /// Connections still open when the shutdown grace period ended; calls in flight on them are
    /// missing from this report.
    pub connections_cut_at_shutdown: u64,
    /// CONNECT tunnels to intercepted hosts refused because the client sent something other than
    /// TLS through them (nothing of it reached the host; the log names each host).
    pub refused_tunnels: u64,
}

/// Money ([`Usd`]) is serialised as exact decimal strings, so sums made from the JSON are exact.
#[derive(Debug, Clone, Serialize)]
pub struct CostSummary {
    /// calls + transfer + implied.
    pub total_usd: Usd,
    /// The calls' own request and usage charges.
    pub calls_usd: Usd,
    /// Data transfer out for response bytes.
    pub transfer_usd: Usd,
    /// Charges the calls cause elsewhere (KMS behind SSE-KMS, CloudTrail data events).
    pub implied_usd: Usd,
    /// Attempts by how they were priced.
    pub priced: u64,
    pub free: u64,
    /// Failed or throttled attempts AWS does not bill.
    pub not_billed: u64,
    /// Attempts with no price in the table: not $0, unknown.
    pub unpriced: u64,
    /// Attempts whose cost is an estimate (units from sizes, a region priced at us-east-1's rate).
    pub estimated: u64,
    pub implied: Vec<ImpliedRow>,
    pub pricing: PricingInfo,
    /// With the overlay's `free_allowances = true`: what the monthly free allowances would
    /// absorb if this run were the month's only use. The costs above stay at list price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_allowances: Option<FreeAllowances>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FreeAllowances {
    pub absorbed_usd: Usd,
    pub allowances: Vec<AllowanceRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllowanceRow {
    pub id: String,
    pub unit: String,
    pub free_per_month: String,
    pub used: String,
    pub absorbed_usd: Usd,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpliedRow {
    /// The service billed (`kms`, `cloudtrail`).
    pub service: String,
    /// The table entry that priced it.
    pub operation: String,
    pub why: String,
    pub calls: u64,
    pub cost_usd: Usd,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationRow {
    pub service: String,
    pub operation: String,
    /// Logical calls: attempts that were not retries.
    pub calls: u64,
    /// HTTP exchanges, retries included.
    pub attempts: u64,
    pub retries: u64,
    /// Attempts answered with 4xx/5xx or not answered at all.
    pub errors: u64,
    pub throttled: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The attempts' own charges.
    pub cost_usd: Usd,
    pub transfer_usd: Usd,
    pub implied_usd: Usd,
    pub priced: u64,
    pub free: u64,
    pub not_billed: u64,
    pub unpriced: u64,
    pub estimated: u64,
    /// Why the first unpriced attempt had no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced_reason: Option<String>,
    /// Billed quantities of the calls' own charges by unit (data transfer is `transfer_usd`).
    pub units: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub host: String,
    pub status: String,
    pub calls: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TunnelRow {
    pub host: String,
    pub connections: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub errors: u64,
}

impl SummaryReport {
    /// Calls to AWS (identified or not), without traffic that is not AWS.
    pub fn aws_calls(&self) -> u64 {
        self.operations
            .iter()
            .filter(|row| row.service != "not-aws")
            .map(|row| row.attempts)
            .sum()
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "tollgate: {} AWS call{} in {:.2}s, {} sent, {} received",
            self.calls,
            if self.calls == 1 { "" } else { "s" },
            self.wall_time_ms as f64 / 1000.0,
            human_bytes(self.bytes_sent),
            human_bytes(self.bytes_received),
        );
        let _ = writeln!(out, "  {}", self.cost.render_line());
        if !self.operations.is_empty() {
            let width = self
                .operations
                .iter()
                .map(|row| row.service.len() + row.operation.len() + 1)
                .max()
                .unwrap_or(9)
                .clamp(9, 60);
            let _ = writeln!(
                out,
                "  {:<width$}  {:>7}  {:>7}  {:>6}  {:>14}  {:>9}  {:>9}",
                "operation", "calls", "retries", "errors", "cost", "p50", "p99"
            );
            for row in &self.operations {
                let name = format!("{} {}", row.service, row.operation);
                let _ = writeln!(
                    out,
                    "  {:<width$}  {:>7}  {:>7}  {:>6}  {:>14}  {:>6.1} ms  {:>6.1} ms",
                    truncate(&name, width),
                    row.calls,
                    row.retries,
                    row.errors,
                    row.render_cost(),
                    row.p50_ms,
                    row.p99_ms
                );
            }
            if self.cost.estimated > 0 || self.cost.unpriced > 0 {
                let _ = writeln!(
                    out,
                    "  (~ estimated: units from sizes or another region's price; ? some attempts unpriced)"
                );
            }
        }
        if !self.hosts.is_empty() {
            let width = self
                .hosts
                .iter()
                .map(|row| row.host.len())
                .max()
                .unwrap_or(4)
                .clamp(4, 60);
            let _ = writeln!(
                out,
                "  {:<width$}  {:>16}  {:>7}  {:>10}  {:>10}",
                "host", "status", "calls", "sent", "received"
            );
            for row in &self.hosts {
                let _ = writeln!(
                    out,
                    "  {:<width$}  {:>16}  {:>7}  {:>10}  {:>10}",
                    truncate(&row.host, width),
                    row.status,
                    row.calls,
                    human_bytes(row.bytes_sent),
                    human_bytes(row.bytes_received)
                );
            }
        }
        if let Some(latency) = &self.latency_ms {
            let _ = writeln!(
                out,
                "  latency  p50 {:.1} ms   p90 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
                latency.p50, latency.p90, latency.p99, latency.max
            );
        }
        if !self.tunnels.is_empty() {
            let mut by_host: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
            for row in &self.tunnels {
                let entry = by_host.entry(&row.host).or_default();
                entry.0 += row.connections;
                entry.1 += row.bytes_sent + row.bytes_received;
                entry.2 += row.errors;
            }
            let _ = writeln!(out, "  tunnelled without decryption:");
            for (host, (connections, bytes, errors)) in by_host {
                let failed = if errors > 0 {
                    format!(", {errors} failed")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "    {host}  {connections} connection{}, {}{failed}",
                    if connections == 1 { "" } else { "s" },
                    human_bytes(bytes)
                );
            }
        }
        if self.interrupted > 0 {
            let _ = writeln!(
                out,
                "  {} response{} did not reach the end (client or upstream closed early)",
                self.interrupted,
                if self.interrupted == 1 { "" } else { "s" }
            );
        }
        if self.connections_cut_at_shutdown > 0 {
            let _ =
                writeln!(
                out,
                "  warning: {} connection{} still open when tollgate stopped; calls in flight on \
                 them are not counted (raise --shutdown-grace)",
                self.connections_cut_at_shutdown,
                if self.connections_cut_at_shutdown == 1 { "" } else { "s" }
            );
        }
        if self.refused_tunnels > 0 {
            let _ = writeln!(
                out,
                "  warning: {} refused: the client sent something other than TLS, which tollgate \
                 neither decrypts nor lets through unobserved (the log names the hosts)",
                if self.refused_tunnels == 1 {
                    "1 tunnel to an intercepted host".to_string()
                } else {
                    format!("{} tunnels to intercepted hosts", self.refused_tunnels)
                }
            );
        }
        if self.client_handshake_failures > 0 {
            let _ =
                writeln!(
                out,
                "  warning: {} TLS handshake{} with clients failed: a client that does not trust \
                 the tollgate CA sends no calls through it (point it at `tollgate ca bundle`)",
                self.client_handshake_failures,
                if self.client_handshake_failures == 1 { "" } else { "s" }
            );
        }
        out
    }
}

impl CostSummary {
    /// `cost $0.0123 (calls $0.01, data transfer $0.0023) · 3 unpriced · 2 estimated`
    pub fn render_line(&self) -> String {
        let mut parts = vec![format!("calls {}", self.calls_usd)];
        if !self.transfer_usd.is_zero() {
            parts.push(format!("data transfer out {}", self.transfer_usd));
        }
        if !self.implied_usd.is_zero() {
            parts.push(format!("implied {}", self.implied_usd));
        }
        let mut line = format!("cost {} ({})", self.total_usd, parts.join(", "));
        if self.unpriced > 0 {
            line += &format!(
                "; {} attempt{} unpriced (no price in the table, not $0)",
                self.unpriced,
                if self.unpriced == 1 { "" } else { "s" }
            );
        }
        if self.estimated > 0 {
            line += &format!("; {} estimated", self.estimated);
        }
        if self.not_billed > 0 {
            line += &format!("; {} failed attempts not billed", self.not_billed);
        }
        if let Some(free) = &self.free_allowances {
            line += &format!(
                "\n  free allowances would absorb {} if this run were the month's only use",
                free.absorbed_usd
            );
        }
        for implied in &self.implied {
            line += &format!(
                "\n  implied: {} × {} ({}) {}",
                implied.calls, implied.operation, implied.why, implied.cost_usd
            );
        }
        line
    }
}

impl OperationRow {
    /// Everything the attempts cost: their own charges, data transfer out and implied charges.
    pub fn total(&self) -> Usd {
        self.cost_usd + self.transfer_usd + self.implied_usd
    }

    /// The cost column: the attempts' own charges and their data transfer out.
    fn render_cost(&self) -> String {
        if self.service == "not-aws" {
            return "-".into();
        }
        cost_label(
            (self.cost_usd + self.transfer_usd).0,
            self.priced + self.free + self.not_billed,
            self.unpriced,
            self.estimated,
        )
    }
}

/// Keeps the end of `text` (the distinctive part of a host or operation) within `width` chars.
fn truncate(text: &str, width: usize) -> String {
    let chars = text.chars().count();
    if chars <= width {
        text.to_string()
    } else {
        let tail: String = text.chars().skip(chars - (width - 1)).collect();
        format!("…{tail}")
    }
}

/// Bytes in binary units with one decimal, e.g. `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profiler;
    use crate::proxy::{
        BodyRecord, Exchange, Observer, Outcome, ResponseRecord, Transport, UpstreamFailure,
    };
    use http::{HeaderMap, Method, StatusCode, Uri, Version};
    use std::sync::Arc;
    use std::time::SystemTime;

    fn exchange(
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
    fn profiled() -> (Arc<Summary>, Profiler) {
        let summary = Arc::new(Summary::default());
        let (table, settings) = crate::pricing::overlay::load(&Default::default()).unwrap();
        let pricer = Arc::new(crate::pricing::Pricer::new(table, settings));
        let profiler = Profiler::new(pricer, vec![summary.clone() as Arc<dyn CallSink>]);
        (summary, profiler)
    }

    /// Issue 13: an operation's p99 above the run's maximum. Both come from the same
    /// durations; neither may be shown above the slowest call.
    #[test]
    fn an_operations_percentiles_never_exceed_the_runs_slowest_call() {
        let (summary, profiler) = profiled();
        for millis in [8_003, 8_003, 7_990, 12, 15] {
            profiler.on_exchange(&exchange("s3.amazonaws.com", Some(200), millis, 10, 100));
        }
        let report = summary.report(&ProxyStats::default(), Duration::from_secs(9));
        let max = report.latency_ms.as_ref().unwrap().max;
        assert_eq!(max, 8003.0);
        for op in &report.operations {
            assert!(
                op.p99_ms <= max,
                "{} p99 {} > max {max}",
                op.operation,
                op.p99_ms
            );
            assert!(op.p50_ms <= op.p99_ms);
        }
        assert!(report.latency_ms.as_ref().unwrap().p99 <= max);
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
    fn refused_tunnels_are_in_the_json_and_shown_only_when_there_are_some() {
        let summary = Summary::default();
        let stats = ProxyStats::default();
        let report = summary.report(&stats, Duration::from_secs(1));
        assert_eq!(serde_json::to_value(&report).unwrap()["refused_tunnels"], 0);
        assert!(!report.render_text().contains("refused"));
        stats.refused_tunnels.store(1, Ordering::Relaxed);
        let text = summary.report(&stats, Duration::from_secs(1)).render_text();
        assert!(
            text.contains("1 tunnel to an intercepted host refused"),
            "{text}"
        );
        stats.refused_tunnels.store(3, Ordering::Relaxed);
        let report = summary.report(&stats, Duration::from_secs(1));
        assert_eq!(serde_json::to_value(&report).unwrap()["refused_tunnels"], 3);
        let text = report.render_text();
        assert!(
            text.contains("3 tunnels to intercepted hosts refused"),
            "{text}"
        );
    }

    #[test]
    fn free_allowances_absorb_their_share_of_the_cost() {
        let summary = Arc::new(Summary::default().with_allowances(vec![AllowanceEntry {
            id: "sqs/test".into(),
            service: "sqs".into(),
            operations: vec![crate::pricing::table::OperationPattern::Rest],
            unit: Unit::Chunk64Kb,
            quantity: Decimal::from(3),
            source: "https://example.com".into(),
            as_of: "2026-01-01".into(),
            note: None,
        }]));
        let (table, settings) = crate::pricing::overlay::load(&Default::default()).unwrap();
        let pricer = Arc::new(crate::pricing::Pricer::new(table, settings));
        let profiler = Profiler::new(pricer, vec![summary.clone() as Arc<dyn CallSink>]);
        for _ in 0..4 {
            let mut send = exchange("sqs.us-east-1.amazonaws.com", Some(200), 1, 10, 0);
            send.method = Method::POST;
            send.request_headers
                .insert("x-amz-target", "AmazonSQS.SendMessage".parse().unwrap());
            send.request_headers.insert(
                "content-type",
                "application/x-amz-json-1.0".parse().unwrap(),
            );
            send.request_body.captured =
                bytes::Bytes::from_static(br#"{"QueueUrl":"https://q/x","MessageBody":"hi"}"#);
            profiler.on_exchange(&send);
        }
        let report = summary.report(&ProxyStats::default(), Duration::from_secs(1));
        assert_eq!(
            report.cost.calls_usd.exact(),
            "0.0000016",
            "{:?}",
            report.operations
        );
        let free = report.cost.free_allowances.unwrap();
        // 3 of the 4 chunks are within the allowance: 3/4 of $0.0000016.
        assert_eq!(free.absorbed_usd.exact(), "0.0000012");
        assert_eq!(free.allowances[0].used, "4");
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

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(truncate("abcdef", 4), "…def");
        assert_eq!(truncate("é/…/ü/x", 3), "…/x");
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
