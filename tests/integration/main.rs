//! Integration tests: one binary, shared helpers in `common`.

mod ca;
mod common;
mod conformance;
mod e2e;
mod moto;
mod proxy;
mod run;
mod rust_sdk;
