//! From proxy exchanges to priced AWS calls: the layer that knows both the proxy's `Exchange` and
//! the `aws` identification, turns one into the other, prices it, and hands it to the sinks.
//! Nothing secret leaves this layer: the access key becomes a fingerprint, parameter values and
//! bodies stay behind.

mod call;
mod loops;
mod profiler;

pub use call::{call_from_exchange, is_error, is_retry, is_throttling, Call, CallKind};
pub use loops::{LoopRecord, LoopTracker};
pub use profiler::{CallSink, Profiler};
