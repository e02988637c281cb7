//! `tollgate runs`: the runs in the database, newest first.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use super::report::SelectArgs;
use crate::record::cost_label;
use crate::report::short_time;

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// At most this many runs.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: i64,

    /// As JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn execute(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = args.select.open().await?;
    let filtered = args.select.run.is_some()
        || args.select.since.is_some()
        || !args.select.tags.is_empty()
        || args.select.last;
    let runs = if filtered {
        let ids = store.select_runs(&args.select.filter()?).await?;
        store.runs(Some(&ids), args.limit).await?
    } else {
        store.runs(None, args.limit).await?
    };
    if args.json {
        super::print(&(serde_json::to_string_pretty(&runs)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5}  {:<19}  {:<10}  {:>7}  {:>14}  {:>5}  command",
        "run", "started", "state", "calls", "cost", "exit"
    );
    for run in &runs {
        let mut state = run.state.clone();
        if run.lost_calls > 0 {
            state.push('!');
        }
        // Cut on a character, not a byte: command lines need not be ASCII.
        let command: String = run.command.join(" ").chars().take(60).collect();
        let _ = writeln!(
            out,
            "{:>5}  {:<19}  {:<10}  {:>7}  {:>14}  {:>5}  {}",
            run.id,
            short_time(run.started_at_us),
            state,
            run.calls,
            cost_label(run.cost_usd.0, run.billed, run.unpriced, run.estimated),
            run.exit_code.map_or("-".into(), |c| c.to_string()),
            command
        );
    }
    if runs.iter().any(|r| r.lost_calls > 0) {
        let _ = writeln!(
            out,
            "(! some calls of the run were not recorded: see `tollgate report --run ID`)"
        );
    }
    super::print(&out)?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
