//! The rules. Each takes the facts and thresholds and returns its findings; each is tested on
//! its own below.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{Evidence, Facts, Finding, Saving, Thresholds};
use crate::aws::model::Model;
use crate::pricing::format_usd;
use crate::record::{rfc3339, Usd};

pub type Rule = fn(&Facts, &Thresholds) -> Vec<Finding>;

/// In the order they are shown when savings tie.
pub const ALL: &[Rule] = &[
    small_pages,
    fan_out,
    head_per_listed_key,
    repeated_calls,
    polling,
    retries,
    paid_failures,
    implied_costs,
    cross_region,
    unpriced,
    top_operations,
];

pub fn rank(rule: &str) -> usize {
    const ORDER: &[&str] = &[
        "small-pages",
        "fan-out",
        "head-per-key",
        "repeated-calls",
        "polling",
        "retries",
        "paid-failures",
        "implied-costs",
        "cross-region",
        "unpriced",
        "top-cost",
        "top-calls",
    ];
    ORDER.iter().position(|r| *r == rule).unwrap_or(ORDER.len())
}

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

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `1,260`
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn on(resource: &Option<String>) -> String {
    resource
        .as_deref()
        .map(|r| format!(" on {r}"))
        .unwrap_or_default()
}

fn id(rule: &str, service: &str, operation: &str, resource: &Option<String>) -> String {
    match resource {
        Some(resource) => format!("{rule}:{service}:{operation}:{resource}"),
        None => format!("{rule}:{service}:{operation}"),
    }
}

/// The paginator's limit key, for advice in the API's own words (`MaxKeys`).
fn limit_key(service: &str, operation: &str) -> String {
    let model = Model::embedded();
    model
        .service_named(service)
        .and_then(|index| model.service(index).paginators.get(operation))
        .and_then(|p| p.limit_key)
        .unwrap_or("page size")
        .to_string()
}

/// Loops that ask for pages far below the maximum.
pub fn small_pages(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    // Per operation, resource and page size: loops, pages, items, cost.
    type Key = (String, String, Option<String>, i64, i64);
    let mut groups: BTreeMap<Key, (u64, u64, u64, Decimal, i64, bool)> = BTreeMap::new();
    for l in &facts.loops {
        let (Some(size), Some(max)) = (l.page_size, l.page_size_max) else {
            continue;
        };
        if size <= 0 || (size as f64) > (max as f64) * thresholds.small_page_ratio {
            continue;
        }
        let entry = groups
            .entry((
                l.service.clone(),
                l.operation.clone(),
                l.resource.clone(),
                size,
                max,
            ))
            .or_insert((0, 0, 0, Decimal::ZERO, l.started_at_us, true));
        entry.0 += 1;
        entry.1 += l.pages as u64;
        entry.3 += l.cost;
        match l.items {
            // Pages needed at the maximum page size, each loop on its own.
            Some(items) => entry.2 += (items as u64).div_ceil(max as u64).max(1),
            None => entry.5 = false,
        }
    }
    groups
        .into_iter()
        .filter(|(_, (_, pages, needed, _, _, known))| *known && pages > needed)
        .map(
            |(
                (service, operation, resource, size, max),
                (loops, pages, needed, cost, first, _),
            )| {
                let key = limit_key(&service, &operation);
                let saved = pages - needed;
                let per_page = cost / Decimal::from(pages.max(1));
                Finding {
                    rule: "small-pages",
                    id: id("small-pages", &service, &operation, &resource),
                    title: format!(
                        "{operation}{}: {key}={size} over {}, {}; {key}={max} would need {}",
                        on(&resource),
                        plural(loops, "loop", "loops"),
                        plural(pages, "request", "requests"),
                        thousands(needed)
                    ),
                    detail: format!(
                    "Each page is a billed request. Ask for {max} per page (the maximum) and the \
                     same listings take {} fewer requests.",
                    thousands(saved)
                ),
                    evidence: Evidence {
                        service: service.clone(),
                        operation: operation.clone(),
                        resource: resource.clone(),
                        calls: pages,
                        cost_usd: Usd(cost),
                        first_at: Some(rfc3339(first)),
                        ..Evidence::default()
                    },
                    saving: Some(Saving::new(saved, per_page * Decimal::from(saved))),
                }
            },
        )
        .collect()
}

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

fn evidence_of(group: &crate::record::ResourceGroup) -> Evidence {
    Evidence {
        service: group.service.clone(),
        operation: group.operation.clone(),
        resource: group.resource.clone(),
        calls: group.count,
        cost_usd: Usd(group.cost),
        first_at: Some(rfc3339(group.first_us)),
        last_at: Some(rfc3339(group.last_us)),
        examples: Vec::new(),
    }
}

/// HeadObject for keys a listing of the same bucket already described.
pub fn head_per_listed_key(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .per_item
        .iter()
        .filter(|g| PER_KEY_AFTER_LISTING.contains(&(g.service.as_str(), g.operation.as_str())))
        .filter(|g| g.count >= thresholds.fan_out_min)
        .filter_map(|group| {
            let listed: u64 = facts
                .loops
                .iter()
                .filter(|l| {
                    l.service == group.service
                        && l.operation.starts_with("ListObject")
                        && l.resource == group.resource
                })
                .filter_map(|l| l.items)
                .map(|items| items as u64)
                // The largest listing: re-listings name the same keys again.
                .max()
                .unwrap_or(0);
            if listed == 0 {
                return None;
            }
            Some(Finding {
                rule: "head-per-key",
                id: id(
                    "head-per-key",
                    &group.service,
                    &group.operation,
                    &group.resource,
                ),
                title: format!(
                    "{} {}{} after listing {} keys there",
                    thousands(group.count),
                    group.operation,
                    on(&group.resource),
                    thousands(listed)
                ),
                detail: "ListObjectsV2 already returns each key's size, ETag, last-modified time \
                         and storage class: read them from the listing instead of a HeadObject \
                         per key."
                    .into(),
                evidence: evidence_of(group),
                saving: Some(Saving::new(group.count, group.cost)),
            })
        })
        .collect()
}

fn is_read(operation: &str) -> bool {
    ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

fn is_polling(group: &crate::record::RepeatGroup, thresholds: &Thresholds) -> bool {
    group.count >= thresholds.polling_min
        && is_read(&group.operation)
        && group.cadence.regularity().is_some_and(|(mean_us, cv)| {
            cv <= thresholds.polling_regularity
                && mean_us >= thresholds.polling_min_interval_ms * 1000.0
        })
}

fn repeat_evidence(group: &crate::record::RepeatGroup) -> Evidence {
    Evidence {
        service: group.service.clone(),
        operation: group.operation.clone(),
        resource: group.resource.clone(),
        calls: group.count,
        cost_usd: Usd(group.cost),
        first_at: Some(rfc3339(group.cadence.first_us)),
        last_at: Some(rfc3339(group.cadence.last_us)),
        examples: group.examples_us.iter().map(|t| rfc3339(*t)).collect(),
    }
}

/// The same call, same parameters, again and again: a cache candidate.
pub fn repeated_calls(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .repeated
        .iter()
        .filter(|g| g.count >= thresholds.repeated_min && !is_polling(g, thresholds))
        .map(|group| {
            let saved = group.count - 1;
            let usd = group.cost * Decimal::from(saved) / Decimal::from(group.count);
            Finding {
                rule: "repeated-calls",
                id: id(
                    "repeated-calls",
                    &group.service,
                    &group.operation,
                    &group.resource,
                ),
                title: format!(
                    "{} identical {} calls{}",
                    thousands(group.count),
                    group.operation,
                    on(&group.resource)
                ),
                detail: format!(
                    "The same parameters every time: cache the answer and make the call once \
                     ({} fewer calls).",
                    thousands(saved)
                ),
                evidence: repeat_evidence(group),
                saving: Some(Saving::new(saved, usd)),
            }
        })
        .collect()
}

/// The same describe/get at a regular interval: a waiter or a hand-written polling loop.
pub fn polling(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .repeated
        .iter()
        .filter(|g| is_polling(g, thresholds))
        .map(|group| {
            let (mean_us, _) = group.cadence.regularity().expect("checked by is_polling");
            Finding {
                rule: "polling",
                id: id("polling", &group.service, &group.operation, &group.resource),
                title: format!(
                    "{} polled {} times every {:.1} s{}",
                    group.operation,
                    thousands(group.count),
                    mean_us / 1e6,
                    on(&group.resource)
                ),
                detail: "A waiter or polling loop: poll less often (with backoff), or react to \
                         an event instead."
                    .into(),
                evidence: repeat_evidence(group),
                saving: None,
            }
        })
        .collect()
}

/// Retried and throttled attempts: work done twice, and what the failed attempts cost.
pub fn retries(facts: &Facts, _: &Thresholds) -> Vec<Finding> {
    facts
        .operations
        .iter()
        .filter(|op| op.retries > 0 || op.throttled > 0)
        .map(|op| {
            let failed: Vec<_> = facts
                .failures
                .iter()
                .filter(|f| f.service == op.service && f.operation == op.operation)
                .collect();
            let billed: Decimal = failed.iter().map(|f| f.cost).sum();
            let first = failed.iter().map(|f| f.first_us).min();
            let last = failed.iter().map(|f| f.last_us).max();
            let codes: Vec<String> = failed
                .iter()
                .filter_map(|f| f.error_code.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            Finding {
                rule: "retries",
                id: id("retries", &op.service, &op.operation, &None),
                title: format!(
                    "{} {}: {} throttled{}",
                    plural(op.retries, "retry", "retries"),
                    op.operation,
                    thousands(op.throttled),
                    if codes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", codes.join(", "))
                    }
                ),
                detail: format!(
                    "Failed attempts AWS billed: {}. Throttling means the call rate is above \
                     the limit: spread the calls, batch them, or raise the limit.",
                    format_usd(billed)
                ),
                evidence: Evidence {
                    service: op.service.clone(),
                    operation: op.operation.clone(),
                    resource: None,
                    calls: op.retries,
                    cost_usd: Usd(billed),
                    first_at: first.map(rfc3339),
                    last_at: last.map(rfc3339),
                    examples: Vec::new(),
                },
                saving: Some(Saving::new(op.retries, billed)),
            }
        })
        .collect()
}

/// Failed requests AWS still bills (most S3 4xx, DynamoDB failed conditional writes).
pub fn paid_failures(facts: &Facts, _: &Thresholds) -> Vec<Finding> {
    facts
        .failures
        .iter()
        .filter(|f| f.priced > 0 && !f.throttled)
        .map(|f| {
            let what = match (&f.error_code, f.status) {
                (Some(code), Some(status)) => format!("{status} {code}"),
                (Some(code), None) => code.clone(),
                (None, Some(status)) => status.to_string(),
                (None, None) => "no response".into(),
            };
            Finding {
                rule: "paid-failures",
                id: format!(
                    "paid-failures:{}:{}:{}",
                    f.service,
                    f.operation,
                    f.error_code.as_deref().unwrap_or("error")
                ),
                title: format!(
                    "{} {} answered {what}, and billed",
                    thousands(f.priced),
                    f.operation
                ),
                detail: "AWS bills these failed requests: check before calling (or stop \
                         calling for what is not there)."
                    .into(),
                evidence: Evidence {
                    service: f.service.clone(),
                    operation: f.operation.clone(),
                    resource: None,
                    calls: f.priced,
                    cost_usd: Usd(f.cost),
                    first_at: Some(rfc3339(f.first_us)),
                    last_at: Some(rfc3339(f.last_us)),
                    examples: Vec::new(),
                },
                saving: Some(Saving::new(f.priced, f.cost)),
            }
        })
        .collect()
}

/// Costs calls cause elsewhere: KMS behind SSE-KMS without a bucket key, CloudTrail events.
pub fn implied_costs(facts: &Facts, _: &Thresholds) -> Vec<Finding> {
    facts
        .implied
        .iter()
        .map(|g| Finding {
            rule: "implied-costs",
            id: id("implied-costs", &g.service, &g.operation, &g.resource),
            title: format!(
                "{} {}{} cause {} elsewhere",
                thousands(g.count),
                g.operation,
                on(&g.resource),
                format_usd(g.implied)
            ),
            detail: "S3 objects encrypted with SSE-KMS without an S3 Bucket Key call KMS for \
                     every read and write: enable the bucket key (cuts those KMS requests by up \
                     to 99%). CloudTrail data events, when on, add a charge per call."
                .into(),
            evidence: Evidence {
                service: g.service.clone(),
                operation: g.operation.clone(),
                resource: g.resource.clone(),
                calls: g.count,
                cost_usd: Usd(g.implied),
                ..Evidence::default()
            },
            saving: Some(Saving::new(g.count, g.implied)),
        })
        .collect()
}

/// Calls to Regions other than where the client runs.
pub fn cross_region(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    let Some(home) = thresholds.home_region.as_deref() else {
        return Vec::new();
    };
    facts
        .regions
        .iter()
        .filter(|g| g.region.as_deref().is_some_and(|r| r != home))
        .map(|g| {
            let region = g.region.clone().unwrap_or_default();
            Finding {
                rule: "cross-region",
                id: format!("cross-region:{}:{region}", g.service),
                title: format!(
                    "{} {} calls cross from {home} to {region}",
                    thousands(g.count),
                    g.service
                ),
                detail: "Cross-Region calls pay inter-Region data transfer and latency: use the \
                         service in the client's Region where you can."
                    .into(),
                evidence: Evidence {
                    service: g.service.clone(),
                    calls: g.count,
                    cost_usd: Usd(g.cost),
                    ..Evidence::default()
                },
                saving: None,
            }
        })
        .collect()
}

/// Operations with no price, and calls tollgate could not identify: nothing is silently free.
/// One finding per service, naming its operations.
pub fn unpriced(facts: &Facts, _: &Thresholds) -> Vec<Finding> {
    let mut by_service: BTreeMap<&str, Vec<&crate::record::OperationTally>> = BTreeMap::new();
    for op in facts
        .operations
        .iter()
        .filter(|op| op.unpriced > 0 && op.service != "not-aws")
    {
        by_service.entry(op.service.as_str()).or_default().push(op);
    }
    by_service
        .into_iter()
        .map(|(service, mut ops)| {
            ops.sort_by(|a, b| {
                b.unpriced
                    .cmp(&a.unpriced)
                    .then(a.operation.cmp(&b.operation))
            });
            let calls: u64 = ops.iter().map(|op| op.unpriced).sum();
            let unknown = ops.iter().any(|op| op.operation.starts_with("unknown"));
            let names: Vec<String> = ops
                .iter()
                .map(|op| format!("{} ({})", op.operation, thousands(op.unpriced)))
                .collect();
            Finding {
                rule: "unpriced",
                id: format!("unpriced:{service}"),
                title: format!(
                    "{} {service} {} no price: {}",
                    thousands(calls),
                    if calls == 1 { "call has" } else { "calls have" },
                    names.join(", ")
                ),
                detail: format!(
                    "Their cost is unknown, not $0{}: add prices to tollgate.toml \
                     ([[pricing.price]]) if they are billed.",
                    if unknown {
                        "; some are not in the AWS model at all"
                    } else {
                        ""
                    }
                ),
                evidence: Evidence {
                    service: service.to_string(),
                    operation: ops
                        .iter()
                        .map(|op| op.operation.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    calls,
                    cost_usd: Usd::ZERO,
                    ..Evidence::default()
                },
                saving: None,
            }
        })
        .collect()
}

/// The operations that cost the most, and the busiest.
pub fn top_operations(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    let total = |op: &crate::record::OperationTally| op.cost + op.transfer + op.implied;
    let mut by_cost: Vec<_> = facts
        .operations
        .iter()
        .filter(|op| op.service != "not-aws" && !total(op).is_zero())
        .collect();
    by_cost.sort_by(|a, b| total(b).cmp(&total(a)).then(a.operation.cmp(&b.operation)));
    let mut by_count: Vec<_> = facts
        .operations
        .iter()
        .filter(|op| op.service != "not-aws")
        .collect();
    by_count.sort_by(|a, b| {
        b.attempts
            .cmp(&a.attempts)
            .then(a.operation.cmp(&b.operation))
    });
    let all: Decimal = facts.operations.iter().map(total).sum();
    let mut out = Vec::new();
    for (rank, op) in by_cost.iter().take(thresholds.top).enumerate() {
        let share = if all.is_zero() {
            Decimal::ZERO
        } else {
            (total(op) * Decimal::ONE_HUNDRED / all).round_dp(0)
        };
        out.push(Finding {
            rule: "top-cost",
            id: id("top-cost", &op.service, &op.operation, &None),
            title: format!(
                "#{} by cost: {} {}, {} ({share}% of the total)",
                rank + 1,
                op.service,
                op.operation,
                format_usd(total(op))
            ),
            detail: format!("{} attempts.", thousands(op.attempts)),
            evidence: Evidence {
                service: op.service.clone(),
                operation: op.operation.clone(),
                calls: op.attempts,
                cost_usd: Usd(total(op)),
                ..Evidence::default()
            },
            saving: None,
        });
    }
    for (rank, op) in by_count.iter().take(thresholds.top).enumerate() {
        out.push(Finding {
            rule: "top-calls",
            id: id("top-calls", &op.service, &op.operation, &None),
            title: format!(
                "#{} by calls: {} {}, {} attempts",
                rank + 1,
                op.service,
                op.operation,
                thousands(op.attempts)
            ),
            detail: format!("Costing {}.", format_usd(total(op))),
            evidence: Evidence {
                service: op.service.clone(),
                operation: op.operation.clone(),
                calls: op.attempts,
                cost_usd: Usd(total(op)),
                ..Evidence::default()
            },
            saving: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LoopRow, OperationTally, RepeatGroup, ResourceGroup};
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn page_loop(id: i64, size: i64, pages: i64, items: i64) -> LoopRow {
        LoopRow {
            run_id: 1,
            loop_id: id,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("logs".into()),
            started_at_us: 0,
            ended_at_us: 1,
            pages,
            attempts: pages,
            items: Some(items),
            page_size: Some(size),
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting: false,
            cost: dec("0.000005") * Decimal::from(pages),
        }
    }

    #[test]
    fn small_pages_counts_the_requests_a_full_page_would_save() {
        // The issue's example: MaxKeys=100 over 12 loops of 10,500 keys = 1,260 requests; at
        // 1,000 a page each loop needs 11, 132 in all.
        let facts = Facts {
            loops: (0..12).map(|i| page_loop(i, 100, 105, 10_500)).collect(),
            ..Facts::default()
        };
        let findings = small_pages(&facts, &Thresholds::default());
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(
            finding.title,
            "ListObjectsV2 on logs: MaxKeys=100 over 12 loops, 1,260 requests; MaxKeys=1000 would need 132"
        );
        let saving = finding.saving.as_ref().unwrap();
        assert_eq!(saving.calls, 1_128);
        assert_eq!(saving.usd, Usd(dec("0.00564")));
        // Full pages are not a finding.
        let full = Facts {
            loops: vec![page_loop(1, 1000, 11, 10_500)],
            ..Facts::default()
        };
        assert!(small_pages(&full, &Thresholds::default()).is_empty());
    }

    fn resource_group(service: &str, operation: &str, count: u64, each: &str) -> ResourceGroup {
        ResourceGroup {
            service: service.into(),
            operation: operation.into(),
            resource: Some("r".into()),
            count,
            cost: dec(each) * Decimal::from(count),
            first_us: 0,
            last_us: 1,
        }
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

    fn repeat(operation: &str, times_us: Vec<i64>) -> RepeatGroup {
        use crate::record::Cadence;
        RepeatGroup {
            service: "dynamodb".into(),
            operation: operation.into(),
            resource: Some("t".into()),
            fingerprint: "f".into(),
            count: times_us.len() as u64,
            cost: Decimal::ZERO,
            cadence: Cadence::of(&times_us).expect("calls"),
            examples_us: times_us.iter().take(3).copied().collect(),
        }
    }

    #[test]
    fn regular_reads_are_polling_irregular_repeats_are_cache_candidates() {
        let regular: Vec<i64> = (0..10).map(|i| i * 2_000_000 + (i % 2) * 50_000).collect();
        let bursty = vec![0, 10, 20, 5_000_000, 5_000_010, 9_000_000];
        let facts = Facts {
            repeated: vec![repeat("DescribeTable", regular), repeat("GetItem", bursty)],
            ..Facts::default()
        };
        let thresholds = Thresholds::default();
        let polls = polling(&facts, &thresholds);
        assert_eq!(polls.len(), 1);
        assert!(
            polls[0]
                .title
                .starts_with("DescribeTable polled 10 times every 2.0 s"),
            "{}",
            polls[0].title
        );
        let repeats = repeated_calls(&facts, &thresholds);
        assert_eq!(repeats.len(), 1);
        assert_eq!(repeats[0].evidence.operation, "GetItem");
        assert_eq!(repeats[0].saving.as_ref().unwrap().calls, 5);
        // A tight loop at a steady 5 ms is repetition, not polling.
        let tight: Vec<i64> = (0..20).map(|i| i * 5_000).collect();
        let facts = Facts {
            repeated: vec![repeat("GetCallerIdentity", tight)],
            ..Facts::default()
        };
        assert!(polling(&facts, &thresholds).is_empty());
        assert_eq!(repeated_calls(&facts, &thresholds).len(), 1);
    }

    #[test]
    fn silenced_findings_are_not_reported() {
        let facts = Facts {
            operations: vec![OperationTally {
                service: "sns".into(),
                operation: "ListTopics".into(),
                attempts: 3,
                unpriced: 3,
                ..OperationTally::default()
            }],
            ..Facts::default()
        };
        let mut thresholds = Thresholds::default();
        assert!(super::super::find(&facts, &thresholds)
            .iter()
            .any(|f| f.id == "unpriced:sns"));
        thresholds.ignore = vec!["unpriced:sns".into(), "top-calls".into()];
        let left = super::super::find(&facts, &thresholds);
        assert!(
            left.iter()
                .all(|f| f.rule != "unpriced" && f.rule != "top-calls"),
            "{left:#?}"
        );
    }

    #[test]
    fn thresholds_come_from_the_findings_table() {
        let table: toml::Table =
            toml::from_str("ignore = [\"polling\"]\nrepeated_min = 3").unwrap();
        let thresholds = Thresholds::from_table(Some(&table)).unwrap();
        assert_eq!(thresholds.repeated_min, 3);
        assert_eq!(thresholds.fan_out_min, Thresholds::default().fan_out_min);
        let bad: toml::Table = toml::from_str("repeat_min = 3").unwrap();
        assert!(Thresholds::from_table(Some(&bad))
            .unwrap_err()
            .contains("repeat_min"));
    }
}
