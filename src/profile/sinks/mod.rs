//! The consumers of priced calls: the live summary `tollgate run` prints, the recorder that
//! writes them to the store (with its ledger, which survives a killed tollgate), and the live
//! metrics `--metrics` serves to Prometheus. Each gets the plain [`crate::record::Call`] and
//! nothing else.

pub mod ledger;
pub mod metrics;
pub mod recorder;
pub mod summary;

pub use metrics::{MetricLimits, MetricsSink};
pub use recorder::{Recorder, RecorderHealth, RecorderOutcome};
pub use summary::{PricingInfo, Summary, SummaryReport};
