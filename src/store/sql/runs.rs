//! A run's life in the history, for every SQL backend: its start (row and tags), its end, the
//! calls a dead run never committed, runs whose tollgate died, and retention. Portable SQL (the
//! same statements in SQLite and PostgreSQL), through [`Fetch`].

use std::time::SystemTime;

use super::{id_list, Bind, Fetch};
use crate::record::exact;
use crate::record::{RunEnd, RunMeta};
use crate::store::{ended_state, micros, Pruned, StoreError, StoredFinding};

fn count(n: u64) -> Bind {
    Bind::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Records the start of a run (`totals = 1`: its writer keeps its totals); returns its id.
pub async fn begin_run<F: Fetch + ?Sized>(db: &F, meta: &RunMeta) -> Result<i64, StoreError> {
    let text = |value: &Option<String>| Bind::opt_text(value.as_deref());
    let rows = db
        .fetch_rows(
            "INSERT INTO runs (uuid, kind, state, started_at_us, command, cwd, git_repo, \
             git_branch, git_commit, ci_provider, ci_job, ci_ref, ci_pr, tollgate_version, \
             pricing_version, model_version, hostname, pid, totals) \
             VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) \
             RETURNING id",
            &[
                Bind::Text(meta.uuid.clone()),
                Bind::Text(meta.kind.clone()),
                Bind::Int(micros(meta.started_at)),
                Bind::Text(serde_json::to_string(&meta.command).unwrap_or_default()),
                text(&meta.cwd),
                text(&meta.git.repo),
                text(&meta.git.branch),
                text(&meta.git.commit),
                text(&meta.ci.provider),
                text(&meta.ci.job),
                text(&meta.ci.git_ref),
                text(&meta.ci.pr),
                Bind::Text(meta.tollgate_version.clone()),
                Bind::Text(meta.pricing_version.clone()),
                Bind::Text(meta.model_version.clone()),
                text(&meta.hostname),
                Bind::Int(i64::from(meta.pid)),
            ],
        )
        .await?;
    let id = rows
        .first()
        .ok_or_else(|| StoreError::Query(sqlx::Error::RowNotFound))?
        .int("id")?;
    if !meta.tags.is_empty() {
        // One statement: the tags are all there or none is.
        let values = vec!["(?, ?, ?)"; meta.tags.len()].join(", ");
        let binds: Vec<Bind> = meta
            .tags
            .iter()
            .flat_map(|(key, value)| {
                [
                    Bind::Int(id),
                    Bind::Text(key.clone()),
                    Bind::Text(value.clone()),
                ]
            })
            .collect();
        db.fetch_rows(
            &format!("INSERT INTO run_tags (run_id, key, value) VALUES {values}"),
            &binds,
        )
        .await?;
    }
    Ok(id)
}

/// Records the end of a run: `incomplete` when calls it made were not recorded.
pub async fn end_run<F: Fetch + ?Sized>(db: &F, run: i64, end: &RunEnd) -> Result<(), StoreError> {
    db.fetch_rows(
        "UPDATE runs SET state = ?, ended_at_us = ?, exit_code = ?, lost_calls = ?, \
         lost_reason = ? WHERE id = ?",
        &[
            Bind::Text(ended_state(end).into()),
            Bind::Int(micros(SystemTime::now())),
            end.exit_code
                .map_or(Bind::Null, |code| Bind::Int(i64::from(code))),
            count(end.lost),
            Bind::opt_text(end.lost_reason.as_deref()),
            Bind::Int(run),
        ],
    )
    .await?;
    Ok(())
}

/// See [`crate::store::RunStore::note_unrecorded`].
pub async fn note_unrecorded<F: Fetch + ?Sized>(
    db: &F,
    uuid: &str,
    answered: u64,
) -> Result<Option<u64>, StoreError> {
    let rows = db
        .fetch_rows(
            "SELECT id, state, (SELECT coalesce(sum(t.calls), 0) FROM operation_totals t \
             WHERE t.run_id = runs.id) AS recorded FROM runs WHERE uuid = ?",
            &[Bind::Text(uuid.to_string())],
        )
        .await?;
    let Some(run) = rows.first() else {
        return Ok(None);
    };
    match run.text("state")?.as_str() {
        "incomplete" => {}
        "running" => return Ok(None),
        _ => return Ok(Some(0)),
    }
    let missing = answered.saturating_sub(run.count("recorded")?);
    if missing > 0 {
        db.fetch_rows(
            "UPDATE runs SET lost_calls = CASE WHEN lost_calls > ? THEN lost_calls ELSE ? END, \
             lost_reason = coalesce(lost_reason, ?) WHERE id = ?",
            &[
                count(missing),
                count(missing),
                Bind::Text(format!(
                    "tollgate stopped before the run's end: {missing} of its {answered} answered \
                     calls were not recorded"
                )),
                Bind::Int(run.int("id")?),
            ],
        )
        .await?;
    }
    Ok(Some(missing))
}

/// Keeps the run's findings, replacing those kept before: the rows in one statement, so that
/// they are all there or none is.
pub async fn save_findings<F: Fetch + ?Sized>(
    db: &F,
    run: i64,
    findings: &[StoredFinding],
) -> Result<(), StoreError> {
    db.fetch_rows("DELETE FROM findings WHERE run_id = ?", &[Bind::Int(run)])
        .await?;
    if findings.is_empty() {
        return Ok(());
    }
    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; findings.len()].join(", ");
    let binds: Vec<Bind> = findings
        .iter()
        .flat_map(|f| {
            [
                Bind::Int(run),
                count(f.ordinal),
                Bind::Text(f.id.clone()),
                Bind::Text(f.rule.clone()),
                Bind::Text(f.service.clone()),
                Bind::Text(f.operation.clone()),
                Bind::opt_text(f.resource.as_deref()),
                count(f.calls),
                Bind::Text(exact(f.cost)),
                f.saving.map_or(Bind::Null, |(calls, _)| count(calls)),
                f.saving
                    .map_or(Bind::Null, |(_, usd)| Bind::Text(exact(usd))),
            ]
        })
        .collect();
    db.fetch_rows(
        &format!(
            "INSERT INTO findings (run_id, ordinal, finding_id, rule, service, operation, \
             resource, calls, cost_usd, claimed_calls, saving_usd) VALUES {values}"
        ),
        &binds,
    )
    .await?;
    Ok(())
}

/// Runs still `running` whose tollgate process is gone (on this host) died without an end.
/// Other machines' runs are theirs to settle.
pub async fn mark_dead_runs_incomplete<F: Fetch + ?Sized>(db: &F) -> Result<(), StoreError> {
    let running = db
        .fetch_rows(
            "SELECT id, hostname, pid FROM runs WHERE state = 'running'",
            &[],
        )
        .await?;
    let here = crate::procnet::hostname();
    for run in running {
        if run.opt_text("hostname")? != here {
            continue;
        }
        let alive = run
            .opt_int("pid")?
            .is_some_and(|pid| crate::procnet::is_tollgate_process(pid as i32));
        if !alive {
            db.fetch_rows(
                "UPDATE runs SET state = 'incomplete' WHERE id = ? AND state = 'running'",
                &[Bind::Int(run.int("id")?)],
            )
            .await?;
        }
    }
    Ok(())
}

/// Deletes the settled runs started before `before_us`, with everything recorded about them
/// (`ON DELETE CASCADE`).
pub async fn prune<F: Fetch + ?Sized>(db: &F, before_us: i64) -> Result<Pruned, StoreError> {
    let old = db
        .fetch_rows(
            "SELECT r.id, (SELECT count(*) FROM calls c WHERE c.run_id = r.id) AS calls \
             FROM runs r WHERE r.started_at_us < ? AND r.state != 'running'",
            &[Bind::Int(before_us)],
        )
        .await?;
    let mut pruned = Pruned::default();
    let mut ids = Vec::with_capacity(old.len());
    for run in &old {
        ids.push(run.int("id")?);
        pruned.runs += 1;
        pruned.calls += run.count("calls")?;
    }
    for chunk in ids.chunks(1_000) {
        db.fetch_rows(
            &format!("DELETE FROM runs WHERE id IN ({})", id_list(chunk)),
            &[],
        )
        .await?;
    }
    Ok(pruned)
}
