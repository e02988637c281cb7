// The jest suite of tests/integration/node_runners.rs over HTTP/2: the SDK's Kinesis client
// sends every call on an HTTP/2 stream, which the preload labels at the session's `request`.
// Run against moto directly: the JS SDK signs HTTP/2's `:authority`, which the verifying
// upstream cannot reproduce from the HTTP/1.1 request tollgate forwards.
const { KinesisClient, CreateStreamCommand, ListStreamsCommand } = require("@aws-sdk/client-kinesis");

const kinesis = new KinesisClient({ region: "us-east-1" });

afterAll(() => kinesis.destroy());

describe("kinesis", () => {
  test("streams", async () => {
    await kinesis.send(new CreateStreamCommand({ StreamName: "tollgate-jest", ShardCount: 1 })); // callsite: stream
    const { StreamNames } = await kinesis.send(new ListStreamsCommand({})); // callsite: streams
    expect(StreamNames).toContain("tollgate-jest");
  });
});
