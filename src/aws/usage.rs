//! What a call used, in the units AWS bills: a DynamoDB call's read or write request units, an SQS
//! send's 64 KiB chunks, a Bedrock call's tokens, the S3 storage class a request was billed in.
//!
//! Knows AWS's counting rules and the wire formats, nothing of prices: [`crate::pricing`] turns a
//! [`Usage`] into money. Every rule cites the AWS page it follows.

use std::str::FromStr;

use base64::Engine as _;
use http::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;

use super::wire::{form_value, percent_decode};

pub use crate::record::Unit;

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
    pub documents: &'a Documents,
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
        "s3" => s3(input, ok, &mut usage),
        "dynamodb" => dynamodb(input, &mut usage),
        "sqs" => sqs(input, &mut usage),
        "sns" => sns(input, &mut usage),
        "events" => eventbridge(input, &mut usage),
        "kinesis" => kinesis(input, &mut usage),
        "bedrock-runtime" => bedrock(input, &mut usage),
        "cloudwatch" => cloudwatch(input, &mut usage),
        "logs" => logs(input, &mut usage),
        "athena" => athena(input, ok, &mut usage),
        "kms" => kms(input, &mut usage),
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

// ---------------------------------------------------------------------------------------------
// S3

/// Storage class names as `x-amz-storage-class` writes them.
const S3_STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
    "OUTPOSTS",
    "SNOW",
];

/// S3 writes that create an object (the storage class is the request's).
const S3_OBJECT_WRITES: &[&str] = &["PutObject", "CopyObject", "CreateMultipartUpload"];

/// Object-level operations CloudTrail records as data events.
/// Source: https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html
const S3_OBJECT_OPERATIONS: &[&str] = &[
    "GetObject",
    "PutObject",
    "HeadObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectAttributes",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "RestoreObject",
    "SelectObjectContent",
    "GetObjectRetention",
    "PutObjectRetention",
    "GetObjectLegalHold",
    "PutObjectLegalHold",
];

fn s3(input: &UsageInput<'_>, ok: bool, usage: &mut Usage) {
    let op = input.operation;
    // Directory buckets (S3 Express One Zone) live on `s3express` hosts and end in `--x-s3`.
    let express = input.host.contains(".s3express")
        || input.host.starts_with("s3express")
        || input
            .host
            .split('.')
            .next()
            .unwrap_or("")
            .ends_with("--x-s3");
    let class = if express {
        "EXPRESS_ONEZONE".to_string()
    } else {
        let requested = S3_OBJECT_WRITES
            .contains(&op)
            .then(|| header(Some(input.request_headers), "x-amz-storage-class"))
            .flatten();
        // Reads: S3 names the class in the response for anything but STANDARD.
        let answered = header(input.response_headers, "x-amz-storage-class");
        requested
            .or(answered)
            .map(str::to_ascii_uppercase)
            .filter(|class| S3_STORAGE_CLASSES.contains(&class.as_str()))
            .unwrap_or_else(|| "STANDARD".into())
    };
    if express {
        // Express One Zone bills the bytes of each request above 512 KB.
        // Source: https://aws.amazon.com/s3/pricing/ (S3 Express One Zone, "data upload" and
        // "data retrieval" per GB for the portion of a request over 512 KB).
        let above = |bytes: u64| bytes.saturating_sub(512 * KIB);
        if matches!(op, "PutObject" | "UploadPart") {
            let over = above(input.request_body.length);
            if over > 0 {
                usage.set(
                    Unit::GbUploadAbove512Kb,
                    Decimal::from(over) / Decimal::from(GIB),
                );
            }
        }
        if op == "GetObject" {
            let over = above(input.response_body.length);
            if over > 0 {
                usage.set(
                    Unit::GbRetrievalAbove512Kb,
                    Decimal::from(over) / Decimal::from(GIB),
                );
            }
        }
    }
    usage.dim(Dimension::StorageClass, class);
    usage.data_event = S3_OBJECT_OPERATIONS.contains(&op);

    // SSE-KMS without an S3 Bucket Key: S3 calls KMS for each object write (GenerateDataKey) and
    // read (Decrypt), billed to the account at the KMS request rate.
    // Source: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
    let sse = header(input.response_headers, "x-amz-server-side-encryption").unwrap_or("");
    let bucket_key = header(
        input.response_headers,
        "x-amz-server-side-encryption-bucket-key-enabled",
    )
    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if ok && sse.starts_with("aws:kms") && !bucket_key {
        let implied = match op {
            "PutObject" | "CopyObject" | "CreateMultipartUpload" => Some("GenerateDataKey"),
            "GetObject" => Some("Decrypt"),
            _ => None,
        };
        if let Some(operation) = implied {
            usage.implied.push(ImpliedCall {
                service: "kms",
                operation,
                why: "SSE-KMS without an S3 Bucket Key",
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DynamoDB
//
// Units: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
// Item sizes: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html

const DYNAMODB_READS: &[&str] = &[
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
];
const DYNAMODB_WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

fn dynamodb(input: &UsageInput<'_>, usage: &mut Usage) {
    let op = input.operation;
    let read = DYNAMODB_READS.contains(&op);
    let write = DYNAMODB_WRITES.contains(&op);
    if !read && !write {
        return;
    }
    usage.data_event = true;
    let unit = if read {
        Unit::ReadRequestUnit
    } else {
        Unit::WriteRequestUnit
    };
    let response = response_document(input);
    // What DynamoDB reports beats any estimate.
    if let Some(consumed) = response.as_ref().and_then(|r| consumed_capacity(r, read)) {
        usage.set(unit, consumed);
        return;
    }
    let request = request_document(input);
    let estimate = request.and_then(|request| estimate_dynamodb(op, request, response));
    match estimate {
        Some(units) => {
            usage.set(unit, units);
            usage.estimate("DynamoDB units computed from item sizes (no ConsumedCapacity)");
        }
        None => {
            // Bodies too large to read: at least one unit was consumed.
            let minimum = if read {
                Decimal::new(5, 1)
            } else {
                Decimal::ONE
            };
            usage.set(unit, minimum);
            usage.estimate("DynamoDB units unknown (body not captured); minimum shown");
        }
    }
}

/// The sum of `ConsumedCapacity` (one object, or a list for batch and transaction calls).
fn consumed_capacity(response: &Value, read: bool) -> Option<Decimal> {
    let consumed = response.get("ConsumedCapacity")?;
    let entries: Vec<&Value> = match consumed {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![consumed],
        _ => return None,
    };
    let specific = if read {
        "ReadCapacityUnits"
    } else {
        "WriteCapacityUnits"
    };
    let mut total = Decimal::ZERO;
    let mut any = false;
    for entry in entries {
        let units = entry
            .get(specific)
            .or_else(|| entry.get("CapacityUnits"))
            .and_then(json_decimal);
        if let Some(units) = units {
            total += units;
            any = true;
        }
    }
    any.then_some(total)
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

fn estimate_dynamodb(op: &str, request: &Value, response: Option<&Value>) -> Option<Decimal> {
    let half = Decimal::new(5, 1);
    let consistency = |consistent: Option<&Value>| {
        if consistent.and_then(Value::as_bool) == Some(true) {
            Decimal::ONE
        } else {
            half
        }
    };
    let read_units = |bytes: u64| Decimal::from(ceil_div(bytes, 4 * KIB).max(1));
    let write_units = |bytes: u64| Decimal::from(ceil_div(bytes, KIB).max(1));
    match op {
        // A missing item still costs one read.
        "GetItem" => {
            let size = response
                .and_then(|r| r.get("Item"))
                .map(item_size)
                .unwrap_or(0);
            Some(read_units(size) * consistency(request.get("ConsistentRead")))
        }
        // Query sums the sizes of all items returned, then rounds once.
        // Scan is billed on the items it evaluates; only the returned ones are visible here.
        "Query" | "Scan" => {
            let size: u64 = response?
                .get("Items")?
                .as_array()?
                .iter()
                .map(item_size)
                .sum();
            Some(read_units(size) * consistency(request.get("ConsistentRead")))
        }
        // BatchGetItem rounds each item separately; keys not found still cost one unit.
        "BatchGetItem" => {
            let mut total = Decimal::ZERO;
            let requested = request.get("RequestItems")?.as_object()?;
            let responses = response?.get("Responses")?.as_object()?;
            let unprocessed = response?.get("UnprocessedKeys").and_then(Value::as_object);
            for (table, asked) in requested {
                let factor = consistency(asked.get("ConsistentRead"));
                let found = responses
                    .get(table)
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                for item in found {
                    total += read_units(item_size(item)) * factor;
                }
                let keys = asked
                    .get("Keys")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let skipped = unprocessed
                    .and_then(|u| u.get(table))
                    .and_then(|t| t.get("Keys"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let missing = keys.saturating_sub(found.len() + skipped);
                total += Decimal::from(missing as u64) * factor;
            }
            Some(total)
        }
        // Transactions cost twice a plain read/write of each item.
        "TransactGetItems" => {
            let asked = request.get("TransactItems")?.as_array()?.len();
            let found = response
                .and_then(|r| r.get("Responses"))
                .and_then(Value::as_array);
            let mut total = Decimal::ZERO;
            for index in 0..asked {
                let size = found
                    .and_then(|f| f.get(index))
                    .and_then(|r| r.get("Item"))
                    .map(item_size)
                    .unwrap_or(0);
                total += read_units(size) * Decimal::TWO;
            }
            Some(total)
        }
        "PutItem" => Some(write_units(item_size(request.get("Item")?))),
        // Without the item's size in the answer, an update or delete of a small item is one unit.
        "UpdateItem" | "DeleteItem" => {
            let size = response
                .and_then(|r| r.get("Attributes"))
                .map(item_size)
                .unwrap_or(0);
            Some(write_units(size))
        }
        "BatchWriteItem" => {
            let mut total = Decimal::ZERO;
            for writes in request.get("RequestItems")?.as_object()?.values() {
                for write in writes.as_array()? {
                    let size = write
                        .get("PutRequest")
                        .and_then(|p| p.get("Item"))
                        .map(item_size)
                        .unwrap_or(0);
                    total += write_units(size);
                }
            }
            Some(total)
        }
        "TransactWriteItems" => {
            let mut total = Decimal::ZERO;
            for item in request.get("TransactItems")?.as_array()? {
                let size = item
                    .get("Put")
                    .and_then(|p| p.get("Item"))
                    .map(item_size)
                    .unwrap_or(0);
                total += write_units(size) * Decimal::TWO;
            }
            Some(total)
        }
        _ => None,
    }
}

/// The size DynamoDB counts for an item in its JSON wire form (`{"name": {"S": "..."}}`):
/// attribute names plus values. Strings are UTF-8 bytes; numbers (significant digits / 2) + 1;
/// binary its raw bytes; null and booleans 1; lists and maps 3 bytes plus 1 per element plus the
/// elements; sets the sum of their elements.
pub fn item_size(item: &Value) -> u64 {
    item.as_object()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| name.len() as u64 + attribute_size(value))
                .sum()
        })
        .unwrap_or(0)
}

fn attribute_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, |s| s.len() as u64),
        "N" => inner.as_str().map_or(0, number_size),
        "B" => inner.as_str().map_or(0, base64_decoded_len),
        "BOOL" | "NULL" => 1,
        "SS" => strings(inner).map(|s| s.len() as u64).sum(),
        "NS" => strings(inner).map(number_size).sum(),
        "BS" => strings(inner).map(base64_decoded_len).sum(),
        "L" => {
            let items = inner.as_array().map(Vec::as_slice).unwrap_or(&[]);
            3 + items.iter().map(|v| 1 + attribute_size(v)).sum::<u64>()
        }
        "M" => {
            let map = inner.as_object();
            3 + map.map_or(0, |m| {
                m.iter()
                    .map(|(k, v)| 1 + k.len() as u64 + attribute_size(v))
                    .sum()
            })
        }
        _ => 0,
    }
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Numbers: "approximately (number of significant digits / 2) + 1 bytes"; leading and trailing
/// zeros are not significant.
fn number_size(number: &str) -> u64 {
    let digits: String = number
        .trim_start_matches(['-', '+'])
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    ceil_div(significant.max(1), 2) + 1
}

fn base64_decoded_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count() as u64;
    (text.len() as u64 / 4 * 3).saturating_sub(padding)
}

// ---------------------------------------------------------------------------------------------
// SQS, SNS, EventBridge, Kinesis

/// SQS bills every action as a request per 64 KiB chunk of its payload; a batch of up to ten
/// messages is one request, chunked by its total payload ("a single request can have from 1 to
/// 10 messages, up to a maximum total payload of 1 MiB; each 64 KB chunk of a payload is billed
/// as 1 request").
/// Source: https://aws.amazon.com/sqs/pricing/
fn sqs(input: &UsageInput<'_>, usage: &mut Usage) {
    // The queue is named by its URL, or by its name (CreateQueue, GetQueueUrl); a truncated
    // body still has the URL near its start.
    let request = request_document(input);
    let member = |name: &str| {
        request
            .as_ref()
            .and_then(|r| r.get(name).and_then(Value::as_str).map(str::to_string))
            .or_else(|| form_member(input, name))
            .or_else(|| super::extract::json_string_member(input.request_body.head, name))
    };
    let fifo = member("QueueUrl")
        .or_else(|| member("QueueName"))
        .is_some_and(|queue| queue.ends_with(".fifo"));
    usage.dim(Dimension::QueueType, if fifo { "fifo" } else { "standard" });
    let payload = match input.operation {
        "SendMessage" | "SendMessageBatch" => sqs_send_payload(input),
        "ReceiveMessage" => sqs_received_payload(input),
        _ => Some(0),
    };
    let bytes = payload.unwrap_or_else(|| match input.operation {
        "ReceiveMessage" => {
            usage.estimate("SQS payload size taken from the response length (body not captured)");
            input.response_body.length
        }
        _ => {
            usage.estimate("SQS payload size taken from the request length (body not captured)");
            // The message body runs from its member to the end of the request (botocore writes
            // it after the queue URL); what comes before it is not payload.
            let head = input.request_body.head;
            let before = find(head, br#""MessageBody":""#).map_or(0, |at| at + 15);
            input.request_body.length.saturating_sub(before as u64 + 2)
        }
    });
    usage.set(
        Unit::Chunk64Kb,
        Decimal::from(ceil_div(bytes, 64 * KIB).max(1)),
    );
}

fn sqs_send_payload(input: &UsageInput<'_>) -> Option<u64> {
    let request = request_document(input)?;
    let entries: Vec<&Value> = match request.get("Entries") {
        Some(Value::Array(entries)) => entries.iter().collect(),
        _ => vec![&request],
    };
    Some(entries.into_iter().map(sqs_message_size).sum())
}

fn sqs_received_payload(input: &UsageInput<'_>) -> Option<u64> {
    let response = response_document(input)?;
    Some(
        response
            .get("Messages")
            .and_then(Value::as_array)
            .map_or(0, |messages| messages.iter().map(sqs_message_size).sum()),
    )
}

/// A message's body plus its attributes (name, type and value), as SQS counts its size.
fn sqs_message_size(message: &Value) -> u64 {
    let body = message
        .get("MessageBody")
        .or_else(|| message.get("Body"))
        .and_then(Value::as_str)
        .map_or(0, |s| s.len() as u64);
    let attributes = message
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .map_or(0, |attributes| {
            attributes
                .iter()
                .map(|(name, attribute)| {
                    let text = |key: &str| {
                        attribute
                            .get(key)
                            .and_then(Value::as_str)
                            .map_or(0, |s| s.len() as u64)
                    };
                    name.len() as u64
                        + text("DataType")
                        + text("StringValue")
                        + attribute
                            .get("BinaryValue")
                            .and_then(Value::as_str)
                            .map_or(0, base64_decoded_len)
                })
                .sum()
        });
    body + attributes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn form_member(input: &UsageInput<'_>, name: &str) -> Option<String> {
    let body = std::str::from_utf8(input.request_body.head).ok()?;
    form_value(body, name).map(percent_decode)
}

/// SNS bills publishes per 64 KB chunk of published data; a PublishBatch is one request for up to
/// ten messages, chunked by its total payload.
/// Source: https://aws.amazon.com/sns/pricing/ ("Each 64KB chunk of published data is billed as 1
/// request").
fn sns(input: &UsageInput<'_>, usage: &mut Usage) {
    let fifo = form_member(input, "TopicArn")
        .or_else(|| form_member(input, "TargetArn"))
        .is_some_and(|arn| arn.ends_with(".fifo"));
    usage.dim(Dimension::QueueType, if fifo { "fifo" } else { "standard" });
    if !matches!(input.operation, "Publish" | "PublishBatch") {
        return;
    }
    let body = std::str::from_utf8(input.request_body.head).ok();
    let payload = match body {
        Some(body) if !input.request_body.truncated => body
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, _)| {
                *key == "Message"
                    || key.ends_with(".Message")
                    || key.contains("MessageAttributes") && key.ends_with(".Value.StringValue")
            })
            .map(|(_, value)| percent_decode(value).len() as u64)
            .sum(),
        _ => {
            usage.estimate("SNS payload size taken from the request length");
            input.request_body.length
        }
    };
    usage.set(
        Unit::Chunk64Kb,
        Decimal::from(ceil_div(payload, 64 * KIB).max(1)),
    );
    if fifo {
        usage.set(Unit::GbPayload, Decimal::from(payload) / Decimal::from(GIB));
    }
}

/// EventBridge bills each event entry per 64 KB chunk, its size computed as AWS documents:
/// 14 bytes for a Time, Source and DetailType and Detail as UTF-8, each Resources entry.
/// Source: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
fn eventbridge(input: &UsageInput<'_>, usage: &mut Usage) {
    if input.operation != "PutEvents" {
        return;
    }
    let chunks = request_document(input).and_then(|request| {
        let entries = request.get("Entries")?.as_array()?;
        Some(
            entries
                .iter()
                .map(|entry| {
                    let text = |key: &str| {
                        entry
                            .get(key)
                            .and_then(Value::as_str)
                            .map_or(0, |s| s.len() as u64)
                    };
                    let size = if entry.get("Time").is_some() { 14 } else { 0 }
                        + text("Source")
                        + text("DetailType")
                        + text("Detail")
                        + entry
                            .get("Resources")
                            .and_then(Value::as_array)
                            .map_or(0, |r| {
                                r.iter()
                                    .filter_map(Value::as_str)
                                    .map(|s| s.len() as u64)
                                    .sum()
                            });
                    ceil_div(size, 64 * KIB).max(1)
                })
                .sum::<u64>(),
        )
    });
    let chunks = chunks.unwrap_or_else(|| {
        usage.estimate("EventBridge event sizes taken from the request length");
        ceil_div(input.request_body.length, 64 * KIB).max(1)
    });
    usage.set(Unit::Chunk64Kb, Decimal::from(chunks));
}

/// Kinesis Data Streams: each record is PUT payload units of 25 KB, rounded up (a 5 KB record is
/// one unit, 45 KB two, 1 MB forty); the record's size is its data blob and partition key.
/// Source: https://aws.amazon.com/kinesis/data-streams/pricing/
fn kinesis(input: &UsageInput<'_>, usage: &mut Usage) {
    let records: Option<Vec<u64>> = match input.operation {
        "PutRecord" => request_document(input).map(|r| vec![kinesis_record_size(r)]),
        "PutRecords" => request_document(input).and_then(|r| {
            Some(
                r.get("Records")?
                    .as_array()?
                    .iter()
                    .map(kinesis_record_size)
                    .collect(),
            )
        }),
        _ => return,
    };
    let units: u64 = match records {
        Some(sizes) => sizes
            .into_iter()
            .map(|size| ceil_div(size, 25 * KIB).max(1))
            .sum(),
        None => {
            usage.estimate("Kinesis record sizes taken from the request length");
            ceil_div(input.request_body.length * 3 / 4, 25 * KIB).max(1)
        }
    };
    usage.set(Unit::PayloadUnit25Kb, Decimal::from(units));
}

fn kinesis_record_size(record: &Value) -> u64 {
    let data = record
        .get("Data")
        .and_then(Value::as_str)
        .map_or(0, base64_decoded_len);
    let key = record
        .get("PartitionKey")
        .and_then(Value::as_str)
        .map_or(0, |s| s.len() as u64);
    data + key
}

// ---------------------------------------------------------------------------------------------
// Bedrock

/// Tokens from InvokeModel's headers, Converse's `usage`, or the last event of a streamed answer;
/// the model from the request path.
/// Source: https://docs.aws.amazon.com/bedrock/latest/userguide/monitoring.html and the
/// InvokeModel / Converse API references.
fn bedrock(input: &UsageInput<'_>, usage: &mut Usage) {
    if let Some(model) = bedrock_model(input.path) {
        usage.dim(Dimension::Model, model);
    }
    let tokens = bedrock_tokens_from_headers(input.response_headers)
        .or_else(|| {
            response_document(input).and_then(|r| {
                let u = r.get("usage")?;
                Some((
                    u.get("inputTokens")?.as_u64()?,
                    u.get("outputTokens")?.as_u64()?,
                ))
            })
        })
        .or_else(|| bedrock_stream_tokens(&input.response_body));
    match tokens {
        Some((input_tokens, output_tokens)) => {
            let thousand = Decimal::from(1000);
            usage.set(Unit::InputTokens1k, Decimal::from(input_tokens) / thousand);
            usage.set(
                Unit::OutputTokens1k,
                Decimal::from(output_tokens) / thousand,
            );
        }
        None if input.status.is_some_and(|s| s < 300) => {
            usage.estimate("Bedrock token counts not found in the response");
        }
        None => {}
    }
}

/// `/model/{modelId}/invoke` and friends; cross-region inference profile prefixes stripped.
pub fn bedrock_model(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/model/")?;
    let id = percent_decode(rest.split('/').next()?);
    let id = [
        "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
    ]
    .iter()
    .find_map(|prefix| id.strip_prefix(prefix))
    .map(str::to_string)
    .unwrap_or(id);
    (!id.is_empty()).then_some(id)
}

fn bedrock_tokens_from_headers(headers: Option<&HeaderMap>) -> Option<(u64, u64)> {
    let count = |name| header(headers, name)?.trim().parse::<u64>().ok();
    Some((
        count("x-amzn-bedrock-input-token-count")?,
        count("x-amzn-bedrock-output-token-count")?,
    ))
}

/// The token counts in a streamed response's last events: ConverseStream's `metadata` event
/// carries `"usage":{"inputTokens":..}`; InvokeModelWithResponseStream's last chunk carries
/// base64 JSON with `amazon-bedrock-invocationMetrics {inputTokenCount, outputTokenCount}`.
fn bedrock_stream_tokens(body: &BodyView<'_>) -> Option<(u64, u64)> {
    let region = if body.truncated { body.tail } else { body.head };
    let text = String::from_utf8_lossy(region);
    if let Some(tokens) = find_token_pair(&text, "\"inputTokens\"", "\"outputTokens\"") {
        return Some(tokens);
    }
    if let Some(tokens) = find_token_pair(&text, "\"inputTokenCount\"", "\"outputTokenCount\"") {
        return Some(tokens);
    }
    // InvokeModelWithResponseStream: chunks are {"bytes":"<base64 JSON>"}; the last has metrics.
    let mut last = None;
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("\"bytes\":\"") {
        rest = &rest[at + 9..];
        let end = rest.find('"').unwrap_or(rest.len());
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(&rest[..end]) {
            let decoded = String::from_utf8_lossy(&decoded);
            if let Some(tokens) =
                find_token_pair(&decoded, "\"inputTokenCount\"", "\"outputTokenCount\"")
            {
                last = Some(tokens);
            }
        }
        rest = &rest[end..];
    }
    last
}

fn find_token_pair(text: &str, input_key: &str, output_key: &str) -> Option<(u64, u64)> {
    let number_after = |key: &str| {
        let at = text.rfind(key)? + key.len();
        let digits: String = text[at..]
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u64>().ok()
    };
    Some((number_after(input_key)?, number_after(output_key)?))
}

// ---------------------------------------------------------------------------------------------
// CloudWatch, CloudWatch Logs, Athena, KMS

/// GetMetricData is billed per metric requested: each entry of `MetricDataQueries`.
/// Source: https://aws.amazon.com/cloudwatch/pricing/ (API requests: "GetMetricData ... per
/// 1,000 metrics requested").
fn cloudwatch(input: &UsageInput<'_>, usage: &mut Usage) {
    if input.operation != "GetMetricData" {
        return;
    }
    let queries = match request_document(input) {
        Some(request) => request
            .get("MetricDataQueries")
            .and_then(Value::as_array)
            .map(|q| q.len() as u64),
        // The query protocol: MetricDataQueries.member.N.Id=...
        None => std::str::from_utf8(input.request_body.head)
            .ok()
            .map(|body| {
                body.split('&')
                    .filter(|pair| {
                        pair.starts_with("MetricDataQueries.member.")
                            && pair.split('=').next().is_some_and(|k| k.ends_with(".Id"))
                    })
                    .count() as u64
            }),
    };
    match queries {
        Some(count) => usage.set(Unit::MetricRequested, Decimal::from(count)),
        None => {
            usage.set(Unit::MetricRequested, Decimal::ONE);
            usage.estimate("GetMetricData queries not readable; one metric assumed");
        }
    }
}

/// Logs ingestion is billed per GB of events, each counted as its message plus 26 bytes; Logs
/// Insights per GB scanned, which GetQueryResults reports once the query completes.
/// Source: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
/// ("the sum of all event messages in UTF-8, plus 26 bytes for each log event").
fn logs(input: &UsageInput<'_>, usage: &mut Usage) {
    match input.operation {
        "PutLogEvents" => {
            let bytes = request_document(input).and_then(|r| {
                Some(
                    r.get("logEvents")?
                        .as_array()?
                        .iter()
                        .map(|e| {
                            26 + e
                                .get("message")
                                .and_then(Value::as_str)
                                .map_or(0, |m| m.len() as u64)
                        })
                        .sum::<u64>(),
                )
            });
            let bytes = bytes.unwrap_or_else(|| {
                usage.estimate("log event sizes taken from the request length");
                input.request_body.length
            });
            usage.set(Unit::GbIngested, Decimal::from(bytes) / Decimal::from(GIB));
        }
        "GetQueryResults" => {
            let Some(response) = response_document(input) else {
                return;
            };
            if response.get("status").and_then(Value::as_str) != Some("Complete") {
                return;
            }
            let scanned = response
                .get("statistics")
                .and_then(|s| s.get("bytesScanned"))
                .and_then(json_decimal);
            if let Some(scanned) = scanned {
                usage.set(Unit::GbScanned, scanned / Decimal::from(GIB));
                if let Some(id) = request_document(input)
                    .and_then(|r| r.get("queryId")?.as_str().map(str::to_string))
                {
                    usage.once_per = Some(format!("logs-query:{id}"));
                }
            }
        }
        _ => {}
    }
}

/// Athena bills data scanned per TB, with a 10 MB minimum per query; GetQueryExecution reports
/// it when the query has finished. Priced once per query execution id.
/// Source: https://aws.amazon.com/athena/pricing/
fn athena(input: &UsageInput<'_>, ok: bool, usage: &mut Usage) {
    if input.operation != "GetQueryExecution" || !ok {
        return;
    }
    let Some(response) = response_document(input) else {
        return;
    };
    let Some(execution) = response.get("QueryExecution") else {
        return;
    };
    let state = execution
        .get("Status")
        .and_then(|s| s.get("State"))
        .and_then(Value::as_str);
    // Failed queries and DDL statements are not charged; cancelled ones are, for what they
    // scanned.
    if !matches!(state, Some("SUCCEEDED" | "CANCELLED"))
        || execution.get("StatementType").and_then(Value::as_str) == Some("DDL")
    {
        return;
    }
    let Some(scanned) = execution
        .get("Statistics")
        .and_then(|s| s.get("DataScannedInBytes"))
        .and_then(Value::as_u64)
    else {
        return;
    };
    let billed = scanned.max(10 * 1_000_000);
    usage.set(Unit::TbScanned, Decimal::from(billed) / Decimal::from(TIB));
    if let Some(id) = execution.get("QueryExecutionId").and_then(Value::as_str) {
        usage.once_per = Some(format!("athena-query:{id}"));
    }
}

/// Asymmetric key operations are priced apart from symmetric ones: Sign, Verify, GetPublicKey,
/// and Encrypt/Decrypt with an RSA or SM2 algorithm.
/// Source: https://aws.amazon.com/kms/pricing/
fn kms(input: &UsageInput<'_>, usage: &mut Usage) {
    let asymmetric = match input.operation {
        "Sign" | "Verify" | "GetPublicKey" => true,
        "Encrypt" | "Decrypt" | "ReEncrypt" => request_document(input).is_some_and(|r| {
            ["EncryptionAlgorithm", "DestinationEncryptionAlgorithm"]
                .iter()
                .filter_map(|key| r.get(*key)?.as_str())
                .any(|algorithm| algorithm != "SYMMETRIC_DEFAULT")
        }),
        _ => false,
    };
    usage.dim(
        Dimension::KeyType,
        if asymmetric {
            "asymmetric"
        } else {
            "symmetric"
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The usage of a call, its bodies parsed as the profiler does.
    fn usage(input: &UsageInput<'_>) -> Usage {
        let documents =
            Documents::parse(input.protocols, &input.request_body, &input.response_body);
        super::usage(&UsageInput {
            documents: &documents,
            ..*input
        })
    }

    fn input<'a>(
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
            documents: &Documents::NONE,
        }
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).unwrap()
    }

    fn usage_of(
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

    /// CapacityUnitCalculations.html: "a 3.5 KB item ... GetItem ... consumes 1 RCU (strongly
    /// consistent) ... an item of 10 KB would consume 3 RCU; eventually consistent half".
    #[test]
    fn dynamodb_getitem_rounds_up_to_4kb_and_halves_for_eventual_consistency() {
        let item = |bytes: usize| json!({"pk": {"S": "x".repeat(bytes - 2)}});
        let strong = usage_of(
            "dynamodb",
            "GetItem",
            &json!({"TableName": "t", "Key": {}, "ConsistentRead": true}),
            &json!({"Item": item(3584)}),
        );
        assert_eq!(strong.quantity(Unit::ReadRequestUnit), Some(dec("1")));
        let ten_kb = usage_of(
            "dynamodb",
            "GetItem",
            &json!({"TableName": "t", "Key": {}, "ConsistentRead": true}),
            &json!({"Item": item(10 * 1024)}),
        );
        assert_eq!(ten_kb.quantity(Unit::ReadRequestUnit), Some(dec("3")));
        let eventual = usage_of(
            "dynamodb",
            "GetItem",
            &json!({"TableName": "t", "Key": {}}),
            &json!({"Item": item(10 * 1024)}),
        );
        assert_eq!(eventual.quantity(Unit::ReadRequestUnit), Some(dec("1.5")));
        assert!(eventual.estimated.is_some());
        // A missing item still costs a read.
        let missing = usage_of(
            "dynamodb",
            "GetItem",
            &json!({"TableName": "t", "Key": {}}),
            &json!({}),
        );
        assert_eq!(missing.quantity(Unit::ReadRequestUnit), Some(dec("0.5")));
    }

    /// read-write-operations.html: "Query ... sums the size of all items returned and rounds up
    /// once: a query returning 10 items of 40 bytes consumes 1 RRU (strongly consistent)";
    /// BatchGetItem rounds each item up separately.
    #[test]
    fn dynamodb_query_rounds_once_batch_get_rounds_each_item() {
        let items: Vec<_> = (0..10)
            .map(|_| json!({"pk": {"S": "x".repeat(38)}}))
            .collect();
        let query = usage_of(
            "dynamodb",
            "Query",
            &json!({"TableName": "t", "ConsistentRead": true}),
            &json!({"Items": items}),
        );
        assert_eq!(query.quantity(Unit::ReadRequestUnit), Some(dec("1")));
        let batch = usage_of(
            "dynamodb",
            "BatchGetItem",
            &json!({"RequestItems": {"t": {"Keys": vec![json!({}); 10], "ConsistentRead": true}}}),
            &json!({"Responses": {"t": items}}),
        );
        assert_eq!(batch.quantity(Unit::ReadRequestUnit), Some(dec("10")));
    }

    /// read-write-operations.html: "PutItem of a 1.5 KB item consumes 2 WRU"; transactions
    /// double ("TransactWriteItems ... 2 WRU per 1 KB").
    #[test]
    fn dynamodb_writes_round_up_to_1kb_and_transactions_double() {
        let item = json!({"pk": {"S": "x".repeat(1534)}});
        let put = usage_of(
            "dynamodb",
            "PutItem",
            &json!({"TableName": "t", "Item": item}),
            &json!({}),
        );
        assert_eq!(put.quantity(Unit::WriteRequestUnit), Some(dec("2")));
        let transaction = usage_of(
            "dynamodb",
            "TransactWriteItems",
            &json!({"TransactItems": [{"Put": {"TableName": "t", "Item": item}}, {"Delete": {}}]}),
            &json!({}),
        );
        assert_eq!(transaction.quantity(Unit::WriteRequestUnit), Some(dec("6")));
    }

    #[test]
    fn dynamodb_consumed_capacity_beats_the_estimate() {
        let reported = usage_of(
            "dynamodb",
            "BatchWriteItem",
            &json!({"RequestItems": {}}),
            &json!({"ConsumedCapacity": [{"TableName": "a", "CapacityUnits": 3.0}, {"TableName": "b", "CapacityUnits": 2.5}]}),
        );
        assert_eq!(reported.quantity(Unit::WriteRequestUnit), Some(dec("5.5")));
        assert_eq!(reported.estimated, None);
    }

    /// CapacityUnitCalculations.html: attribute names count; numbers are (significant digits /
    /// 2) + 1 bytes; null and Boolean 1 byte; lists and maps 3 bytes plus 1 per element.
    #[test]
    fn dynamodb_item_size_follows_the_documented_rules() {
        assert_eq!(item_size(&json!({"name": {"S": "abc"}})), 4 + 3);
        assert_eq!(item_size(&json!({"n": {"N": "12345"}})), 1 + 4);
        assert_eq!(item_size(&json!({"n": {"N": "1000"}})), 1 + 2);
        assert_eq!(item_size(&json!({"b": {"BOOL": true}})), 1 + 1);
        assert_eq!(item_size(&json!({"b": {"B": "AAECAw=="}})), 1 + 4);
        assert_eq!(
            item_size(&json!({"l": {"L": [{"S": "ab"}, {"NULL": true}]}})),
            1 + 3 + (1 + 2) + (1 + 1)
        );
        assert_eq!(
            item_size(&json!({"m": {"M": {"k": {"S": "v"}}}})),
            1 + 3 + 1 + 1 + 1
        );
        assert_eq!(item_size(&json!({"s": {"SS": ["a", "bc"]}})), 1 + 3);
    }

    /// SQS pricing: "a single 256 KB payload is billed as four requests"; a batch of small
    /// messages is one request.
    #[test]
    fn sqs_chunks_the_payload_of_a_request() {
        let big = usage_of(
            "sqs",
            "SendMessage",
            &json!({"QueueUrl": "https://sqs/q", "MessageBody": "x".repeat(256 * 1024)}),
            &json!({}),
        );
        assert_eq!(big.quantity(Unit::Chunk64Kb), Some(dec("4")));
        assert_eq!(big.dimension(Dimension::QueueType), Some("standard"));
        let batch = usage_of(
            "sqs",
            "SendMessageBatch",
            &json!({"QueueUrl": "https://sqs/q.fifo", "Entries": [{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}]}),
            &json!({}),
        );
        assert_eq!(batch.quantity(Unit::Chunk64Kb), Some(dec("1")));
        assert_eq!(batch.dimension(Dimension::QueueType), Some("fifo"));
        // A message just under 64 KiB in a body cut short by the capture: still one chunk.
        let body = serde_json::to_vec(
            &json!({"QueueUrl": "https://sqs/q", "MessageBody": "x".repeat(65_500)}),
        )
        .unwrap();
        let headers = HeaderMap::new();
        let mut cut = input("sqs", "SendMessage", &headers, &body, &headers, b"{}");
        cut.request_body = BodyView {
            head: &body[..1024],
            tail: &body[body.len() - 16..],
            length: body.len() as u64,
            truncated: true,
        };
        let u = usage(&cut);
        assert_eq!(u.quantity(Unit::Chunk64Kb), Some(dec("1")));
        assert!(u.estimated.is_some());
        let create = usage_of(
            "sqs",
            "CreateQueue",
            &json!({"QueueName": "orders.fifo"}),
            &json!({}),
        );
        assert_eq!(create.dimension(Dimension::QueueType), Some("fifo"));
        let delete = usage_of(
            "sqs",
            "DeleteMessage",
            &json!({"QueueUrl": "q"}),
            &json!({}),
        );
        assert_eq!(delete.quantity(Unit::Chunk64Kb), Some(dec("1")));
    }

    /// Kinesis pricing: "a 5KB record is 1 PUT payload unit, a 45KB record 2, a 1MB record 40".
    #[test]
    fn kinesis_payload_units_per_record() {
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![0u8; n]);
        let records = json!({"StreamName": "s", "Records": [
            {"Data": b64(5 * 1024 - 1), "PartitionKey": "k"},
            {"Data": b64(45 * 1024 - 1), "PartitionKey": "k"},
            {"Data": b64(1000 * 1024 - 1), "PartitionKey": "k"},
        ]});
        let usage = usage_of("kinesis", "PutRecords", &records, &json!({}));
        assert_eq!(usage.quantity(Unit::PayloadUnit25Kb), Some(dec("43")));
    }

    /// EventBridge: "an event of 64 KB or less is one chunk; a 256 KB event is 4 chunks"; each
    /// entry of a PutEvents call is an event.
    #[test]
    fn eventbridge_chunks_each_entry() {
        let usage = usage_of(
            "events",
            "PutEvents",
            &json!({"Entries": [
                {"Source": "app", "DetailType": "t", "Detail": "{}"},
                {"Source": "app", "DetailType": "t", "Detail": "x".repeat(256 * 1024 - 4)},
            ]}),
            &json!({}),
        );
        assert_eq!(usage.quantity(Unit::Chunk64Kb), Some(dec("5")));
    }

    #[test]
    fn bedrock_tokens_from_converse_usage_headers_and_streams() {
        let mut u = usage_of(
            "bedrock-runtime",
            "Converse",
            &json!({}),
            &json!({"usage": {"inputTokens": 1200, "outputTokens": 345, "totalTokens": 1545}}),
        );
        assert_eq!(u.quantity(Unit::InputTokens1k), Some(dec("1.2")));
        assert_eq!(u.quantity(Unit::OutputTokens1k), Some(dec("0.345")));

        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-bedrock-input-token-count", "10".parse().unwrap());
        headers.insert("x-amzn-bedrock-output-token-count", "20".parse().unwrap());
        let empty = HeaderMap::new();
        let mut call = input(
            "bedrock-runtime",
            "InvokeModel",
            &empty,
            b"{}",
            &headers,
            b"{}",
        );
        call.path = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke";
        u = usage(&call);
        assert_eq!(u.quantity(Unit::InputTokens1k), Some(dec("0.01")));
        assert_eq!(u.quantity(Unit::OutputTokens1k), Some(dec("0.02")));
        assert_eq!(
            u.dimension(Dimension::Model),
            Some("anthropic.claude-sonnet-4-20250514-v1:0")
        );

        let metrics = base64::engine::general_purpose::STANDARD.encode(
            br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":9,"invocationLatency":1}}"#,
        );
        let stream = format!("\0\0junk{{\"bytes\":\"{metrics}\"}}\0\0");
        let head = vec![b'x'; 10];
        let mut streamed = input(
            "bedrock-runtime",
            "InvokeModelWithResponseStream",
            &empty,
            b"{}",
            &empty,
            b"",
        );
        streamed.response_body = BodyView {
            head: &head,
            tail: stream.as_bytes(),
            length: 1 << 20,
            truncated: true,
        };
        u = usage(&streamed);
        assert_eq!(u.quantity(Unit::InputTokens1k), Some(dec("0.007")));
        assert_eq!(u.quantity(Unit::OutputTokens1k), Some(dec("0.009")));
    }

    /// PutLogEvents API reference: the batch size is "the sum of all event messages in UTF-8,
    /// plus 26 bytes for each log event"; ingestion is billed per GB (2^30 bytes).
    #[test]
    fn logs_ingestion_counts_26_bytes_per_event() {
        let u = usage_of(
            "logs",
            "PutLogEvents",
            &json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [
                {"timestamp": 1, "message": "hello"},
                {"timestamp": 2, "message": "héllo"},
            ]}),
            &json!({}),
        );
        assert_eq!(
            u.quantity(Unit::GbIngested),
            Some(Decimal::from(26 + 5 + 26 + 6) / Decimal::from(GIB))
        );
    }

    /// SNS pricing: "each 64KB chunk of published data is billed as 1 request" — a 100 KB
    /// message is two; FIFO topics also bill the payload per GB.
    #[test]
    fn sns_publishes_are_chunked_by_payload() {
        let message = "x".repeat(100 * 1024);
        let body = format!(
            "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At.fifo&Message={message}"
        );
        let headers = HeaderMap::new();
        let mut call = input("sns", "Publish", &headers, body.as_bytes(), &headers, b"");
        call.protocols = &["query"];
        let u = usage(&call);
        assert_eq!(u.quantity(Unit::Chunk64Kb), Some(dec("2")));
        assert_eq!(u.dimension(Dimension::QueueType), Some("fifo"));
        assert_eq!(
            u.quantity(Unit::GbPayload),
            Some(Decimal::from(100 * 1024u64) / Decimal::from(GIB))
        );
    }

    /// CloudWatch billing: GetMetricData is charged per metric requested, so one call with five
    /// queries is five metrics.
    #[test]
    fn getmetricdata_counts_metric_queries() {
        let queries: Vec<_> = (0..5).map(|i| json!({"Id": format!("m{i}")})).collect();
        let u = usage_of(
            "cloudwatch",
            "GetMetricData",
            &json!({"MetricDataQueries": queries}),
            &json!({}),
        );
        assert_eq!(u.quantity(Unit::MetricRequested), Some(dec("5")));

        // The CBOR protocol (boto3's choice for CloudWatch since rpc-v2-cbor).
        let mut cbor = Vec::new();
        ciborium::ser::into_writer(
            &ciborium::Value::Map(vec![(
                ciborium::Value::Text("MetricDataQueries".into()),
                ciborium::Value::Array(vec![
                    ciborium::Value::Map(vec![]),
                    ciborium::Value::Map(vec![]),
                ]),
            )]),
            &mut cbor,
        )
        .unwrap();
        let empty = HeaderMap::new();
        let mut call = input("cloudwatch", "GetMetricData", &empty, &cbor, &empty, b"");
        call.protocols = &["smithy-rpc-v2-cbor", "json", "query"];
        assert_eq!(usage(&call).quantity(Unit::MetricRequested), Some(dec("2")));
    }

    /// Athena pricing: "$5 per TB scanned ... rounded up to the nearest megabyte, with a 10 MB
    /// minimum per query".
    #[test]
    fn athena_bills_scanned_bytes_once_with_a_10mb_minimum() {
        let u = usage_of(
            "athena",
            "GetQueryExecution",
            &json!({"QueryExecutionId": "q1"}),
            &json!({"QueryExecution": {"QueryExecutionId": "q1", "Status": {"State": "SUCCEEDED"}, "Statistics": {"DataScannedInBytes": 1234}}}),
        );
        assert_eq!(
            u.quantity(Unit::TbScanned),
            Some(Decimal::from(10_000_000u64) / Decimal::from(TIB))
        );
        assert_eq!(u.once_per.as_deref(), Some("athena-query:q1"));
        let running = usage_of(
            "athena",
            "GetQueryExecution",
            &json!({}),
            &json!({"QueryExecution": {"QueryExecutionId": "q1", "Status": {"State": "RUNNING"}}}),
        );
        assert_eq!(running.quantity(Unit::TbScanned), None);
        let ddl = usage_of(
            "athena",
            "GetQueryExecution",
            &json!({}),
            &json!({"QueryExecution": {"QueryExecutionId": "q2", "StatementType": "DDL", "Status": {"State": "SUCCEEDED"}, "Statistics": {"DataScannedInBytes": 0}}}),
        );
        assert_eq!(ddl.quantity(Unit::TbScanned), None);
    }

    #[test]
    fn s3_storage_class_express_and_sse_kms() {
        let mut request = HeaderMap::new();
        request.insert("x-amz-storage-class", "STANDARD_IA".parse().unwrap());
        let mut response = HeaderMap::new();
        response.insert("x-amz-server-side-encryption", "aws:kms".parse().unwrap());
        let put = usage(&input("s3", "PutObject", &request, b"data", &response, b""));
        assert_eq!(put.dimension(Dimension::StorageClass), Some("STANDARD_IA"));
        assert_eq!(put.implied.len(), 1);
        assert_eq!(put.implied[0].operation, "GenerateDataKey");
        assert!(put.data_event);

        response.insert(
            "x-amz-server-side-encryption-bucket-key-enabled",
            "true".parse().unwrap(),
        );
        let with_bucket_key = usage(&input("s3", "GetObject", &request, b"", &response, b""));
        assert!(with_bucket_key.implied.is_empty());
        // On reads the class comes from the response; the request header is not the object's.
        assert_eq!(
            with_bucket_key.dimension(Dimension::StorageClass),
            Some("STANDARD")
        );

        let empty = HeaderMap::new();
        let body = vec![0u8; 1024 * 1024];
        let mut express = input("s3", "PutObject", &empty, &body, &empty, b"");
        express.host = "bucket--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com";
        let u = usage(&express);
        assert_eq!(
            u.dimension(Dimension::StorageClass),
            Some("EXPRESS_ONEZONE")
        );
        assert_eq!(
            u.quantity(Unit::GbUploadAbove512Kb),
            Some(Decimal::from(512 * 1024u64) / Decimal::from(GIB))
        );
    }
}
