//! Cost: charges calls cause elsewhere, calls across Regions, calls with no price, and the
//! operations that cost the most.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{id, on, thousands};
use crate::findings::{Evidence, Facts, Finding, Saving, Thresholds};
use crate::pricing::format_usd;
use crate::record::Usd;

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
            let not_in_model = ops.iter().any(|op| op.not_in_model > 0);
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
                    match (not_in_model, unknown) {
                        (true, _) => {
                            "; some are operations newer than the AWS model in use: \
                             `tollgate model update` builds the model from your botocore"
                        }
                        (false, true) => "; some are not in the AWS model at all",
                        (false, false) => "",
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
    by_cost.sort_by(|a, b| {
        total(b)
            .cmp(&total(a))
            .then_with(|| a.operation.cmp(&b.operation))
            .then_with(|| a.service.cmp(&b.service))
    });
    let mut by_count: Vec<_> = facts
        .operations
        .iter()
        .filter(|op| op.service != "not-aws")
        .collect();
    by_count.sort_by(|a, b| {
        b.attempts
            .cmp(&a.attempts)
            .then_with(|| a.operation.cmp(&b.operation))
            .then_with(|| a.service.cmp(&b.service))
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
