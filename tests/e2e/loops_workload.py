"""Paginator-loop workload with known ground truth, for tollgate's store tests
(tests/integration/store.rs).

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python loops_workload.py OUT.json` with a moto
server on PORT. It makes:

- S3: CreateBucket, PutObject of 1,050 keys (from a few threads), then a ListObjectsV2 paginator
  with MaxKeys=100 over all of them (11 pages: ten of 100, one of 50), then the same listing again
  from its start (a re-listing).
- DynamoDB: CreateTable, BatchWriteItem of SCAN_ITEMS items, a Scan paginator with Limit=10.
- EC2: INSTANCES RunInstances calls of one instance each (one reservation each), then a
  DescribeInstances paginator with MaxResults=5 (moto pages reservations; it wants MaxResults >= 5).

It is the test's ground truth, counted here and not by tollgate: botocore's `before-send` event
counts every HTTP attempt per (service, operation), retries included, and each paginator loop
records the pages it read and the items on each page (Contents, Items, Reservations). Writes them
as JSON to OUT.json (argv[1]) and exits non-zero if anything the workload checks goes wrong.
"""

import json
import os
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

# Dummy credentials unless the caller gave some: nothing here may reach a real account.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

REGION = "us-east-1"
OBJECTS = 1050
LIST_PAGE = 100
SCAN_ITEMS = 95
SCAN_LIMIT = 10
INSTANCES = 12
DESCRIBE_PAGE = 5
# An image moto knows (its bundled Amazon Linux AMIs); moto accepts it without a lookup.
IMAGE = "ami-12c6146b"


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


class Attempts:
    """Every HTTP attempt botocore makes, per (service, operation), via `before-send`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def attach(self, client):
        service = client.meta.service_model.endpoint_prefix

        def before_send(request, event_name=None, **kwargs):
            operation = (event_name or "").rsplit(".", 1)[-1]
            with self.lock:
                key = f"{service} {operation}"
                self.counts[key] = self.counts.get(key, 0) + 1
            # Anything but None would short-circuit the send.
            return None

        client.meta.events.register("before-send", before_send)
        return client

    def total(self):
        with self.lock:
            return sum(self.counts.values())


def run_loop(paginator, result_key, **kwargs):
    """Reads a whole listing; returns its pages and the items on each."""
    pages = []
    for page in paginator.paginate(**kwargs):
        pages.append(len(page.get(result_key, [])))
    return {"pages": len(pages), "items": sum(pages), "per_page": pages}


def main(out_path):
    attempts = Attempts()
    session = boto3.session.Session(region_name=REGION)
    # A few connections for the uploads' threads; standard retries (each attempt is counted).
    config = Config(max_pool_connections=16, retries={"mode": "standard"})
    s3 = attempts.attach(session.client("s3", config=config))
    dynamodb = attempts.attach(session.client("dynamodb", config=config))
    ec2 = attempts.attach(session.client("ec2", config=config))
    loops = {}

    # --- S3: 1,050 keys, listed twice from the start in pages of 100 ---
    bucket = f"tollgate-loops-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    keys = [f"data/{index:05d}.txt" for index in range(OBJECTS)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))
    paginator = s3.get_paginator("list_objects_v2")
    for name in ("list_objects_v2", "list_objects_v2_again"):
        loop = run_loop(
            paginator, "Contents", Bucket=bucket, PaginationConfig={"PageSize": LIST_PAGE}
        )
        check(loop["items"] == OBJECTS, f"{name}: listed {loop['items']} of {OBJECTS} keys")
        check(loop["pages"] == -(-OBJECTS // LIST_PAGE), f"{name}: {loop['pages']} pages")
        loops[name] = loop

    # --- DynamoDB: a Scan with a Limit ---
    table = f"tollgate-loops-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    items = [{"pk": {"S": f"item-{index:03d}"}, "n": {"N": str(index)}} for index in range(SCAN_ITEMS)]
    for start in range(0, SCAN_ITEMS, 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        answer = dynamodb.batch_write_item(RequestItems={table: batch})
        check(not answer.get("UnprocessedItems"), f"unprocessed items: {answer}")
    loop = run_loop(
        dynamodb.get_paginator("scan"),
        "Items",
        TableName=table,
        PaginationConfig={"PageSize": SCAN_LIMIT},
    )
    check(loop["items"] == SCAN_ITEMS, f"scan: {loop['items']} of {SCAN_ITEMS} items")
    loops["scan"] = loop

    # --- EC2: DescribeInstances in pages of MaxResults=5 ---
    for _ in range(INSTANCES):
        ec2.run_instances(ImageId=IMAGE, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    loop = run_loop(
        ec2.get_paginator("describe_instances"),
        "Reservations",
        PaginationConfig={"PageSize": DESCRIBE_PAGE},
    )
    check(loop["items"] == INSTANCES, f"describe_instances: {loop['items']} reservations")
    loops["describe_instances"] = loop

    record = {
        "ok": True,
        "bucket": bucket,
        "table": table,
        "attempts": attempts.counts,
        "total_attempts": attempts.total(),
        "loops": loops,
    }
    with open(out_path, "w") as out:
        json.dump(record, out, indent=2, sort_keys=True)
    print(f"loops_workload: ok, {attempts.total()} attempts")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Failed as error:
        sys.exit(f"loops_workload: {error}")
