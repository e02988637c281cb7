//! `tollgate push`: copies the runs of a local SQLite history that a PostgreSQL history does not
//! have yet, so that a runner that recorded offline (or a CI job that recorded into a file) can
//! upload later.
//!
//! A run is known everywhere by its UUID. Each run is copied whole in one transaction (its row,
//! tags, call labels, calls, loops and totals, rows as they are, by `COPY`; labels are numbered
//! per run, so a call's numbers name the same labels under the run's new id): pushing twice
//! adds nothing, and a push interrupted halfway leaves whole runs only, so pushing again
//! finishes the job. Runs still recording are left for a later push.

use std::fmt::Write as _;

use futures_util::StreamExt as _;
use sqlx::postgres::PgConnection;

use super::postgres::copy::escape_into;
use super::sql::{Bind, Fetch, Value};
use super::{PostgresStore, SqliteStore, StoreError};

/// The per-run tables, after `runs`, in the order they are copied.
const RUN_TABLES: [&str; 14] = [
    "run_tags",
    "call_labels",
    "calls",
    "loops",
    "operation_totals",
    "operation_units",
    "operation_latency",
    "failure_totals",
    "region_totals",
    "resource_totals",
    "digest_totals",
    "timeline_totals",
    "group_totals",
    "findings",
];

/// What a push did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// Runs copied, and their calls.
    pub pushed: u64,
    pub calls: u64,
    /// Runs the server had already.
    pub present: u64,
    /// Runs still recording, left for later.
    pub running: u64,
}

/// Copies every settled run of `from` that `to` lacks; `progress` hears of each run copied.
pub async fn push(
    from: &SqliteStore,
    to: &PostgresStore,
    mut progress: impl FnMut(&str, u64),
) -> Result<PushOutcome, StoreError> {
    let mut outcome = PushOutcome::default();
    // The server's columns of each table, read once: its schema is the target's.
    let mut columns_of = Vec::with_capacity(RUN_TABLES.len() + 1);
    {
        let mut db = to.pool().acquire().await?;
        for table in std::iter::once("runs").chain(RUN_TABLES) {
            columns_of.push((table, columns(&mut db, table, &["id"]).await?));
        }
    }
    let runs = from
        .fetch_rows("SELECT id, uuid, state FROM runs ORDER BY id", &[])
        .await?;
    for run in runs {
        let (id, uuid, state) = (run.int("id")?, run.text("uuid")?, run.text("state")?);
        if state == "running" {
            outcome.running += 1;
            continue;
        }
        let present: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE uuid = $1")
            .bind(&uuid)
            .fetch_optional(to.pool())
            .await?;
        if present.is_some() {
            outcome.present += 1;
            continue;
        }
        let calls = copy_run(from, to, &columns_of, id, &uuid).await?;
        outcome.pushed += 1;
        outcome.calls += calls;
        progress(&uuid, calls);
    }
    Ok(outcome)
}

/// Copies one run in one transaction, table by table (`columns_of`: `runs` first, then
/// [`RUN_TABLES`], with the server's columns of each); returns its calls.
async fn copy_run(
    from: &SqliteStore,
    to: &PostgresStore,
    columns_of: &[(&str, Vec<String>)],
    id: i64,
    uuid: &str,
) -> Result<u64, StoreError> {
    let mut tx = to.pool().begin().await?;
    let ((_, run_columns), run_tables) = columns_of
        .split_first()
        .expect("the runs table comes first");
    copy_rows(
        from,
        &mut tx,
        "runs",
        run_columns,
        &format!("SELECT {} FROM runs WHERE id = ?", run_columns.join(", ")),
        id,
        None,
    )
    .await?;
    let new_id: i64 = sqlx::query_scalar("SELECT id FROM runs WHERE uuid = $1")
        .bind(uuid)
        .fetch_one(&mut *tx)
        .await?;
    let mut calls = 0;
    for (table, names) in run_tables {
        let select = names
            .iter()
            .map(|name| {
                if name == "run_id" {
                    "? AS run_id"
                } else {
                    name
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let order = if *table == "calls" {
            " ORDER BY id"
        } else {
            ""
        };
        let copied = copy_rows(
            from,
            &mut tx,
            table,
            names,
            &format!("SELECT {select} FROM {table} WHERE {table}.run_id = ?{order}"),
            id,
            Some(new_id),
        )
        .await?;
        if *table == "calls" {
            calls = copied;
        }
    }
    tx.commit().await?;
    Ok(calls)
}

/// The server's columns of `table` (its schema is the target's), less `skip`.
async fn columns(
    db: &mut PgConnection,
    table: &str,
    skip: &[&str],
) -> Result<Vec<String>, StoreError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *db)
    .await?;
    Ok(names
        .into_iter()
        .filter(|name| !skip.contains(&name.as_str()))
        .collect())
}

/// Streams the rows of `select` (run `id` bound; `new_id` replaces the run id, bound first when
/// given) from SQLite into `table` by COPY; returns how many.
async fn copy_rows(
    from: &SqliteStore,
    db: &mut PgConnection,
    table: &str,
    names: &[String],
    select: &str,
    id: i64,
    new_id: Option<i64>,
) -> Result<u64, StoreError> {
    let binds: Vec<Bind> = new_id.into_iter().chain([id]).map(Bind::Int).collect();
    let mut rows = from.stream_rows(select.to_string(), binds);
    let mut copy = db
        .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", names.join(", ")))
        .await?;
    let mut buffer = String::new();
    let mut count = 0u64;
    while let Some(row) = rows.next().await {
        let row = match row {
            Ok(row) => row,
            Err(error) => {
                let _ = copy.abort("tollgate could not read the local run").await;
                return Err(error);
            }
        };
        for (index, value) in row.values.iter().enumerate() {
            if index > 0 {
                buffer.push('\t');
            }
            copy_text(&mut buffer, value);
        }
        buffer.push('\n');
        count += 1;
        if buffer.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(count)
}

/// One value in COPY's text format.
fn copy_text(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("\\N"),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // Rust prints the shortest text that reads back as the same double.
        Value::Real(x) => {
            let _ = write!(out, "{x:?}");
        }
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Text(text) => escape_into(out, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_in_copy_text_format() {
        let mut out = String::new();
        for (index, value) in [
            Value::Null,
            Value::Int(-42),
            Value::Real(0.1),
            Value::Bool(true),
            Value::Text("a\tb\nc\\d\re".into()),
        ]
        .iter()
        .enumerate()
        {
            if index > 0 {
                out.push('\t');
            }
            copy_text(&mut out, value);
        }
        assert_eq!(out, "\\N\t-42\t0.1\tt\ta\\tb\\nc\\\\d\\re");
    }
}
