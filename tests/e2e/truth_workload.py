"""Findings whose savings are true (issues 24 and 20), for tests/integration/findings_truth.rs.

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python truth_workload.py OUT.json` against moto.
It makes, in this order:

- S3 bucket DL: PutObject of a 6 MiB object, then `download_file` with 1 MiB chunks (s3transfer:
  a HeadObject, then 6 ranged GetObject of distinct ranges: not repeated calls), then REPEATS
  GetObject of one other object with the same `Range` (a repeat: the same range again).
- S3 bucket EARLY: 25 objects; a HeadObject of each of the 20 under `early/`, then one listing
  of `late/` (5 keys): no HEAD came after a listing that returned its key.
- S3 bucket LISTED: 25 objects under `data/`; one listing of `data/`, then a HeadObject of each
  listed key (a HEAD per listed key: exactly those 25 HEADs).
- SQS: CreateQueue, then RECEIVES ReceiveMessage with WaitTimeSeconds=0 on the empty queue
  (empty receives: never cacheable).

The ground truth is counted here with botocore's `before-send` event (every HTTP attempt, per
operation, and the `Range` header of each GetObject), and written as JSON to OUT.json (argv[1]).
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
from boto3.s3.transfer import TransferConfig  # noqa: E402

REGION = "us-east-1"
MIB = 1024 * 1024
BIG = 6 * MIB
CHUNK = 1 * MIB
REPEATS = 5
EARLY = 20
LATE = 5
LISTED = 25
RECEIVES = 5


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = {}
        self.ranges = []
        self.receive_times = []

    def attach(self, client):
        service = client.meta.service_model.endpoint_prefix

        def before_send(request, event_name=None, **kwargs):
            operation = (event_name or "").rsplit(".", 1)[-1]
            with self.lock:
                key = f"{service} {operation}"
                self.attempts[key] = self.attempts.get(key, 0) + 1
                if operation == "GetObject":
                    value = request.headers.get("Range")
                    if isinstance(value, bytes):
                        value = value.decode()
                    self.ranges.append(value)
                if operation == "ReceiveMessage":
                    self.receive_times.append(time.time())

        client.meta.events.register("before-send", before_send)


def main(out):
    recorder = Recorder()
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    recorder.attach(s3)
    recorder.attach(sqs)
    run = uuid.uuid4().hex[:8]
    dl, early, listed = f"truth-dl-{run}", f"truth-early-{run}", f"truth-listed-{run}"
    for bucket in (dl, early, listed):
        s3.create_bucket(Bucket=bucket)

    # Ranged reads of one object: distinct calls. The same range again: a repeat.
    s3.put_object(Bucket=dl, Key="big.bin", Body=os.urandom(BIG))
    s3.put_object(Bucket=dl, Key="small.bin", Body=b"x" * 1000)
    target = os.path.join(os.path.dirname(out), "big.bin")
    config = TransferConfig(
        multipart_threshold=CHUNK, multipart_chunksize=CHUNK, max_concurrency=2
    )
    s3.download_file(dl, "big.bin", target, Config=config)
    assert os.path.getsize(target) == BIG
    download_gets = recorder.attempts.get("s3 GetObject", 0)
    for _ in range(REPEATS):
        body = s3.get_object(Bucket=dl, Key="small.bin", Range="bytes=0-99")["Body"].read()
        assert len(body) == 100

    # HEADs first, a listing of other keys after: not a HEAD per listed key.
    for i in range(EARLY):
        s3.put_object(Bucket=early, Key=f"early/{i:03d}", Body=b"e")
    for i in range(LATE):
        s3.put_object(Bucket=early, Key=f"late/{i:03d}", Body=b"l")
    for i in range(EARLY):
        s3.head_object(Bucket=early, Key=f"early/{i:03d}")
    late = s3.list_objects_v2(Bucket=early, Prefix="late/")
    assert late["KeyCount"] == LATE, late["KeyCount"]

    # A listing, then a HEAD of each key it returned.
    for i in range(LISTED):
        s3.put_object(Bucket=listed, Key=f"data/part {i:03d}.parquet", Body=b"d")
    page = s3.list_objects_v2(Bucket=listed, Prefix="data/")
    keys = [item["Key"] for item in page["Contents"]]
    assert len(keys) == LISTED, len(keys)
    for key in keys:
        s3.head_object(Bucket=listed, Key=key)

    # Empty receives.
    queue = sqs.create_queue(QueueName=f"truth-{run}")["QueueUrl"]
    for _ in range(RECEIVES):
        answer = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
        assert not answer.get("Messages"), answer

    truth = {
        "ok": True,
        "buckets": {"dl": dl, "early": early, "listed": listed},
        "queue": queue,
        "attempts": recorder.attempts,
        "download_gets": download_gets,
        "ranges": recorder.ranges,
        "receive_span_s": recorder.receive_times[-1] - recorder.receive_times[0],
        "sizes": {
            "repeats": REPEATS,
            "early": EARLY,
            "late": LATE,
            "listed": LISTED,
            "receives": RECEIVES,
        },
    }
    with open(out, "w") as f:
        json.dump(truth, f, indent=1)
    print("truth_workload: ok")


if __name__ == "__main__":
    main(sys.argv[1])
