//! `tollgate report`: what recorded runs cost, by operation, and their paginator loops.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use rust_decimal::Decimal;

use super::price_sources::SourceArgs;
use crate::findings::Thresholds;
use crate::pricing::Sources;
use crate::record::RunFilter;
use crate::report::{
    render_grouped_html, render_grouped_markdown, render_grouped_table, render_html,
    render_markdown, render_table, write_calls_csv, GroupBy, GroupedReport, Report,
};
use crate::store::{self, RunStore};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,

    /// Instead of the full report, the calls grouped by KEY, most expensive first: the line of
    /// the program that made them (callsite), the test that was running (test), the SDK, the
    /// app id, or the command of the process. Calls without one are a group of their own.
    #[arg(long, value_enum, value_name = "KEY")]
    pub by: Option<ByKey>,

    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub findings: FindingArgs,

    #[command(flatten)]
    pub pricing: SourceArgs,

    /// Also price the runs at today's prices (after `tollgate pricing update`, a new tollgate or
    /// a changed tollgate.toml), beside what they cost when recorded.
    #[arg(long)]
    pub reprice: bool,
}

/// Findings and projections, shared by `report` and `run`.
#[derive(Debug, Clone, Args)]
pub struct FindingArgs {
    /// Do not report this finding (its id, e.g. polling:dynamodb:DescribeTable:jobs, or a rule
    /// name such as polling); repeatable. `[findings] ignore` in tollgate.toml does the same.
    #[arg(long = "ignore-finding", value_name = "ID")]
    pub ignore: Vec<String>,

    /// Project the cost to a 30-day month of N runs a day.
    #[arg(long, value_name = "N", conflicts_with = "per_month")]
    pub runs_per_day: Option<Decimal>,

    /// Project the cost to a month of N runs.
    #[arg(long, value_name = "N")]
    pub per_month: Option<Decimal>,
}

impl FindingArgs {
    /// `[findings]` of the overlay, plus `--ignore-finding`.
    pub fn thresholds(&self, sources: &Sources) -> anyhow::Result<Thresholds> {
        let mut thresholds = Thresholds::load(sources.overlay.as_deref())?;
        thresholds.ignore.extend(self.ignore.iter().cloned());
        Ok(thresholds)
    }

    /// Runs a day, from either flag.
    pub fn runs_per_day(&self) -> Option<Decimal> {
        self.runs_per_day
            .or_else(|| self.per_month.map(|n| n / Decimal::from(30)))
    }
}

/// Which database and runs.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// The history: a SQLite file as PATH, sqlite://PATH or sqlite:PATH, or a shared
    /// PostgreSQL database as postgres://USER@HOST/DB (default: $TOLLGATE_DB, else tollgate.db
    /// in $XDG_STATE_HOME/tollgate).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// One run, by id (see `tollgate runs`).
    #[arg(long, value_name = "ID", conflicts_with_all = ["last", "since", "tags"])]
    pub run: Option<i64>,

    /// The most recent run (what `report` shows when no run is selected; `runs` lists the
    /// newest 20 instead).
    #[arg(long)]
    pub last: bool,

    /// Runs started within this long (`7d`, `12h`, `30m`) or since a date (`2026-11-01`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Runs carrying this tag (repeatable: all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
}

/// `--by`'s keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ByKey {
    Callsite,
    Test,
    Sdk,
    App,
    Command,
}

impl From<ByKey> for GroupBy {
    fn from(key: ByKey) -> Self {
        match key {
            ByKey::Callsite => GroupBy::Callsite,
            ByKey::Test => GroupBy::Test,
            ByKey::Sdk => GroupBy::Sdk,
            ByKey::App => GroupBy::App,
            ByKey::Command => GroupBy::Command,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// For a terminal: 100 columns.
    Table,
    /// Versioned (schemas/report-v1.schema.json), with findings; money as decimal strings.
    Json,
    /// For a GitHub step summary or a pull-request comment (under 64 KiB).
    Markdown,
    /// One self-contained file with charts, for a browser or print.
    Html,
    /// Every call, one row each.
    Csv,
}

impl SelectArgs {
    pub fn filter(&self) -> anyhow::Result<RunFilter> {
        let tags = self
            .tags
            .iter()
            .map(|tag| match tag.split_once('=') {
                Some((key, value)) => Ok((key.to_string(), value.to_string())),
                None => bail!("--tag {tag}: use KEY=VALUE"),
            })
            .collect::<anyhow::Result<_>>()?;
        let since_us = self.since.as_deref().map(parse_since).transpose()?;
        Ok(RunFilter {
            run: self.run,
            last: self.last,
            since_us,
            tags,
        })
    }

    /// Opens an existing database: a report never creates one.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn RunStore>> {
        let store = store::open_existing(
            super::history_arg::database_or_env(self.db.as_deref()).as_deref(),
        )
        .await?;
        // Runs killed since: their unrecorded calls counted before anything is read.
        if let Some(dir) = super::proxy_setup::ledger_dir() {
            crate::profile::sinks::ledger::settle(store.as_ref(), &dir).await;
        }
        Ok(store)
    }
}

/// `7d`, `12h`, `30m`, `90s` ago, or a `YYYY-MM-DD` date (UTC midnight), in µs since the epoch.
pub fn parse_since(text: &str) -> anyhow::Result<i64> {
    parse_time("--since", text)
}

/// What `flag` means by `text`: `7d`, `12h`, `30m`, `90s` ago, or a `YYYY-MM-DD` date (UTC
/// midnight), in µs since the epoch.
pub fn parse_time(flag: &str, text: &str) -> anyhow::Result<i64> {
    let now = store::micros(std::time::SystemTime::now());
    let text = text.trim();
    if let Some(unit) = text.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let number: i64 = text[..text.len() - 1]
            .parse()
            .with_context(|| format!("{flag} {text}: expected e.g. 7d, 12h, 30m or 2026-11-01"))?;
        let seconds = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            'w' => 7 * 86_400,
            _ => bail!("{flag} {text}: units are w, d, h, m, s"),
        };
        return Ok(now - number * seconds * 1_000_000);
    }
    let format = time::format_description::parse_borrowed::<2>("[year]-[month]-[day]")
        .expect("valid format");
    let date = time::Date::parse(text, &format)
        .with_context(|| format!("{flag} {text}: expected e.g. 7d, 12h, 30m or 2026-11-01"))?;
    Ok(date.midnight().assume_utc().unix_timestamp() * 1_000_000)
}

/// The report of `runs` in `format`, with findings and an optional projection.
pub async fn render(
    store: &dyn RunStore,
    runs: &[i64],
    format: ReportFormat,
    findings: &FindingArgs,
    sources: &Sources,
    reprice: bool,
) -> anyhow::Result<String> {
    let thresholds = findings.thresholds(sources)?;
    let mut report = Report::build(store, runs, &thresholds).await?;
    if let Some(per_day) = findings.runs_per_day() {
        report.project(per_day);
    }
    if reprice {
        let (table, settings) = crate::pricing::overlay::load(sources)?;
        let pricer = crate::pricing::Pricer::new(table, settings);
        let recorded_with = report
            .runs
            .iter()
            .map(|run| run.pricing_version.clone())
            .collect();
        report.repriced =
            Some(crate::report::reprice::reprice(store, runs, recorded_with, &pricer).await?);
    }
    Ok(match format {
        ReportFormat::Table => render_table(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ReportFormat::Markdown => render_markdown(&report),
        ReportFormat::Html => render_html(&report),
        ReportFormat::Csv => {
            let mut out = Vec::new();
            write_calls_csv(store, runs, &mut out).await?;
            String::from_utf8(out).context("the CSV is not UTF-8")?
        }
    })
}

pub async fn execute(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let filter = args.select.filter()?;
    let store = args.select.open().await?;
    let runs = store.select_runs(&filter).await?;
    if runs.is_empty() {
        if let Some(id) = filter.run {
            bail!("no run {id} in {} (see `tollgate runs`)", store.location());
        }
    }
    if let Some(by) = args.by {
        let grouped = GroupedReport::build(store.as_ref(), &runs, by.into()).await?;
        let text = match args.format {
            ReportFormat::Table => render_grouped_table(&grouped),
            ReportFormat::Json => serde_json::to_string_pretty(&grouped)? + "\n",
            ReportFormat::Markdown => render_grouped_markdown(&grouped),
            ReportFormat::Html => render_grouped_html(&grouped),
            ReportFormat::Csv => bail!(
                "--by has no CSV form: --format csv lists every call, with its callsite, test, \
                 sdk, app_id and client_command"
            ),
        };
        match &args.output {
            Some(path) => crate::home::write_output(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => super::print(&text)?,
        }
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == ReportFormat::Csv {
        // Calls stream straight out: a long history is not held in memory.
        match &args.output {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let mut out = std::io::BufWriter::new(file);
                write_calls_csv(store.as_ref(), &runs, &mut out).await?;
                std::io::Write::flush(&mut out)?;
            }
            None => {
                let mut out = std::io::BufWriter::new(std::io::stdout());
                write_calls_csv(store.as_ref(), &runs, &mut out).await?;
                std::io::Write::flush(&mut out)?;
            }
        }
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let text = render(
        store.as_ref(),
        &runs,
        args.format,
        &args.findings,
        &args.pricing.sources()?,
        args.reprice,
    )
    .await?;
    match &args.output {
        Some(path) => crate::home::write_output(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => super::print(&text)?,
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_dates() {
        let now = store::micros(std::time::SystemTime::now());
        let week = parse_since("7d").unwrap();
        assert!((now - week - 7 * 86_400_000_000).abs() < 5_000_000);
        assert_eq!(parse_since("2026-11-01").unwrap(), 1_793_491_200_000_000);
        assert!(parse_since("7 days").is_err());
        assert!(parse_since("7y").is_err());
    }
}
