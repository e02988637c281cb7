"""Listing pages far larger than tollgate's body capture (64 KiB), for tollgate's integration
tests (tests/integration/page_count.rs). Issue 13: a full 1,000-key S3 ListObjectsV2 page is
250 KB or more (400 KB here), and its items were always shown as unknown.

    big_pages.py fill ENDPOINT OUT.json     straight to moto (not through tollgate): a bucket of
                                            OBJECTS objects with long keys (about 400 bytes each
                                            in a listing), a DynamoDB table of ITEMS items of
                                            about 600 bytes each
    big_pages.py list OUT.json              plain boto3 in us-east-1, no endpoint_url: run it
                                            under `tollgate run --upstream http://127.0.0.1:PORT`
    big_pages.py broken OUT.json            the same, against an upstream that breaks off a
                                            ListObjectsV2 page mid-body and answers a Scan
                                            gzip-compressed

`list` reads the bucket with a ListObjectsV2 paginator at MaxKeys=1000 (pages of 1,000, 1,000 and
300 keys, each far over 64 KiB), then reads the same listing again out of order, to show that
tollgate links pages by their tokens: the first page (a re-listing), then the third page by the
token the first listing handed out for it (a loop picked up part-way, since the re-listing
expects another token), then the second and third pages by the re-listing's own tokens. Then a
DynamoDB Scan paginator with Limit=400 (pages of 400, 400 and 200 items, each far over 64 KiB).

Each page's size in bytes and its items are counted here (botocore's `after-call` event gives
the raw body) and written as JSON to OUT.json. Exits non-zero if anything the workload checks
goes wrong.
"""

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

# Dummy credentials unless the caller gave some: nothing here may reach a real account.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

REGION = "us-east-1"
BUCKET = "tollgate-big-pages"
OBJECTS = 2300
LIST_PAGE = 1000
TABLE = "tollgate-big-scan"
ITEMS = 1000
SCAN_LIMIT = 400
CAPTURE = 64 * 1024


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def key_for(index):
    # Long names, as real log and data-lake keys are: about 200 bytes each.
    return f"logs/year=2026/month=11/day=26/service=tollgate-e2e/{'partition-' * 10}{index:06d}.json.gz"


def fill(endpoint):
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint, config=config)
    s3.create_bucket(Bucket=BUCKET)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda index: s3.put_object(Bucket=BUCKET, Key=key_for(index), Body=b"x"),
                range(OBJECTS),
            )
        )
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint, config=config)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for start in range(0, ITEMS, 25):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"item-{index:06d}"},
                        "payload": {"S": "p" * 500},
                        "tags": {"L": [{"S": "a"}, {"N": str(index)}, {"M": {"k": {"BOOL": True}}}]},
                    }
                }
            }
            for index in range(start, min(start + 25, ITEMS))
        ]
        answer = dynamodb.batch_write_item(RequestItems={TABLE: requests})
        check(not answer.get("UnprocessedItems"), "BatchWriteItem left items unprocessed")
    return {"objects": OBJECTS, "items": ITEMS}


class Pages:
    """Each page's raw size and item count, from botocore's `after-call` event."""

    def __init__(self):
        self.pages = []

    def after_call(self, http_response, parsed, model, **kwargs):
        if model.name not in ("ListObjectsV2", "Scan"):
            return
        items = len(parsed.get("Contents", parsed.get("Items", [])))
        self.pages.append(
            {"operation": model.name, "bytes": len(http_response.content), "items": items}
        )


def list_pages():
    pages = Pages()
    s3 = boto3.client("s3", region_name=REGION)
    s3.meta.events.register("after-call", pages.after_call)
    tokens = []
    listed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, PaginationConfig={"PageSize": LIST_PAGE}
    ):
        listed += len(page.get("Contents", []))
        if page.get("NextContinuationToken"):
            tokens.append(page["NextContinuationToken"])
    check(listed == OBJECTS, f"listed {listed} objects, expected {OBJECTS}")
    check(len(tokens) == 2, f"{len(tokens)} tokens, expected 2")

    # The same listing again, out of order.
    first = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=LIST_PAGE)
    again = first["NextContinuationToken"]
    check(again != tokens[1], "the re-listing's first token is the first listing's second")
    jumped = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=LIST_PAGE, ContinuationToken=tokens[1])
    check(not jumped.get("IsTruncated"), "the page after the second token is the last")
    second = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=LIST_PAGE, ContinuationToken=again)
    third = s3.list_objects_v2(
        Bucket=BUCKET, MaxKeys=LIST_PAGE, ContinuationToken=second["NextContinuationToken"]
    )
    check(not third.get("IsTruncated"), "the re-listing has three pages")

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.meta.events.register("after-call", pages.after_call)
    scanned = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=TABLE, PaginationConfig={"PageSize": SCAN_LIMIT}
    ):
        scanned += len(page.get("Items", []))
    check(scanned == ITEMS, f"scanned {scanned} items, expected {ITEMS}")
    for page in pages.pages:
        if page["items"] >= 200:
            check(page["bytes"] > CAPTURE, f"a page of {page['bytes']} bytes is not over 64 KiB")
    return {"pages": pages.pages, "objects": OBJECTS, "items": ITEMS}


def broken():
    """A ListObjectsV2 page whose upstream breaks off mid-body, and a Scan page that comes
    gzip-compressed (which botocore, asking for neither, cannot read): each call fails here."""
    config = Config(retries={"total_max_attempts": 1})
    failures = {}
    for service, call in (
        ("s3", lambda client: client.list_objects_v2(Bucket=BUCKET, MaxKeys=LIST_PAGE)),
        ("dynamodb", lambda client: client.scan(TableName=TABLE)),
    ):
        client = boto3.client(service, region_name=REGION, config=config)
        try:
            call(client)
            failures[service] = None
        except Exception as error:  # noqa: BLE001 - any failure is the expected outcome
            failures[service] = type(error).__name__
    check(all(failures.values()), f"a broken page was read without an error: {failures}")
    return {"failures": failures}


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        if mode == "fill" and len(sys.argv) == 4:
            result, out = fill(sys.argv[2]), sys.argv[3]
        elif mode == "list" and len(sys.argv) == 3:
            result, out = list_pages(), sys.argv[2]
        elif mode == "broken" and len(sys.argv) == 3:
            result, out = broken(), sys.argv[2]
        else:
            print(
                "usage: big_pages.py fill ENDPOINT OUT.json | list OUT.json | broken OUT.json",
                file=sys.stderr,
            )
            return 2
    except Failed as error:
        print(f"big_pages: FAILED: {error}", file=sys.stderr)
        return 1
    result["ok"] = True
    with open(out, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=2, sort_keys=True)
        file.write("\n")
    print(f"big_pages {mode}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
