//! The page's lists and tables: the findings, the runs, the operations and the paginator loops,
//! each capped at `MAX_TABLE_ROWS` rows with the rest counted.

use std::fmt::Write as _;

use super::{bytes, esc, more, share, MAX_TABLE_ROWS};
use crate::findings::rules::thousands;
use crate::findings::Finding;
use crate::record::Usd;
use crate::report::format::{
    actionable, cost_cell, counted, cut, duration, loop_end, loop_summary, milliseconds, page_size,
    pages_needed, people_time, saving_text, ItemsNotes, LOOP_COST_LEGEND,
};
use crate::report::groups::{operations_text, GroupBy, GroupReport, GroupedReport};
use crate::report::{LoopReport, OperationReport, Report};

pub(super) fn findings(out: &mut String, report: &Report) {
    let actionable = actionable(report);
    out.push_str("<section id=\"findings\">\n<h2>Findings <span class=\"hint\">most saved first</span></h2>\n");
    if actionable.is_empty() {
        out.push_str("<p class=\"muted\">Nothing to change: no rule found a hot spot.</p>\n");
    } else {
        out.push_str("<ol class=\"findings\">\n");
        for finding in actionable.iter().take(MAX_TABLE_ROWS) {
            finding_item(out, finding);
        }
        out.push_str("</ol>\n");
        more(out, actionable.len(), "findings");
    }
    out.push_str("</section>\n");
}

fn finding_item(out: &mut String, finding: &Finding) {
    let saving = match saving_text(finding) {
        Some(text) => format!("<div class=\"saving\">{}</div>", esc(&text)),
        None => String::new(),
    };
    let evidence = &finding.evidence;
    let mut facts = vec![
        counted(evidence.calls, "call", "calls"),
        format!("costing {}", evidence.cost_usd),
    ];
    match (&evidence.first_at, &evidence.last_at) {
        (Some(first), Some(last)) if first != last => {
            facts.push(format!("{} to {}", people_time(first), people_time(last)))
        }
        (Some(first), _) => facts.push(format!("from {}", people_time(first))),
        _ => {}
    }
    if let Some(sites) = crate::report::groups::callsites_text(&evidence.callsites) {
        facts.push(sites);
    }
    let _ = writeln!(
        out,
        "<li class=\"finding\">{saving}<h3>{}</h3><p>{}</p>\
         <p class=\"evidence\">{} · <code>{}</code></p></li>",
        esc(&finding.title),
        esc(&finding.detail),
        esc(&facts.join(" · ")),
        esc(&finding.id)
    );
}

/// The top call sites (when the calls named theirs) and the clients, by SDK.
pub(super) fn groups_tables(out: &mut String, report: &Report) {
    if !report.callsites.is_empty() {
        groups_section(
            out,
            "callsites",
            "Call sites",
            GroupBy::Callsite,
            &report.callsites,
        );
    }
    if !report.clients.is_empty() {
        groups_section(out, "clients", "Clients", GroupBy::Sdk, &report.clients);
    }
}

/// One section with a table of groups: key, calls, cost, share, top operations.
pub(super) fn groups_section(
    out: &mut String,
    id: &str,
    title: &str,
    by: GroupBy,
    groups: &[GroupReport],
) {
    let all: Usd = groups.iter().map(|g| g.total_usd).sum();
    let _ = write!(
        out,
        "<section id=\"{id}\">\n<h2>{} <span class=\"hint\">most expensive first</span></h2>\n\
         <div class=\"table-wrap\"><table>\n<thead><tr><th>{}</th><th class=\"num\">Calls</th>\
         <th class=\"num\">Cost</th><th class=\"num\">Share</th><th>Top operations</th>\
         </tr></thead>\n<tbody>\n",
        esc(title),
        esc(by.heading())
    );
    for group in groups.iter().take(MAX_TABLE_ROWS) {
        let label = match &group.key {
            Some(key) => format!("<code>{}</code>", esc(&cut(key, 200))),
            None => format!("<span class=\"muted\">{}</span>", esc(&group.label)),
        };
        let _ = writeln!(
            out,
            "<tr><td>{label}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            thousands(group.calls),
            esc(&group.total_usd.to_string()),
            esc(&share(group.total_usd, all)),
            esc(&operations_text(group))
        );
    }
    out.push_str("</tbody></table></div>\n");
    more(out, groups.len(), "groups");
    out.push_str("</section>\n");
}

/// `report --by KEY --format html`: the page with that one table.
pub fn render_grouped_html(report: &GroupedReport) -> String {
    let subject = match report.runs.as_slice() {
        [run] => format!("run {run}"),
        runs => format!("{} runs", runs.len()),
    };
    let title = format!("Calls by {} · {subject}", report.by.heading());
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\" />\n<title>{} · tollgate</title>\n<style>{}</style>\n\
         </head>\n<body>\n<div class=\"page\">\n<h1>{}</h1>\n",
        esc(&title),
        super::STYLE,
        esc(&title)
    );
    if report.groups.is_empty() {
        out.push_str("<p class=\"muted\">No calls.</p>\n");
    } else {
        groups_section(&mut out, "groups", "Groups", report.by, &report.groups);
    }
    let _ = write!(
        out,
        "<p class=\"hint\">database {}</p>\n</div>\n</body>\n</html>\n",
        esc(&report.database)
    );
    out
}

pub(super) fn runs_table(out: &mut String, report: &Report) {
    if report.runs.len() < 2 {
        return;
    }
    out.push_str(
        "<section id=\"runs\">\n<h2>Runs</h2>\n<div class=\"table-wrap\"><table>\n<thead><tr>\
         <th class=\"num\">Run</th><th>Started</th><th>Command</th><th>State</th>\
         <th class=\"num\">Calls</th><th class=\"num\">Not recorded</th></tr></thead>\n<tbody>\n",
    );
    for run in report.runs.iter().take(MAX_TABLE_ROWS) {
        let command = if run.command.is_empty() {
            format!("tollgate {}", run.kind)
        } else {
            run.command.join(" ")
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            run.id,
            esc(&people_time(&run.started_at)),
            esc(&cut(&command, 200)),
            esc(&run.state),
            thousands(run.calls_recorded.max(0) as u64),
            thousands(run.lost_calls.max(0) as u64)
        );
    }
    out.push_str("</tbody></table></div>\n");
    more(out, report.runs.len(), "runs");
    out.push_str("</section>\n");
}

pub(super) fn operations_table(out: &mut String, report: &Report) {
    if report.operations.is_empty() {
        return;
    }
    let all: Usd = report.operations.iter().map(|op| op.total_usd).sum();
    out.push_str(
        "<section id=\"operations\">\n<h2>Operations <span class=\"hint\">most expensive \
         first</span></h2>\n<div class=\"table-wrap\"><table>\n<thead><tr><th>Operation</th>\
         <th class=\"num\">Calls</th><th class=\"num\">Retries</th><th class=\"num\">Errors</th>\
         <th class=\"num\">Throttled</th><th class=\"num\">Cost</th><th class=\"num\">Share</th>\
         <th class=\"num\">p50</th><th class=\"num\">p99</th><th class=\"num\">Sent</th>\
         <th class=\"num\">Received</th></tr></thead>\n<tbody>\n",
    );
    for op in report.operations.iter().take(MAX_TABLE_ROWS) {
        let _ = writeln!(
            out,
            "<tr><td><span class=\"muted\">{}</span> {}{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\" title=\"{}\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            esc(&op.service),
            esc(&op.operation),
            if op.not_in_model > 0 {
                format!(
                    " <span class=\"muted\" title=\"newer than the AWS model in use: named from \
                     the request, unpriced\">({})</span>",
                    super::super::format::NOT_IN_MODEL
                )
            } else {
                String::new()
            },
            thousands(op.calls),
            thousands(op.retries),
            thousands(op.errors),
            thousands(op.throttled),
            esc(&cost_title(op)),
            esc(&cost_cell(op)),
            esc(
                &if op.priced + op.free + op.not_billed == 0 && op.unpriced > 0 {
                    "-".to_string()
                } else {
                    share(op.total_usd, all)
                }
            ),
            esc(&milliseconds(op.p50_ms)),
            esc(&milliseconds(op.p99_ms)),
            esc(&bytes(op.bytes_sent)),
            esc(&bytes(op.bytes_received))
        );
    }
    out.push_str("</tbody></table></div>\n");
    let estimated = report.operations.iter().any(|op| op.estimated > 0);
    let unpriced = report.operations.iter().any(|op| op.unpriced > 0);
    if estimated || unpriced {
        let mut marks = Vec::new();
        if estimated {
            marks.push("~ estimated");
        }
        if unpriced {
            marks.push("? some attempts unpriced (unknown, not $0)");
        }
        let _ = writeln!(out, "<p class=\"hint\">{}</p>", esc(&marks.join(" · ")));
    }
    more(out, report.operations.len(), "operations");
    out.push_str("</section>\n");
}

fn cost_title(op: &OperationReport) -> String {
    let mut parts = vec![format!("calls {}", op.cost_usd)];
    if !op.transfer_usd.is_zero() {
        parts.push(format!("data transfer out {}", op.transfer_usd));
    }
    if !op.implied_usd.is_zero() {
        parts.push(format!("implied {}", op.implied_usd));
    }
    for (unit, quantity) in &op.units {
        parts.push(format!("{quantity} {unit}"));
    }
    parts.join(" · ")
}

pub(super) fn loops_table(out: &mut String, report: &Report) {
    if report.loops.is_empty() {
        return;
    }
    let many_runs = report.runs.len() > 1;
    let mut loops: Vec<&LoopReport> = report.loops.iter().collect();
    loops.sort_by(|a, b| b.pages.cmp(&a.pages).then(a.loop_id.cmp(&b.loop_id)));
    let lt = &report.loop_totals;
    let _ = writeln!(
        out,
        "<section id=\"loops\">\n<h2>Paginator loops <span class=\"hint\">most pages \
         first</span></h2>\n<p>{}.</p>\n<p class=\"hint\">{}.</p>",
        esc(&loop_summary(lt)),
        esc(LOOP_COST_LEGEND)
    );
    out.push_str("<div class=\"table-wrap\"><table>\n<thead><tr>");
    if many_runs {
        out.push_str("<th class=\"num\">Run</th>");
    }
    out.push_str(
        "<th class=\"num\">Loop</th><th>Operation</th><th>Resource</th>\
         <th class=\"num\">Pages</th><th class=\"num\">At max size</th><th class=\"num\">Items</th>\
         <th class=\"num\">Page size</th><th>End</th><th class=\"num\">Took</th>\
         <th class=\"num\">Cost</th></tr></thead>\n<tbody>\n",
    );
    let notes = ItemsNotes::of(loops.iter().take(MAX_TABLE_ROWS).copied());
    for l in loops.iter().take(MAX_TABLE_ROWS) {
        out.push_str("<tr>");
        if many_runs {
            let _ = write!(out, "<td class=\"num\">{}</td>", l.run_id);
        }
        let _ = writeln!(
            out,
            "<td class=\"num\">{}</td><td><span class=\"muted\">{}</span> {}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            l.loop_id,
            esc(&l.service),
            esc(&l.operation),
            match &l.callsite {
                Some(site) => format!(
                    "{} <span class=\"muted\">at <code>{}</code></span>",
                    esc(l.resource.as_deref().unwrap_or("")),
                    esc(&cut(site, 200))
                ),
                None => esc(l.resource.as_deref().unwrap_or("")),
            },
            thousands(l.pages.max(0) as u64),
            pages_needed(l).map_or("?".into(), |n| thousands(n as u64)),
            esc(&notes.cell(l, thousands)),
            esc(&page_size(l)),
            loop_end(l),
            esc(&duration(l.duration_ms)),
            esc(&l.total_usd.to_string())
        );
    }
    out.push_str("</tbody></table></div>\n");
    more(out, report.loops.len(), "loops");
    for line in notes.lines() {
        let _ = writeln!(out, "<p class=\"hint\">{}</p>", esc(&line));
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::super::tests::well_formed;
    use crate::report::markdown::tests::run_row;
    use crate::report::{render_html, Report};

    #[test]
    fn many_rows_are_capped_and_counted() {
        let operations = (0..1_500)
            .map(|i| crate::record::OperationTally {
                service: "s3".into(),
                operation: format!("Op{i}"),
                attempts: 1 + i,
                cost: Decimal::new(i as i64 + 1, 6),
                priced: 1 + i,
                ..Default::default()
            })
            .collect();
        let report = Report::assemble("t.db".into(), vec![run_row(1)], operations, vec![]);
        let html = render_html(&report);
        well_formed(&html);
        assert!(html.contains("…and 500 more operations (see the JSON report)"));
        assert!(
            html.contains("the top 15 of 1,500 that cost anything"),
            "{html}"
        );
        // Neither loops nor timeline: no empty charts.
        assert!(!html.contains("chart-loops") && !html.contains("chart-timeline"));
    }
}
