//! Identification hot path: model load time and identification per request.
//!
//! `cargo bench --bench identify` (add `-- --corpus FILE` to identify a conformance corpus from
//! `tests/conformance/generate_corpus.py` instead of the built-in request mix).
//! Targets: model load <= 20 ms; identification <= 2 us per request on average.

use std::hint::black_box;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tollgate::aws::identify::{Identifier, Request};
use tollgate::aws::model::Model;

const MODEL_JSON: &str = include_str!("../models/aws-model.json");

struct Owned {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Owned {
    let uri: http::Uri = url.parse().unwrap();
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    Owned {
        method: Method::from_bytes(method.as_bytes()).unwrap(),
        host: uri.host().unwrap().to_ascii_lowercase(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: map,
        body: body.to_vec(),
    }
}

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261126/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000"
    )
}

/// A mix like a real workload's: S3 data plane, DynamoDB, SQS (JSON), STS and EC2 (query),
/// Lambda (REST-JSON), CloudWatch (RPCv2 CBOR).
fn builtin_mix() -> Vec<Owned> {
    let form = (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    vec![
        request("GET", "https://logs.s3.us-east-1.amazonaws.com/?list-type=2&max-keys=100", &[("authorization", &auth("s3"))], b""),
        request("HEAD", "https://logs.s3.us-east-1.amazonaws.com/2026/11/26/a.gz", &[("authorization", &auth("s3"))], b""),
        request("PUT", "https://logs.s3.us-east-1.amazonaws.com/2026/11/26/a.gz", &[("authorization", &auth("s3"))], b""),
        request("GET", "https://logs.s3.us-east-1.amazonaws.com/2026/11/26/a.gz", &[("authorization", &auth("s3"))], b""),
        request("POST", "https://dynamodb.us-east-1.amazonaws.com/", &[("authorization", &auth("dynamodb")), ("x-amz-target", "DynamoDB_20120810.GetItem")], br#"{"TableName":"users","Key":{"id":{"S":"1"}}}"#),
        request("POST", "https://dynamodb.us-east-1.amazonaws.com/", &[("authorization", &auth("dynamodb")), ("x-amz-target", "DynamoDB_20120810.Query")], br#"{"TableName":"users"}"#),
        request("POST", "https://sqs.us-east-1.amazonaws.com/", &[("authorization", &auth("sqs")), ("x-amz-target", "AmazonSQS.SendMessage"), ("x-amzn-query-mode", "true")], br#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/1/q","MessageBody":"x"}"#),
        request("POST", "https://sts.us-east-1.amazonaws.com/", &[("authorization", &auth("sts")), form], b"Action=GetCallerIdentity&Version=2011-06-15"),
        request("POST", "https://ec2.us-east-1.amazonaws.com/", &[("authorization", &auth("ec2")), form], b"Action=DescribeInstances&Version=2016-11-15"),
        request("GET", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my-function/configuration", &[("authorization", &auth("lambda"))], b""),
        request("POST", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my-function/invocations", &[("authorization", &auth("lambda"))], b"{}"),
        request("POST", "https://monitoring.us-east-1.amazonaws.com/service/GraniteServiceVersion20100801/operation/GetMetricData", &[("authorization", &auth("monitoring")), ("smithy-protocol", "rpc-v2-cbor")], b"\xa0"),
    ]
}

fn corpus(path: &str) -> Vec<Owned> {
    use base64::Engine;
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let headers: Vec<(String, String)> = record["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let body = base64::engine::general_purpose::STANDARD
                .decode(record["body_b64"].as_str().unwrap())
                .unwrap();
            request(
                record["method"].as_str().unwrap(),
                record["url"].as_str().unwrap(),
                &pairs,
                &body,
            )
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let corpus_path = args
        .iter()
        .position(|arg| arg == "--corpus")
        .and_then(|at| args.get(at + 1));

    let mut loads = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        black_box(Model::parse(black_box(MODEL_JSON)).unwrap());
        loads.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    loads.sort_by(f64::total_cmp);
    println!(
        "model load ({} KiB, {} operations): median {:.1} ms, min {:.1} ms (target <= 20 ms)",
        MODEL_JSON.len() / 1024,
        Model::embedded().operation_count(),
        loads[loads.len() / 2],
        loads[0]
    );

    let requests = match corpus_path {
        Some(path) => corpus(path),
        None => builtin_mix(),
    };
    let identifier = Identifier::new(Model::embedded());
    let views: Vec<Request<'_>> = requests
        .iter()
        .map(|r| Request {
            method: &r.method,
            host: &r.host,
            path: &r.path,
            query: r.query.as_deref(),
            headers: &r.headers,
            body: &r.body,
        })
        .collect();
    let rounds = (2_000_000 / views.len()).max(1);
    let started = Instant::now();
    for _ in 0..rounds {
        for view in &views {
            black_box(identifier.identify(black_box(view)));
        }
    }
    let per_request = started.elapsed().as_nanos() as f64 / (rounds * views.len()) as f64;
    println!(
        "identify ({} distinct requests x {rounds}): {per_request:.0} ns per request (target <= 2000 ns)",
        views.len()
    );
}
