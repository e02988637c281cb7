#!/usr/bin/env bash
# Checks that models/aws-model.json is exactly what models/generate.py makes from the pinned
# botocore (requirements-test.txt). To update the model: bump botocore there, then run
# `.venv/bin/python models/generate.py` and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/python-env.sh
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
.venv/bin/python models/generate.py --out "$fresh"
if ! cmp -s "$fresh" models/aws-model.json; then
    echo "models/aws-model.json differs from what models/generate.py generates:" >&2
    diff <(cut -c1-200 models/aws-model.json) <(cut -c1-200 "$fresh") | head -20 >&2
    echo "regenerate it: .venv/bin/python models/generate.py" >&2
    exit 1
fi
echo "models/aws-model.json matches botocore $(.venv/bin/python -c 'import botocore; print(botocore.__version__)')"
