"""Call-site workload for tollgate's call-site test (tests/integration/callsites.rs).

Plain boto3 in us-east-1, no endpoint_url, run under `tollgate run --upstream <moto>`. Each hot
spot is on a line marked `# callsite: NAME`; the test finds the lines by their markers, so the
file may change shape. Counts (the test's ground truth, from the constants below):

- put:        PutObject in a loop, PUTS calls
- collection: a resource collection (bucket.objects.page_size(PAGE)), PUTS / PAGE pages of
              ListObjects
- upload:     upload_file of UPLOAD_PARTS parts (a small multipart threshold): CreateMultipartUpload,
              UPLOAD_PARTS UploadPart, CompleteMultipartUpload, all made in s3transfer's threads
- helper:     head() called from two places: HEAD_A calls from `head-a`, HEAD_B from `head-b`;
              the call site is the line inside the helper, HEAD_A + HEAD_B calls
- paginator:  a ListObjectsV2 paginator with MaxKeys=PAGE: PUTS / PAGE pages
- setup:      CreateBucket
"""

import os
import sys
import tempfile
import uuid

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402

BUCKET = f"tollgate-callsites-{uuid.uuid4().hex[:12]}"
PUTS = 12
PAGE = 4
UPLOAD_PARTS = 3
HEAD_A = 3
HEAD_B = 2
MIB = 1024 * 1024


def head(client, key):
    return client.head_object(Bucket=BUCKET, Key=key)  # callsite: helper


def main():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)  # callsite: setup
    for i in range(PUTS):
        s3.put_object(Bucket=BUCKET, Key=f"k/{i:03d}", Body=b"x")  # callsite: put

    bucket = boto3.resource("s3", region_name="us-east-1").Bucket(BUCKET)
    listed = [obj.key for obj in bucket.objects.page_size(PAGE)]  # callsite: collection
    assert len(listed) == PUTS, listed

    for i in range(HEAD_A):
        head(s3, f"k/{i:03d}")  # callsite: head-a
    for i in range(HEAD_B):
        head(s3, f"k/{i:03d}")  # callsite: head-b

    pages = 0
    paginator = s3.get_paginator("list_objects_v2")
    for _ in paginator.paginate(Bucket=BUCKET, PaginationConfig={"PageSize": PAGE}):  # callsite: paginator
        pages += 1
    assert pages == PUTS // PAGE, pages

    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "big.bin")
        with open(path, "wb") as out:
            out.write(b"\0" * (UPLOAD_PARTS * 5 * MIB))
        config = TransferConfig(
            multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2
        )
        s3.upload_file(path, BUCKET, "big.bin", Config=config)  # callsite: upload


if __name__ == "__main__":
    main()
    print("callsites_workload: ok")
    sys.exit(0)
