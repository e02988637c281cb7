"""A small "nightly sync job", written the way such jobs often are, to show what tollgate sees.

Plain boto3 with no endpoint_url: run it under tollgate, e.g. against a local moto server

    tollgate run --upstream http://127.0.0.1:5000 -- python examples/workload.py

(`scripts/demo.sh` does all of that for you). What it does, and the habits tollgate makes visible:

- uploads a batch of records to S3, lists them back in small pages, and then calls HeadObject
  on every key to read its size (an N+1 pattern: the listing already had the sizes);
- keeps its sync state in DynamoDB and reads it back with one GetItem per item (BatchGetItem
  would do it in one call per 100);
- asks STS "who am I" before every step;
- passes a few notifications through an SQS queue;
- removes everything it created.

It uses the credentials in the environment, and dummy ones when there are none. Do not point it
at a real account unless you mean to: it creates (and then deletes) a bucket, a table and a queue.
"""

import os
import sys
import time
import uuid

if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
    os.environ["AWS_ACCESS_KEY_ID"] = "AKIDTOLLGATEDEMO"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "tollgate-demo-not-a-secret"
    os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

try:
    import boto3
except ImportError:
    sys.exit("workload.py needs boto3: pip install boto3 (scripts/demo.sh sets up a .venv with it)")

REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
RECORDS = 250
LIST_PAGE = 25
STATE_ITEMS = 40
MESSAGES = 5


class Job:
    def __init__(self):
        session = boto3.Session(region_name=REGION)
        self.s3 = session.client("s3")
        self.dynamodb = session.client("dynamodb")
        self.sts = session.client("sts")
        self.sqs = session.client("sqs")
        run_id = uuid.uuid4().hex[:10]
        self.bucket = f"tollgate-demo-sync-{run_id}"
        self.table = f"tollgate-demo-state-{run_id}"
        self.queue = f"tollgate-demo-events-{run_id}"
        self.identity_checks = 0

    def whoami(self):
        # The "defensive" identity check many jobs do before each step.
        self.identity_checks += 1
        return self.sts.get_caller_identity()["Account"]

    def upload(self):
        self.whoami()
        if REGION == "us-east-1":
            self.s3.create_bucket(Bucket=self.bucket)
        else:
            self.s3.create_bucket(
                Bucket=self.bucket,
                CreateBucketConfiguration={"LocationConstraint": REGION},
            )
        for index in range(RECORDS):
            body = f'{{"record": {index}, "payload": "{"x" * (index % 50)}"}}\n'
            self.s3.put_object(
                Bucket=self.bucket,
                Key=f"records/{index // 100:02d}/record-{index:05d}.json",
                Body=body.encode(),
                ContentType="application/json",
            )

    def verify(self):
        """Lists the records in small pages, then asks S3 for each one's size again."""
        self.whoami()
        pages, total_bytes, keys = 0, 0, []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self.bucket, Prefix="records/", PaginationConfig={"PageSize": LIST_PAGE}
        ):
            pages += 1
            keys.extend(item["Key"] for item in page.get("Contents", []))
        for key in keys:  # N+1: each listed item already carried its Size.
            total_bytes += self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        if len(keys) != RECORDS:
            raise RuntimeError(f"listed {len(keys)} records, uploaded {RECORDS}")
        return pages, len(keys), total_bytes

    def state(self):
        """Saves a checkpoint per shard in DynamoDB, then reads them back one at a time."""
        self.whoami()
        self.dynamodb.create_table(
            TableName=self.table,
            AttributeDefinitions=[{"AttributeName": "shard", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "shard", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        shards = [f"shard-{index:03d}" for index in range(STATE_ITEMS)]
        for start in range(0, len(shards), 25):
            self.dynamodb.batch_write_item(
                RequestItems={
                    self.table: [
                        {"PutRequest": {"Item": {"shard": {"S": shard}, "offset": {"N": "0"}}}}
                        for shard in shards[start : start + 25]
                    ]
                }
            )
        found = 0
        for shard in shards:  # One GetItem per item: BatchGetItem takes 100 at a time.
            item = self.dynamodb.get_item(TableName=self.table, Key={"shard": {"S": shard}})
            found += "Item" in item
        if found != STATE_ITEMS:
            raise RuntimeError(f"read back {found} checkpoints, wrote {STATE_ITEMS}")
        return found

    def notify(self):
        self.whoami()
        url = self.sqs.create_queue(QueueName=self.queue)["QueueUrl"]
        for index in range(MESSAGES):
            self.sqs.send_message(QueueUrl=url, MessageBody=f"batch {index} synced")
        received = 0
        deadline = time.monotonic() + 10
        while received < MESSAGES and time.monotonic() < deadline:
            answer = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                received += 1
        if received != MESSAGES:
            raise RuntimeError(f"received {received} of {MESSAGES} messages")
        return url, received

    def clean_up(self, queue_url):
        self.whoami()
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self.s3.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
        self.s3.delete_bucket(Bucket=self.bucket)
        self.dynamodb.delete_table(TableName=self.table)
        self.sqs.delete_queue(QueueUrl=queue_url)


def main():
    started = time.monotonic()
    job = Job()
    job.upload()
    pages, listed, total_bytes = job.verify()
    checkpoints = job.state()
    queue_url, messages = job.notify()
    job.clean_up(queue_url)
    print(
        f"sync job done in {time.monotonic() - started:.1f}s: uploaded {RECORDS} records, "
        f"listed {listed} in {pages} pages and HeadObject'd each ({total_bytes} bytes), "
        f"read {checkpoints} DynamoDB checkpoints one GetItem at a time, "
        f"sent and received {messages} SQS messages, "
        f"checked the caller identity {job.identity_checks} times"
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("sync job interrupted", file=sys.stderr)
        sys.exit(130)
