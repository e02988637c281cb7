#!/usr/bin/env bash
# Builds the AWS SDK for Rust workload of tests/integration/rust_sdk.rs: a crate of its own in
# tests/rust-sdk (own workspace and Cargo.lock), so that the main build never compiles the SDK.
# Prints the path of the binary on stdout (cargo's output goes to stderr); the test finds it
# there, or through TOLLGATE_RUST_SDK_TEST_BIN.
#
# A clean build compiles the SDK's S3, DynamoDB and SQS crates and aws-lc (C, with the system cc;
# no cmake): 1.5 to 3 minutes on two cores, unoptimised (see the crate's [profile.release]). Later
# builds reuse tests/rust-sdk/target.
set -euo pipefail
cd "$(dirname "$0")/.."

crate=tests/rust-sdk
# The target directory is pinned, so that the binary is where the test looks even when
# CARGO_TARGET_DIR is set for the main build.
cargo build --release --locked \
    --manifest-path "$crate/Cargo.toml" \
    --target-dir "$crate/target" >&2
binary="$PWD/$crate/target/release/tollgate-rust-sdk-test"
test -x "$binary"
echo "$binary"
