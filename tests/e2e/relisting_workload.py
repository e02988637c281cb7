"""Re-listing and repeat workload for tollgate's test of one definition of each
(tests/integration/relisting.rs).

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python relisting_workload.py BUCKET LISTINGS CHECKS`
with a moto server on PORT. It creates BUCKET with 5 keys if it does not exist, then lists it
LISTINGS times from its start with a ListObjectsV2 paginator of 2 keys a page (3 pages each), and
asks STS who it is CHECKS times (the same GetCallerIdentity each time).
"""

import os
import sys

# Dummy credentials unless the caller gave some: nothing here may reach a real account.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402

bucket, listings, checks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s3 = boto3.client("s3", region_name="us-east-1")
existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
if bucket not in existing:
    s3.create_bucket(Bucket=bucket)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
for _ in range(listings):
    keys = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    ):
        keys += len(page.get("Contents", []))
    assert keys == 5, keys
sts = boto3.client("sts", region_name="us-east-1")
for _ in range(checks):
    sts.get_caller_identity()
print("relisting_workload: ok")
