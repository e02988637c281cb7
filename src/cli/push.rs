//! `tollgate push`: uploads the runs of a local SQLite history to a shared PostgreSQL one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Args;

use crate::store::push::push;
use crate::store::{self, Location, PostgresStore, SqliteStore};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The local SQLite history to copy from (default: tollgate.db in $XDG_STATE_HOME/tollgate).
    #[arg(long, value_name = "PATH")]
    pub db_from: Option<PathBuf>,

    /// The PostgreSQL history to copy into: postgres://USER[:PASSWORD]@HOST/DB[?sslmode=...]
    /// (keep a URL with a password in the CI's secrets; it is never printed).
    #[arg(long, value_name = "URL", env = "TOLLGATE_PUSH_TO")]
    pub to: String,

    /// Say nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn execute(args: PushArgs) -> anyhow::Result<ExitCode> {
    let source = match store::resolve(args.db_from.as_deref())? {
        Location::Sqlite(path) => path,
        Location::Postgres(url) => bail!(
            "--db-from must be a local SQLite file, not {}: push copies local runs to a server",
            store::postgres::redact(&url)
        ),
    };
    if !source.exists() {
        bail!(
            "no local history at {}: record a run first, or pass --db-from PATH",
            source.display()
        );
    }
    let target = match store::location_of(std::path::Path::new(&args.to))? {
        Location::Postgres(url) => url,
        Location::Sqlite(_) => bail!(
            "--to must be a PostgreSQL database (postgres://USER@HOST/DB), not {}",
            args.to
        ),
    };
    let from = SqliteStore::open(&source)
        .await
        .with_context(|| format!("cannot read {}", source.display()))?;
    let to = PostgresStore::open(&target).await?;
    let quiet = args.quiet;
    let outcome = push(&from, &to, |uuid, calls| {
        if !quiet {
            eprintln!("tollgate: pushed run {uuid} ({calls} calls)");
        }
    })
    .await;
    to.pool().close().await;
    from.pool().close().await;
    let outcome = outcome?;
    if !quiet {
        let mut line = format!(
            "tollgate: pushed {} run{} ({} calls) to {}; {} already there",
            outcome.pushed,
            if outcome.pushed == 1 { "" } else { "s" },
            outcome.calls,
            store::postgres::redact(&target),
            outcome.present
        );
        if outcome.running > 0 {
            line.push_str(&format!(
                "; {} still recording, left for a later push",
                outcome.running
            ));
        }
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
