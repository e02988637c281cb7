//! The CI cost gate: a baseline of what a suite's runs cost ([`Baseline`]), a comparison of a
//! new run with it ([`compare`]), thresholds from `tollgate.toml` ([`Policy`]), and the verdict
//! for terminals, pull requests, GitHub annotations and tools ([`render`]). Reads runs through
//! the store trait only, so any store serves.

pub mod baseline;
pub mod compare;
pub mod policy;
pub mod render;

use std::collections::BTreeMap;
use std::str::FromStr;

use futures_util::TryStreamExt;
use rust_decimal::Decimal;

pub use baseline::{finding_key, Baseline, BaselineError, BASELINE_VERSION};
pub use compare::{compare, Outcome, PriceChange, Verdict};
pub use policy::Policy;

use crate::findings::Thresholds;
use crate::pricing::reprice::Repricer;
use crate::pricing::table::{PriceTable, BASE_REGION};
use crate::pricing::Pricer;
use crate::record::{exact, is_retry, LineKind, PricedLine, Unit, Usd};
use crate::report::Report;
use crate::store::{RunStore, StoreError};
use baseline::{OperationFigures, PricedQuantity, SiteFigures, TestFigures, TestOperationFigures};

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
    let mut figures = Baseline::from_report(&report, &loops, &regions);
    priced_quantities(store, run_ids, &mut figures).await?;
    tests_and_callsites(store, run_ids, &mut figures).await?;
    Ok(figures)
}

/// The call sites a figure keeps: the most calls first, then by name.
const TOP_CALLSITES: usize = 3;

fn top_sites(sites: BTreeMap<String, u64>) -> Vec<SiteFigures> {
    let mut sites: Vec<SiteFigures> = sites
        .into_iter()
        .map(|(callsite, calls)| SiteFigures { callsite, calls })
        .collect();
    sites.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| a.callsite.cmp(&b.callsite))
    });
    sites.truncate(TOP_CALLSITES);
    sites
}

/// Keeps where `runs`' calls were made (each operation's top call sites) and which test made
/// them (calls and cost per test and operation, with that test's call sites), in one pass over
/// the calls. Calls count first attempts; cost counts every attempt, as the report does.
pub async fn tests_and_callsites(
    store: &dyn RunStore,
    runs: &[i64],
    side: &mut Baseline,
) -> Result<(), StoreError> {
    #[derive(Default)]
    struct Tally {
        calls: u64,
        usd: Decimal,
        sites: BTreeMap<String, u64>,
    }
    let mut sites: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    let mut tests: BTreeMap<String, BTreeMap<(String, String), Tally>> = BTreeMap::new();
    let mut calls = store.calls(runs);
    while let Some(call) = calls.try_next().await? {
        let first = !is_retry(call.attempt);
        if first {
            if let Some(site) = &call.callsite {
                *sites
                    .entry((call.service.clone(), call.operation.clone()))
                    .or_default()
                    .entry(site.clone())
                    .or_default() += 1;
            }
        }
        let Some(test) = &call.test else { continue };
        let tally = tests
            .entry(test.clone())
            .or_default()
            .entry((call.service.clone(), call.operation.clone()))
            .or_default();
        tally.usd += call.cost + call.transfer + call.implied;
        if first {
            tally.calls += 1;
            if let Some(site) = &call.callsite {
                *tally.sites.entry(site.clone()).or_default() += 1;
            }
        }
    }
    drop(calls);
    for op in &mut side.operations {
        if let Some(found) = sites.remove(&(op.service.clone(), op.operation.clone())) {
            op.callsites = top_sites(found);
        }
    }
    side.tests = tests
        .into_iter()
        .map(|(test, operations)| {
            let mut operations: Vec<TestOperationFigures> = operations
                .into_iter()
                .map(|((service, operation), tally)| TestOperationFigures {
                    service,
                    operation,
                    calls: tally.calls,
                    total_usd: Usd(tally.usd),
                    callsites: top_sites(tally.sites),
                })
                .collect();
            operations.sort_by(|a, b| {
                b.total_usd
                    .cmp(&a.total_usd)
                    .then(b.calls.cmp(&a.calls))
                    .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
            });
            TestFigures {
                test,
                calls: operations.iter().map(|op| op.calls).sum(),
                total_usd: Usd(operations.iter().map(|op| op.total_usd.0).sum()),
                operations,
            }
        })
        .collect();
    Ok(())
}

/// Re-prices a side of the comparison (the baseline, or runs recorded with older prices) at
/// `pricer`'s prices, so that a price change is not taken for a change in the code; returns how
/// prices alone moved it, per run. Exact from each operation's priced quantities (entry, region,
/// quantity) when the side has them; else from its units at the us-east-1 price of an entry
/// with no conditions, and an operation whose units cannot all be priced that way (a storage
/// class, a size tier) keeps its recorded cost; the answer says how many did.
pub fn reprice(side: &mut Baseline, pricer: &Pricer) -> Option<PriceChange> {
    let table = pricer.table();
    if side.versions.pricing == table.version {
        return None;
    }
    let mut repricer = Repricer::new(pricer);
    let (mut repriced, mut kept) = (0, 0);
    let (mut recorded, mut today) = (Decimal::ZERO, Decimal::ZERO);
    let recorded_totals: BTreeMap<(String, String), Decimal> = side
        .operations
        .iter()
        .map(|op| ((op.service.clone(), op.operation.clone()), op.total_usd.0))
        .collect();
    for op in &mut side.operations {
        recorded += op.total_usd.0;
        if op.priced.is_empty() && op.total_usd.is_zero() {
            // Free, not billed or unpriced: priced on nothing, so no price changed it.
            continue;
        }
        let amounts = if op.priced.is_empty() {
            from_units(op, table)
        } else {
            from_lines(op, &mut repricer)
        };
        match amounts {
            Some((cost, transfer, implied)) => {
                op.cost_usd = Usd(cost);
                op.transfer_usd = Usd(transfer);
                op.implied_usd = Usd(implied);
                op.total_usd = Usd(cost + transfer + implied);
                repriced += 1;
            }
            None => kept += 1,
        }
        today += op.total_usd.0;
    }
    // A test's share of an operation is re-priced in proportion to the operation's cost: its
    // own priced quantities are not kept.
    let factors: BTreeMap<(&str, &str), Decimal> = side
        .operations
        .iter()
        .filter(|op| !recorded_totals[&(op.service.clone(), op.operation.clone())].is_zero())
        .map(|op| {
            let was = recorded_totals[&(op.service.clone(), op.operation.clone())];
            (
                (op.service.as_str(), op.operation.as_str()),
                op.total_usd.0 / was,
            )
        })
        .collect();
    let mut tests = std::mem::take(&mut side.tests);
    for test in &mut tests {
        for op in &mut test.operations {
            if let Some(factor) = factors.get(&(op.service.as_str(), op.operation.as_str())) {
                op.total_usd = Usd((op.total_usd.0 * factor).round_dp(12));
            }
        }
        test.total_usd = Usd(test.operations.iter().map(|op| op.total_usd.0).sum());
    }
    side.tests = tests;
    let (recorded, today) = (side.per_run(recorded), side.per_run(today));
    side.totals.total_usd = Usd(side.operations.iter().map(|op| op.total_usd.0).sum());
    side.totals.cost_usd = Usd(side.operations.iter().map(|op| op.cost_usd.0).sum());
    Some(PriceChange {
        from_table: side.versions.pricing.clone(),
        to_table: table.version.clone(),
        recorded_usd: Usd(recorded),
        today_usd: Usd(today),
        change_usd: Usd(today - recorded),
        operations_repriced: repriced,
        operations_kept: kept,
        verdict: Verdict::Pass,
    })
}

/// Exact: each entry's quantity at today's price in its region.
fn from_lines(
    op: &OperationFigures,
    repricer: &mut Repricer<'_>,
) -> Option<(Decimal, Decimal, Decimal)> {
    let (mut cost, mut transfer, mut implied) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for quantity in &op.priced {
        let line = PricedLine {
            kind: quantity.kind,
            entry: quantity.entry.as_str().into(),
            quantity: Decimal::from_str(&quantity.quantity).ok()?,
        };
        let amounts = repricer.price(Some(&quantity.region), std::slice::from_ref(&line))?;
        cost += amounts.own;
        transfer += amounts.transfer;
        implied += amounts.implied;
    }
    Some((cost, transfer, implied))
}

/// From units, for baselines that did not keep their priced quantities: only the call's own
/// charge, at the us-east-1 price of an entry with no conditions; transfer and implied costs
/// are kept as recorded.
fn from_units(op: &OperationFigures, table: &PriceTable) -> Option<(Decimal, Decimal, Decimal)> {
    if op.unpriced > 0 {
        return None;
    }
    let entries = table.prices_for(&op.service, &op.operation, &|_| None);
    let mut cost = Decimal::ZERO;
    for (unit, quantity) in &op.units {
        let (Ok(unit), Ok(quantity)) = (Unit::from_str(unit), Decimal::from_str(quantity)) else {
            return None;
        };
        // Data transfer is its own column (transfer_usd), kept as recorded.
        if unit == Unit::GbOut {
            continue;
        }
        let entry = entries
            .iter()
            .find(|entry| entry.unit == unit && entry.when.is_empty())?;
        cost += quantity * entry.usd;
    }
    Some((cost, op.transfer_usd.0, op.implied_usd.0))
}

/// What a note says of a re-priced side.
pub fn describe_reprice(what: &str, change: &PriceChange) -> String {
    format!(
        "{what} was priced with price table {} and is compared at today's ({}): {} \
         operation(s) re-priced, {} kept their recorded cost",
        change.from_table, change.to_table, change.operations_repriced, change.operations_kept
    )
}

/// Keeps what makes the priced quantities of `runs`' calls: per operation, the quantity of each
/// table entry in each region. An operation with a costed call that kept none gets none (its
/// units stand in).
pub async fn priced_quantities(
    store: &dyn RunStore,
    runs: &[i64],
    side: &mut Baseline,
) -> Result<(), StoreError> {
    type Key = (LineKind, String, String);
    let mut by_operation: BTreeMap<(String, String), Option<BTreeMap<Key, Decimal>>> =
        BTreeMap::new();
    let mut calls = store.calls(runs);
    while let Some(call) = calls.try_next().await? {
        let slot = by_operation
            .entry((call.service.clone(), call.operation.clone()))
            .or_insert_with(|| Some(BTreeMap::new()));
        let Some(quantities) = slot else { continue };
        let costed = !(call.cost + call.transfer + call.implied).is_zero();
        if call.priced.is_empty() && costed {
            *slot = None;
            continue;
        }
        let region = call
            .region
            .clone()
            .unwrap_or_else(|| BASE_REGION.to_string());
        for line in &call.priced {
            *quantities
                .entry((line.kind, line.entry.to_string(), region.clone()))
                .or_default() += line.quantity;
        }
    }
    drop(calls);
    for op in &mut side.operations {
        if let Some(Some(quantities)) =
            by_operation.remove(&(op.service.clone(), op.operation.clone()))
        {
            op.priced = quantities
                .into_iter()
                .map(|((kind, entry, region), quantity)| PricedQuantity {
                    kind,
                    entry,
                    region,
                    quantity: exact(quantity),
                })
                .collect();
        }
    }
    Ok(())
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
            priced: Vec::new(),
            callsites: Vec::new(),
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
            tests: Vec::new(),
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
    use crate::pricing::testing::pricer_with as pricer;

    /// A price cut between the baseline and today is not taken for a change in the code: AWS
    /// halved DynamoDB's on-demand prices in November 2024 ($0.25 to $0.125 per million reads).
    #[test]
    fn a_baseline_from_another_price_table_is_repriced_from_its_units() {
        let pricer = pricer("");
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
        // One test made 400 of the reads: its share is re-priced with them.
        old.tests = vec![TestFigures {
            test: "t.py::test_reads".into(),
            calls: 400,
            total_usd: usd("0.0001"),
            operations: vec![TestOperationFigures {
                service: "dynamodb".into(),
                operation: "GetItem".into(),
                calls: 400,
                total_usd: usd("0.0001"),
                callsites: Vec::new(),
            }],
        }];
        let change = reprice(&mut old, &pricer).expect("re-priced");
        assert_eq!(
            old.operations[0].cost_usd,
            usd("0.000125"),
            "1,000 reads today"
        );
        assert_eq!(old.tests[0].operations[0].total_usd, usd("0.00005"));
        assert_eq!(old.tests[0].total_usd, usd("0.00005"));
        old.tests.clear();
        assert_eq!(old.operations[0].total_usd, usd("0.000125"));
        // S3's request prices depend on the storage class, which the units do not keep.
        assert_eq!(old.operations[1].cost_usd, usd("0.0002"));
        assert_eq!((change.operations_repriced, change.operations_kept), (1, 1));
        assert_eq!(change.recorded_usd, usd("0.00045"));
        assert_eq!(change.today_usd, usd("0.000325"));
        assert_eq!(change.change_usd, usd("-0.000125"));
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
        old.versions.pricing = pricer.table().version.clone();
        assert!(reprice(&mut old, &pricer).is_none());
    }

    /// With the priced quantities kept, every line is re-priced exactly in its own region:
    /// S3's HEADs (a storage-class entry) included, which the units alone could not price.
    #[test]
    fn priced_quantities_reprice_exactly_per_region() {
        let pricer = pricer(crate::pricing::testing::WIDGET);
        let mut old = baseline(2, vec![op("test-service", "MakeWidget", 300, "0.0009")]);
        old.versions.pricing = "an older table".into();
        let quantity = |region: &str, n: &str| PricedQuantity {
            kind: LineKind::Own,
            entry: "test/widget/request".into(),
            region: region.into(),
            quantity: n.into(),
        };
        old.operations[0].priced = vec![quantity("eu-west-1", "100"), quantity("us-east-1", "200")];
        let change = reprice(&mut old, &pricer).expect("re-priced");
        // 100 × $0.000005 + 200 × $0.000004 = $0.0013 over two runs.
        assert_eq!(old.operations[0].total_usd, usd("0.0013"));
        assert_eq!(change.recorded_usd, usd("0.00045"));
        assert_eq!(change.today_usd, usd("0.00065"));
        assert_eq!((change.operations_repriced, change.operations_kept), (1, 0));

        // Reported, not judged, unless the policy says so.
        let mut reported = change.clone();
        reported.judge(&Policy::default());
        assert_eq!(reported.verdict, Verdict::Pass);
        let mut judged = change;
        judged.judge(&Policy {
            fail_on_price_change: true,
            min_usd_per_month: Decimal::ZERO,
            ..Policy::default()
        });
        assert_eq!(judged.verdict, Verdict::Fail, "+44 % in price");

        // An entry today's table lacks: the operation keeps its recorded cost.
        let mut gone = baseline(1, vec![op("test-service", "MakeWidget", 1, "0.1")]);
        gone.versions.pricing = "an older table".into();
        gone.operations[0].priced = vec![PricedQuantity {
            entry: "gone/entry".into(),
            ..quantity("us-east-1", "1")
        }];
        let change = reprice(&mut gone, &pricer).unwrap();
        assert_eq!(gone.operations[0].total_usd, usd("0.1"));
        assert_eq!(change.operations_kept, 1);
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
