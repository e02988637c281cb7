"""A test suite's AWS calls, in variants, for the CI gate's end-to-end test
(tests/integration/gate.rs).

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python gate_workload.py VARIANT OUT.json` with a
moto server on PORT. The base suite uploads KEYS objects to a new bucket (8 threads), lists the
bucket twice with the default page size (1,000 keys), reads STATE items from DynamoDB one
GetItem at a time, and cleans up. The variants change one thing each:

- `base`, `same`: the suite as it is.
- `head`: a HeadObject for every key of the first listing (a call per key).
- `small-pages`: the listings ask for 100 keys a page (10x smaller than the default).
- `noisy`: 3 % more uploads (515 keys), as a suite whose work varies a little between runs.
- `cheaper`: 400 keys instead of 500.

Writes the calls botocore sent per operation (its `before-send` event) to OUT.json.
"""

import json
import os
import sys
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

# Dummy credentials unless the caller gave some: nothing here may reach a real account.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402

VARIANTS = {"base", "same", "head", "small-pages", "noisy", "cheaper"}
variant, out = sys.argv[1], sys.argv[2]
if variant not in VARIANTS:
    sys.exit(f"gate_workload: unknown variant {variant!r}; one of {sorted(VARIANTS)}")
keys = {"noisy": 515, "cheaper": 400}.get(variant, 500)
page_size = 100 if variant == "small-pages" else None
STATE = 20

sent = Counter()
lock = threading.Lock()


def count(event_name, **_):
    # before-send.<service>.<Operation>
    _, service, operation = event_name.split(".", 2)
    with lock:
        sent[f"{service} {operation}"] += 1


session = boto3.Session(region_name="us-east-1")
s3 = session.client("s3")
dynamodb = session.client("dynamodb")
for client in (s3, dynamodb):
    client.meta.events.register("before-send", count)

bucket = f"tollgate-gate-{uuid.uuid4().hex[:10]}"
table = f"tollgate-gate-{uuid.uuid4().hex[:10]}"
s3.create_bucket(Bucket=bucket)
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"k/{i:05}", Body=b"x" * 64), range(keys)))

listed = []
for listing in range(2):
    config = {"PageSize": page_size} if page_size else {}
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig=config):
        names += [o["Key"] for o in page.get("Contents", [])]
    assert len(names) == keys, (len(names), keys)
    listed.append(names)
if variant == "head":
    for name in listed[0]:
        s3.head_object(Bucket=bucket, Key=name)

dynamodb.create_table(
    TableName=table,
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
for i in range(STATE):
    dynamodb.get_item(TableName=table, Key={"id": {"S": f"job-{i}"}})
dynamodb.delete_table(TableName=table)

with open(out, "w") as f:
    json.dump({"variant": variant, "keys": keys, "sent": dict(sent)}, f, indent=1)
print("gate_workload: ok", variant)
