// The jest suite of tests/integration/node_sdk.rs: the AWS SDK for JavaScript v3 called from
// jest tests as a user writes them, with calls at lines marked `// callsite: NAME`. Under
// `tollgate run`, `report --by test` must give each test exactly its calls (the hooks' calls
// belong to no test) and `report --by callsite` must name each marked line.
const {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} = require("@aws-sdk/client-s3");
const { SQSClient, CreateQueueCommand, SendMessageCommand } = require("@aws-sdk/client-sqs");

const PUTS = 4;
const HEADS = 3;
const MESSAGES = 2;
const BUCKET = "tollgate-jest";

const s3 = new S3Client({ region: "us-east-1" });
const sqs = new SQSClient({ region: "us-east-1" });

async function sendMessage(url, body) {
  return await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body })); // callsite: helper
}

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })); // callsite: setup
});

afterAll(async () => {
  await s3.send(new ListObjectsV2Command({ Bucket: BUCKET })); // callsite: teardown
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
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "tollgate-jest" })); // callsite: queue
    for (let i = 0; i < MESSAGES; i += 1) {
      await sendMessage(QueueUrl, `m${i}`);
    }
  });
});
