//! `tollgate weekly`: what the recorded runs spent on AWS API calls, week by week, what moved,
//! and what is out of line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;

use super::price_sources::SourceArgs;
use super::report::FindingArgs;
use crate::record::Usd;
use crate::report::weekly::{
    self, parse_iso_week, render_weekly_html, render_weekly_markdown, render_weekly_table,
    AnomalyRule, GroupBy, WeekZone, WeeklyOptions,
};
use crate::store;

#[derive(Debug, Args)]
pub struct WeeklyArgs {
    /// How many weeks, ending with --week (weeks without runs are shown empty).
    #[arg(long, default_value_t = 8)]
    pub weeks: usize,

    /// The last week shown, as an ISO week (2026-W49); default: last week (the latest whole
    /// week).
    #[arg(long, value_name = "YYYY-Www")]
    pub week: Option<String>,

    /// Groups: service, operation, callsite (the line that made the calls), test (the test that
    /// made them), tag:KEY, branch, repo or command.
    #[arg(long, value_name = "GROUP", default_value = "service")]
    pub by: String,

    /// The team's time zone, by name (Europe/Berlin) or as an offset from UTC (+02:00): weeks
    /// start on its Monday midnight.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub tz: String,

    #[arg(long, value_enum, default_value_t = WeeklyFormat::Table)]
    pub format: WeeklyFormat,

    /// Write the report here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Only runs carrying this tag (repeatable: all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,

    /// The history: a SQLite file as PATH, sqlite://PATH or sqlite:PATH, or a shared
    /// PostgreSQL database as postgres://USER@HOST/DB (default: $TOLLGATE_DB, else tollgate.db
    /// in $XDG_STATE_HOME/tollgate).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// An anomaly must be at least this many dollars from the group's median week.
    #[arg(long, value_name = "USD", default_value = "1")]
    pub anomaly_min_usd: Decimal,

    /// ...and farther than this many (scaled) median absolute deviations.
    #[arg(long, value_name = "K", default_value = "3")]
    pub anomaly_k: Decimal,

    #[command(flatten)]
    pub findings: FindingArgs,

    #[command(flatten)]
    pub pricing: SourceArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeeklyFormat {
    Table,
    Markdown,
    /// Versioned (schemas/weekly-v1.schema.json).
    Json,
    /// One self-contained page with charts, for a browser or print.
    Html,
}

pub async fn execute(args: WeeklyArgs) -> anyhow::Result<ExitCode> {
    let by = GroupBy::parse(&args.by).map_err(anyhow::Error::msg)?;
    let zone = WeekZone::parse(&args.tz).map_err(anyhow::Error::msg)?;
    let last_week_day = match &args.week {
        Some(week) => parse_iso_week(week).map_err(anyhow::Error::msg)?,
        None => zone.today() - time::Duration::weeks(1),
    };
    if args.weeks == 0 || args.weeks > 520 {
        bail!("--weeks {}: give 1 to 520", args.weeks);
    }
    let tags = args
        .tags
        .iter()
        .map(|tag| match tag.split_once('=') {
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => bail!("--tag {tag}: use KEY=VALUE"),
        })
        .collect::<anyhow::Result<_>>()?;
    let options = WeeklyOptions {
        last_week_day,
        weeks: args.weeks,
        by,
        zone,
        tags,
        anomaly: AnomalyRule {
            k: args.anomaly_k,
            min_usd: Usd(args.anomaly_min_usd),
            ..AnomalyRule::default()
        },
        movers: 5,
        pricer: None,
    };
    let sources = args.pricing.sources()?;
    let thresholds = args.findings.thresholds(&sources)?;
    let (table, settings) = crate::pricing::overlay::load(&sources)?;
    let options = WeeklyOptions {
        pricer: Some(Arc::new(crate::pricing::Pricer::new(table, settings))),
        ..options
    };
    let store =
        store::open_existing(super::history_arg::database_or_env(args.db.as_deref()).as_deref())
            .await?;
    let report = weekly::build(store.as_ref(), &options, &thresholds).await?;
    store.close().await;
    let text = match args.format {
        WeeklyFormat::Table => render_weekly_table(&report),
        WeeklyFormat::Markdown => render_weekly_markdown(&report),
        WeeklyFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        WeeklyFormat::Html => render_weekly_html(&report),
    };
    match &args.output {
        Some(path) => crate::home::write_output(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => super::print(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}
