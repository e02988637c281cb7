//! Repeats: the same call again and again, irregularly (a cache candidate) or at a regular
//! interval (polling); and receives (a queue's or stream's new messages, never cacheable) that
//! come back empty.

use rust_decimal::Decimal;

use super::{evidence_of, id, on, repeat_evidence, thousands};
use crate::aws::receives::{receive, Receive};
use crate::findings::{Evidence, Facts, Finding, Saving, Thresholds};
use crate::record::Usd;

/// A receive or poll: its answer is whatever arrived since, so it is never a cache candidate
/// nor a polling loop to slow down; its waste is its empty answers ([`empty_receives`]).
fn is_receive(group: &crate::record::RepeatGroup) -> bool {
    receive(&group.service, &group.operation).is_some()
}

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
        .filter(|g| !is_receive(g))
        // A listing's answer is its prefix's objects: read again, it is the relisting finding's
        // when nothing was written in between, and no cache candidate when something was.
        .filter(|g| !(g.service == "s3" && super::S3_LISTINGS.contains(&g.operation.as_str())))
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
        .filter(|g| is_polling(g, thresholds) && !is_receive(g))
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

/// Receives that returned nothing (SQS ReceiveMessage, Kinesis GetRecords): long polling where
/// the API has it, with the empty answers it would remove as the saving.
pub fn empty_receives(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .per_item
        .iter()
        .filter_map(|group| Some((group, receive(&group.service, &group.operation)?)))
        .filter(|(group, _)| group.empty_receives >= thresholds.repeated_min)
        .map(|(group, receive)| empty_receive_finding(group, receive))
        .collect()
}

fn empty_receive_finding(group: &crate::record::ResourceGroup, receive: &Receive) -> Finding {
    let what = if group.service == "sqs" {
        "messages"
    } else {
        "records"
    };
    let empty = group.empty_receives;
    let (advice, saving) = match receive.wait {
        Some((member, seconds)) => {
            // With long polling, one poller gets at most one empty answer per wait; over the
            // receives' span that is span / wait + 1. Counted as if one poller made them all
            // (more pollers get more empty answers): what is saved is at least this.
            let span_s = (group.last_us - group.first_us).max(0) as u64 / 1_000_000;
            let left = span_s / seconds + 1;
            let saved = empty.saturating_sub(left);
            let usd = if empty == 0 {
                Decimal::ZERO
            } else {
                group.empty_receives_cost * Decimal::from(saved) / Decimal::from(empty)
            };
            (
                format!(
                    "Use long polling: {member}={seconds} on {op} (or the queue's \
                     ReceiveMessageWaitTimeSeconds) waits up to {seconds} s for a message \
                     instead of answering empty at once, so a poller gets at most one empty \
                     answer per {seconds} s: {} fewer calls here.",
                    thousands(saved),
                    op = group.operation,
                ),
                (saved > 0).then(|| Saving::new(saved, usd)),
            )
        }
        None => (
            format!(
                "{op} has no long polling: wait before reading again after an empty answer (the \
                 Kinesis Client Library's idle time between reads), or have records pushed \
                 (Kinesis enhanced fan-out, a Lambda trigger).",
                op = group.operation,
            ),
            None,
        ),
    };
    Finding {
        rule: "empty-receives",
        id: id(
            "empty-receives",
            &group.service,
            &group.operation,
            &group.resource,
        ),
        title: format!(
            "{} of {} {}{} returned no {what}",
            thousands(empty),
            thousands(group.count),
            group.operation,
            on(&group.resource),
        ),
        detail: format!(
            "A receive's answer is whatever arrived since the last one: never cache it. What it \
             wastes is empty answers. {advice}"
        ),
        evidence: Evidence {
            calls: empty,
            cost_usd: Usd(group.empty_receives_cost),
            ..evidence_of(group)
        },
        saving,
    }
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

    /// Issue 20 item 5: receives are never "cache the answer"; their finding is the empty ones,
    /// with long polling where the API has it.
    #[test]
    fn receives_are_never_cached_their_empty_answers_are_the_finding() {
        let mut receives = repeat("ReceiveMessage", vec![0, 10, 20, 5_000, 900_000, 910_000]);
        receives.service = "sqs".into();
        let mut records = repeat("GetRecords", (0..10).map(|i| i * 2_000_000).collect());
        records.service = "kinesis".into();
        let facts = Facts {
            repeated: vec![receives, records],
            ..Facts::default()
        };
        let thresholds = Thresholds::default();
        assert!(repeated_calls(&facts, &thresholds).is_empty());
        assert!(polling(&facts, &thresholds).is_empty());

        // 6 receives within a second, 5 of them empty: long polling leaves at most one.
        let group =
            |service: &str, operation: &str, count: u64, empty: u64| crate::record::ResourceGroup {
                service: service.into(),
                operation: operation.into(),
                resource: Some("q".into()),
                count,
                cost: Decimal::new(4, 7) * Decimal::from(count),
                first_us: 0,
                last_us: 910_000,
                listed_before: 0,
                listed_before_cost: Decimal::ZERO,
                empty_receives: empty,
                empty_receives_cost: Decimal::new(4, 7) * Decimal::from(empty),
                after_head: 0,
                refetched_bytes: 0,
                refetched_cost: Decimal::ZERO,
                refetched_calls: 0,
                refetched_calls_cost: Decimal::ZERO,
            };
        let facts = Facts {
            per_item: vec![
                group("sqs", "ReceiveMessage", 6, 5),
                group("kinesis", "GetRecords", 9, 9),
                group("sqs", "SendMessage", 9, 0),
            ],
            ..Facts::default()
        };
        let findings = empty_receives(&facts, &thresholds);
        assert_eq!(findings.len(), 2, "{findings:#?}");
        let sqs = &findings[0];
        assert_eq!(sqs.title, "5 of 6 ReceiveMessage on q returned no messages");
        assert!(sqs.detail.contains("WaitTimeSeconds=20"), "{}", sqs.detail);
        assert!(!sqs.detail.contains("cache the answer"), "{}", sqs.detail);
        let saving = sqs.saving.as_ref().unwrap();
        assert_eq!(saving.calls, 4);
        assert_eq!(saving.usd.0, Decimal::new(16, 7));
        // No long polling for Kinesis: the advice, and no saving claimed.
        let kinesis = &findings[1];
        assert!(kinesis.saving.is_none());
        assert!(
            kinesis.detail.contains("no long polling"),
            "{}",
            kinesis.detail
        );
    }
}
