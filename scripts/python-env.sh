#!/usr/bin/env bash
# Creates .venv with the pinned packages of requirements-test.txt (boto3, moto[server]).
# Re-installs only when requirements-test.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    echo "creating .venv for the Python test packages" >&2
    python3 -m venv .venv
fi
stamp=.venv/.requirements-test.txt
if ! cmp -s requirements-test.txt "$stamp"; then
    echo "installing requirements-test.txt into .venv" >&2
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
    cp requirements-test.txt "$stamp"
fi
