"""An example test suite whose AWS calls `tollgate gate` watches (examples/ci/github-actions.yml).

Plain boto3 with default clients, as any suite writes it: under `tollgate run --upstream <moto>`
the calls go to a local moto server and are priced as if they were real.
"""

import os
import uuid

import boto3
import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

KEYS = 200


@pytest.fixture(scope="module")
def bucket():
    s3 = boto3.client("s3")
    name = f"inventory-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    for i in range(KEYS):
        s3.put_object(Bucket=name, Key=f"items/{i:05}.json", Body=b"{}")
    return name


def inventory(bucket_name):
    """What the code under test does: the size of every item, from one listing."""
    s3 = boto3.client("s3")
    sizes = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket_name, Prefix="items/"):
        for item in page.get("Contents", []):
            sizes[item["Key"]] = item["Size"]
    return sizes


def test_inventory_lists_every_item(bucket):
    assert len(inventory(bucket)) == KEYS


def test_every_item_is_json(bucket):
    assert set(inventory(bucket).values()) == {2}
