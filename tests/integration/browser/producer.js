// producer.js -- a clickstream producer page's code (issue 17): the AWS SDK
// for JavaScript v3, bundled for the browser by esbuild (test_cors.py does
// it), pointed at hydrant on another origin. It puts click records with
// PutRecordBatch and uploads a file to S3 through the bucket's CORS rules;
// window.hydrantRun resolves with what the SDK answered.
import { FirehoseClient, PutRecordBatchCommand, DescribeDeliveryStreamCommand }
  from "@aws-sdk/client-firehose";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";

window.hydrantRun = async function (endpoint, stream, bucket, clicks) {
  const credentials = { accessKeyId: "test", secretAccessKey: "test" };
  const fh = new FirehoseClient({ endpoint, region: "us-east-1", credentials });
  const enc = new TextEncoder();
  const out = {};
  const records = [];
  for (let i = 0; i < clicks; i++) {
    const click = { page: "/product/" + (i % 7), button: "buy", n: i,
                    ua: navigator.userAgent.slice(0, 20) };
    records.push({ Data: enc.encode(JSON.stringify(click) + "\n") });
  }
  const put = await fh.send(new PutRecordBatchCommand({ DeliveryStreamName: stream,
                                                        Records: records }));
  out.failed = put.FailedPutCount;
  out.ids = put.RequestResponses.filter((r) => r.RecordId).length;
  out.requestId = put.$metadata.requestId || null;
  // an error must come through CORS too (the SDK reads x-amzn-ErrorType)
  try {
    await fh.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: "no-such-stream" }));
    out.error = "none";
  } catch (e) {
    out.error = e.name;
  }
  const s3 = new S3Client({ endpoint, region: "us-east-1", credentials, forcePathStyle: true });
  const up = await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: "uploads/clicks.json", ContentType: "application/json",
    Body: JSON.stringify({ clicks, from: location.origin }) }));
  out.etag = up.ETag || null;
  return out;
};
