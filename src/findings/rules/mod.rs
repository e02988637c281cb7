//! The rules. Each takes the facts and thresholds and returns its findings; each is tested on
//! its own, beside it. One file per family: `paging.rs` (small pages), `relisting.rs` (a prefix
//! listed again with nothing written), `batching.rs` (fan-out, a head per listed key),
//! `head_then_get.rs` (a HEAD a later GET of the same key answers), `ranges.rs` (bytes of an
//! object downloaded again by overlapping ranges), `multipart.rs` (multipart uploads below the
//! minimum), `repeats.rs` (repeated calls,
//! polling), `failures.rs` (retries, paid failures) and `cost.rs` (implied costs, cross-Region
//! calls, unpriced calls, the top operations). This file has the order they run and rank in, and the helpers they share.
//!
//! The order of [`ALL`] is also the precedence in which findings claim their calls: where two
//! findings are about the same calls (a HEAD of a listed key that is also repeated, a page of a
//! small-page loop that is also re-read), the earlier one's advice removes them and the later
//! one saves only what is left (`findings::claims`).

mod batching;
mod cost;
mod failures;
mod head_then_get;
mod multipart;
mod paging;
mod ranges;
mod relisting;
mod repeats;

use super::{Evidence, Facts, Finding, Thresholds};
use crate::record::{rfc3339, Usd};

pub use batching::{fan_out, head_per_listed_key, Batchable, BATCHABLE, PER_KEY_AFTER_LISTING};
pub use cost::{cross_region, implied_costs, top_operations, unpriced};
pub use failures::{paid_failures, retries};
pub use head_then_get::{head_then_get, S3_GET};
pub use multipart::{small_multipart, MULTIPART, MULTIPART_MINIMUM};
pub use paging::small_pages;
pub use ranges::{bytes_text, overlapping_ranges};
pub use relisting::{relisting, S3_LISTINGS, S3_WRITES};
pub use repeats::{empty_receives, polling, repeated_calls};

pub type Rule = fn(&Facts, &Thresholds) -> Vec<Finding>;

/// In the order they are shown when savings tie, and the order of precedence in which they
/// claim calls (`findings::claims`).
pub const ALL: &[Rule] = &[
    small_pages,
    relisting,
    fan_out,
    head_per_listed_key,
    head_then_get,
    overlapping_ranges,
    small_multipart,
    repeated_calls,
    empty_receives,
    polling,
    retries,
    paid_failures,
    implied_costs,
    cross_region,
    unpriced,
    top_operations,
];

pub fn rank(rule: &str) -> usize {
    const ORDER: &[&str] = &[
        "small-pages",
        "relisting",
        "fan-out",
        "head-per-key",
        "head-then-get",
        "overlapping-ranges",
        "small-multipart",
        "repeated-calls",
        "empty-receives",
        "polling",
        "retries",
        "paid-failures",
        "implied-costs",
        "cross-region",
        "unpriced",
        "top-cost",
        "top-calls",
    ];
    ORDER.iter().position(|r| *r == rule).unwrap_or(ORDER.len())
}

/// Whether an S3 listing was read again from its start in a run.
pub fn has_s3_relisting(loops: &[crate::record::LoopRow]) -> bool {
    loops
        .iter()
        .any(|l| l.relisting && l.service == "s3" && S3_LISTINGS.contains(&l.operation.as_str()))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `1,260`
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn on(resource: &Option<String>) -> String {
    resource
        .as_deref()
        .map(|r| format!(" on {r}"))
        .unwrap_or_default()
}

fn id(rule: &str, service: &str, operation: &str, resource: &Option<String>) -> String {
    match resource {
        Some(resource) => format!("{rule}:{service}:{operation}:{resource}"),
        None => format!("{rule}:{service}:{operation}"),
    }
}

fn evidence_of(group: &crate::record::ResourceGroup) -> Evidence {
    Evidence {
        service: group.service.clone(),
        operation: group.operation.clone(),
        resource: group.resource.clone(),
        calls: group.count,
        cost_usd: Usd(group.cost),
        first_at: Some(rfc3339(group.first_us)),
        last_at: Some(rfc3339(group.last_us)),
        examples: Vec::new(),
        callsites: Vec::new(),
    }
}

fn repeat_evidence(group: &crate::record::RepeatGroup) -> Evidence {
    Evidence {
        service: group.service.clone(),
        operation: group.operation.clone(),
        resource: group.resource.clone(),
        calls: group.count,
        cost_usd: Usd(group.cost),
        first_at: Some(rfc3339(group.cadence.first_us)),
        last_at: Some(rfc3339(group.cadence.last_us)),
        examples: group.examples_us.iter().map(|t| rfc3339(*t)).collect(),
        callsites: Vec::new(),
    }
}

#[cfg(test)]
mod tests {

    /// The calls `Facts::object_writes` reads are the store's S3 object writes: every write a
    /// listing would show and every multipart call, no more.
    #[test]
    fn the_store_finds_exactly_the_writes_the_rules_read() {
        let mut rules: Vec<&str> = super::S3_WRITES
            .iter()
            .chain(super::MULTIPART)
            .copied()
            .collect();
        rules.sort_unstable();
        rules.dedup();
        let mut store = crate::record::S3_OBJECT_WRITES.to_vec();
        store.sort_unstable();
        assert_eq!(rules, store);
    }
    use rust_decimal::Decimal;
    use std::str::FromStr;

    pub(super) fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }
}
