//! Money: exact decimals (USD), formatted at the last moment.

use rust_decimal::Decimal;

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

/// The amount as an exact decimal string for JSON: every digit kept, so sums computed from the
/// JSON are exact.
pub fn exact(amount: Decimal) -> String {
    amount.normalize().to_string()
}
