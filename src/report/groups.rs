//! The runs' calls grouped by who made them: the line of the program (call site), the test, the
//! SDK, the app id, or the process's command. `report --by KEY` is one such table; the full
//! report shows the top call sites and the clients (by SDK). Grouped here from the totals the
//! writer keeps per run and group ([`RunStore::call_groups`]): the same for every backend, a few
//! rows per group whatever the number of calls.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::format::cut;
use super::REPORT_VERSION;
use crate::findings::rules::thousands;
use crate::record::Usd;
use crate::store::{RunStore, StoreError};

/// How many operations each group names.
const TOP_OPERATIONS: usize = 3;
/// Rows of the full report's call-site and client sections.
pub const REPORT_ROWS: usize = 10;

pub use crate::record::GroupBy;

/// One group's calls. Money as exact decimal strings.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupReport {
    /// The call site, test, SDK, app id or command; null for the calls that had none.
    pub key: Option<String>,
    /// `key`, or what a call without one is shown as (`(no call site)`).
    pub label: String,
    /// Logical calls: attempts that were not retries.
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub errors: u64,
    /// Everything the calls cost: their own charge, data transfer out and implied costs.
    pub total_usd: Usd,
    /// The operations that cost the most within the group (at most three).
    pub top_operations: Vec<GroupOperation>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupOperation {
    pub service: String,
    pub operation: String,
    pub calls: u64,
    pub total_usd: Usd,
}

/// `report --by KEY`: the groups, most expensive first.
#[derive(Debug, Clone, Serialize)]
pub struct GroupedReport {
    pub version: u32,
    pub by: GroupBy,
    pub database: String,
    pub runs: Vec<i64>,
    pub groups: Vec<GroupReport>,
}

impl GroupedReport {
    pub async fn build(
        store: &dyn RunStore,
        runs: &[i64],
        by: GroupBy,
    ) -> Result<GroupedReport, StoreError> {
        let mut groups = group_calls(store, runs, &[by]).await?;
        Ok(GroupedReport {
            version: REPORT_VERSION,
            by,
            database: store.location(),
            runs: runs.to_vec(),
            groups: groups.pop().unwrap_or_default(),
        })
    }
}

#[derive(Default)]
struct Tally {
    attempts: u64,
    retries: u64,
    errors: u64,
    total: Usd,
    operations: HashMap<(String, String), (u64, Usd)>,
}

/// The runs' calls grouped by each of `bys`, each grouping most expensive first (then most
/// calls, then by name).
pub async fn group_calls(
    store: &dyn RunStore,
    runs: &[i64],
    bys: &[GroupBy],
) -> Result<Vec<Vec<GroupReport>>, StoreError> {
    let mut out = Vec::with_capacity(bys.len());
    for &by in bys {
        let mut groups: HashMap<Option<String>, Tally> = HashMap::new();
        for row in store.call_groups(runs, by).await? {
            let tally = groups.entry(row.key.clone()).or_default();
            tally.attempts += row.attempts;
            tally.retries += row.retries;
            tally.errors += row.errors;
            tally.total += Usd(row.total);
            let operation = tally
                .operations
                .entry((row.service.clone(), row.operation.clone()))
                .or_default();
            operation.0 += row.calls();
            operation.1 += Usd(row.total);
        }
        out.push(finish(by, groups));
    }
    Ok(out)
}

fn finish(by: GroupBy, groups: HashMap<Option<String>, Tally>) -> Vec<GroupReport> {
    let mut rows: Vec<GroupReport> = groups
        .into_iter()
        .map(|(key, tally)| {
            let mut operations: Vec<GroupOperation> = tally
                .operations
                .into_iter()
                .map(
                    |((service, operation), (calls, total_usd))| GroupOperation {
                        service,
                        operation,
                        calls,
                        total_usd,
                    },
                )
                .collect();
            operations.sort_by(|a, b| {
                b.total_usd
                    .cmp(&a.total_usd)
                    .then(b.calls.cmp(&a.calls))
                    .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
            });
            operations.truncate(TOP_OPERATIONS);
            GroupReport {
                label: key.clone().unwrap_or_else(|| by.missing().to_string()),
                key,
                calls: tally.attempts - tally.retries,
                attempts: tally.attempts,
                retries: tally.retries,
                errors: tally.errors,
                total_usd: tally.total,
                top_operations: operations,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.total_usd
            .cmp(&a.total_usd)
            .then(b.calls.cmp(&a.calls))
            .then_with(|| a.label.cmp(&b.label))
    });
    rows
}

/// Call site → first attempts.
type SiteCounts = HashMap<String, u64>;

/// Where the calls of each operation (and resource) came from, for naming the call sites behind
/// findings. Empty when no call named its call site. (A loop's call site is its own row's.)
#[derive(Debug, Default)]
pub struct CallsiteIndex {
    /// (service, operation) → resource → call site → first attempts.
    by_operation: HashMap<(String, String), HashMap<Option<String>, SiteCounts>>,
}

impl CallsiteIndex {
    pub async fn build(store: &dyn RunStore, runs: &[i64]) -> Result<CallsiteIndex, StoreError> {
        let mut index = CallsiteIndex::default();
        for row in store.call_groups(runs, GroupBy::Callsite).await? {
            let Some(site) = row.key.clone() else {
                continue;
            };
            let calls = row.calls();
            if calls == 0 {
                continue;
            }
            *index
                .by_operation
                .entry((row.service, row.operation))
                .or_default()
                .entry(row.resource)
                .or_default()
                .entry(site)
                .or_default() += calls;
        }
        Ok(index)
    }

    /// The call sites of an operation's first attempts (on `resource` when given), most calls
    /// first, at most three.
    pub fn top(
        &self,
        service: &str,
        operation: &str,
        resource: Option<&str>,
    ) -> Vec<crate::findings::CallsiteCount> {
        let Some(resources) = self
            .by_operation
            .get(&(service.to_string(), operation.to_string()))
        else {
            return Vec::new();
        };
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for (on, sites) in resources {
            if resource.is_some() && on.as_deref() != resource {
                continue;
            }
            for (site, calls) in sites {
                *counts.entry(site).or_default() += calls;
            }
        }
        let mut top: Vec<crate::findings::CallsiteCount> = counts
            .into_iter()
            .map(|(callsite, calls)| crate::findings::CallsiteCount {
                callsite: callsite.to_string(),
                calls,
            })
            .collect();
        top.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.callsite.cmp(&b.callsite)));
        top.truncate(TOP_OPERATIONS);
        top
    }
}

/// `at sync.py:42 copy_all (10,000 calls), ...`: a finding's call sites, for people.
pub fn callsites_text(sites: &[crate::findings::CallsiteCount]) -> Option<String> {
    if sites.is_empty() {
        return None;
    }
    Some(format!(
        "at {}",
        sites
            .iter()
            .map(|s| format!("{} ({})", s.callsite, counted_calls(s.calls)))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn counted_calls(n: u64) -> String {
    if n == 1 {
        "1 call".into()
    } else {
        format!("{} calls", thousands(n))
    }
}

/// `HeadObject ×10, ListObjectsV2 ×2`: a group's top operations, for people.
pub fn operations_text(group: &GroupReport) -> String {
    group
        .top_operations
        .iter()
        .map(|op| format!("{} ×{}", op.operation, thousands(op.calls)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table of `groups` for a terminal, 100 columns wide, at most `rows` rows.
pub fn groups_table(out: &mut String, by: GroupBy, groups: &[GroupReport], rows: usize) {
    let _ = writeln!(
        out,
        "  {:<44} {:>8} {:>14}  top operations",
        by.heading(),
        "calls",
        "cost"
    );
    for group in groups.iter().take(rows) {
        let _ = writeln!(
            out,
            "  {:<44} {:>8} {:>14}  {}",
            cut(&group.label, 44),
            thousands(group.calls),
            group.total_usd.to_string(),
            cut(&operations_text(group), 28)
        );
    }
    if groups.len() > rows {
        let _ = writeln!(
            out,
            "  … {} more (--format json for all)",
            groups.len() - rows
        );
    }
}

/// `report --by KEY` for a terminal.
pub fn render_grouped_table(report: &GroupedReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "calls by {} · {}",
        report.by.heading(),
        match report.runs.as_slice() {
            [run] => format!("run {run}"),
            runs => format!("{} runs", runs.len()),
        }
    );
    if report.groups.is_empty() {
        let _ = writeln!(out, "No calls.");
    } else {
        let _ = writeln!(out);
        groups_table(&mut out, report.by, &report.groups, usize::MAX);
    }
    let _ = writeln!(out, "\ndatabase: {}", report.database);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Call, ClientProcess, RunMeta};
    use crate::store::{Batch, MemoryStore};
    use rust_decimal::Decimal;

    fn call(seq: u64, operation: &str, cost: &str, callsite: Option<&str>) -> Call {
        let mut call = Call::sample("s3", operation).at_us(seq as i64 * 1000);
        call.seq = seq;
        call.cost = cost.parse().unwrap();
        call.callsite = callsite.map(str::to_string);
        call
    }

    #[tokio::test]
    async fn findings_are_traced_to_their_call_sites() {
        let store = MemoryStore::default();
        let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
        let mut calls = Vec::new();
        for (seq, resource, site, loop_id) in [
            (1, "a", "sync.py:42 copy_all", Some(7)),
            (2, "a", "sync.py:42 copy_all", Some(7)),
            (3, "a", "other.py:3 f", None),
            (4, "b", "other.py:3 f", None),
        ] {
            let mut c = call(seq, "ListObjectsV2", "0.000005", Some(site));
            c.resource = Some(resource.into());
            c.loop_id = loop_id;
            calls.push(c);
        }
        let processes: Vec<Option<ClientProcess>> = vec![None; calls.len()];
        let batch = Batch {
            calls: &calls,
            processes: &processes,
            loops: &[],
        };
        store.write_batch(run, batch).await.unwrap();
        let index = CallsiteIndex::build(&store, &[run]).await.unwrap();
        let top = |resource| -> Vec<(String, u64)> {
            index
                .top("s3", "ListObjectsV2", resource)
                .into_iter()
                .map(|s| (s.callsite, s.calls))
                .collect()
        };
        assert_eq!(
            top(Some("a")),
            vec![
                ("sync.py:42 copy_all".into(), 2),
                ("other.py:3 f".into(), 1)
            ]
        );
        assert_eq!(
            top(None),
            vec![
                ("other.py:3 f".into(), 2),
                ("sync.py:42 copy_all".into(), 2)
            ]
        );
        assert!(index.top("s3", "HeadObject", None).is_empty());
        assert_eq!(
            callsites_text(&index.top("s3", "ListObjectsV2", Some("b"))).as_deref(),
            Some("at other.py:3 f (1 call)")
        );
    }

    #[tokio::test]
    async fn calls_are_grouped_by_call_site_most_expensive_first() {
        let store = MemoryStore::default();
        let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
        let mut calls = vec![
            call(1, "HeadObject", "0.0004", Some("sync.py:42 copy_all")),
            call(2, "HeadObject", "0.0004", Some("sync.py:42 copy_all")),
            call(3, "PutObject", "0.005", Some("load.py:7 main")),
            call(4, "GetObject", "0.0004", None),
        ];
        // A retry counts as an attempt, not a call.
        let mut retry = call(5, "HeadObject", "0.0004", Some("sync.py:42 copy_all"));
        retry.attempt = Some(2);
        calls.push(retry);
        let processes: Vec<Option<ClientProcess>> = vec![None; calls.len()];
        store
            .write_batch(
                run,
                Batch {
                    calls: &calls,
                    processes: &processes,
                    loops: &[],
                },
            )
            .await
            .unwrap();
        let report = GroupedReport::build(&store, &[run], GroupBy::Callsite)
            .await
            .unwrap();
        let rows: Vec<(&str, u64, u64, Decimal)> = report
            .groups
            .iter()
            .map(|g| (g.label.as_str(), g.calls, g.attempts, g.total_usd.0))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("load.py:7 main", 1, 1, "0.005".parse().unwrap()),
                ("sync.py:42 copy_all", 2, 3, "0.0012".parse().unwrap()),
                ("(no call site)", 1, 1, "0.0004".parse().unwrap()),
            ]
        );
        assert_eq!(report.groups[2].key, None);
        assert_eq!(operations_text(&report.groups[1]), "HeadObject ×2");
        let table = render_grouped_table(&report);
        assert!(table.contains("sync.py:42 copy_all"), "{table}");
        assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    }
}
