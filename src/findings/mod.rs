//! Hot spots: what to change, with the evidence and the saving. Each rule is a small function in
//! [`rules`] over [`Facts`] (aggregates read from the store once), with its thresholds in
//! [`Thresholds`] (`[findings]` in `tollgate.toml`) and a stable id users can silence.
//!
//! Findings that are about the same calls share them through a claim ledger ([`claims`]: how,
//! and in which order): no call is claimed twice, so the savings add up.

pub mod claims;
pub mod kept;
pub mod rules;

use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::record::{
    FailureGroup, ImpliedGroup, LoopRow, OperationTally, RegionGroup, RepeatGroup, ResourceGroup,
    Usd,
};
use crate::store::{RunStore, StoreError};

/// One finding: what, where, how often, and what changing it would save.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule (`small-pages`, `fan-out`, ...).
    pub rule: &'static str,
    /// Stable across runs: `rule:service:operation[:resource]`. `--ignore-finding` takes it (or
    /// the rule name).
    pub id: String,
    pub title: String,
    pub detail: String,
    pub evidence: Evidence,
    /// What the change would save over the runs reported; `None` when it saves no money or
    /// cannot be estimated (the detail says which).
    pub saving: Option<Saving>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub calls: u64,
    /// The money these calls cost.
    pub cost_usd: Usd,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    /// A few example call times (RFC 3339).
    pub examples: Vec<String>,
    /// The lines of the client's program that made the most of these calls (at most three),
    /// when the calls named theirs (`x-tollgate-callsite`); filled in by the report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub callsites: Vec<CallsiteCount>,
}

/// One call site behind a finding or a loop, and how many of its calls it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallsiteCount {
    pub callsite: String,
    pub calls: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Saving {
    pub calls: u64,
    pub usd: Usd,
    /// Bytes that would not be downloaded (overlapping-ranges), with their transfer in `usd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl Saving {
    pub fn new(calls: u64, amount: Decimal) -> Self {
        Self {
            calls,
            usd: Usd(amount),
            bytes: None,
        }
    }
}

/// Thresholds, from `[findings]` in `tollgate.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Finding ids or rule names not to report.
    pub ignore: Vec<String>,
    /// How many top operations (by cost and by count) to name.
    pub top: usize,
    /// A loop pages small when its page size is at most this fraction of the maximum.
    pub small_page_ratio: f64,
    /// Per-item calls on one resource from this many on are fan-out.
    pub fan_out_min: u64,
    /// Identical calls from this many on are a cache candidate.
    pub repeated_min: u64,
    /// The same call this many times at a regular interval is polling.
    pub polling_min: u64,
    /// Regular: the gaps' spread (standard deviation / mean) at most this.
    pub polling_regularity: f64,
    /// Polling waits between calls: a mean gap below this (ms) is a tight loop, not polling.
    pub polling_min_interval_ms: f64,
    /// The Region the client runs in, for cross-Region calls (else the overlay's
    /// `inside_aws_region`).
    pub home_region: Option<String>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            ignore: Vec::new(),
            top: 3,
            small_page_ratio: 0.5,
            fan_out_min: 20,
            repeated_min: 5,
            polling_min: 5,
            polling_regularity: 0.35,
            polling_min_interval_ms: 100.0,
            home_region: None,
        }
    }
}

impl Thresholds {
    /// `[findings]` of a parsed `tollgate.toml`, on top of the defaults.
    pub fn from_table(table: Option<&toml::Table>) -> Result<Self, String> {
        match table {
            Some(table) => toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| format!("[findings]: {e}")),
            None => Ok(Self::default()),
        }
    }

    /// From the overlay file, if there is one.
    pub fn load(overlay: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = overlay else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)?;
        let config = crate::pricing::overlay::parse(path, &text)?;
        let mut thresholds = Self::from_table(config.findings.as_ref())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if thresholds.home_region.is_none() {
            thresholds.home_region = config.account.inside_aws_region;
        }
        Ok(thresholds)
    }

    fn ignored(&self, finding: &Finding) -> bool {
        self.ignores(finding.rule, &finding.id)
    }

    /// Whether the finding `id` of `rule` is silenced (it then claims no calls).
    pub fn ignores(&self, rule: &str, id: &str) -> bool {
        self.ignore
            .iter()
            .any(|ignored| ignored == rule || ignored == id)
    }
}

/// Everything the rules look at, read from the store once.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub operations: Vec<OperationTally>,
    pub loops: Vec<LoopRow>,
    pub repeated: Vec<RepeatGroup>,
    pub per_item: Vec<ResourceGroup>,
    /// First attempts by resource of the operations other findings are about (repeats,
    /// listings): the sizes the claim ledger caps their savings with.
    pub by_resource: Vec<ResourceGroup>,
    pub failures: Vec<FailureGroup>,
    pub regions: Vec<RegionGroup>,
    pub implied: Vec<ImpliedGroup>,
    /// The S3 calls that write objects or take part in a multipart upload, in the order they
    /// started (read from the runs' calls only when a rule needs them: a re-listing to check
    /// for writes before it, or a multipart upload).
    pub object_writes: Vec<ObjectWrite>,
    /// The S3 listing requests made more than once (same parameters), with the times of their
    /// first three: a re-listing among them knows when the same listing was read before (read
    /// only when there is an S3 re-listing).
    pub listing_reads: Vec<RepeatGroup>,
}

pub use crate::record::ObjectWrite;

impl Facts {
    pub async fn gather(
        store: &dyn RunStore,
        runs: &[i64],
        thresholds: &Thresholds,
    ) -> Result<Facts, StoreError> {
        let per_item: Vec<(&str, &str)> = rules::BATCHABLE
            .iter()
            .map(|b| (b.service, b.operation))
            .chain(rules::PER_KEY_AFTER_LISTING.iter().copied())
            .chain([rules::S3_GET])
            .chain(
                crate::aws::receives::RECEIVES
                    .iter()
                    .map(|r| (r.service, r.operation)),
            )
            .collect();
        let loops = store.loops(runs).await?;
        let repeated = store
            .repeated_calls(runs, thresholds.repeated_min.min(thresholds.polling_min))
            .await?;
        let mut others: Vec<(&str, &str)> = repeated
            .iter()
            .map(|g| (g.service.as_str(), g.operation.as_str()))
            .chain(
                loops
                    .iter()
                    .map(|l| (l.service.as_str(), l.operation.as_str())),
            )
            .filter(|op| !per_item.contains(op))
            .collect();
        others.sort_unstable();
        others.dedup();
        let by_resource = store.calls_by_resource(runs, &others).await?;
        let operations = store.operations(runs).await?;
        let object_writes = if needs_object_writes(store, runs, &operations, &loops).await? {
            object_writes(store, runs).await?
        } else {
            Vec::new()
        };
        let listing_reads = if rules::has_s3_relisting(&loops) {
            let mut reads = store.repeated_calls(runs, 2).await?;
            reads.retain(|g| {
                g.service == "s3" && rules::S3_LISTINGS.contains(&g.operation.as_str())
            });
            reads
        } else {
            Vec::new()
        };
        Ok(Facts {
            operations,
            per_item: store.calls_by_resource(runs, &per_item).await?,
            by_resource,
            loops,
            repeated,
            failures: store.failures(runs).await?,
            regions: store.regions(runs).await?,
            implied: store.implied(runs).await?,
            object_writes,
            listing_reads,
        })
    }
}

/// Whether a rule needs the runs' object writes, which takes a pass over all their calls: a
/// completed multipart upload, or an S3 re-listing of a bucket that was written to (by the
/// totals by resource; a write of no known bucket may be to any).
async fn needs_object_writes(
    store: &dyn RunStore,
    runs: &[i64],
    operations: &[OperationTally],
    loops: &[LoopRow],
) -> Result<bool, StoreError> {
    if operations
        .iter()
        .any(|o| o.service == "s3" && o.operation == "CompleteMultipartUpload")
    {
        return Ok(true);
    }
    if !rules::has_s3_relisting(loops) {
        return Ok(false);
    }
    let writes: Vec<(&str, &str)> = rules::S3_WRITES.iter().map(|w| ("s3", *w)).collect();
    let written = store.calls_by_resource(runs, &writes).await?;
    Ok(loops.iter().filter(|l| l.relisting).any(|l| {
        written
            .iter()
            .any(|w| w.resource.is_none() || w.resource == l.resource)
    }))
}

/// The runs' S3 object writes and multipart calls: only those are read from the store.
async fn object_writes(store: &dyn RunStore, runs: &[i64]) -> Result<Vec<ObjectWrite>, StoreError> {
    let mut writes = store.s3_object_writes(runs).await?;
    // Oldest run first and each run's calls in the order they started, as the store gives
    // them; sorted again so that the rules need not rely on it.
    writes.sort_by_key(|w| (w.run_id, w.at_us));
    Ok(writes)
}

/// Every rule's findings, most money saved first, without the silenced ones. Rules run in
/// their order of precedence and claim their calls in the [`claims::Ledger`]: a later finding
/// saves only the calls an earlier one did not claim.
pub fn find(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    let mut ledger = claims::Ledger::new(facts);
    let mut findings: Vec<Finding> = rules::ALL
        .iter()
        .flat_map(|rule| rule(facts, thresholds))
        .filter(|finding| !thresholds.ignored(finding))
        .filter_map(|finding| ledger.claim(finding))
        .collect();
    rank(&mut findings);
    findings
}

/// Most money saved first; at equal money (often none: DynamoDB and deletes bill per item),
/// most calls saved; then the most calls seen, the rule's place, and the id, for a stable order.
pub fn rank(findings: &mut [Finding]) {
    let money = |f: &Finding| f.saving.as_ref().map_or(Usd::ZERO, |s| s.usd);
    let calls = |f: &Finding| f.saving.as_ref().map_or(0, |s| s.calls);
    findings.sort_by(|a, b| {
        money(b)
            .cmp(&money(a))
            .then(calls(b).cmp(&calls(a)))
            .then(b.evidence.calls.cmp(&a.evidence.calls))
            .then_with(|| rules::rank(a.rule).cmp(&rules::rank(b.rule)))
            .then_with(|| a.id.cmp(&b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &'static str, saved_usd: &str, saved_calls: u64, calls: u64) -> Finding {
        Finding {
            rule,
            id: format!("{rule}:{saved_usd}:{saved_calls}"),
            title: String::new(),
            detail: String::new(),
            evidence: Evidence {
                calls,
                ..Evidence::default()
            },
            saving: Some(Saving::new(saved_calls, saved_usd.parse().unwrap())),
        }
    }

    /// Issue 13: a smaller saving was listed above a larger one (ties went to the rule's place
    /// before the calls saved).
    #[test]
    fn findings_rank_by_saving_then_by_calls_saved() {
        let mut findings = vec![
            finding("small-pages", "0", 3, 4),
            finding("fan-out", "0", 30, 31),
            finding("repeated-calls", "0.0000004", 1, 2),
            finding("retries", "0.00002", 2, 2),
            finding("fan-out", "0", 299, 300),
            Finding {
                saving: None,
                ..finding("unpriced", "0", 0, 1_000)
            },
        ];
        rank(&mut findings);
        let order: Vec<(&str, u64)> = findings
            .iter()
            .map(|f| (f.rule, f.saving.as_ref().map_or(0, |s| s.calls)))
            .collect();
        assert_eq!(
            order,
            vec![
                ("retries", 2),
                ("repeated-calls", 1),
                ("fan-out", 299),
                ("fan-out", 30),
                ("small-pages", 3),
                ("unpriced", 0),
            ]
        );
    }

    #[test]
    fn silenced_findings_are_not_reported() {
        let facts = Facts {
            operations: vec![OperationTally {
                service: "sns".into(),
                operation: "ListTopics".into(),
                attempts: 3,
                unpriced: 3,
                ..OperationTally::default()
            }],
            ..Facts::default()
        };
        let mut thresholds = Thresholds::default();
        assert!(find(&facts, &thresholds)
            .iter()
            .any(|f| f.id == "unpriced:sns"));
        thresholds.ignore = vec!["unpriced:sns".into(), "top-calls".into()];
        let left = find(&facts, &thresholds);
        assert!(
            left.iter()
                .all(|f| f.rule != "unpriced" && f.rule != "top-calls"),
            "{left:#?}"
        );
    }

    /// The runs' calls are read for object writes only when a rule needs them: a completed
    /// multipart upload, or a re-listing of a bucket something was written to.
    #[test]
    fn object_writes_are_read_only_when_a_rule_needs_them() {
        use crate::record::{Call, Loop, RunMeta};
        use crate::store::{Batch, MemoryStore};
        use std::time::{Duration, SystemTime};

        let listing = |id: u64, at_s: u64, relisting: bool| Loop {
            id,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("lake".into()),
            access_key: None,
            listing: "l".into(),
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(at_s),
            ended_at: SystemTime::UNIX_EPOCH + Duration::from_secs(at_s),
            pages: 1,
            attempts: 1,
            items: Some(3),
            items_unknown: None,
            page_size: None,
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting,
            cost: Decimal::new(5, 6),
            transfer: Decimal::ZERO,
            implied: Decimal::ZERO,
            callsite: None,
        };
        let call = |operation: &str, bucket: &str, at_s: i64| {
            let mut call = Call::sample("s3", operation).at_us(at_s * 1_000_000);
            call.resource = Some(bucket.into());
            call
        };
        let gather = |calls: Vec<Call>| {
            let loops = vec![listing(0, 1, false), listing(1, 3, true)];
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let store = MemoryStore::default();
                let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
                let processes = vec![None; calls.len()];
                store
                    .write_batch(
                        run,
                        Batch {
                            calls: &calls,
                            processes: &processes,
                            loops: &loops,
                        },
                    )
                    .await
                    .unwrap();
                Facts::gather(&store, &[run], &Thresholds::default())
                    .await
                    .unwrap()
            })
        };
        let listings = || {
            vec![
                call("ListObjectsV2", "lake", 1),
                call("ListObjectsV2", "lake", 3),
            ]
        };
        // Written to another bucket only: the re-listing needs no pass over the calls.
        let mut calls = listings();
        calls.push(call("PutObject", "other", 2));
        let facts = gather(calls);
        assert!(facts.object_writes.is_empty(), "{:?}", facts.object_writes);
        assert_eq!(
            find(&facts, &Thresholds::default())
                .iter()
                .filter(|f| f.rule == "relisting")
                .count(),
            1
        );
        // Written to the re-listed bucket: read, and the re-listing is not claimed.
        let mut calls = listings();
        calls.push(call("PutObject", "lake", 2));
        let facts = gather(calls);
        assert_eq!(facts.object_writes.len(), 1);
        assert!(find(&facts, &Thresholds::default())
            .iter()
            .all(|f| f.rule != "relisting"));
    }

    #[test]
    fn thresholds_come_from_the_findings_table() {
        let table: toml::Table =
            toml::from_str("ignore = [\"polling\"]\nrepeated_min = 3").unwrap();
        let thresholds = Thresholds::from_table(Some(&table)).unwrap();
        assert_eq!(thresholds.repeated_min, 3);
        assert_eq!(thresholds.fan_out_min, Thresholds::default().fan_out_min);
        let bad: toml::Table = toml::from_str("repeat_min = 3").unwrap();
        assert!(Thresholds::from_table(Some(&bad))
            .unwrap_err()
            .contains("repeat_min"));
    }
}
