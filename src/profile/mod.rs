//! From proxy exchanges to priced AWS calls: the layer that knows both the proxy's `Exchange`
//! and the `aws` identification, turns one into the other ([`identify`]), prices it, links
//! paginator pages into loops ([`loops`]), and hands the plain [`crate::record::Call`] to the
//! sinks ([`sinks`]). Nothing secret leaves this layer: the access key becomes a fingerprint,
//! parameter values and bodies stay behind.

pub mod callsite;
mod identify;
mod loops;
mod profiler;
pub mod sinks;
mod tap;

pub use identify::call_from_exchange;
pub use loops::LoopTracker;
pub use profiler::{CallSink, Profiler};
