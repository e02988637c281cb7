"""Three tests for the gate's per-test comparison (tests/integration/gate_tests.rs), run with
pytest under `tollgate run --upstream <moto>`, once per variant (TOLLGATE_GATE_VARIANT): only
test_copy_all changes between `base` and `grown` (a HEAD per key, made in sync.py). Each test
makes all of its calls itself, so each test's calls are exactly:

- test_copy_all: CreateBucket, KEYS PutObject, ListObjectsV2 (+ KEYS HeadObject when grown)
- test_puts:     CreateBucket, PUTS PutObject
- test_listing:  CreateBucket, LISTS ListObjectsV2
"""

import os
import sys
import uuid

import boto3

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import sync  # noqa: E402

KEYS = 40
PUTS = 5
LISTS = 3


def bucket(s3):
    name = f"tollgate-gate-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def test_copy_all():
    s3 = boto3.client("s3", region_name="us-east-1")
    assert sync.copy_all(s3, bucket(s3), KEYS) == KEYS


def test_puts():
    s3 = boto3.client("s3", region_name="us-east-1")
    name = bucket(s3)
    for i in range(PUTS):
        s3.put_object(Bucket=name, Key=f"k{i}", Body=b"x")


def test_listing():
    s3 = boto3.client("s3", region_name="us-east-1")
    name = bucket(s3)
    for _ in range(LISTS):
        s3.list_objects_v2(Bucket=name)
