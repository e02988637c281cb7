#!/usr/bin/env bash
# System packages the tests need beyond the Rust toolchain and Python (see scripts/test.sh):
# Debian's `chromium`, for the HTML report test (tests/integration/html.rs), which opens the
# report in headless Chromium; and Debian's `prometheus` (with `promtool`), for the live metrics
# test (tests/integration/metrics.rs), which has a real Prometheus scrape `tollgate run
# --metrics` and evaluate the dashboards' queries. Installs only what is missing; run as root
# (CI), or with sudo. Without them, TOLLGATE_SKIP_BROWSER_TESTS=1 and
# TOLLGATE_SKIP_PROMETHEUS_TESTS=1 skip those tests instead (loudly).
set -euo pipefail

packages=()
if [ -x /usr/bin/chromium ]; then
    echo "chromium: present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))" >&2
else
    packages+=(chromium fonts-dejavu-core)
fi
if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then
    echo "prometheus: present ($(/usr/bin/prometheus --version 2>&1 | head -1))" >&2
else
    packages+=(prometheus)
fi
if [ ${#packages[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: no apt-get here; install ${packages[*]} (so that /usr/bin/chromium," >&2
    echo "/usr/bin/prometheus and /usr/bin/promtool exist), or set TOLLGATE_SKIP_BROWSER_TESTS=1" >&2
    echo "and TOLLGATE_SKIP_PROMETHEUS_TESTS=1 to skip the tests that need them" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-test-deps: not root and no sudo: cannot install ${packages[*]}" >&2
        echo "(install them, or set TOLLGATE_SKIP_BROWSER_TESTS=1 / TOLLGATE_SKIP_PROMETHEUS_TESTS=1)" >&2
        exit 1
    fi
    sudo=(sudo)
    # Outside CI, root is the user's to give: ask, and never without a terminal to ask at.
    if [ "${CI:-}" != "true" ]; then
        if [ ! -t 0 ]; then
            echo "install-test-deps: the tests need Debian's ${packages[*]}, installed with" >&2
            echo "  sudo apt-get install ${packages[*]}" >&2
            echo "run that, or set TOLLGATE_SKIP_BROWSER_TESTS=1 / TOLLGATE_SKIP_PROMETHEUS_TESTS=1" >&2
            echo "to skip the tests that need them" >&2
            exit 1
        fi
        read -r -p "The tests need Debian's ${packages[*]}: install now with sudo apt-get? [y/N] " answer
        case "$answer" in
            y | Y | yes) ;;
            *)
                echo "not installed; set TOLLGATE_SKIP_BROWSER_TESTS=1 / TOLLGATE_SKIP_PROMETHEUS_TESTS=1" >&2
                exit 1
                ;;
        esac
    fi
fi

echo "installing ${packages[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" ca-certificates >/dev/null
if [ -x /usr/bin/chromium ]; then /usr/bin/chromium --version >&2; fi
if [ -x /usr/bin/prometheus ]; then /usr/bin/prometheus --version 2>&1 | head -1 >&2; fi
