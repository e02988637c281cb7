//! The CI cost gate: a baseline of what a suite's runs cost ([`Baseline`]), a comparison of a
//! new run with it ([`compare`]), thresholds from `tollgate.toml` ([`Policy`]), and the verdict
//! for terminals, pull requests, GitHub annotations and tools ([`render`]). Reads runs through
//! the store trait only, so any store serves.

pub mod baseline;
pub mod compare;
pub mod policy;
pub mod render;

use std::str::FromStr;

use rust_decimal::Decimal;

pub use baseline::{finding_key, Baseline, BaselineError, BASELINE_VERSION};
pub use compare::{compare, Outcome, Verdict};
pub use policy::Policy;

use crate::findings::Thresholds;
use crate::pricing::table::PriceTable;
use crate::record::{Unit, Usd};
use crate::report::Report;
use crate::store::{RunStore, StoreError};

/// The version of the gate's JSON output (`schemas/gate-v1.schema.json`).
pub const GATE_JSON_VERSION: u32 = 1;

/// The figures of the given runs, as a baseline (also the shape of the run being gated).
pub async fn snapshot(
    store: &dyn RunStore,
    run_ids: &[i64],
    thresholds: &Thresholds,
) -> Result<Baseline, StoreError> {
    let report = Report::build(store, run_ids, thresholds).await?;
    let loops = store.loops(run_ids).await?;
    let regions = store.regions(run_ids).await?;
    Ok(Baseline::from_report(&report, &loops, &regions))
}

/// Re-prices a baseline made with another price table at `table`'s prices, from the units it
/// recorded, so that a price change is not taken for a change in the code. An operation whose
/// units cannot all be priced without the calls' own details (a storage class, a size tier)
/// keeps its recorded cost; the answer says how many did.
pub fn reprice(baseline: &mut Baseline, table: &PriceTable) -> Option<String> {
    if baseline.versions.pricing == table.version {
        return None;
    }
    let (mut repriced, mut kept) = (0, 0);
    for op in &mut baseline.operations {
        let mut cost = Decimal::ZERO;
        let mut all_priced = true;
        let entries = table.prices_for(&op.service, &op.operation, &|_| None);
        for (unit, quantity) in &op.units {
            let (Ok(unit), Ok(quantity)) = (Unit::from_str(unit), Decimal::from_str(quantity))
            else {
                all_priced = false;
                continue;
            };
            // Data transfer is its own column (transfer_usd), kept as recorded.
            if unit == Unit::GbOut {
                continue;
            }
            match entries
                .iter()
                .find(|entry| entry.unit == unit && entry.when.is_empty())
            {
                Some(entry) => cost += quantity * entry.usd,
                None => all_priced = false,
            }
        }
        if all_priced && op.unpriced == 0 {
            if op.cost_usd.0 != cost {
                op.total_usd = Usd(op.total_usd.0 - op.cost_usd.0 + cost);
                op.cost_usd = Usd(cost);
            }
            repriced += 1;
        } else {
            kept += 1;
        }
    }
    Some(format!(
        "the baseline was priced with price table {} and is compared at today's ({}): {} \
         operation(s) re-priced from their units, {} kept their recorded cost",
        short(&baseline.versions.pricing),
        short(&table.version),
        repriced,
        kept
    ))
}

fn short(version: &str) -> String {
    version.chars().take(12).collect()
}

/// Compares the run with the baseline and writes the headline.
pub fn evaluate(before: &Baseline, after: &Baseline, policy: &Policy) -> Outcome {
    let mut outcome = compare(before, after, policy);
    outcome.headline = render::headline(&outcome);
    outcome
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::baseline::{Figures, OperationFigures, Source, Versions};
    use super::*;

    pub(crate) fn usd(text: &str) -> Usd {
        Usd(text.parse().unwrap())
    }

    pub(crate) fn op(service: &str, operation: &str, calls: u64, total: &str) -> OperationFigures {
        OperationFigures {
            service: service.into(),
            operation: operation.into(),
            calls,
            attempts: calls,
            errors: 0,
            retries: 0,
            unpriced: 0,
            units: BTreeMap::new(),
            cost_usd: usd(total),
            transfer_usd: Usd::ZERO,
            implied_usd: Usd::ZERO,
            total_usd: usd(total),
        }
    }

    pub(crate) fn baseline(runs: u64, operations: Vec<OperationFigures>) -> Baseline {
        Baseline {
            tollgate_baseline: BASELINE_VERSION,
            created_at: String::new(),
            source: Source::default(),
            versions: Versions::default(),
            runs,
            totals: Figures::default(),
            operations,
            regions: Vec::new(),
            loops: Vec::new(),
            findings: Vec::new(),
        }
    }

    pub(crate) fn suite(heads: u64, gets: u64) -> Vec<OperationFigures> {
        let mut ops = vec![
            op("s3", "PutObject", 250, "0.00125"),
            op("s3", "ListObjectsV2", 10, "0.00005"),
            op("dynamodb", "GetItem", gets, "0"),
        ];
        if heads > 0 {
            let cost = Decimal::from(heads) * Decimal::new(4, 7);
            ops.push(op("s3", "HeadObject", heads, &cost.to_string()));
        }
        ops
    }

    /// A price cut between the baseline and today is not taken for a change in the code: AWS
    /// halved DynamoDB's on-demand prices in November 2024 ($0.25 to $0.125 per million reads).
    #[test]
    fn a_baseline_from_another_price_table_is_repriced_from_its_units() {
        let table = PriceTable::built_in().unwrap();
        let mut old = baseline(
            1,
            vec![
                op("dynamodb", "GetItem", 1000, "0.00025"),
                op("s3", "HeadObject", 500, "0.0002"),
            ],
        );
        old.operations[0]
            .units
            .insert("read-request-unit".into(), "1000".into());
        old.operations[1]
            .units
            .insert("request".into(), "500".into());
        old.versions.pricing = "an older table".into();
        let said = reprice(&mut old, &table).expect("re-priced");
        assert_eq!(
            old.operations[0].cost_usd,
            usd("0.000125"),
            "1,000 reads today"
        );
        assert_eq!(old.operations[0].total_usd, usd("0.000125"));
        // S3's request prices depend on the storage class, which the units do not keep.
        assert_eq!(old.operations[1].cost_usd, usd("0.0002"));
        assert!(
            said.contains("1 operation(s) re-priced from their units, 1 kept"),
            "{said}"
        );
        let now = baseline(
            1,
            vec![
                op("dynamodb", "GetItem", 1000, "0.000125"),
                op("s3", "HeadObject", 500, "0.0002"),
            ],
        );
        assert_eq!(
            evaluate(&old, &now, &Policy::default()).verdict,
            Verdict::Pass
        );
        assert!(evaluate(&old, &now, &Policy::default())
            .operations
            .is_empty());

        // The same table: nothing to do.
        old.versions.pricing = table.version.clone();
        assert!(reprice(&mut old, &table).is_none());
    }

    #[test]
    fn the_headline_leads_with_the_verdict_and_the_biggest_regression() {
        let policy = Policy::default();
        let before = baseline(1, suite(0, 40));
        let outcome = evaluate(&before, &baseline(1, suite(250, 40)), &policy);
        assert!(outcome.headline.starts_with("FAIL"), "{}", outcome.headline);
        assert!(
            outcome.headline.contains(
                "s3 HeadObject: 0 → 250 calls a run, $0.00 → $0.0001 a run (+$0.072 a month at \
                 24 runs a day)"
            ),
            "{}",
            outcome.headline
        );
        let outcome = evaluate(&baseline(1, suite(250, 40)), &before, &policy);
        assert!(outcome.headline.starts_with("PASS"), "{}", outcome.headline);
        assert!(outcome.headline.contains("cheaper"), "{}", outcome.headline);
    }
}
