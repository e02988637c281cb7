//! The report as one self-contained HTML file, to open in a browser, attach to a CI run or
//! print: findings first with what they save, the totals, charts drawn here as inline SVG (cost
//! by operation, calls over time, pages per paginator loop), then the operations and loops
//! tables. Nothing is fetched: no scripts, fonts, images or style sheets from anywhere, and the
//! page's Content-Security-Policy forbids them. Every piece of text is HTML-escaped.

mod charts;
mod style;
mod tables;

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::format::{actionable, breakdown, counted, cut, duration, git_line, people_time};
use super::{Report, RunReport};
use crate::findings::rules::thousands;
use crate::record::Usd;
use charts::charts;
use style::STYLE;
pub use tables::render_grouped_html;
use tables::{findings, groups_tables, loops_table, operations_table, runs_table};

/// Rows of each table at most; the rest is counted (the JSON report has them all).
const MAX_TABLE_ROWS: usize = 1_000;

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
        groups_tables(&mut out, report);
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
        let mut detail = counted(lt.pages, "page", "pages");
        if lt.single_pages > 0 {
            detail.push_str(&format!(
                " (and {})",
                counted(
                    lt.single_pages,
                    "single-page listing",
                    "single-page listings"
                )
            ));
        }
        detail.push_str(&format!(
            ", {}, {} stopped early",
            counted(lt.relistings, "re-listing", "re-listings"),
            thousands(lt.stopped_early)
        ));
        card(out, "", "Paginator loops", &thousands(lt.loops), &detail);
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
    for run in report
        .runs
        .iter()
        .filter(|r| r.state == "incomplete" && r.ended_at.is_none())
    {
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

/// Text as HTML: safe in element content and in quoted attributes (the weekly page's too).
pub(super) fn esc(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown::tests::sample;

    pub(super) fn well_formed(html: &str) {
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
