//! `tollgate_findings_raised_total{rule, service}`: the findings raised over the run, counted
//! when they are computed (at a run's end; also while `serve` serves, see the CLI). A finding is
//! counted once, the first time its id is raised, however often the findings are computed again.
//! Labels are bounded: the rule (a fixed set, in the code) and the service (at most
//! [`SERVICES`] values, and only names; the rest are `other`). Never a resource, an operation's
//! parameters, a key or an account.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Distinct services with a label value of their own.
pub const SERVICES: usize = 200;
/// Distinct rules with a label value of their own (the rules are a fixed set; this only bounds
/// a mistake).
const RULES: usize = 64;
const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: Arc<str>,
    service: Arc<str>,
}

/// One finding as the metric sees it.
#[derive(Debug, Clone, Copy)]
pub struct Raised<'a> {
    /// Its stable id (`rule:service:operation[:resource]`): counted once per id. Never a label.
    pub id: &'a str,
    pub rule: &'a str,
    pub service: &'a str,
}

/// The counter family and what it has counted.
#[derive(Clone, Default)]
pub struct FindingsRaised {
    family: Family<FindingLabels, Counter>,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    rules: HashSet<Arc<str>>,
    services: HashSet<Arc<str>>,
}

/// `value` if it is a name (lower-case letters, digits, `-`, `_`, at most 64) already given out
/// or with room for it; else `other`.
fn bounded(values: &mut HashSet<Arc<str>>, value: &str, limit: usize) -> Arc<str> {
    let name = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name {
        return Arc::from(OTHER);
    }
    if let Some(known) = values.get(value) {
        return known.clone();
    }
    if values.len() >= limit {
        return Arc::from(OTHER);
    }
    let label: Arc<str> = Arc::from(value);
    values.insert(label.clone());
    label
}

impl FindingsRaised {
    /// Registers `findings_raised` (`_total`) in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let raised = Self::default();
        registry.register(
            "findings_raised",
            "Findings raised over the run (each finding id once), by rule and service",
            raised.family.clone(),
        );
        raised
    }

    /// Counts the findings whose ids were not raised before; returns how many were new.
    pub fn raise<'a>(&self, findings: impl IntoIterator<Item = Raised<'a>>) -> u64 {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut new = 0;
        for finding in findings {
            if seen.ids.contains(finding.id) {
                continue;
            }
            seen.ids.insert(finding.id.to_string());
            let labels = FindingLabels {
                rule: bounded(&mut seen.rules, finding.rule, RULES),
                service: bounded(&mut seen.services, finding.service, SERVICES),
            };
            self.family.get_or_create(&labels).inc();
            new += 1;
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn each_finding_is_counted_once_by_rule_and_service() {
        let mut registry = Registry::with_prefix("tollgate");
        let raised = FindingsRaised::register(&mut registry);
        let found = |id, rule, service| Raised { id, rule, service };
        let first = [
            found("repeated-calls:s3:GetObject:b/k", "repeated-calls", "s3"),
            found("repeated-calls:s3:HeadObject:b/k", "repeated-calls", "s3"),
            found("small-pages:s3:ListObjectsV2:b", "small-pages", "s3"),
        ];
        assert_eq!(raised.raise(first), 3);
        // Computed again with one more: only the new one counts.
        let again = [
            found("repeated-calls:s3:GetObject:b/k", "repeated-calls", "s3"),
            found("polling:dynamodb:DescribeTable:t", "polling", "dynamodb"),
            // Not a name: `other`, never the text.
            found(
                "x:Weird Service/acct-123456789012:Op",
                "x",
                "Weird Service/acct",
            ),
        ];
        assert_eq!(raised.raise(again), 2);
        let text = render(&registry);
        for line in [
            "tollgate_findings_raised_total{rule=\"repeated-calls\",service=\"s3\"} 2",
            "tollgate_findings_raised_total{rule=\"small-pages\",service=\"s3\"} 1",
            "tollgate_findings_raised_total{rule=\"polling\",service=\"dynamodb\"} 1",
            "tollgate_findings_raised_total{rule=\"x\",service=\"other\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("b/k") && !text.contains("acct"), "{text}");
    }

    #[test]
    fn services_past_the_bound_are_other() {
        let mut registry = Registry::with_prefix("tollgate");
        let raised = FindingsRaised::register(&mut registry);
        let ids: Vec<(String, String)> = (0..SERVICES + 5)
            .map(|n| (format!("fan-out:svc{n}:Op"), format!("svc{n}")))
            .collect();
        raised.raise(ids.iter().map(|(id, service)| Raised {
            id,
            rule: "fan-out",
            service,
        }));
        let text = render(&registry);
        assert!(
            text.contains("tollgate_findings_raised_total{rule=\"fan-out\",service=\"other\"} 5"),
            "{text}"
        );
    }
}
