//! Integration tests: one binary, shared helpers in `common`.

mod ca;
mod ci_example;
mod common;
mod conformance;
mod corrupt;
mod cost;
mod db_flags;
mod e2e;
mod exit_codes;
mod findings;
mod gate;
mod hermetic;
mod html;
mod layers;
mod metrics;
mod moto;
mod node_sdk;
mod page_count;
mod postgres;
mod pricing_cli;
mod proxy;
mod relisting;
mod run;
mod rust_sdk;
mod store;
mod weekly;
