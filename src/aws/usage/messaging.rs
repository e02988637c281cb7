//! SQS, SNS, EventBridge and Kinesis: the 64 KB payload chunks each request is billed in (PUT
//! payload units of 25 KB for Kinesis), and whether an SQS queue or SNS topic is FIFO.

use rust_decimal::Decimal;
use serde_json::Value;

use crate::aws::wire::{form_value, percent_decode};

use super::{
    base64_decoded_len, ceil_div, request_document, response_document, Dimension, Unit, Usage,
    UsageInput, GIB, KIB,
};

/// SQS bills every action as a request per 64 KiB chunk of its payload; a batch of up to ten
/// messages is one request, chunked by its total payload ("a single request can have from 1 to
/// 10 messages, up to a maximum total payload of 1 MiB; each 64 KB chunk of a payload is billed
/// as 1 request").
/// Source: https://aws.amazon.com/sqs/pricing/
pub(super) fn sqs(input: &UsageInput<'_>, usage: &mut Usage) {
    // The queue is named by its URL, or by its name (CreateQueue, GetQueueUrl); a truncated
    // body still has the URL near its start.
    let request = request_document(input);
    let member = |name: &str| {
        request
            .as_ref()
            .and_then(|r| r.get(name).and_then(Value::as_str).map(str::to_string))
            .or_else(|| form_member(input, name))
            .or_else(|| crate::aws::extract::json_string_member(input.request_body.head, name))
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
pub(super) fn sns(input: &UsageInput<'_>, usage: &mut Usage) {
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
pub(super) fn eventbridge(input: &UsageInput<'_>, usage: &mut Usage) {
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
pub(super) fn kinesis(input: &UsageInput<'_>, usage: &mut Usage) {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{dec, input, usage, usage_of};
    use super::super::BodyView;
    use super::*;
    use base64::Engine as _;
    use http::HeaderMap;
    use serde_json::json;

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
}
