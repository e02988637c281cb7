"""A small workload in eu-west-1 for tests/integration/pricing_update.rs: plain boto3 clients (no
endpoint_url), run under `tollgate run --upstream <moto>`. S3 (bucket, puts, a listing, gets), SQS
(queue, sends, a receive), DynamoDB (an on-demand table, puts and gets) and KMS (a key, encrypts):
services whose eu-west-1 prices come from the Price List fixtures.
"""

import sys

import boto3

REGION = "eu-west-1"
# Names differ per run (argv[1]), so one moto serves several runs.
NAME = f"tollgate-regional-{sys.argv[1]}"

s3 = boto3.client("s3", region_name=REGION)
s3.create_bucket(Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": REGION})
for i in range(3):
    s3.put_object(Bucket=NAME, Key=f"k{i}", Body=b"x" * 100)
s3.list_objects_v2(Bucket=NAME)
s3.get_object(Bucket=NAME, Key="k0")["Body"].read()

sqs = boto3.client("sqs", region_name=REGION)
queue = sqs.create_queue(QueueName=NAME)["QueueUrl"]
for i in range(2):
    sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}")
sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)

dynamodb = boto3.client("dynamodb", region_name=REGION)
dynamodb.create_table(
    TableName=NAME,
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    BillingMode="PAY_PER_REQUEST",
)
for i in range(2):
    dynamodb.put_item(TableName=NAME, Item={"pk": {"S": f"p{i}"}})
dynamodb.get_item(TableName=NAME, Key={"pk": {"S": "p0"}})

kms = boto3.client("kms", region_name=REGION)
key = kms.create_key()["KeyMetadata"]["KeyId"]
for i in range(2):
    kms.encrypt(KeyId=key, Plaintext=b"secret")
print("regional workload: ok")
