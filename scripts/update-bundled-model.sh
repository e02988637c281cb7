#!/usr/bin/env bash
# Regenerates the bundled AWS model (models/aws-model.json) from the newest botocore on PyPI and
# says how far behind it was: releases, services and operations. Not part of the test run (CI
# stays deterministic: it checks the model against the pinned botocore, scripts/check-model.sh).
#
#   scripts/update-bundled-model.sh            # regenerate, and pin that botocore (and boto3)
#   scripts/update-bundled-model.sh --check    # only say how far behind the bundled model is
#
# Regenerating also pins the new botocore, and the boto3 of the same release, in
# requirements-test.txt, so that scripts/check-model.sh and the tests agree with the model.
# Commit models/aws-model.json and requirements-test.txt together. The conformance replay of a
# newer botocore (requirements-newer-botocore.txt) needs a release newer than the bundled one:
# the script says when there is none yet.
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
case "${1:-}" in
    "") ;;
    --check) check_only=1 ;;
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "installing the newest botocore and boto3 from PyPI into a scratch venv" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade botocore boto3
newest=$("$work/venv/bin/python" -c 'import botocore; print(botocore.__version__)')
boto3_newest=$("$work/venv/bin/python" -c 'import boto3; print(boto3.__version__)')
"$work/venv/bin/python" models/generate.py --out "$work/aws-model.json"

# How far behind: releases between the two (PyPI's list), and what the newer model adds.
releases=$("$work/venv/bin/pip" index versions botocore 2>/dev/null | sed -n 's/^Available versions: //p' || true)
"$work/venv/bin/python" - models/aws-model.json "$work/aws-model.json" "$releases" <<'PYTHON'
import json, sys

old_path, new_path, releases = sys.argv[1], sys.argv[2], sys.argv[3]
old, new = (json.load(open(path, encoding="utf-8")) for path in (old_path, new_path))


def key(version):
    return tuple(int("".join(c for c in part if c.isdigit()) or 0) for part in version.split("."))


def operations(model):
    return {(s["name"], o["name"]) for s in model["services"] for o in s["operations"]}


old_version, new_version = old["botocore_version"], new["botocore_version"]
behind = [v for v in releases.split(", ") if v and key(old_version) < key(v) <= key(new_version)]
old_ops, new_ops = operations(old), operations(new)
old_services = {s["name"] for s in old["services"]}
new_services = {s["name"] for s in new["services"]}
added = new_ops - old_ops
print(
    "bundled model: botocore %s; newest on PyPI: botocore %s (%s releases behind%s)"
    % (
        old_version,
        new_version,
        len(behind) if releases else "?",
        ": " + ", ".join(sorted(behind, key=key)) if behind else "",
    )
)
print(
    "  the newest adds %d services and %d operations (%d of them in services already known), "
    "and drops %d operations"
    % (
        len(new_services - old_services),
        len(added),
        len([op for op in added if op[0] in old_services]),
        len(old_ops - new_ops),
    )
)
new_names = sorted(new_services - old_services)
if new_names:
    print("  new services: " + ", ".join(new_names))
PYTHON

if [ "$check_only" = 1 ]; then
    exit 0
fi
bundled=$(sed -n 's/^botocore==//p' requirements-test.txt)
if [ "$bundled" = "$newest" ]; then
    echo "the bundled model is already botocore $newest's" >&2
    exit 0
fi
cp "$work/aws-model.json" models/aws-model.json
sed -i "s/^botocore==.*/botocore==$newest/; s/^boto3==.*/boto3==$boto3_newest/" requirements-test.txt
echo "models/aws-model.json is now botocore $newest's; requirements-test.txt pins botocore $newest, boto3 $boto3_newest" >&2
newer=$(sed -n 's/^botocore==//p' requirements-newer-botocore.txt)
if ! python3 -c 'import sys
key = lambda v: tuple(int("".join(c for c in p if c.isdigit()) or 0) for p in v.split("."))
sys.exit(0 if key(sys.argv[1]) > key(sys.argv[2]) else 1)' "$newer" "$newest"; then
    echo "note: requirements-newer-botocore.txt pins botocore $newer, not newer than the bundled" \
        "$newest: the conformance replay of a newer botocore needs a later release there" >&2
fi
