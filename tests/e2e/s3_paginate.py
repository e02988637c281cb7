"""End-to-end S3 workload for tollgate's integration tests.

Plain boto3, no endpoint_url: the client believes it talks to AWS (us-east-1). Run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python s3_paginate.py OUT.json` with a moto
server on PORT, and tollgate forwards every call there while recording it as AWS traffic.

It creates a bucket, uploads objects (with `Expect: 100-continue`, as botocore sends them; a few
with awkward key names, one of 2 MiB, one in parts from several threads), lists them back with
ListObjectsV2 in pages of 25, reads some back, deletes some, and checks every answer.

It counts the HTTP requests botocore sends (every attempt, retries included) and writes them,
with the hosts they went to, as JSON to OUT.json (argv[1], else $S3_PAGINATE_OUT), so the test
can compare them with tollgate's summary. Exits non-zero on any mismatch.
"""

import hashlib
import io
import json
import os
import sys
import threading
import uuid
from urllib.parse import urlsplit

# Dummy credentials unless the caller gave some: nothing here may reach a real account.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

OBJECTS = 120
PAGE_SIZE = 25
MARKER = "tollgate-e2e-marker"
LARGE_BYTES = 200 * 1024
# botocore sends PutObject and UploadPart with `Expect: 100-continue` and waits up to a second
# for the 100 before sending the body; the multipart upload's parts go up at once on several
# connections from several threads.
EXPECT_BYTES = 2 * 1024 * 1024
MULTIPART_BYTES = 12 * 1024 * 1024
MULTIPART_PART = 5 * 1024 * 1024


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


class RequestCounter:
    """Counts each HTTP attempt botocore makes, via the client's before-send event."""

    def __init__(self):
        self.lock = threading.Lock()  # s3transfer sends from several threads.
        self.requests = 0
        self.hosts = set()
        self.operations = {}
        self.expect_continue = 0

    def before_send(self, request, **kwargs):
        host = urlsplit(request.url).hostname or ""
        operation = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        with self.lock:
            self.requests += 1
            self.hosts.add(host.lower())
            self.operations[operation] = self.operations.get(operation, 0) + 1
            if request.headers.get("Expect"):
                self.expect_continue += 1
        # Returning anything but None would short-circuit the send with that "response".
        return None


def body_for(index):
    text = f"object {index:04d}\n"
    if index % 10 == 0:
        text += f"{MARKER} {index}\n"
    return text.encode()


def key_for(index):
    # A few keys need percent-encoding in the path and in ListObjectsV2's continuation: a space,
    # non-ASCII, '=' and '&'. They check that the proxy forwards paths and queries untouched.
    if index % 40 == 7:
        return f"data/with space/é-{index:04d}=x&y.txt"
    return f"data/obj-{index:04d}.txt"


def list_all_keys(s3, bucket):
    keys = []
    pages = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(
        Bucket=bucket, Prefix="data/", PaginationConfig={"PageSize": PAGE_SIZE}
    ):
        pages += 1
        contents = page.get("Contents", [])
        check(
            len(contents) <= PAGE_SIZE,
            f"page {pages} has {len(contents)} keys, more than the page size {PAGE_SIZE}",
        )
        keys.extend(item["Key"] for item in contents)
    return keys, pages


def run(s3, counter):
    bucket = f"tollgate-e2e-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)

    expected = {}
    bytes_put = 0
    for index in range(OBJECTS):
        key, body = key_for(index), body_for(index)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain")
        expected[key] = body
        bytes_put += len(body)
    large = bytes(range(256)) * (LARGE_BYTES // 256)
    s3.put_object(Bucket=bucket, Key="blobs/large.bin", Body=large)
    bytes_put += len(large)

    expect_body = os.urandom(EXPECT_BYTES)
    s3.put_object(Bucket=bucket, Key="blobs/expect.bin", Body=expect_body)
    bytes_put += len(expect_body)
    multipart_body = os.urandom(MULTIPART_BYTES)
    transfer = TransferConfig(
        multipart_threshold=MULTIPART_PART, multipart_chunksize=MULTIPART_PART, max_concurrency=3
    )
    s3.upload_fileobj(
        io.BytesIO(multipart_body), bucket, "blobs/multipart.bin", Config=transfer
    )
    bytes_put += len(multipart_body)
    check(
        counter.operations.get("UploadPart", 0) == -(-MULTIPART_BYTES // MULTIPART_PART),
        f"the multipart upload sent {counter.operations.get('UploadPart', 0)} parts",
    )

    keys, pages = list_all_keys(s3, bucket)
    check(len(keys) == len(set(keys)), "ListObjectsV2 returned a key twice")
    check(
        set(keys) == set(expected),
        f"listed {len(keys)} keys; missing {sorted(set(expected) - set(keys))[:5]}, "
        f"unexpected {sorted(set(keys) - set(expected))[:5]}",
    )
    expected_pages = -(-OBJECTS // PAGE_SIZE)
    check(pages == expected_pages, f"{pages} pages, expected {expected_pages}")

    bytes_got = 0
    for index in (0, 7, 13, 110):
        key = key_for(index)
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        bytes_got += len(got)
        check(got == expected[key], f"{key}: got {got!r}, expected {expected[key]!r}")
        check((MARKER in got.decode()) == (index % 10 == 0), f"{key}: marker mismatch")
    got = s3.get_object(Bucket=bucket, Key="blobs/large.bin")["Body"].read()
    bytes_got += len(got)
    check(got == large, f"blobs/large.bin: got {len(got)} bytes, not the {len(large)} put")
    for key, body in (("blobs/expect.bin", expect_body), ("blobs/multipart.bin", multipart_body)):
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        bytes_got += len(got)
        check(
            hashlib.sha256(got).digest() == hashlib.sha256(body).digest(),
            f"{key}: got {len(got)} bytes that differ from the {len(body)} put",
        )

    doomed = [key_for(index) for index in range(0, OBJECTS, 12)]
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key} for key in doomed], "Quiet": False}
    )
    check(not answer.get("Errors"), f"DeleteObjects errors: {answer.get('Errors')}")
    deleted = {item["Key"] for item in answer.get("Deleted", [])}
    check(deleted == set(doomed), f"DeleteObjects deleted {len(deleted)} of {len(doomed)}")
    single = key_for(7)
    s3.delete_object(Bucket=bucket, Key=single)
    gone = set(doomed) | {single}

    try:
        s3.head_object(Bucket=bucket, Key=single)
        raise Failed(f"{single} is still there after DeleteObject")
    except ClientError as error:
        code = error.response["Error"]["Code"]
        check(code in ("404", "NoSuchKey"), f"HeadObject on a deleted key: {code}")

    keys, _ = list_all_keys(s3, bucket)
    remaining = set(expected) - gone
    check(
        set(keys) == remaining,
        f"after deleting, listed {len(keys)} keys, expected {len(remaining)}",
    )

    return {
        "bucket": bucket,
        "objects_put": OBJECTS + 3,
        "objects_deleted": len(gone),
        "objects_remaining": len(keys),
        "bytes_put": bytes_put,
        "bytes_got": bytes_got,
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("S3_PAGINATE_OUT")
    if not out:
        print("usage: s3_paginate.py OUT.json (or set S3_PAGINATE_OUT)", file=sys.stderr)
        return 2

    s3 = boto3.client("s3", region_name="us-east-1")
    counter = RequestCounter()
    s3.meta.events.register("before-send", counter.before_send)

    status = 0
    result = {}
    try:
        result = run(s3, counter)
    except Failed as error:
        print(f"s3_paginate: FAILED: {error}", file=sys.stderr)
        status = 1
    result.update(
        {
            "ok": status == 0,
            "requests": counter.requests,
            "hosts": sorted(counter.hosts),
            "operations": counter.operations,
            "expect_continue": counter.expect_continue,
        }
    )
    with open(out, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=2, sort_keys=True)
        file.write("\n")
    if status == 0:
        print(
            f"s3_paginate: ok: {result['objects_put']} objects put, "
            f"{result['objects_remaining']} left after deleting {result['objects_deleted']}, "
            f"{counter.requests} HTTP requests to {', '.join(sorted(counter.hosts))}"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
