//! The page's charts, drawn here as inline SVG: cost by operation, calls over time, pages per
//! paginator loop. Each is a `<figure>`, or nothing when it would be empty.

use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use time::format_description::well_known::Rfc3339;

use super::{esc, share};
use crate::findings::rules::thousands;
use crate::record::{describe_items_unknown, Usd};
use crate::report::format::{
    cost_cell, counted, cut, duration, loop_end, loop_name, page_size, pages_needed, people_time,
};
use crate::report::{LoopReport, OperationReport, Report, TimelineReport};

/// Bars in the operation and loop charts.
const CHART_ROWS: usize = 15;
/// The charts' coordinate width (they scale to the page).
const CHART_WIDTH: f64 = 1000.0;

pub(super) fn charts(out: &mut String, report: &Report) {
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
            esc(&match (l.items, &l.items_unknown) {
                (Some(items), _) => thousands(items.max(0) as u64),
                (None, Some(code)) => format!("? ({})", describe_items_unknown(code)),
                (None, None) => "?".into(),
            }),
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

/// `14:13:20` of an RFC 3339 time.
fn clock(rfc3339: &str) -> String {
    rfc3339.get(11..19).unwrap_or(rfc3339).to_string()
}
