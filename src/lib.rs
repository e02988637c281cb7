//! tollgate: a local HTTPS proxy that shows what your AWS API calls cost.
//!
//! Module map (each layer imports only those below it; `scripts/check-layers.sh` checks it):
//!
//! * [`proxy`]: accept loop, CONNECT, TLS interception, upstream pool, byte tunnels. Knows
//!   nothing of AWS: the caller says which hosts to intercept; each exchange goes to an
//!   [`proxy::Observer`]. [`ca`] is the local CA whose leaves it presents.
//! * [`aws`]: request bytes → service, operation, region, usage units, paginator facts.
//! * [`pricing`]: the price table (`pricing/`), exact cost of one call's usage.
//! * [`record`]: the plain, secret-free records everything above the profile speaks: `Call`,
//!   `Loop`, `RunMeta`, money, units, and the aggregates reports read back.
//! * [`profile`]: `Exchange` → identified, priced `Call` with its loop; hands it to the sinks
//!   (live summary, recorder, live metrics) in `profile/sinks/`.
//! * [`endpoint`]: endpoint mode, the AWS half of the proxy's endpoint front end: which host a
//!   request sent to tollgate as `AWS_ENDPOINT_URL` is for, re-signed for it with `aws-sigv4`.
//! * [`metrics`]: `--metrics`: the `/metrics` endpoint for Prometheus, with the proxy's and
//!   recorder's health read from their own counters.
//! * [`store`]: the `RunStore` trait (write batches, read aggregates); SQLite in
//!   `store/sqlite/`, in memory in `store/memory.rs`, one totals engine in `store/tally.rs`.
//! * [`findings`] and [`report`]: rules over what the store returns, and its renderings.
//! * [`cli`]: one file per subcommand; wires proxy → profile → sinks → store → report.
//!
//! A call flows: client → `proxy` → `Exchange` → `profile` (`aws` + `pricing`) → `Call` →
//! sinks → `store` → `findings`/`report` → the user.

pub mod aws;
pub mod ca;
pub mod cli;
pub mod endpoint;
pub mod findings;
pub mod gate;
pub mod home;
pub mod metrics;
pub mod pricing;
pub mod procnet;
pub mod profile;
pub mod proxy;
pub mod record;
pub mod report;
pub mod roots;
pub mod store;
