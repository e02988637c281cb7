// The `node --test` suite of tests/integration/node_runners.rs: the AWS SDK for JavaScript v3
// called from Node's own test runner, with calls at lines marked `// callsite: NAME`. Under
// `tollgate run`, `report --by callsite` must name each marked line and, on Node 24 (which has
// node:test's getTestContext), `report --by test` must give each test exactly its calls.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  HeadObjectCommand,
} from "@aws-sdk/client-s3";

const PUTS = 3;
const HEADS = 2;
const BUCKET = "tollgate-node-test";

const s3 = new S3Client({ region: "us-east-1" });

before(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })); // callsite: setup
});

describe("s3", () => {
  test("puts", async () => {
    for (let i = 0; i < PUTS; i += 1) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `k/${i}`, Body: `body ${i}` })); // callsite: put
    }
  });

  test("heads", async () => {
    for (let i = 0; i < HEADS; i += 1) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `k/${i}` })); // callsite: head
      assert.equal(head.ContentLength, `body ${i}`.length);
    }
  });
});
