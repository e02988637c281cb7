//! The baseline: what a test suite's recorded runs cost, per run, in a small versioned JSON file
//! meant to be committed beside the code (`schemas/baseline-v1.schema.json`). The same type
//! holds the run being gated, so both sides of a comparison are read the same way.

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::findings::Finding;
use crate::record::{LineKind, LoopRow, RegionGroup, Usd};
use crate::report::Report;

/// The format's version: `tollgate_baseline` in the file. A file of another version is refused
/// with what to do, never half-read.
pub const BASELINE_VERSION: u32 = 1;

/// Runs, calls and money over the runs the baseline was made from; comparisons divide by
/// `runs` to get figures per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The format's version ([`BASELINE_VERSION`]).
    pub tollgate_baseline: u32,
    pub created_at: String,
    pub source: Source,
    pub versions: Versions,
    /// How many runs the figures below add up; every comparison is per run.
    pub runs: u64,
    pub totals: Figures,
    /// Most expensive first.
    pub operations: Vec<OperationFigures>,
    pub regions: Vec<RegionFigures>,
    /// Listings of paginated operations: how many, and their pages.
    pub loops: Vec<LoopFigures>,
    /// The findings present that say what to change (not the `top-*` rankings), by
    /// [`finding_key`].
    pub findings: Vec<FindingFigures>,
    /// Calls and cost per test (`x-tollgate-test`: the pytest test that made them), so that the
    /// gate can say which test grew. Empty when no call named its test, and in baselines saved
    /// before tollgate kept it (those are compared per operation only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestFigures>,
}

/// One call site (`path:line function`) and its calls over the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFigures {
    pub callsite: String,
    pub calls: u64,
}

/// One test's calls and cost over the runs, per operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFigures {
    /// The test id (`tests/test_sync.py::test_copy_all`).
    pub test: String,
    /// Logical calls: attempts that were not retries.
    pub calls: u64,
    /// Everything its calls cost (retries included).
    pub total_usd: Usd,
    /// Most expensive first.
    pub operations: Vec<TestOperationFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestOperationFigures {
    pub service: String,
    pub operation: String,
    pub calls: u64,
    pub total_usd: Usd,
    /// Where the test's calls of this operation were made, most calls first (at most three).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callsites: Vec<SiteFigures>,
}

/// Where the figures came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The runs' ids in the store they came from (for people: ids differ between stores).
    pub run_uuids: Vec<String>,
    pub command: Vec<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versions {
    pub tollgate: String,
    /// The price table's version: a baseline priced with another is re-priced at today's prices.
    pub pricing: String,
    pub model: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figures {
    /// Logical calls: attempts that were not retries.
    pub calls: u64,
    pub attempts: u64,
    pub errors: u64,
    pub retries: u64,
    /// The calls' own charge.
    pub cost_usd: Usd,
    /// Calls, data transfer out and implied costs: what the gate compares.
    pub total_usd: Usd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationFigures {
    pub service: String,
    pub operation: String,
    pub calls: u64,
    pub attempts: u64,
    pub errors: u64,
    pub retries: u64,
    /// Attempts with no price: their cost is unknown, not $0.
    pub unpriced: u64,
    /// Priced quantities by unit (`request`, `gb-out`, ...), as decimal strings.
    pub units: BTreeMap<String, String>,
    pub cost_usd: Usd,
    pub transfer_usd: Usd,
    pub implied_usd: Usd,
    pub total_usd: Usd,
    /// What priced these calls: quantities by table entry and region, so that the baseline can
    /// be priced again exactly at another table's prices. Empty when some call with a cost was
    /// recorded by a tollgate that did not keep them (the units above are used instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priced: Vec<PricedQuantity>,
    /// Where these calls were made (`x-tollgate-callsite`), most calls first (at most three);
    /// empty when no call named its call site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callsites: Vec<SiteFigures>,
}

/// One table entry's quantity in one region, over an operation's calls.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricedQuantity {
    /// `own`, `transfer` or `implied`.
    pub kind: LineKind,
    pub entry: String,
    pub region: String,
    /// An exact decimal string.
    pub quantity: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionFigures {
    pub service: String,
    /// `null` when the calls named none (presigned SigV2, non-regional endpoints).
    pub region: Option<String>,
    pub calls: u64,
    pub cost_usd: Usd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopFigures {
    pub service: String,
    pub operation: String,
    /// Every listing, single pages included.
    pub listings: u64,
    pub pages: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingFigures {
    /// `rule:service:operation`: the same hot spot on a resource named differently in each run
    /// (a bucket with a random suffix) is still the same finding.
    pub key: String,
    pub rule: String,
    /// The finding's full id in the run it came from.
    pub id: String,
    pub title: String,
    pub saving_calls: u64,
    pub saving_usd: Usd,
}

/// A finding's key for comparisons: its rule, service and operation, not its resource.
pub fn finding_key(finding: &Finding) -> String {
    format!(
        "{}:{}:{}",
        finding.rule, finding.evidence.service, finding.evidence.operation
    )
}

/// Why a baseline file could not be used. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(
        "no baseline at {path}: record one with `tollgate baseline save --last -o {path}` on \
         the main branch and commit it"
    )]
    Missing { path: String },
    #[error("cannot read the baseline {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the baseline {path} is not a tollgate baseline ({message}); it may be truncated or \
         hand-edited: save it again with `tollgate baseline save`"
    )]
    Invalid { path: String, message: String },
    #[error(
        "the baseline {path} is format version {found}, this tollgate reads version \
         {BASELINE_VERSION}: save it again with this tollgate (`tollgate baseline save`)"
    )]
    Version { path: String, found: u64 },
}

impl Baseline {
    /// The figures of a report's runs (all of them: the baseline is per run over their count).
    pub fn from_report(report: &Report, loops: &[LoopRow], regions: &[RegionGroup]) -> Self {
        let newest = report.runs.first();
        let source = newest.map_or_else(Source::default, |run| Source {
            run_uuids: report.runs.iter().map(|r| r.uuid.clone()).collect(),
            command: run.command.clone(),
            repo: run.git.repo.clone(),
            branch: run.git.branch.clone(),
            commit: run.git.commit.clone(),
            tags: run.tags.clone(),
        });
        let versions = newest.map_or_else(Versions::default, |run| Versions {
            tollgate: run.tollgate_version.clone(),
            pricing: run.pricing_version.clone(),
            model: run.model_version.clone(),
        });
        let t = &report.totals;
        let totals = Figures {
            calls: t.calls,
            attempts: t.attempts,
            errors: t.errors,
            retries: t.retries,
            cost_usd: t.cost_usd,
            total_usd: t.total_usd,
        };
        let operations = report
            .operations
            .iter()
            .map(|op| OperationFigures {
                service: op.service.clone(),
                operation: op.operation.clone(),
                calls: op.calls,
                attempts: op.attempts,
                errors: op.errors,
                retries: op.retries,
                unpriced: op.unpriced,
                units: op.units.clone(),
                cost_usd: op.cost_usd,
                transfer_usd: op.transfer_usd,
                implied_usd: op.implied_usd,
                total_usd: op.total_usd,
                priced: Vec::new(),
                callsites: Vec::new(),
            })
            .collect();
        let mut by_operation: BTreeMap<(String, String), LoopFigures> = BTreeMap::new();
        for l in loops {
            let figures = by_operation
                .entry((l.service.clone(), l.operation.clone()))
                .or_insert_with(|| LoopFigures {
                    service: l.service.clone(),
                    operation: l.operation.clone(),
                    listings: 0,
                    pages: 0,
                });
            figures.listings += 1;
            figures.pages += l.pages.max(0) as u64;
        }
        let mut findings: Vec<FindingFigures> = Vec::new();
        // The findings that say what to change: the `top-*` ones only rank operations, which
        // change whenever anything does.
        for finding in report
            .findings
            .iter()
            .filter(|f| !f.rule.starts_with("top-"))
        {
            let key = finding_key(finding);
            let (calls, usd) = finding
                .saving
                .as_ref()
                .map_or((0, Usd::ZERO), |s| (s.calls, s.usd));
            match findings.iter_mut().find(|f| f.key == key) {
                // Two resources, one hot spot: their savings add up.
                Some(same) => {
                    same.saving_calls += calls;
                    same.saving_usd += usd;
                }
                None => findings.push(FindingFigures {
                    key,
                    rule: finding.rule.to_string(),
                    id: finding.id.clone(),
                    title: finding.title.clone(),
                    saving_calls: calls,
                    saving_usd: usd,
                }),
            }
        }
        Baseline {
            tollgate_baseline: BASELINE_VERSION,
            created_at: report.generated_at.clone(),
            source,
            versions,
            runs: report.runs.len() as u64,
            totals,
            operations,
            regions: regions
                .iter()
                .map(|r| RegionFigures {
                    service: r.service.clone(),
                    region: r.region.clone(),
                    calls: r.count,
                    cost_usd: Usd(r.cost),
                })
                .collect(),
            loops: by_operation.into_values().collect(),
            findings,
            tests: Vec::new(),
        }
    }

    /// Reads and checks a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(BaselineError::Missing { path: shown });
            }
            Err(source) => {
                return Err(BaselineError::Unreadable {
                    path: shown,
                    source,
                })
            }
        };
        Self::parse(&shown, &text)
    }

    /// Checks the version before the shape, so an old or new file says so rather than
    /// "missing field".
    pub fn parse(path: &str, text: &str) -> Result<Baseline, BaselineError> {
        let invalid = |message: String| BaselineError::Invalid {
            path: path.to_string(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let Some(version) = value.get("tollgate_baseline") else {
            return Err(invalid("it has no \"tollgate_baseline\" version".into()));
        };
        let version = version
            .as_u64()
            .ok_or_else(|| invalid(format!("its version is {version}, not a number")))?;
        if version != u64::from(BASELINE_VERSION) {
            return Err(BaselineError::Version {
                path: path.to_string(),
                found: version,
            });
        }
        let baseline: Baseline =
            serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        if baseline.runs == 0 {
            return Err(invalid("it was made from no runs".into()));
        }
        Ok(baseline)
    }

    /// Pretty JSON with a final newline: a file that diffs well in review.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a baseline serialises");
        text.push('\n');
        text
    }

    /// An amount per run.
    pub fn per_run(&self, amount: Decimal) -> Decimal {
        amount / Decimal::from(self.runs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Baseline {
        Baseline {
            tollgate_baseline: BASELINE_VERSION,
            created_at: "2026-12-07T00:00:00Z".into(),
            source: Source::default(),
            versions: Versions::default(),
            runs: 1,
            totals: Figures::default(),
            operations: Vec::new(),
            regions: Vec::new(),
            loops: Vec::new(),
            findings: Vec::new(),
            tests: Vec::new(),
        }
    }

    #[test]
    fn a_saved_baseline_reads_back_the_same() {
        let baseline = minimal();
        let text = baseline.to_json();
        assert_eq!(Baseline::parse("b.json", &text).unwrap(), baseline);
    }

    #[test]
    fn a_truncated_or_other_version_baseline_is_refused_with_what_to_do() {
        let text = minimal().to_json();
        let truncated = &text[..text.len() / 2];
        let error = Baseline::parse("b.json", truncated)
            .unwrap_err()
            .to_string();
        assert!(error.contains("truncated"), "{error}");
        assert!(error.contains("tollgate baseline save"), "{error}");

        let newer = text.replace("\"tollgate_baseline\": 1", "\"tollgate_baseline\": 2");
        let error = Baseline::parse("b.json", &newer).unwrap_err().to_string();
        assert!(error.contains("version 2"), "{error}");

        let not_ours = r#"{"version": 1, "runs": []}"#;
        let error = Baseline::parse("b.json", not_ours).unwrap_err().to_string();
        assert!(error.contains("not a tollgate baseline"), "{error}");

        // A baseline saved before tollgate kept tests and call sites reads as having none.
        let mut with_op = minimal();
        with_op.operations = vec![crate::gate::tests::op("s3", "HeadObject", 3, "0.0000012")];
        let old = with_op.to_json();
        assert!(
            !old.contains("\"tests\"") && !old.contains("\"callsites\""),
            "{old}"
        );
        assert_eq!(Baseline::parse("b.json", &old).unwrap(), with_op);

        // Money is a decimal string: a float is refused.
        let float = text.replace("\"total_usd\": \"0\"", "\"total_usd\": 0.1");
        assert!(Baseline::parse("b.json", &float).is_err());
    }
}
