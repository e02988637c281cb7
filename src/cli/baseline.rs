//! `tollgate baseline save`: what the selected runs cost, per run, as a small JSON file to commit
//! beside the code (`schemas/baseline-v1.schema.json`), for `tollgate gate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use super::price_sources::SourceArgs;
use super::report::{FindingArgs, SelectArgs};
use crate::gate;

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Write the baseline of the selected runs (default: the last run).
    Save(SaveArgs),
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    #[command(flatten)]
    pub findings: FindingArgs,

    #[command(flatten)]
    pub pricing: SourceArgs,

    /// Where to write it.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "tollgate-baseline.json"
    )]
    pub output: PathBuf,
}

pub async fn execute(command: BaselineCommand) -> anyhow::Result<ExitCode> {
    let BaselineCommand::Save(args) = command;
    let filter = args.select.filter()?;
    let store = args.select.open().await?;
    let runs = store.select_runs(&filter).await?;
    if runs.is_empty() {
        match filter.run {
            Some(id) => bail!("no run {id} in {} (see `tollgate runs`)", store.location()),
            None => bail!(
                "no run to make a baseline from in {}: record one with `tollgate run -- <your \
                 test command>` first",
                store.location()
            ),
        }
    }
    let thresholds = args.findings.thresholds(&args.pricing.sources()?)?;
    let baseline = gate::snapshot(store.as_ref(), &runs, &thresholds).await?;
    store.close().await;
    crate::home::write_output(&args.output, baseline.to_json().as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    say!(
        "tollgate: baseline of {} run(s) written to {}: {} calls and {} a run",
        baseline.runs,
        args.output.display(),
        baseline
            .per_run(baseline.totals.calls.into())
            .round_dp(1)
            .normalize(),
        crate::record::Usd(baseline.per_run(baseline.totals.total_usd.0))
    );
    Ok(ExitCode::SUCCESS)
}
