//! The summary for a terminal: [`SummaryReport::render_text`] and the cost line
//! ([`CostSummary::render_line`]) `tollgate run` prints when the command ends.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{CostSummary, OperationRow, SummaryReport};
use crate::record::cost_label;

impl SummaryReport {
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
        self.render_operations(&mut out);
        self.render_hosts(&mut out);
        if let Some(latency) = &self.latency_ms {
            let _ = writeln!(
                out,
                "  latency  p50 {:.1} ms   p90 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
                latency.p50, latency.p90, latency.p99, latency.max
            );
        }
        self.render_tunnels(&mut out);
        self.render_notes(&mut out);
        out
    }

    /// What the run's end says beside its costs: calls priced at another region's rates, and the
    /// warnings about the proxy itself (connections cut at shutdown, refused tunnels, failed
    /// client handshakes), each with its fix. For a run that ends with the report from the
    /// database too, which knows nothing of them.
    pub fn render_end_notes(&self) -> String {
        let mut out = String::new();
        self.render_end_notes_into(&mut out);
        out.lines()
            .map(|line| format!("tollgate: {}\n", line.trim_start()))
            .collect()
    }

    /// One line per operation: calls, retries, errors, cost and latency.
    fn render_operations(&self, out: &mut String) {
        if !self.operations.is_empty() {
            let width = self
                .operations
                .iter()
                .map(|row| row.service.len() + row.operation.len() + 1 + mark(row).len())
                .max()
                .unwrap_or(9)
                .clamp(9, 60);
            let _ = writeln!(
                out,
                "  {:<width$}  {:>7}  {:>7}  {:>6}  {:>14}  {:>9}  {:>9}",
                "operation", "calls", "retries", "errors", "cost", "p50", "p99"
            );
            for row in &self.operations {
                let name = format!("{} {}{}", row.service, row.operation, mark(row));
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
    }

    /// One line per host and status: calls and bytes each way.
    fn render_hosts(&self, out: &mut String) {
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
    }

    /// The hosts tunnelled without decryption: connections, bytes and failures.
    fn render_tunnels(&self, out: &mut String) {
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
    }

    /// Responses cut short, connections cut at shutdown, and failed client handshakes.
    fn render_notes(&self, out: &mut String) {
        if self.interrupted > 0 {
            let _ = writeln!(
                out,
                "  {} response{} did not reach the end (client or upstream closed early)",
                self.interrupted,
                if self.interrupted == 1 { "" } else { "s" }
            );
        }
        self.render_end_notes_into(out);
    }

    fn render_end_notes_into(&self, out: &mut String) {
        if !self.estimated_regions.is_empty() {
            let shown: Vec<String> = self
                .estimated_regions
                .iter()
                .map(|(region, calls)| format!("{calls} in {region}"))
                .collect();
            let flags: Vec<String> = self
                .estimated_regions
                .keys()
                .map(|region| format!("--region {region}"))
                .collect();
            let total: u64 = self.estimated_regions.values().sum();
            let _ = writeln!(
                out,
                "  ~ {total} call{} priced at us-east-1 rates for want of their region's ({}): \
                 `tollgate pricing update {}` makes them exact",
                if total == 1 { "" } else { "s" },
                shown.join(", "),
                flags.join(" ")
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
        if self.dropped_after_handshake > 0 {
            let _ = writeln!(
                out,
                "  warning: {} closed by the client right after the TLS handshake, without a \
                 request: a client that checks the certificate after the handshake and does not \
                 trust the tollgate CA",
                if self.dropped_after_handshake == 1 {
                    "1 connection was".to_string()
                } else {
                    format!("{} connections were", self.dropped_after_handshake)
                }
            );
        }
        let bundle = self
            .ca_bundle
            .as_deref()
            .unwrap_or("the bundle `tollgate ca show` names");
        for client in &self.distrusting_clients {
            let count = format!(
                "{} connection{}",
                client.connections,
                if client.connections == 1 { "" } else { "s" }
            );
            let duckdb = format!(
                "duckdb trusts only its own list of CA files: run `SET ca_cert_file = \
                 '{bundle}';` before reading s3://"
            );
            let pyarrow = format!(
                "pyarrow's S3 client (the AWS SDK for C++) reads neither SSL_CERT_FILE nor \
                 AWS_CA_BUNDLE: pass `S3FileSystem(tls_ca_file_path='{bundle}')`"
            );
            let line = match (&client.command, client.library) {
                (Some(command), library) => {
                    let fix = match library {
                        Some("duckdb") => duckdb,
                        Some("pyarrow") => pyarrow,
                        _ => format!("make it trust {bundle}"),
                    };
                    format!(
                        "`{}` did not accept tollgate's certificate ({count}{}): {fix}",
                        truncate(command, 60),
                        library.map(|l| format!(", {l}")).unwrap_or_default(),
                    )
                }
                // Gone before it could be named (a client that rejects the certificate closes
                // at once): the fixes of the clients known to do this.
                (None, _) => format!(
                    "a client did not accept tollgate's certificate ({count}) and closed before it \
                     could be named: make it trust {bundle}; {duckdb}; {pyarrow}"
                ),
            };
            let _ = writeln!(out, "  warning: {line}");
        }
        if self.endpoint_requests > 0 {
            let _ = writeln!(
                out,
                "  warning: {} sent to tollgate as if it were the AWS endpoint (an endpoint URL \
                 such as AWS_ENDPOINT_URL pointing at it) and answered 400: tollgate is the proxy; \
                 unset the endpoint and let HTTPS_PROXY route the calls (`--upstream URL` reaches \
                 an emulator)",
                if self.endpoint_requests == 1 {
                    "1 request was".to_string()
                } else {
                    format!("{} requests were", self.endpoint_requests)
                }
            );
        }
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
/// ` (not in model)` after an operation newer than the AWS model (named from the request).
fn mark(row: &super::report::OperationRow) -> &'static str {
    if row.not_in_model > 0 {
        " (not in model)"
    } else {
        ""
    }
}

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
