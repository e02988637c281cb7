//! The consumers of priced calls: the live summary `tollgate run` prints, and the recorder that
//! writes them to the store (with its ledger, which survives a killed tollgate). Each gets the plain [`crate::record::Call`] and nothing else.

pub mod ledger;
pub mod recorder;
pub mod summary;

pub use recorder::{Recorder, RecorderOutcome};
pub use summary::{PricingInfo, Summary, SummaryReport};
