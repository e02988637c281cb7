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
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-test-deps: not root and no sudo: cannot install chromium" >&2
        echo "(install it so that /usr/bin/chromium exists, or set TOLLGATE_SKIP_BROWSER_TESTS=1)" >&2
        exit 1
    fi
    sudo=(sudo)
    # Outside CI, root is the user's to give: ask, and never without a terminal to ask at.
    if [ "${CI:-}" != "true" ]; then
        if [ ! -t 0 ]; then
            echo "install-test-deps: the HTML report test needs Debian's chromium, installed with" >&2
            echo "  sudo apt-get install chromium fonts-dejavu-core" >&2
            echo "run that, or set TOLLGATE_SKIP_BROWSER_TESTS=1 to skip that one test" >&2
            exit 1
        fi
        read -r -p "The HTML report test needs Debian's chromium: install it now with sudo apt-get? [y/N] " answer
        case "$answer" in
            y | Y | yes) ;;
            *)
                echo "not installed; set TOLLGATE_SKIP_BROWSER_TESTS=1 to skip the browser test" >&2
                exit 1
                ;;
        esac
    fi
fi

echo "installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core ca-certificates >/dev/null
/usr/bin/chromium --version >&2
