"""A workload that carries secrets, for tollgate's store tests (tests/integration/store.rs).

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python secrets_workload.py OUT.json` with a moto
server on PORT. The caller gives it credentials that must never be stored — AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN — and marker strings in TOLLGATE_MARKERS (comma
separated), which it puts where only the request's or response's payload carries them:

- S3: object bodies (PutObject, read back by GetObject), an object tag (the `x-amz-tagging`
  header), user metadata (`x-amz-meta-note`, sent and read back by HeadObject), and a query
  parameter value (ListObjectsV2's `prefix`);
- DynamoDB: item attribute values, key and non-key (PutItem, GetItem, Query's
  ExpressionAttributeValues);
- SQS: message bodies and a message attribute value (SendMessage, ReceiveMessage).

Names that tollgate stores by design (bucket, table, queue) carry no marker. Every signature
botocore sent (the `Signature=` of each `Authorization` header) is collected through the
`before-send` event and written, with the attempt count, as JSON to OUT.json (argv[1]), so the
test can look for them too. Exits non-zero if anything the workload checks goes wrong.
"""

import json
import os
import sys
import threading
import uuid

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402

REGION = "us-east-1"


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


class Signatures:
    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = 0
        self.signatures = set()
        self.tokens_sent = 0

    def before_send(self, request, **kwargs):
        authorization = request.headers.get("Authorization")
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        with self.lock:
            self.attempts += 1
            if authorization and "Signature=" in authorization:
                self.signatures.add(authorization.split("Signature=", 1)[1].strip())
            if request.headers.get("X-Amz-Security-Token"):
                self.tokens_sent += 1
        return None


def main(out_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        check(os.environ.get(name), f"{name} is not set")
    markers = [m for m in os.environ.get("TOLLGATE_MARKERS", "").split(",") if m]
    check(len(markers) >= 12, f"need 12 markers in TOLLGATE_MARKERS, got {len(markers)}")
    signatures = Signatures()
    session = boto3.session.Session(region_name=REGION)
    s3, dynamodb, sqs = (session.client(name) for name in ("s3", "dynamodb", "sqs"))
    for client in (s3, dynamodb, sqs):
        client.meta.events.register("before-send", signatures.before_send)

    # --- S3 ---
    bucket = f"tollgate-secrets-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    key = f"plain/{uuid.uuid4().hex[:8]}.txt"
    body = f"body starts {markers[0]} body ends".encode()
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        Tagging=f"owner={markers[1]}",
        Metadata={"note": markers[2]},
    )
    got = s3.get_object(Bucket=bucket, Key=key)
    check(got["Body"].read() == body, "GetObject returned another body")
    head = s3.head_object(Bucket=bucket, Key=key)
    check(head["Metadata"].get("note") == markers[2], f"metadata: {head['Metadata']}")
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    check({"Key": "owner", "Value": markers[1]} in tags, f"tags: {tags}")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=markers[3])
    check(listed.get("KeyCount") == 0, f"prefix listing: {listed.get('KeyCount')}")
    # A second, larger body: the marker past the first bytes of the body.
    large = (b"x" * 100_000) + markers[4].encode() + (b"y" * 1000)
    s3.put_object(Bucket=bucket, Key="plain/large.bin", Body=large)
    check(
        s3.get_object(Bucket=bucket, Key="plain/large.bin")["Body"].read() == large,
        "large body",
    )

    # --- DynamoDB ---
    table = f"tollgate-secrets-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {
        "pk": {"S": markers[5]},
        "secret": {"S": f"value {markers[6]}"},
        "nested": {"M": {"deep": {"L": [{"S": markers[7]}]}}},
    }
    dynamodb.put_item(TableName=table, Item=item)
    got = dynamodb.get_item(TableName=table, Key={"pk": {"S": markers[5]}}, ConsistentRead=True)
    check(got.get("Item") == item, f"GetItem: {got.get('Item')}")
    queried = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": markers[5]}},
    )
    check(queried["Count"] == 1, f"Query: {queried['Count']}")

    # --- SQS ---
    queue = sqs.create_queue(QueueName=f"tollgate-secrets-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=f"message {markers[8]}",
        MessageAttributes={"note": {"DataType": "String", "StringValue": markers[9]}},
    )
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": "one", "MessageBody": markers[10]}, {"Id": "two", "MessageBody": markers[11]}],
    )
    bodies = set()
    for _ in range(10):
        answer = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        for message in answer.get("Messages", []):
            bodies.add(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if len(bodies) == 3:
            break
    check(
        bodies == {f"message {markers[8]}", markers[10], markers[11]},
        f"received {bodies}",
    )

    check(signatures.tokens_sent == signatures.attempts, "not every request carried the token")
    record = {
        "ok": True,
        "bucket": bucket,
        "table": table,
        "attempts": signatures.attempts,
        "signatures": sorted(signatures.signatures),
    }
    with open(out_path, "w") as out:
        json.dump(record, out, indent=2)
    print(f"secrets_workload: ok, {signatures.attempts} attempts")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Failed as error:
        sys.exit(f"secrets_workload: {error}")
