//! Identification hot path: model load time and identification per request.
//!
//! `cargo bench --bench identify` (add `-- --corpus FILE` to identify a conformance corpus from
//! `tests/conformance/generate_corpus.py` instead of the built-in request mix).
//! Targets: model load <= 20 ms; identification <= 2 us per request on average.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tollgate::aws::identify::{Identifier, Request};
use tollgate::aws::model::Model;
use tollgate::aws::signing;

const MODEL_JSON: &str = include_str!("../models/aws-model.json");

struct Owned {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A request as an SDK sends it: signed with aws-sigv4 for `service` when given.
fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: Option<&str>,
) -> Owned {
    let mut request = http::Request::builder()
        .method(method)
        .uri(url)
        .body(body.to_vec())
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    if let Some(service) = service {
        signing::sign_request(
            &mut request,
            &signing::example_credentials(None),
            service,
            "us-east-1",
            SystemTime::now(),
        )
        .unwrap();
    }
    let uri = request.uri().clone();
    let (parts, body) = request.into_parts();
    Owned {
        method: parts.method,
        host: uri.host().unwrap().to_ascii_lowercase(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    }
}

/// A mix like a real workload's: S3 data plane, DynamoDB, SQS (JSON), STS and EC2 (query),
/// Lambda (REST-JSON), CloudWatch (RPCv2 CBOR).
fn builtin_mix() -> Vec<Owned> {
    let form = (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    vec![
        request("GET", "https://logs.s3.us-east-1.amazonaws.com/?list-type=2&max-keys=100", &[], b"", Some("s3")),
        request("HEAD", "https://logs.s3.us-east-1.amazonaws.com/2026/11/26/a.gz", &[], b"", Some("s3")),
        request("PUT", "https://logs.s3.us-east-1.amazonaws.com/2026/11/26/a.gz", &[], b"", Some("s3")),
        request("GET", "https://logs.s3.us-east-1.amazonaws.com/2026/11/26/a.gz", &[], b"", Some("s3")),
        request("POST", "https://dynamodb.us-east-1.amazonaws.com/", &[("x-amz-target", "DynamoDB_20120810.GetItem")], br#"{"TableName":"users","Key":{"id":{"S":"1"}}}"#, Some("dynamodb")),
        request("POST", "https://dynamodb.us-east-1.amazonaws.com/", &[("x-amz-target", "DynamoDB_20120810.Query")], br#"{"TableName":"users"}"#, Some("dynamodb")),
        request("POST", "https://sqs.us-east-1.amazonaws.com/", &[("x-amz-target", "AmazonSQS.SendMessage"), ("x-amzn-query-mode", "true")], br#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/1/q","MessageBody":"x"}"#, Some("sqs")),
        request("POST", "https://sts.us-east-1.amazonaws.com/", &[form], b"Action=GetCallerIdentity&Version=2011-06-15", Some("sts")),
        request("POST", "https://ec2.us-east-1.amazonaws.com/", &[form], b"Action=DescribeInstances&Version=2016-11-15", Some("ec2")),
        request("GET", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my-function/configuration", &[], b"", Some("lambda")),
        request("POST", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my-function/invocations", &[], b"{}", Some("lambda")),
        request("POST", "https://monitoring.us-east-1.amazonaws.com/service/GraniteServiceVersion20100801/operation/GetMetricData", &[("smithy-protocol", "rpc-v2-cbor")], b"\xa0", Some("monitoring")),
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
            // Already signed by botocore.
            request(
                record["method"].as_str().unwrap(),
                record["url"].as_str().unwrap(),
                &pairs,
                &body,
                None,
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
