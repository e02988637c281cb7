//! What a call used, in the units AWS bills: a DynamoDB call's read or write request units, an SQS
//! send's 64 KiB chunks, a Bedrock call's tokens, the S3 storage class a request was billed in.
//!
//! Knows AWS's counting rules and the wire formats, nothing of prices: [`crate::pricing`] turns a
//! [`Usage`] into money. Every rule cites the AWS page it follows.
//!
//! This file holds the types and the dispatcher; the counting rules are one file per service
//! family: `s3`, `dynamodb`, `messaging` (SQS, SNS, EventBridge, Kinesis), `bedrock`,
//! `cloudwatch` (CloudWatch and CloudWatch Logs), `athena` and `kms`.

use std::str::FromStr;

use http::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;

pub use crate::record::Unit;

mod athena;
mod bedrock;
mod cloudwatch;
mod dynamodb;
mod kms;
mod messaging;
mod s3;

pub use bedrock::bedrock_model;
pub use dynamodb::item_size;

/// A dimension that selects between prices of one operation (`when` in the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    StorageClass,
    QueueType,
    Model,
    KeyType,
    SsmThroughput,
}

impl Dimension {
    pub const ALL: &'static [Dimension] = &[
        Dimension::StorageClass,
        Dimension::QueueType,
        Dimension::Model,
        Dimension::KeyType,
        Dimension::SsmThroughput,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::StorageClass => "storage_class",
            Dimension::QueueType => "queue_type",
            Dimension::Model => "model",
            Dimension::KeyType => "key_type",
            Dimension::SsmThroughput => "ssm_throughput",
        }
    }
}

impl FromStr for Dimension {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Dimension::ALL
            .iter()
            .copied()
            .find(|d| d.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
                format!("unknown `when` key `{name}` (known: {})", known.join(", "))
            })
    }
}

/// A call AWS makes on the client's behalf and bills to the same account: not in the traffic,
/// but caused by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpliedCall {
    pub service: &'static str,
    pub operation: &'static str,
    pub why: &'static str,
}

/// What one call used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Billed quantities besides the request itself (which is always 1).
    pub quantities: Vec<(Unit, Decimal)>,
    /// Values of the dimensions this call has.
    pub dimensions: Vec<(Dimension, String)>,
    /// Why a quantity is an estimate rather than what AWS reported.
    pub estimated: Option<&'static str>,
    /// Priced once per key: Athena bills a query once, however often its status is read.
    pub once_per: Option<String>,
    pub implied: Vec<ImpliedCall>,
    /// A CloudTrail data event, if the account records them (S3 object, Lambda Invoke,
    /// DynamoDB item calls).
    pub data_event: bool,
}

impl Usage {
    pub fn quantity(&self, unit: Unit) -> Option<Decimal> {
        if unit == Unit::Request {
            return Some(Decimal::ONE);
        }
        self.quantities
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, quantity)| *quantity)
    }

    pub fn dimension(&self, dimension: Dimension) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(d, _)| *d == dimension)
            .map(|(_, value)| value.as_str())
    }

    fn set(&mut self, unit: Unit, quantity: Decimal) {
        self.quantities.retain(|(u, _)| *u != unit);
        self.quantities.push((unit, quantity));
    }

    fn dim(&mut self, dimension: Dimension, value: impl Into<String>) {
        self.dimensions.retain(|(d, _)| *d != dimension);
        self.dimensions.push((dimension, value.into()));
    }

    fn estimate(&mut self, why: &'static str) {
        self.estimated.get_or_insert(why);
    }
}

pub use super::document::BodyView;

/// Who answered a call: AWS, or a stand-in behind `--upstream` (moto, LocalStack). What a
/// stand-in reports about billing (DynamoDB's `ConsumedCapacity`) is made up, so usage is then
/// computed from the request and response themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Answerer {
    #[default]
    Aws,
    StandIn,
}
use super::document::Documents;

/// Everything usage extraction reads about a call.
#[derive(Clone, Copy)]
pub struct UsageInput<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    /// The service's protocols, most preferred first; decides how bodies are read.
    pub protocols: &'a [&'a str],
    pub host: &'a str,
    pub path: &'a str,
    pub request_headers: &'a HeaderMap,
    pub request_body: BodyView<'a>,
    /// `None` when no response came back.
    pub status: Option<u16>,
    pub response_headers: Option<&'a HeaderMap>,
    pub response_body: BodyView<'a>,
    /// Both bodies, parsed once for everyone who reads them.
    pub documents: &'a Documents<'a>,
    pub answerer: Answerer,
}

const KIB: u64 = 1024;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// The usage of one call.
pub fn usage(input: &UsageInput<'_>) -> Usage {
    let mut usage = Usage::default();
    // Data transfer out: what the client downloaded (GB = 2^30 bytes, as AWS bills).
    if input.response_body.length > 0 {
        usage.set(
            Unit::GbOut,
            Decimal::from(input.response_body.length) / Decimal::from(GIB),
        );
    }
    let ok = input.status.is_some_and(|s| (200..300).contains(&s));
    match input.service {
        "s3" => s3::s3(input, ok, &mut usage),
        "dynamodb" => dynamodb::dynamodb(input, &mut usage),
        "sqs" => messaging::sqs(input, &mut usage),
        "sns" => messaging::sns(input, &mut usage),
        "events" => messaging::eventbridge(input, &mut usage),
        "kinesis" => messaging::kinesis(input, &mut usage),
        "bedrock-runtime" => bedrock::bedrock(input, &mut usage),
        "cloudwatch" => cloudwatch::cloudwatch(input, &mut usage),
        "logs" => cloudwatch::logs(input, &mut usage),
        "athena" => athena::athena(input, ok, &mut usage),
        "kms" => kms::kms(input, &mut usage),
        "lambda" => usage.data_event = input.operation == "Invoke",
        _ => {}
    }
    usage
}

fn header<'h>(headers: Option<&'h HeaderMap>, name: &str) -> Option<&'h str> {
    headers?.get(name)?.to_str().ok()
}

fn request_document<'a>(input: &UsageInput<'a>) -> Option<&'a Value> {
    input.documents.request()
}

/// The whole response: counting needs all of it.
fn response_document<'a>(input: &UsageInput<'a>) -> Option<&'a Value> {
    input.documents.response()
}

fn ceil_div(n: u64, d: u64) -> u64 {
    n.div_ceil(d)
}

/// A JSON number as a decimal, from its text (no binary floating point in between).
fn json_decimal(value: &Value) -> Option<Decimal> {
    let Value::Number(number) = value else {
        return None;
    };
    let text = number.to_string();
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

fn base64_decoded_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count() as u64;
    (text.len() as u64 / 4 * 3).saturating_sub(padding)
}

/// What the families' tests share: a call built from its parts, its usage computed with the
/// bodies parsed as the profiler parses them.
#[cfg(test)]
mod test_support {
    use super::*;

    /// The usage of a call, its bodies parsed as the profiler does.
    pub(super) fn usage(input: &UsageInput<'_>) -> Usage {
        let documents =
            Documents::parse(input.protocols, &input.request_body, &input.response_body);
        super::usage(&UsageInput {
            documents: &documents,
            ..*input
        })
    }

    pub(super) fn input<'a>(
        service: &'a str,
        operation: &'a str,
        headers: &'a HeaderMap,
        request: &'a [u8],
        response_headers: &'a HeaderMap,
        response: &'a [u8],
    ) -> UsageInput<'a> {
        UsageInput {
            service,
            operation,
            protocols: &["json"],
            host: "example.amazonaws.com",
            path: "/",
            request_headers: headers,
            request_body: BodyView::whole(request),
            status: Some(200),
            response_headers: Some(response_headers),
            response_body: BodyView::whole(response),
            documents: &crate::aws::document::NO_DOCUMENTS,
            answerer: Answerer::Aws,
        }
    }

    pub(super) fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    pub(super) fn usage_of(
        service: &str,
        operation: &str,
        request: &serde_json::Value,
        response: &serde_json::Value,
    ) -> Usage {
        let headers = HeaderMap::new();
        let request = serde_json::to_vec(request).unwrap();
        let response = serde_json::to_vec(response).unwrap();
        usage(&input(
            service, operation, &headers, &request, &headers, &response,
        ))
    }
}
