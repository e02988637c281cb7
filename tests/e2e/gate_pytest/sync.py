"""The code under test of the gate's per-test suite (tests/e2e/gate_pytest): a bucket copy that,
in the `grown` variant (TOLLGATE_GATE_VARIANT=grown), checks every listed key with a HEAD first,
the hot spot the gate must name by its line (`# callsite: head`)."""

import os


def copy_all(s3, bucket, keys):
    for i in range(keys):
        s3.put_object(Bucket=bucket, Key=f"src/{i}", Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="src/")["Contents"]
    for item in listed:
        if os.environ.get("TOLLGATE_GATE_VARIANT") == "grown":
            s3.head_object(Bucket=bucket, Key=item["Key"])  # callsite: head
    return len(listed)
