"""Endpoint mode's workload (issue 18), for tests/integration/endpoint_mode.rs.

Plain boto3 with default constructors, no endpoint_url in code: run it under
`tollgate run --endpoint --upstream URL -- python endpoint_workload.py OUT.json [MODE]`, which
sets AWS_ENDPOINT_URL. MODE `all` (the default) makes:

- S3: CreateBucket; PutObject of a small body and of a 6 MiB file (upload_file with a 5 MiB
  multipart threshold: CreateMultipartUpload, 2 UploadPart, CompleteMultipartUpload); ranged
  GetObject; ListObjectsV2 paginated 2 keys a page over 7 keys (4 pages); HeadObject;
  DeleteObjects.
- DynamoDB: CreateTable, PutItem x3, GetItem, Query.
- SQS: CreateQueue, SendMessage x2, ReceiveMessage.
- IAM (a global service: iam.amazonaws.com): ListUsers. STS: GetCallerIdentity.

MODE `other-key` makes one S3 ListBuckets with credentials given in code that differ from the
environment's: endpoint mode must refuse it and send nothing.

Ground truth is counted with botocore's `before-send` event (every HTTP attempt, per operation)
and written as JSON to OUT.json (argv[1]).
"""

import json
import os
import sys
import threading
import uuid

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

MIB = 1024 * 1024
REGION = os.environ.get("AWS_REGION", "us-east-1")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = {}

    def attach(self, client):
        service = client.meta.service_model.endpoint_prefix

        def before_send(request, event_name=None, **kwargs):
            operation = (event_name or "").rsplit(".", 1)[-1]
            with self.lock:
                key = f"{service} {operation}"
                self.attempts[key] = self.attempts.get(key, 0) + 1

        client.meta.events.register("before-send", before_send)
        return client


def everything(out, recorder):
    s3 = recorder.attach(boto3.client("s3"))
    dynamodb = recorder.attach(boto3.client("dynamodb"))
    sqs = recorder.attach(boto3.client("sqs"))
    iam = recorder.attach(boto3.client("iam"))
    sts = recorder.attach(boto3.client("sts"))
    run = uuid.uuid4().hex[:8]
    bucket = f"endpoint-{run}"

    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="small.txt", Body=b"hello endpoint mode")
    big = os.path.join(os.path.dirname(out), "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(6 * MIB))
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB,
                            max_concurrency=1)
    s3.upload_file(big, bucket, "big.bin", Config=config)
    part = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=100-199")["Body"].read()
    with open(big, "rb") as f:
        f.seek(100)
        assert part == f.read(100), "ranged read"
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"list/{i}", Body=b"x")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2})
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    assert len(keys) == 7, keys
    s3.head_object(Bucket=bucket, Key="small.txt")
    deleted = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]})
    assert len(deleted.get("Deleted", [])) == 7, deleted

    table = f"endpoint-{run}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(3):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "k1"}})["Item"]
    assert item["v"]["N"] == "1", item
    found = dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :k",
        ExpressionAttributeValues={":k": {"S": "k2"}})
    assert found["Count"] == 1, found

    queue = sqs.create_queue(QueueName=f"endpoint-{run}")["QueueUrl"]
    for i in range(2):
        sqs.send_message(QueueUrl=queue, MessageBody=f"message {i}")
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    assert received.get("Messages"), received

    iam.list_users()
    sts.get_caller_identity()
    return {"bucket": bucket}


def other_key(recorder):
    s3 = recorder.attach(boto3.client(
        "s3", aws_access_key_id="AKIDSOMEONEELSE00000",
        aws_secret_access_key="another-secret",
        config=botocore.config.Config(retries={"max_attempts": 1})))
    try:
        s3.list_buckets()
    except botocore.exceptions.ClientError as error:
        return {"error_code": error.response["Error"]["Code"],
                "message": error.response["Error"]["Message"]}
    return {"error_code": None}


def main():
    out = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "all"
    recorder = Recorder()
    result = everything(out, recorder) if mode == "all" else other_key(recorder)
    result["attempts"] = recorder.attempts
    result["endpoint_url"] = os.environ.get("AWS_ENDPOINT_URL")
    result["https_proxy"] = os.environ.get("HTTPS_PROXY")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("endpoint_workload: ok")


if __name__ == "__main__":
    import botocore.config  # noqa: F401

    main()
