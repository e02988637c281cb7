#!/usr/bin/env bash
# See tollgate at work in one command, with no AWS account: a local moto server stands in for AWS.
#
#   scripts/demo.sh
#
# Sets up .venv (boto3 and moto, from requirements-test.txt), builds tollgate in release mode,
# starts moto on a free port, and runs examples/workload.py under
#
#   tollgate run --upstream http://127.0.0.1:PORT -- .venv/bin/python examples/workload.py
#
# The workload is a plain boto3 program with no endpoint_url: it believes it talks to AWS.
# tollgate intercepts its calls, sends them to moto, and prints its summary when the workload ends.
#
# Needs the Rust toolchain (cargo) and Python 3.9 or later with venv and pip. PYTHON=... picks the
# interpreter that makes .venv (default python3). tollgate keeps its local CA where it always
# does (TOLLGATE_HOME if set, else ~/.local/share/tollgate).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -t 2 ]]; then
    say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
else
    say() { printf '==> %s\n' "$*" >&2; }
fi
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

PYTHON=${PYTHON:-python3}
VENV_PYTHON=.venv/bin/python

command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install the Rust toolchain first (https://rustup.rs)"
command -v "$PYTHON" >/dev/null 2>&1 ||
    die "$PYTHON not found: install Python 3.9 or later, or set PYTHON=/path/to/python3"
[[ -f requirements-test.txt ]] ||
    die "requirements-test.txt is missing from $(pwd): run this from a complete checkout"

# 1. Python with boto3 and moto.
if [[ ! -x $VENV_PYTHON ]]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
        die "$PYTHON is $("$PYTHON" --version 2>&1); boto3 and moto need Python 3.9 or later"
    say "Creating .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv .venv ||
        die "'$PYTHON -m venv .venv' failed (on Debian or Ubuntu: apt install python3-venv)"
fi
say "Installing boto3 and moto into .venv (requirements-test.txt)"
"$VENV_PYTHON" -m pip install -q --disable-pip-version-check -r requirements-test.txt ||
    die "pip could not install requirements-test.txt into .venv"
[[ -x .venv/bin/moto_server ]] || die ".venv/bin/moto_server is missing after pip install"

# 2. tollgate.
say "Building tollgate (cargo build --release)"
cargo build --release
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    "$VENV_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
TOLLGATE=$TARGET_DIR/release/tollgate
TOLLGATE=${TOLLGATE#"$PWD"/}
[[ -x $TOLLGATE ]] || die "cargo build succeeded but $TOLLGATE is not there"

# 3. moto on a free port, stopped whatever happens next.
PORT=$("$VENV_PYTHON" -c '
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
')
MOTO_LOG=$(mktemp "${TMPDIR:-/tmp}/tollgate-demo-moto.XXXXXX")
MOTO_PID=
KEEP_MOTO_LOG=
stop_moto() {
    if [[ -n $MOTO_PID ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    [[ -n $KEEP_MOTO_LOG ]] || rm -f "$MOTO_LOG"
}
trap stop_moto EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "Starting moto on 127.0.0.1:$PORT (a local stand-in for AWS)"
.venv/bin/moto_server -H 127.0.0.1 -p "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
if ! "$VENV_PYTHON" - "$PORT" "$MOTO_PID" <<'EOF'; then
import os, sys, time, urllib.error, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("moto exited during startup")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # An HTTP answer of any kind: moto is up.
    except OSError:
        time.sleep(0.2)
sys.exit("moto did not answer within 30 s")
EOF
    printf -- '--- moto log ---\n' >&2
    tail -n 30 "$MOTO_LOG" >&2 || true
    die "moto did not start"
fi

# 4. The workload, through tollgate. Its environment holds no AWS settings of the user's (no
# profile, config file, endpoint or session), only dummy keys: every call goes to moto anyway,
# and nothing of a real account should be involved in a demo.
while IFS= read -r name; do
    unset "$name"
done < <(compgen -e | grep -E '^(AWS_|NO_PROXY$|no_proxy$)' || true)
export AWS_ACCESS_KEY_ID=AKIDTOLLGATEDEMO
export AWS_SECRET_ACCESS_KEY=tollgate-demo-not-a-secret
export AWS_DEFAULT_REGION=us-east-1
# Paths that do not exist: botocore reads them as empty.
export AWS_CONFIG_FILE="${MOTO_LOG}.no-aws-config"
export AWS_SHARED_CREDENTIALS_FILE="${MOTO_LOG}.no-aws-credentials"
export AWS_EC2_METADATA_DISABLED=true

# The demo's runs go to a database of their own, not your history.
DB=$TARGET_DIR/tollgate-demo.db
DB=${DB#"$PWD"/}
say "Running examples/workload.py under tollgate (its AWS calls go to moto)"
printf '    %s run --upstream http://127.0.0.1:%s --db %s --tag demo=workload -- %s examples/workload.py\n\n' \
    "$TOLLGATE" "$PORT" "$DB" "$VENV_PYTHON" >&2
status=0
"$TOLLGATE" run --upstream "http://127.0.0.1:$PORT" --db "$DB" --tag demo=workload \
    -- "$VENV_PYTHON" examples/workload.py || status=$?
if ((status != 0)); then
    KEEP_MOTO_LOG=1
    printf 'demo: the workload exited with status %s; moto'"'"'s log is in %s\n' \
        "$status" "$MOTO_LOG" >&2
    exit "$status"
fi
HTML=$TARGET_DIR/tollgate-demo.html
HTML=${HTML#"$PWD"/}
"$TOLLGATE" report --db "$DB" --last --format html -o "$HTML"
say "The same report as one HTML page: $HTML ($TOLLGATE report --db $DB --last --format html)"
say "Done. Profile your own program the same way: $TOLLGATE run -- <command>"
