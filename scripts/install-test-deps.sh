#!/usr/bin/env bash
# System packages the tests need beyond the Rust toolchain and Python (see scripts/test.sh):
# Debian's `chromium`, for the HTML report test (tests/integration/html.rs), which opens the
# report in headless Chromium. Installs only what is missing; run as root (CI), or with sudo.
# Without a browser, TOLLGATE_SKIP_BROWSER_TESTS=1 skips that test instead (loudly).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium: present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: no apt-get here; install Chromium so that /usr/bin/chromium exists," >&2
    echo "or set TOLLGATE_SKIP_BROWSER_TESTS=1 to skip the browser test" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-test-deps: not root and no sudo: cannot install chromium" >&2
        exit 1
    fi
fi

echo "installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core ca-certificates >/dev/null
/usr/bin/chromium --version >&2
