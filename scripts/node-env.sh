#!/usr/bin/env bash
# Installs what the Node SDK tests (tests/integration/node_sdk.rs, node_runners.rs) need, from npm,
# exactly as the lockfiles pin it: the AWS SDK for JavaScript v3 clients, jest and vitest
# (tests/node), and a second major Node and a third major release from npm's `node` package, which
# carries the binary (tests/node/node24, tests/node/node22). Needs Node and
# npm on PATH (scripts/install-test-deps.sh installs Debian's when missing); where that Node is
# older than 20 (Debian bookworm's is 18), Node 20 comes from npm too (tests/node/node20) and
# `scripts/test.sh` points the tests at it. A directory already installed from its current
# lockfile is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node-env: the Node SDK test needs Node 20 or later and npm on PATH" >&2
    echo "(Debian: apt-get install nodejs npm; or https://nodejs.org)" >&2
    exit 1
fi
dirs=(tests/node tests/node/node24 tests/node/node22)
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    dirs+=(tests/node/node20)
fi
for dir in "${dirs[@]}"; do
    # npm writes node_modules/.package-lock.json last: newer than the lockfile means installed.
    if [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
        continue
    fi
    echo "node-env: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
done
echo "node-env: node $(node --version), also $(tests/node/node24/node_modules/node/bin/node --version) and $(tests/node/node22/node_modules/node/bin/node --version)" >&2
