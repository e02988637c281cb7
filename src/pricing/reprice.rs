//! Pricing again what was priced before: a stored call's lines (table entry, quantity) at this
//! table's prices, in the call's region, with this overlay's discount. The quantities are what
//! they were (AWS billed the same units); only the prices per unit change. A line whose entry
//! this table no longer has cannot be re-priced: the call keeps its recorded cost, and the
//! caller counts it.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::cost::Pricer;
use super::table::{PriceEntry, BASE_REGION};
use crate::record::{LineKind, PricedLine};

/// A call's money at today's prices, split as the history splits it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amounts {
    pub own: Decimal,
    pub transfer: Decimal,
    pub implied: Decimal,
    /// Some line used the us-east-1 price for a region the table has no price for.
    pub borrowed: bool,
}

impl Amounts {
    pub fn total(&self) -> Decimal {
        self.own + self.transfer + self.implied
    }
}

/// Re-prices lines against one table, looking each entry up once.
pub struct Repricer<'p> {
    pricer: &'p Pricer,
    entries: HashMap<String, Option<&'p PriceEntry>>,
}

impl<'p> Repricer<'p> {
    pub fn new(pricer: &'p Pricer) -> Self {
        Self {
            pricer,
            entries: HashMap::new(),
        }
    }

    /// The table version the lines are priced at.
    pub fn version(&self) -> &str {
        &self.pricer.table().version
    }

    /// The lines at this table's prices in `region` (us-east-1 when the call named none);
    /// `None` when an entry is not in this table.
    pub fn price(&mut self, region: Option<&str>, lines: &[PricedLine]) -> Option<Amounts> {
        let region = region.unwrap_or(BASE_REGION);
        let mut amounts = Amounts::default();
        for line in lines {
            let pricer = self.pricer;
            let entry = *self
                .entries
                .entry(line.entry.to_string())
                .or_insert_with(|| pricer.table().price_by_id(&line.entry));
            let (unit_price, borrowed) = self.pricer.unit_price(entry?, region);
            amounts.borrowed |= borrowed;
            let amount = line.quantity * unit_price;
            match line.kind {
                LineKind::Own => amounts.own += amount,
                LineKind::Transfer => amounts.transfer += amount,
                LineKind::Implied => amounts.implied += amount,
            }
        }
        Some(amounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pricing::testing::pricer_with as pricer;

    fn line(kind: LineKind, entry: &str, quantity: &str) -> PricedLine {
        PricedLine {
            kind,
            entry: entry.into(),
            quantity: quantity.parse().unwrap(),
        }
    }

    use crate::pricing::testing::WIDGET;

    #[test]
    fn lines_are_priced_at_this_tables_regional_price_with_its_discount() {
        let lines = [
            line(LineKind::Own, "test/widget/request", "3"),
            line(LineKind::Implied, "test/widget/request", "1"),
        ];
        let plain = pricer(WIDGET);
        let plain = Repricer::new(&plain).price(Some("eu-west-1"), &lines);
        assert_eq!(
            plain,
            Some(Amounts {
                own: "0.000015".parse().unwrap(),
                transfer: Decimal::ZERO,
                implied: "0.000005".parse().unwrap(),
                borrowed: false,
            })
        );
        let discounted = pricer(&format!("[pricing]\ndiscount_percent = \"10\"\n{WIDGET}"));
        let amounts = Repricer::new(&discounted)
            .price(Some("ap-south-1"), &lines)
            .unwrap();
        assert_eq!(amounts.total(), "0.0000144".parse::<Decimal>().unwrap());
        assert!(
            amounts.borrowed,
            "ap-south-1 has no price: us-east-1's stands in"
        );
    }

    #[test]
    fn an_entry_this_table_lacks_is_not_guessed() {
        let table = pricer("");
        let lines = [line(LineKind::Own, "gone/entry", "1")];
        assert_eq!(Repricer::new(&table).price(None, &lines), None);
    }
}
