"""boto3 reads for the head-then-get and overlapping-ranges findings' test
(tests/integration/datastack.rs): `head_object` then `get_object` of the same keys; ranged
`get_object` calls whose ranges overlap, one inside what was read and one repeated; and
`download_file` of an object big enough for s3transfer's ranged parts, which overlap nothing.

usage: ranged_reads.py BUCKET
"""

import os
import sys
import tempfile

import boto3

bucket = sys.argv[1]
s3 = boto3.client("s3", region_name="us-east-1")
heads = f"{bucket}-boto3"
s3.create_bucket(Bucket=heads)
for i in range(3):
    s3.put_object(Bucket=heads, Key=f"k{i}", Body=os.urandom(100_000))
for i in range(3):
    size = s3.head_object(Bucket=heads, Key=f"k{i}")["ContentLength"]
    assert len(s3.get_object(Bucket=heads, Key=f"k{i}")["Body"].read()) == size

s3.put_object(Bucket=heads, Key="ranged", Body=os.urandom(100_000))
for part in ["bytes=0-59999", "bytes=40000-99999", "bytes=10000-19999", "bytes=0-59999"]:
    s3.get_object(Bucket=heads, Key="ranged", Range=part)["Body"].read()

big = f"{bucket}-big"
s3.create_bucket(Bucket=big)
with tempfile.TemporaryDirectory() as scratch:
    path = os.path.join(scratch, "big")
    with open(path, "wb") as f:
        f.write(os.urandom(20 * 1024 * 1024))
    s3.upload_file(path, big, "big")
    s3.download_file(big, "big", path + ".back")
    assert os.path.getsize(path + ".back") == 20 * 1024 * 1024
print("ok")
