//! Repeats: the same call again and again, irregularly (a cache candidate) or at a regular
//! interval (polling).

use rust_decimal::Decimal;

use super::{id, on, repeat_evidence, thousands};
use crate::findings::{Facts, Finding, Saving, Thresholds};

fn is_read(operation: &str) -> bool {
    ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

fn is_polling(group: &crate::record::RepeatGroup, thresholds: &Thresholds) -> bool {
    group.most_in_a_run >= thresholds.polling_min
        && is_read(&group.operation)
        && group.cadence.regularity().is_some_and(|(mean_us, cv)| {
            cv <= thresholds.polling_regularity
                && mean_us >= thresholds.polling_min_interval_ms * 1000.0
        })
}

/// ` in 3 runs`, when the calls came from more than one.
fn in_runs(runs: u64) -> String {
    if runs > 1 {
        format!(" in {} runs", thousands(runs))
    } else {
        String::new()
    }
}

/// The same call, same parameters, again and again within a run: a cache candidate.
pub fn repeated_calls(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .repeated
        .iter()
        .filter(|g| g.most_in_a_run >= thresholds.repeated_min && !is_polling(g, thresholds))
        .map(|group| {
            // The first call of each run stays: a cache lives as long as its run.
            let saved = group.repeats();
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
                    "{} identical {} calls{}{}",
                    thousands(group.count),
                    group.operation,
                    on(&group.resource),
                    in_runs(group.runs)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RepeatGroup;

    fn repeat(operation: &str, times_us: Vec<i64>) -> RepeatGroup {
        use crate::record::Cadence;
        RepeatGroup {
            service: "dynamodb".into(),
            operation: operation.into(),
            resource: Some("t".into()),
            fingerprint: "f".into(),
            count: times_us.len() as u64,
            runs: 1,
            most_in_a_run: times_us.len() as u64,
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
}
