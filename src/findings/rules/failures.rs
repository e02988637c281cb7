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
            let advice = retry_advice(&failed);
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
                    "Failed attempts AWS billed: {}. {}",
                    format_usd(billed),
                    advice.join(" ")
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
                // Only slowing down removes attempts: a throttled attempt's retry is saved; a
                // server error's or an unreachable upstream's retry is the right thing to do.
                saving: (op.throttled > 0).then(|| {
                    let throttled_billed: Decimal = failed
                        .iter()
                        .filter(|f| f.throttled || f.status == Some(429))
                        .map(|f| f.cost)
                        .sum();
                    Saving::new(op.retries.min(op.throttled), throttled_billed)
                }),
            }
        })
        .collect()
}

/// What the failed attempts of one operation call for, by cause: throttling (slow down), a
/// server error (the service failed; retrying is right), or tollgate's own failure to reach the
/// upstream (no answer came back: the proxy answered 502/504 itself).
fn retry_advice(failed: &[&crate::record::FailureGroup]) -> Vec<&'static str> {
    let throttled = failed.iter().any(|f| f.throttled || f.status == Some(429));
    let server = failed
        .iter()
        .any(|f| !f.throttled && f.status.is_some_and(|s| s >= 500));
    let unreachable = failed.iter().any(|f| f.status.is_none());
    let mut advice = Vec::new();
    if throttled {
        advice.push(
            "Throttling means the call rate is above the limit: spread the calls, batch them, \
             or raise the limit.",
        );
    }
    if server {
        advice.push(
            "Server errors (5xx such as InternalError or ServiceUnavailable) are the service's \
             own failures, not the call rate's: retrying them with backoff is right; if they \
             persist, check the service's health.",
        );
    }
    if unreachable {
        advice.push(
            "tollgate could not reach the upstream (no answer came back: the 502 or 504 was \
             tollgate's own, after a connection, TLS or timeout failure): these retries are not \
             the service's doing; check the network path or the --upstream address.",
        );
    }
    if advice.is_empty() {
        advice.push(
            "The failed attempts were refused as sent: fix the request rather than retrying it.",
        );
    }
    advice
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
                detail: if is_existence_probe(f) {
                    EXISTENCE_PROBE_ADVICE.into()
                } else {
                    "AWS bills these failed requests: check before calling (or stop calling for \
                     what is not there)."
                        .into()
                },
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
                // A probe's answer is what the program wanted: the requests a listing would
                // save depend on how many keys one listing covers, which the calls do not say.
                saving: (!is_existence_probe(f)).then(|| Saving::new(f.priced, f.cost)),
            }
        })
        .collect()
}

/// A 404 from a read (`HeadObject`, `HeadBucket`, `GetObject`, `Describe…`): usually the
/// program asking whether something exists, where "check before calling" would be one more
/// billed request of the same kind.
fn is_existence_probe(failure: &crate::record::FailureGroup) -> bool {
    failure.status == Some(404)
        && ["Head", "Get", "Describe"]
            .iter()
            .any(|read| failure.operation.starts_with(read))
}

const EXISTENCE_PROBE_ADVICE: &str =
    "These 404s are the existence check itself, each billed like a \
     request that found something: checking first would be one more. To learn which of many keys \
     exist, list their prefix once (one ListObjectsV2 page answers up to 1,000 keys) or pass the \
     file list the program already has. s3fs and pyarrow probe a prefix as a key before listing \
     it, and delta-rs probes `_delta_log/_last_checkpoint`: usually harmless one at a time, and \
     worth a listing in a loop.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FailureGroup, OperationTally};

    fn retried(status: Option<i64>, code: Option<&str>, throttled: bool) -> Facts {
        Facts {
            operations: vec![OperationTally {
                attempts: 4,
                retries: 2,
                throttled: u64::from(throttled) * 2,
                ..OperationTally::new("s3", "GetObject")
            }],
            failures: vec![FailureGroup {
                service: "s3".into(),
                operation: "GetObject".into(),
                status,
                error_code: code.map(str::to_string),
                throttled,
                count: 2,
                cost: Decimal::ZERO,
                priced: 0,
                first_us: 0,
                last_us: 1,
            }],
            ..Facts::default()
        }
    }

    fn detail(facts: &Facts) -> String {
        let findings = retries(facts, &Thresholds::default());
        assert_eq!(findings.len(), 1);
        findings[0].detail.clone()
    }

    fn failed(operation: &str, status: i64, code: &str) -> Facts {
        Facts {
            failures: vec![FailureGroup {
                service: "s3".into(),
                operation: operation.into(),
                status: Some(status),
                error_code: Some(code.into()),
                throttled: false,
                count: 3,
                cost: Decimal::new(12, 7),
                priced: 3,
                first_us: 0,
                last_us: 1,
            }],
            ..Facts::default()
        }
    }

    /// Issue 24: 404s that are the existence check were told to "check before calling", itself
    /// a billed request, with all of them claimed as a saving.
    #[test]
    fn a_404_that_probes_for_existence_is_not_told_to_check_first() {
        for (operation, code) in [
            ("HeadObject", "404"),
            ("GetObject", "NoSuchKey"),
            ("HeadBucket", "404"),
        ] {
            let found = paid_failures(&failed(operation, 404, code), &Thresholds::default());
            assert_eq!(found.len(), 1);
            assert!(
                found[0].detail.contains("existence check itself"),
                "{}",
                found[0].detail
            );
            assert!(!found[0].detail.contains("check before calling"));
            assert!(
                found[0].saving.is_none(),
                "{operation}: no saving the evidence cannot show"
            );
        }
        let denied = paid_failures(
            &failed("PutObject", 403, "AccessDenied"),
            &Thresholds::default(),
        );
        assert!(denied[0].detail.contains("check before calling"));
        assert_eq!(denied[0].saving.as_ref().map(|s| s.calls), Some(3));
    }

    /// Issue 20 item 5: the advice follows the cause of the failed attempts.
    #[test]
    fn retry_advice_follows_the_cause() {
        let throttling = detail(&retried(Some(503), Some("SlowDown"), true));
        assert!(throttling.contains("raise the limit"), "{throttling}");
        assert!(retries(
            &retried(Some(503), Some("SlowDown"), true),
            &Thresholds::default()
        )[0]
        .saving
        .is_some());
        let server = detail(&retried(Some(500), Some("InternalError"), false));
        assert!(
            retries(
                &retried(Some(500), Some("InternalError"), false),
                &Thresholds::default()
            )[0]
            .saving
            .is_none(),
            "retrying a server error is right: nothing to save"
        );
        assert!(!server.contains("raise the limit"), "{server}");
        assert!(server.contains("Server errors"), "{server}");
        let unreachable = detail(&retried(None, None, false));
        assert!(!unreachable.contains("raise the limit"), "{unreachable}");
        assert!(
            unreachable.contains("tollgate could not reach the upstream"),
            "{unreachable}"
        );
    }
}
