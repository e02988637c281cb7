//! tollgate: a local HTTPS proxy that shows what your AWS API calls cost.
//!
//! The crate is layered so that each layer knows only the one below it:
//!
//! * [`proxy`] is a generic intercepting HTTP(S) proxy. It knows nothing of AWS: its caller gives
//!   it the hosts to intercept, and every completed request/response exchange is handed to an
//!   [`proxy::Observer`].
//! * [`ca`] is the local certificate authority whose leaf certificates the proxy presents.
//! * [`pricing`] prices a call's usage against the table in `pricing/`, exactly.
//! * [`summary`] is the first observer: per-host counts, bytes and latency percentiles.
//! * [`store`] records runs, calls and paginator loops in SQLite; [`report`] reads them back.
//! * [`cli`] wires them together, one file per subcommand.

pub mod aws;
pub mod ca;
pub mod cli;
pub mod findings;
pub mod home;
pub mod pricing;
pub mod procnet;
pub mod profile;
pub mod proxy;
pub mod report;
pub mod roots;
pub mod store;
pub mod summary;
