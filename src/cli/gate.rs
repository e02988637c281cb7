//! `tollgate gate`: compares a run (default: the last one) with a baseline and fails the build
//! when API cost grows past the thresholds (`[gate]` in tollgate.toml, flags on top).
//!
//! Exit codes: 0 pass (warnings printed), 1 a fail threshold crossed, 2 the gate could not run.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use serde::Serialize;

use super::error::Exit;
use super::price_sources::SourceArgs;
use super::report::{FindingArgs, SelectArgs};
use crate::gate::{self, render, Baseline, Outcome, Policy, Verdict, GATE_JSON_VERSION};
use crate::store::RunStore;

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The baseline file (`tollgate baseline save`).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "tollgate-baseline.json",
        conflicts_with = "baseline_from_db"
    )]
    pub baseline: PathBuf,

    /// Take the baseline from the database instead: the newest other run of `--branch` with the
    /// same command (or the same `--tag`s).
    #[arg(long, requires = "branch")]
    pub baseline_from_db: bool,

    /// With --baseline-from-db: the branch whose runs are the baseline (e.g. main).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// The run to gate: --run ID, --last (the default) or --tag KEY=VALUE.
    #[command(flatten)]
    pub select: SelectArgs,

    #[arg(long, value_enum, default_value_t = GateFormat::Table)]
    pub format: GateFormat,

    /// Also write the output here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    #[command(flatten)]
    pub findings: FindingArgs,

    #[command(flatten)]
    pub pricing: SourceArgs,
}

/// Thresholds on top of `[gate]` in tollgate.toml.
#[derive(Debug, Args)]
pub struct ThresholdArgs {
    /// Fail when the cost (or calls) per run grows by this many percent (default 10).
    #[arg(long, value_name = "PERCENT")]
    pub fail_percent: Option<Decimal>,

    /// Warn when the cost (or calls) per run grows by this many percent (default 5).
    #[arg(long, value_name = "PERCENT")]
    pub warn_percent: Option<Decimal>,

    /// A change worth less than this many dollars a month is noise (default 0.01).
    #[arg(long, value_name = "USD")]
    pub min_usd_per_month: Option<Decimal>,

    /// A change of fewer calls per run than this is noise (default 10).
    #[arg(long, value_name = "N")]
    pub min_calls: Option<u64>,

    /// Leave an operation out (`service:Operation` or `service:*`); repeatable.
    #[arg(long = "ignore-operation", value_name = "SERVICE:OPERATION")]
    pub ignore_operations: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GateFormat {
    /// For a terminal.
    Table,
    /// For a pull-request comment (starts with `<!-- tollgate -->`).
    Markdown,
    /// For tools (schemas/gate-v1.schema.json).
    Json,
    /// The table, plus `::error::`/`::warning::` workflow annotations.
    Github,
}

/// The JSON output.
#[derive(Serialize)]
struct GateJson<'a> {
    version: u32,
    #[serde(flatten)]
    outcome: &'a Outcome,
    baseline: &'a gate::baseline::Source,
    baseline_versions: &'a gate::baseline::Versions,
    run: &'a gate::baseline::Source,
}

pub async fn execute(args: GateArgs) -> anyhow::Result<ExitCode> {
    let sources = args.pricing.sources()?;
    let mut policy = Policy::load(sources.overlay.as_deref())?;
    args.thresholds.apply(&mut policy);
    if let Some(per_day) = args.findings.runs_per_day() {
        policy.runs_per_day = per_day;
    }
    policy.check().map_err(anyhow::Error::msg)?;
    let thresholds = args.findings.thresholds(&sources)?;

    let filter = args.select.filter()?;
    let store = args.select.open().await?;
    let runs = store.select_runs(&filter).await?;
    if runs.is_empty() {
        match filter.run {
            Some(id) => bail!("no run {id} in {} (see `tollgate runs`)", store.location()),
            None => bail!(
                "no run to gate in {}: record one with `tollgate run -- <your test command>`",
                store.location()
            ),
        }
    }
    let mut before = if args.baseline_from_db {
        let branch = args.branch.as_deref().unwrap_or_default();
        let id = baseline_run(store.as_ref(), &runs, branch, &args.select.tags).await?;
        gate::snapshot(store.as_ref(), &[id], &thresholds).await?
    } else {
        Baseline::load(&args.baseline)?
    };
    let mut after = gate::snapshot(store.as_ref(), &runs, &thresholds).await?;
    store.close().await;

    // Both sides at today's prices: the comparison is then of volume, and what prices alone
    // changed is shown beside it.
    let (table, settings) = crate::pricing::overlay::load(&sources)?;
    let pricer = crate::pricing::Pricer::new(table, settings);
    let baseline_change = gate::reprice(&mut before, &pricer);
    let run_change = gate::reprice(&mut after, &pricer);
    let mut outcome = gate::evaluate(&before, &after, &policy);
    let notes: Vec<String> = [("the baseline", &baseline_change), ("the run", &run_change)]
        .into_iter()
        .filter_map(|(what, change)| change.as_ref().map(|c| gate::describe_reprice(what, c)))
        .collect();
    outcome.repriced = (!notes.is_empty()).then(|| notes.join("; "));
    if let Some(mut change) = baseline_change {
        change.judge(&policy);
        outcome.verdict = outcome.verdict.max(change.verdict);
        outcome.price_change = Some(change);
        outcome.headline = render::headline(&outcome);
    }

    let text = match args.format {
        GateFormat::Table => render::table(&outcome),
        GateFormat::Markdown => render::markdown(&outcome),
        GateFormat::Github => render::github_annotations(&outcome) + &render::table(&outcome),
        GateFormat::Json => {
            let json = GateJson {
                version: GATE_JSON_VERSION,
                outcome: &outcome,
                baseline: &before.source,
                baseline_versions: &before.versions,
                run: &after.source,
            };
            serde_json::to_string_pretty(&json)? + "\n"
        }
    };
    super::print(&text)?;
    if let Some(path) = &args.output {
        crate::home::write_output(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // In GitHub Actions, the job's summary page gets the Markdown whatever the format.
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let path = PathBuf::from(summary);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write $GITHUB_STEP_SUMMARY ({})", path.display()))?;
        file.write_all(render::markdown(&outcome).as_bytes())?;
    }
    Ok(match outcome.verdict {
        Verdict::Fail => Exit::Negative.into(),
        Verdict::Pass | Verdict::Warn => ExitCode::SUCCESS,
    })
}

impl ThresholdArgs {
    fn apply(&self, policy: &mut Policy) {
        if let Some(percent) = self.fail_percent {
            policy.fail_percent = percent;
            policy.operation_fail_percent = policy.operation_fail_percent.max(percent);
        }
        if let Some(percent) = self.warn_percent {
            policy.warn_percent = percent;
        }
        if let Some(usd) = self.min_usd_per_month {
            policy.min_usd_per_month = usd;
        }
        if let Some(calls) = self.min_calls {
            policy.min_calls = calls;
        }
        policy.ignore.extend(self.ignore_operations.iter().cloned());
    }
}

/// The newest run of `branch` other than the gated ones, with the gated run's command, or
/// carrying every one of `tags` when some are given.
async fn baseline_run(
    store: &dyn RunStore,
    gated: &[i64],
    branch: &str,
    tags: &[String],
) -> anyhow::Result<i64> {
    let gated_rows = store.runs(Some(gated), 1).await?;
    let command = gated_rows
        .first()
        .map(|r| r.command.clone())
        .unwrap_or_default();
    let wanted: Vec<(&str, &str)> = tags.iter().filter_map(|t| t.split_once('=')).collect();
    let candidates = store.runs(None, 10_000).await?;
    candidates
        .into_iter()
        .filter(|run| !gated.contains(&run.id) && run.state == "complete")
        .filter(|run| run.git_branch.as_deref() == Some(branch))
        .find(|run| {
            if wanted.is_empty() {
                run.command == command
            } else {
                wanted
                    .iter()
                    .all(|(k, v)| run.tags.get(*k).map(String::as_str) == Some(*v))
            }
        })
        .map(|run| run.id)
        .with_context(|| {
            format!(
                "no earlier complete run of branch {branch} with {} in {}: record the suite on \
                 {branch} first, or pass --baseline FILE",
                if wanted.is_empty() {
                    "the same command".to_string()
                } else {
                    format!("the tags {}", tags.join(", "))
                },
                store.location()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RunEnd, RunMeta};
    use crate::store::MemoryStore;

    async fn run(store: &MemoryStore, branch: &str, command: &str, tags: &[(&str, &str)]) -> i64 {
        let mut meta = RunMeta::new("run");
        meta.git.branch = Some(branch.into());
        meta.command = command.split(' ').map(String::from).collect();
        meta.tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let id = store.begin_run(&meta).await.unwrap();
        store.end_run(id, &RunEnd::default()).await.unwrap();
        id
    }

    /// `--baseline-from-db --branch main`: the newest other complete run of main with the gated
    /// run's command, or with the `--tag`s given.
    #[tokio::test]
    async fn the_baseline_from_the_database_is_the_newest_run_of_the_branch_with_the_same_command()
    {
        let store = MemoryStore::new();
        let older = run(&store, "main", "pytest -q", &[("suite", "unit")]).await;
        let newest = run(&store, "main", "pytest -q", &[("suite", "unit")]).await;
        let _other_command = run(&store, "main", "pytest -q tests/slow", &[]).await;
        let _other_branch = run(&store, "feature", "pytest -q", &[]).await;
        let gated = run(&store, "feature", "pytest -q", &[]).await;
        assert!(older < newest);
        assert_eq!(
            baseline_run(&store, &[gated], "main", &[]).await.unwrap(),
            newest
        );
        let tagged = run(&store, "main", "make test", &[("suite", "unit")]).await;
        let by_tag = baseline_run(&store, &[gated], "main", &["suite=unit".into()]).await;
        assert_eq!(by_tag.unwrap(), tagged);
        let error = baseline_run(&store, &[gated], "release", &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no earlier complete run of branch release"),
            "{error}"
        );
        assert!(error.contains("--baseline FILE"), "{error}");
    }
}
