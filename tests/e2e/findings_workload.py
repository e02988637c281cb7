"""Findings workload with known ground truth, for tollgate's findings test
(tests/integration/findings.rs).

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python findings_workload.py OUT.json`, where PORT
is the test's own forwarding server in front of moto (it answers the first GetObject of
THROTTLED_KEY with 503 SlowDown and the first DynamoDB PutItem with ThrottlingException, and
forwards everything else). It makes, in this order:

- S3: CreateBucket, PutObject of 1,050 keys (from a few threads), a ListObjectsV2 paginator with
  MaxKeys=100 over them (11 pages), then a HeadObject per listed key (small pages; HeadObject per
  listed key). Then PutObject and GetObject of THROTTLED_KEY: the GetObject is throttled once and
  retried by botocore (retries).
- DynamoDB: CreateTable, BatchWriteItem of 200 items (25 a call), a GetItem per key in a loop
  (fan-out), one PutItem, throttled once and retried (retries), then DescribeTable polled
  POLLS times, POLL_INTERVAL seconds apart (polling). No waiter: the only DescribeTable calls
  are the polling loop's.
- STS: GetCallerIdentity CALLER_IDENTITY times in a row (repeated calls).

It is the test's ground truth, counted here and not by tollgate: botocore's `before-send` event
counts every HTTP attempt per (service, operation) and the retries among them (the
`amz-sdk-request: attempt=N` header botocore sets on each attempt); `after-call` records the
response bytes of each final response; the paginator loop records its pages and items. Writes them
as JSON to OUT.json (argv[1]) and exits non-zero if anything the workload checks goes wrong.
"""

import json
import os
import re
import sys
import threading
import time
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
ITEMS = 200
POLLS = 8
POLL_INTERVAL = 0.3
CALLER_IDENTITY = 50
# The key whose first GetObject the test's forwarding server answers with 503 SlowDown.
THROTTLED_KEY = "throttle-me/report.json"


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


class Recorder:
    """Every HTTP attempt botocore makes, per (service, operation), via `before-send`; the retries
    among them; the times of the attempts; the bytes of the final responses (`after-call`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = {}
        self.retries = {}
        self.times = {}
        self.response_bytes = {}

    def attach(self, client):
        service = client.meta.service_model.endpoint_prefix
        events = client.meta.events

        def before_send(request, event_name=None, **kwargs):
            operation = (event_name or "").rsplit(".", 1)[-1]
            key = f"{service} {operation}"
            header = request.headers.get("amz-sdk-request") or b""
            if isinstance(header, bytes):
                header = header.decode()
            match = re.search(r"attempt=(\d+)", header)
            attempt = int(match.group(1)) if match else 1
            with self.lock:
                self.attempts[key] = self.attempts.get(key, 0) + 1
                if attempt > 1:
                    self.retries[key] = self.retries.get(key, 0) + 1
                self.times.setdefault(key, []).append(time.time())
            # Anything but None would short-circuit the send.
            return None

        def after_call(http_response, model, event_name=None, **kwargs):
            key = f"{service} {model.name}"
            size = None if model.has_streaming_output else len(http_response.content)
            with self.lock:
                sizes = self.response_bytes.setdefault(key, [])
                sizes.append(size)

        events.register("before-send", before_send)
        events.register("after-call", after_call)
        return client

    def total(self):
        with self.lock:
            return sum(self.attempts.values())


def run_s3(s3):
    bucket = f"tollgate-findings-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    keys = [f"data/{index:05d}.json" for index in range(OBJECTS)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))

    # A listing in pages of 100, then a HeadObject for every key it returned.
    listed = []
    per_page = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": LIST_PAGE}):
        contents = page.get("Contents", [])
        per_page.append(len(contents))
        listed.extend(entry["Key"] for entry in contents)
    check(sorted(listed) == keys, f"listed {len(listed)} of {OBJECTS} keys")
    check(len(per_page) == -(-OBJECTS // LIST_PAGE), f"{len(per_page)} pages: {per_page}")
    with ThreadPoolExecutor(max_workers=8) as pool:
        sizes = list(pool.map(lambda key: s3.head_object(Bucket=bucket, Key=key)["ContentLength"], listed))
    check(sizes == [len(key) for key in listed], "HeadObject sizes differ from the bodies")

    # One object whose first GetObject is answered 503 SlowDown: botocore retries it.
    body = b'{"report": true}'
    s3.put_object(Bucket=bucket, Key=THROTTLED_KEY, Body=body)
    got = s3.get_object(Bucket=bucket, Key=THROTTLED_KEY)
    check(got["Body"].read() == body, "the throttled GetObject returned another body")
    check(
        got["ResponseMetadata"].get("RetryAttempts") == 1,
        f"GetObject retried {got['ResponseMetadata'].get('RetryAttempts')} times, expected once",
    )
    return bucket, {"pages": len(per_page), "items": len(listed), "per_page": per_page}


def run_dynamodb(dynamodb):
    table = f"tollgate-findings-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    keys = [f"user-{index:03d}" for index in range(ITEMS)]
    for start in range(0, ITEMS, 25):
        batch = [
            {"PutRequest": {"Item": {"pk": {"S": key}, "n": {"N": str(start + offset)}}}}
            for offset, key in enumerate(keys[start : start + 25])
        ]
        answer = dynamodb.batch_write_item(RequestItems={table: batch})
        check(not answer.get("UnprocessedItems"), f"unprocessed items: {answer}")

    # One GetItem per key, where BatchGetItem would take 100 at a time.
    for index, key in enumerate(keys):
        item = dynamodb.get_item(TableName=table, Key={"pk": {"S": key}}).get("Item")
        check(item is not None and item["n"]["N"] == str(index), f"GetItem {key}: {item}")

    # One write, throttled once (ThrottlingException) and retried by botocore.
    answer = dynamodb.put_item(TableName=table, Item={"pk": {"S": "status"}, "state": {"S": "done"}})
    check(
        answer["ResponseMetadata"].get("RetryAttempts") == 1,
        f"PutItem retried {answer['ResponseMetadata'].get('RetryAttempts')} times, expected once",
    )

    # A hand-written polling loop: the same DescribeTable at a regular interval.
    for poll in range(POLLS):
        status = dynamodb.describe_table(TableName=table)["Table"]["TableStatus"]
        check(status == "ACTIVE", f"table status {status}")
        if poll + 1 < POLLS:
            time.sleep(POLL_INTERVAL)
    return table


def run_sts(sts):
    accounts = {sts.get_caller_identity()["Account"] for _ in range(CALLER_IDENTITY)}
    check(len(accounts) == 1, f"accounts {accounts}")


def main(out_path):
    recorder = Recorder()
    session = boto3.session.Session(region_name=REGION)
    # Standard retries: a throttled attempt is retried (and counted by before-send).
    config = Config(max_pool_connections=16, retries={"mode": "standard", "max_attempts": 5})
    s3 = recorder.attach(session.client("s3", config=config))
    dynamodb = recorder.attach(session.client("dynamodb", config=config))
    sts = recorder.attach(session.client("sts", config=config))

    bucket, listing = run_s3(s3)
    table = run_dynamodb(dynamodb)
    run_sts(sts)

    record = {
        "ok": True,
        "bucket": bucket,
        "table": table,
        "throttled_key": THROTTLED_KEY,
        "listing": listing,
        "attempts": recorder.attempts,
        "retries": recorder.retries,
        "total_attempts": recorder.total(),
        "response_bytes": recorder.response_bytes,
        "describe_table_times": recorder.times.get("dynamodb DescribeTable", []),
    }
    with open(out_path, "w") as out:
        json.dump(record, out, indent=2, sort_keys=True)
    print(f"findings_workload: ok, {recorder.total()} attempts")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Failed as error:
        sys.exit(f"findings_workload: {error}")
