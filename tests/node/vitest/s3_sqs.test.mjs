// The vitest suite of tests/integration/node_runners.rs: the AWS SDK for JavaScript v3 called from
// vitest tests as a user writes them, with calls at lines marked `// callsite: NAME`. Under
// `tollgate run`, `report --by test` must give each test exactly its calls (beforeAll's belong
// to no test) and `report --by callsite` must name each marked line. No afterAll: vitest keeps
// the last test's name in `expect.getState()` after it ends, so an afterAll's calls would be
// counted under it (see the preload's "the test that is running").
import { beforeAll, describe, expect, test } from "vitest";
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  HeadObjectCommand,
} from "@aws-sdk/client-s3";
import { SQSClient, CreateQueueCommand, SendMessageCommand } from "@aws-sdk/client-sqs";

const PUTS = 4;
const HEADS = 3;
const MESSAGES = 2;
const BUCKET = "tollgate-vitest";

const s3 = new S3Client({ region: "us-east-1" });
const sqs = new SQSClient({ region: "us-east-1" });

async function sendMessage(url, body) {
  return await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body })); // callsite: helper
}

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })); // callsite: setup
});

describe("s3", () => {
  test("puts", async () => {
    for (let i = 0; i < PUTS; i += 1) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `k/${i}`, Body: `body ${i}` })); // callsite: put
    }
  });

  test("heads", async () => {
    const keys = Array.from({ length: HEADS }, (_, i) => `k/${i}`);
    const heads = await Promise.all(keys.map((Key) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key })))); // callsite: heads
    expect(heads).toHaveLength(HEADS);
  });
});

describe("sqs", () => {
  test("sends", async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "tollgate-vitest" })); // callsite: queue
    for (let i = 0; i < MESSAGES; i += 1) {
      await sendMessage(QueueUrl, `m${i}`);
    }
  });
});
