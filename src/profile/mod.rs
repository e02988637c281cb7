//! From proxy exchanges to AWS calls: the layer that knows both the proxy's `Exchange` and the
//! `aws` identification, and turns one into the other. Nothing secret leaves this layer: the
//! access key becomes a fingerprint, parameter values and bodies stay behind.

mod call;

pub use call::{call_from_exchange, Call, CallKind};
