//! What one operation's calls came to: the one tally the live summary, the store's totals, its
//! reads and the reports all keep, added to one call at a time and merged batch by batch.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use rust_decimal::Decimal;

use super::call::{Call, PriceStatus};
use super::unit::Unit;

/// Latencies in µs, from 1 µs to an hour at two significant figures (a few KiB).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

/// A latency kept to 2–3 significant digits (10 µs steps below 1 ms, then 100 µs, 1 ms, 10 ms):
/// exact enough for percentiles in ms, and few enough distinct values that a store writes a
/// few hundred latency rows per operation and batch, not one per call (at the histogram's own
/// resolution the SQLite writer fell from ~100,000 to ~72,000 calls/s).
pub fn latency_bucket(micros: u64) -> u64 {
    let step = match micros {
        d if d < 1_000 => 10,
        d if d < 10_000 => 100,
        d if d < 100_000 => 1_000,
        _ => 10_000,
    };
    micros / step * step
}

/// One operation's calls: counts, bytes, exact money, priced units and latency.
#[derive(Debug, Clone)]
pub struct OperationTally {
    pub service: String,
    pub operation: String,
    /// Every attempt, retries included.
    pub attempts: u64,
    pub retries: u64,
    pub errors: u64,
    pub throttled: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The calls' own charge, data transfer out, and the costs they imply elsewhere.
    pub cost: Decimal,
    pub transfer: Decimal,
    pub implied: Decimal,
    pub priced: u64,
    pub free: u64,
    pub not_billed: u64,
    pub unpriced: u64,
    pub estimated: u64,
    /// Attempts of an operation the AWS model did not have, named by the request itself
    /// ([`crate::record::CallKind::NotInModel`]).
    pub not_in_model: u64,
    /// The first and last call's start (µs since the epoch).
    pub first_us: i64,
    pub last_us: i64,
    /// Priced quantities, data transfer out in GB among them.
    pub units: BTreeMap<Unit, Decimal>,
    pub latency_us: Histogram<u64>,
    /// The slowest call exactly (the histogram rounds up within its precision); 0 when the
    /// calls' latencies came from stored buckets only.
    pub latency_max_us: u64,
}

impl Default for OperationTally {
    fn default() -> Self {
        Self {
            service: String::new(),
            operation: String::new(),
            attempts: 0,
            retries: 0,
            errors: 0,
            throttled: 0,
            bytes_sent: 0,
            bytes_received: 0,
            cost: Decimal::ZERO,
            transfer: Decimal::ZERO,
            implied: Decimal::ZERO,
            priced: 0,
            free: 0,
            not_billed: 0,
            unpriced: 0,
            estimated: 0,
            not_in_model: 0,
            first_us: i64::MAX,
            last_us: i64::MIN,
            units: BTreeMap::new(),
            latency_us: latency_histogram(),
            latency_max_us: 0,
        }
    }
}

impl OperationTally {
    pub fn new(service: &str, operation: &str) -> Self {
        Self {
            service: service.to_string(),
            operation: operation.to_string(),
            ..Self::default()
        }
    }

    /// Logical calls: attempts that were not retries.
    pub fn calls(&self) -> u64 {
        self.attempts - self.retries
    }

    /// All the money: own charge, transfer and implied costs.
    pub fn total(&self) -> Decimal {
        self.cost + self.transfer + self.implied
    }

    /// Adds one call (started `at_us`).
    pub fn add(&mut self, call: &Call, at_us: i64) {
        self.attempts += 1;
        self.retries += u64::from(call.is_retry());
        self.errors += u64::from(call.is_error());
        self.throttled += u64::from(call.is_throttled());
        self.bytes_sent += call.bytes_sent;
        self.bytes_received += call.bytes_received;
        self.cost += call.cost;
        self.transfer += call.transfer;
        self.implied += call.implied_total();
        match call.price {
            PriceStatus::Priced => self.priced += 1,
            PriceStatus::Free { .. } => self.free += 1,
            PriceStatus::NotBilled { .. } => self.not_billed += 1,
            PriceStatus::Unpriced { .. } => self.unpriced += 1,
        }
        self.estimated += u64::from(call.estimated.is_some());
        self.not_in_model += u64::from(call.kind == super::CallKind::NotInModel);
        self.first_us = self.first_us.min(at_us);
        self.last_us = self.last_us.max(at_us);
        for (unit, quantity) in call.recorded_units() {
            *self.units.entry(unit).or_default() += quantity;
        }
        let micros = u64::try_from(call.duration.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(latency_bucket(micros).max(1));
        self.latency_max_us = self.latency_max_us.max(micros);
    }

    /// Adds another tally of the same operation (another batch, another run).
    pub fn merge(&mut self, other: &OperationTally) {
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.errors += other.errors;
        self.throttled += other.throttled;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.cost += other.cost;
        self.transfer += other.transfer;
        self.implied += other.implied;
        self.priced += other.priced;
        self.free += other.free;
        self.not_billed += other.not_billed;
        self.unpriced += other.unpriced;
        self.estimated += other.estimated;
        self.not_in_model += other.not_in_model;
        self.first_us = self.first_us.min(other.first_us);
        self.last_us = self.last_us.max(other.last_us);
        for (unit, quantity) in &other.units {
            *self.units.entry(*unit).or_default() += *quantity;
        }
        // Same bounds and precision: adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.latency_max_us = self.latency_max_us.max(other.latency_max_us);
    }

    /// The latency percentile `quantile` in ms, when any call was measured: never above the
    /// slowest call (a histogram bucket's upper end can be).
    pub fn latency_ms(&self, quantile: f64) -> Option<f64> {
        (!self.latency_us.is_empty()).then(|| {
            let value = self.latency_us.value_at_quantile(quantile);
            let value = match self.latency_max_us {
                0 => value,
                max => value.min(max),
            };
            value as f64 / 1000.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_keep_two_to_three_digits() {
        assert_eq!(latency_bucket(987), 980);
        assert_eq!(latency_bucket(9_876), 9_800);
        assert_eq!(latency_bucket(98_765), 98_000);
        assert_eq!(latency_bucket(987_654), 980_000);
    }

    #[test]
    fn a_merged_tally_equals_one_over_all_the_calls() {
        let calls: Vec<Call> = (0..7)
            .map(|n| Call {
                attempt: Some(if n % 3 == 2 { 2 } else { 1 }),
                status: Some(if n == 4 { 503 } else { 200 }),
                cost: Decimal::new(125 + n, 9),
                duration: std::time::Duration::from_micros(1000 + 37 * n as u64),
                units: vec![(Unit::Request, Decimal::ONE)],
                ..Call::sample("s3", "GetObject").at_us(n * 1000)
            })
            .collect();
        let mut whole = OperationTally::new("s3", "GetObject");
        for (n, call) in calls.iter().enumerate() {
            whole.add(call, n as i64 * 1000);
        }
        let mut first = OperationTally::new("s3", "GetObject");
        let mut second = OperationTally::new("s3", "GetObject");
        for (n, call) in calls.iter().enumerate() {
            let part = if n < 3 { &mut first } else { &mut second };
            part.add(call, n as i64 * 1000);
        }
        first.merge(&second);
        assert_eq!(first.attempts, 7);
        assert_eq!(first.retries, 2);
        assert_eq!(first.errors, 1);
        assert_eq!(first.calls(), 5);
        assert_eq!(first.cost, Decimal::new(125 * 7 + 21, 9));
        assert_eq!(first.cost, whole.cost);
        assert_eq!(first.units[&Unit::Request], Decimal::from(7));
        assert_eq!((first.first_us, first.last_us), (0, 6000));
        assert_eq!(first.latency_us, whole.latency_us);
        assert_eq!(first.latency_ms(1.0), whole.latency_ms(1.0));
    }
}
