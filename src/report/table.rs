//! The report for a terminal: at most 100 columns, most expensive first.

use std::fmt::Write as _;

use super::format::{
    cost_cell, counted as n, loop_summary, milliseconds, not_in_model_note, operation_name,
    ItemsNotes, LOOP_COST_LEGEND, NOT_IN_MODEL,
};
use super::Report;

/// Rows of each table shown; the rest is counted.
const MAX_ROWS: usize = 20;
const WIDTH: usize = 100;

pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    heading(&mut out, report);
    if report.runs.is_empty() {
        return out;
    }
    totals(&mut out, report);
    warnings(&mut out, report);
    operations(&mut out, report);
    loops(&mut out, report);
    groups(&mut out, report);
    findings(&mut out, report);
    projection(&mut out, report);
    repriced(&mut out, report);
    let _ = writeln!(out, "\ndatabase: {}", report.database);
    let _ = writeln!(out, "identified with the AWS model of {}", models(report));
    out
}

/// The AWS models that identified the runs' calls (`botocore 1.44.8`), each named once.
fn models(report: &Report) -> String {
    let models: std::collections::BTreeSet<&str> = report
        .runs
        .iter()
        .map(|run| run.model_version.as_str())
        .collect();
    models.into_iter().collect::<Vec<_>>().join(", ")
}

/// The runs reported: one run's command and start, or how many runs from when to when.
fn heading(out: &mut String, report: &Report) {
    match report.runs.as_slice() {
        [] => {
            let _ = writeln!(out, "No runs match.");
        }
        [run] => {
            let command = if run.command.is_empty() {
                format!("tollgate {}", run.kind)
            } else {
                run.command.join(" ")
            };
            let _ = writeln!(
                out,
                "run {} · {} UTC · {}{}",
                run.id,
                run.started_at
                    .get(..19)
                    .unwrap_or(&run.started_at)
                    .replace('T', " "),
                truncate(&command, 60),
                match run.state.as_str() {
                    "complete" => String::new(),
                    state => format!(" · {state}"),
                }
            );
        }
        runs => {
            let incomplete = runs.iter().filter(|r| r.state != "complete").count();
            let _ = writeln!(
                out,
                "{} runs, {} to {}{}",
                runs.len(),
                runs.last().map(|r| r.started_at.as_str()).unwrap_or(""),
                runs.first().map(|r| r.started_at.as_str()).unwrap_or(""),
                if incomplete > 0 {
                    format!(" · {incomplete} incomplete or running")
                } else {
                    String::new()
                }
            );
        }
    }
}

/// The cost and the calls, and how many attempts have no price.
fn totals(out: &mut String, report: &Report) {
    let totals = &report.totals;
    let mut cost_line = format!(
        "cost {} · {} ({}, {}, {})",
        totals.total_usd,
        n(totals.calls, "call", "calls"),
        n(totals.attempts, "attempt", "attempts"),
        n(totals.retries, "retry", "retries"),
        n(totals.errors, "error", "errors")
    );
    if !totals.transfer_usd.is_zero() || !totals.implied_usd.is_zero() {
        let _ = write!(
            cost_line,
            "\n  of which calls {}, data transfer out {}, implied {}",
            totals.cost_usd, totals.transfer_usd, totals.implied_usd
        );
    }
    let _ = writeln!(out, "{cost_line}");
    if totals.unpriced > 0 {
        let _ = writeln!(
            out,
            "{} attempts unpriced (no price in the table: unknown, not $0)",
            totals.unpriced
        );
    }
    if let Some(note) = not_in_model_note(report) {
        // Two lines, within the table's width.
        let _ = writeln!(out, "{}", note.replacen("; ", ";\n  ", 1));
    }
}

/// Calls that were not recorded, and runs that ended without recording their end.
fn warnings(out: &mut String, report: &Report) {
    let totals = &report.totals;
    if totals.lost_calls > 0 {
        let reasons: Vec<&str> = report
            .runs
            .iter()
            .filter_map(|r| r.lost_reason.as_deref())
            .collect();
        let _ = writeln!(
            out,
            "warning: {} calls were made but not recorded ({})",
            totals.lost_calls,
            reasons.join("; ")
        );
    }
    for run in report
        .runs
        .iter()
        .filter(|r| r.state == "incomplete" && r.ended_at.is_none())
    {
        let _ = writeln!(
            out,
            "warning: run {} ended without tollgate recording its end (killed?): its calls up to then are here",
            run.id
        );
    }
}

/// The most expensive operations, at most `MAX_ROWS`.
fn operations(out: &mut String, report: &Report) {
    if !report.operations.is_empty() {
        let _ = writeln!(out);
        let name_width = WIDTH - 2 - (8 + 8 + 7 + 14 + 10 + 10) - 6;
        let _ = writeln!(
            out,
            "  {:<name_width$} {:>8} {:>8} {:>7} {:>14} {:>10} {:>10}",
            "operation", "calls", "retries", "errors", "cost", "p50", "p99"
        );
        for row in report.operations.iter().take(MAX_ROWS) {
            let _ = writeln!(
                out,
                "  {:<name_width$} {:>8} {:>8} {:>7} {:>14} {:>10} {:>10}",
                operation_cell(row, name_width),
                row.calls,
                row.retries,
                row.errors,
                cost_cell(row),
                milliseconds(row.p50_ms),
                milliseconds(row.p99_ms)
            );
        }
        if report.operations.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "  … {} more operations (--format json for all)",
                report.operations.len() - MAX_ROWS
            );
        }
    }
}

/// The call sites that cost the most, when the calls named theirs, and the clients by SDK.
fn groups(out: &mut String, report: &Report) {
    use super::groups::{groups_table, GroupBy, REPORT_ROWS};
    if !report.callsites.is_empty() {
        let _ = writeln!(
            out,
            "
call sites (most expensive first):"
        );
        groups_table(out, GroupBy::Callsite, &report.callsites, REPORT_ROWS);
    }
    if !report.clients.is_empty() {
        let _ = writeln!(
            out,
            "
clients:"
        );
        groups_table(out, GroupBy::Sdk, &report.clients, REPORT_ROWS);
    }
}

/// The paginator loops with the most pages, at most half of `MAX_ROWS`.
fn loops(out: &mut String, report: &Report) {
    let lt = &report.loop_totals;
    if lt.listings > 0 {
        let _ = writeln!(out, "\nloops: {}", loop_summary(lt));
    }
    if !report.loops.is_empty() {
        let mut loops: Vec<_> = report.loops.iter().collect();
        loops.sort_by(|a, b| b.pages.cmp(&a.pages).then(a.loop_id.cmp(&b.loop_id)));
        let name_width = WIDTH - 2 - (7 + 9 + 12 + 10 + 12) - 5;
        let _ = writeln!(
            out,
            "  {:<name_width$} {:>7} {:>9} {:>12} {:>10} {:>12}",
            "loop", "pages", "items", "page size", "end", "cost"
        );
        let notes = ItemsNotes::of(loops.iter().take(MAX_ROWS / 2).copied());
        for l in loops.iter().take(MAX_ROWS / 2) {
            let name = match &l.resource {
                Some(resource) => format!("{} {} {resource}", l.service, l.operation),
                None => format!("{} {}", l.service, l.operation),
            };
            let size = match (l.page_size, l.page_size_max) {
                (Some(size), Some(max)) => format!("{size}/{max}"),
                (Some(size), None) => size.to_string(),
                (None, _) => "default".into(),
            };
            let end = super::format::loop_end(l);
            let _ = writeln!(
                out,
                "  {:<name_width$} {:>7} {:>9} {:>12} {:>10} {:>12}",
                truncate(&name, name_width),
                l.pages,
                notes.cell(l, |i| i.to_string()),
                size,
                end,
                l.total_usd
            );
            if let Some(site) = &l.callsite {
                let _ = writeln!(out, "    started at {}", truncate(site, WIDTH - 15));
            }
        }
        if loops.len() > MAX_ROWS / 2 {
            let _ = writeln!(out, "  … {} more loops", loops.len() - MAX_ROWS / 2);
        }
        for line in notes.lines() {
            let _ = writeln!(out, "  {}", wrap(&line, WIDTH - 4, "    "));
        }
        let _ = writeln!(out, "  ({LOOP_COST_LEGEND})");
    }
}

/// The findings that say what to change (not the top-* ones), most saved first.
fn findings(out: &mut String, report: &Report) {
    let actionable = super::format::actionable(report);
    if !actionable.is_empty() {
        let _ = writeln!(out, "\nfindings (most saved first):");
        for finding in actionable.iter().take(MAX_ROWS / 2) {
            // One wording of a saving for every format ("1 call", "40 calls", bytes).
            let saving = super::format::saving_text(finding)
                .map(|text| format!("  → {text}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  • {}", wrap(&finding.title, WIDTH - 4, "    "));
            let _ = writeln!(
                out,
                "    {}",
                wrap(&format!("{}{saving}", finding.detail), WIDTH - 4, "    ")
            );
            if let Some(sites) = super::groups::callsites_text(&finding.evidence.callsites) {
                let _ = writeln!(out, "    {}", wrap(&sites, WIDTH - 4, "    "));
            }
            let _ = writeln!(out, "    [{}]", finding.id);
        }
        if actionable.len() > MAX_ROWS / 2 {
            let _ = writeln!(
                out,
                "  … {} more findings (--format json for all)",
                actionable.len() - MAX_ROWS / 2
            );
        }
    }
}

/// With `--runs-per-day`: the cost per month, and what the findings would save.
fn projection(out: &mut String, report: &Report) {
    if let Some(projection) = &report.projection {
        let line = format!(
            "projected: {} a run × {} runs a day = {} a month; the findings would save {} a month",
            projection.per_run_usd,
            projection.runs_per_day,
            projection.per_month_usd,
            projection.savings_per_month_usd
        );
        let _ = writeln!(out, "\n{}", wrap(&line, WIDTH, "  "));
    }
}

fn repriced(out: &mut String, report: &Report) {
    if let Some(repriced) = &report.repriced {
        let _ = writeln!(out, "\nRe-priced");
        for line in repriced.lines(10) {
            let _ = writeln!(out, "  {}", wrap(&line, WIDTH - 2, "    "));
        }
    }
}

/// Wraps `text` at word boundaries to `width` columns, continuing lines with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("at least one line");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join(&format!("\n{indent}"))
}

/// The operation's name cut to `width`, keeping its `(not in model)` mark whole.
fn operation_cell(row: &super::OperationReport, width: usize) -> String {
    let name = operation_name(row);
    let mark = format!(" ({NOT_IN_MODEL})");
    match name.strip_suffix(&mark) {
        Some(bare) if name.chars().count() > width => {
            format!("{}{mark}", truncate(bare, width - mark.chars().count()))
        }
        _ => truncate(&name, width),
    }
}

fn truncate(text: &str, width: usize) -> String {
    let chars = text.chars().count();
    if chars <= width {
        text.to_string()
    } else {
        let head: String = text.chars().take(width - 1).collect();
        format!("{head}…")
    }
}
