#!/usr/bin/env bash
# Creates .venv with the pinned packages of requirements-test.txt (boto3, moto[server]), and
# .venv-newer-botocore with the newer botocore of requirements-newer-botocore.txt (the
# conformance replay of a botocore newer than the bundled model), and .venv-datastack with the
# Python data stack of requirements-datastack.txt, and .venv-awscli with the AWS CLI v1 of
# requirements-awscli.txt. Re-installs only when a
# requirements file changes.
set -euo pipefail
cd "$(dirname "$0")/.."

# venv_with DIR REQUIREMENTS: DIR holds exactly what REQUIREMENTS pins.
venv_with() {
    local dir=$1 requirements=$2
    if [ ! -x "$dir/bin/python" ]; then
        echo "creating $dir for $requirements" >&2
        python3 -m venv "$dir"
    fi
    local stamp="$dir/.$(basename "$requirements")"
    if ! cmp -s "$requirements" "$stamp"; then
        echo "installing $requirements into $dir" >&2
        "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$stamp"
    fi
}

venv_with .venv requirements-test.txt
venv_with .venv-newer-botocore requirements-newer-botocore.txt
# The Python data stack (s3fs over aiobotocore, pandas, polars, pyarrow) for
# tests/integration/datastack.rs: a venv of its own, as aiobotocore pins an older botocore.
venv_with .venv-datastack requirements-datastack.txt
# The AWS CLI v1 for endpoint mode's test: its own venv, as it pins its own botocore.
venv_with .venv-awscli requirements-awscli.txt
