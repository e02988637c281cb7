"""Workload for the live metrics test (tests/integration/metrics.rs), with its own ground truth.

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT --metrics ADDR -- python metrics_workload.py
TRUTH.json RELEASE` with a moto server on PORT. It makes, over a few seconds (so that a
Prometheus scraping every second sees the counters grow):

- S3: CreateBucket, PutObject of OBJECTS keys and GetObject of each; in each of ROUNDS rounds a
  HeadObject of a missing key (a 404: an error) and a ListObjectsV2 paginator with
  MaxKeys=LIST_PAGE over the keys so far (a loop of pages).
- DynamoDB: CreateTable, PutItem and GetItem of ITEMS items.
- SQS: CreateQueue, SendMessage of MESSAGES messages, ReceiveMessage.
- STS: GetCallerIdentity.

The ground truth is counted here, not by tollgate: botocore's `before-send` event counts every
HTTP attempt per (service, operation), retries included. Writes it to TRUTH.json (argv[1]), then
waits (at most WAIT_LIMIT seconds) for the file RELEASE (argv[2]) to appear before it exits: the
test reads Prometheus while tollgate still serves, and lets the command end when it is done.
"""

import json
import os
import sys
import threading
import time
import uuid

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

REGION = "us-east-1"
OBJECTS = 24
LIST_PAGE = 5
ITEMS = 15
MESSAGES = 10
ROUNDS = 4
WAIT_LIMIT = 300


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
            return None

        client.meta.events.register("before-send", before_send)
        return client


def main(truth_path, release_path):
    attempts = Attempts()
    session = boto3.session.Session(region_name=REGION)
    config = Config(retries={"mode": "standard"})
    s3 = attempts.attach(session.client("s3", config=config))
    dynamodb = attempts.attach(session.client("dynamodb", config=config))
    sqs = attempts.attach(session.client("sqs", config=config))
    sts = attempts.attach(session.client("sts", config=config))

    bucket = f"tollgate-metrics-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    table = f"tollgate-metrics-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue = sqs.create_queue(QueueName=f"tollgate-metrics-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    sts.get_caller_identity()

    # In rounds a second apart: the rates the dashboards show need more than one scrape.
    pages = 0
    loops = 0
    put = 0
    for round_ in range(ROUNDS):
        for index in range(round_, OBJECTS, ROUNDS):
            key = f"data/{index:03d}.txt"
            s3.put_object(Bucket=bucket, Key=key, Body=key.encode() * 10)
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            put += 1
        for index in range(round_, ITEMS, ROUNDS):
            dynamodb.put_item(TableName=table, Item={"pk": {"S": f"item-{index}"}})
            dynamodb.get_item(TableName=table, Key={"pk": {"S": f"item-{index}"}})
        for index in range(round_, MESSAGES, ROUNDS):
            sqs.send_message(QueueUrl=queue, MessageBody=f"message {index}")
        # One error a round: a missing key.
        try:
            s3.head_object(Bucket=bucket, Key="missing")
            raise SystemExit("HeadObject of a missing key succeeded")
        except ClientError:
            pass
        # One paginator loop a round, over what is there so far.
        listed = 0
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": LIST_PAGE}
        ):
            pages += 1
            listed += len(page.get("Contents", []))
        loops += 1
        if listed != put:
            raise SystemExit(f"listed {listed} of {put} keys")
        time.sleep(1.0)
    sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)

    with open(truth_path + ".tmp", "w") as out:
        json.dump({"attempts": attempts.counts, "pages": pages, "loops": loops}, out, indent=2, sort_keys=True)
    os.rename(truth_path + ".tmp", truth_path)

    deadline = time.monotonic() + WAIT_LIMIT
    while not os.path.exists(release_path):
        if time.monotonic() > deadline:
            raise SystemExit(f"not released within {WAIT_LIMIT} s")
        time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
