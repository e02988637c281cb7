//! The summary as data ([`SummaryReport`]), and building one from a [`Summary`]'s aggregates.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;

use super::{PricingInfo, Summary};
use crate::pricing::table::DATA_TRANSFER;
use crate::proxy::ProxyStats;
use crate::record::{exact, Unit, Usd};

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
    /// Calls priced at us-east-1 rates because their region has no imported prices, by region:
    /// `tollgate pricing update --region R` makes them exact.
    pub estimated_regions: BTreeMap<String, u64>,
    /// Connections the client closed right after the TLS handshake without a request: a client
    /// that checks the certificate after the handshake and rejects it.
    pub dropped_after_handshake: u64,
    /// Who did not accept tollgate's certificate (failed handshakes and dropped connections).
    pub distrusting_clients: Vec<DistrustingClient>,
    /// Requests sent to tollgate as if it were the AWS endpoint: answered with what to do.
    pub endpoint_requests: u64,
    /// The CA bundle clients should trust.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
}

/// A client process that did not accept tollgate's certificate.
#[derive(Debug, Clone, Serialize)]
pub struct DistrustingClient {
    /// Its command line, when the process could still be found.
    pub command: Option<String>,
    /// A library in it with a trust store of its own (`duckdb`, `pyarrow`), whose fix differs.
    pub library: Option<&'static str>,
    pub connections: u64,
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
    /// Attempts to an operation the AWS model did not have, named from the request.
    pub not_in_model: u64,
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
}

impl OperationRow {
    /// Everything the attempts cost: their own charges, data transfer out and implied charges.
    pub fn total(&self) -> Usd {
        self.cost_usd + self.transfer_usd + self.implied_usd
    }
}

impl Summary {
    /// A point-in-time view, with the proxy's own counters.
    pub fn report(&self, proxy: &ProxyStats, wall_time: Duration) -> SummaryReport {
        let hosts = self.host_rows();
        let operations = self.operation_rows();
        let cost = self.cost_summary(&operations);
        SummaryReport {
            version: 2,
            cost,
            operations,
            calls: hosts.iter().map(|row| row.calls).sum(),
            bytes_sent: hosts.iter().map(|row| row.bytes_sent).sum(),
            bytes_received: hosts.iter().map(|row| row.bytes_received).sum(),
            wall_time_ms: wall_time.as_millis() as u64,
            latency_ms: self.latency(),
            hosts,
            tunnels: self.tunnel_rows(),
            interrupted: self.interrupted.load(Ordering::Relaxed),
            client_handshake_failures: proxy.handshake_failures.load(Ordering::Relaxed),
            connections_cut_at_shutdown: proxy.cut_at_shutdown.load(Ordering::Relaxed),
            refused_tunnels: proxy.refused_tunnels.load(Ordering::Relaxed),
            dropped_after_handshake: proxy.dropped_after_handshake.load(Ordering::Relaxed),
            distrusting_clients: self.distrusting_clients(),
            endpoint_requests: proxy.endpoint_requests.load(Ordering::Relaxed),
            ca_bundle: self.ca_bundle.clone(),
            estimated_regions: self
                .borrowed_prices
                .iter()
                .map(|entry| (entry.key().clone(), *entry.value()))
                .collect(),
        }
    }

    /// The clients that did not accept tollgate's certificate, most connections first.
    fn distrusting_clients(&self) -> Vec<DistrustingClient> {
        let mut clients: Vec<DistrustingClient> = self
            .distrusting
            .iter()
            .map(|entry| DistrustingClient {
                command: entry.key().0.clone(),
                library: entry.key().1,
                connections: *entry.value(),
            })
            .collect();
        clients.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then_with(|| a.command.cmp(&b.command))
        });
        clients
    }

    /// Calls and bytes by host and status, the busiest host first.
    fn host_rows(&self) -> Vec<HostRow> {
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
        hosts
    }

    /// Connections and bytes by tunnelled host, by name.
    fn tunnel_rows(&self) -> Vec<TunnelRow> {
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
        tunnels
    }

    /// Percentiles of every call's duration, never above the slowest call; `None` before the
    /// first call.
    fn latency(&self) -> Option<Latency> {
        let histogram = self.latency_us.lock().unwrap_or_else(|p| p.into_inner());
        let max_us = self.latency_max_us.load(Ordering::Relaxed);
        let ms = |quantile: f64| histogram.value_at_quantile(quantile).min(max_us) as f64 / 1000.0;
        (!histogram.is_empty()).then(|| Latency {
            p50: ms(0.50),
            p90: ms(0.90),
            p99: ms(0.99),
            max: max_us as f64 / 1000.0,
        })
    }

    /// Calls, bytes, latency and cost by service and operation, the most expensive first.
    fn operation_rows(&self) -> Vec<OperationRow> {
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
                    not_in_model: tally.not_in_model,
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
        operations
    }

    /// Charges the calls cause elsewhere, by service, price entry and cause.
    fn implied_rows(&self) -> Vec<ImpliedRow> {
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
        implied
    }

    /// The operations' costs added up, with the implied charges, the prices they come from and
    /// what the free allowances would absorb.
    fn cost_summary(&self, operations: &[OperationRow]) -> CostSummary {
        let sum = |f: fn(&OperationRow) -> u64| operations.iter().map(f).sum::<u64>();
        let own: Usd = operations.iter().map(|r| r.cost_usd).sum();
        let transfer: Usd = operations.iter().map(|r| r.transfer_usd).sum();
        let implied_total: Usd = operations.iter().map(|r| r.implied_usd).sum();
        CostSummary {
            total_usd: own + transfer + implied_total,
            calls_usd: own,
            transfer_usd: transfer,
            implied_usd: implied_total,
            priced: sum(|r| r.priced),
            free: sum(|r| r.free),
            not_billed: sum(|r| r.not_billed),
            unpriced: sum(|r| r.unpriced),
            estimated: sum(|r| r.estimated),
            implied: self.implied_rows(),
            pricing: self.pricing.clone(),
            free_allowances: self.free_allowances(),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use http::Method;
    use rust_decimal::Decimal;

    use super::super::tests::{exchange, profiled};
    use super::super::Summary;
    use crate::pricing::table::AllowanceEntry;
    use crate::profile::{CallSink, Profiler};
    use crate::proxy::{Observer, ProxyStats};
    use crate::record::Unit;

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
    fn refused_tunnels_are_in_the_json_and_shown_only_when_there_are_some() {
        use std::sync::atomic::Ordering;
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
}
