//! Identifying AWS calls: which service, operation and region an exchange is.
//!
//! Knows nothing of the proxy or of storage: it reads a request head, a bounded body prefix and
//! the response head.

pub mod extract;
pub mod host;
pub mod identify;
pub mod model;
pub mod router;
pub mod sigv4;
mod wire;
