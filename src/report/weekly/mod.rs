//! The weekly report: what the recorded runs spent on AWS API calls, week by week (ISO weeks),
//! what moved and why. Every week of the window is there, empty or not; each has its totals,
//! its groups (by service, operation, tag, branch, repository or command), the change from the
//! week before (absolute, percent, and per run, so that "CI ran twice as often" is told apart
//! from "each run got dearer"), the top movers, the operations that appeared or disappeared, the
//! findings new that week, a month projected at its rate, and the groups whose cost is far
//! outside their own recent weeks (anomalies: median ± k·MAD, above a dollar floor).
//!
//! Reads the store through its trait only. JSON: `schemas/weekly-v1.schema.json`.

mod html;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;
use time::{Date, Duration, OffsetDateTime, UtcOffset, Weekday};

pub use html::render_weekly_html;
pub use render::{render_weekly_markdown, render_weekly_table};

use crate::findings::{self, Facts, Thresholds};
use crate::record::{OperationTally, RunRow, Usd};
use crate::store::{RunStore, StoreError};

/// The JSON's version (`schemas/weekly-v1.schema.json`).
pub const WEEKLY_VERSION: u32 = 1;

/// What the groups are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Service,
    Operation,
    Tag(String),
    Branch,
    Repo,
    Command,
    /// The line that made each call (`x-tollgate-callsite`).
    Callsite,
    /// The test that made each call (`x-tollgate-test`).
    Test,
}

impl GroupBy {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "service" => Self::Service,
            "operation" => Self::Operation,
            "branch" => Self::Branch,
            "repo" => Self::Repo,
            "command" => Self::Command,
            "callsite" => Self::Callsite,
            "test" => Self::Test,
            _ => match text.strip_prefix("tag:") {
                Some(key) if !key.is_empty() => Self::Tag(key.to_string()),
                _ => {
                    return Err(format!(
                        "--by {text}: use service, operation, callsite, test, tag:KEY, branch, \
                         repo or command"
                    ))
                }
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Self::Service => "service".into(),
            Self::Operation => "operation".into(),
            Self::Tag(key) => format!("tag:{key}"),
            Self::Branch => "branch".into(),
            Self::Repo => "repo".into(),
            Self::Command => "command".into(),
            Self::Callsite => "callsite".into(),
            Self::Test => "test".into(),
        }
    }

    /// Groups of runs (by run attributes); `None` for the groups made of operations.
    fn run_key(&self, run: &RunRow) -> Option<String> {
        let none = || "(none)".to_string();
        Some(match self {
            Self::Service | Self::Operation | Self::Callsite | Self::Test => return None,
            Self::Tag(key) => run.tags.get(key).cloned().unwrap_or_else(none),
            Self::Branch => run.git_branch.clone().unwrap_or_else(none),
            Self::Repo => run.git_repo.clone().unwrap_or_else(none),
            Self::Command => {
                let command = run.command.join(" ");
                if command.is_empty() {
                    none()
                } else {
                    command
                }
            }
        })
    }
}

/// The anomaly rule.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyRule {
    /// How many earlier weeks a group's week is compared with (at least 3 must have runs).
    pub history_weeks: usize,
    /// Flagged when farther than k × MAD (scaled to a standard deviation: × 1.4826) from the
    /// median of those weeks...
    pub k: Decimal,
    /// ...and farther than this many dollars.
    pub min_usd: Usd,
}

impl Default for AnomalyRule {
    fn default() -> Self {
        Self {
            history_weeks: 6,
            k: Decimal::from(3),
            min_usd: Usd(Decimal::ONE),
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct WeeklyOptions {
    /// The last week shown (any day of it, in `zone`).
    pub last_week_day: Date,
    pub weeks: usize,
    pub by: GroupBy,
    /// The team's time zone: weeks start on its Monday midnight.
    pub zone: WeekZone,
    /// Runs that carry every one of these tags.
    pub tags: Vec<(String, String)>,
    pub anomaly: AnomalyRule,
    /// Movers listed each way.
    pub movers: usize,
    /// Today's prices: when two weeks were priced with different tables, their change is split
    /// into volume (both at these prices) and price.
    pub pricer: Option<std::sync::Arc<crate::pricing::Pricer>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeeklyReport {
    pub version: u32,
    pub generated_at: String,
    pub database: String,
    pub by: String,
    /// Where weeks start on Monday 00:00: an offset from UTC (`+00:00` unless `--tz` said
    /// otherwise) or a zone name (`Europe/Berlin`).
    pub time_zone: String,
    pub anomaly_rule: AnomalyRule,
    /// Oldest first.
    pub weeks: Vec<Week>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Week {
    /// ISO 8601 week: `2026-W49`.
    pub week: String,
    /// Monday 00:00 in the report's time zone, and the next Monday (RFC 3339, UTC).
    pub start: String,
    pub end: String,
    pub runs: u64,
    pub calls: u64,
    pub errors: u64,
    pub retries: u64,
    /// Everything the calls cost: own charges, data transfer, implied costs.
    pub cost_usd: Usd,
    /// `None` without runs.
    pub cost_per_run_usd: Option<Usd>,
    /// This week's cost at this week's rate over a 30-day month.
    pub projected_month_usd: Usd,
    /// Most expensive first.
    pub groups: Vec<GroupWeek>,
    /// Cost by service and calls by operation (`service Operation`), whatever `by` is: what
    /// the HTML's charts draw.
    pub service_cost_usd: BTreeMap<String, Usd>,
    pub operation_calls: BTreeMap<String, u64>,
    /// From the week before (none for the first week shown).
    pub change: Option<WeekChange>,
    pub movers_up: Vec<Mover>,
    pub movers_down: Vec<Mover>,
    /// `service Operation` called this week and not the week before, and the reverse.
    pub appeared: Vec<String>,
    pub disappeared: Vec<String>,
    /// Findings this week whose rule, service and operation the week before did not have.
    pub new_findings: Vec<NewFinding>,
    pub anomalies: Vec<Anomaly>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupWeek {
    pub key: String,
    /// For groups of runs: the runs; for service and operation groups: the runs that called it.
    pub runs: u64,
    pub calls: u64,
    pub errors: u64,
    pub cost_usd: Usd,
    pub cost_per_run_usd: Option<Usd>,
    /// Its cost is an anomaly (see `anomalies`).
    pub anomaly: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeekChange {
    pub runs: i64,
    pub calls: i64,
    /// `None` from 0.
    pub calls_percent: Option<Decimal>,
    pub cost_usd: Usd,
    pub cost_percent: Option<Decimal>,
    /// The cost per run's change in percent: next to `runs`, says whether the suite ran more
    /// often or got dearer per run.
    pub cost_per_run_percent: Option<Decimal>,
    /// When the two weeks were priced with different price tables: the change with both at
    /// today's prices (more or fewer calls, units, bytes)...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_usd: Option<Usd>,
    /// ... and the rest of `cost_usd`: what prices alone changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_usd: Option<Usd>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mover {
    pub key: String,
    pub calls_before: u64,
    pub calls_after: u64,
    pub cost_before_usd: Usd,
    pub cost_after_usd: Usd,
    pub change_usd: Usd,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewFinding {
    pub rule: String,
    pub id: String,
    pub title: String,
    pub saving_calls: u64,
    pub saving_usd: Usd,
}

#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub key: String,
    pub cost_usd: Usd,
    /// Of the group's earlier weeks.
    pub median_usd: Usd,
    pub mad_usd: Usd,
    pub history_weeks: usize,
    /// `up` or `down`.
    pub direction: &'static str,
}

/// Where weeks start: a fixed offset from UTC, or a named zone whose offset changes (with daylight
/// saving a week is 167 or 169 hours there).
#[derive(Debug, Clone)]
pub enum WeekZone {
    Offset(UtcOffset),
    Named(jiff::tz::TimeZone),
}

impl WeekZone {
    /// `+02:00`, `-0530`, `Z`, `UTC`, or a zone name such as `Europe/Berlin`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if matches!(text, "Z" | "UTC" | "utc") {
            return Ok(Self::Offset(UtcOffset::UTC));
        }
        if let Some(offset) = parse_offset(text) {
            return Ok(Self::Offset(offset));
        }
        jiff::tz::TimeZone::get(text).map(Self::Named).map_err(|_| {
            format!(
                "--tz {text}: give a time zone name (Europe/Berlin, America/New_York) or an offset \
                 from UTC (+02:00, -05:00)"
            )
        })
    }

    /// As the report names it: the offset, or the zone's name.
    pub fn name(&self) -> String {
        match self {
            Self::Offset(offset) => offset_text(*offset),
            Self::Named(zone) => zone.iana_name().unwrap_or("local").to_string(),
        }
    }

    /// Midnight starting `day` here, in µs since the epoch.
    fn micros_at(&self, day: Date) -> i64 {
        match self {
            Self::Offset(offset) => {
                let at = day.midnight().assume_offset(*offset);
                (at.unix_timestamp_nanos() / 1000) as i64
            }
            Self::Named(zone) => {
                jiff::civil::date(day.year() as i16, day.month() as i8, day.day() as i8)
                    .to_zoned(zone.clone())
                    .map_or(0, |zoned| zoned.timestamp().as_microsecond())
            }
        }
    }

    /// Today's date here.
    pub fn today(&self) -> Date {
        let now = OffsetDateTime::now_utc();
        match self {
            Self::Offset(offset) => now.to_offset(*offset).date(),
            Self::Named(zone) => {
                let seconds = zone.to_offset(jiff::Timestamp::now()).seconds();
                UtcOffset::from_whole_seconds(seconds)
                    .map_or(now.date(), |offset| now.to_offset(offset).date())
            }
        }
    }
}

/// `+02:00`, `-0530` as an offset.
fn parse_offset(text: &str) -> Option<UtcOffset> {
    let (sign, rest) = match text.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hours: i8 = digits[..2].parse().ok()?;
    let minutes: i8 = digits[2..].parse().ok()?;
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

/// One week's groups before they are compared.
#[derive(Debug, Clone, Default)]
struct Figures {
    runs: u64,
    calls: u64,
    errors: u64,
    cost: Decimal,
}

fn percent(before: Decimal, after: Decimal) -> Option<Decimal> {
    (!before.is_zero()).then(|| ((after - before) * Decimal::from(100) / before).round_dp(1))
}

/// Monday of the ISO week that holds `day`.
pub fn monday_of(day: Date) -> Date {
    day - Duration::days(i64::from(day.weekday().number_days_from_monday()))
}

/// `2026-W49`.
pub fn iso_week_name(monday: Date) -> String {
    let (year, week, _) = monday.to_iso_week_date();
    format!("{year}-W{week:02}")
}

/// `2026-W49` → its Monday.
pub fn parse_iso_week(text: &str) -> Result<Date, String> {
    let bad = || format!("--week {text}: expected an ISO week such as 2026-W49");
    let (year, week) = text.split_once("-W").ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let week: u8 = week.parse().map_err(|_| bad())?;
    Date::from_iso_week_date(year, week, Weekday::Monday).map_err(|_| bad())
}

/// An instant (µs since the epoch) in RFC 3339, UTC.
fn rfc3339_us(at_us: i64) -> String {
    crate::record::rfc3339(at_us)
}

/// Calls are attempts that were not retries.
fn add_tally(figures: &mut Figures, op: &OperationTally) {
    figures.calls += op.attempts - op.retries;
    figures.errors += op.errors;
    figures.cost += op.total();
}

/// Whether every run of two weeks was priced with today's table (their change is then all
/// volume, and nothing needs re-pricing).
fn all_at_today(tables: [&BTreeSet<String>; 2], pricer: &crate::pricing::Pricer) -> bool {
    let today = &pricer.table().version;
    tables
        .iter()
        .flat_map(|t| t.iter())
        .all(|table| table == today)
}

/// A week's cost at today's prices, re-priced once however many comparisons use it.
async fn week_at_today(
    store: &dyn RunStore,
    pricer: &crate::pricing::Pricer,
    cache: &mut BTreeMap<usize, Decimal>,
    index: usize,
    ids: &[i64],
) -> Result<Decimal, StoreError> {
    if let Some(cost) = cache.get(&index) {
        return Ok(*cost);
    }
    let cost = if ids.is_empty() {
        Decimal::ZERO
    } else {
        super::reprice::reprice(store, ids, Vec::new(), pricer)
            .await?
            .today_usd
            .0
    };
    cache.insert(index, cost);
    Ok(cost)
}

/// Builds the report.
pub async fn build(
    store: &dyn RunStore,
    options: &WeeklyOptions,
    thresholds: &Thresholds,
) -> Result<WeeklyReport, StoreError> {
    let last_monday = monday_of(options.last_week_day);
    let weeks = options.weeks.max(1);
    let first_monday = last_monday - Duration::weeks(weeks as i64 - 1);
    let window_end = options.zone.micros_at(last_monday + Duration::weeks(1));
    // The runs of the window; the anomaly rule also looks at the weeks before it.
    let history_monday = first_monday - Duration::weeks(options.anomaly.history_weeks as i64);
    let history_start = options.zone.micros_at(history_monday);
    let filter = crate::record::RunFilter {
        run: None,
        last: false,
        since_us: Some(history_start),
        tags: options.tags.clone(),
    };
    let ids = store.select_runs(&filter).await?;
    let runs = store.runs(Some(&ids), i64::MAX).await?;
    let runs: Vec<RunRow> = runs
        .into_iter()
        .filter(|r| r.started_at_us >= history_start && r.started_at_us < window_end)
        .collect();

    // Every week, history first: (monday, its runs).
    let all_weeks = weeks + options.anomaly.history_weeks;
    let mut week_runs: Vec<(Date, Vec<&RunRow>)> = (0..all_weeks)
        .map(|i| (history_monday + Duration::weeks(i as i64), Vec::new()))
        .collect();
    // Each week's start: in a zone with daylight saving not every week is 7 × 24 h.
    let starts: Vec<i64> = week_runs
        .iter()
        .map(|(monday, _)| options.zone.micros_at(*monday))
        .collect();
    for run in &runs {
        let index = starts.partition_point(|start| *start <= run.started_at_us);
        if let Some((_, list)) = index.checked_sub(1).and_then(|i| week_runs.get_mut(i)) {
            list.push(run);
        }
    }

    // Per week: totals, groups, operations (for appeared/disappeared) and findings.
    struct Raw {
        monday: Date,
        ids: Vec<i64>,
        /// The price tables its runs were priced with.
        tables: BTreeSet<String>,
        total: Figures,
        retries: u64,
        groups: BTreeMap<String, Figures>,
        operations: BTreeSet<String>,
        service_cost: BTreeMap<String, Usd>,
        operation_calls: BTreeMap<String, u64>,
        findings: Vec<NewFinding>,
    }
    let mut raw: Vec<Raw> = Vec::with_capacity(all_weeks);
    for (index, (monday, list)) in week_runs.iter().enumerate() {
        let ids: Vec<i64> = list.iter().map(|r| r.id).collect();
        let shown = index >= options.anomaly.history_weeks;
        let tallies = if ids.is_empty() {
            Vec::new()
        } else {
            store.operations(&ids).await?
        };
        let mut total = Figures {
            runs: ids.len() as u64,
            ..Figures::default()
        };
        let mut retries = 0;
        let mut operations = BTreeSet::new();
        let mut service_cost: BTreeMap<String, Usd> = BTreeMap::new();
        let mut operation_calls: BTreeMap<String, u64> = BTreeMap::new();
        for op in &tallies {
            add_tally(&mut total, op);
            retries += op.retries;
            let name = format!("{} {}", op.service, op.operation);
            *operation_calls.entry(name.clone()).or_default() += op.attempts - op.retries;
            operations.insert(name);
            *service_cost.entry(op.service.clone()).or_default() += Usd(op.total());
        }
        let mut groups: BTreeMap<String, Figures> = BTreeMap::new();
        match options.by {
            GroupBy::Service | GroupBy::Operation => {
                // The runs that called each: one query per run would be N queries; the
                // operation tallies per run are cheap, so ask per run only for run counts.
                let mut runs_of: BTreeMap<String, u64> = BTreeMap::new();
                if shown && !ids.is_empty() {
                    for id in &ids {
                        let mut seen = BTreeSet::new();
                        for op in store.operations(&[*id]).await? {
                            let key = group_key(&options.by, &op);
                            if seen.insert(key.clone()) {
                                *runs_of.entry(key).or_default() += 1;
                            }
                        }
                    }
                }
                for op in &tallies {
                    let key = group_key(&options.by, op);
                    let group = groups.entry(key.clone()).or_default();
                    add_tally(group, op);
                    group.runs = runs_of.get(&key).copied().unwrap_or(0);
                }
            }
            GroupBy::Callsite | GroupBy::Test if !ids.is_empty() => {
                groups = call_groups(store, &ids, &options.by).await?;
            }
            GroupBy::Callsite | GroupBy::Test => {}
            _ => {
                let mut by_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
                for run in list {
                    let key = options.by.run_key(run).expect("a run attribute");
                    by_key.entry(key).or_default().push(run.id);
                }
                for (key, ids) in by_key {
                    let mut group = Figures {
                        runs: ids.len() as u64,
                        ..Figures::default()
                    };
                    for op in store.operations(&ids).await? {
                        add_tally(&mut group, &op);
                    }
                    groups.insert(key, group);
                }
            }
        }
        let findings = if shown && !ids.is_empty() {
            let facts = Facts::gather(store, &ids, thresholds).await?;
            findings::find(&facts, thresholds)
                .into_iter()
                .filter(|f| !f.rule.starts_with("top-"))
                .map(|f| {
                    let (calls, usd) = f
                        .saving
                        .as_ref()
                        .map_or((0, Usd::ZERO), |s| (s.calls, s.usd));
                    NewFinding {
                        rule: f.rule.to_string(),
                        id: f.id.clone(),
                        title: f.title.clone(),
                        saving_calls: calls,
                        saving_usd: usd,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        raw.push(Raw {
            monday: *monday,
            tables: list.iter().map(|r| r.pricing_version.clone()).collect(),
            ids,
            total,
            retries,
            groups,
            operations,
            service_cost,
            operation_calls,
            findings,
        });
    }

    let mut out = Vec::with_capacity(weeks);
    let mut at_today: BTreeMap<usize, Decimal> = BTreeMap::new();
    for index in options.anomaly.history_weeks..all_weeks {
        let this = &raw[index];
        let previous = &raw[index - 1];
        let per_run = |f: &Figures| (f.runs > 0).then(|| Usd(f.cost / Decimal::from(f.runs)));
        let anomalies = anomalies_of(&raw[..=index], index, &options.anomaly, |r| &r.groups);
        let mut groups: Vec<GroupWeek> = this
            .groups
            .iter()
            .map(|(key, f)| GroupWeek {
                key: key.clone(),
                runs: f.runs,
                calls: f.calls,
                errors: f.errors,
                cost_usd: Usd(f.cost),
                cost_per_run_usd: per_run(f),
                anomaly: anomalies.iter().any(|a| &a.key == key),
            })
            .collect();
        groups.sort_by(|a, b| b.cost_usd.cmp(&a.cost_usd).then(a.key.cmp(&b.key)));
        let shown_first = index == options.anomaly.history_weeks;
        // Weeks priced with other tables are compared at today's prices: the change is then
        // volume, and the rest of it is price.
        let split = match &options.pricer {
            Some(pricer)
                if !shown_first && !all_at_today([&previous.tables, &this.tables], pricer) =>
            {
                let before =
                    week_at_today(store, pricer, &mut at_today, index - 1, &previous.ids).await?;
                let after = week_at_today(store, pricer, &mut at_today, index, &this.ids).await?;
                Some(after - before)
            }
            _ => None,
        };
        let change = (!shown_first).then(|| {
            let (b, a) = (&previous.total, &this.total);
            let per_run_before = (b.runs > 0).then(|| b.cost / Decimal::from(b.runs));
            let per_run_after = (a.runs > 0).then(|| a.cost / Decimal::from(a.runs));
            WeekChange {
                runs: a.runs as i64 - b.runs as i64,
                calls: a.calls as i64 - b.calls as i64,
                calls_percent: percent(Decimal::from(b.calls), Decimal::from(a.calls)),
                cost_usd: Usd(a.cost - b.cost),
                cost_percent: percent(b.cost, a.cost),
                cost_per_run_percent: match (per_run_before, per_run_after) {
                    (Some(before), Some(after)) => percent(before, after),
                    _ => None,
                },
                volume_usd: split.map(Usd),
                price_usd: split.map(|volume| Usd(a.cost - b.cost - volume)),
            }
        });
        let mut movers: Vec<Mover> = this
            .groups
            .keys()
            .chain(previous.groups.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|key| {
                let b = previous.groups.get(key).cloned().unwrap_or_default();
                let a = this.groups.get(key).cloned().unwrap_or_default();
                Mover {
                    key: key.clone(),
                    calls_before: b.calls,
                    calls_after: a.calls,
                    cost_before_usd: Usd(b.cost),
                    cost_after_usd: Usd(a.cost),
                    change_usd: Usd(a.cost - b.cost),
                }
            })
            .filter(|m| !m.change_usd.is_zero())
            .collect();
        movers.sort_by(|a, b| b.change_usd.cmp(&a.change_usd).then(a.key.cmp(&b.key)));
        let movers_up: Vec<Mover> = movers
            .iter()
            .filter(|m| m.change_usd > Usd::ZERO)
            .take(options.movers)
            .cloned()
            .collect();
        let movers_down: Vec<Mover> = movers
            .iter()
            .rev()
            .filter(|m| m.change_usd < Usd::ZERO)
            .take(options.movers)
            .cloned()
            .collect();
        // A week without runs says nothing about which operations the code calls.
        let (appeared, disappeared) =
            if shown_first || this.total.runs == 0 || previous.total.runs == 0 {
                (Vec::new(), Vec::new())
            } else {
                (
                    this.operations
                        .difference(&previous.operations)
                        .cloned()
                        .collect(),
                    previous
                        .operations
                        .difference(&this.operations)
                        .cloned()
                        .collect(),
                )
            };
        let key_of = |f: &NewFinding| {
            let mut parts = f.id.splitn(4, ':');
            format!(
                "{}:{}:{}",
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default()
            )
        };
        let before: BTreeSet<String> = previous.findings.iter().map(key_of).collect();
        let new_findings = if shown_first {
            Vec::new()
        } else {
            this.findings
                .iter()
                .filter(|f| !before.contains(&key_of(f)))
                .cloned()
                .collect()
        };
        out.push(Week {
            week: iso_week_name(this.monday),
            start: rfc3339_us(options.zone.micros_at(this.monday)),
            end: rfc3339_us(options.zone.micros_at(this.monday + Duration::weeks(1))),
            runs: this.total.runs,
            calls: this.total.calls,
            errors: this.total.errors,
            retries: this.retries,
            cost_usd: Usd(this.total.cost),
            cost_per_run_usd: per_run(&this.total),
            projected_month_usd: Usd(this.total.cost * Decimal::from(30) / Decimal::from(7)),
            groups,
            service_cost_usd: this.service_cost.clone(),
            operation_calls: this.operation_calls.clone(),
            change,
            movers_up,
            movers_down,
            appeared,
            disappeared,
            new_findings,
            anomalies,
        });
    }
    Ok(WeeklyReport {
        version: WEEKLY_VERSION,
        generated_at: OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        database: store.location(),
        by: options.by.name(),
        time_zone: options.zone.name(),
        anomaly_rule: options.anomaly.clone(),
        weeks: out,
    })
}

/// `+02:00`.
fn offset_text(offset: UtcOffset) -> String {
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{sign}{:02}:{:02}",
        hours.unsigned_abs(),
        minutes.unsigned_abs()
    )
}

/// The week's calls grouped by the call site or the test that made them (`(no call site)`,
/// `(no test)` for calls that named none), from the writer's group totals: calls are first
/// attempts, cost every attempt's, runs the runs that made calls there.
async fn call_groups(
    store: &dyn RunStore,
    ids: &[i64],
    by: &GroupBy,
) -> Result<BTreeMap<String, Figures>, StoreError> {
    use crate::record::GroupBy as CallGroup;
    let by = if *by == GroupBy::Test {
        CallGroup::Test
    } else {
        CallGroup::Callsite
    };
    let mut groups: BTreeMap<String, (Figures, BTreeSet<i64>)> = BTreeMap::new();
    for row in store.call_groups(ids, by).await? {
        let key = row.key.as_deref().unwrap_or(by.missing());
        let (figures, runs) = match groups.get_mut(key) {
            Some(group) => group,
            None => groups.entry(key.to_string()).or_default(),
        };
        runs.insert(row.run_id);
        figures.calls += row.calls();
        figures.errors += row.errors;
        figures.cost += row.total;
    }
    Ok(groups
        .into_iter()
        .map(|(key, (mut figures, runs))| {
            figures.runs = runs.len() as u64;
            (key, figures)
        })
        .collect())
}

fn group_key(by: &GroupBy, op: &OperationTally) -> String {
    match by {
        GroupBy::Service => op.service.clone(),
        _ => format!("{} {}", op.service, op.operation),
    }
}

/// The median of sorted values.
fn median(sorted: &[Decimal]) -> Decimal {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / Decimal::from(2)
    }
}

/// The groups of week `index` whose cost is farther than k × 1.4826 × MAD from the median of
/// their previous `history_weeks` weeks (weeks without runs left out; at least 3 needed), and
/// farther than the dollar floor. A group with no cost in a week with runs counts as $0 there.
fn anomalies_of<T>(
    weeks: &[T],
    index: usize,
    rule: &AnomalyRule,
    groups_of: impl Fn(&T) -> &BTreeMap<String, Figures>,
) -> Vec<Anomaly> {
    let this = groups_of(&weeks[index]);
    let start = index.saturating_sub(rule.history_weeks);
    let history: Vec<&BTreeMap<String, Figures>> = weeks[start..index]
        .iter()
        .map(&groups_of)
        .filter(|groups| !groups.is_empty())
        .collect();
    if history.len() < 3 {
        return Vec::new();
    }
    let keys: BTreeSet<&String> = this
        .keys()
        .chain(history.iter().flat_map(|g| g.keys()))
        .collect();
    let scale = Decimal::new(14826, 4);
    let mut out = Vec::new();
    for key in keys {
        let cost = this.get(key).map_or(Decimal::ZERO, |f| f.cost);
        let mut past: Vec<Decimal> = history
            .iter()
            .map(|g| g.get(key).map_or(Decimal::ZERO, |f| f.cost))
            .collect();
        past.sort();
        let m = median(&past);
        let mut deviations: Vec<Decimal> = past.iter().map(|x| (*x - m).abs()).collect();
        deviations.sort();
        let mad = median(&deviations);
        let distance = (cost - m).abs();
        if distance > rule.k * scale * mad && distance >= rule.min_usd.0 {
            out.push(Anomaly {
                key: key.clone(),
                cost_usd: Usd(cost),
                median_usd: Usd(m),
                mad_usd: Usd(mad),
                history_weeks: past.len(),
                direction: if cost > m { "up" } else { "down" },
            });
        }
    }
    out.sort_by(|a, b| {
        let d = |x: &Anomaly| (x.cost_usd.0 - x.median_usd.0).abs();
        d(b).cmp(&d(a)).then(a.key.cmp(&b.key))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(cost: i64) -> BTreeMap<String, Figures> {
        [(
            "s3 GetObject".to_string(),
            Figures {
                runs: 1,
                calls: 1,
                errors: 0,
                cost: Decimal::from(cost),
            },
        )]
        .into()
    }

    #[test]
    fn a_week_far_outside_its_own_history_is_an_anomaly_and_noise_is_not() {
        let rule = AnomalyRule::default();
        let weeks = vec![
            figures(10),
            figures(11),
            figures(9),
            figures(10),
            figures(30),
        ];
        let found = anomalies_of(&weeks, 4, &rule, |w| w);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].direction, "up");
        assert_eq!(found[0].median_usd, Usd(Decimal::from(10)));
        let calm = vec![
            figures(10),
            figures(11),
            figures(9),
            figures(10),
            figures(11),
        ];
        assert!(anomalies_of(&calm, 4, &rule, |w| w).is_empty());
        // Below the dollar floor: not worth a flag however far.
        let cents = AnomalyRule {
            min_usd: Usd(Decimal::from(100)),
            ..AnomalyRule::default()
        };
        assert!(anomalies_of(&weeks, 4, &cents, |w| w).is_empty());
        // Too little history.
        assert!(anomalies_of(&weeks[2..], 2, &rule, |w| w).is_empty());
    }

    /// Two weeks of the same calls, the first priced with an older table: the cost change is
    /// all price, none of it volume. DynamoDB reads: 10 a week, $0.25 a million then, today's
    /// price now.
    #[tokio::test]
    async fn a_price_change_between_weeks_is_not_taken_for_volume() {
        use crate::record::{Call, LineKind, PricedLine, RunMeta, Unit};
        use crate::store::MemoryStore;

        let pricer = std::sync::Arc::new(crate::pricing::Pricer::new(
            std::sync::Arc::new(crate::pricing::PriceTable::built_in().unwrap()),
            crate::pricing::Settings::default(),
        ));
        let entry = pricer
            .table()
            .prices_for("dynamodb", "GetItem", &|_| None)
            .into_iter()
            .find(|e| e.unit == Unit::ReadRequestUnit)
            .expect("a read price")
            .clone();
        let w47 = parse_iso_week("2026-W47").unwrap();
        let w48 = parse_iso_week("2026-W48").unwrap();
        let store = MemoryStore::new();
        for (monday, unit_price, table) in [
            (w47, Decimal::new(25, 8), "an older table".to_string()),
            (w48, entry.usd, pricer.table().version.clone()),
        ] {
            let at_us = WeekZone::parse("UTC").unwrap().micros_at(monday) + 3_600_000_000;
            let mut meta = RunMeta::new("run");
            meta.pricing_version = table;
            meta.started_at =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(at_us as u64);
            let id = store.begin_run(&meta).await.unwrap();
            let calls: Vec<Call> = (0..10)
                .map(|_| {
                    let mut call = Call::sample("dynamodb", "GetItem").at_us(at_us);
                    call.cost = unit_price;
                    call.priced = vec![PricedLine {
                        kind: LineKind::Own,
                        entry: entry.id.clone(),
                        quantity: Decimal::ONE,
                    }];
                    call
                })
                .collect();
            crate::store::write_whole_run(&store, id, &calls).await;
        }
        let options = WeeklyOptions {
            pricer: Some(pricer.clone()),
            last_week_day: w48,
            weeks: 2,
            by: GroupBy::Service,
            zone: WeekZone::parse("UTC").unwrap(),
            tags: Vec::new(),
            anomaly: AnomalyRule::default(),
            movers: 5,
        };
        let report = build(&store, &options, &Thresholds::default())
            .await
            .unwrap();
        let change = report.weeks[1].change.as_ref().unwrap();
        let expected = Decimal::from(10) * (entry.usd - Decimal::new(25, 8));
        assert!(
            !expected.is_zero(),
            "the bundled read price is not the old one"
        );
        assert_eq!(change.cost_usd, Usd(expected));
        assert_eq!(change.volume_usd, Some(Usd::ZERO));
        assert_eq!(change.price_usd, Some(Usd(expected)));
        let text = super::render::render_weekly_table(&report);
        assert!(text.contains("is volume and"), "{text}");

        // Without a pricer (or with every week at today's table) there is nothing to split.
        let plain = build(
            &store,
            &WeeklyOptions {
                pricer: None,
                ..options
            },
            &Thresholds::default(),
        )
        .await
        .unwrap();
        assert_eq!(plain.weeks[1].change.as_ref().unwrap().price_usd, None);
    }

    /// `--by callsite`: the movers are the lines whose calls grew; `--by test`, the tests.
    #[tokio::test]
    async fn movers_can_be_read_by_call_site_and_by_test() {
        use crate::record::{Call, RunMeta};
        use crate::store::MemoryStore;

        let w47 = parse_iso_week("2026-W47").unwrap();
        let w48 = parse_iso_week("2026-W48").unwrap();
        let store = MemoryStore::new();
        let head = Some("sync.py:42 copy_all");
        let put = Some("load.py:7 main");
        // Week 47: two runs of 5 HEADs and 3 PUTs each; week 48: one run of 50 HEADs, 3 PUTs
        // and 2 calls that named no line.
        let week = |heads: u64, unnamed: u64| {
            let mut calls: Vec<(&'static str, Option<&'static str>, Option<&'static str>)> =
                Vec::new();
            calls.extend((0..heads).map(|_| ("HeadObject", head, Some("t.py::test_copy"))));
            calls.extend((0..3).map(|_| ("PutObject", put, Some("t.py::test_load"))));
            calls.extend((0..unnamed).map(|_| ("GetObject", None, None)));
            calls
        };
        for (monday, runs) in [
            (w47, vec![week(5, 0), week(5, 0)]),
            (w48, vec![week(50, 2)]),
        ] {
            for (n, made) in runs.into_iter().enumerate() {
                let at_us = WeekZone::parse("UTC").unwrap().micros_at(monday)
                    + 3_600_000_000 * (n as i64 + 1);
                let mut meta = RunMeta::new("run");
                meta.started_at = std::time::SystemTime::UNIX_EPOCH
                    + std::time::Duration::from_micros(at_us as u64);
                let id = store.begin_run(&meta).await.unwrap();
                let calls: Vec<Call> = made
                    .into_iter()
                    .map(|(operation, site, test)| {
                        let mut call = Call::sample("s3", operation).at_us(at_us);
                        call.cost = if operation == "PutObject" {
                            Decimal::new(5, 6)
                        } else {
                            Decimal::new(4, 7)
                        };
                        call.callsite = site.map(str::to_string);
                        call.test = test.map(str::to_string);
                        call
                    })
                    .collect();
                crate::store::write_whole_run(&store, id, &calls).await;
            }
        }
        let options = WeeklyOptions {
            pricer: None,
            last_week_day: w48,
            weeks: 2,
            by: GroupBy::parse("callsite").unwrap(),
            zone: WeekZone::parse("UTC").unwrap(),
            tags: Vec::new(),
            anomaly: AnomalyRule::default(),
            movers: 5,
        };
        let report = build(&store, &options, &Thresholds::default())
            .await
            .unwrap();
        assert_eq!(report.by, "callsite");
        let [before, after] = &report.weeks[..] else {
            panic!("two weeks")
        };
        let group = |week: &Week, key: &str| {
            let g = week.groups.iter().find(|g| g.key == key).unwrap();
            (g.runs, g.calls, g.cost_usd)
        };
        assert_eq!(
            group(before, "sync.py:42 copy_all"),
            (2, 10, Usd(Decimal::new(40, 7)))
        );
        assert_eq!(
            group(after, "sync.py:42 copy_all"),
            (1, 50, Usd(Decimal::new(200, 7)))
        );
        assert_eq!(group(after, "(no call site)").1, 2);
        let up: Vec<(&str, u64, u64)> = after
            .movers_up
            .iter()
            .map(|m| (m.key.as_str(), m.calls_before, m.calls_after))
            .collect();
        assert_eq!(
            up,
            vec![("sync.py:42 copy_all", 10, 50), ("(no call site)", 0, 2)]
        );
        assert_eq!(after.movers_down[0].key, "load.py:7 main");
        let text = super::render::render_weekly_table(&report);
        assert!(text.contains("sync.py:42 copy_all"), "{text}");

        let by_test = build(
            &store,
            &WeeklyOptions {
                by: GroupBy::parse("test").unwrap(),
                ..options
            },
            &Thresholds::default(),
        )
        .await
        .unwrap();
        let after = &by_test.weeks[1];
        assert_eq!(after.movers_up[0].key, "t.py::test_copy");
        assert_eq!(
            (
                after.movers_up[0].calls_before,
                after.movers_up[0].calls_after
            ),
            (10, 50)
        );
        assert!(after
            .groups
            .iter()
            .any(|g| g.key == "(no test)" && g.calls == 2));
    }

    /// With daylight saving a week is not 7 × 24 h: a run late on the Sunday the clocks go
    /// back belongs to the week that is ending, which a fixed offset would get wrong.
    #[tokio::test]
    async fn weeks_follow_a_named_zone_across_a_daylight_saving_change() {
        use crate::record::{Call, RunEnd, RunMeta};
        use crate::store::{Batch, MemoryStore};

        let berlin = WeekZone::parse("Europe/Berlin").unwrap();
        assert_eq!(berlin.name(), "Europe/Berlin");
        let w43 = parse_iso_week("2026-W43").unwrap();
        let w44 = parse_iso_week("2026-W44").unwrap();
        // Mon 19 Oct 00:00 CEST and Mon 26 Oct 00:00 CET: 169 hours apart.
        assert_eq!(
            berlin.micros_at(w44) - berlin.micros_at(w43),
            169 * 3_600_000_000
        );
        assert!(WeekZone::parse("Mars/Olympus_Mons").is_err());
        assert_eq!(WeekZone::parse("+02:00").unwrap().name(), "+02:00");

        // Sunday 25 Oct, 23:30 in Berlin (CET, 22:30 UTC): still week 43 there.
        let at_us = berlin.micros_at(w44) - 30 * 60_000_000;
        let store = MemoryStore::new();
        let mut meta = RunMeta::new("run");
        meta.started_at =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(at_us as u64);
        let id = store.begin_run(&meta).await.unwrap();
        let calls = vec![Call::sample("s3", "GetObject").at_us(at_us)];
        let processes = vec![None];
        let batch = Batch {
            calls: &calls,
            processes: &processes,
            loops: &[],
        };
        store.write_batch(id, batch).await.unwrap();
        store.end_run(id, &RunEnd::default()).await.unwrap();
        let options = |zone| WeeklyOptions {
            pricer: None,
            last_week_day: w44,
            weeks: 2,
            by: GroupBy::Service,
            zone,
            tags: Vec::new(),
            anomaly: AnomalyRule::default(),
            movers: 5,
        };
        let thresholds = Thresholds::default();
        let report = build(&store, &options(berlin), &thresholds).await.unwrap();
        let runs: Vec<(String, u64)> = report
            .weeks
            .iter()
            .map(|w| (w.week.clone(), w.runs))
            .collect();
        assert_eq!(
            runs,
            [("2026-W43".to_string(), 1), ("2026-W44".to_string(), 0)]
        );
        assert_eq!(report.weeks[1].start, "2026-10-25T23:00:00Z");
        // A fixed +02:00 (Berlin's summer offset) puts it on Monday, in week 44.
        let summer = WeekZone::parse("+02:00").unwrap();
        let report = build(&store, &options(summer), &thresholds).await.unwrap();
        assert_eq!(report.weeks[1].runs, 1);
    }

    #[test]
    fn iso_weeks_name_and_parse() {
        let monday = parse_iso_week("2026-W49").unwrap();
        assert_eq!(monday.to_string(), "2026-11-30");
        assert_eq!(iso_week_name(monday), "2026-W49");
        let thursday = Date::from_calendar_date(2026, time::Month::December, 3).unwrap();
        assert_eq!(monday_of(thursday), monday);
        // The ISO year differs from the calendar year at its edges.
        let new_year = Date::from_calendar_date(2027, time::Month::January, 1).unwrap();
        assert_eq!(iso_week_name(monday_of(new_year)), "2026-W53");
        assert!(parse_iso_week("2026-49").is_err());
    }
}
