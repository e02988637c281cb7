//! Formatting shared by the table, Markdown and HTML reports: one helper per kind of value
//! (money, durations, times, counts, loops, findings), applied at the last moment.

use super::{LoopReport, LoopTotals, OperationReport, Report, RunReport};
use crate::findings::rules::{bytes_text, thousands};
use crate::findings::{Finding, Saving};
use crate::record::{cost_label, describe_items_unknown};

/// Findings worth acting on, in the report's order (most saved first): the `top-*` ones only
/// name the biggest operations, which the operations table already shows.
pub(super) fn actionable(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| !f.rule.starts_with("top-"))
        .collect()
}

/// `calls $0.01`, `data transfer out $0.02`, `implied $0.003`: the non-zero parts of the total,
/// when it has more than the calls' own charges.
pub(super) fn breakdown(report: &Report) -> Vec<String> {
    let t = &report.totals;
    if t.transfer_usd.is_zero() && t.implied_usd.is_zero() {
        return Vec::new();
    }
    [
        ("calls", t.cost_usd),
        ("data transfer out", t.transfer_usd),
        ("implied", t.implied_usd),
    ]
    .into_iter()
    .filter(|(_, amount)| !amount.is_zero())
    .map(|(what, amount)| format!("{what} {amount}"))
    .collect()
}

/// What acting on a finding saves: `save $0.0003 and 270 calls`, `270 fewer calls`, `save
/// $0.00002 and 262.1 KB of downloads`, or nothing.
pub(super) fn saving_text(finding: &Finding) -> Option<String> {
    match &finding.saving {
        Some(saving) if !saving.usd.is_zero() => Some(format!(
            "save {} and {}",
            saving.usd,
            match saving.bytes {
                Some(bytes) if saving.calls == 0 => format!("{} of downloads", bytes_text(bytes)),
                Some(bytes) => format!(
                    "{} and {} of downloads",
                    counted(saving.calls, "call", "calls"),
                    bytes_text(bytes)
                ),
                None => counted(saving.calls, "call", "calls"),
            }
        )),
        Some(Saving {
            bytes: Some(bytes), ..
        }) if *bytes > 0 => Some(format!("{} fewer downloaded", bytes_text(*bytes))),
        Some(saving) if saving.calls > 0 => Some(format!(
            "{} fewer {}",
            thousands(saving.calls),
            if saving.calls == 1 { "call" } else { "calls" }
        )),
        _ => None,
    }
}

/// As the terminal table shows it: `unpriced`, `~$0.02` (estimated), `$0.02?` (partly unpriced).
pub(super) fn cost_cell(row: &OperationReport) -> String {
    cost_label(
        row.total_usd.0,
        row.priced + row.free + row.not_billed,
        row.unpriced,
        row.estimated,
    )
}

/// The operation's name as every format shows it: `ec2 CreateVirtualEdgeNetworkGateway (not in
/// model)` for an operation newer than the AWS model that identified it (named from the
/// request; unpriced, no paginator).
pub(super) fn operation_name(row: &OperationReport) -> String {
    if row.not_in_model > 0 {
        format!("{} {} ({NOT_IN_MODEL})", row.service, row.operation)
    } else {
        format!("{} {}", row.service, row.operation)
    }
}

/// The mark of an operation that the AWS model in use does not have.
pub(super) const NOT_IN_MODEL: &str = "not in model";

/// The sentence that explains [`NOT_IN_MODEL`], when any operation shown carries it.
pub(super) fn not_in_model_note(report: &Report) -> Option<String> {
    let attempts: u64 = report.operations.iter().map(|op| op.not_in_model).sum();
    (attempts > 0).then(|| {
        let models: Vec<&str> = report
            .runs
            .iter()
            .map(|run| run.model_version.as_str())
            .filter(|model| !model.is_empty())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let models = if models.is_empty() {
            String::new()
        } else {
            format!(" ({})", models.join(", "))
        };
        format!(
            "{} to operations not in the AWS model{models}: named from the request, unpriced; \
             `tollgate model update` builds the model from your botocore",
            counted(attempts, "attempt", "attempts"),
        )
    })
}

pub(super) fn milliseconds(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1} ms"))
}

pub(super) fn loop_name(l: &LoopReport) -> String {
    match &l.resource {
        Some(resource) => format!("{} {} {resource}", l.service, l.operation),
        None => format!("{} {}", l.service, l.operation),
    }
}

pub(super) fn page_size(l: &LoopReport) -> String {
    match (l.page_size, l.page_size_max) {
        (Some(size), Some(max)) => format!("{size}/{max}"),
        (Some(size), None) => size.to_string(),
        (None, _) => "default".into(),
    }
}

/// Pages the loop would have needed at the maximum page size, when that is known.
pub(super) fn pages_needed(l: &LoopReport) -> Option<i64> {
    match (l.items, l.page_size_max) {
        (Some(items), Some(max)) if max > 0 => Some(((items.max(0) + max - 1) / max).max(1)),
        _ => None,
    }
}

/// `2 paginator loops, 11 pages; 52 single-page listings; 0 re-listings, 0 stopped early`.
pub(super) fn loop_summary(lt: &LoopTotals) -> String {
    let mut summary = format!(
        "{}, {}",
        counted(lt.loops, "paginator loop", "paginator loops"),
        counted(lt.pages, "page", "pages")
    );
    if lt.single_pages > 0 {
        summary.push_str("; ");
        summary.push_str(&counted(
            lt.single_pages,
            "single-page listing",
            "single-page listings",
        ));
    }
    summary.push_str(&format!(
        "; {}, {} stopped early",
        counted(lt.relistings, "re-listing", "re-listings"),
        thousands(lt.stopped_early)
    ));
    summary
}

/// What a loop's cost column holds: one definition with the operations'.
pub(super) const LOOP_COST_LEGEND: &str =
    "a loop's cost counts its requests, data transfer and implied costs, as an operation's does";

/// Why loops' items are unknown, numbered in the order the loops shown first give them: the
/// items cell says `?1`, and a note under the table says what 1 is.
pub(super) struct ItemsNotes {
    codes: Vec<String>,
}

impl ItemsNotes {
    pub fn of<'a>(loops: impl IntoIterator<Item = &'a LoopReport>) -> Self {
        let mut codes: Vec<String> = Vec::new();
        for l in loops {
            if let (None, Some(code)) = (l.items, &l.items_unknown) {
                if !codes.contains(code) {
                    codes.push(code.clone());
                }
            }
        }
        Self { codes }
    }

    /// The items cell: the count (as `count` writes it), `?N` with the reason's number, or `?`
    /// when no reason was recorded (runs recorded before reasons were).
    pub fn cell(&self, l: &LoopReport, count: impl Fn(u64) -> String) -> String {
        match (l.items, &l.items_unknown) {
            (Some(items), _) => count(items.max(0) as u64),
            (None, Some(code)) => match self.codes.iter().position(|c| c == code) {
                Some(index) => format!("?{}", index + 1),
                None => "?".into(),
            },
            (None, None) => "?".into(),
        }
    }

    /// `?1 items unknown: a page's body was cut short (...)`, one per reason.
    pub fn lines(&self) -> Vec<String> {
        self.codes
            .iter()
            .enumerate()
            .map(|(index, code)| {
                format!(
                    "?{} items unknown: {}",
                    index + 1,
                    describe_items_unknown(code)
                )
            })
            .collect()
    }
}

pub(super) fn loop_end(l: &LoopReport) -> &'static str {
    if l.relisting {
        "re-listing"
    } else if l.complete {
        "complete"
    } else {
        "stopped"
    }
}

/// `2026-09-21 14:13:20 UTC` from RFC 3339.
pub(super) fn people_time(rfc3339: &str) -> String {
    match rfc3339.get(..19) {
        Some(head) => format!("{} UTC", head.replace('T', " ")),
        None => rfc3339.to_string(),
    }
}

pub(super) fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms if ms < 3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        ms => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// `main @ 0123abcd` (repository, branch, commit as far as known).
pub(super) fn git_line(run: &RunReport) -> Option<String> {
    let commit = run
        .git
        .commit
        .as_deref()
        .map(|c| c.chars().take(12).collect::<String>());
    match (&run.git.branch, commit) {
        (Some(branch), Some(commit)) => Some(format!("{} @ {commit}", cut(branch, 60))),
        (Some(branch), None) => Some(cut(branch, 60)),
        (None, Some(commit)) => Some(commit),
        (None, None) => None,
    }
}

/// `1 call`, `1,024 calls`.
pub(super) fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// At most `max` characters, with `…` when cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let head: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

// --- Markdown text ---
