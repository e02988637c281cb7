//! The report in GitHub-flavoured Markdown, for a CI step summary or a pull-request comment: the
//! run and its cost, findings first (with what they save), then operations and paginator loops,
//! most expensive first. It stays under 64 KiB (GitHub's limit for a comment): rows are dropped
//! from the ends of the long tables, and counted, before anything else.

use std::fmt::Write as _;

use super::format::{
    actionable, breakdown, cost_cell, counted, cut, duration, git_line, loop_end, loop_name,
    loop_summary, milliseconds, operation_name, page_size, people_time, saving_text, ItemsNotes,
    LOOP_COST_LEGEND,
};
use super::groups::{operations_text, GroupBy, GroupReport, GroupedReport};
use super::{LoopReport, OperationReport, Report, RunReport};
use crate::findings::rules::thousands;
use crate::findings::Finding;
use crate::record::Usd;

/// The whole document stays below this many bytes (GitHub comments hold 65,536 characters, and
/// a character is at least a byte).
pub const MARKDOWN_LIMIT: usize = 64 * 1024;

/// Rows shown at most, even when more would fit: a summary, not the data (that is the JSON).
const MAX_FINDINGS: usize = 30;
const MAX_OPERATIONS: usize = 100;
const MAX_LOOPS: usize = 50;
/// Rows each long table keeps before findings give up any of theirs.
const FLOOR_ROWS: usize = 5;
/// Free text (names, commands, finding titles) is cut to this many characters.
const MAX_NAME: usize = 120;
const MAX_TEXT: usize = 400;

pub fn render_markdown(report: &Report) -> String {
    const FINDINGS: usize = 0;
    const OPERATIONS: usize = 1;
    const LOOPS: usize = 2;
    let parts = Parts::new(report);
    let mut shown = [
        parts.findings.len(),
        parts.operations.len(),
        parts.loops.len(),
    ];
    loop {
        let text = parts.assemble(shown);
        if text.len() < MARKDOWN_LIMIT {
            return text;
        }
        // Operations and loops give rows first (the longer table first), down to a few each;
        // then findings; then the last few rows of the tables.
        let longer = if shown[OPERATIONS] >= shown[LOOPS] {
            OPERATIONS
        } else {
            LOOPS
        };
        let give = if shown[longer] > FLOOR_ROWS {
            Some(longer)
        } else {
            [FINDINGS, OPERATIONS, LOOPS]
                .into_iter()
                .find(|&section| shown[section] > 0)
        };
        if let Some(section) = give {
            shown[section] -= 1;
        } else {
            // The head alone cannot be this long (its free text is cut), but never exceed.
            return cut_bytes(&text, MARKDOWN_LIMIT - 1);
        }
    }
}

/// The document in pieces, each long table's rows rendered once.
struct Parts {
    head: String,
    findings_total: usize,
    findings: Vec<String>,
    operations_head: String,
    operations_total: usize,
    operations: Vec<String>,
    operations_legend: String,
    loops_head: String,
    loops_total: usize,
    loops: Vec<String>,
    /// Why items are unknown, where they are.
    loops_legend: String,
    /// The top call sites and the clients.
    groups: String,
    tail: String,
}

impl Parts {
    fn new(report: &Report) -> Parts {
        let mut head = String::new();
        write_head(&mut head, report);
        let actionable = actionable(report);
        let findings = actionable
            .iter()
            .take(MAX_FINDINGS)
            .map(|f| finding_item(f))
            .collect();

        let operations: Vec<String> = report
            .operations
            .iter()
            .take(MAX_OPERATIONS)
            .map(operation_row)
            .collect();
        let operations_legend = operations_legend(&report.operations[..operations.len()]);

        let mut by_pages: Vec<&LoopReport> = report.loops.iter().collect();
        by_pages.sort_by(|a, b| b.pages.cmp(&a.pages).then(a.loop_id.cmp(&b.loop_id)));
        let many_runs = report.runs.len() > 1;
        let notes = ItemsNotes::of(by_pages.iter().take(MAX_LOOPS).copied());
        let loops = by_pages
            .iter()
            .take(MAX_LOOPS)
            .map(|l| loop_row(l, many_runs, &notes))
            .collect();
        let loops_legend = match notes.lines() {
            lines if lines.is_empty() => String::new(),
            lines => format!("\n<sub>{}</sub>\n", md(&lines.join(" · "))),
        };

        Parts {
            head,
            findings_total: actionable.len(),
            findings,
            operations_head: operations_head(report),
            operations_total: report.operations.len(),
            operations,
            operations_legend,
            loops_head: loops_head(report, many_runs),
            loops_total: report.loops.len(),
            loops,
            loops_legend,
            groups: groups_sections(report),
            tail: tail(report),
        }
    }

    fn assemble(&self, [findings, operations, loops]: [usize; 3]) -> String {
        let mut out = self.head.clone();
        if self.findings_total > 0 {
            out.push_str("\n### Findings (most saved first)\n\n");
            for item in &self.findings[..findings] {
                out.push_str(item);
            }
            more(&mut out, self.findings_total - findings, "findings");
        }
        if self.operations_total > 0 {
            out.push_str(&self.operations_head);
            for row in &self.operations[..operations] {
                out.push_str(row);
            }
            more(&mut out, self.operations_total - operations, "operations");
            out.push_str(&self.operations_legend);
        }
        if self.loops_total > 0 {
            out.push_str(&self.loops_head);
            for row in &self.loops[..loops] {
                out.push_str(row);
            }
            more(&mut out, self.loops_total - loops, "loops");
            out.push_str(&self.loops_legend);
        }
        out.push_str(&self.groups);
        out.push_str(&self.tail);
        out
    }
}

/// The full report's call-site and client sections.
fn groups_sections(report: &Report) -> String {
    let mut out = String::new();
    if !report.callsites.is_empty() {
        out.push_str("\n### Call sites (most expensive first)\n\n");
        groups_markdown(&mut out, GroupBy::Callsite, &report.callsites);
    }
    if !report.clients.is_empty() {
        out.push_str("\n### Clients\n\n");
        groups_markdown(&mut out, GroupBy::Sdk, &report.clients);
    }
    out
}

/// A table of groups: key, calls, cost, top operations.
fn groups_markdown(out: &mut String, by: GroupBy, groups: &[GroupReport]) {
    let _ = writeln!(
        out,
        "| {} | Calls | Cost | Top operations |\n|---|--:|--:|---|",
        by.heading()
    );
    for group in groups {
        let label = match &group.key {
            Some(key) => code(&cut(key, MAX_TEXT)),
            None => md(&group.label),
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            thousands(group.calls),
            usd(group.total_usd),
            md(&operations_text(group))
        );
    }
}

/// `report --by KEY --format markdown`.
pub fn render_grouped_markdown(report: &GroupedReport) -> String {
    let mut out = format!(
        "## tollgate · calls by {} · {}\n\n",
        report.by.heading(),
        match report.runs.as_slice() {
            [run] => format!("run {run}"),
            runs => format!("{} runs", runs.len()),
        }
    );
    if report.groups.is_empty() {
        out.push_str("No calls.\n");
    } else {
        let shown = report.groups.len().min(MAX_OPERATIONS);
        groups_markdown(&mut out, report.by, &report.groups[..shown]);
        more(&mut out, report.groups.len() - shown, "groups");
    }
    let text = out;
    if text.len() < MARKDOWN_LIMIT {
        text
    } else {
        cut_bytes(&text, MARKDOWN_LIMIT - 1)
    }
}

/// The operations table's heading and header row; empty without operations.
fn operations_head(report: &Report) -> String {
    let mut operations_head = String::new();
    if !report.operations.is_empty() {
        operations_head.push_str(
            "\n### Operations\n\n\
             | Operation | Calls | Retries | Errors | Cost | p50 | p99 |\n\
             |:--|--:|--:|--:|--:|--:|--:|\n",
        );
    }
    operations_head
}

/// What the marks in the cost column of the rows `shown` mean; empty without marks.
fn operations_legend(shown: &[OperationReport]) -> String {
    let mut operations_legend = String::new();
    let estimated = shown.iter().any(|op| op.estimated > 0);
    let unpriced = shown.iter().any(|op| op.unpriced > 0);
    if estimated || unpriced {
        let mut marks = Vec::new();
        if estimated {
            marks.push("~ estimated");
        }
        if unpriced {
            marks.push("? some attempts unpriced (unknown, not \\$0)");
        }
        if shown.iter().any(|op| op.not_in_model > 0) {
            marks.push(
                "not in model: newer than the AWS model that identified the run, named from \
                 the request (`tollgate model update` builds the model from your botocore)",
            );
        }
        operations_legend = format!("\n<sub>{}</sub>\n", marks.join(" · "));
    }
    operations_legend
}

/// The loops table's heading, totals and header row; empty without loops.
fn loops_head(report: &Report, many_runs: bool) -> String {
    let mut loops_head = String::new();
    if !report.loops.is_empty() {
        let _ = write!(
            loops_head,
            "\n### Paginator loops\n\n{}\n\n<sub>{}</sub>\n\n",
            loop_summary(&report.loop_totals),
            LOOP_COST_LEGEND
        );
        loops_head.push_str(if many_runs {
            "| Loop | Run | Pages | Items | Page size | End | Cost |\n\
             |:--|--:|--:|--:|--:|:--|--:|\n"
        } else {
            "| Loop | Pages | Items | Page size | End | Cost |\n\
             |:--|--:|--:|--:|:--|--:|\n"
        });
    }
    loops_head
}

/// The projection, if any, and the versions, database and time the report comes from.
fn tail(report: &Report) -> String {
    let mut tail = String::new();
    if let Some(projection) = &report.projection {
        let _ = write!(
            tail,
            "\n### Projection\n\n{} a run × {} runs a day = **{} a month**; the findings \
             would save {} a month.\n",
            usd(projection.per_run_usd),
            md(&projection.runs_per_day),
            usd(projection.per_month_usd),
            usd(projection.savings_per_month_usd)
        );
    }
    if let Some(repriced) = &report.repriced {
        let _ = writeln!(tail, "\n### Re-priced\n");
        for line in repriced.lines(10) {
            let _ = writeln!(tail, "- {}", md(&line));
        }
    }
    let versions = match report.runs.first() {
        Some(run) => format!(
            "tollgate {} · prices {} · {} · ",
            md(&run.tollgate_version),
            md(&cut(&run.pricing_version, MAX_NAME)),
            md(&cut(&run.model_version, MAX_NAME))
        ),
        None => String::new(),
    };
    let _ = write!(
        tail,
        "\n<sub>{versions}database {} · generated {}</sub>\n",
        md(&cut(&report.database, MAX_TEXT)),
        md(&report.generated_at)
    );
    tail
}

/// After a list or a table, a paragraph of its own: `…and 12 more loops (see the JSON report)`.
fn more(out: &mut String, hidden: usize, what: &str) {
    if hidden > 0 {
        let _ = writeln!(
            out,
            "\n…and {} more {what} (see the JSON report)",
            thousands(hidden as u64)
        );
    }
}

fn write_head(out: &mut String, report: &Report) {
    write_title(out, report);
    if report.runs.is_empty() {
        return;
    }
    write_totals(out, report);
    write_warnings(out, report);
}

/// The heading with the total, and the run (or runs) reported.
fn write_title(out: &mut String, report: &Report) {
    let total = usd(report.totals.total_usd);
    match report.runs.as_slice() {
        [] => {
            let _ = writeln!(out, "## tollgate: no runs match");
        }
        [run] => {
            let _ = writeln!(out, "## tollgate: {total} · run {}", run.id);
            let _ = writeln!(out, "\n{}", run_line(run));
        }
        runs => {
            let _ = writeln!(out, "## tollgate: {total} · {} runs", runs.len());
            let incomplete = runs.iter().filter(|r| r.state != "complete").count();
            let _ = writeln!(
                out,
                "\nRuns {} to {}, from {} to {}{}",
                runs.iter().map(|r| r.id).min().unwrap_or_default(),
                runs.iter().map(|r| r.id).max().unwrap_or_default(),
                md(&people_time(
                    runs.last().map(|r| r.started_at.as_str()).unwrap_or("")
                )),
                md(&people_time(
                    runs.first().map(|r| r.started_at.as_str()).unwrap_or("")
                )),
                if incomplete > 0 {
                    format!(" · {incomplete} incomplete or running")
                } else {
                    String::new()
                }
            );
        }
    }
}

/// The calls, attempts, retries, errors and throttled, and what the cost is made of.
fn write_totals(out: &mut String, report: &Report) {
    let t = &report.totals;
    let mut line = format!(
        "\n**{}** ({}, {}, {}, {} throttled)",
        counted(t.calls, "call", "calls"),
        counted(t.attempts, "attempt", "attempts"),
        counted(t.retries, "retry", "retries"),
        counted(t.errors, "error", "errors"),
        thousands(t.throttled)
    );
    let parts = breakdown(report);
    if !parts.is_empty() {
        let _ = write!(line, " · {}", md(&parts.join(", ")));
    }
    let _ = writeln!(out, "{line}");
}

/// Unpriced attempts, calls not recorded and runs that ended unrecorded, as one alert.
fn write_warnings(out: &mut String, report: &Report) {
    let t = &report.totals;
    let mut warnings = Vec::new();
    if t.unpriced > 0 {
        warnings.push(format!(
            "{} unpriced: no price in the table (unknown, not \\$0)",
            counted(t.unpriced, "attempt", "attempts")
        ));
    }
    if t.lost_calls > 0 {
        let reasons: Vec<String> = report
            .runs
            .iter()
            .filter_map(|r| r.lost_reason.as_deref())
            .map(|reason| md(&cut(reason, MAX_NAME)))
            .collect();
        warnings.push(format!(
            "{} calls were made but not recorded ({})",
            thousands(t.lost_calls.max(0) as u64),
            reasons.join("; ")
        ));
    }
    let incomplete: Vec<String> = report
        .runs
        .iter()
        .filter(|r| r.state == "incomplete" && r.ended_at.is_none())
        .map(|r| r.id.to_string())
        .collect();
    if !incomplete.is_empty() {
        warnings.push(format!(
            "run {} ended without tollgate recording its end (killed?): its calls up to then \
             are here",
            incomplete.join(", ")
        ));
    }
    if !warnings.is_empty() {
        out.push_str("\n> [!WARNING]\n");
        for warning in warnings {
            let _ = writeln!(out, "> {warning}  ");
        }
    }
}

/// `` `python app.py` · 2026-09-21 14:13:20 UTC · 2.5 s · main @ 0123abcd · exit 0 ``
fn run_line(run: &RunReport) -> String {
    let command = if run.command.is_empty() {
        format!("tollgate {}", run.kind)
    } else {
        run.command.join(" ")
    };
    let mut parts = vec![
        code(&cut(&command, MAX_NAME)),
        md(&people_time(&run.started_at)),
    ];
    if let Some(ms) = run.duration_ms {
        parts.push(duration(ms));
    }
    if let Some(where_) = git_line(run) {
        parts.push(md(&where_));
    }
    if let Some(pr) = &run.ci.pr {
        parts.push(format!("PR {}", md(&cut(pr, 40))));
    }
    match run.state.as_str() {
        "complete" => {
            if let Some(code) = run.exit_code {
                parts.push(format!("exit {code}"));
            }
        }
        state => parts.push(format!("**{}**", md(state))),
    }
    parts.join(" · ")
}

fn finding_item(finding: &Finding) -> String {
    let saving = saving_text(finding)
        .map(|s| format!(": {}", md(&s)))
        .unwrap_or_default();
    let sites = super::groups::callsites_text(&finding.evidence.callsites)
        .map(|sites| format!(" {}", md(&cut(&sites, MAX_TEXT))))
        .unwrap_or_default();
    format!(
        "- **{}**{saving}  \n  {}{sites} {}\n",
        md(&cut(&finding.title, MAX_TEXT)),
        md(&cut(&finding.detail, MAX_TEXT)),
        code(&cut(&finding.id, MAX_TEXT))
    )
}

fn operation_row(row: &OperationReport) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        md(&cut(&operation_name(row), MAX_NAME)),
        thousands(row.calls),
        thousands(row.retries),
        thousands(row.errors),
        md(&cost_cell(row)),
        milliseconds(row.p50_ms),
        milliseconds(row.p99_ms)
    )
}

fn loop_row(l: &LoopReport, with_run: bool, notes: &ItemsNotes) -> String {
    let run = if with_run {
        format!(" {} |", l.run_id)
    } else {
        String::new()
    };
    format!(
        "| {} |{run} {} | {} | {} | {} | {} |\n",
        match &l.callsite {
            Some(site) => format!(
                "{} (at {})",
                md(&cut(&loop_name(l), MAX_NAME)),
                code(&cut(site, MAX_NAME))
            ),
            None => md(&cut(&loop_name(l), MAX_NAME)),
        },
        thousands(l.pages.max(0) as u64),
        notes.cell(l, thousands),
        page_size(l),
        loop_end(l),
        usd(l.total_usd)
    )
}

/// Money for people, its `$` escaped.
fn usd(amount: Usd) -> String {
    md(&amount.to_string())
}

/// Text with Markdown's active characters escaped, on one line: names and messages are shown
/// as they are, never as formatting, links, HTML, table cells or math (`$`).
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '$' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A code span holding `text` whatever backticks it contains (and `|` escaped, for tables).
fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('|', "\\|"))
}

/// At most `max` bytes, cut at a character boundary.
fn cut_bytes(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
pub(super) mod tests {
    use rust_decimal::Decimal;
    use std::str::FromStr;

    use super::*;
    use crate::findings::{Evidence, Saving};
    use crate::record::{LoopRow, OperationTally, RunRow};
    use crate::report::{render_table, Projection, TimelineReport};

    const T0: i64 = 1_790_000_000_000_000;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn histogram(values: &[u64]) -> hdrhistogram::Histogram<u64> {
        let mut h = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    pub(in crate::report) fn run_row(id: i64) -> RunRow {
        RunRow {
            id,
            uuid: format!("{id:032x}"),
            kind: "run".into(),
            state: "complete".into(),
            started_at_us: T0,
            ended_at_us: Some(T0 + 42_500_000),
            exit_code: Some(0),
            command: vec!["python".into(), "nightly_export.py".into()],
            cwd: Some("/src/app".into()),
            git_repo: Some("https://github.com/example/app".into()),
            git_branch: Some("main".into()),
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            ci_provider: None,
            ci_job: None,
            ci_ref: None,
            ci_pr: None,
            tags: [("suite".to_string(), "nightly".to_string())].into(),
            tollgate_version: "0.1.0".into(),
            pricing_version: "2026-11-01".into(),
            model_version: "botocore 1.44.8".into(),
            lost_calls: 0,
            lost_reason: None,
            calls: 1_163,
            cost_usd: crate::record::Usd::ZERO,
            billed: 0,
            unpriced: 0,
            estimated: 0,
        }
    }

    fn operation(
        service: &str,
        name: &str,
        attempts: u64,
        retries: u64,
        each: &str,
    ) -> OperationTally {
        OperationTally {
            service: service.into(),
            operation: name.into(),
            attempts,
            retries,
            errors: retries,
            throttled: retries,
            cost: dec(each) * Decimal::from(attempts),
            priced: attempts,
            units: [(crate::record::Unit::Request, Decimal::from(attempts))].into(),
            latency_us: histogram(&[
                900 + attempts * 7,
                2_000 + attempts * 20,
                15_000 + attempts * 90,
            ]),
            ..OperationTally::default()
        }
    }

    fn page_loop(loop_id: i64, operation: &str, resource: Option<&str>, pages: i64) -> LoopRow {
        LoopRow {
            run_id: 7,
            loop_id,
            service: if operation == "Scan" {
                "dynamodb"
            } else {
                "s3"
            }
            .into(),
            operation: operation.into(),
            resource: resource.map(str::to_string),
            started_at_us: T0 + loop_id * 1_000_000,
            ended_at_us: T0 + loop_id * 1_000_000 + 250_000,
            pages,
            attempts: pages,
            items: Some(pages * 100 - 50),
            items_unknown: None,
            page_size: Some(100),
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting: loop_id == 2,
            cost: dec("0.000005") * Decimal::from(pages),
            transfer: Decimal::ZERO,
            implied: Decimal::ZERO,
            callsite: None,
        }
    }

    fn finding(
        rule: &'static str,
        id: &str,
        title: &str,
        detail: &str,
        saving: Option<(u64, &str)>,
    ) -> Finding {
        Finding {
            rule,
            id: id.into(),
            title: title.into(),
            detail: detail.into(),
            evidence: Evidence {
                service: "s3".into(),
                operation: "ListObjectsV2".into(),
                resource: Some("exports".into()),
                calls: 22,
                cost_usd: Usd(dec("0.00011")),
                first_at: Some(super::super::rfc3339(T0)),
                last_at: Some(super::super::rfc3339(T0 + 2_000_000)),
                examples: Vec::new(),
                callsites: Vec::new(),
            },
            saving: saving.map(|(calls, usd)| Saving::new(calls, dec(usd))),
        }
    }

    /// A fixed report: one run, a few operations, loops, findings, a timeline and a projection.
    pub(in crate::report) fn sample() -> Report {
        let mut with_transfer = operation("s3", "GetObject", 400, 0, "0.0000004");
        with_transfer.transfer = dec("0.0036");
        with_transfer.bytes_received = 40_000_000;
        let mut estimated = operation("dynamodb", "Scan", 95, 0, "0.00000025");
        estimated.estimated = 95;
        let mut unpriced = operation("bedrock", "InvokeModel", 3, 0, "0");
        unpriced.priced = 0;
        unpriced.unpriced = 3;
        let operations = vec![
            operation("s3", "PutObject", 600, 12, "0.000005"),
            operation("s3", "ListObjectsV2", 22, 0, "0.000005"),
            with_transfer,
            operation("s3", "HeadObject", 40, 0, "0.0000004"),
            estimated,
            unpriced,
        ];
        let loops = vec![
            page_loop(1, "ListObjectsV2", Some("exports"), 11),
            page_loop(2, "ListObjectsV2", Some("exports"), 11),
            page_loop(3, "Scan", Some("jobs|archive"), 10),
        ];
        let mut report =
            Report::assemble("tollgate.db".into(), vec![run_row(7)], operations, loops);
        report.generated_at = "2026-09-21T14:20:00Z".into();
        report.findings = vec![
            finding(
                "small-pages",
                "small-pages:s3:ListObjectsV2:exports",
                "ListObjectsV2 on exports: MaxKeys=100 over 2 loops, 22 requests; MaxKeys=1000 \
                 would need 2",
                "Each page is a billed request. Ask for 1000 per page (the maximum) and the same \
                 listings take 20 fewer requests.",
                Some((20, "0.0001")),
            ),
            finding(
                "head-per-key",
                "head-per-key:s3:HeadObject:exports",
                "40 HeadObject on exports after listing it",
                "The listing already returns each key's size, ETag and date.",
                Some((40, "0.000016")),
            ),
            finding(
                "fan-out",
                "fan-out:dynamodb:PutItem:jobs",
                "95 PutItem on jobs: one call per item; BatchWriteItem would need 4 calls",
                "BatchWriteItem takes up to 25 items a call: 91 fewer calls (dynamodb bills per \
                 item, so this saves requests and latency, not money).",
                Some((91, "0")),
            ),
            finding(
                "top-cost",
                "top-cost:s3:PutObject",
                "#1 by cost: s3 PutObject, $0.003 (40% of the total)",
                "600 attempts.",
                None,
            ),
        ];
        report.timeline = (0..6)
            .map(|i| TimelineReport {
                at: super::super::rfc3339(T0 + i * 7_000_000),
                calls: [310, 250, 20, 180, 300, 103][i as usize],
                cost_usd: Usd(dec([
                    "0.00155", "0.00125", "0.0001", "0.0009", "0.0015", "0.0004",
                ][i as usize])),
            })
            .collect();
        report.projection = Some(Projection {
            runs_per_day: "24".into(),
            per_run_usd: report.totals.total_usd,
            per_month_usd: Usd(dec("7.2")),
            savings_per_month_usd: Usd(dec("0.08352")),
        });
        report
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!("markdown", render_markdown(&sample()));
    }

    #[test]
    fn table_snapshot() {
        insta::assert_snapshot!("table", render_table(&sample()));
    }

    #[test]
    fn findings_come_first_with_their_savings_and_ids() {
        let text = render_markdown(&sample());
        let findings = text.find("### Findings").expect("a findings section");
        let operations = text.find("### Operations").expect("an operations section");
        let loops = text.find("### Paginator loops").expect("a loops section");
        assert!(findings < operations && operations < loops, "{text}");
        assert!(
            text.contains("`small-pages:s3:ListObjectsV2:exports`"),
            "{text}"
        );
        assert!(text.contains("save \\$0.0001 and 20 calls"), "{text}");
        assert!(text.contains("91 fewer calls"), "{text}");
        // The top-* findings only repeat the operations table.
        assert!(!text.contains("top-cost:"), "{text}");
        // Most expensive first (data transfer included).
        let get = text.find("| s3 GetObject |").unwrap();
        let put = text.find("| s3 PutObject |").unwrap();
        let head = text.find("| s3 HeadObject |").unwrap();
        assert!(get < put && put < head, "{text}");
        // A `|` in a name stays in its cell.
        assert!(text.contains("dynamodb Scan jobs\\|archive"), "{text}");
    }

    /// A saving in bytes too (overlapping-ranges) says how much less is downloaded, in every
    /// format that shows savings.
    #[test]
    fn a_saving_in_bytes_says_so() {
        let mut report = sample();
        let mut ranges = finding(
            "overlapping-ranges",
            "overlapping-ranges:s3:GetObject:exports",
            "88.0 KB of objects on exports downloaded again by overlapping GetObject ranges",
            "GETs received byte ranges again.",
            Some((2, "0.00002")),
        );
        ranges.saving.as_mut().unwrap().bytes = Some(88_036);
        report.findings = vec![ranges.clone()];
        let text = render_markdown(&report);
        assert!(
            text.contains("save \\$0.00002 and 2 calls and 88.0 KB of downloads"),
            "{text}"
        );
        let table = crate::report::table::render_table(&report);
        assert!(
            table.contains("save $0.00002 and 2 calls and 88.0 KB of downloads"),
            "{table}"
        );
        let json = serde_json::to_value(&ranges).unwrap();
        assert_eq!(json["saving"]["bytes"], 88_036);
        // Not priced (the client runs in the bucket's Region): the bytes alone.
        let saving = ranges.saving.as_mut().unwrap();
        saving.calls = 0;
        saving.usd = Usd(Decimal::ZERO);
        assert_eq!(
            super::super::format::saving_text(&ranges).as_deref(),
            Some("88.0 KB fewer downloaded")
        );
    }

    /// The terminal table said "and 1 calls": it had a wording of its own. Every format now
    /// says a saving the same way.
    #[test]
    fn a_saving_of_one_call_says_one_call_in_every_format() {
        let mut report = sample();
        report.findings = vec![finding(
            "head-then-get",
            "head-then-get:s3:HeadObject:exports",
            "1 HeadObject on exports answered again by the GetObject after it",
            "The GET answers what the HEAD asked.",
            Some((1, "0.0000004")),
        )];
        let table = crate::report::table::render_table(&report);
        assert!(table.contains("save $0.0000004 and 1 call\n"), "{table}");
        assert!(!table.contains("1 calls"), "{table}");
        let text = render_markdown(&report);
        assert!(text.contains("and 1 call"), "{text}");
        assert!(!text.contains("1 calls"), "{text}");
    }

    #[test]
    fn names_cannot_inject_markdown_or_html() {
        let mut report = sample();
        report.operations[0].operation =
            "<img src=x onerror=alert(1)> *bold* [link](http://x)".into();
        report.findings[0].id = "small-pages:s3:ListObjectsV2:a`b".into();
        let text = render_markdown(&report);
        let html = text
            .replace("\\<", "")
            .replace("<sub>", "")
            .replace("</sub>", "");
        assert!(!html.contains('<'), "{text}");
        assert!(text.contains("\\<img src=x onerror=alert(1)\\> \\*bold\\* \\[link\\](http://x)"));
        assert!(
            text.contains("``small-pages:s3:ListObjectsV2:a`b``"),
            "{text}"
        );
    }

    #[test]
    fn five_thousand_operations_stay_under_64_kib() {
        let operations = (0..5_000)
            .map(|i| operation("s3", &format!("Operation{i:05}"), 10 + i, 0, "0.000005"))
            .collect();
        let mut report = Report::assemble("t.db".into(), vec![run_row(1)], operations, vec![]);
        report.generated_at = "2026-09-21T14:20:00Z".into();
        let text = render_markdown(&report);
        assert!(text.len() < 65_536, "{} bytes", text.len());
        assert!(
            text.contains("…and 4,900 more operations (see the JSON report)"),
            "{text}"
        );
        // Most expensive first: the busiest operation leads.
        assert!(text.contains("| s3 Operation04999 |"), "{text}");
    }

    #[test]
    fn long_names_everywhere_are_trimmed_from_the_ends_of_the_tables() {
        // Multi-byte and escaped characters: each character shown costs up to 2 bytes.
        let long = "é_".repeat(1_000);
        let operations = (0..3_000)
            .map(|i| operation("s3", &format!("{long}{i}"), 10 + i, 0, "0.000005"))
            .collect();
        let loops = (0..3_000)
            .map(|i| page_loop(i, "ListObjectsV2", Some(&long), 11 + i))
            .collect();
        let mut report = Report::assemble("t.db".into(), vec![run_row(7)], operations, loops);
        report.findings = (0..500)
            .map(|i| {
                finding(
                    "small-pages",
                    &format!("small-pages:s3:ListObjectsV2:{long}{i}"),
                    &long,
                    &long,
                    Some((i, "0.001")),
                )
            })
            .collect();
        let text = render_markdown(&report);
        assert!(text.len() < MARKDOWN_LIMIT, "{} bytes", text.len());
        for what in ["operations", "loops", "findings"] {
            let note = format!("more {what} (see the JSON report)");
            assert!(text.contains(&note), "no '{note}' in\n{text}");
        }
        // Every section still shows its first rows, and the document still ends properly.
        assert!(text.contains("### Findings"), "{text}");
        let operation_rows = text.matches("\n| s3 é").count();
        assert!(
            (FLOOR_ROWS..MAX_OPERATIONS).contains(&operation_rows),
            "{operation_rows} operation rows\n{text}"
        );
        assert!(text.trim_end().ends_with("</sub>"), "{text}");
    }

    #[test]
    fn no_runs_is_said() {
        let report = Report::assemble("t.db".into(), vec![], vec![], vec![]);
        assert!(render_markdown(&report).starts_with("## tollgate: no runs match"));
    }
}
