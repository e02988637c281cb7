//! Identifying AWS calls: which service, operation and region an exchange is.
//!
//! Knows nothing of the proxy or of storage: it reads a request head, a bounded body prefix and
//! the response head.

pub mod document;
pub mod extract;
pub mod fetched;
pub mod host;
pub mod identify;
pub mod listed;
pub mod model;
pub mod page_count;
pub mod pages;
pub mod receives;
pub mod router;
pub mod signing;
pub mod sigv4;
pub mod usage;
mod wire;

/// Entry points for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub mod fuzzing {
    use super::identify::{Identifier, Request};
    use super::model::Model;

    /// Identifies an arbitrary request written as text: a first line `METHOD HOST PATH[?QUERY]`,
    /// then `name: value` header lines, a blank line, and the body. Anything unparseable as such
    /// is still identified with what could be read.
    pub fn identify(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = http::Method::from_bytes(first.next().unwrap_or("GET").as_bytes())
            .unwrap_or(http::Method::GET);
        let host = first.next().unwrap_or("").to_ascii_lowercase();
        let target = first.next().unwrap_or("/");
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let mut headers = http::HeaderMap::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(name.trim().as_bytes()),
                    http::HeaderValue::from_str(value.trim()),
                ) {
                    headers.append(name, value);
                }
            }
        }
        let identification = Identifier::new(Model::embedded()).identify(&Request {
            method: &method,
            host: &host,
            path,
            query,
            headers: &headers,
            body: body.as_bytes(),
        });
        std::hint::black_box(identification);
    }

    /// Streams an arbitrary response body through a page counter (`page_count`). The first
    /// byte picks the operation (and so the syntax: XML with and without a query wrapper, JSON,
    /// CBOR), the second how the rest is cut into chunks; the answer must not depend on the cuts.
    pub fn page_count(data: &[u8]) {
        use super::page_count::PageCounter;
        const CASES: &[(&str, &str)] = &[
            ("s3", "ListObjectsV2"),
            ("s3", "ListObjects"),
            ("ec2", "DescribeInstances"),
            ("iam", "ListUsers"),
            ("cloudfront", "ListDistributions"),
            ("dynamodb", "Scan"),
            ("kinesis", "DescribeStream"),
            ("cloudwatch", "GetMetricData"),
        ];
        let [selector, cuts, body @ ..] = data else {
            return;
        };
        let (service, operation) = CASES[usize::from(*selector) % CASES.len()];
        let model = Model::embedded();
        let Some(index) = model.service_named(service) else {
            return;
        };
        let service_model = model.service(index);
        let Some(paginator) = service_model.paginators.get(operation) else {
            return;
        };
        let read = |chunk_size: usize| {
            let mut counter =
                PageCounter::new(paginator, &service_model.protocols, operation, None);
            for chunk in body.chunks(chunk_size.max(1)) {
                counter.feed(chunk);
            }
            (counter.answer(true), counter.answer(false))
        };
        let whole = read(body.len());
        let cut = read(usize::from(*cuts) % 17 + 1);
        assert_eq!(whole, cut, "the answer depends on where the body was cut");
    }

    /// Reads an arbitrary response body the way usage and paginator-loop extraction do. The
    /// first byte picks the operation (and so the syntax: XML, JSON, CBOR, an event stream);
    /// the rest is the body, seen both whole and as a cut head with a tail.
    pub fn response(data: &[u8]) {
        use super::pages::{page_facts, PageRequest, PageResponse};
        use super::usage::{usage, BodyView, UsageInput};
        const CASES: &[(&str, &str, &[&str])] = &[
            ("s3", "ListObjectsV2", &["rest-xml"]),
            ("s3", "ListObjects", &["rest-xml"]),
            ("ec2", "DescribeInstances", &["ec2"]),
            ("dynamodb", "Scan", &["json"]),
            ("dynamodb", "BatchGetItem", &["json"]),
            (
                "cloudwatch",
                "GetMetricData",
                &["smithy-rpc-v2-cbor", "json", "query"],
            ),
            (
                "bedrock-runtime",
                "InvokeModelWithResponseStream",
                &["rest-json"],
            ),
            ("athena", "GetQueryExecution", &["json"]),
        ];
        let Some((&selector, body)) = data.split_first() else {
            return;
        };
        let (service, operation, protocols) = CASES[usize::from(selector) % CASES.len()];
        let model = Model::embedded();
        let headers = http::HeaderMap::new();
        let half = body.len() / 2;
        let views = [
            BodyView::whole(body),
            BodyView {
                head: &body[..half],
                tail: &body[half..],
                length: body.len() as u64 * 4,
                truncated: true,
            },
        ];
        for view in views {
            let documents = super::document::Documents::parse(protocols, &view, &view);
            let measured = usage(&UsageInput {
                service,
                operation,
                protocols,
                host: "example.us-east-1.amazonaws.com",
                path: "/model/anthropic.claude/invoke-with-response-stream",
                request_headers: &headers,
                request_body: view,
                status: Some(200),
                response_headers: Some(&headers),
                response_body: view,
                documents: &documents,
                answerer: crate::aws::usage::Answerer::StandIn,
            });
            std::hint::black_box(measured);
            let paginator = model
                .service_named(service)
                .and_then(|index| model.service(index).paginators.get(operation));
            if let Some(paginator) = paginator {
                let facts = page_facts(
                    paginator,
                    &PageRequest {
                        protocols,
                        path: "/",
                        query: Some("max-keys=5"),
                        headers: &headers,
                        body: view,
                        documents: &documents,
                    },
                    Some(&PageResponse {
                        status: 200,
                        body: view,
                        streamed: None,
                    }),
                );
                std::hint::black_box(facts);
            }
        }
    }
}
