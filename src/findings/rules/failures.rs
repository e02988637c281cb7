//! Failures: retried and throttled attempts, and failed requests AWS still bills.

use rust_decimal::Decimal;

use super::{id, plural, thousands};
use crate::findings::{Evidence, Facts, Finding, Saving, Thresholds};
use crate::pricing::format_usd;
use crate::record::{rfc3339, Usd};

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
                    callsites: Vec::new(),
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
                    callsites: Vec::new(),
                },
                saving: Some(Saving::new(f.priced, f.cost)),
            }
        })
        .collect()
}
