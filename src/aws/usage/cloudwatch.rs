//! CloudWatch and CloudWatch Logs: the metrics a GetMetricData call requests, the bytes of log
//! events ingested, and the bytes a Logs Insights query scanned.

use rust_decimal::Decimal;
use serde_json::Value;

use super::{json_decimal, request_document, response_document, Unit, Usage, UsageInput, GIB};

/// GetMetricData is billed per metric requested: each entry of `MetricDataQueries`.
/// Source: https://aws.amazon.com/cloudwatch/pricing/ (API requests: "GetMetricData ... per
/// 1,000 metrics requested").
pub(super) fn cloudwatch(input: &UsageInput<'_>, usage: &mut Usage) {
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
pub(super) fn logs(input: &UsageInput<'_>, usage: &mut Usage) {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{dec, input, usage, usage_of};
    use super::*;
    use http::HeaderMap;
    use serde_json::json;

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
}
