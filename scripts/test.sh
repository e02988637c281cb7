#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests (real TLS origins, a real tollgate process)
# and end-to-end tests (real boto3 against a real moto server through tollgate).
# Needs the Rust toolchain and Python 3 with pip; the Python packages go into
# .venv, the Node packages into tests/node (scripts/node-env.sh), and
# Debian's chromium, postgresql, prometheus and nodejs/npm are installed if missing
# (scripts/install-test-deps.sh, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/python-env.sh
# Debian's chromium, postgresql, prometheus and nodejs (installed only if missing).
scripts/install-test-deps.sh
export TOLLGATE_TEST_PYTHON="$PWD/.venv/bin/python"
# A botocore newer than the bundled model, for the conformance replay of newer requests.
export TOLLGATE_TEST_NEWER_BOTOCORE_PYTHON="$PWD/.venv-newer-botocore/bin/python"
# The Python data stack (s3fs, pandas, polars, pyarrow), pinned in requirements-datastack.txt.
export TOLLGATE_TEST_DATASTACK_PYTHON="$PWD/.venv-datastack/bin/python"
# The AWS CLI v1 (requirements-awscli.txt), for endpoint mode's test.
export TOLLGATE_TEST_AWSCLI="$PWD/.venv-awscli/bin/aws"
# The AWS SDK for JavaScript workload's packages and a second Node release, from npm (lockfiles).
scripts/node-env.sh
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    export TOLLGATE_TEST_NODE="$PWD/tests/node/node20/node_modules/node/bin/node"
fi
# The AWS SDK for Rust workload (a crate of its own, so normal builds never compile the SDK).
TOLLGATE_RUST_SDK_TEST_BIN="$(scripts/build-rust-sdk-test.sh)"
export TOLLGATE_RUST_SDK_TEST_BIN
# Where cargo puts its files (CARGO_TARGET_DIR or the workspace's own target/).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    "$TOLLGATE_TEST_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
rm -f "$TARGET_DIR"/tmp/conformance-*summary.txt
cargo test "$@"
# The identification figures against botocore's own requests (tests/integration/conformance.rs):
# the pinned botocore, and a newer one with the bundled model and after `tollgate model update`.
for summary in conformance-summary.txt conformance-newer-summary.txt; do
    if [ -f "$TARGET_DIR/tmp/$summary" ]; then
        cat "$TARGET_DIR/tmp/$summary"
    fi
done
