"""The seed example, at 1/200 scale: listing a bucket is cheap, a HeadObject per key is not.

A common claim is that listing a bucket of a million objects costs $5 in LIST requests. It does
not: ListObjectsV2 returns up to 1,000 keys a page, so the listing is 1,000 Tier1 requests
($0.005). What costs money is a call per key: a HeadObject for each of the million keys is
1,000,000 Tier2 requests ($0.40), eighty times the listing. Here the bucket has 5,000 keys:

- phase A lists every key with a ListObjectsV2 paginator: 5 pages of 1,000, 5 requests,
  5 x $0.000005 = $0.000025;
- phase B calls HeadObject on each key: 5,000 requests, 5,000 x $0.0000004 = $0.002, 80 times
  phase A.

Against a local moto server, in two steps: fill the bucket directly (tollgate does not see it),
then run the two phases under tollgate:

    moto_server -p 5000 &
    python examples/seed_listing.py --setup --endpoint-url http://127.0.0.1:5000
    tollgate run --upstream http://127.0.0.1:5000 -- python examples/seed_listing.py

The profiled run is plain boto3 with no endpoint_url: it believes it talks to S3 in us-east-1.
It uses the credentials in the environment, dummy ones when there are none. Against a real account
(`--setup` without --endpoint-url, then `tollgate run -- python examples/seed_listing.py`) it would
create the bucket, put 5,000 small objects (5,000 PUTs, $0.025) and leave them there; `--cleanup`
deletes them (DELETE requests are free).
"""

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
    os.environ["AWS_ACCESS_KEY_ID"] = "AKIDTOLLGATESEED"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "tollgate-seed-not-a-secret"
    os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError, EndpointConnectionError
except ImportError:
    sys.exit("seed_listing.py needs boto3: pip install boto3 (scripts/demo.sh sets up a .venv with it)")

REGION = "us-east-1"
DEFAULT_BUCKET = "tollgate-seed-listing"
DEFAULT_KEYS = 5000


def client(endpoint_url, workers):
    # One connection per worker thread, so the threads do not queue for connections.
    config = Config(max_pool_connections=max(workers, 10), retries={"mode": "standard"})
    return boto3.session.Session(region_name=REGION).client(
        "s3", endpoint_url=endpoint_url, config=config
    )


def key_for(index):
    return f"records/{index // 1000:02d}/record-{index:05d}.json"


def wait_for(s3, endpoint_url, seconds=30):
    """A moto server started a moment ago may not answer yet."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            s3.list_buckets()
            return
        except EndpointConnectionError:
            if time.monotonic() > deadline:
                sys.exit(f"nothing answers at {endpoint_url}: is moto_server running there?")
            time.sleep(0.3)


def setup(args):
    s3 = client(args.endpoint_url, args.workers)
    if args.endpoint_url:
        wait_for(s3, args.endpoint_url)
    try:
        s3.create_bucket(Bucket=args.bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    started = time.monotonic()

    def put(index):
        body = f'{{"record": {index}}}\n'.encode()
        s3.put_object(Bucket=args.bucket, Key=key_for(index), Body=body)

    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(put, range(args.keys)))
    print(
        f"setup: put {args.keys} objects into s3://{args.bucket} "
        f"in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )


def profiled(args):
    s3 = client(None, args.workers)

    # Phase A: the listing. 1,000 keys a page (the default and the maximum).
    started = time.monotonic()
    keys, pages, listed_bytes = [], 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket):
        pages += 1
        for item in page.get("Contents", []):
            keys.append(item["Key"])
            listed_bytes += item["Size"]
    listing_seconds = time.monotonic() - started
    if not keys:
        sys.exit(
            f"s3://{args.bucket} is empty or missing: run with --setup first "
            "(see the top of this file)"
        )
    print(
        f"phase A: listed {len(keys)} keys in {pages} ListObjectsV2 pages "
        f"({listed_bytes} bytes of objects, sizes included) in {listing_seconds:.2f}s",
        file=sys.stderr,
    )

    # Phase B: what code often does next, one call per key (the sizes were in the listing).
    started = time.monotonic()

    def head(key):
        return s3.head_object(Bucket=args.bucket, Key=key)["ContentLength"]

    with ThreadPoolExecutor(args.workers) as pool:
        head_bytes = sum(pool.map(head, keys))
    print(
        f"phase B: HeadObject on each of the {len(keys)} keys ({head_bytes} bytes) "
        f"in {time.monotonic() - started:.2f}s",
        file=sys.stderr,
    )


def cleanup(args):
    s3 = client(args.endpoint_url, args.workers)
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=args.bucket, Delete={"Objects": objects, "Quiet": True})
            deleted += len(objects)
    s3.delete_bucket(Bucket=args.bucket)
    print(f"cleanup: deleted {deleted} objects and s3://{args.bucket}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--setup", action="store_true", help="create the bucket and its keys")
    mode.add_argument("--cleanup", action="store_true", help="delete the keys and the bucket")
    parser.add_argument(
        "--endpoint-url",
        help="for --setup/--cleanup: talk to this endpoint directly (moto), not through tollgate",
    )
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    parser.add_argument("--keys", type=int, default=DEFAULT_KEYS, help="for --setup")
    parser.add_argument(
        "--workers", type=int, default=8, help="threads making the PUTs and HEADs (default 8)"
    )
    args = parser.parse_args()
    if args.setup:
        setup(args)
    elif args.cleanup:
        cleanup(args)
    else:
        profiled(args)


if __name__ == "__main__":
    main()
