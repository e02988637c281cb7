//! DynamoDB: the read or write request units of an item call, as `ConsumedCapacity` reports them
//! or estimated from item sizes; item calls are CloudTrail data events.
//!
//! Units: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
//! Item sizes: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html

use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    base64_decoded_len, ceil_div, json_decimal, request_document, response_document, Answerer,
    Unit, Usage, UsageInput, KIB,
};

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

pub(super) fn dynamodb(input: &UsageInput<'_>, usage: &mut Usage) {
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
    let request = request_document(input);
    // What DynamoDB reports beats any estimate, when it is DynamoDB that reports it, asked to.
    // An emulator answers with made-up capacity (moto: 1 unit for a 25-item batch, asked or
    // not), so behind `--upstream` the units are computed as for a call that did not ask.
    let reported = response.and_then(|r| consumed_capacity(r, read));
    let trusted = input.answerer == Answerer::Aws && request.is_some_and(asks_for_capacity);
    if let (Some(consumed), true) = (reported, trusted) {
        usage.set(unit, consumed);
        return;
    }
    let estimate = request.and_then(|request| estimate_dynamodb(op, request, response));
    match estimate {
        Some(units) => {
            usage.set(unit, units);
            usage.estimate(match (reported, input.answerer) {
                (Some(_), Answerer::StandIn) => {
                    "DynamoDB units computed from item sizes (the --upstream stand-in's \
                     ConsumedCapacity is not what AWS would bill)"
                }
                _ => "DynamoDB units computed from item sizes (no ConsumedCapacity)",
            });
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

/// Whether the request asked DynamoDB to report its consumed capacity (`TOTAL` or `INDEXES`);
/// without it, a `ConsumedCapacity` in the answer did not come from DynamoDB.
fn asks_for_capacity(request: &Value) -> bool {
    matches!(
        request
            .get("ReturnConsumedCapacity")
            .and_then(Value::as_str),
        Some("TOTAL" | "INDEXES")
    )
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{dec, input, usage, usage_of};
    use super::*;
    use http::HeaderMap;
    use serde_json::json;

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
            &json!({"RequestItems": {}, "ReturnConsumedCapacity": "TOTAL"}),
            &json!({"ConsumedCapacity": [{"TableName": "a", "CapacityUnits": 3.0}, {"TableName": "b", "CapacityUnits": 2.5}]}),
        );
        assert_eq!(reported.quantity(Unit::WriteRequestUnit), Some(dec("5.5")));
        assert_eq!(reported.estimated, None);
    }

    /// moto reports 1 capacity unit for a 25-item BatchWriteItem, asked or not; AWS bills 2 a
    /// 1.5 KB item. Capacity counts only when the request asked for it and AWS answered.
    #[test]
    fn dynamodb_capacity_the_request_did_not_ask_for_or_a_stand_in_made_up_is_not_believed() {
        let item = json!({"pk": {"S": "x".repeat(1534)}});
        let puts: Vec<_> = (0..25)
            .map(|_| json!({"PutRequest": {"Item": item}}))
            .collect();
        let made_up = serde_json::to_vec(
            &json!({"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 1.0}]}),
        )
        .unwrap();
        let headers = HeaderMap::new();
        for (asked, answerer, believed) in [
            (true, Answerer::Aws, true),
            (false, Answerer::Aws, false),
            (true, Answerer::StandIn, false),
            (false, Answerer::StandIn, false),
        ] {
            let mut request = json!({"RequestItems": {"t": puts}});
            if asked {
                request["ReturnConsumedCapacity"] = json!("TOTAL");
            }
            let request = serde_json::to_vec(&request).unwrap();
            let measured = usage(&UsageInput {
                answerer,
                ..input(
                    "dynamodb",
                    "BatchWriteItem",
                    &headers,
                    &request,
                    &headers,
                    &made_up,
                )
            });
            let units = measured.quantity(Unit::WriteRequestUnit);
            let case = format!("asked {asked}, {answerer:?}");
            if believed {
                assert_eq!(units, Some(dec("1")), "{case}");
                assert_eq!(measured.estimated, None, "{case}");
            } else {
                assert_eq!(units, Some(dec("50")), "{case}");
                let why = measured.estimated.unwrap_or_default();
                assert_eq!(
                    why.contains("stand-in"),
                    answerer == Answerer::StandIn,
                    "{case}: {why}"
                );
            }
        }
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
}
