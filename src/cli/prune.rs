//! `tollgate prune`: retention. Deletes old runs with everything recorded about them, in SQLite
//! or PostgreSQL alike.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::report::parse_time;
use crate::store;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete the runs started before this long ago (`90d`, `12w`) or this date (`2026-09-01`).
    /// Runs still recording are kept.
    #[arg(long, value_name = "WHEN")]
    pub older_than: String,

    /// The history: a SQLite file as PATH, sqlite://PATH or sqlite:PATH, or a shared
    /// PostgreSQL database as postgres://USER@HOST/DB (default: $TOLLGATE_DB, else tollgate.db
    /// in $XDG_STATE_HOME/tollgate).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

pub async fn execute(args: PruneArgs) -> anyhow::Result<ExitCode> {
    let before = parse_time("--older-than", &args.older_than)?;
    let db = super::history_arg::database_or_env(args.db.as_deref());
    let store = store::open_existing(db.as_deref()).await?;
    let pruned = store.prune(before).await;
    let location = store.location();
    store.close().await;
    let pruned = pruned?;
    eprintln!(
        "tollgate: deleted {} run{} ({} calls) started before {} from {location}",
        pruned.runs,
        if pruned.runs == 1 { "" } else { "s" },
        pruned.calls,
        crate::report::short_time(before),
    );
    Ok(ExitCode::SUCCESS)
}
