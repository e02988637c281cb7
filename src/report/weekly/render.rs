//! The weekly report for a terminal and as Markdown (a chat message, an issue, an email).

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::{Week, WeeklyReport};
use crate::findings::rules::thousands;
use crate::record::Usd;

fn signed_percent(p: Option<Decimal>) -> String {
    match p {
        Some(p) if p > Decimal::ZERO => format!("+{}%", p.normalize()),
        Some(p) => format!("{}%", p.normalize()),
        None => "–".into(),
    }
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", thousands(n as u64))
    } else if n < 0 {
        format!("-{}", thousands(n.unsigned_abs()))
    } else {
        "0".into()
    }
}

/// `cost +40% (+$1.20): 2 more runs, per run +5%`: what moved, and whether it was the runs.
fn change_text(week: &Week) -> String {
    match &week.change {
        None => "first week shown".into(),
        Some(c) => {
            let mut text = format!(
                "cost {} ({}), calls {} ({}), runs {}, cost per run {}",
                signed_percent(c.cost_percent),
                Usd::signed(c.cost_usd),
                signed_percent(c.calls_percent),
                signed(c.calls),
                signed(c.runs),
                signed_percent(c.cost_per_run_percent)
            );
            if let (Some(volume), Some(price)) = (c.volume_usd, c.price_usd) {
                text += &format!(
                    "; of the cost change, {} is volume and {} is prices",
                    Usd::signed(volume),
                    Usd::signed(price)
                );
            }
            text
        }
    }
}

/// For a terminal: one line per week, then the last week in detail.
pub fn render_weekly_table(report: &WeeklyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "weekly API cost by {} (weeks from Monday 00:00 {}), {} weeks",
        report.by,
        report.time_zone,
        report.weeks.len()
    );
    let _ = writeln!(
        out,
        "\n  {:<9} {:>6} {:>10} {:>8} {:>14} {:>14} {:>9}  flags",
        "week", "runs", "calls", "errors", "cost", "per run", "change"
    );
    for week in &report.weeks {
        let flags = if week.anomalies.is_empty() {
            String::new()
        } else {
            format!("{} anomaly", week.anomalies.len())
        };
        let _ = writeln!(
            out,
            "  {:<9} {:>6} {:>10} {:>8} {:>14} {:>14} {:>9}  {flags}",
            week.week,
            thousands(week.runs),
            thousands(week.calls),
            thousands(week.errors),
            week.cost_usd.to_string(),
            week.cost_per_run_usd.map_or("–".into(), |u| u.to_string()),
            signed_percent(week.change.as_ref().and_then(|c| c.cost_percent)),
        );
    }
    if let Some(week) = report.weeks.last() {
        detail(&mut out, week, false);
    }
    out
}

/// The week's movers, appearances, findings and anomalies.
fn detail(out: &mut String, week: &Week, markdown: bool) {
    let bullet = if markdown { "- " } else { "  • " };
    let esc = |text: &str| {
        if markdown {
            text.replace('$', "\\$").replace('|', "\\|")
        } else {
            text.to_string()
        }
    };
    let heading = |out: &mut String, text: &str| {
        if markdown {
            let _ = writeln!(out, "\n**{text}**\n");
        } else {
            let _ = writeln!(out, "\n{text}:");
        }
    };
    heading(out, &format!("{}: {}", week.week, esc(&change_text(week))));
    let _ = writeln!(
        out,
        "{bullet}{} at this rate: {} a month",
        esc(&week.cost_usd.to_string()),
        esc(&week.projected_month_usd.to_string())
    );
    let movers = [("up", &week.movers_up), ("down", &week.movers_down)];
    for (direction, list) in movers {
        for m in list {
            let _ = writeln!(
                out,
                "{bullet}{direction}: {} {} → {} ({}), calls {} → {}",
                esc(&m.key),
                esc(&m.cost_before_usd.to_string()),
                esc(&m.cost_after_usd.to_string()),
                esc(&Usd::signed(m.change_usd)),
                thousands(m.calls_before),
                thousands(m.calls_after)
            );
        }
    }
    for op in &week.appeared {
        let _ = writeln!(out, "{bullet}new operation: {}", esc(op));
    }
    for op in &week.disappeared {
        let _ = writeln!(out, "{bullet}no longer called: {}", esc(op));
    }
    for finding in &week.new_findings {
        let _ = writeln!(
            out,
            "{bullet}new finding: {} (would save {} calls, {})",
            esc(&finding.title),
            thousands(finding.saving_calls),
            esc(&finding.saving_usd.to_string())
        );
    }
    for a in &week.anomalies {
        let _ = writeln!(
            out,
            "{bullet}ANOMALY: {} {} vs a median of {} over {} weeks ({})",
            esc(&a.key),
            esc(&a.cost_usd.to_string()),
            esc(&a.median_usd.to_string()),
            a.history_weeks,
            a.direction
        );
    }
}

/// Markdown: a table of the weeks, then the last week in detail and the groups.
pub fn render_weekly_markdown(report: &WeeklyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### AWS API cost, week by week (by {}, weeks from Monday 00:00 {})\n",
        report.by, report.time_zone
    );
    out.push_str(
        "| Week | Runs | Calls | Errors | Cost | Per run | Change | |\n\
         |:--|--:|--:|--:|--:|--:|--:|:--|\n",
    );
    for week in &report.weeks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            week.week,
            thousands(week.runs),
            thousands(week.calls),
            thousands(week.errors),
            week.cost_usd.to_string().replace('$', "\\$"),
            week.cost_per_run_usd
                .map_or("–".into(), |u| u.to_string().replace('$', "\\$")),
            signed_percent(week.change.as_ref().and_then(|c| c.cost_percent)),
            if week.anomalies.is_empty() {
                ""
            } else {
                "⚠ anomaly"
            }
        );
    }
    if let Some(week) = report.weeks.last() {
        detail(&mut out, week, true);
        if !week.groups.is_empty() {
            let _ = writeln!(out, "\n| {} | Runs | Calls | Cost | Per run |", report.by);
            out.push_str("|:--|--:|--:|--:|--:|\n");
            for group in week.groups.iter().take(20) {
                let _ = writeln!(
                    out,
                    "| {}{} | {} | {} | {} | {} |",
                    group.key.replace('|', "\\|"),
                    if group.anomaly { " ⚠" } else { "" },
                    thousands(group.runs),
                    thousands(group.calls),
                    group.cost_usd.to_string().replace('$', "\\$"),
                    group
                        .cost_per_run_usd
                        .map_or("–".into(), |u| u.to_string().replace('$', "\\$"))
                );
            }
        }
    }
    out
}
