//! `report --reprice`: the selected runs at today's prices beside what they cost when recorded.
//! Every call keeps the table entries and quantities it was priced on, so re-pricing needs no
//! request: the quantities stay, the prices per unit are today's (imported regional prices and
//! the overlay's discount included).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::pricing::reprice::Repricer;
use crate::pricing::Pricer;
use crate::record::Usd;
use crate::store::{RunStore, StoreError};

/// The runs at today's prices.
#[derive(Debug, Clone, Serialize)]
pub struct Repricing {
    /// The price tables the runs were recorded with (each distinct one).
    pub recorded_with: Vec<String>,
    /// Today's price table.
    pub today_table: String,
    pub recorded_usd: Usd,
    pub today_usd: Usd,
    /// Today's minus recorded: what prices alone changed.
    pub change_usd: Usd,
    pub calls_repriced: u64,
    /// Calls that kept their recorded cost: recorded by a tollgate that did not keep what priced
    /// them, or priced by an entry today's table no longer has.
    pub calls_kept: u64,
    /// Calls whose region has no price of its own today (us-east-1's stands in).
    pub calls_estimated: u64,
    /// The operations whose cost changed, the biggest change first.
    pub operations: Vec<RepricedOperation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepricedOperation {
    pub service: String,
    pub operation: String,
    pub calls: u64,
    pub recorded_usd: Usd,
    pub today_usd: Usd,
    pub change_usd: Usd,
}

#[derive(Default)]
struct Sums {
    calls: u64,
    recorded: Decimal,
    today: Decimal,
}

/// Streams the runs' calls and prices each again with `pricer`.
pub async fn reprice(
    store: &dyn RunStore,
    runs: &[i64],
    recorded_with: Vec<String>,
    pricer: &Pricer,
) -> Result<Repricing, StoreError> {
    let mut repricer = Repricer::new(pricer);
    let mut by_operation: BTreeMap<(String, String), Sums> = BTreeMap::new();
    let (mut repriced, mut kept, mut estimated) = (0, 0, 0);
    let mut calls = store.calls(runs);
    while let Some(call) = calls.try_next().await? {
        let recorded = call.cost + call.transfer + call.implied;
        let today = if call.priced.is_empty() {
            // Priced on nothing (free, not billed, unpriced): nothing for a price to change.
            if !recorded.is_zero() {
                kept += 1;
            }
            recorded
        } else {
            match repricer.price(call.region.as_deref(), &call.priced) {
                Some(amounts) => {
                    repriced += 1;
                    estimated += u64::from(amounts.borrowed);
                    amounts.total()
                }
                None => {
                    kept += 1;
                    recorded
                }
            }
        };
        let sums = by_operation
            .entry((call.service, call.operation))
            .or_default();
        sums.calls += 1;
        sums.recorded += recorded;
        sums.today += today;
    }
    drop(calls);
    let (recorded, today) = by_operation
        .values()
        .fold((Decimal::ZERO, Decimal::ZERO), |(r, t), s| {
            (r + s.recorded, t + s.today)
        });
    let mut operations: Vec<RepricedOperation> = by_operation
        .into_iter()
        .filter(|(_, s)| s.recorded != s.today)
        .map(|((service, operation), s)| RepricedOperation {
            service,
            operation,
            calls: s.calls,
            recorded_usd: Usd(s.recorded),
            today_usd: Usd(s.today),
            change_usd: Usd(s.today - s.recorded),
        })
        .collect();
    operations.sort_by(|a, b| {
        b.change_usd
            .0
            .abs()
            .cmp(&a.change_usd.0.abs())
            .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
    });
    let mut recorded_with = recorded_with;
    recorded_with.sort();
    recorded_with.dedup();
    Ok(Repricing {
        recorded_with,
        today_table: repricer.version().to_string(),
        recorded_usd: Usd(recorded),
        today_usd: Usd(today),
        change_usd: Usd(today - recorded),
        calls_repriced: repriced,
        calls_kept: kept,
        calls_estimated: estimated,
        operations,
    })
}

impl Repricing {
    /// For a terminal or markdown: the headline and up to `limit` operations.
    pub fn lines(&self, limit: usize) -> Vec<String> {
        let mut lines = vec![format!(
            "at today's prices ({}): {} (recorded {} with {}; {} from prices)",
            self.today_table,
            self.today_usd,
            self.recorded_usd,
            self.recorded_with.join(", "),
            self.change_usd.signed(),
        )];
        let mut counts = format!("{} calls re-priced", self.calls_repriced);
        if self.calls_kept > 0 {
            counts += &format!(
                ", {} kept their recorded cost (recorded before tollgate kept what priced a \
                 call, or priced by an entry today's table lacks)",
                self.calls_kept
            );
        }
        if self.calls_estimated > 0 {
            counts += &format!(
                ", ~ {} at us-east-1 rates for want of their region's (`tollgate pricing \
                 update`)",
                self.calls_estimated
            );
        }
        lines.push(counts);
        for op in self.operations.iter().take(limit) {
            lines.push(format!(
                "{} {}: {} {}, {} → {} ({})",
                op.service,
                op.operation,
                op.calls,
                if op.calls == 1 { "call" } else { "calls" },
                op.recorded_usd,
                op.today_usd,
                op.change_usd.signed()
            ));
        }
        if self.operations.len() > limit {
            lines.push(format!(
                "… {} more operations changed",
                self.operations.len() - limit
            ));
        }
        lines
    }
}
