// The call-site workload of tests/integration/node_sdk.rs: the AWS SDK for JavaScript v3 as a
// user writes it, with hot spots planted at lines marked `// callsite: NAME`. Under
// `tollgate run`, `report --by callsite` must name each marked line with exactly the calls made
// there (the constants below say how many). Sends are awaited one by one, fired together
// without await, made from a helper called from two places, and from a paginator.
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { SQSClient, CreateQueueCommand, SendMessageCommand } from "@aws-sdk/client-sqs";

const PUTS = 12;
const PAGE = 4;
const HEAD_A = 3;
const HEAD_B = 5;
const MESSAGES = 6;
const BUCKET = "tollgate-node-callsites";

const s3 = new S3Client({ region: "us-east-1" });
const sqs = new SQSClient({ region: "us-east-1" });

async function head(key) {
  return s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })); // callsite: helper
}

class Mailer {
  constructor(url) {
    this.url = url;
  }

  sendAll(count) {
    const sends = [];
    for (let i = 0; i < count; i += 1) {
      sends.push(sqs.send(new SendMessageCommand({ QueueUrl: this.url, MessageBody: `m${i}` }))); // callsite: fired
    }
    return Promise.all(sends);
  }
}

async function main() {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })); // callsite: setup
  for (let i = 0; i < PUTS; i += 1) {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `k/${i}`, Body: `body ${i}` })); // callsite: put
  }
  for (let i = 0; i < HEAD_A; i += 1) {
    await head(`k/${i}`);
  }
  await Promise.all(Array.from({ length: HEAD_B }, (_, i) => head(`k/${i}`)));
  let pages = 0;
  for await (const page of paginateListObjectsV2({ client: s3, pageSize: PAGE }, { Bucket: BUCKET })) { // callsite: paginator
    pages += page.KeyCount > 0 ? 1 : 0;
  }
  if (pages !== PUTS / PAGE) {
    throw new Error(`expected ${PUTS / PAGE} pages, got ${pages}`);
  }
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "callsites" })); // callsite: queue
  await new Mailer(QueueUrl).sendAll(MESSAGES);
}

await main();
console.error("node callsites: ok");
