#!/usr/bin/env bash
# Runs `cargo ARGS...`. If cargo's first probe of rustc failed -- seen intermittently on this
# workplace's machines, where rustc was handed another process's diagnostics as its input -- the
# failure is cached in target/.rustc_info.json and every later cargo call fails the same way. Then
# the cached probe is cleared and the command runs once more. Any other failure is returned as is.
set -uo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo "$@" 2> >(tee "$log" >&2)
status=$?
wait
if [ "$status" -ne 0 ] && grep -q "to learn about target-specific information" "$log"; then
    echo "cargo could not probe rustc; clearing the cached probe and retrying once" >&2
    find . -path '*target*' -name .rustc_info.json -delete 2>/dev/null
    cargo "$@"
    status=$?
fi
exit "$status"
