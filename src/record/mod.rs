//! The plain records everything past the profile speaks: one [`Call`] per AWS request, one
//! [`Loop`] per paginator loop, a run's [`RunMeta`], money and units, and the aggregates that
//! reports read back ([`history`]). Owned, secret-free data: no proxy type, no SQL type, no
//! credential, no parameter value, no body. Imports nothing else of tollgate.

mod call;
mod groups;
pub mod history;
mod loops;
mod money;
mod page;
mod priced;
mod run;
mod tally;
mod time;
mod unit;

pub use call::{
    is_error, is_retry, is_throttling, Call, CallKind, ClientProcess, ImpliedCost, PriceStatus,
    StatusClass, UpstreamFailure,
};
pub use groups::{CallGroupRow, GroupBy};
pub use history::{
    sort_failures, sort_implied, sort_operations, sort_regions, sort_resources, Cadence,
    FailureGroup, ImpliedGroup, LoopRow, ObjectWrite, RegionGroup, RepeatGroup, ResourceGroup,
    RunFilter, RunRow, StoredCall, TimelinePoint, S3_OBJECT_WRITES,
};
pub use loops::Loop;
pub use money::{cost_label, exact, format_usd, published, Usd, PUBLISHED_DECIMALS};
pub use page::{describe_items_unknown, ItemsUnknown, PageAnswer, PageFacts};
pub use priced::{parse_priced, priced_json, LineKind, PricedLine};
pub use run::{CiFacts, GitFacts, RunEnd, RunMeta};
pub use tally::{latency_histogram, OperationTally};
pub use time::{duration_micros, from_micros, micros, rfc3339, short_time};
pub use unit::Unit;
