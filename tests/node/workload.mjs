// The AWS SDK for JavaScript v3 workload of tests/integration/node_sdk.rs: default clients
// (`new XClient({})`, no endpoint, no agent, no proxy settings), as a user would write them.
// It is run under `tollgate run`, which must see every call through its Node preload alone.
//
// Ground truth: a middleware on every client counts each HTTP attempt (the deserialize step
// runs once per attempt, inside the retry loop) and each logical call (the initialize step),
// by service and operation. The counts of this process, a worker thread and a child process
// are printed together as the last line of stdout, as JSON.
//
//   node workload.mjs            the whole workload
//   node workload.mjs --child    the part the child process runs (prints its counts)
//   (the worker thread runs the part for workers and posts its counts back)
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectsCommand,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import {
  DynamoDBClient,
  CreateTableCommand,
  PutItemCommand,
  GetItemCommand,
  QueryCommand,
  BatchWriteItemCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import {
  SQSClient,
  CreateQueueCommand,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import {
  KinesisClient,
  CreateStreamCommand,
  PutRecordCommand,
  PutRecordsCommand,
  ListShardsCommand,
  GetShardIteratorCommand,
  GetRecordsCommand,
  waitUntilStreamExists,
} from "@aws-sdk/client-kinesis";

const attempts = {};
const calls = {};
const protocols = {};

function add(map, key, n = 1) {
  map[key] = (map[key] ?? 0) + n;
}

/** Counts what `client` sends, under tollgate's service name `service`. */
function counted(client, service) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      add(calls, `${service}.${context.commandName.replace(/Command$/, "")}`);
      return next(args);
    },
    { step: "initialize", name: "tollgateTestCountCalls" },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      add(attempts, `${service}.${context.commandName.replace(/Command$/, "")}`);
      return next(args);
    },
    { step: "deserialize", name: "tollgateTestCountAttempts" },
  );
  const handler = client.config.requestHandler;
  add(protocols, `${service}:${handler?.metadata?.handlerProtocol ?? "unknown"}`);
  return client;
}

const region = process.env.AWS_REGION;
const run = process.env.TOLLGATE_TEST_RUN ?? "run";

async function s3Part(bucket, keys) {
  const s3 = counted(new S3Client({ region }), "s3");
  if (keys.create) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  for (let i = 0; i < keys.count; i++) {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `${keys.prefix}${i}`, Body: `object ${i}` }),
    );
  }
  return s3;
}

async function main() {
  const bucket = `tollgate-node-${run}`;
  const s3 = await s3Part(bucket, { create: true, prefix: "main/", count: 12 });
  // Concurrency: six puts at once, over the agent's pool of keep-alive connections.
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map((i) =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: `many/${i}`, Body: "x".repeat(i + 1) })),
    ),
  );
  // A 6 MiB body: the SDK sends it with `Expect: 100-continue`, on an agent of its own.
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: "big", Body: Buffer.alloc(6 * 1024 * 1024, 7) }),
  );
  let pages = 0;
  for await (const _page of paginateListObjectsV2({ client: s3, pageSize: 5 }, { Bucket: bucket })) {
    pages++;
  }
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "main/3" }));
  const text = await got.Body.transformToString();
  if (text !== "object 3") {
    throw new Error(`GetObject returned ${JSON.stringify(text)}`);
  }
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "never-put" }));
    throw new Error("HeadObject found a key that was never put");
  } catch (error) {
    if (error.$metadata?.httpStatusCode !== 404) {
      throw error;
    }
  }

  // A worker thread: the preload is loaded there too.
  const workerCounts = await new Promise((resolve, reject) => {
    const worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { bucket },
    });
    worker.once("message", resolve);
    worker.once("error", reject);
  });

  const ddb = counted(new DynamoDBClient({ region }), "dynamodb");
  const table = `tollgate-node-${run}`;
  await ddb.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await waitUntilTableExists({ client: ddb, maxWaitTime: 60 }, { TableName: table });
  for (let i = 0; i < 5; i++) {
    await ddb.send(
      new PutItemCommand({
        TableName: table,
        Item: { pk: { S: "user" }, sk: { S: `item-${i}` }, n: { N: String(i) } },
      }),
    );
  }
  await ddb.send(
    new GetItemCommand({ TableName: table, Key: { pk: { S: "user" }, sk: { S: "item-2" } } }),
  );
  await ddb.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": { S: "user" } },
    }),
  );
  await ddb.send(
    new BatchWriteItemCommand({
      RequestItems: {
        [table]: Array.from({ length: 10 }, (_, i) => ({
          PutRequest: { Item: { pk: { S: "batch" }, sk: { S: `b-${i}` } } },
        })),
      },
    }),
  );

  // SQS with the SDK's default QueueUrl handling: the QueueUrl moto returns is followed.
  const sqs = counted(new SQSClient({ region }), "sqs");
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `tollgate-node-${run}` }));
  for (let i = 0; i < 3; i++) {
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `message ${i}` }));
  }
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl,
      Entries: [0, 1, 2].map((i) => ({ Id: `m${i}`, MessageBody: `batch ${i}` })),
    }),
  );
  const received = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  if (received.Messages?.length) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl,
        Entries: received.Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
  await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }));

  // A child process: NODE_OPTIONS, and so the preload, is inherited.
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child"], {
    encoding: "utf8",
    env: { ...process.env, TOLLGATE_TEST_QUEUE_URL: QueueUrl },
  });
  process.stderr.write(child.stderr);
  if (child.status !== 0) {
    throw new Error(`the child process failed: ${child.status}`);
  }
  const childCounts = JSON.parse(child.stdout.trim().split("\n").pop());

  // Kinesis: HTTP/2 for every call.
  const kinesis = counted(new KinesisClient({ region }), "kinesis");
  const stream = `tollgate-node-${run}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  await waitUntilStreamExists({ client: kinesis, maxWaitTime: 60 }, { StreamName: stream });
  for (let i = 0; i < 4; i++) {
    await kinesis.send(
      new PutRecordCommand({ StreamName: stream, PartitionKey: `k${i}`, Data: Buffer.from(`r${i}`) }),
    );
  }
  await kinesis.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: [0, 1, 2].map((i) => ({ PartitionKey: `p${i}`, Data: Buffer.from(`b${i}`) })),
    }),
  );
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({
      StreamName: stream,
      ShardId: Shards[0].ShardId,
      ShardIteratorType: "TRIM_HORIZON",
    }),
  );
  const records = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
  if ((records.Records?.length ?? 0) !== 7) {
    throw new Error(`GetRecords returned ${records.Records?.length} records, not 7`);
  }
  kinesis.destroy();

  for (const counts of [workerCounts, childCounts]) {
    for (const [key, n] of Object.entries(counts.operations)) add(attempts, key, n);
    for (const [key, n] of Object.entries(counts.calls)) add(calls, key, n);
    for (const [key, n] of Object.entries(counts.protocols)) add(protocols, key, n);
  }
  process.stderr.write(`node workload: ok (${pages} list pages, node ${process.version})\n`);
  const total = Object.values(attempts).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ operations: attempts, calls, protocols, attempts: total, node: process.version }));
}

async function workerPart(bucket) {
  await s3Part(bucket, { create: false, prefix: "worker/", count: 3 });
  parentPort.postMessage({ operations: attempts, calls, protocols });
}

async function childPart() {
  const sqs = counted(new SQSClient({ region }), "sqs");
  const QueueUrl = process.env.TOLLGATE_TEST_QUEUE_URL;
  for (let i = 0; i < 2; i++) {
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `from the child ${i}` }));
  }
  console.log(JSON.stringify({ operations: attempts, calls, protocols }));
}

const failed = (error) => {
  process.stderr.write(`node workload: failed: ${error?.stack ?? error}\n`);
  process.exit(1);
};
if (!isMainThread) {
  const { workerData } = await import("node:worker_threads");
  workerPart(workerData.bucket).catch(failed);
} else if (process.argv.includes("--child")) {
  childPart().catch(failed);
} else {
  main().catch(failed);
}
