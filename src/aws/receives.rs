//! Receives and polls: calls that ask a queue or stream for what has arrived. They are never
//! "the same call" a cache could answer (each answer is new messages or records), and what they
//! waste is the empty answers.

use serde_json::Value;

use super::document::Documents;
use super::usage::BodyView;

/// A receive or poll, and how its service avoids empty answers.
pub struct Receive {
    pub service: &'static str,
    pub operation: &'static str,
    /// The list of the answer's messages or records, where it can be counted.
    pub items: Option<&'static str>,
    /// Long polling: the request member that makes the call wait for messages, and its
    /// maximum in seconds; `None` where the API has none.
    pub wait: Option<(&'static str, u64)>,
}

/// Receives and polls (a small list: add the like as they are met).
pub const RECEIVES: &[Receive] = &[
    // SQS: ReceiveMessage waits up to 20 s for a message with WaitTimeSeconds (long polling).
    Receive {
        service: "sqs",
        operation: "ReceiveMessage",
        items: Some("Messages"),
        wait: Some(("WaitTimeSeconds", 20)),
    },
    // Kinesis and DynamoDB Streams GetRecords answer at once, records or none.
    Receive {
        service: "kinesis",
        operation: "GetRecords",
        items: Some("Records"),
        wait: None,
    },
    Receive {
        service: "dynamodbstreams",
        operation: "GetRecords",
        items: Some("Records"),
        wait: None,
    },
    // Step Functions activities and SWF tasks long-poll (60 s) by themselves.
    Receive {
        service: "stepfunctions",
        operation: "GetActivityTask",
        items: None,
        wait: None,
    },
    Receive {
        service: "swf",
        operation: "PollForActivityTask",
        items: None,
        wait: None,
    },
    Receive {
        service: "swf",
        operation: "PollForDecisionTask",
        items: None,
        wait: None,
    },
];

pub fn receive(service: &str, operation: &str) -> Option<&'static Receive> {
    RECEIVES
        .iter()
        .find(|r| r.service == service && r.operation == operation)
}

/// How many messages or records a successful receive returned, where that can be read.
pub fn received(
    service: &str,
    operation: &str,
    status: Option<u16>,
    documents: &Documents<'_>,
    response: &BodyView<'_>,
) -> Option<u64> {
    let list = receive(service, operation)?.items?;
    if !status.is_some_and(|s| (200..300).contains(&s)) {
        return None;
    }
    match documents.response() {
        Some(Value::Object(members)) => Some(
            members
                .get(list)
                .and_then(Value::as_array)
                .map_or(0, |items| items.len() as u64),
        ),
        // The query protocol (SDKs from before SQS spoke JSON): `<Message>` elements.
        _ if !response.truncated && response.head.starts_with(b"<") => {
            let needle = b"<Message>";
            Some(
                response
                    .head
                    .windows(needle.len())
                    .filter(|w| w == needle)
                    .count() as u64,
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(service: &str, operation: &str, status: u16, body: &[u8]) -> Option<u64> {
        let view = BodyView::whole(body);
        let documents = Documents::parse(&["json"], &BodyView::whole(b"{}"), &view);
        received(service, operation, Some(status), &documents, &view)
    }

    #[test]
    fn received_messages_and_records_are_counted() {
        assert_eq!(read("sqs", "ReceiveMessage", 200, b"{}"), Some(0));
        assert_eq!(
            read(
                "sqs",
                "ReceiveMessage",
                200,
                br#"{"Messages":[{"Body":"a"},{"Body":"b"}]}"#
            ),
            Some(2)
        );
        assert_eq!(
            read("kinesis", "GetRecords", 200, br#"{"Records":[]}"#),
            Some(0)
        );
        assert_eq!(
            read(
                "sqs",
                "ReceiveMessage",
                200,
                b"<ReceiveMessageResponse><ReceiveMessageResult><Message><Body>x</Body></Message></ReceiveMessageResult></ReceiveMessageResponse>"
            ),
            Some(1)
        );
        assert_eq!(read("sqs", "ReceiveMessage", 500, b"{}"), None);
        assert_eq!(read("sqs", "SendMessage", 200, b"{}"), None);
    }
}
