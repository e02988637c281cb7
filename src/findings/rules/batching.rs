//! Batching: one call per item where a batch API exists, and a HEAD per key a listing
//! already described.

use rust_decimal::Decimal;

use super::{evidence_of, id, on, plural, thousands};
use crate::findings::{Evidence, Facts, Finding, Saving, Thresholds};
use crate::pricing::format_usd;
use crate::record::Usd;

/// A per-item operation and the batch form that does up to `size` items in one call.
pub struct Batchable {
    pub service: &'static str,
    pub operation: &'static str,
    pub batch: &'static str,
    pub size: u64,
    /// Whether the service bills per request (so fewer requests cost less); DynamoDB, Kinesis
    /// and S3 deletes bill per item or not at all, so batching saves calls, not money.
    pub billed_per_request: bool,
}

/// Batch sizes from each API reference's limit on entries per call.
pub const BATCHABLE: &[Batchable] = &[
    // BatchGetItem: up to 100 items; BatchWriteItem: up to 25 put/delete requests.
    Batchable {
        service: "dynamodb",
        operation: "GetItem",
        batch: "BatchGetItem",
        size: 100,
        billed_per_request: false,
    },
    Batchable {
        service: "dynamodb",
        operation: "PutItem",
        batch: "BatchWriteItem",
        size: 25,
        billed_per_request: false,
    },
    Batchable {
        service: "dynamodb",
        operation: "DeleteItem",
        batch: "BatchWriteItem",
        size: 25,
        billed_per_request: false,
    },
    // SQS batch actions: up to 10 messages (billed per request, per 64 KB of total payload).
    Batchable {
        service: "sqs",
        operation: "SendMessage",
        batch: "SendMessageBatch",
        size: 10,
        billed_per_request: true,
    },
    Batchable {
        service: "sqs",
        operation: "DeleteMessage",
        batch: "DeleteMessageBatch",
        size: 10,
        billed_per_request: true,
    },
    Batchable {
        service: "sqs",
        operation: "ChangeMessageVisibility",
        batch: "ChangeMessageVisibilityBatch",
        size: 10,
        billed_per_request: true,
    },
    // SNS PublishBatch: up to 10 messages.
    Batchable {
        service: "sns",
        operation: "Publish",
        batch: "PublishBatch",
        size: 10,
        billed_per_request: true,
    },
    // S3 DeleteObjects: up to 1,000 keys (deletes are free either way).
    Batchable {
        service: "s3",
        operation: "DeleteObject",
        batch: "DeleteObjects",
        size: 1000,
        billed_per_request: false,
    },
    // Kinesis PutRecords: up to 500 records (billed per 25 KB payload unit either way).
    Batchable {
        service: "kinesis",
        operation: "PutRecord",
        batch: "PutRecords",
        size: 500,
        billed_per_request: false,
    },
    // Firehose PutRecordBatch: up to 500 records.
    Batchable {
        service: "firehose",
        operation: "PutRecord",
        batch: "PutRecordBatch",
        size: 500,
        billed_per_request: false,
    },
    // Secrets Manager BatchGetSecretValue: up to 20 secrets.
    Batchable {
        service: "secretsmanager",
        operation: "GetSecretValue",
        batch: "BatchGetSecretValue",
        size: 20,
        billed_per_request: true,
    },
    // SSM GetParameters: up to 10 names.
    Batchable {
        service: "ssm",
        operation: "GetParameter",
        batch: "GetParameters",
        size: 10,
        billed_per_request: true,
    },
    // EventBridge PutEvents takes up to 10 entries; billed per event, so no saving in money.
];

/// Per-key calls that a listing already answers: ListObjectsV2 returns each key's size, ETag,
/// last-modified time and storage class.
pub const PER_KEY_AFTER_LISTING: &[(&str, &str)] = &[("s3", "HeadObject")];

/// One call per item where a batch API exists.
pub fn fan_out(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .per_item
        .iter()
        .filter_map(|group| {
            let batch = BATCHABLE
                .iter()
                .find(|b| b.service == group.service && b.operation == group.operation)?;
            if group.count < thresholds.fan_out_min {
                return None;
            }
            let batched = group.count.div_ceil(batch.size);
            let saved = group.count - batched;
            let usd = if batch.billed_per_request {
                group.cost * Decimal::from(saved) / Decimal::from(group.count)
            } else {
                Decimal::ZERO
            };
            let money = if batch.billed_per_request {
                format!("saving {}", format_usd(usd))
            } else {
                format!(
                    "{} bills per item, so this saves requests and latency, not money",
                    group.service
                )
            };
            Some(Finding {
                rule: "fan-out",
                id: id("fan-out", &group.service, &group.operation, &group.resource),
                title: format!(
                    "{} {}{}: one call per item; {} would need {}",
                    thousands(group.count),
                    group.operation,
                    on(&group.resource),
                    batch.batch,
                    plural(batched, "call", "calls")
                ),
                detail: format!(
                    "{} takes up to {} items a call: {} fewer calls ({money}).",
                    batch.batch,
                    batch.size,
                    thousands(saved)
                ),
                evidence: evidence_of(group),
                saving: Some(Saving::new(saved, usd)),
            })
        })
        .collect()
}

/// HeadObject of keys an earlier listing of the same bucket in the run had returned: only those
/// HEADs (marked per call as they happen), never the HEADs of keys no listing named, nor those
/// made before the listing.
pub fn head_per_listed_key(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .per_item
        .iter()
        .filter(|g| PER_KEY_AFTER_LISTING.contains(&(g.service.as_str(), g.operation.as_str())))
        .filter(|g| g.listed_before > 0 && g.listed_before >= thresholds.fan_out_min)
        .map(|group| Finding {
            rule: "head-per-key",
            id: id(
                "head-per-key",
                &group.service,
                &group.operation,
                &group.resource,
            ),
            title: format!(
                "{} {}{} of keys a listing had already returned",
                thousands(group.listed_before),
                group.operation,
                on(&group.resource),
            ),
            detail: format!(
                "ListObjectsV2 already returns each key's size, ETag, last-modified time and \
                 storage class: read them from the listing instead of a {} per key ({} fewer \
                 calls).{}",
                group.operation,
                thousands(group.listed_before),
                match group.count - group.listed_before {
                    0 => String::new(),
                    others => format!(
                        " The other {} of keys no earlier listing returned are not counted.",
                        plural(others, &group.operation, &group.operation)
                    ),
                }
            ),
            evidence: Evidence {
                calls: group.listed_before,
                cost_usd: Usd(group.listed_before_cost),
                ..evidence_of(group)
            },
            saving: Some(Saving::new(group.listed_before, group.listed_before_cost)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::dec;
    use super::*;
    use crate::record::ResourceGroup;

    fn resource_group(service: &str, operation: &str, count: u64, each: &str) -> ResourceGroup {
        ResourceGroup {
            service: service.into(),
            operation: operation.into(),
            resource: Some("r".into()),
            count,
            cost: dec(each) * Decimal::from(count),
            first_us: 0,
            last_us: 1,
            listed_before: 0,
            listed_before_cost: Decimal::ZERO,
            empty_receives: 0,
            empty_receives_cost: Decimal::ZERO,
            after_head: 0,
            refetched_bytes: 0,
            refetched_cost: Decimal::ZERO,
            refetched_calls: 0,
            refetched_calls_cost: Decimal::ZERO,
        }
    }

    /// Issue 24 item 3: 20 HEADs, then a listing of 5 other keys, is not a HEAD per listed
    /// key; HEADs of keys an earlier listing returned are, and only they are claimed.
    #[test]
    fn only_heads_of_keys_listed_before_count() {
        let before_listing = resource_group("s3", "HeadObject", 20, "0.0000004");
        let facts = Facts {
            per_item: vec![before_listing],
            ..Facts::default()
        };
        assert!(head_per_listed_key(&facts, &Thresholds::default()).is_empty());
        // 45 HEADs on the bucket, 25 of them of keys a listing had returned.
        let mut mixed = resource_group("s3", "HeadObject", 45, "0.0000004");
        mixed.listed_before = 25;
        mixed.listed_before_cost = dec("0.0000004") * Decimal::from(25);
        let facts = Facts {
            per_item: vec![mixed],
            ..Facts::default()
        };
        let findings = head_per_listed_key(&facts, &Thresholds::default());
        assert_eq!(findings.len(), 1);
        let saving = findings[0].saving.as_ref().unwrap();
        assert_eq!(saving.calls, 25);
        assert_eq!(saving.usd, Usd(dec("0.00001")));
        assert_eq!(findings[0].evidence.calls, 25);
        assert!(
            findings[0].detail.contains("The other 20 HeadObject"),
            "{}",
            findings[0].detail
        );
    }

    #[test]
    fn fan_out_saves_money_only_where_requests_are_billed() {
        let facts = Facts {
            per_item: vec![
                resource_group("sqs", "SendMessage", 95, "0.0000004"),
                resource_group("dynamodb", "GetItem", 200, "0.000000125"),
                resource_group("sqs", "DeleteMessage", 5, "0.0000004"),
            ],
            ..Facts::default()
        };
        let findings = fan_out(&facts, &Thresholds::default());
        assert_eq!(findings.len(), 2, "below the threshold is not fan-out");
        let sqs = findings
            .iter()
            .find(|f| f.evidence.service == "sqs")
            .unwrap();
        // 95 sends as batches of 10 = 10 calls: 85 fewer, 85 × $0.0000004.
        assert_eq!(sqs.saving.as_ref().unwrap().calls, 85);
        assert_eq!(sqs.saving.as_ref().unwrap().usd, Usd(dec("0.000034")));
        let ddb = findings
            .iter()
            .find(|f| f.evidence.service == "dynamodb")
            .unwrap();
        assert_eq!(ddb.saving.as_ref().unwrap().calls, 198);
        assert!(ddb.saving.as_ref().unwrap().usd.is_zero());
        assert!(ddb.detail.contains("not money"), "{}", ddb.detail);
    }
}
