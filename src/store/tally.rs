//! The one engine that sums calls into totals: per operation ([`OperationTally`], the tally the
//! live summary and the reports show too), failure outcome, region, resource, repeated-parameter group and time slot.
//! The writer of every backend sums each batch here, exactly (decimals), and merges the sums
//! into its stored totals; the in-memory store sums whole runs the same way.

use rustc_hash::FxHashMap;

use rust_decimal::Decimal;

use super::micros;
use crate::record::{Cadence, Call, CallKind, ClientProcess, GroupBy, OperationTally, PriceStatus};

/// The widths of the timeline's slots (µs): 10 ms, 1 s, 1 min, 1 h. A report picks the widest
/// one that still gives it the resolution it wants.
pub const TIMELINE_WIDTHS_US: [i64; 4] = [10_000, 1_000_000, 60_000_000, 3_600_000_000];

/// How a timeline of `slices` equal slices from the first call to the last is read from the
/// stored slots: from the widest slot width that still resolves one slice.
#[derive(Debug, Clone, Copy)]
pub struct Slicing {
    pub slot_width: i64,
    /// A slice is a whole number of slots, starting at the first call's slot.
    pub width: i64,
    pub origin: i64,
}

impl Slicing {
    pub fn new(first_us: i64, last_us: i64, slices: i64) -> Self {
        let wanted = ((last_us - first_us) / slices.max(1)).max(1_000) + 1;
        let slot_width = TIMELINE_WIDTHS_US
            .iter()
            .rev()
            .find(|&&width| width <= wanted)
            .copied()
            .unwrap_or(TIMELINE_WIDTHS_US[0]);
        Self {
            slot_width,
            width: wanted.div_euclid(slot_width).max(1) * slot_width,
            origin: first_us.div_euclid(slot_width) * slot_width,
        }
    }

    /// The slices, from `(slot, calls, cost)` of slots `slot_width` wide.
    pub fn points(
        &self,
        slots: impl IntoIterator<Item = (i64, u64, Decimal)>,
    ) -> Vec<crate::record::TimelinePoint> {
        let mut points: std::collections::BTreeMap<i64, crate::record::TimelinePoint> =
            std::collections::BTreeMap::new();
        for (slot, calls, cost) in slots {
            let slice = (slot * self.slot_width - self.origin).div_euclid(self.width);
            let point = points.entry(slice).or_insert(crate::record::TimelinePoint {
                at_us: self.origin + slice * self.width,
                calls: 0,
                cost: Decimal::ZERO,
            });
            point.calls += calls;
            point.cost += cost;
        }
        points.into_values().collect()
    }
}

/// A stable 64-bit key for a digest group (FNV-1a over service, operation and fingerprint):
/// the same across tollgate versions, so that groups of runs written by different versions
/// merge.
pub fn digest_key(service: &str, operation: &str, fingerprint: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [service, operation, fingerprint] {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash as i64
}

#[derive(Debug)]
pub struct FailureTotals {
    pub calls: u64,
    pub priced: u64,
    pub cost: Decimal,
    pub first_us: i64,
    pub last_us: i64,
}

#[derive(Debug, Default)]
pub struct ResourceTotals {
    pub first_attempts: u64,
    pub first_cost: Decimal,
    pub first_us: i64,
    pub last_us: i64,
    pub implied_calls: u64,
    pub implied: Decimal,
    /// First attempts about an object an earlier listing returned, and their cost.
    pub listed_before: u64,
    pub listed_before_cost: Decimal,
    /// First attempts of a receive that returned nothing, and their cost.
    pub empty_receives: u64,
    pub empty_receives_cost: Decimal,
    /// GETs (any attempt) that answered a HEAD of their object waiting for one.
    pub after_head: u64,
    /// Bytes GETs (any attempt) received again by other requests, and their share of the
    /// GETs' data transfer.
    pub refetched_bytes: u64,
    pub refetched_cost: Decimal,
    /// First attempts whose bytes were all received before, and their own and implied cost.
    pub refetched_calls: u64,
    pub refetched_calls_cost: Decimal,
}

#[derive(Debug)]
pub struct DigestTotals<'a> {
    /// The group's first call in the batch (its index), for [`DigestBook`].
    pub first_row: usize,
    pub service: &'a str,
    pub operation: &'a str,
    pub fingerprint: &'a str,
    pub resource: Option<&'a str>,
    pub cost: Decimal,
    pub cadence: Cadence,
    pub examples: Vec<i64>,
}

/// Service and operation.
pub type Op<'a> = (&'a str, &'a str);

/// A group's attempts of one operation: see [`crate::record::CallGroupRow`].
#[derive(Debug, Default)]
pub struct GroupTotals {
    pub attempts: u64,
    pub retries: u64,
    pub errors: u64,
    pub total: Decimal,
}

/// Grouping, its key (`""` for calls that named none), operation, and resource (`""` unless
/// the grouping is kept by resource).
pub type GroupKey<'a> = (GroupBy, &'a str, Op<'a>, &'a str);

/// One batch's totals, borrowing the batch's rows.
#[derive(Debug, Default)]
pub struct Totals<'a> {
    pub operations: FxHashMap<Op<'a>, OperationTally>,
    pub failures: FxHashMap<(Op<'a>, i64, &'a str, bool), FailureTotals>,
    pub regions: FxHashMap<(&'a str, &'a str), (u64, Decimal)>,
    pub resources: FxHashMap<(Op<'a>, &'a str), ResourceTotals>,
    pub digests: FxHashMap<i64, DigestTotals<'a>>,
    pub timeline: FxHashMap<(i64, i64), (u64, Decimal)>,
    pub groups: FxHashMap<GroupKey<'a>, GroupTotals>,
}

/// Examples kept per digest group (call times shown in a finding).
const EXAMPLES: usize = 3;

impl<'a> Totals<'a> {
    /// The totals of these calls, in this order, each with the process that made it (when
    /// known).
    pub fn of(rows: impl IntoIterator<Item = (&'a Call, Option<&'a ClientProcess>)>) -> Self {
        let mut totals = Self::default();
        for (index, (row, process)) in rows.into_iter().enumerate() {
            totals.add(index, row, process.map(|p| p.command.as_str()));
        }
        totals
    }

    /// Adds the batch's row number `index`, made by the process running `command`.
    fn add(&mut self, index: usize, row: &'a Call, command: Option<&'a str>) {
        let op: Op<'a> = (&row.service, &row.operation);
        let at = micros(row.started_at);
        let money = row.all_money();
        let failed = row.is_error();
        let first_attempt = !row.is_retry();
        let throttled = row.is_throttled();
        let implied = row.implied_total();
        let aws = row.kind != CallKind::NotAws;

        self.operations
            .entry(op)
            .or_insert_with(|| OperationTally::new(op.0, op.1))
            .add(row, at);

        if aws && failed {
            self.add_failure(op, row, at, throttled);
        }

        if row.kind == CallKind::Operation {
            self.add_region(row);
        }

        self.add_resource(op, row, at, money, first_attempt, implied);

        if let Some(fingerprint) = row.fingerprint.as_deref() {
            if row.kind == CallKind::Operation && first_attempt {
                self.add_digest(index, row, fingerprint, at, money);
            }
        }

        self.add_timeline(at, money);
        self.add_groups(op, row, command, money, first_attempt, failed);
    }

    /// The call in each grouping: by call site (and resource), test, SDK, app id and command.
    fn add_groups(
        &mut self,
        op: Op<'a>,
        row: &'a Call,
        command: Option<&'a str>,
        money: Decimal,
        first_attempt: bool,
        failed: bool,
    ) {
        for by in GroupBy::ALL {
            let key = match by {
                GroupBy::Callsite => row.callsite.as_deref(),
                GroupBy::Test => row.test.as_deref(),
                GroupBy::Sdk => row.sdk.as_deref(),
                GroupBy::App => row.app_id.as_deref(),
                GroupBy::Command => command,
            };
            let resource = if by.by_resource() {
                row.resource.as_deref().unwrap_or("")
            } else {
                ""
            };
            let group = self
                .groups
                .entry((by, key.unwrap_or(""), op, resource))
                .or_default();
            group.attempts += 1;
            group.retries += u64::from(!first_attempt);
            group.errors += u64::from(failed);
            group.total += money;
        }
    }

    /// A failed AWS call, by operation, status, error code and whether it was throttled.
    fn add_failure(&mut self, op: Op<'a>, row: &'a Call, at: i64, throttled: bool) {
        let key = (
            op,
            row.status.map_or(0, i64::from),
            row.error_code.as_deref().unwrap_or(""),
            throttled,
        );
        let failure = self.failures.entry(key).or_insert(FailureTotals {
            calls: 0,
            priced: 0,
            cost: Decimal::ZERO,
            first_us: at,
            last_us: at,
        });
        failure.calls += 1;
        if row.price == PriceStatus::Priced {
            failure.priced += 1;
            failure.cost += row.cost;
        }
        failure.first_us = failure.first_us.min(at);
        failure.last_us = failure.last_us.max(at);
    }

    /// An identified call, by service and region.
    fn add_region(&mut self, row: &'a Call) {
        let region = self
            .regions
            .entry((&row.service, row.region.as_deref().unwrap_or("")))
            .or_default();
        region.0 += 1;
        region.1 += row.cost + row.transfer;
    }

    /// First attempts and implied costs, by operation and resource.
    fn add_resource(
        &mut self,
        op: Op<'a>,
        row: &'a Call,
        at: i64,
        money: Decimal,
        first_attempt: bool,
        implied: Decimal,
    ) {
        let resource = self
            .resources
            .entry((op, row.resource.as_deref().unwrap_or("")))
            .or_default();
        if first_attempt {
            if resource.first_attempts == 0 {
                resource.first_us = at;
                resource.last_us = at;
            }
            resource.first_attempts += 1;
            resource.first_cost += money;
            if row.listed_before == Some(true) {
                resource.listed_before += 1;
                resource.listed_before_cost += money;
            }
            if row.received == Some(0) {
                resource.empty_receives += 1;
                resource.empty_receives_cost += money;
            }
            resource.first_us = resource.first_us.min(at);
            resource.last_us = resource.last_us.max(at);
        }
        if !implied.is_zero() {
            resource.implied_calls += 1;
            resource.implied += implied;
        }
        if row.after_head == Some(true) {
            resource.after_head += 1;
        }
        if let Some(bytes) = row.refetched_bytes.filter(|b| *b > 0) {
            resource.refetched_bytes += bytes;
            // The bytes received again, priced as the GET's own transfer was.
            if row.bytes_received > 0 {
                resource.refetched_cost +=
                    row.transfer * Decimal::from(bytes) / Decimal::from(row.bytes_received);
            }
            if first_attempt && bytes >= row.bytes_received {
                resource.refetched_calls += 1;
                resource.refetched_calls_cost += row.cost + implied;
            }
        }
    }

    /// A first attempt with a parameter digest: the group of identical calls it joins.
    fn add_digest(
        &mut self,
        index: usize,
        row: &'a Call,
        fingerprint: &'a str,
        at: i64,
        money: Decimal,
    ) {
        let key = digest_key(&row.service, &row.operation, fingerprint);
        match self.digests.get_mut(&key) {
            Some(digest) => {
                digest.cadence.push(at);
                digest.cost += money;
                if digest.examples.len() < EXAMPLES {
                    digest.examples.push(at);
                }
            }
            None => {
                self.digests.insert(
                    key,
                    DigestTotals {
                        first_row: index,
                        service: &row.service,
                        operation: &row.operation,
                        fingerprint,
                        resource: row.resource.as_deref(),
                        cost: money,
                        cadence: Cadence::new(at),
                        examples: vec![at],
                    },
                );
            }
        }
    }

    /// Calls and money per slice of time, at every width.
    fn add_timeline(&mut self, at: i64, money: Decimal) {
        for width in TIMELINE_WIDTHS_US {
            let slot = self
                .timeline
                .entry((width, at.div_euclid(width)))
                .or_default();
            slot.0 += 1;
            slot.1 += money;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_of_a_regular_poll_has_no_variation() {
        let cadence = Cadence::of(&[0, 1_000_000, 2_000_000, 3_000_000]).unwrap();
        let (mean, cv) = cadence.regularity().unwrap();
        assert_eq!(mean, 1_000_000.0);
        assert!(cv.abs() < 1e-9, "{cv}");
    }

    #[test]
    fn cadence_matches_the_gaps_computed_directly() {
        let times = [0i64, 100, 400, 450, 1_450, 1_500];
        let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let (got_mean, got_cv) = Cadence::of(&times).unwrap().regularity().unwrap();
        assert!((got_mean - mean).abs() < 1e-9);
        assert!((got_cv - variance.sqrt() / mean).abs() < 1e-9, "{got_cv}");
    }

    #[test]
    fn merged_cadences_equal_one_over_all_the_calls() {
        let times = [0i64, 100, 400, 450, 1_450, 1_500, 2_000];
        let whole = Cadence::of(&times).unwrap();
        let mut merged = Cadence::of(&times[..3]).unwrap();
        merged.merge(&Cadence::of(&times[3..]).unwrap());
        assert_eq!(merged.calls, whole.calls);
        assert_eq!(merged.gap_sq_sum, whole.gap_sq_sum);
        assert_eq!(merged.regularity(), whole.regularity());
    }

    #[test]
    fn cadence_needs_three_calls_and_time_between_them() {
        assert_eq!(Cadence::of(&[0, 10]).unwrap().regularity(), None);
        assert_eq!(Cadence::of(&[5, 5, 5]).unwrap().regularity(), None);
        assert_eq!(Cadence::of(&[]), None);
    }

    #[test]
    fn digest_keys_are_stable_and_separate_operations() {
        // FNV-1a is fixed: the same key in every version, so runs of different versions merge.
        assert_eq!(
            digest_key("s3", "ListBuckets", ""),
            digest_key("s3", "ListBuckets", "")
        );
        assert_ne!(
            digest_key("s3", "ListBuckets", "x"),
            digest_key("s3", "ListBucket", "sx")
        );
        assert_ne!(digest_key("sts", "A", "f"), digest_key("sts", "B", "f"));
    }
}
