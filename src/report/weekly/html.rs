//! The weekly report as one self-contained HTML page: no script, no network at view time (a
//! Content-Security-Policy that allows inline styles only), charts drawn here as inline SVG in
//! the Okabe–Ito palette (told apart with colour blindness, and in print by their labels):
//! cost per week stacked by service, calls per week of the top operations, last week's movers,
//! and the cost per run. Every data point carries `data-*` attributes with its figures, for
//! people with a DOM inspector and for the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{Week, WeeklyReport};
use crate::findings::rules::thousands;
use crate::record::Usd;
use crate::report::html::esc;

/// Okabe & Ito's colour-blind-safe palette.
const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 90.0;
const BOTTOM: f64 = 30.0;
/// Series drawn before the rest are summed as "other".
const SERIES: usize = 6;

const STYLE: &str = r#"
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1f2328; background: #fff; }
.page { max-width: 1040px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px; }
.muted { color: #59636e; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d1d9e0; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.anomaly { background: #fff8c5; }
figure { margin: 12px 0 20px; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg { width: 100%; height: auto; } svg text { font-size: 12px; fill: #1f2328; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
@media print { .page { max-width: none; } figure { break-inside: avoid; } }
"#;

fn f(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or(0.0)
}

/// The page.
pub fn render_weekly_html(report: &WeeklyReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let range = match (report.weeks.first(), report.weeks.last()) {
        (Some(first), Some(last)) => format!("{} – {}", first.week, last.week),
        _ => "no weeks".into(),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\" />\n<title>AWS API cost, {} · tollgate weekly</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<div class=\"page\">\n\
         <h1>AWS API cost, week by week</h1>\n<p class=\"muted\">{} · by {} · weeks start \
         Monday 00:00 ({}) · {}</p>\n",
        esc(&range),
        esc(&range),
        esc(&report.by),
        esc(&report.time_zone),
        esc(&report.database)
    );
    weeks_table(&mut out, report);
    let charts = [
        cost_by_service(report),
        calls_of_top_operations(report),
        movers(report),
        cost_per_run(report),
    ];
    for chart in charts.into_iter().flatten() {
        out.push_str(&chart);
    }
    if let Some(week) = report.weeks.last() {
        last_week(&mut out, week, &report.by);
    }
    out.push_str("</div>\n</body>\n</html>\n");
    out
}

fn weeks_table(out: &mut String, report: &WeeklyReport) {
    out.push_str(
        "<table id=\"weeks\">\n<thead><tr><th>Week</th><th>Runs</th><th>Calls</th>\
         <th>Errors</th><th>Cost</th><th>Per run</th><th>Change</th></tr></thead>\n<tbody>\n",
    );
    for week in &report.weeks {
        let change = week
            .change
            .as_ref()
            .and_then(|c| c.cost_percent)
            .map_or("–".into(), |p| format!("{}%", p.normalize()));
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if week.anomalies.is_empty() {
                ""
            } else {
                " class=\"anomaly\""
            },
            esc(&week.week),
            thousands(week.runs),
            thousands(week.calls),
            thousands(week.errors),
            esc(&week.cost_usd.to_string()),
            esc(&week.cost_per_run_usd.map_or("–".into(), |u| u.to_string())),
            esc(&change)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn legend(keys: &[String]) -> String {
    let mut out = String::from("<div class=\"legend\">");
    for (i, key) in keys.iter().enumerate() {
        let _ = write!(
            out,
            "<span><i class=\"swatch\" style=\"background:{}\"></i>{}</span>",
            PALETTE[i % PALETTE.len()],
            esc(key)
        );
    }
    out.push_str("</div>");
    out
}

fn x_of(index: usize, count: usize) -> f64 {
    let plot = WIDTH - LEFT - 10.0;
    LEFT + plot * (index as f64 + 0.5) / count.max(1) as f64
}

fn axis(out: &mut String, weeks: &[Week], max_label: &str) {
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{WIDTH}\" y2=\"{y}\" stroke=\"#59636e\" />\
         <text x=\"{}\" y=\"14\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{y}\" text-anchor=\"end\">0</text>",
        LEFT - 6.0,
        esc(max_label),
        LEFT - 6.0,
        y = HEIGHT - BOTTOM
    );
    for (i, week) in weeks.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x_of(i, weeks.len()),
            HEIGHT - 10.0,
            esc(week.week.split_once('-').map_or(&week.week, |(_, w)| w))
        );
    }
}

/// A line through `points` in `colour`.
fn polyline(svg: &mut String, points: impl Iterator<Item = (f64, f64)>, colour: &str) {
    let path: Vec<String> = points.map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" />",
        path.join(" ")
    );
}

/// Cost per week, stacked by service.
fn cost_by_service(report: &WeeklyReport) -> Option<String> {
    let weeks = &report.weeks;
    let services: Vec<String> = {
        let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
        for week in weeks {
            for (key, value) in &week.service_cost_usd {
                *totals.entry(key).or_default() += value.0;
            }
        }
        let mut keys: Vec<(&str, Decimal)> = totals
            .into_iter()
            .filter(|(_, v)| *v > Decimal::ZERO)
            .collect();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        keys.into_iter()
            .take(SERIES)
            .map(|(k, _)| k.to_string())
            .collect()
    };
    if services.is_empty() {
        return None;
    }
    let max = weeks.iter().map(|w| w.cost_usd.0).max().unwrap_or_default();
    let scale = (HEIGHT - BOTTOM - 20.0) / f(max).max(f64::MIN_POSITIVE);
    let bar = ((WIDTH - LEFT - 10.0) / weeks.len().max(1) as f64 * 0.6).min(60.0);
    let mut svg = format!(
        "<figure id=\"chart-cost-by-service\"><figcaption>Cost per week, by service</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"Cost per week, stacked by \
         service\">"
    );
    axis(&mut svg, weeks, &Usd(max).to_string());
    for (i, week) in weeks.iter().enumerate() {
        let x = x_of(i, weeks.len()) - bar / 2.0;
        let mut y = HEIGHT - BOTTOM;
        let other: Decimal = week
            .service_cost_usd
            .iter()
            .filter(|(k, _)| !services.contains(k))
            .map(|(_, v)| v.0)
            .sum();
        let segments = services
            .iter()
            .enumerate()
            .map(|(s, name)| {
                (
                    name.as_str(),
                    PALETTE[s % PALETTE.len()],
                    week.service_cost_usd
                        .get(name)
                        .map_or(Decimal::ZERO, |u| u.0),
                )
            })
            .chain(std::iter::once(("other", "#8c959f", other)));
        for (name, colour, cost) in segments {
            if cost.is_zero() {
                continue;
            }
            let h = f(cost) * scale;
            y -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{colour}\" \
                 data-week=\"{}\" data-service=\"{}\" data-usd=\"{}\"><title>{} {}: {}</title></rect>",
                esc(&week.week),
                esc(name),
                Usd(cost).published(),
                esc(&week.week),
                esc(name),
                esc(&Usd(cost).to_string())
            );
        }
    }
    svg.push_str("</svg>");
    let mut keys = services;
    keys.push("other".into());
    svg.push_str(&legend(&keys[..keys.len() - 1]));
    svg.push_str("</figure>\n");
    Some(svg)
}

/// Calls per week of the operations with the most calls over the weeks.
fn calls_of_top_operations(report: &WeeklyReport) -> Option<String> {
    let weeks = &report.weeks;
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for week in weeks {
        for (key, calls) in &week.operation_calls {
            *totals.entry(key).or_default() += calls;
        }
    }
    let mut top: Vec<(&str, u64)> = totals.into_iter().filter(|(_, n)| *n > 0).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top: Vec<String> = top
        .into_iter()
        .take(SERIES)
        .map(|(k, _)| k.to_string())
        .collect();
    if top.is_empty() {
        return None;
    }
    let max = weeks
        .iter()
        .flat_map(|w| {
            top.iter()
                .map(|k| w.operation_calls.get(k).copied().unwrap_or(0))
        })
        .max()
        .unwrap_or(0);
    let scale = (HEIGHT - BOTTOM - 20.0) / (max.max(1) as f64);
    let mut svg = format!(
        "<figure id=\"chart-calls\"><figcaption>Calls per week, top operations</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"Calls per week of the \
         top operations\">"
    );
    axis(&mut svg, weeks, &thousands(max));
    for (s, name) in top.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        let points: Vec<(f64, f64, u64, &str)> = weeks
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let calls = w.operation_calls.get(name).copied().unwrap_or(0);
                (
                    x_of(i, weeks.len()),
                    HEIGHT - BOTTOM - calls as f64 * scale,
                    calls,
                    w.week.as_str(),
                )
            })
            .collect();
        polyline(&mut svg, points.iter().map(|(x, y, _, _)| (*x, *y)), colour);
        for (x, y, calls, week) in points {
            let _ = write!(
                svg,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{colour}\" data-week=\"{}\" \
                 data-operation=\"{}\" data-calls=\"{calls}\"><title>{} {}: {} calls</title></circle>",
                esc(week),
                esc(name),
                esc(week),
                esc(name),
                thousands(calls)
            );
        }
    }
    svg.push_str("</svg>");
    svg.push_str(&legend(&top));
    svg.push_str("</figure>\n");
    Some(svg)
}

/// Last week's movers, up and down, as bars from a zero line.
fn movers(report: &WeeklyReport) -> Option<String> {
    let week = report.weeks.last()?;
    let movers: Vec<_> = week
        .movers_up
        .iter()
        .chain(week.movers_down.iter())
        .collect();
    if movers.is_empty() {
        return None;
    }
    let row = 26.0;
    let height = row * movers.len() as f64 + 10.0;
    let max = movers
        .iter()
        .map(|m| m.change_usd.0.abs())
        .max()
        .unwrap_or_default();
    let label = 300.0;
    let half = (WIDTH - label - 20.0) / 2.0;
    let zero = label + half;
    let scale = half / f(max).max(f64::MIN_POSITIVE);
    let mut svg = format!(
        "<figure id=\"chart-movers\"><figcaption>{}: what moved since the week before\
         </figcaption><svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"Movers up \
         and down\"><line x1=\"{zero}\" y1=\"0\" x2=\"{zero}\" y2=\"{height}\" stroke=\"#59636e\" />",
        esc(&week.week)
    );
    for (i, m) in movers.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let w = f(m.change_usd.0.abs()) * scale;
        let (x, colour) = if m.change_usd.0 > Decimal::ZERO {
            (zero, "#D55E00")
        } else {
            (zero - w, "#009E73")
        };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{colour}\" \
             data-key=\"{}\" data-change-usd=\"{}\"><title>{}: {} → {}</title></rect>",
            label - 8.0,
            y + row * 0.6,
            esc(&m.key),
            row - 8.0,
            esc(&m.key),
            m.change_usd.published(),
            esc(&m.key),
            esc(&m.cost_before_usd.to_string()),
            esc(&m.cost_after_usd.to_string())
        );
    }
    svg.push_str("</svg></figure>\n");
    Some(svg)
}

/// The cost per run, week by week: a line (weeks without runs leave a gap).
fn cost_per_run(report: &WeeklyReport) -> Option<String> {
    let weeks = &report.weeks;
    let max = weeks.iter().filter_map(|w| w.cost_per_run_usd).max()?;
    let scale = (HEIGHT - BOTTOM - 20.0) / f(max.0).max(f64::MIN_POSITIVE);
    let mut svg = format!(
        "<figure id=\"chart-per-run\"><figcaption>Cost per run</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"Cost per run, week by \
         week\">"
    );
    axis(&mut svg, weeks, &max.to_string());
    let points: Vec<(f64, f64, &Week, Usd)> = weeks
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            w.cost_per_run_usd
                .map(|u| (x_of(i, weeks.len()), HEIGHT - BOTTOM - f(u.0) * scale, w, u))
        })
        .collect();
    polyline(
        &mut svg,
        points.iter().map(|(x, y, _, _)| (*x, *y)),
        PALETTE[0],
    );
    for (x, y, week, usd) in points {
        let _ = write!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\" data-week=\"{}\" \
             data-usd=\"{}\"><title>{}: {} a run over {} runs</title></circle>",
            PALETTE[0],
            esc(&week.week),
            usd.published(),
            esc(&week.week),
            esc(&usd.to_string()),
            week.runs
        );
    }
    svg.push_str("</svg></figure>\n");
    Some(svg)
}

fn last_week(out: &mut String, week: &Week, by: &str) {
    let _ = writeln!(out, "<h2 id=\"last-week\">{}</h2>", esc(&week.week));
    out.push_str("<ul>");
    for a in &week.anomalies {
        let _ = write!(
            out,
            "<li class=\"anomaly\">Anomaly: {} cost {} against a median of {} over {} weeks</li>",
            esc(&a.key),
            esc(&a.cost_usd.to_string()),
            esc(&a.median_usd.to_string()),
            a.history_weeks
        );
    }
    for op in &week.appeared {
        let _ = write!(out, "<li>New operation: {}</li>", esc(op));
    }
    for op in &week.disappeared {
        let _ = write!(out, "<li>No longer called: {}</li>", esc(op));
    }
    for finding in &week.new_findings {
        let _ = write!(
            out,
            "<li>New finding: {} (would save {} calls, {})</li>",
            esc(&finding.title),
            thousands(finding.saving_calls),
            esc(&finding.saving_usd.to_string())
        );
    }
    out.push_str("</ul>\n");
    let _ = write!(
        out,
        "<table id=\"groups\"><thead><tr><th>{}</th><th>Runs</th><th>Calls</th><th>Cost</th>\
         <th>Per run</th></tr></thead><tbody>",
        esc(by)
    );
    for group in &week.groups {
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if group.anomaly {
                " class=\"anomaly\""
            } else {
                ""
            },
            esc(&group.key),
            thousands(group.runs),
            thousands(group.calls),
            esc(&group.cost_usd.to_string()),
            esc(&group.cost_per_run_usd.map_or("–".into(), |u| u.to_string()))
        );
    }
    out.push_str("</tbody></table>\n");
}
