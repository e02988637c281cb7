//! The report: what the selected runs' calls cost, by operation, and their paginator loops. Built
//! from the store, rendered as a table for terminals or as versioned JSON (schema:
//! `schemas/report-v1.schema.json`). Findings and the other formats build on this.

mod csv;
mod format;
pub mod groups;
mod html;
mod markdown;
pub mod reprice;
mod table;
pub mod weekly;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::findings::{self, Facts, Finding, Thresholds};
use crate::record::{exact, LoopRow, OperationTally, RunRow, Usd};
use crate::store::{RunStore, StoreError};

pub use self::csv::{write_calls_csv, CsvError, CALLS_CSV_COLUMNS};
pub use groups::{render_grouped_table, GroupBy, GroupedReport};
pub use html::{render_grouped_html, render_html};
pub use markdown::{render_grouped_markdown, render_markdown, MARKDOWN_LIMIT};
pub use table::render_table;

/// Bumped when a field changes meaning or goes away; new fields may appear within a version.
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub generated_at: String,
    pub database: String,
    pub runs: Vec<RunReport>,
    pub totals: Totals,
    pub operations: Vec<OperationReport>,
    pub loops: Vec<LoopReport>,
    pub loop_totals: LoopTotals,
    /// What to change, most money saved first.
    pub findings: Vec<Finding>,
    /// Calls and cost over time, in up to 60 slices.
    pub timeline: Vec<TimelineReport>,
    /// The call sites that cost the most (at most ten), when any call named its call site
    /// (`x-tollgate-callsite`); calls without one are grouped as `(no call site)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub callsites: Vec<groups::GroupReport>,
    /// The clients that made the calls, by SDK (at most ten, most expensive first).
    pub clients: Vec<groups::GroupReport>,
    /// With `--runs-per-day N`: this report's cost projected to a 30-day month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
    /// With `--reprice`: the runs at today's prices beside their recorded cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repriced: Option<reprice::Repricing>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    pub at: String,
    pub calls: u64,
    pub cost_usd: Usd,
}

#[derive(Debug, Clone, Serialize)]
pub struct Projection {
    pub runs_per_day: String,
    /// The cost of one run: the total over the runs reported, divided by their number.
    pub per_run_usd: Usd,
    pub per_month_usd: Usd,
    /// What the findings' savings come to per month.
    pub savings_per_month_usd: Usd,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub id: i64,
    pub uuid: String,
    pub kind: String,
    pub state: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub exit_code: Option<i64>,
    pub command: Vec<String>,
    pub cwd: Option<String>,
    pub git: Git,
    pub ci: Ci,
    pub tags: BTreeMap<String, String>,
    pub calls_recorded: i64,
    pub lost_calls: i64,
    pub lost_reason: Option<String>,
    pub tollgate_version: String,
    pub pricing_version: String,
    pub model_version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Git {
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ci {
    pub provider: Option<String>,
    pub job: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub pr: Option<String>,
}

/// Money ([`Usd`]) is serialised as exact decimal strings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Logical calls: attempts that were not retries.
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub errors: u64,
    pub throttled: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub cost_usd: Usd,
    pub transfer_usd: Usd,
    pub implied_usd: Usd,
    pub total_usd: Usd,
    pub priced: u64,
    pub free: u64,
    pub not_billed: u64,
    pub unpriced: u64,
    pub estimated: u64,
    pub lost_calls: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationReport {
    pub service: String,
    pub operation: String,
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub errors: u64,
    pub throttled: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub cost_usd: Usd,
    pub transfer_usd: Usd,
    pub implied_usd: Usd,
    pub total_usd: Usd,
    pub units: BTreeMap<String, String>,
    pub priced: u64,
    pub free: u64,
    pub not_billed: u64,
    pub unpriced: u64,
    pub estimated: u64,
    /// Attempts to an operation the AWS model in use did not have: named from the request
    /// (`X-Amz-Target`, `Action=`, the RPCv2 CBOR path), unpriced, no paginator.
    pub not_in_model: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoopReport {
    pub run_id: i64,
    pub loop_id: i64,
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub started_at: String,
    pub duration_ms: i64,
    pub pages: i64,
    pub attempts: i64,
    pub items: Option<i64>,
    /// Why `items` is null: an `ItemsUnknown` code (`cut-short`, `compressed`, ...).
    pub items_unknown: Option<String>,
    pub page_size: Option<i64>,
    pub page_size_max: Option<i64>,
    /// The last page said there was no more.
    pub complete: bool,
    /// The first page seen already carried a token.
    pub resumed: bool,
    /// The same listing had been read from its start before, in the same run.
    pub relisting: bool,
    /// One page that said there was no more: listed only when it is a re-listing.
    pub single_page: bool,
    /// The pages' own charge: their requests, every attempt.
    pub cost_usd: Usd,
    pub transfer_usd: Usd,
    pub implied_usd: Usd,
    /// Everything the loop's calls cost, defined as an operation's `total_usd`.
    pub total_usd: Usd,
    /// The line of the client's program that started it (its first page's call site), when the
    /// calls named theirs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callsite: Option<String>,
}

/// Listings of paginated operations. A listing whose one page said there was no more is a
/// single-page listing, not a paginator loop: it is counted here, and listed among the loops only
/// when it re-read a listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoopTotals {
    /// Every listing: paginator loops and single pages.
    pub listings: u64,
    /// Listings that paged: more than one page, or a page that said more remained.
    pub loops: u64,
    pub single_pages: u64,
    /// The pages of every listing.
    pub pages: u64,
    pub relistings: u64,
    pub stopped_early: u64,
}

pub use crate::record::{rfc3339, short_time};

impl Report {
    /// The report of the given runs (newest first), with findings.
    pub async fn build(
        store: &dyn RunStore,
        run_ids: &[i64],
        thresholds: &Thresholds,
    ) -> Result<Report, StoreError> {
        let runs = store.runs(Some(run_ids), i64::MAX).await?;
        let facts = Facts::gather(store, run_ids, thresholds).await?;
        let found = findings::find(&facts, thresholds);
        let mut report = Self::assemble(store.location(), runs, facts.operations, facts.loops);
        report.findings = found;
        let [callsites, clients]: [Vec<groups::GroupReport>; 2] = groups::group_calls(
            store,
            run_ids,
            &[groups::GroupBy::Callsite, groups::GroupBy::Sdk],
        )
        .await?
        .try_into()
        .expect("two groupings asked for");
        if callsites.iter().any(|group| group.key.is_some()) {
            report.callsites = callsites;
            report.callsites.truncate(groups::REPORT_ROWS);
        }
        report.clients = clients;
        report.clients.truncate(groups::REPORT_ROWS);
        if !report.callsites.is_empty() {
            let index = groups::CallsiteIndex::build(store, run_ids).await?;
            for finding in &mut report.findings {
                let evidence = &mut finding.evidence;
                evidence.callsites = index.top(
                    &evidence.service,
                    &evidence.operation,
                    evidence.resource.as_deref(),
                );
            }
        }
        report.timeline = store
            .timeline(run_ids, 60)
            .await?
            .into_iter()
            .map(|point| TimelineReport {
                at: rfc3339(point.at_us),
                calls: point.calls,
                cost_usd: Usd(point.cost),
            })
            .collect();
        Ok(report)
    }

    /// Projects the cost to a month of `runs_per_day` runs like these (30 days).
    pub fn project(&mut self, runs_per_day: Decimal) {
        let runs = Decimal::from(self.runs.len().max(1) as u64);
        let per_run = self.totals.total_usd.0 / runs;
        let month = runs_per_day * Decimal::from(30);
        let savings: Usd = self
            .findings
            .iter()
            .filter_map(|f| f.saving.as_ref())
            .map(|s| s.usd)
            .sum();
        let savings = savings.0 / runs;
        self.projection = Some(Projection {
            runs_per_day: exact(runs_per_day),
            per_run_usd: Usd(per_run),
            per_month_usd: Usd(per_run * month),
            savings_per_month_usd: Usd(savings * month),
        });
    }

    pub fn assemble(
        database: String,
        runs: Vec<RunRow>,
        operations: Vec<OperationTally>,
        loops: Vec<LoopRow>,
    ) -> Report {
        let mut totals = Totals::default();
        let mut rows: Vec<OperationReport> = operations
            .into_iter()
            .map(|op| {
                totals.add(&op);
                OperationReport::from_tally(op)
            })
            .collect();
        // Most expensive first, then busiest, then by name: a stable order for diffs.
        rows.sort_by(|a, b| {
            b.total_usd
                .cmp(&a.total_usd)
                .then(b.attempts.cmp(&a.attempts))
                .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
        });
        totals.calls = totals.attempts - totals.retries;
        totals.total_usd = totals.cost_usd + totals.transfer_usd + totals.implied_usd;
        totals.lost_calls = runs.iter().map(|r| r.lost_calls).sum();

        let mut loop_totals = LoopTotals::default();
        let loops: Vec<LoopReport> = loops
            .into_iter()
            .filter_map(|l| {
                loop_totals.add(&l);
                (!l.is_single_page() || l.relisting).then(|| LoopReport::from_row(l))
            })
            .collect();
        let runs = runs.into_iter().map(RunReport::from_row).collect();
        Report {
            version: REPORT_VERSION,
            generated_at: time::OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
            database,
            runs,
            totals,
            operations: rows,
            loops,
            loop_totals,
            findings: Vec::new(),
            timeline: Vec::new(),
            callsites: Vec::new(),
            clients: Vec::new(),
            projection: None,
            repriced: None,
        }
    }
}

impl Totals {
    /// Adds one operation's tally; `calls`, `total_usd` and `lost_calls` are set once all are in.
    fn add(&mut self, op: &OperationTally) {
        self.attempts += op.attempts;
        self.retries += op.retries;
        self.errors += op.errors;
        self.throttled += op.throttled;
        self.bytes_sent += op.bytes_sent;
        self.bytes_received += op.bytes_received;
        self.priced += op.priced;
        self.free += op.free;
        self.not_billed += op.not_billed;
        self.unpriced += op.unpriced;
        self.estimated += op.estimated;
        self.cost_usd += Usd(op.cost);
        self.transfer_usd += Usd(op.transfer);
        self.implied_usd += Usd(op.implied);
    }
}

impl OperationReport {
    fn from_tally(op: OperationTally) -> Self {
        OperationReport {
            calls: op.calls(),
            attempts: op.attempts,
            retries: op.retries,
            errors: op.errors,
            throttled: op.throttled,
            bytes_sent: op.bytes_sent,
            bytes_received: op.bytes_received,
            cost_usd: Usd(op.cost),
            transfer_usd: Usd(op.transfer),
            implied_usd: Usd(op.implied),
            total_usd: Usd(op.total()),
            units: op
                .units
                .iter()
                .map(|(unit, quantity)| (unit.to_string(), exact(*quantity)))
                .collect(),
            priced: op.priced,
            free: op.free,
            not_billed: op.not_billed,
            unpriced: op.unpriced,
            estimated: op.estimated,
            not_in_model: op.not_in_model,
            p50_ms: op.latency_ms(0.5),
            p99_ms: op.latency_ms(0.99),
            service: op.service,
            operation: op.operation,
        }
    }
}

impl LoopTotals {
    fn add(&mut self, l: &LoopRow) {
        self.listings += 1;
        if l.is_single_page() {
            self.single_pages += 1;
        } else {
            self.loops += 1;
        }
        self.pages += l.pages as u64;
        self.relistings += u64::from(l.relisting);
        self.stopped_early += u64::from(!l.complete);
    }
}

impl LoopReport {
    fn from_row(l: LoopRow) -> Self {
        let total = l.total();
        let single_page = l.is_single_page();
        LoopReport {
            run_id: l.run_id,
            loop_id: l.loop_id,
            service: l.service,
            operation: l.operation,
            resource: l.resource,
            started_at: rfc3339(l.started_at_us),
            duration_ms: (l.ended_at_us - l.started_at_us) / 1000,
            pages: l.pages,
            attempts: l.attempts,
            items: l.items,
            items_unknown: l.items_unknown,
            page_size: l.page_size,
            page_size_max: l.page_size_max,
            complete: l.complete,
            resumed: l.resumed,
            relisting: l.relisting,
            single_page,
            cost_usd: Usd(l.cost),
            transfer_usd: Usd(l.transfer),
            implied_usd: Usd(l.implied),
            total_usd: Usd(total),
            callsite: l.callsite,
        }
    }
}

impl RunReport {
    fn from_row(r: RunRow) -> Self {
        RunReport {
            id: r.id,
            uuid: r.uuid,
            kind: r.kind,
            state: r.state,
            started_at: rfc3339(r.started_at_us),
            ended_at: r.ended_at_us.map(rfc3339),
            duration_ms: r.ended_at_us.map(|end| (end - r.started_at_us) / 1000),
            exit_code: r.exit_code,
            command: r.command,
            cwd: r.cwd,
            git: Git {
                repo: r.git_repo,
                branch: r.git_branch,
                commit: r.git_commit,
            },
            ci: Ci {
                provider: r.ci_provider,
                job: r.ci_job,
                git_ref: r.ci_ref,
                pr: r.ci_pr,
            },
            tags: r.tags,
            calls_recorded: r.calls,
            lost_calls: r.lost_calls,
            lost_reason: r.lost_reason,
            tollgate_version: r.tollgate_version,
            pricing_version: r.pricing_version,
            model_version: r.model_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    use crate::record::{
        Call, CallKind, ImpliedCost, Loop, PageFacts, PriceStatus, RunEnd, RunMeta,
    };
    use crate::store::{Batch, MemoryStore, RunStore, SqliteStore};

    fn usd(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    /// A run with something for most rules: repeated and fanned-out GetItems, a listing paged
    /// small, a throttled call and its retry, implied KMS costs, an unknown and a non-AWS call.
    fn workload() -> (Vec<Vec<Call>>, Vec<Loop>) {
        const T0: i64 = 1_790_000_000_000_000;
        let get_item = |fingerprint: String, at_ms: i64| Call {
            fingerprint: Some(fingerprint),
            resource: Some("orders".into()),
            cost: usd("0.000000125"),
            units: vec![(crate::record::Unit::ReadRequestUnit, Decimal::ONE)],
            ..Call::sample("dynamodb", "GetItem").at_us(T0 + at_ms * 1000)
        };
        let mut first = Vec::new();
        // Irregular gaps: identical calls, not a polling loop.
        for at_ms in [0, 10, 15, 500, 510, 2_000] {
            first.push(get_item("same".into(), at_ms));
        }
        for n in 0..25 {
            first.push(get_item(format!("key-{n}"), 3_000 + n));
        }
        let page = |n: i64| Call {
            resource: Some("bucket".into()),
            cost: usd("0.000005"),
            transfer: usd("0.0000009"),
            gb_out: Some(usd("0.00001")),
            transfer_gb: Some(usd("0.00001")),
            page: Some(PageFacts {
                continues_from: Vec::new(),
                listing: "l".into(),
                page_size: Some(100),
                answer: None,
            }),
            page_size_max: Some(1000),
            loop_id: Some(1),
            ..Call::sample("s3", "ListObjectsV2").at_us(T0 + 5_000_000 + n * 100_000)
        };
        let mut second: Vec<Call> = (0..3).map(page).collect();
        second.push(Call {
            status: Some(400),
            error_code: Some("ThrottlingException".into()),
            price: PriceStatus::NotBilled {
                reason: "throttled".into(),
            },
            ..Call::sample("dynamodb", "PutItem").at_us(T0 + 6_000_000)
        });
        second.push(Call {
            attempt: Some(2),
            cost: usd("0.000000625"),
            implied: vec![ImpliedCost {
                service: "kms".into(),
                entry: "kms-requests".into(),
                implied_by: Some("SSE-KMS"),
                amount: usd("0.000003"),
            }],
            ..Call::sample("dynamodb", "PutItem").at_us(T0 + 6_100_000)
        });
        second.push(Call {
            kind: CallKind::Unknown,
            operation: "unknown: GET /{}".into(),
            price: PriceStatus::Unpriced {
                reason: "operation not in the AWS model".into(),
            },
            ..Call::sample("s3", "x").at_us(T0 + 7_000_000)
        });
        second.push(Call {
            kind: CallKind::NotInModel,
            price: PriceStatus::Unpriced {
                reason: "operation not in the AWS model".into(),
            },
            ..Call::sample("ec2", "CreateVirtualEdgeNetworkGateway").at_us(T0 + 7_200_000)
        });
        second.push(Call {
            kind: CallKind::NotAws,
            price: PriceStatus::Unpriced {
                reason: "not an AWS API call".into(),
            },
            ..Call::sample("not-aws", "GET example.com").at_us(T0 + 7_500_000)
        });
        let listing = Loop {
            id: 1,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("bucket".into()),
            access_key: None,
            listing: "l".into(),
            started_at: second[0].started_at,
            ended_at: second[2].started_at,
            pages: 3,
            attempts: 3,
            items: Some(250),
            items_unknown: None,
            page_size: Some(100),
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting: false,
            cost: usd("0.000015"),
            transfer: usd("0.0000003"),
            implied: Decimal::ZERO,
            callsite: None,
        };
        (vec![first, second], vec![listing])
    }

    async fn record(store: &dyn RunStore) -> i64 {
        let (batches, loops) = workload();
        let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
        for (index, calls) in batches.iter().enumerate() {
            let processes = vec![None; calls.len()];
            let loops: &[Loop] = if index == 1 { &loops } else { &[] };
            let batch = Batch {
                calls,
                processes: &processes,
                loops,
            };
            store.write_batch(run, batch).await.unwrap();
        }
        store.end_run(run, &RunEnd::default()).await.unwrap();
        run
    }

    async fn report_json(store: &dyn RunStore, run: i64) -> serde_json::Value {
        let mut report = Report::build(store, &[run], &Thresholds::default())
            .await
            .unwrap();
        report.database = "db".into();
        report.generated_at = "now".into();
        serde_json::to_value(&report).unwrap()
    }

    /// The store seam is real: the same calls give the same report from the SQLite file and
    /// from memory, and its totals are the calls' own.
    #[tokio::test]
    async fn the_same_calls_give_the_same_report_from_either_store() {
        let memory = MemoryStore::new();
        let run = record(&memory).await;
        let from_memory = report_json(&memory, run).await;

        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let run = record(&sqlite).await;
        let from_sqlite = report_json(&sqlite, run).await;
        RunStore::close(&sqlite).await;

        // Runs differ in their ids, uuids and times only.
        let strip = |mut json: serde_json::Value| {
            json["runs"] = serde_json::Value::Null;
            json
        };
        assert_eq!(strip(from_memory.clone()), strip(from_sqlite));

        let calls: Vec<Call> = workload().0.into_iter().flatten().collect();
        let total: Decimal = calls.iter().map(Call::all_money).sum();
        let totals = &from_memory["totals"];
        assert_eq!(totals["attempts"], calls.len() as u64);
        assert_eq!(totals["retries"], 1);
        assert_eq!(totals["throttled"], 1);
        assert_eq!(totals["total_usd"], exact(total));
        let rules: Vec<&str> = from_memory["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        for rule in ["repeated-calls", "fan-out", "small-pages", "implied-costs"] {
            assert!(rules.contains(&rule), "{rule} missing from {rules:?}");
        }
        // Issue 13: an operation newer than the model is kept under its real name, marked.
        let newer = from_memory["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["operation"] == "CreateVirtualEdgeNetworkGateway")
            .expect("the not-in-model call's operation");
        assert_eq!(newer["service"], "ec2");
        assert_eq!(newer["not_in_model"], 1);
        assert_eq!(newer["unpriced"], 1);
        let mut report = Report::build(&memory, &[run], &Thresholds::default())
            .await
            .unwrap();
        report.database = "db".into();
        let table = render_table(&report);
        assert!(
            table.contains("ec2 CreateVirtualEd… (not in model)"),
            "{table}"
        );
        assert!(
            table.contains("1 attempt to operations not in the AWS model"),
            "{table}"
        );
        assert!(
            table.lines().all(|line| line.chars().count() <= 100),
            "{table}"
        );
        let marked = "ec2 CreateVirtualEdgeNetworkGateway (not in model)";
        assert!(render_markdown(&report).contains(marked));
        let html = render_html(&report);
        assert!(
            html.contains("CreateVirtualEdgeNetworkGateway <span class=\"muted\""),
            "{html}"
        );
        assert!(html.contains("(not in model)"));
        let mut csv = Vec::new();
        write_calls_csv(&memory, &[run], &mut csv).await.unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(
            csv.lines()
                .any(|line| line.contains("CreateVirtualEdgeNetworkGateway")
                    && line.ends_with(",not-in-model,,")),
            "{csv}"
        );
    }

    fn sample_runs() -> Vec<RunRow> {
        vec![RunRow {
            id: 7,
            uuid: "0123456789abcdef0123456789abcdef".into(),
            kind: "run".into(),
            state: "complete".into(),
            started_at_us: 1_790_000_000_000_000,
            ended_at_us: Some(1_790_000_002_500_000),
            exit_code: Some(0),
            command: vec!["tollgate".into(), "run".into()],
            cwd: Some("/src".into()),
            git_repo: None,
            git_branch: Some("main".into()),
            git_commit: None,
            ci_provider: None,
            ci_job: None,
            ci_ref: None,
            ci_pr: None,
            tags: [("suite".to_string(), "unit".to_string())].into(),
            tollgate_version: "0.1.0".into(),
            pricing_version: "abc".into(),
            model_version: "botocore 1.44.8".into(),
            lost_calls: 2,
            lost_reason: Some("database error: disk full".into()),
            calls: 3,
            cost_usd: crate::record::Usd::ZERO,
            billed: 0,
            unpriced: 0,
            estimated: 0,
        }]
    }

    fn sample() -> Report {
        let run = sample_runs().remove(0);
        let mut histogram = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        histogram.record(1500).unwrap();
        let operation = OperationTally {
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            attempts: 3,
            retries: 1,
            errors: 1,
            throttled: 1,
            cost: Decimal::from_str("0.000010").unwrap(),
            transfer: Decimal::from_str("0.0000000001").unwrap(),
            priced: 2,
            not_billed: 1,
            units: [(crate::record::Unit::Request, Decimal::from(2))].into(),
            latency_us: histogram,
            ..OperationTally::default()
        };
        let page_loop = LoopRow {
            run_id: 7,
            loop_id: 1,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("logs".into()),
            started_at_us: 1_790_000_000_100_000,
            ended_at_us: 1_790_000_000_300_000,
            pages: 2,
            attempts: 3,
            items: Some(150),
            items_unknown: None,
            page_size: Some(100),
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting: false,
            cost: Decimal::from_str("0.00001").unwrap(),
            transfer: Decimal::from_str("0.000000002").unwrap(),
            implied: Decimal::ZERO,
            callsite: None,
        };
        let mut report =
            Report::assemble("t.db".into(), vec![run], vec![operation], vec![page_loop]);
        let facts = crate::findings::Facts {
            operations: Vec::new(),
            loops: report_loops_for_findings(),
            ..Default::default()
        };
        report.findings = crate::findings::find(&facts, &Thresholds::default());
        report.timeline = vec![TimelineReport {
            at: rfc3339(1_790_000_000_000_000),
            calls: 3,
            cost_usd: Usd(usd("0.00001")),
        }];
        report.project(Decimal::from(24));
        report
    }

    fn report_loops_for_findings() -> Vec<LoopRow> {
        (0..3)
            .map(|i| LoopRow {
                run_id: 7,
                loop_id: i,
                service: "s3".into(),
                operation: "ListObjectsV2".into(),
                resource: Some("logs".into()),
                started_at_us: 1_790_000_000_000_000,
                ended_at_us: 1_790_000_000_100_000,
                pages: 11,
                attempts: 11,
                items: Some(1050),
                items_unknown: None,
                page_size: Some(100),
                page_size_max: Some(1000),
                complete: true,
                resumed: false,
                relisting: i > 0,
                cost: Decimal::from_str("0.000055").unwrap(),
                transfer: Decimal::ZERO,
                implied: Decimal::ZERO,
                callsite: None,
            })
            .collect()
    }

    #[test]
    fn the_json_report_matches_its_published_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/report-v1.schema.json")).unwrap();
        let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
        let report = serde_json::to_value(sample()).unwrap();
        assert!(
            report["findings"].as_array().is_some_and(|f| !f.is_empty()),
            "{report:#}"
        );
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{report:#}");
        // The schema is strict enough to catch a float where money must be a string.
        let mut broken = report.clone();
        broken["totals"]["total_usd"] = serde_json::json!(0.1);
        assert!(!validator.is_valid(&broken));
    }

    fn listing(loop_id: i64, pages: i64, complete: bool, relisting: bool) -> LoopRow {
        LoopRow {
            run_id: 7,
            loop_id,
            service: "s3".into(),
            operation: if pages > 1 {
                "ListObjectsV2"
            } else {
                "ListBuckets"
            }
            .into(),
            resource: None,
            started_at_us: 1_790_000_000_000_000 + loop_id,
            ended_at_us: 1_790_000_000_100_000 + loop_id,
            pages,
            attempts: pages,
            items: Some(pages * 10),
            items_unknown: None,
            page_size: None,
            page_size_max: Some(1000),
            complete,
            resumed: false,
            relisting,
            cost: Decimal::from_str("0.000005").unwrap() * Decimal::from(pages),
            transfer: Decimal::from_str("0.0000001").unwrap() * Decimal::from(pages),
            implied: Decimal::ZERO,
            callsite: None,
        }
    }

    /// Issue 13 (#6): 52 ListBuckets calls, each one page that said there was no more, were
    /// counted as 52 paginator loops. They are single-page listings: counted as such, and listed
    /// among the loops only when one re-reads a listing.
    #[test]
    fn single_page_listings_are_not_paginator_loops() {
        let mut loops: Vec<LoopRow> = (1..=52).map(|id| listing(id, 1, true, id == 52)).collect();
        loops.push(listing(53, 10, true, false));
        // One page that said more remained, and the client stopped: a loop stopped early.
        loops.push(listing(54, 1, false, false));
        let runs = sample_runs();
        let report = Report::assemble("t.db".into(), runs, Vec::new(), loops);
        let lt = &report.loop_totals;
        assert_eq!(
            (lt.listings, lt.loops, lt.single_pages, lt.pages),
            (54, 2, 52, 63)
        );
        let listed: Vec<i64> = report.loops.iter().map(|l| l.loop_id).collect();
        assert_eq!(listed, vec![52, 53, 54], "paged loops and the re-listing");
        let table = render_table(&report);
        assert!(
            table.contains(
                "loops: 2 paginator loops, 63 pages; 52 single-page listings; 1 re-listing, \
                 1 stopped early"
            ),
            "{table}"
        );
        let markdown = super::markdown::render_markdown(&report);
        assert!(markdown.contains("52 single-page listings"), "{markdown}");
    }

    /// Issue 13 (#10): a loop's cost left out data transfer while its operation's included it.
    /// One definition: a loop costs what its calls cost, as an operation does.
    #[test]
    fn a_loops_cost_is_defined_as_an_operations_cost() {
        let report = Report::assemble(
            "t.db".into(),
            sample_runs(),
            Vec::new(),
            vec![listing(1, 10, true, false)],
        );
        let l = &report.loops[0];
        assert_eq!(l.cost_usd.exact(), "0.00005");
        assert_eq!(l.transfer_usd.exact(), "0.000001");
        assert_eq!(l.total_usd.exact(), "0.000051");
        let table = render_table(&report);
        let row = table
            .lines()
            .find(|line| line.contains("ListObjectsV2"))
            .expect("the loop's row");
        assert!(row.trim_end().ends_with("$0.000051"), "{table}");
        assert!(table.contains(super::format::LOOP_COST_LEGEND), "{table}");
    }

    #[test]
    fn totals_are_exact_and_calls_exclude_retries() {
        let report = sample();
        assert_eq!(report.totals.calls, 2);
        assert_eq!(report.totals.total_usd.exact(), "0.0000100001");
        assert_eq!(report.operations[0].total_usd.exact(), "0.0000100001");
        assert_eq!(report.loop_totals.pages, 2);
        let table = render_table(&report);
        assert!(
            table.contains("2 calls were made but not recorded"),
            "{table}"
        );
        assert!(
            table.lines().all(|line| line.chars().count() <= 100),
            "{table}"
        );
    }
}
