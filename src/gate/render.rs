//! The gate's verdict for a terminal, a pull request (Markdown, with a marker a bot can find to
//! update one comment), GitHub's workflow annotations, and tools (JSON).

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::compare::{
    Change, OperationChange, Outcome, PriceChange, SiteCalls, TestChange, Verdict,
};
use crate::record::Usd;

/// The first line of the pull-request comment: a bot updates the comment that has it.
pub const COMMENT_MARKER: &str = "<!-- tollgate -->";

/// `250`, `12.5`: calls per run, averaged when several runs.
fn calls(n: Decimal) -> String {
    let rounded = n.round_dp(1).normalize();
    if rounded.fract().is_zero() {
        crate::findings::rules::thousands(rounded.trunc().try_into().unwrap_or(0u64))
    } else {
        rounded.to_string()
    }
}

fn signed_usd(amount: Decimal) -> String {
    Usd(amount).signed()
}

fn signed_calls(n: Decimal) -> String {
    if n < Decimal::ZERO {
        format!("-{}", calls(-n))
    } else {
        format!("+{}", calls(n))
    }
}

fn percent(p: Option<Decimal>) -> String {
    match p {
        Some(p) if p >= Decimal::ZERO => format!("+{}%", p.normalize()),
        Some(p) => format!("{}%", p.normalize()),
        None => "new".into(),
    }
}

/// `s3 HeadObject: 0 → 250 calls a run, $0.00 → $0.0001 a run (+$0.072 a month at 24 runs a
/// day)`.
fn change_line(name: &str, change: &Change, runs_per_day: Decimal) -> String {
    format!(
        "{name}: {} → {} calls a run, {} → {} a run ({} a month at {} runs a day)",
        calls(change.calls_before),
        calls(change.calls_after),
        change.usd_before,
        change.usd_after,
        signed_usd(change.usd_per_month.0),
        runs_per_day.normalize()
    )
}

fn op_name(op: &OperationChange) -> String {
    format!("{} {}", op.service, op.operation)
}

/// `sync.py:42 in copy_all` (in Markdown: `` `sync.py:42` in `copy_all` ``) from a call site's
/// `sync.py:42 copy_all`.
fn site_text(callsite: &str, markdown: bool) -> String {
    let (place, function) = callsite.split_once(' ').unwrap_or((callsite, ""));
    match (markdown, function.is_empty()) {
        (false, true) => place.to_string(),
        (false, false) => format!("{place} in {function}"),
        (true, true) => format!("`{}`", code(place)),
        (true, false) => format!("`{}` in `{}`", code(place), code(function)),
    }
}

/// Backticks cannot be escaped inside a code span: shown as quotes.
fn code(text: &str) -> String {
    text.replace('`', "'")
}

/// `at sync.py:42 in copy_all (10,000 a run), at util.py:7 in head (3 a run)`; the count is
/// left out when there is one call site.
fn sites_text(sites: &[SiteCalls], markdown: bool) -> Option<String> {
    match sites {
        [] => None,
        [only] => Some(format!("at {}", site_text(&only.callsite, markdown))),
        _ => Some(
            sites
                .iter()
                .map(|site| {
                    format!(
                        "at {} ({} a run)",
                        site_text(&site.callsite, markdown),
                        calls(site.calls)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

/// Whether an operation's change is growth, whose call sites are worth naming.
fn grew(change: &Change) -> bool {
    change.extra_calls() > Decimal::ZERO || change.extra_usd() > Decimal::ZERO
}

/// `tests/test_sync.py::test_copy_all: +10,000 HeadObject, +$4.00 a run` (the test in code
/// quotes in Markdown).
fn test_line(test: &TestChange, markdown: bool) -> String {
    let name = if markdown {
        format!("`{}`", code(&test.test))
    } else {
        test.test.clone()
    };
    let usd = signed_usd(test.change.extra_usd());
    let mut line = format!(
        "{name}: {} {}, {} a run",
        signed_calls(test.change.extra_calls()),
        test.operation,
        if markdown { md(&usd) } else { usd }
    );
    if test.new {
        line.push_str(" (new)");
    } else if test.gone {
        line.push_str(" (gone)");
    }
    if grew(&test.change) {
        if let Some(sites) = sites_text(&test.callsites, markdown) {
            let _ = write!(line, ", {}", if markdown { md(&sites) } else { sites });
        }
    }
    line
}

/// The tests shown: the ones that grew, at most this many.
const TEST_ROWS: usize = 20;

fn grown_tests(outcome: &Outcome) -> impl Iterator<Item = &TestChange> {
    outcome
        .tests
        .iter()
        .filter(|test| grew(&test.change))
        .take(TEST_ROWS)
}

/// The verdict and the biggest regression, or what got cheaper.
pub fn headline(outcome: &Outcome) -> String {
    let per_day = outcome.policy.runs_per_day;
    let verdict = match outcome.verdict {
        Verdict::Pass => "PASS",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
    };
    let totals = &outcome.totals;
    let direction = if totals.extra_usd() < Decimal::ZERO {
        "cheaper"
    } else if totals.extra_usd() > Decimal::ZERO {
        "dearer"
    } else {
        "the same cost"
    };
    let mut line = format!(
        "{verdict}: API cost per run {} → {} ({}, {direction})",
        totals.usd_before,
        totals.usd_after,
        percent(totals.cost_percent).replace("new", "from $0"),
    );
    let worst = outcome
        .operations
        .iter()
        .find(|op| op.verdict > Verdict::Pass)
        .or_else(|| (outcome.verdict == Verdict::Pass).then(|| outcome.operations.first())?);
    if let Some(op) = worst {
        let _ = write!(line, "; {}", change_line(&op_name(op), &op.change, per_day));
        if grew(&op.change) {
            if let Some(site) = op.callsites.first() {
                let _ = write!(line, " at {}", site_text(&site.callsite, false));
            }
        }
        if let Some(test) = outcome
            .tests
            .iter()
            .find(|t| t.service == op.service && t.operation == op.operation && grew(&t.change))
        {
            let _ = write!(
                line,
                "; test {}: {} {} a run",
                test.test,
                signed_calls(test.change.extra_calls()),
                test.operation
            );
        }
        if let Some(finding) = &op.explained_by {
            let _ = write!(line, "; finding: {finding}");
        }
    } else if let Some(finding) = outcome
        .new_findings
        .iter()
        .find(|f| f.verdict > Verdict::Pass)
    {
        let _ = write!(line, "; new finding: {}", finding.title);
    }
    if let Some(change) = &outcome.price_change {
        if !change.change_usd.is_zero() {
            let _ = write!(line, "; {}", price_line(change));
        }
    }
    line
}

/// How prices alone moved the baseline, and whether that counts.
pub fn price_line(change: &PriceChange) -> String {
    let judged = if change.verdict > Verdict::Pass {
        change.verdict.as_str()
    } else {
        "reported, not judged"
    };
    format!(
        "prices: the baseline costs {} a run at today's prices, {} at its own ({}; {judged}); \
         the change above is volume",
        change.today_usd,
        change.recorded_usd,
        change.change_usd.signed()
    )
}

/// For a terminal.
pub fn table(outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", outcome.headline);
    let _ = writeln!(
        out,
        "  calls per run {} → {} ({}), cost per run {} → {} ({})",
        calls(outcome.totals.calls_before),
        calls(outcome.totals.calls_after),
        signed_calls(outcome.totals.extra_calls()),
        outcome.totals.usd_before,
        outcome.totals.usd_after,
        signed_usd(outcome.totals.extra_usd()),
    );
    if let Some(repriced) = &outcome.repriced {
        let _ = writeln!(out, "  {repriced}");
    }
    if let Some(change) = &outcome.price_change {
        let _ = writeln!(out, "  {}", price_line(change));
    }
    if !outcome.operations.is_empty() {
        let _ = writeln!(
            out,
            "\n  {:<6} {:<38} {:>9} {:>9} {:>13} {:>13} {:>8}",
            "", "operation", "before", "after", "cost before", "cost after", "change"
        );
        for op in &outcome.operations {
            let _ = writeln!(
                out,
                "  {:<6} {:<38} {:>9} {:>9} {:>13} {:>13} {:>8}",
                op.verdict.as_str(),
                cut(
                    &format!("{}{}", op_name(op), if op.new { " (new)" } else { "" }),
                    38
                ),
                calls(op.change.calls_before),
                calls(op.change.calls_after),
                op.change.usd_before.to_string(),
                op.change.usd_after.to_string(),
                percent(op.change.cost_percent.or(op.change.calls_percent)),
            );
            if grew(&op.change) {
                if let Some(sites) = sites_text(&op.callsites, false) {
                    let _ = writeln!(out, "  {:<6}   {sites}", "");
                }
            }
        }
    }
    let mut tests = grown_tests(outcome).peekable();
    if tests.peek().is_some() {
        let _ = writeln!(out, "\n  by test:");
        for test in tests {
            let _ = writeln!(
                out,
                "  {:<6} {}",
                test.verdict.as_str(),
                test_line(test, false)
            );
        }
    }
    for finding in &outcome.new_findings {
        let _ = writeln!(
            out,
            "\n  {} new finding: {}\n    → would save {} calls and {} a run",
            finding.verdict.as_str(),
            finding.title,
            calls(finding.saving_calls),
            finding.saving_usd
        );
    }
    for title in &outcome.resolved_findings {
        let _ = writeln!(out, "\n  resolved: {title}");
    }
    let _ = writeln!(out, "\n  {}", thresholds_line(outcome));
    out
}

fn thresholds_line(outcome: &Outcome) -> String {
    let p = &outcome.policy;
    format!(
        "thresholds: total warn +{}% fail +{}%, per operation warn +{}% fail +{}%, changes under \
         {} calls or {} a month are noise; baseline of {} run(s), compared with {} run(s)",
        p.warn_percent.normalize(),
        p.fail_percent.normalize(),
        p.operation_warn_percent.normalize(),
        p.operation_fail_percent.normalize(),
        p.min_calls,
        Usd(p.min_usd_per_month),
        outcome.runs_before,
        outcome.runs_after
    )
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// Markdown for `$GITHUB_STEP_SUMMARY` or a pull-request comment.
pub fn markdown(outcome: &Outcome) -> String {
    let mut out = String::new();
    let icon = match outcome.verdict {
        Verdict::Pass => "✅",
        Verdict::Warn => "⚠️",
        Verdict::Fail => "❌",
    };
    let _ = writeln!(
        out,
        "{COMMENT_MARKER}\n### {icon} tollgate: API cost gate\n"
    );
    let _ = writeln!(out, "**{}**\n", md(&outcome.headline));
    let _ = writeln!(
        out,
        "Calls per run {} → {} ({}); cost per run {} → {} ({}, {} a month at {} runs a day).\n",
        calls(outcome.totals.calls_before),
        calls(outcome.totals.calls_after),
        signed_calls(outcome.totals.extra_calls()),
        md(&outcome.totals.usd_before.to_string()),
        md(&outcome.totals.usd_after.to_string()),
        md(&signed_usd(outcome.totals.extra_usd())),
        md(&signed_usd(outcome.totals.usd_per_month.0)),
        outcome.policy.runs_per_day.normalize()
    );
    if let Some(repriced) = &outcome.repriced {
        let _ = writeln!(out, "{}\n", md(repriced));
    }
    if let Some(change) = &outcome.price_change {
        let _ = writeln!(out, "{}\n", md(&price_line(change)));
    }
    if !outcome.operations.is_empty() {
        out.push_str(
            "| | Operation | Calls before | Calls after | Cost before | Cost after | Change |\n\
             |:--|:--|--:|--:|--:|--:|--:|\n",
        );
        for op in outcome.operations.iter().take(30) {
            let _ = writeln!(
                out,
                "| {} | {}{} | {} | {} | {} | {} | {} |",
                op.verdict.as_str(),
                md(&op_name(op)),
                if op.new { " (new)" } else { "" },
                calls(op.change.calls_before),
                calls(op.change.calls_after),
                md(&op.change.usd_before.to_string()),
                md(&op.change.usd_after.to_string()),
                percent(op.change.cost_percent.or(op.change.calls_percent)),
            );
        }
        if outcome.operations.len() > 30 {
            let _ = writeln!(out, "\n… {} more", outcome.operations.len() - 30);
        }
        out.push('\n');
        let mut named = outcome
            .operations
            .iter()
            .filter(|op| grew(&op.change))
            .filter_map(|op| Some((op, sites_text(&op.callsites, true)?)))
            .peekable();
        if named.peek().is_some() {
            out.push_str("**Where the grown operations are called**\n\n");
            for (op, sites) in named.take(30) {
                let _ = writeln!(out, "- {}: {}", md(&op_name(op)), md(&sites));
            }
            out.push('\n');
        }
    }
    let mut tests = grown_tests(outcome).peekable();
    if tests.peek().is_some() {
        out.push_str("**By test**\n\n");
        for test in tests {
            let _ = writeln!(out, "- {} {}", test.verdict.as_str(), test_line(test, true));
        }
        out.push('\n');
    }
    if !outcome.new_findings.is_empty() {
        out.push_str("**New findings**\n\n");
        for finding in &outcome.new_findings {
            let _ = writeln!(
                out,
                "- {} {} — would save {} calls and {} a run (`{}`)",
                finding.verdict.as_str(),
                md(&finding.title),
                calls(finding.saving_calls),
                md(&finding.saving_usd.to_string()),
                finding.id
            );
        }
        out.push('\n');
    }
    if !outcome.resolved_findings.is_empty() {
        out.push_str("**Resolved findings**\n\n");
        for title in &outcome.resolved_findings {
            let _ = writeln!(out, "- {}", md(title));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "<sub>{}</sub>", md(&thresholds_line(outcome)));
    out
}

/// `$` and `|` would be read as Markdown (math, table cells).
fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('$', "\\$")
}

/// GitHub workflow commands: one annotation per failing or warning change.
pub fn github_annotations(outcome: &Outcome) -> String {
    let mut out = String::new();
    let level = |verdict: Verdict| match verdict {
        Verdict::Fail => Some("error"),
        Verdict::Warn => Some("warning"),
        Verdict::Pass => None,
    };
    let per_day = outcome.policy.runs_per_day;
    for op in &outcome.operations {
        if let Some(level) = level(op.verdict) {
            let mut message = change_line(&op_name(op), &op.change, per_day);
            if grew(&op.change) {
                if let Some(sites) = sites_text(&op.callsites, false) {
                    let _ = write!(message, "; {sites}");
                }
            }
            if let Some(finding) = &op.explained_by {
                let _ = write!(message, "; finding: {finding}");
            }
            let _ = writeln!(out, "::{level} title=tollgate::{}", escape(&message));
        }
    }
    for test in outcome.tests.iter().filter(|test| grew(&test.change)) {
        if let Some(level) = level(test.verdict) {
            let _ = writeln!(
                out,
                "::{level} title=tollgate::{}",
                escape(&test_line(test, false))
            );
        }
    }
    for finding in &outcome.new_findings {
        if let Some(level) = level(finding.verdict) {
            let message = format!(
                "new finding: {} (would save {} calls and {} a run)",
                finding.title,
                calls(finding.saving_calls),
                finding.saving_usd
            );
            let _ = writeln!(out, "::{level} title=tollgate::{}", escape(&message));
        }
    }
    if out.is_empty() {
        if let Some(level) = level(outcome.verdict) {
            let _ = writeln!(
                out,
                "::{level} title=tollgate::{}",
                escape(&outcome.headline)
            );
        }
    }
    out
}

/// GitHub's escaping for workflow command data.
fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_per_run_show_whole_or_to_a_tenth() {
        assert_eq!(calls(Decimal::from(1250)), "1,250");
        assert_eq!(calls(Decimal::new(125, 1)), "12.5");
        assert_eq!(calls(Decimal::new(3333, 3)), "3.3");
    }

    #[test]
    fn annotations_escape_what_github_would_read_as_commands() {
        assert_eq!(escape("50%\nnext"), "50%25%0Anext");
    }
}
