//! Money: exact decimals (USD), formatted at the last moment.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of US dollars, exact. Reports and summaries carry it as it is and format it at the
/// last moment: [`Display`](fmt::Display) shows it for people ([`format_usd`]: `$0.0004`),
/// JSON and CSV hold it as a decimal string to [`PUBLISHED_DECIMALS`] places ([`published`]:
/// `"0.000400125"`), never a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(pub Decimal);

impl Usd {
    pub const ZERO: Usd = Usd(Decimal::ZERO);

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Every digit, no trailing zeros: what the store holds.
    pub fn exact(self) -> String {
        exact(self.0)
    }

    /// For people, with its sign: `+$0.0002`, `-$1.20`.
    pub fn signed(self) -> String {
        if self.0 < Decimal::ZERO {
            format!("-{}", Usd(-self.0))
        } else {
            format!("+{self}")
        }
    }

    /// To [`PUBLISHED_DECIMALS`] places: what JSON and CSV hold.
    pub fn published(self) -> String {
        published(self.0)
    }
}

impl From<Decimal> for Usd {
    fn from(amount: Decimal) -> Self {
        Usd(amount)
    }
}

impl From<Usd> for Decimal {
    fn from(amount: Usd) -> Self {
        amount.0
    }
}

impl Add for Usd {
    type Output = Usd;

    fn add(self, other: Usd) -> Usd {
        Usd(self.0 + other.0)
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        self.0 += other.0;
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(amounts: I) -> Usd {
        Usd(amounts.map(|amount| amount.0).sum())
    }
}

impl<'a> Sum<&'a Usd> for Usd {
    fn sum<I: Iterator<Item = &'a Usd>>(amounts: I) -> Usd {
        amounts.copied().sum()
    }
}

/// For people: [`format_usd`].
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format_usd(self.0))
    }
}

/// As a decimal string to [`PUBLISHED_DECIMALS`] places ([`published`]), never a float.
impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.published())
    }
}

/// From a decimal string (what [`Serialize`] writes); a number is refused, so money read back
/// from a file never went through a float.
impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Decimal::from_str_exact(&text).map(Usd).map_err(|error| {
            serde::de::Error::custom(format!("{text:?} is not an amount: {error}"))
        })
    }
}

/// An amount for people: `$0.0004`, `$12.50`; at most nine decimals (a nano-dollar).
pub fn format_usd(amount: Decimal) -> String {
    let rounded = amount.round_dp(9).normalize();
    let text = if rounded.scale() < 2 {
        format!("{:.2}", rounded)
    } else {
        rounded.to_string()
    };
    format!("${text}")
}

/// An operation's cost for a table cell: `unpriced` when nothing it did has a price, else the
/// amount, with `~` when part of it is estimated and `?` when some attempts are unpriced.
pub fn cost_label(amount: Decimal, billed: u64, unpriced: u64, estimated: u64) -> String {
    if billed == 0 && unpriced > 0 {
        return "unpriced".into();
    }
    format!(
        "{}{}{}",
        if estimated > 0 { "~" } else { "" },
        format_usd(amount),
        if unpriced > 0 { "?" } else { "" }
    )
}

/// The amount as an exact decimal string: every digit kept (what the store writes).
pub fn exact(amount: Decimal) -> String {
    amount.normalize().to_string()
}

/// Decimal places of money in JSON and CSV: a pico-dollar. The price table states prices to at
/// most nine places (a nano-dollar a request), so every request's price is kept whole; amounts
/// billed by the byte (data transfer: a GB is 2^30 bytes) run to 28 places, of which the last 16
/// say nothing. Sums are made exactly, then rounded once.
pub const PUBLISHED_DECIMALS: u32 = 12;

/// The amount to [`PUBLISHED_DECIMALS`] places (half to even), no trailing zeros.
pub fn published(amount: Decimal) -> String {
    amount.round_dp(PUBLISHED_DECIMALS).normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Usd {
        Usd(Decimal::from_str_exact(text).unwrap())
    }

    /// Issue 13 (#18): JSON money came with 28 decimals (a byte's share of a GB's transfer
    /// price); it is published to a pico-dollar, every request price kept whole.
    #[test]
    fn json_money_is_published_to_a_pico_dollar() {
        // 1,000 bytes out at $0.09 a GB.
        let transfer = Decimal::from(1_000) * Decimal::from_str_exact("0.09").unwrap()
            / Decimal::from(1u64 << 30);
        assert!(exact(transfer).len() > 25, "{}", exact(transfer));
        assert_eq!(
            serde_json::to_string(&Usd(transfer)).unwrap(),
            r#""0.000000083819""#
        );
        // The smallest price in the table stays whole.
        assert_eq!(usd("0.000000014").published(), "0.000000014");
        // A sum is made exactly, then rounded once.
        let sum: Usd = (0..1_000).map(|_| Usd(transfer)).sum();
        assert_eq!(sum.published(), "0.000083819032");
    }

    #[test]
    fn shows_for_people_and_serialises_exactly() {
        let amount = usd("0.000400125000");
        assert_eq!(amount.to_string(), "$0.000400125");
        assert_eq!(format!("{:>14}|", usd("12.5")), "        $12.50|");
        assert_eq!(amount.exact(), "0.000400125");
        assert_eq!(
            serde_json::to_string(&[amount, Usd::ZERO]).unwrap(),
            r#"["0.000400125","0"]"#
        );
    }

    #[test]
    fn adds_exactly_and_compares_by_value() {
        let parts = [usd("0.1"), usd("0.2"), usd("0.000000001")];
        let total: Usd = parts.iter().sum();
        assert_eq!(total.exact(), "0.300000001");
        assert_eq!(parts.into_iter().sum::<Usd>(), total);
        let mut running = Usd::ZERO;
        running += usd("0.10");
        assert_eq!(running, usd("0.1"));
        assert!(usd("0.00").is_zero() && !running.is_zero());
        assert!(usd("0.2") > usd("0.10"));
        assert_eq!(Usd::default(), Usd::ZERO);
    }
}
