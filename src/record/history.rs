//! What reports read back from the history: which runs, and their calls aggregated by
//! operation, loop, repeated parameters, resource, outcome, region and time. The store returns
//! these, whatever its backend.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

/// Which runs a report covers.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub run: Option<i64>,
    /// The most recent run (the default when nothing else is given).
    pub last: bool,
    /// Runs started at or after this time (µs since the epoch).
    pub since_us: Option<i64>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub uuid: String,
    pub kind: String,
    /// `running`, `complete`, or `incomplete` (tollgate died before the run's end).
    pub state: String,
    pub started_at_us: i64,
    pub ended_at_us: Option<i64>,
    pub exit_code: Option<i64>,
    pub command: Vec<String>,
    pub cwd: Option<String>,
    pub git_repo: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub ci_provider: Option<String>,
    pub ci_job: Option<String>,
    pub ci_ref: Option<String>,
    pub ci_pr: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub tollgate_version: String,
    pub pricing_version: String,
    pub model_version: String,
    /// Calls the run made that could not be recorded.
    pub lost_calls: i64,
    pub lost_reason: Option<String>,
    pub calls: i64,
    /// All the run's money (own charges, transfer, implied), and how many of its attempts were
    /// billed (priced, free or not billed), unpriced, and estimated: what `cost_label` needs.
    pub cost_usd: super::money::Usd,
    pub billed: u64,
    pub unpriced: u64,
    pub estimated: u64,
}

/// The S3 operations that write objects or take part in a multipart upload: the store finds
/// their calls without reading the others (a partial index on exactly this list, in this order:
/// migrations sqlite 0011 and postgres 0007).
pub const S3_OBJECT_WRITES: [&str; 9] = [
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "RestoreObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
];

/// One S3 call that changes what a listing of its bucket returns (`PutObject`, `DeleteObject`,
/// `CompleteMultipartUpload`, ...) or takes part in a multipart upload: what the re-listing and
/// multipart rules read of each call. No key: the store keeps none.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectWrite {
    pub run_id: i64,
    pub at_us: i64,
    pub operation: String,
    /// The bucket (`None`: not known, so any bucket).
    pub resource: Option<String>,
    /// Answered 2xx/3xx with no error code.
    pub ok: bool,
    pub retry: bool,
    /// The request body's bytes (an `UploadPart`'s part, with any aws-chunked framing).
    pub bytes_sent: u64,
    /// The call's own charge (requests), as recorded.
    pub cost: Decimal,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoopRow {
    pub run_id: i64,
    pub loop_id: i64,
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub started_at_us: i64,
    pub ended_at_us: i64,
    pub pages: i64,
    pub attempts: i64,
    pub items: Option<i64>,
    /// Why `items` is null: an [`ItemsUnknown`](super::ItemsUnknown) code.
    pub items_unknown: Option<String>,
    pub page_size: Option<i64>,
    pub page_size_max: Option<i64>,
    pub complete: bool,
    pub resumed: bool,
    pub relisting: bool,
    /// The pages' own charge (requests), data transfer and implied costs, as a [`Loop`]'s.
    ///
    /// [`Loop`]: super::Loop
    pub cost: Decimal,
    pub transfer: Decimal,
    pub implied: Decimal,
    /// The line of the program that asked for the first page.
    pub callsite: Option<String>,
}

impl LoopRow {
    /// A listing of a paginated operation that took one page, from its start, and was told
    /// there was no more: a single call, not a paginator loop.
    pub fn is_single_page(&self) -> bool {
        self.pages <= 1 && self.complete && !self.resumed
    }

    /// Everything the loop's calls cost: the same definition as an operation's cost.
    pub fn total(&self) -> Decimal {
        self.cost + self.transfer + self.implied
    }
}

/// Calls with the same parameters (operation and parameter digest), repeated.
#[derive(Debug, Clone)]
pub struct RepeatGroup {
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub fingerprint: String,
    /// The calls, over every run read.
    pub count: u64,
    /// The runs they were made in.
    pub runs: u64,
    /// The most made in one run. A repeat is a repeat within a run (one client's lifetime):
    /// one call in each of seven nightly runs is not a repeated call.
    pub most_in_a_run: u64,
    pub cost: Decimal,
    /// When the calls were made, and how regularly.
    pub cadence: Cadence,
    /// The first calls' start times (µs), at most 3.
    pub examples_us: Vec<i64>,
}

impl RepeatGroup {
    /// The calls a cache within each run would remove: all but the first of each run.
    pub fn repeats(&self) -> u64 {
        self.count.saturating_sub(self.runs)
    }
}

/// Calls of one operation on one resource.
#[derive(Debug, Clone)]
pub struct ResourceGroup {
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub count: u64,
    pub cost: Decimal,
    pub first_us: i64,
    pub last_us: i64,
    /// Of `count`, the calls about an object an earlier listing in the run returned
    /// (HeadObject), and their cost.
    pub listed_before: u64,
    pub listed_before_cost: Decimal,
    /// Of `count`, the receives (SQS ReceiveMessage, Kinesis GetRecords) that returned
    /// nothing, and their cost.
    pub empty_receives: u64,
    pub empty_receives_cost: Decimal,
    /// GetObject calls (any attempt) that came after a HEAD of the same object no listing had
    /// named: each makes one HEAD unneeded.
    pub after_head: u64,
    /// GetObject bytes received again by other requests for the same object (overlapping
    /// ranges), and their share of the data transfer.
    pub refetched_bytes: u64,
    pub refetched_cost: Decimal,
    /// Of `count`, GETs all of whose bytes had been received before, and their own and implied
    /// cost (transfer is in `refetched_cost`).
    pub refetched_calls: u64,
    pub refetched_calls_cost: Decimal,
}

/// Failed attempts of one operation with one outcome.
#[derive(Debug, Clone)]
pub struct FailureGroup {
    pub service: String,
    pub operation: String,
    pub status: Option<i64>,
    pub error_code: Option<String>,
    pub throttled: bool,
    pub count: u64,
    /// What AWS billed for them.
    pub cost: Decimal,
    pub priced: u64,
    pub first_us: i64,
    pub last_us: i64,
}

/// Calls by service and region.
#[derive(Debug, Clone)]
pub struct RegionGroup {
    pub service: String,
    pub region: Option<String>,
    pub count: u64,
    pub cost: Decimal,
}

/// The one order every store gives operations in, by name: what ranks them later (by cost, by
/// calls) then breaks ties the same way every time, from either backend.
pub fn sort_operations(operations: &mut [super::OperationTally]) {
    operations.sort_by(|a, b| {
        a.service
            .cmp(&b.service)
            .then_with(|| a.operation.cmp(&b.operation))
    });
}

/// The one order every store gives resource groups in: most calls first, then by name.
pub fn sort_resources(groups: &mut [ResourceGroup]) {
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.operation.cmp(&b.operation))
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.resource.cmp(&b.resource))
    });
}

/// The one order every store gives failures in: most calls first, then by name and outcome.
pub fn sort_failures(groups: &mut [FailureGroup]) {
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.operation.cmp(&b.operation))
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.status.cmp(&b.status))
            .then_with(|| a.error_code.cmp(&b.error_code))
            .then_with(|| a.throttled.cmp(&b.throttled))
    });
}

/// The one order every store gives regions in (a baseline written from either backend is the
/// same file): most money first, then most calls, then by name.
pub fn sort_regions(groups: &mut [RegionGroup]) {
    groups.sort_by(|a, b| {
        b.cost
            .cmp(&a.cost)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.region.cmp(&b.region))
    });
}

/// The one order every store gives implied costs in: most money first, then by name.
pub fn sort_implied(groups: &mut [ImpliedGroup]) {
    groups.sort_by(|a, b| {
        b.implied
            .cmp(&a.implied)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.operation.cmp(&b.operation))
            .then_with(|| a.resource.cmp(&b.resource))
    });
}

/// Implied costs by the operation causing them.
#[derive(Debug, Clone)]
pub struct ImpliedGroup {
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub count: u64,
    pub implied: Decimal,
}

/// Calls and their cost in one slice of time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelinePoint {
    /// The slice's start, µs since the epoch.
    pub at_us: i64,
    pub calls: u64,
    #[serde(skip)]
    pub cost: Decimal,
}

/// The times of a group of calls, reduced to what tells a polling loop from a burst: count,
/// span and the squared gaps between consecutive calls (in the order they were recorded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    pub calls: u64,
    pub first_us: i64,
    pub last_us: i64,
    /// The most recent call's time, and the first of the most recent merge.
    pub latest_us: i64,
    pub batch_first_us: i64,
    /// Σ (gap in µs)²; a statistic, not money.
    pub gap_sq_sum: f64,
}

impl Cadence {
    pub fn new(at_us: i64) -> Self {
        Self {
            calls: 1,
            first_us: at_us,
            last_us: at_us,
            latest_us: at_us,
            batch_first_us: at_us,
            gap_sq_sum: 0.0,
        }
    }

    /// Calls in this order.
    pub fn of(times_us: &[i64]) -> Option<Self> {
        let (first, rest) = times_us.split_first()?;
        let mut cadence = Self::new(*first);
        for &at in rest {
            cadence.push(at);
        }
        Some(cadence)
    }

    pub fn push(&mut self, at_us: i64) {
        let gap = (at_us - self.latest_us) as f64;
        self.gap_sq_sum += gap * gap;
        self.calls += 1;
        self.first_us = self.first_us.min(at_us);
        self.last_us = self.last_us.max(at_us);
        self.latest_us = at_us;
    }

    /// Joins a group whose calls all came after this one's (a later run): the gap between this
    /// one's latest call and the other's first counts too. (Batches of one run merge in the
    /// database's upsert, which uses `batch_first_us` the same way.)
    pub fn merge(&mut self, later: &Cadence) {
        let gap = (later.first_us - self.latest_us) as f64;
        self.gap_sq_sum += later.gap_sq_sum + gap * gap;
        self.calls += later.calls;
        self.first_us = self.first_us.min(later.first_us);
        self.last_us = self.last_us.max(later.last_us);
        self.latest_us = later.latest_us;
        self.batch_first_us = later.batch_first_us;
    }

    /// The gaps' mean and coefficient of variation (None below three calls or with no time
    /// between first and last).
    pub fn regularity(&self) -> Option<(f64, f64)> {
        if self.calls < 3 {
            return None;
        }
        let gaps = (self.calls - 1) as f64;
        let mean = (self.last_us - self.first_us) as f64 / gaps;
        if mean <= 0.0 {
            return None;
        }
        let variance = (self.gap_sq_sum / gaps - mean * mean).max(0.0);
        Some((mean, variance.sqrt() / mean))
    }
}

/// One recorded call as the store gives it back (the calls export).
#[derive(Debug, Clone)]
pub struct StoredCall {
    pub run_id: i64,
    pub started_at_us: i64,
    pub duration_us: i64,
    pub kind: super::CallKind,
    pub service: String,
    pub operation: String,
    pub region: Option<String>,
    pub resource: Option<String>,
    pub status: Option<u16>,
    /// Why no status came, when the proxy answered itself.
    pub upstream_failure: Option<super::UpstreamFailure>,
    pub error_code: Option<String>,
    pub throttled: bool,
    pub attempt: Option<u32>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// `priced`, `free`, `not_billed`, `unpriced` (see [`super::PriceStatus::class`]).
    pub price_status: String,
    pub cost: Decimal,
    pub transfer: Decimal,
    pub implied: Decimal,
    pub estimated: Option<String>,
    /// What priced it, by table entry (empty for calls recorded before tollgate kept them).
    pub priced: Vec<super::PricedLine>,
    pub loop_id: Option<u64>,
    pub sdk: Option<String>,
    pub app_id: Option<String>,
    pub callsite: Option<String>,
    pub test: Option<String>,
    pub client_pid: Option<u32>,
    pub client_command: Option<String>,
}
