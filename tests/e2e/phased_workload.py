"""A workload in three phases that waits between them, for tests that change the world while a
run records (tests/integration/postgres.rs stops the PostgreSQL server during phase 2).

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python phased_workload.py CONTROL_DIR CALLS`
with a moto server on PORT. Each phase makes CALLS ListBuckets calls, then writes
CONTROL_DIR/phaseN.done and waits for CONTROL_DIR/goN+1 before the next phase (at most 120 s).
Writes the calls botocore sent per phase (its `before-send` event) to CONTROL_DIR/truth.json.
"""

import json
import os
import sys
import time

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402

control, calls = sys.argv[1], int(sys.argv[2])
sent = {"phase": 0, "per_phase": [0, 0, 0]}


def count(**_):
    sent["per_phase"][sent["phase"]] += 1


s3 = boto3.Session(region_name="us-east-1").client("s3")
s3.meta.events.register("before-send", count)


def wait_for(name):
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(control, name)):
        if time.monotonic() > deadline:
            sys.exit(f"phased_workload: {name} never came")
        time.sleep(0.05)


for phase in range(3):
    if phase > 0:
        wait_for(f"go{phase + 1}")
    sent["phase"] = phase
    for _ in range(calls):
        s3.list_buckets()
    open(os.path.join(control, f"phase{phase + 1}.done"), "w").close()

with open(os.path.join(control, "truth.json"), "w") as f:
    json.dump(sent, f)
print("phased_workload: ok")
