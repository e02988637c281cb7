//! The comparison: a run (or runs) against a baseline, per run, judged by a [`Policy`].

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::baseline::{Baseline, FindingFigures, OperationFigures, TestOperationFigures};
use super::policy::Policy;
use crate::record::Usd;

/// What the gate decided. Ordered: the worst of several is the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// Calls and money per run, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Calls per run (an average when the baseline or the gated selection has several runs).
    pub calls_before: Decimal,
    pub calls_after: Decimal,
    pub usd_before: Usd,
    pub usd_after: Usd,
    /// `usd_after - usd_before`, a month at the policy's runs a day.
    pub usd_per_month: Usd,
    /// Percent change of the cost (`None` from $0), and of the calls (`None` from 0).
    pub cost_percent: Option<Decimal>,
    pub calls_percent: Option<Decimal>,
}

impl Change {
    fn new(
        calls_before: Decimal,
        calls_after: Decimal,
        usd_before: Decimal,
        usd_after: Decimal,
        policy: &Policy,
    ) -> Self {
        let percent = |before: Decimal, after: Decimal| {
            (!before.is_zero())
                .then(|| ((after - before) * Decimal::from(100) / before).round_dp(1))
        };
        Change {
            cost_percent: percent(usd_before, usd_after),
            calls_percent: percent(calls_before, calls_after),
            usd_per_month: Usd(policy.per_month(usd_after - usd_before)),
            calls_before,
            calls_after,
            usd_before: Usd(usd_before),
            usd_after: Usd(usd_after),
        }
    }

    pub fn extra_calls(&self) -> Decimal {
        self.calls_after - self.calls_before
    }

    pub fn extra_usd(&self) -> Decimal {
        self.usd_after.0 - self.usd_before.0
    }

    /// The verdict for growth past `warn`/`fail` percent and past the noise floors; a figure
    /// that starts from zero crosses any percentage.
    fn judge(&self, warn: Decimal, fail: Decimal, policy: &Policy) -> Verdict {
        let crosses = |percent: Option<Decimal>, grew: bool, threshold: Decimal| {
            grew && percent.is_none_or(|p| p >= threshold)
        };
        let calls_matter = self.extra_calls() >= Decimal::from(policy.min_calls);
        let money_matters =
            self.usd_per_month.0 >= policy.min_usd_per_month && self.extra_usd() > Decimal::ZERO;
        let level = |threshold: Decimal| {
            (calls_matter && crosses(self.calls_percent, true, threshold))
                || (money_matters && crosses(self.cost_percent, true, threshold))
        };
        if level(fail) {
            Verdict::Fail
        } else if level(warn) {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }
}

/// One operation's change.
#[derive(Debug, Clone, Serialize)]
pub struct OperationChange {
    pub service: String,
    pub operation: String,
    pub verdict: Verdict,
    /// Not in the baseline, or gone from the run.
    pub new: bool,
    pub gone: bool,
    #[serde(flatten)]
    pub change: Change,
    /// The finding of the run that explains the change, when there is one (its title).
    pub explained_by: Option<String>,
    /// Where the run made this operation's calls (`x-tollgate-callsite`), most first, at most
    /// three; empty when its calls named none.
    pub callsites: Vec<SiteCalls>,
}

/// A call site of the gated run and its calls per run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteCalls {
    /// `path:line function`.
    pub callsite: String,
    pub calls: Decimal,
}

/// One test's change on one operation (`x-tollgate-test`). Judged by the per-operation
/// thresholds, but never worse than the operation's own verdict: calls that moved from one test
/// to another are not growth.
#[derive(Debug, Clone, Serialize)]
pub struct TestChange {
    pub test: String,
    pub service: String,
    pub operation: String,
    pub verdict: Verdict,
    /// Not in the baseline's figures of this test, or gone from the run's.
    pub new: bool,
    pub gone: bool,
    #[serde(flatten)]
    pub change: Change,
    /// Where this test made the operation's calls in the run, most first, at most three.
    pub callsites: Vec<SiteCalls>,
}

/// How prices alone moved one side's cost, per run.
#[derive(Debug, Clone, Serialize)]
pub struct PriceChange {
    pub from_table: String,
    pub to_table: String,
    /// At the prices it was recorded with.
    pub recorded_usd: Usd,
    /// At today's.
    pub today_usd: Usd,
    pub change_usd: Usd,
    pub operations_repriced: u64,
    pub operations_kept: u64,
    pub verdict: Verdict,
}

impl PriceChange {
    /// Judged like the whole run's cost when the policy fails on price changes; else shown only.
    pub fn judge(&mut self, policy: &Policy) {
        if !policy.fail_on_price_change {
            return;
        }
        let change = Change::new(
            Decimal::ZERO,
            Decimal::ZERO,
            self.recorded_usd.0,
            self.today_usd.0,
            policy,
        );
        self.verdict = change.judge(policy.warn_percent, policy.fail_percent, policy);
    }
}

/// A finding the baseline did not have.
#[derive(Debug, Clone, Serialize)]
pub struct NewFinding {
    pub verdict: Verdict,
    pub key: String,
    pub rule: String,
    pub id: String,
    pub title: String,
    /// What acting on it would save, per run.
    pub saving_calls: Decimal,
    pub saving_usd: Usd,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// One line: the verdict and the biggest regression (or improvement); filled by
    /// [`super::evaluate`].
    pub headline: String,
    pub totals: Change,
    /// Every operation that changed, biggest cost change (up) first.
    pub operations: Vec<OperationChange>,
    pub new_findings: Vec<NewFinding>,
    /// Every test whose calls of an operation changed, worst and biggest growth first. Empty
    /// when the baseline or the run has no per-test figures (no call named its test).
    pub tests: Vec<TestChange>,
    /// Findings of the baseline that the run no longer has.
    pub resolved_findings: Vec<String>,
    /// How the baseline's prices were made comparable, when its price table differs.
    pub repriced: Option<String>,
    /// When the baseline was priced with other prices: how prices alone moved its cost per run.
    /// `totals` then compare both sides at today's prices, so their change is volume only. A
    /// price change is reported, and fails the build only with `fail_on_price_change`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_change: Option<PriceChange>,
    pub runs_before: u64,
    pub runs_after: u64,
    pub policy: Policy,
}

/// An operation in the baseline and in the run, when it is there.
type Pair<'a> = (Option<&'a OperationFigures>, Option<&'a OperationFigures>);

/// Compares `after` (the gated run or runs) with `before` (the baseline), per run.
pub fn compare(before: &Baseline, after: &Baseline, policy: &Policy) -> Outcome {
    let per_run_before = |n: u64| Decimal::from(n) / Decimal::from(before.runs.max(1));
    let per_run_after = |n: u64| Decimal::from(n) / Decimal::from(after.runs.max(1));
    let usd_before = |usd: Usd| before.per_run(usd.0);
    let usd_after = |usd: Usd| after.per_run(usd.0);

    let key = |op: &OperationFigures| (op.service.clone(), op.operation.clone());
    let mut pairs: BTreeMap<(String, String), Pair<'_>> = BTreeMap::new();
    for op in &before.operations {
        pairs.entry(key(op)).or_default().0 = Some(op);
    }
    for op in &after.operations {
        pairs.entry(key(op)).or_default().1 = Some(op);
    }

    // The run's finding on the operation that would save the most: the `top-*` ones only say
    // the operation is expensive, which the change itself shows.
    let explanations = |service: &str, operation: &str| -> Option<String> {
        after
            .findings
            .iter()
            .filter(|f| !f.rule.starts_with("top-"))
            .filter(|f| f.key.ends_with(&format!(":{service}:{operation}")))
            .max_by_key(|f| (f.saving_usd, f.saving_calls))
            .map(|f| f.title.clone())
    };

    // Totals without the ignored operations.
    let (mut calls_b, mut calls_a, mut usd_b, mut usd_a) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut operations = Vec::new();
    for ((service, operation), (b, a)) in &pairs {
        if policy.ignores(service, operation) {
            continue;
        }
        let cb = b.map_or(Decimal::ZERO, |op| per_run_before(op.calls));
        let ca = a.map_or(Decimal::ZERO, |op| per_run_after(op.calls));
        let ub = b.map_or(Decimal::ZERO, |op| usd_before(op.total_usd));
        let ua = a.map_or(Decimal::ZERO, |op| usd_after(op.total_usd));
        calls_b += cb;
        calls_a += ca;
        usd_b += ub;
        usd_a += ua;
        let change = Change::new(cb, ca, ub, ua, policy);
        // The same calls for a cost within 1 % (a response a few bytes longer): unchanged.
        let same_cost = change
            .cost_percent
            .map_or(change.usd_after.is_zero(), |p| p.abs() < Decimal::ONE);
        if change.calls_before == change.calls_after && same_cost {
            continue;
        }
        let new = b.is_none();
        let mut verdict = change.judge(
            policy.operation_warn_percent,
            policy.operation_fail_percent,
            policy,
        );
        if new && policy.fail_on_new_operation {
            verdict = Verdict::Fail;
        }
        operations.push(OperationChange {
            service: service.clone(),
            operation: operation.clone(),
            verdict,
            new,
            gone: a.is_none(),
            explained_by: (change.extra_calls() > Decimal::ZERO)
                .then(|| explanations(service, operation))
                .flatten(),
            callsites: a.map_or_else(Vec::new, |op| {
                op.callsites
                    .iter()
                    .map(|site| SiteCalls {
                        callsite: site.callsite.clone(),
                        calls: per_run_after(site.calls),
                    })
                    .collect()
            }),
            change,
        });
    }
    // Worst first, then the biggest cost change up, then the most extra calls.
    operations.sort_by(|x, y| {
        y.verdict
            .cmp(&x.verdict)
            .then(y.change.extra_usd().cmp(&x.change.extra_usd()))
            .then(y.change.extra_calls().cmp(&x.change.extra_calls()))
            .then_with(|| (&x.service, &x.operation).cmp(&(&y.service, &y.operation)))
    });

    let tests = compare_tests(before, after, policy, &operations);

    let totals = Change::new(calls_b, calls_a, usd_b, usd_a, policy);
    let mut verdict = totals.judge(policy.warn_percent, policy.fail_percent, policy);

    let known: Vec<&str> = before.findings.iter().map(|f| f.key.as_str()).collect();
    let new_findings: Vec<NewFinding> = after
        .findings
        .iter()
        .filter(|f| !known.contains(&f.key.as_str()) && !ignored_finding(f, policy))
        .map(|f| {
            let saving_calls = per_run_after(f.saving_calls);
            let saving_usd = usd_after(f.saving_usd);
            let matters = saving_calls >= Decimal::from(policy.min_calls)
                || policy.per_month(saving_usd) >= policy.min_usd_per_month;
            NewFinding {
                verdict: if matters && policy.fail_on_new_finding {
                    Verdict::Fail
                } else {
                    Verdict::Warn
                },
                key: f.key.clone(),
                rule: f.rule.clone(),
                id: f.id.clone(),
                title: f.title.clone(),
                saving_calls,
                saving_usd: Usd(saving_usd),
            }
        })
        .collect();
    let after_keys: Vec<&str> = after.findings.iter().map(|f| f.key.as_str()).collect();
    let resolved_findings = before
        .findings
        .iter()
        .filter(|f| !after_keys.contains(&f.key.as_str()))
        .map(|f| f.title.clone())
        .collect();

    verdict = operations
        .iter()
        .map(|op| op.verdict)
        .chain(new_findings.iter().map(|f| f.verdict))
        .fold(verdict, Verdict::max);

    Outcome {
        verdict,
        headline: String::new(),
        totals,
        operations,
        new_findings,
        tests,
        resolved_findings,
        repriced: None,
        price_change: None,
        runs_before: before.runs,
        runs_after: after.runs,
        policy: policy.clone(),
    }
}

/// Per test and operation, when both sides have per-test figures.
fn compare_tests(
    before: &Baseline,
    after: &Baseline,
    policy: &Policy,
    operations: &[OperationChange],
) -> Vec<TestChange> {
    if before.tests.is_empty() || after.tests.is_empty() {
        return Vec::new();
    }
    type Key = (String, String, String);
    let mut pairs: BTreeMap<Key, (Option<&TestOperationFigures>, Option<&TestOperationFigures>)> =
        BTreeMap::new();
    for test in &before.tests {
        for op in &test.operations {
            let key = (test.test.clone(), op.service.clone(), op.operation.clone());
            pairs.entry(key).or_default().0 = Some(op);
        }
    }
    for test in &after.tests {
        for op in &test.operations {
            let key = (test.test.clone(), op.service.clone(), op.operation.clone());
            pairs.entry(key).or_default().1 = Some(op);
        }
    }
    let operation_verdict = |service: &str, operation: &str| {
        operations
            .iter()
            .find(|op| op.service == service && op.operation == operation)
            .map_or(Verdict::Pass, |op| op.verdict)
    };
    let mut tests = Vec::new();
    for ((test, service, operation), (b, a)) in pairs {
        if policy.ignores(&service, &operation) {
            continue;
        }
        let change = Change::new(
            b.map_or(Decimal::ZERO, |op| {
                Decimal::from(op.calls) / Decimal::from(before.runs.max(1))
            }),
            a.map_or(Decimal::ZERO, |op| {
                Decimal::from(op.calls) / Decimal::from(after.runs.max(1))
            }),
            b.map_or(Decimal::ZERO, |op| before.per_run(op.total_usd.0)),
            a.map_or(Decimal::ZERO, |op| after.per_run(op.total_usd.0)),
            policy,
        );
        let same_cost = change
            .cost_percent
            .map_or(change.usd_after.is_zero(), |p| p.abs() < Decimal::ONE);
        if change.calls_before == change.calls_after && same_cost {
            continue;
        }
        let verdict = change
            .judge(
                policy.operation_warn_percent,
                policy.operation_fail_percent,
                policy,
            )
            .min(operation_verdict(&service, &operation));
        tests.push(TestChange {
            callsites: a.map_or_else(Vec::new, |op| {
                op.callsites
                    .iter()
                    .map(|site| SiteCalls {
                        callsite: site.callsite.clone(),
                        calls: Decimal::from(site.calls) / Decimal::from(after.runs.max(1)),
                    })
                    .collect()
            }),
            new: b.is_none(),
            gone: a.is_none(),
            test,
            service,
            operation,
            verdict,
            change,
        });
    }
    tests.sort_by(|x, y| {
        y.verdict
            .cmp(&x.verdict)
            .then(y.change.extra_usd().cmp(&x.change.extra_usd()))
            .then(y.change.extra_calls().cmp(&x.change.extra_calls()))
            .then_with(|| {
                (&x.test, &x.service, &x.operation).cmp(&(&y.test, &y.service, &y.operation))
            })
    });
    tests
}

fn ignored_finding(finding: &FindingFigures, policy: &Policy) -> bool {
    let mut parts = finding.key.splitn(3, ':');
    let (_, service, operation) = (parts.next(), parts.next(), parts.next());
    match (service, operation) {
        (Some(service), Some(operation)) => policy.ignores(service, operation),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::tests::{baseline, op, suite, usd};

    fn test_op(operation: &str, calls: u64, total: &str) -> TestOperationFigures {
        TestOperationFigures {
            service: "s3".into(),
            operation: operation.into(),
            calls,
            total_usd: usd(total),
            callsites: vec![super::super::baseline::SiteFigures {
                callsite: format!("sync.py:{calls} copy_all"),
                calls,
            }],
        }
    }

    fn test(
        name: &str,
        operations: Vec<TestOperationFigures>,
    ) -> super::super::baseline::TestFigures {
        super::super::baseline::TestFigures {
            test: name.into(),
            calls: operations.iter().map(|op| op.calls).sum(),
            total_usd: Usd(operations.iter().map(|op| op.total_usd.0).sum()),
            operations,
        }
    }

    /// The test that grew an operation is named with its change and the line behind it; calls
    /// that moved from one test to another are shown, never failed on their own.
    #[test]
    fn tests_are_compared_per_operation_and_capped_by_the_operations_verdict() {
        let policy = Policy::default();
        let mut before = baseline(1, vec![op("s3", "HeadObject", 20, "0.000008")]);
        before.tests = vec![
            test("t.py::test_a", vec![test_op("HeadObject", 10, "0.000004")]),
            test("t.py::test_b", vec![test_op("HeadObject", 10, "0.000004")]),
        ];
        // The same 20 HEADs, moved from test_b to test_a: the operation did not grow.
        let mut moved = baseline(1, vec![op("s3", "HeadObject", 20, "0.000008")]);
        moved.tests = vec![test(
            "t.py::test_a",
            vec![test_op("HeadObject", 20, "0.000008")],
        )];
        let outcome = compare(&before, &moved, &policy);
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert_eq!(outcome.tests.len(), 2, "{:#?}", outcome.tests);
        assert!(outcome.tests.iter().all(|t| t.verdict == Verdict::Pass));
        assert_eq!(outcome.tests[0].test, "t.py::test_a");
        assert_eq!(outcome.tests[0].change.extra_calls(), Decimal::from(10));
        assert!(outcome.tests[1].gone);

        // test_a grows by 1,000 HEADs over two runs: +500 a run, failing, at its line.
        let mut grown = baseline(2, vec![op("s3", "HeadObject", 1040, "0.000416")]);
        grown.tests = vec![
            test(
                "t.py::test_a",
                vec![test_op("HeadObject", 1020, "0.000408")],
            ),
            test("t.py::test_b", vec![test_op("HeadObject", 20, "0.000008")]),
        ];
        let outcome = compare(&before, &grown, &policy);
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.tests.len(), 1, "{:#?}", outcome.tests);
        let a = &outcome.tests[0];
        assert_eq!(
            (a.test.as_str(), a.verdict),
            ("t.py::test_a", Verdict::Fail)
        );
        assert_eq!(a.change.calls_after, Decimal::from(510));
        assert_eq!(a.change.usd_after, usd("0.000204"));
        assert_eq!(a.callsites[0].callsite, "sync.py:1020 copy_all");
        assert_eq!(a.callsites[0].calls, Decimal::from(510));

        // A baseline without per-test figures: compared per operation only.
        let outcome = compare(&baseline(1, before.operations.clone()), &grown, &policy);
        assert!(outcome.tests.is_empty());
        assert_eq!(outcome.verdict, Verdict::Fail);
    }

    #[test]
    fn the_same_suite_passes_and_a_head_per_key_fails_naming_the_operation() {
        let policy = Policy::default();
        let before = baseline(1, suite(0, 40));
        assert_eq!(
            compare(&before, &baseline(1, suite(0, 40)), &policy).verdict,
            Verdict::Pass
        );

        let outcome = compare(&before, &baseline(1, suite(250, 40)), &policy);
        assert_eq!(outcome.verdict, Verdict::Fail);
        let worst = &outcome.operations[0];
        assert_eq!(
            (worst.service.as_str(), worst.operation.as_str()),
            ("s3", "HeadObject")
        );
        assert!(worst.new);
        assert_eq!(worst.change.calls_after, Decimal::from(250));
        assert_eq!(worst.change.usd_after, usd("0.0001"));
        // $0.0001 a run, 24 runs a day, 30 days.
        assert_eq!(worst.change.usd_per_month, usd("0.072"));
    }

    #[test]
    fn a_few_percent_of_noise_passes_by_default_and_per_run_figures_average_runs() {
        let policy = Policy::default();
        let before = baseline(
            2,
            suite(0, 40)
                .into_iter()
                .map(|mut op| {
                    op.calls *= 2;
                    op.total_usd = Usd(op.total_usd.0 * Decimal::from(2));
                    op
                })
                .collect(),
        );
        // 3 % more GetItems (free here) and 3 % more PutObjects per run.
        let mut noisy = suite(0, 41);
        noisy[0] = op("s3", "PutObject", 258, "0.00129");
        let outcome = compare(&before, &baseline(1, noisy), &policy);
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:#?}");
        assert_eq!(outcome.totals.calls_before, Decimal::from(300));
    }

    #[test]
    fn a_cheaper_run_passes_and_ignored_operations_are_left_out() {
        let policy = Policy {
            ignore: vec!["s3:HeadObject".into()],
            ..Policy::default()
        };
        let before = baseline(1, suite(250, 40));
        let outcome = compare(&before, &baseline(1, suite(0, 40)), &policy);
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert!(outcome.operations.is_empty(), "{outcome:#?}");
        let outcome = compare(&before, &baseline(1, suite(0, 20)), &Policy::default());
        assert_eq!(outcome.verdict, Verdict::Pass);
        assert!(outcome.totals.extra_usd() < Decimal::ZERO);
    }
}
