//! The report as one self-contained HTML file, to open in a browser, attach to a CI run or
//! print: findings first with what they save, the totals, charts drawn here as inline SVG (cost
//! by operation, calls over time, pages per paginator loop), then the operations and loops
//! tables. Nothing is fetched: no scripts, fonts, images or style sheets from anywhere, and the
//! page's Content-Security-Policy forbids them. Every piece of text is HTML-escaped.

use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use time::format_description::well_known::Rfc3339;

use super::format::{
    actionable, breakdown, cost_cell, counted, cut, duration, git_line, loop_end, loop_name,
    milliseconds, page_size, pages_needed, people_time, saving_text,
};
use super::{LoopReport, OperationReport, Report, RunReport, TimelineReport};
use crate::findings::rules::thousands;
use crate::findings::Finding;
use crate::record::Usd;

/// Rows of each table at most; the rest is counted (the JSON report has them all).
const MAX_TABLE_ROWS: usize = 1_000;
/// Bars in the operation and loop charts.
const CHART_ROWS: usize = 15;
/// The charts' coordinate width (they scale to the page).
const CHART_WIDTH: f64 = 1000.0;

pub fn render_html(report: &Report) -> String {
    let mut out = String::with_capacity(32 * 1024 + report.operations.len() * 400);
    let total = report.totals.total_usd.to_string();
    let subject = match report.runs.as_slice() {
        [] => "no runs".to_string(),
        [run] => format!("run {}", run.id),
        runs => format!("{} runs", runs.len()),
    };
    let version = report
        .runs
        .first()
        .map_or(env!("CARGO_PKG_VERSION"), |r| r.tollgate_version.as_str());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:\" />\n\
         <meta name=\"generator\" content=\"tollgate {}\" />\n\
         <title>{} · tollgate report · {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <div class=\"page\">\n",
        esc(version),
        esc(&total),
        esc(&subject)
    );
    header(&mut out, report, &total);
    if !report.runs.is_empty() {
        totals(&mut out, report);
        warnings(&mut out, report);
        findings(&mut out, report);
        projection(&mut out, report);
        charts(&mut out, report);
        runs_table(&mut out, report);
        operations_table(&mut out, report);
        loops_table(&mut out, report);
    }
    footer(&mut out, report);
    out.push_str("</div>\n</body>\n</html>\n");
    out
}

fn header(out: &mut String, report: &Report, total: &str) {
    out.push_str("<header class=\"top\">\n<p class=\"eyebrow\">tollgate report</p>\n");
    match report.runs.as_slice() {
        [] => {
            out.push_str("<h1>No runs match</h1>\n</header>\n");
            return;
        }
        [run] => {
            let _ = writeln!(
                out,
                "<h1><span class=\"total\" id=\"total-cost\">{}</span> \
                 <span class=\"subject\">run {} · {}</span></h1>",
                esc(total),
                run.id,
                esc(&counted(report.totals.calls, "call", "calls"))
            );
            run_facts(out, run);
        }
        runs => {
            let incomplete = runs.iter().filter(|r| r.state != "complete").count();
            let _ = writeln!(
                out,
                "<h1><span class=\"total\" id=\"total-cost\">{}</span> \
                 <span class=\"subject\">{} runs · {}</span></h1>",
                esc(total),
                runs.len(),
                esc(&counted(report.totals.calls, "call", "calls"))
            );
            let mut facts = vec![format!(
                "from {} to {}",
                esc(&people_time(
                    runs.last().map(|r| r.started_at.as_str()).unwrap_or("")
                )),
                esc(&people_time(
                    runs.first().map(|r| r.started_at.as_str()).unwrap_or("")
                ))
            )];
            if incomplete > 0 {
                facts.push(format!("{incomplete} incomplete or running"));
            }
            facts_list(out, &facts);
        }
    }
    out.push_str("</header>\n");
}

fn run_facts(out: &mut String, run: &RunReport) {
    let command = if run.command.is_empty() {
        format!("tollgate {}", run.kind)
    } else {
        run.command.join(" ")
    };
    let mut facts = vec![
        format!("<code>{}</code>", esc(&cut(&command, 300))),
        format!("started {}", esc(&people_time(&run.started_at))),
    ];
    if let Some(ms) = run.duration_ms {
        facts.push(format!("took {}", esc(&duration(ms))));
    }
    match run.state.as_str() {
        "complete" => {
            if let Some(code) = run.exit_code {
                facts.push(format!("exit {code}"));
            }
        }
        state => facts.push(format!("<strong>{}</strong>", esc(state))),
    }
    if let Some(git) = git_line(run) {
        facts.push(format!("git {}", esc(&git)));
    }
    if let Some(repo) = &run.git.repo {
        facts.push(esc(&cut(repo, 120)));
    }
    let ci: Vec<&str> = [&run.ci.provider, &run.ci.job, &run.ci.git_ref]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    if !ci.is_empty() {
        facts.push(format!("CI {}", esc(&cut(&ci.join(" · "), 160))));
    }
    if let Some(pr) = &run.ci.pr {
        facts.push(format!("PR {}", esc(&cut(pr, 40))));
    }
    for (key, value) in &run.tags {
        facts.push(format!(
            "<span class=\"tag\">{}={}</span>",
            esc(&cut(key, 60)),
            esc(&cut(value, 120))
        ));
    }
    if let Some(cwd) = &run.cwd {
        facts.push(format!("in <code>{}</code>", esc(&cut(cwd, 160))));
    }
    facts_list(out, &facts);
}

/// Items that are already HTML.
fn facts_list(out: &mut String, facts: &[String]) {
    out.push_str("<ul class=\"facts\">");
    for fact in facts {
        let _ = write!(out, "<li>{fact}</li>");
    }
    out.push_str("</ul>\n");
}

fn totals(out: &mut String, report: &Report) {
    let t = &report.totals;
    out.push_str("<section class=\"cards\" aria-label=\"Totals\">\n");
    card(
        out,
        "wide",
        "Cost",
        &t.total_usd.to_string(),
        &breakdown(report).join(" · "),
    );
    card(
        out,
        "",
        "Calls",
        &thousands(t.calls),
        &format!(
            "{}, {}",
            counted(t.attempts, "attempt", "attempts"),
            counted(t.retries, "retry", "retries")
        ),
    );
    card(
        out,
        "",
        "Errors",
        &thousands(t.errors),
        &format!("{} throttled", thousands(t.throttled)),
    );
    card(
        out,
        "",
        "Data",
        &bytes(t.bytes_received),
        &format!("received; {} sent", bytes(t.bytes_sent)),
    );
    let mut pricing = vec![format!("{} free", thousands(t.free))];
    if t.not_billed > 0 {
        pricing.push(format!("{} not billed", thousands(t.not_billed)));
    }
    if t.estimated > 0 {
        pricing.push(format!("{} estimated", thousands(t.estimated)));
    }
    pricing.push(format!("{} unpriced", thousands(t.unpriced)));
    card(out, "", "Priced", &thousands(t.priced), &pricing.join(", "));
    if report.loop_totals.loops > 0 {
        let lt = &report.loop_totals;
        card(
            out,
            "",
            "Paginator loops",
            &thousands(lt.loops),
            &format!(
                "{}, {}, {} stopped early",
                counted(lt.pages, "page", "pages"),
                counted(lt.relistings, "re-listing", "re-listings"),
                thousands(lt.stopped_early)
            ),
        );
    }
    let saved: Usd = actionable(report)
        .iter()
        .filter_map(|f| f.saving.as_ref())
        .map(|s| s.usd)
        .sum();
    if !saved.is_zero() {
        card(
            out,
            "wide",
            "The findings save",
            &saved.to_string(),
            "over the runs reported",
        );
    }
    out.push_str("</section>\n");
}

fn card(out: &mut String, class: &str, label: &str, value: &str, note: &str) {
    let _ = writeln!(
        out,
        "<div class=\"card {class}\"><div class=\"label\">{}</div><div class=\"value\">{}</div>\
         <div class=\"note\">{}</div></div>",
        esc(label),
        esc(value),
        esc(note)
    );
}

fn warnings(out: &mut String, report: &Report) {
    let t = &report.totals;
    let mut warnings = Vec::new();
    if t.unpriced > 0 {
        warnings.push(format!(
            "{} unpriced: no price in the table, so their cost is unknown (not $0).",
            counted(t.unpriced, "attempt", "attempts")
        ));
    }
    if t.lost_calls > 0 {
        let reasons: Vec<String> = report
            .runs
            .iter()
            .filter_map(|r| r.lost_reason.as_deref())
            .map(|r| cut(r, 200))
            .collect();
        warnings.push(format!(
            "{} calls were made but not recorded ({}): the totals leave them out.",
            thousands(t.lost_calls.max(0) as u64),
            reasons.join("; ")
        ));
    }
    for run in report.runs.iter().filter(|r| r.state == "incomplete") {
        warnings.push(format!(
            "Run {} ended without tollgate recording its end (killed?): its calls up to then \
             are here.",
            run.id
        ));
    }
    for warning in warnings {
        let _ = writeln!(
            out,
            "<p class=\"warning\" role=\"note\"><strong>Warning:</strong> {}</p>",
            esc(&warning)
        );
    }
}

fn findings(out: &mut String, report: &Report) {
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

fn projection(out: &mut String, report: &Report) {
    let Some(p) = &report.projection else {
        return;
    };
    let _ = writeln!(
        out,
        "<section id=\"projection\">\n<h2>Projection</h2>\n<p class=\"projection\">{} a run \
         × {} runs a day = <strong>{} a month</strong>; the findings would save \
         <strong>{} a month</strong>.</p>\n</section>",
        esc(&p.per_run_usd.to_string()),
        esc(&p.runs_per_day),
        esc(&p.per_month_usd.to_string()),
        esc(&p.savings_per_month_usd.to_string())
    );
}

fn charts(out: &mut String, report: &Report) {
    let figures: Vec<String> = [
        cost_chart(report),
        timeline_chart(&report.timeline),
        loops_chart(report),
    ]
    .into_iter()
    .flatten()
    .collect();
    if figures.is_empty() {
        return;
    }
    out.push_str("<section id=\"charts\">\n<h2>Where the money and the calls went</h2>\n<div class=\"charts\">\n");
    for figure in figures {
        out.push_str(&figure);
    }
    out.push_str("</div>\n</section>\n");
}

/// Horizontal bars: the most expensive operations, their cost and share.
fn cost_chart(report: &Report) -> Option<String> {
    let costly: Vec<&OperationReport> = report
        .operations
        .iter()
        .filter(|op| op.total_usd > Usd::ZERO)
        .collect();
    let top = &costly[..costly.len().min(CHART_ROWS)];
    let max = top.first()?.total_usd.0.to_f64().unwrap_or(0.0);
    let all: Usd = report.operations.iter().map(|op| op.total_usd).sum();
    let hint = if costly.len() > top.len() {
        format!(
            "the top {} of {} that cost anything",
            top.len(),
            thousands(costly.len() as u64)
        )
    } else {
        "every operation that cost anything".to_string()
    };
    let row = 36.0;
    let bar_room = CHART_WIDTH - 190.0;
    let height = row * top.len() as f64 + 4.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure class=\"chart\" id=\"chart-cost\">\n<figcaption>Cost by operation \
         <span class=\"hint\">{}</span></figcaption>\n\
         <svg viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-label=\"Cost by operation\">\n",
        esc(&hint)
    );
    for (i, op) in top.iter().enumerate() {
        let y = i as f64 * row;
        let value = op.total_usd.0.to_f64().unwrap_or(0.0);
        let width = if max > 0.0 {
            (value / max * bar_room).max(1.0)
        } else {
            1.0
        };
        let share = share(op.total_usd, all);
        let name = format!("{} {}", op.service, op.operation);
        let label = format!("{} · {share}", cost_cell(op));
        let _ = writeln!(
            svg,
            "<g><title>{}: {} ({share} of the total), {}</title>\
             <text x=\"0\" y=\"{:.1}\">{}</text>\
             <rect class=\"bar\" x=\"0\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\" rx=\"2\" />\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            esc(&name),
            esc(&op.total_usd.to_string()),
            esc(&counted(op.calls, "call", "calls")),
            y + 13.0,
            esc(&cut(&name, 90)),
            y + 18.0,
            width,
            width + 8.0,
            y + 28.5,
            esc(&label)
        );
    }
    svg.push_str("</svg>\n</figure>\n");
    Some(svg)
}

/// Calls per slice of time as bars, and the cost adding up as a line.
fn timeline_chart(timeline: &[TimelineReport]) -> Option<String> {
    let points: Vec<(i128, &TimelineReport)> = timeline
        .iter()
        .filter_map(|p| {
            let at = time::OffsetDateTime::parse(&p.at, &Rfc3339).ok()?;
            Some((at.unix_timestamp_nanos() / 1000, p))
        })
        .collect();
    let first = points.first()?.0;
    let last = points.last()?.0;
    // The slices are equal: the smallest gap between two is one slice.
    let slice = points
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|gap| *gap > 0)
        .min()
        .unwrap_or(1);
    let slots = (((last - first) / slice) + 1).clamp(1, 240) as f64;
    let (left, right, top, bottom) = (44.0, 70.0, 10.0, 30.0);
    let height = 210.0;
    let plot_w = CHART_WIDTH - left - right;
    let plot_h = height - top - bottom;
    let base = top + plot_h;
    let max_calls = points
        .iter()
        .map(|(_, p)| p.calls)
        .max()
        .unwrap_or(0)
        .max(1);
    let total_cost: Usd = points.iter().map(|(_, p)| p.cost_usd).sum();
    let slot_w = plot_w / slots;
    let slice_text = if points.len() > 1 {
        format!("each bar: {}", duration((slice / 1000) as i64))
    } else {
        "one slice".to_string()
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure class=\"chart\" id=\"chart-timeline\">\n<figcaption>Calls over time \
         <span class=\"hint\">{}</span></figcaption>\n\
         <svg viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-label=\"Calls over time\">\n",
        esc(&slice_text)
    );
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\" />\
         <text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
         <text class=\"muted\" x=\"{:.1}\" y=\"{base}\" text-anchor=\"end\">0</text>\
         <text class=\"muted\" x=\"{left}\" y=\"{:.1}\">{}</text>\
         <text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        left + plot_w,
        left - 6.0,
        top + 10.0,
        esc(&thousands(max_calls)),
        left - 6.0,
        base + 18.0,
        esc(&people_time(&points[0].1.at)),
        left + plot_w,
        base + 18.0,
        esc(&clock(&points[points.len() - 1].1.at))
    );
    let mut cumulative = Usd::ZERO;
    let mut line = vec![format!("{left:.1},{base:.1}")];
    for (at, point) in &points {
        let slot = ((at - first) / slice) as f64;
        let x = left + slot * slot_w;
        let h = point.calls as f64 / max_calls as f64 * plot_h;
        let _ = writeln!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
             <title>{}: {}, {}</title></rect>",
            x + 0.5,
            base - h,
            (slot_w - 1.0).max(1.0),
            h,
            esc(&people_time(&point.at)),
            esc(&counted(point.calls, "call", "calls")),
            esc(&point.cost_usd.to_string())
        );
        cumulative += point.cost_usd;
        if !total_cost.is_zero() {
            let y = base - (cumulative.0 / total_cost.0).to_f64().unwrap_or(0.0) * plot_h;
            line.push(format!("{:.1},{y:.1}", x + slot_w));
        }
    }
    if !total_cost.is_zero() {
        let _ = writeln!(
            svg,
            "<polyline class=\"line\" points=\"{}\" />\
             <text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            line.join(" "),
            left + plot_w + 6.0,
            top + 10.0,
            esc(&total_cost.to_string())
        );
    }
    svg.push_str("</svg>\n<div class=\"legend\"><span><i class=\"swatch bar\"></i>calls</span>");
    if !total_cost.is_zero() {
        svg.push_str("<span><i class=\"swatch line\"></i>cost so far (right: the total)</span>");
    }
    svg.push_str("</div>\n</figure>\n");
    Some(svg)
}

/// Pages per loop (the most pages first), and how many the maximum page size would have needed.
fn loops_chart(report: &Report) -> Option<String> {
    let mut loops: Vec<&LoopReport> = report.loops.iter().collect();
    loops.sort_by(|a, b| b.pages.cmp(&a.pages).then(a.loop_id.cmp(&b.loop_id)));
    let top = &loops[..loops.len().min(CHART_ROWS)];
    let max = top.first()?.pages.max(1) as f64;
    let many_runs = report.runs.len() > 1;
    let row = 36.0;
    let bar_room = CHART_WIDTH - 230.0;
    let height = row * top.len() as f64 + 4.0;
    let hint = if loops.len() > top.len() {
        format!(
            "the {} with the most pages, of {}",
            top.len(),
            thousands(loops.len() as u64)
        )
    } else {
        "every paginator loop".to_string()
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure class=\"chart\" id=\"chart-loops\">\n<figcaption>Pages per loop \
         <span class=\"hint\">{}</span></figcaption>\n\
         <svg viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-label=\"Pages per loop\">\n",
        esc(&hint)
    );
    for (i, l) in top.iter().enumerate() {
        let y = i as f64 * row;
        let pages = l.pages.max(0);
        let width = (pages as f64 / max * bar_room).max(1.0);
        let needed = pages_needed(l);
        let mut name = format!("{} · loop {}", loop_name(l), l.loop_id);
        if many_runs {
            name.push_str(&format!(" of run {}", l.run_id));
        }
        let label = match needed {
            Some(needed) if needed < pages => format!(
                "{} · {} at size {}",
                counted(pages as u64, "page", "pages"),
                thousands(needed as u64),
                l.page_size_max.unwrap_or_default()
            ),
            _ => counted(pages as u64, "page", "pages"),
        };
        let overlay = match needed {
            Some(needed) => {
                let needed_width = (needed.min(pages) as f64 / max * bar_room).max(1.0);
                format!(
                    "<rect class=\"bar\" x=\"0\" y=\"{:.1}\" width=\"{needed_width:.1}\" \
                     height=\"12\" rx=\"2\" />",
                    y + 18.0
                )
            }
            None => String::new(),
        };
        let _ = writeln!(
            svg,
            "<g><title>{}: {}, {} items, page size {}, {}</title>\
             <text x=\"0\" y=\"{:.1}\">{}</text>\
             <rect class=\"{}\" x=\"0\" y=\"{:.1}\" width=\"{width:.1}\" height=\"12\" rx=\"2\" />\
             {overlay}<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            esc(&name),
            esc(&counted(pages as u64, "page", "pages")),
            esc(&l.items.map_or("?".into(), |i| thousands(i.max(0) as u64))),
            esc(&page_size(l)),
            loop_end(l),
            y + 13.0,
            esc(&cut(&name, 100)),
            if needed.is_some() {
                "waste"
            } else {
                "bar-soft"
            },
            y + 18.0,
            width + 8.0,
            y + 28.5,
            esc(&label)
        );
    }
    svg.push_str(
        "</svg>\n<div class=\"legend\"><span><i class=\"swatch bar\"></i>pages needed at the \
         maximum page size</span><span><i class=\"swatch waste\"></i>pages a smaller page size \
         added</span><span><i class=\"swatch bar-soft\"></i>pages (items or maximum \
         unknown)</span></div>\n</figure>\n",
    );
    Some(svg)
}

fn runs_table(out: &mut String, report: &Report) {
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

fn operations_table(out: &mut String, report: &Report) {
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
            "<tr><td><span class=\"muted\">{}</span> {}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\" title=\"{}\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            esc(&op.service),
            esc(&op.operation),
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

fn loops_table(out: &mut String, report: &Report) {
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
         first</span></h2>\n<p>{}, {}, {}, {} stopped early.</p>",
        esc(&counted(lt.loops, "loop", "loops")),
        esc(&counted(lt.pages, "page", "pages")),
        esc(&counted(lt.relistings, "re-listing", "re-listings")),
        thousands(lt.stopped_early)
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
            esc(l.resource.as_deref().unwrap_or("")),
            thousands(l.pages.max(0) as u64),
            pages_needed(l).map_or("?".into(), |n| thousands(n as u64)),
            l.items.map_or("?".into(), |i| thousands(i.max(0) as u64)),
            esc(&page_size(l)),
            loop_end(l),
            esc(&duration(l.duration_ms)),
            esc(&l.cost_usd.to_string())
        );
    }
    out.push_str("</tbody></table></div>\n");
    more(out, report.loops.len(), "loops");
    out.push_str("</section>\n");
}

fn footer(out: &mut String, report: &Report) {
    let mut parts = vec![format!(
        "Generated {} from {}",
        esc(&people_time(&report.generated_at)),
        esc(&report.database)
    )];
    if let Some(run) = report.runs.first() {
        parts.push(format!(
            "tollgate {} · prices {} · {}",
            esc(&run.tollgate_version),
            esc(&run.pricing_version),
            esc(&run.model_version)
        ));
    }
    parts.push(
        "Money is US dollars; <code>tollgate report --format json</code> has every row and the \
         exact amounts."
            .into(),
    );
    let _ = writeln!(out, "<footer>{}</footer>", parts.join("<br />"));
}

fn more(out: &mut String, total: usize, what: &str) {
    if total > MAX_TABLE_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"more\">…and {} more {what} (see the JSON report)</p>",
            thousands((total - MAX_TABLE_ROWS) as u64)
        );
    }
}

/// `40%`, `0.3%`, `<0.1%` of `all`.
fn share(part: Usd, all: Usd) -> String {
    if all.is_zero() {
        return "-".into();
    }
    let percent = part.0 * Decimal::ONE_HUNDRED / all.0;
    if percent.is_zero() {
        "0%".into()
    } else if percent < Decimal::new(1, 1) {
        "<0.1%".into()
    } else if percent < Decimal::TEN {
        format!("{}%", percent.round_dp(1).normalize())
    } else {
        format!("{}%", percent.round_dp(0))
    }
}

/// `14:13:20` of an RFC 3339 time.
fn clock(rfc3339: &str) -> String {
    rfc3339.get(11..19).unwrap_or(rfc3339).to_string()
}

/// `512 B`, `1.5 KB`, `40.0 MB` (powers of 1,000).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Text as HTML: safe in element content and in quoted attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in HTML text (tab and newline are).
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root {
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --line: #d1d9e0;
  --accent: #0969da; --accent-soft: #9ec5f8; --waste: #e3a008; --warn-bg: #fff8c5;
  --warn-line: #d4a72c; --good: #1a7f37;
}
@media screen and (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --line: #3d444d;
    --accent: #4493f8; --accent-soft: #1f4a80; --waste: #d29922; --warn-bg: #272115;
    --warn-line: #9e6a03; --good: #3fb950;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.page { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 0.88em; overflow-wrap: anywhere; }
.eyebrow { margin: 0; color: var(--muted); font-size: 13px; text-transform: uppercase;
  letter-spacing: 0.08em; font-weight: 600; }
h1 { margin: 2px 0 6px; font-weight: 600; line-height: 1.2; }
h1 .total { font-size: 40px; font-weight: 700; font-variant-numeric: tabular-nums; }
h1 .subject { font-size: 20px; color: var(--muted); font-weight: 500; margin-left: 8px; }
ul.facts { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 2px 18px; color: var(--muted); font-size: 14px; }
.tag { display: inline-block; padding: 0 7px; border: 1px solid var(--line); border-radius: 10px;
  font-size: 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(165px, 1fr)); gap: 12px;
  margin: 22px 0 8px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; }
.card.wide { grid-column: span 2; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.05em; font-weight: 600; }
.card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere; }
.card .note { color: var(--muted); font-size: 13px; }
.warning { border-left: 4px solid var(--warn-line); background: var(--warn-bg);
  padding: 8px 14px; border-radius: 6px; margin: 10px 0; }
h2 { font-size: 20px; margin: 34px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
.hint { color: var(--muted); font-size: 13px; font-weight: normal; }
.muted { color: var(--muted); }
ol.findings { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px; }
.finding { border: 1px solid var(--line); border-left: 4px solid var(--good); border-radius: 8px;
  padding: 10px 16px; background: var(--panel); display: flow-root; }
.finding h3 { margin: 0 0 2px; font-size: 16px; overflow-wrap: anywhere; }
.finding p { margin: 0 0 2px; overflow-wrap: anywhere; }
.finding .saving { float: right; margin: 0 0 4px 16px; color: var(--good); font-weight: 600;
  white-space: nowrap; }
.finding .evidence { color: var(--muted); font-size: 13px; }
.projection { font-size: 16px; }
.charts { display: grid; gap: 16px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
figcaption { font-weight: 600; margin-bottom: 8px; }
svg { display: block; width: 100%; height: auto; overflow: visible; }
svg text { fill: var(--fg); font-size: 12px; font-family: inherit; }
svg text.value, svg text.muted { fill: var(--muted); }
svg .bar { fill: var(--accent); }
svg .bar-soft { fill: var(--accent-soft); }
svg .waste { fill: var(--waste); }
svg .axis { stroke: var(--line); stroke-width: 1; }
svg .line { fill: none; stroke: var(--waste); stroke-width: 2; stroke-linejoin: round; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; color: var(--muted); font-size: 13px;
  margin-top: 6px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px;
  vertical-align: -1px; }
.swatch.bar { background: var(--accent); }
.swatch.bar-soft { background: var(--accent-soft); }
.swatch.waste { background: var(--waste); }
.swatch.line { background: var(--waste); height: 3px; vertical-align: 3px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
td { overflow-wrap: anywhere; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted);
  font-weight: 600; white-space: nowrap; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;
  overflow-wrap: normal; }
tbody tr:hover { background: var(--panel); }
.more { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; padding-top: 12px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 13px; }
@media print {
  :root { --fg: #000; --muted: #444; --bg: #fff; --panel: #fff; --line: #bbb;
    --warn-bg: #fff; --good: #1a7f37; }
  body { font-size: 10pt; background: #fff; color: #000; }
  .page { max-width: none; padding: 0; }
  h1 .total { font-size: 26pt; }
  .card, .finding, figure.chart, .warning, tr { break-inside: avoid; page-break-inside: avoid; }
  h2, h3, figcaption { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
  .table-wrap { overflow: visible; }
  tbody tr:hover { background: none; }
  svg, .swatch { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
@page { margin: 14mm; }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown::tests::{run_row, sample};

    fn well_formed(html: &str) {
        let mut reader = quick_xml::Reader::from_str(html);
        reader.config_mut().check_end_names = true;
        let mut depth = 0i64;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(_)) => depth += 1,
                Ok(quick_xml::events::Event::End(_)) => depth -= 1,
                Ok(_) => {}
                Err(error) => panic!(
                    "not well-formed at {}: {error}\n{}",
                    reader.buffer_position(),
                    &html[..(reader.buffer_position() as usize).min(html.len())]
                ),
            }
        }
        assert_eq!(depth, 0, "unclosed elements");
    }

    #[test]
    fn one_self_contained_page_with_findings_first_and_three_charts() {
        let html = render_html(&sample());
        well_formed(&html);
        assert!(html.starts_with("<!DOCTYPE html>"));
        let total = sample().totals.total_usd;
        assert!(
            html.contains(&format!("<title>{total} · tollgate report · run 7</title>")),
            "{html}"
        );
        // Nothing from elsewhere: no scripts, links, images, imports or URLs in styles.
        for banned in [
            "<script", "<link", "<img", "src=", "url(", "@import", "<iframe",
        ] {
            assert!(!html.contains(banned), "{banned} in the page");
        }
        assert!(!html.contains("href=\"http"), "a link out");
        assert!(html.contains("default-src 'none'"), "the CSP");
        for id in ["chart-cost", "chart-timeline", "chart-loops"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "no {id}");
        }
        let findings = html.find("id=\"findings\"").unwrap();
        let charts = html.find("id=\"charts\"").unwrap();
        let operations = html.find("id=\"operations\"").unwrap();
        let loops = html.find("id=\"loops\"").unwrap();
        assert!(findings < charts && charts < operations && operations < loops);
        assert!(html.contains("save $0.0001 and 20 calls"), "{html}");
        assert!(html.contains("<code>small-pages:s3:ListObjectsV2:exports</code>"));
        assert!(
            !html.contains("top-cost:"),
            "top-* findings repeat the table"
        );
        assert!(html.contains("@media print"));
        assert!(
            html.contains("7.2 a month") || html.contains("$7.20 a month"),
            "{html}"
        );
    }

    #[test]
    fn every_text_is_escaped() {
        let mut report = sample();
        let evil = "<script>alert(\"x\")</script>&'";
        report.operations[0].operation = evil.into();
        report.loops[0].resource = Some(evil.into());
        report.findings[0].title = evil.into();
        report.findings[0].id = evil.into();
        report.runs[0].command = vec![evil.into()];
        report.runs[0].tags.insert(evil.into(), evil.into());
        report.database = evil.into();
        let html = render_html(&report);
        well_formed(&html);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
    }

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

    #[test]
    fn no_runs() {
        let report = Report::assemble("t.db".into(), vec![], vec![], vec![]);
        let html = render_html(&report);
        well_formed(&html);
        assert!(html.contains("No runs match"));
    }

    #[test]
    fn shares_and_sizes_read_well() {
        let d = |dollars: i64| Usd(Decimal::from(dollars));
        assert_eq!(share(d(1), d(3)), "33%");
        assert_eq!(share(d(1), d(30)), "3.3%");
        assert_eq!(share(d(1), d(3000)), "<0.1%");
        assert_eq!(share(d(0), d(0)), "-");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(40_000_000), "40.0 MB");
    }
}
