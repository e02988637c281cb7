"""Three tests for tollgate's call-site test (tests/integration/callsites.rs), run with pytest
under `tollgate run --upstream <moto>`: `report --by test` must give each its own calls. Each test
makes all of its calls itself (no shared fixture, whose setup would count for the first test):

- test_puts:    CreateBucket, PUTS PutObject
- test_heads:   CreateBucket, PutObject, HEADS HeadObject
- test_listing: CreateBucket, ListObjectsV2 LISTS times
"""

import os
import uuid

import boto3

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

PUTS = 4
HEADS = 3
LISTS = 2


def bucket(s3):
    name = f"tollgate-pytest-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def test_puts():
    s3 = boto3.client("s3", region_name="us-east-1")
    name = bucket(s3)
    for i in range(PUTS):
        s3.put_object(Bucket=name, Key=f"k{i}", Body=b"x")


def test_heads():
    s3 = boto3.client("s3", region_name="us-east-1")
    name = bucket(s3)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    for _ in range(HEADS):
        s3.head_object(Bucket=name, Key="k")


def test_listing():
    s3 = boto3.client("s3", region_name="us-east-1")
    name = bucket(s3)
    for _ in range(LISTS):
        s3.list_objects_v2(Bucket=name)
