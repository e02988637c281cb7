"""End-to-end pricing workload for tollgate's integration tests (tests/integration/cost.rs).

Plain boto3 in us-east-1, no endpoint_url: run it under
`tollgate run --upstream http://127.0.0.1:PORT -- python pricing_workload.py OUT.json` with a moto
server on PORT. It makes a known set of billable (and some free and unpriced) calls:

- S3: CreateBucket; PutObject of objects in STANDARD (with and without StorageClass) and in
  STANDARD_IA; GetObject of each; ListObjectsV2; DeleteObject of each; DeleteBucket.
- DynamoDB, on-demand table: PutItem and GetItem of a ~3 KB and a ~5 KB item, with and without
  ReturnConsumedCapacity=TOTAL, eventually and strongly consistent; a GetItem of a missing key;
  CreateTable, DescribeTable, DeleteTable.
- SQS, standard queue: CreateQueue, GetQueueUrl, SendMessage of a small and of a 100 KiB message,
  ReceiveMessage until both are back, DeleteMessage of each, DeleteQueue.
- KMS: CreateKey, Encrypt several times with the symmetric key.
- STS: GetCallerIdentity. SNS: ListTopics.

It is the test's ground truth. Through botocore's event hooks it counts every HTTP attempt
(`before-send`) and every call (`after-call`), and for each call records what AWS bills it on,
computed here from AWS's published rules, independently of tollgate:

- S3: one request, and the storage class of the object it touches (the class asked for on a
  write; on a read, the class the object was stored in, which S3 also names in the response's
  x-amz-storage-class for anything but STANDARD).
- DynamoDB: the read or write request units from item sizes, whether or not the response
  carries a ConsumedCapacity (AWS's figure would be exact, but here moto answers, and moto's is
  made up)
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
  .../read-write-operations.html): a read is 1 RRU per 4 KB of the item, rounded up (a missing
  item still costs one), halved when eventually consistent; a write is 1 WRU per 1 KB of the item,
  rounded up. Both figures are recorded for every call.
- SQS: every action is a request, and each 64 KB (65,536 bytes) chunk of its payload is one more
  (https://aws.amazon.com/sqs/pricing/): a send's payload is its message body and attributes, a
  receive's the messages it returned; an action with no payload counts one.
- everything else: one request.

It also records the size of each response body (what data transfer out is billed on). Prices are
not here: the Rust test multiplies these quantities by AWS's published prices. Writes the record
as JSON to OUT.json (argv[1]) and exits non-zero if anything the workload checks goes wrong.
"""

import json
import os
import sys
import uuid
from decimal import Decimal

# Dummy credentials unless the caller gave some: nothing here may reach a real account.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import boto3  # noqa: E402

REGION = "us-east-1"
KB = 1024
SQS_CHUNK = 64 * KB

# S3 objects: key -> (storage class asked for, or None to leave it out; body size).
S3_OBJECTS = {
    "std/default.bin": (None, 1500),
    "std/explicit-1.bin": ("STANDARD", 20 * KB),
    "std/explicit-2.bin": ("STANDARD", 3),
    "ia/one.bin": ("STANDARD_IA", 10 * KB),
    "ia/two.bin": ("STANDARD_IA", 40 * KB + 7),
    "ia/three.bin": ("STANDARD_IA", 1),
}

ENCRYPTS = 4
STS_CALLS = 2
SNS_CALLS = 2
SQS_LARGE = 100 * KB  # two 64 KB chunks


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


# --- DynamoDB item sizes, from "DynamoDB item sizes and formats" (CapacityUnitCalculations) ---


def utf8_len(text):
    return len(text.encode("utf-8"))


def number_size(text):
    """(1 byte per two significant digits) + 1 byte; leading and trailing zeros are trimmed."""
    mantissa = text.lstrip("+-").lower().split("e")[0]
    digits = "".join(ch for ch in mantissa if ch.isdigit()).strip("0")
    significant = max(len(digits), 1)
    return (significant + 1) // 2 + 1


def value_size(value):
    """The size of one attribute value in the low-level form {"S": "..."}."""
    (kind, inner), = value.items()
    if kind == "S":
        return utf8_len(inner)
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(inner)  # the raw bytes (boto3 takes and returns bytes)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(utf8_len(s) for s in inner)
    if kind == "NS":
        return sum(number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    # List or Map: 3 bytes however many elements, plus 1 byte per element, plus the elements
    # (a map element's name counts like an attribute name).
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + utf8_len(name) + value_size(element) for name, element in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item):
    """The sum of the attribute names' and values' sizes."""
    return sum(utf8_len(name) + value_size(value) for name, value in item.items())


def ceil_div(n, d):
    return -(-n // d)


def read_units(size, consistent):
    units = Decimal(max(ceil_div(size, 4 * KB), 1))
    return units if consistent else units / 2


def write_units(size):
    return Decimal(max(ceil_div(size, KB), 1))


def reported_capacity(parsed, read):
    consumed = parsed.get("ConsumedCapacity")
    if consumed is None:
        return None
    specific = consumed.get("ReadCapacityUnits" if read else "WriteCapacityUnits")
    units = specific if specific is not None else consumed.get("CapacityUnits")
    # botocore parses the JSON number as a float; its repr is the shortest text that round-trips,
    # which is the decimal text DynamoDB sent.
    return Decimal(repr(units)) if units is not None else None


# --- SQS payloads ---


def sqs_message_size(message, body_key):
    size = utf8_len(message.get(body_key, ""))
    for name, attribute in (message.get("MessageAttributes") or {}).items():
        size += utf8_len(name) + utf8_len(attribute.get("DataType", ""))
        size += utf8_len(attribute.get("StringValue", ""))
        size += len(attribute.get("BinaryValue", b""))
    return size


def sqs_chunks(payload):
    return max(ceil_div(payload, SQS_CHUNK), 1)


class Recorder:
    """What botocore sent and got, through its event hooks, with what each call is billed on."""

    def __init__(self):
        self.attempts = {}
        self.calls = []
        self.object_classes = {}  # S3 key -> the class it was stored in

    def instrument(self, client):
        events = client.meta.events
        events.register("before-parameter-build", self.before_parameter_build)
        events.register("before-send", self.before_send)
        events.register("after-call", self.after_call)

    def before_parameter_build(self, params, model, context, **kwargs):
        context["tollgate_params"] = dict(params)

    def before_send(self, request, **kwargs):
        _, service, operation = kwargs["event_name"].split(".", 2)
        key = f"{service} {operation}"
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return None  # anything else would short-circuit the send

    def after_call(self, http_response, parsed, model, context, **kwargs):
        service = model.service_model.service_name
        operation = model.name
        params = context.get("tollgate_params", {})
        status = http_response.status_code
        record = {
            "service": service,
            "operation": operation,
            "status": status,
            "units": {"request": "1"},
        }
        # A streamed body (GetObject) is not read yet: the workload adds its size once it has.
        record["response_bytes"] = None if model.has_streaming_output else len(http_response.content)
        if service == "s3":
            self.s3_call(record, operation, params, http_response)
        elif service == "dynamodb":
            self.dynamodb_call(record, operation, params, parsed)
        elif service == "sqs":
            self.sqs_call(record, operation, params, parsed)
        self.calls.append(record)

    def s3_call(self, record, operation, params, http_response):
        answered = http_response.headers.get("x-amz-storage-class")
        record["response_storage_class"] = answered
        if operation == "PutObject":
            stored = params.get("StorageClass") or "STANDARD"
            self.object_classes[params["Key"]] = stored
            record["storage_class"] = stored
        elif operation in ("GetObject", "HeadObject", "DeleteObject"):
            record["storage_class"] = self.object_classes[params["Key"]]
        else:
            record["storage_class"] = None  # a bucket-level request

    def dynamodb_call(self, record, operation, params, parsed):
        if operation not in ("GetItem", "PutItem"):
            return
        read = operation == "GetItem"
        if read:
            item = parsed.get("Item")
            size = item_size(item) if item else 0
            from_sizes = read_units(size, params.get("ConsistentRead") is True)
        else:
            size = item_size(params["Item"])
            from_sizes = write_units(size)
        reported = reported_capacity(parsed, read)
        # Behind --upstream the answer is moto's, and its ConsumedCapacity is made up: what AWS
        # would bill is the units from item sizes, asked for or not.
        units = from_sizes
        unit = "read-request-unit" if read else "write-request-unit"
        record["units"] = {unit: str(units)}
        record["item_size"] = size
        record["consumed_capacity"] = {
            "present": reported is not None,
            "value": None if reported is None else str(reported),
            "from_sizes": str(from_sizes),
        }

    def sqs_call(self, record, operation, params, parsed):
        if operation == "SendMessage":
            payload = sqs_message_size(params, "MessageBody")
        elif operation == "ReceiveMessage":
            payload = sum(sqs_message_size(m, "Body") for m in parsed.get("Messages", []))
        else:
            payload = 0
        record["payload_bytes"] = payload
        record["units"] = {"chunk-64kb": str(sqs_chunks(payload))}


def run_s3(s3, recorder):
    bucket = f"tollgate-cost-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    bodies = {}
    for key, (storage_class, size) in S3_OBJECTS.items():
        body = os.urandom(size)
        extra = {"StorageClass": storage_class} if storage_class else {}
        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        bodies[key] = body
    for key, (storage_class, _) in S3_OBJECTS.items():
        answer = s3.get_object(Bucket=bucket, Key=key)
        got = answer["Body"].read()
        recorder.calls[-1]["response_bytes"] = len(got)
        check(got == bodies[key], f"GetObject {key}: the body differs from the one put")
        # Real S3 names the class of a read object in x-amz-storage-class for anything but
        # STANDARD, and tollgate reads it from there. moto does the same (checked here, so a moto
        # that stopped doing it fails loudly rather than changing the expected prices).
        answered = answer.get("StorageClass")
        if storage_class == "STANDARD_IA":
            check(answered == "STANDARD_IA", f"GetObject {key}: x-amz-storage-class {answered!r}")
        else:
            check(answered in (None, "STANDARD"), f"GetObject {key}: x-amz-storage-class {answered!r}")
    listed = s3.list_objects_v2(Bucket=bucket)
    check(
        sorted(item["Key"] for item in listed.get("Contents", [])) == sorted(S3_OBJECTS),
        "ListObjectsV2 did not list exactly the objects put",
    )
    for key in S3_OBJECTS:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


def dynamodb_item(key, text_bytes):
    # Names and small values of several types, so that the size rules for each count.
    return {
        "pk": {"S": key},
        "body": {"S": "x" * text_bytes},
        "n": {"N": "12345678"},  # 8 significant digits: 4 + 1 bytes
        "ok": {"BOOL": True},
        "tags": {"L": [{"S": "red"}, {"S": "blue"}]},
        "meta": {"M": {"owner": {"S": "tollgate"}}},
    }


def run_dynamodb(ddb):
    table = f"tollgate-cost-{uuid.uuid4().hex[:12]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    described = ddb.describe_table(TableName=table)["Table"]
    mode = described.get("BillingModeSummary", {}).get("BillingMode")
    check(mode == "PAY_PER_REQUEST", f"the table's billing mode is {mode!r}")

    # ~3 KB: 3 WRU to write, 1 RRU to read strongly (0.5 eventually).
    # ~5 KB: 5 WRU to write, 2 RRU to read strongly (1 eventually).
    items = {"small": dynamodb_item("small", 2900), "large": dynamodb_item("large", 4950)}
    sizes = {name: item_size(item) for name, item in items.items()}
    check(2 * KB < sizes["small"] <= 3 * KB, f"the small item is {sizes['small']} bytes")
    check(4 * KB < sizes["large"] <= 5 * KB, f"the large item is {sizes['large']} bytes")
    # moto (5.2.5) answers ReturnConsumedCapacity with 1.0 for any PutItem and 0.5 for any
    # GetItem, whatever the size or consistency, where DynamoDB would say 3 or 5 WRU and 0.5 to 2
    # RRU. What the response says is the billed figure all the same (tollgate must take it as is),
    # and the difference from the size-based figure shows which of the two tollgate used.
    for item in items.values():
        ddb.put_item(TableName=table, Item=item)
        # The same item again, asking for the consumed capacity.
        ddb.put_item(TableName=table, Item=item, ReturnConsumedCapacity="TOTAL")
    for name in items:
        key = {"pk": {"S": name}}
        for consistent in (False, True):
            for consumed in (False, True):
                extra = {"ReturnConsumedCapacity": "TOTAL"} if consumed else {}
                answer = ddb.get_item(
                    TableName=table, Key=key, ConsistentRead=consistent, **extra
                )
                check(answer.get("Item") == items[name], f"GetItem {name}: a different item")
    # The default consistency (eventual), and a key that is not there: still half a unit.
    ddb.get_item(TableName=table, Key={"pk": {"S": "large"}})
    answer = ddb.get_item(TableName=table, Key={"pk": {"S": "missing"}})
    check("Item" not in answer, "GetItem of a missing key found an item")
    ddb.delete_table(TableName=table)
    return sizes


def run_sqs(sqs):
    name = f"tollgate-cost-{uuid.uuid4().hex[:12]}"
    created = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    check(queue == created, f"GetQueueUrl gave {queue}, CreateQueue {created}")
    check(not queue.endswith(".fifo"), "the queue should be a standard queue")
    bodies = {"hello from tollgate", "y" * SQS_LARGE}
    for body in sorted(bodies):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    received = []
    for _ in range(10):
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        received.extend(answer.get("Messages", []))
        if len(received) >= len(bodies):
            break
    check({m["Body"] for m in received} == bodies, "did not receive back both messages")
    for message in received:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_queue(QueueUrl=queue)


def run_kms(kms):
    key = kms.create_key(Description="tollgate cost test")["KeyMetadata"]
    check(key.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT", f"key spec {key}")
    for index in range(ENCRYPTS):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=f"secret {index}".encode())


def main():
    if len(sys.argv) != 2:
        print("usage: pricing_workload.py OUT.json", file=sys.stderr)
        return 2
    out = sys.argv[1]
    session = boto3.Session(region_name=REGION)
    recorder = Recorder()
    clients = {}
    for service in ("s3", "dynamodb", "sqs", "kms", "sts", "sns"):
        clients[service] = session.client(service)
        recorder.instrument(clients[service])

    status = 0
    result = {}
    try:
        run_s3(clients["s3"], recorder)
        result["dynamodb_item_sizes"] = run_dynamodb(clients["dynamodb"])
        run_sqs(clients["sqs"])
        run_kms(clients["kms"])
        for _ in range(STS_CALLS):
            clients["sts"].get_caller_identity()
        for _ in range(SNS_CALLS):
            clients["sns"].list_topics()
        unread = [c for c in recorder.calls if c["response_bytes"] is None]
        check(not unread, f"calls whose response size was not recorded: {unread}")
        failed = [c for c in recorder.calls if not 200 <= c["status"] < 300]
        check(not failed, f"calls that failed: {failed}")
    except Failed as error:
        print(f"pricing_workload: FAILED: {error}", file=sys.stderr)
        status = 1
    result.update({"ok": status == 0, "attempts": recorder.attempts, "calls": recorder.calls})
    with open(out, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=2, sort_keys=True)
        file.write("\n")
    if status == 0:
        print(
            f"pricing_workload: ok: {len(recorder.calls)} calls, "
            f"{sum(recorder.attempts.values())} HTTP attempts"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
