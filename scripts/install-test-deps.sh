#!/usr/bin/env bash
# System packages the tests need beyond the Rust toolchain and Python (see scripts/test.sh):
# Debian's `chromium`, for the HTML report test (tests/integration/html.rs), which opens the
# report in headless Chromium; `postgresql`, for the shared-store tests; `nodejs`/`npm` for the
# JavaScript SDK tests; `golang-go` and `golang-github-aws-aws-sdk-go-v2-dev` for the Go SDK tests
# (tests/integration/go_sdk.rs builds its workload offline against the packaged SDK); and
# `prometheus` (with `promtool`), for the live metrics test
# (tests/integration/metrics.rs), which has a real Prometheus scrape `tollgate run --metrics` and
# evaluate the dashboards' queries. Installs only what is missing; run as root (CI), or with
# sudo. Without them, TOLLGATE_SKIP_BROWSER_TESTS=1 and TOLLGATE_SKIP_PROMETHEUS_TESTS=1 skip
# those tests instead (loudly).
set -euo pipefail

# What is missing, as Debian packages.
missing=()
if [ -x /usr/bin/chromium ]; then
    echo "chromium: present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))" >&2
else
    missing+=(chromium fonts-dejavu-core)
fi
# PostgreSQL's server, for the shared-store tests (tests/integration/postgres.rs), which make a
# throwaway cluster with initdb/pg_ctl in a temporary directory.
if compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null 2>&1; then
    echo "postgresql: present" >&2
else
    missing+=(postgresql)
fi
if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then
    echo "prometheus: present ($(/usr/bin/prometheus --version 2>&1 | head -1))" >&2
else
    missing+=(prometheus)
fi
# Node and npm, for the AWS SDK for JavaScript tests (scripts/node-env.sh takes Node 20 from npm
# where Debian's is older).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
else
    echo "node: present ($(node --version))" >&2
fi
# Go and the AWS SDK for Go v2 sources (GOPATH mode, no module download: the tests run offline).
if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/github.com/aws/aws-sdk-go-v2/config ]; then
    echo "go: present ($(go version)), with the AWS SDK for Go v2 sources" >&2
else
    missing+=(golang-go golang-github-aws-aws-sdk-go-v2-dev)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: no apt-get here; install ${missing[*]} (Chromium as /usr/bin/chromium," >&2
    echo "PostgreSQL's server binaries), or set TOLLGATE_SKIP_BROWSER_TESTS=1 to skip the browser test" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-test-deps: not root and no sudo: cannot install ${missing[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
    # Outside CI, root is the user's to give: ask, and never without a terminal to ask at.
    if [ "${CI:-}" != "true" ]; then
        if [ ! -t 0 ]; then
            echo "install-test-deps: the tests need Debian's ${missing[*]}, installed with" >&2
            echo "  sudo apt-get install ${missing[*]}" >&2
            exit 1
        fi
        read -r -p "The tests need Debian's ${missing[*]}: install now with sudo apt-get? [y/N] " answer
        case "$answer" in
            y | Y | yes) ;;
            *)
                echo "not installed; set TOLLGATE_SKIP_BROWSER_TESTS=1 to skip the browser test" >&2
                exit 1
                ;;
        esac
    fi
fi

echo "installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" ca-certificates >/dev/null
if [ -x /usr/bin/chromium ]; then /usr/bin/chromium --version >&2; fi
