//! Athena: the data a finished query scanned, in TB with a 10 MB minimum, priced once per query.

use rust_decimal::Decimal;
use serde_json::Value;

use super::{response_document, Unit, Usage, UsageInput, TIB};

/// Athena bills data scanned per TB, with a 10 MB minimum per query; GetQueryExecution reports
/// it when the query has finished. Priced once per query execution id.
/// Source: https://aws.amazon.com/athena/pricing/
pub(super) fn athena(input: &UsageInput<'_>, ok: bool, usage: &mut Usage) {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::usage_of;
    use super::*;
    use serde_json::json;

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
}
