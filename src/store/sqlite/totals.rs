//! The totals the SQLite writer keeps per run, in the same transaction as each batch of calls
//! (`migrations/sqlite/0002_totals.sql`): a report reads a few rows per operation, outcome, resource,
//! repeated digest and time slot instead of scanning every call. A batch is summed by
//! [`crate::store::tally`], then merged into the tables with one upsert per table and chunk:
//! counts add up, times take min/max, money adds with `dec_add` ([`super::sqlfn`]).

use rustc_hash::FxHashMap;

use rusqlite::{params, CachedStatement, Connection};
use rust_decimal::Decimal;

use crate::record::{exact, Call, CallKind, ClientProcess, ImpliedCost, PriceStatus, Unit};
use crate::store::digest_book::{DigestBook, DigestChanges, DigestPlan};
use crate::store::from_micros;
use crate::store::sql::read::{LABEL_COLUMNS, LABEL_JOINS};
use crate::store::tally::{DigestTotals, Totals};
use crate::store::StoreError;

use super::saturating;
use super::writer::Writer;

/// Merges the batch's totals into the run's, on the connection's open transaction.
/// `call_ids` are the batch's rows' ids in `calls`; the digest groups go through `book`,
/// whose changes the caller keeps only if the transaction commits.
pub fn write(
    totals: &Totals<'_>,
    db: &Connection,
    run_id: i64,
    book: &DigestBook,
    call_ids: &[i64],
) -> rusqlite::Result<DigestChanges> {
    write_operations(totals, db, run_id)?;
    write_failures(totals, db, run_id)?;
    write_regions(totals, db, run_id)?;
    write_resources(totals, db, run_id)?;
    let changes = write_digests(book, db, run_id, &totals.digests, call_ids)?;
    write_timeline(totals, db, run_id)?;
    write_groups(totals, db, run_id)?;
    Ok(changes)
}

/// Attempts by call site (and resource), test, SDK, app id and command.
fn write_groups(totals: &Totals<'_>, db: &Connection, run_id: i64) -> rusqlite::Result<()> {
    upsert(
        db,
        "group_totals (run_id, grouped_by, group_key, service, operation, resource, attempts, \
             retries, errors, total_usd)",
        10,
        totals.groups.iter(),
        |statement, ((by, key, (service, operation), resource), t)| {
            statement.execute(params![
                run_id,
                by.as_str(),
                *key,
                *service,
                *operation,
                *resource,
                saturating(t.attempts),
                saturating(t.retries),
                saturating(t.errors),
                exact(t.total),
            ])
        },
        "(run_id, grouped_by, group_key, service, operation, resource) DO UPDATE SET \
             attempts = attempts + excluded.attempts, \
             retries = retries + excluded.retries, \
             errors = errors + excluded.errors, \
             total_usd = dec_add(total_usd, excluded.total_usd)",
    )
}

/// Per operation: its tally, units and latency buckets.
fn write_operations(totals: &Totals<'_>, db: &Connection, run_id: i64) -> rusqlite::Result<()> {
    upsert(
        db,
        "operation_totals (run_id, service, operation, calls, retries, errors, throttled, \
             bytes_sent, bytes_received, cost_usd, transfer_usd, implied_usd, priced, free, \
             not_billed, unpriced, estimated, first_us, last_us, latency_max_us, not_in_model)",
        21,
        totals.operations.iter(),
        |statement, ((service, operation), t)| {
            statement.execute(params![
                run_id,
                *service,
                *operation,
                saturating(t.attempts),
                saturating(t.retries),
                saturating(t.errors),
                saturating(t.throttled),
                saturating(t.bytes_sent),
                saturating(t.bytes_received),
                exact(t.cost),
                exact(t.transfer),
                exact(t.implied),
                saturating(t.priced),
                saturating(t.free),
                saturating(t.not_billed),
                saturating(t.unpriced),
                saturating(t.estimated),
                t.first_us,
                t.last_us,
                i64::try_from(t.latency_max_us).unwrap_or(i64::MAX),
                saturating(t.not_in_model),
            ])
        },
        "(run_id, service, operation) DO UPDATE SET calls = calls + excluded.calls, \
             retries = retries + excluded.retries, errors = errors + excluded.errors, \
             throttled = throttled + excluded.throttled, \
             bytes_sent = bytes_sent + excluded.bytes_sent, \
             bytes_received = bytes_received + excluded.bytes_received, \
             cost_usd = dec_add(cost_usd, excluded.cost_usd), \
             transfer_usd = dec_add(transfer_usd, excluded.transfer_usd), \
             implied_usd = dec_add(implied_usd, excluded.implied_usd), \
             priced = priced + excluded.priced, free = free + excluded.free, \
             not_billed = not_billed + excluded.not_billed, \
             unpriced = unpriced + excluded.unpriced, estimated = estimated + excluded.estimated, \
             first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us), \
             latency_max_us = max(latency_max_us, excluded.latency_max_us), \
             not_in_model = not_in_model + excluded.not_in_model",
    )
    ?;
    upsert(
        db,
        "operation_units (run_id, service, operation, unit, quantity)",
        5,
        totals
            .operations
            .iter()
            .flat_map(|(&(service, operation), tally)| {
                tally
                    .units
                    .iter()
                    .map(move |(unit, quantity)| (service, operation, *unit, *quantity))
            }),
        |statement, (service, operation, unit, quantity)| {
            statement.execute(params![
                run_id,
                service,
                operation,
                unit.as_str(),
                exact(quantity),
            ])
        },
        "(run_id, service, operation, unit) DO UPDATE SET \
             quantity = dec_add(quantity, excluded.quantity)",
    )?;
    upsert(
        db,
        "operation_latency (run_id, service, operation, bucket_us, calls)",
        5,
        // A bucket is the histogram's own: recorded again on reading, each value lands in the
        // bucket it came from.
        totals
            .operations
            .iter()
            .flat_map(|(&(service, operation), tally)| {
                tally.latency_us.iter_recorded().map(move |bucket| {
                    (
                        service,
                        operation,
                        bucket.value_iterated_to(),
                        bucket.count_at_value(),
                    )
                })
            }),
        |statement, (service, operation, bucket, calls)| {
            statement.execute(params![
                run_id,
                service,
                operation,
                i64::try_from(bucket).unwrap_or(i64::MAX),
                saturating(calls),
            ])
        },
        "(run_id, service, operation, bucket_us) DO UPDATE SET calls = calls + excluded.calls",
    )?;
    Ok(())
}

/// Failed calls by operation and outcome.
fn write_failures(totals: &Totals<'_>, db: &Connection, run_id: i64) -> rusqlite::Result<()> {
    upsert(
        db,
        "failure_totals (run_id, service, operation, status, error_code, throttled, calls, \
             priced, cost_usd, first_us, last_us)",
        11,
        totals.failures.iter(),
        |statement, (((service, operation), status, error_code, throttled), t)| {
            statement.execute(params![
                run_id,
                *service,
                *operation,
                *status,
                *error_code,
                *throttled,
                saturating(t.calls),
                saturating(t.priced),
                exact(t.cost),
                t.first_us,
                t.last_us,
            ])
        },
        "(run_id, service, operation, status, error_code, throttled) DO UPDATE SET \
             calls = calls + excluded.calls, priced = priced + excluded.priced, \
             cost_usd = dec_add(cost_usd, excluded.cost_usd), \
             first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)",
    )?;
    Ok(())
}

/// Calls by service and region.
fn write_regions(totals: &Totals<'_>, db: &Connection, run_id: i64) -> rusqlite::Result<()> {
    upsert(
        db,
        "region_totals (run_id, service, region, calls, cost_usd)",
        5,
        totals.regions.iter(),
        |statement, ((service, region), (calls, cost))| {
            statement.execute(params![
                run_id,
                *service,
                *region,
                saturating(*calls),
                exact(*cost),
            ])
        },
        "(run_id, service, region) DO UPDATE SET calls = calls + excluded.calls, \
             cost_usd = dec_add(cost_usd, excluded.cost_usd)",
    )?;
    Ok(())
}

/// First attempts and implied costs by operation and resource.
fn write_resources(totals: &Totals<'_>, db: &Connection, run_id: i64) -> rusqlite::Result<()> {
    upsert(
        db,
        "resource_totals (run_id, service, operation, resource, first_attempts, \
             first_cost_usd, first_us, last_us, implied_calls, implied_usd, listed_before, \
             listed_before_usd, empty_receives, empty_receives_usd, after_head, \
             refetched_bytes, refetched_usd, refetched_calls, refetched_calls_usd)",
        19,
        totals.resources.iter(),
        |statement, (((service, operation), resource), t)| {
            statement.execute(params![
                run_id,
                *service,
                *operation,
                *resource,
                saturating(t.first_attempts),
                exact(t.first_cost),
                t.first_us,
                t.last_us,
                saturating(t.implied_calls),
                exact(t.implied),
                saturating(t.listed_before),
                exact(t.listed_before_cost),
                saturating(t.empty_receives),
                exact(t.empty_receives_cost),
                saturating(t.after_head),
                saturating(t.refetched_bytes),
                exact(t.refetched_cost),
                saturating(t.refetched_calls),
                exact(t.refetched_calls_cost),
            ])
        },
        // A side without first attempts has no times (0): it must not move the other's.
        "(run_id, service, operation, resource) DO UPDATE SET \
             first_us = CASE WHEN first_attempts = 0 THEN excluded.first_us \
                             WHEN excluded.first_attempts = 0 THEN first_us \
                             ELSE min(first_us, excluded.first_us) END, \
             last_us = max(last_us, excluded.last_us), \
             first_attempts = first_attempts + excluded.first_attempts, \
             first_cost_usd = dec_add(first_cost_usd, excluded.first_cost_usd), \
             implied_calls = implied_calls + excluded.implied_calls, \
             implied_usd = dec_add(implied_usd, excluded.implied_usd), \
             listed_before = listed_before + excluded.listed_before, \
             listed_before_usd = dec_add(listed_before_usd, excluded.listed_before_usd), \
             empty_receives = empty_receives + excluded.empty_receives, \
             empty_receives_usd = dec_add(empty_receives_usd, excluded.empty_receives_usd), \
             after_head = after_head + excluded.after_head, \
             refetched_bytes = refetched_bytes + excluded.refetched_bytes, \
             refetched_usd = dec_add(refetched_usd, excluded.refetched_usd), \
             refetched_calls = refetched_calls + excluded.refetched_calls, \
             refetched_calls_usd = dec_add(refetched_calls_usd, excluded.refetched_calls_usd)",
    )?;
    Ok(())
}

/// Calls and cost per time slot, at every slot width.
fn write_timeline(totals: &Totals<'_>, db: &Connection, run_id: i64) -> rusqlite::Result<()> {
    upsert(
        db,
        "timeline_totals (run_id, width_us, slot, calls, cost_usd)",
        5,
        totals.timeline.iter(),
        |statement, ((width, slot), (calls, cost))| {
            statement.execute(params![
                run_id,
                *width,
                *slot,
                saturating(*calls),
                exact(*cost),
            ])
        },
        "(run_id, width_us, slot) DO UPDATE SET calls = calls + excluded.calls, \
             cost_usd = dec_add(cost_usd, excluded.cost_usd)",
    )?;
    Ok(())
}

/// Writes the batch's digest groups as `book` plans them (see [`DigestBook`]).
fn write_digests(
    book: &DigestBook,
    db: &Connection,
    run_id: i64,
    digests: &FxHashMap<i64, DigestTotals<'_>>,
    call_ids: &[i64],
) -> rusqlite::Result<DigestChanges> {
    let DigestPlan {
        promote,
        stored,
        changes,
    } = book.plan(digests, call_ids);
    if !promote.is_empty() {
        // A group's first call, seen alone in an earlier batch, becomes a stored group. A call
        // that was never committed (its batch failed) is simply not found.
        let mut copy = db.prepare_cached(
            "INSERT INTO digest_totals (run_id, digest, service, operation, fingerprint, \
             resource, calls, cost_usd, first_us, last_us, latest_us, batch_first_us, \
             gap_sq_sum, examples) \
             SELECT c.run_id, ?1, c.service, c.operation, c.fingerprint, c.resource, \
             1, dec_add(dec_add(c.cost_usd, c.transfer_usd), c.implied_usd), \
             c.started_at_us, c.started_at_us, c.started_at_us, c.started_at_us, 0.0, \
             CAST(c.started_at_us AS TEXT) \
             FROM calls c WHERE c.id = ?2 AND c.run_id = ?3 \
             ON CONFLICT (run_id, digest) DO NOTHING",
        )?;
        for (digest, id) in &promote {
            copy.execute(params![digest, id, run_id])?;
        }
    }
    upsert(
            db,
            "digest_totals (run_id, digest, service, operation, fingerprint, resource, calls, \
             cost_usd, first_us, last_us, latest_us, batch_first_us, gap_sq_sum, examples)",
            14,
            stored.into_iter(),
            |statement, (key, d)| {
            statement.execute(params![
                run_id,
                *key,
                d.service,
                d.operation,
                d.fingerprint,
                d.resource,
                saturating(d.cadence.calls),
                exact(d.cost),
                d.cadence.first_us,
                d.cadence.last_us,
                d.cadence.latest_us,
                d.cadence.batch_first_us,
                d.cadence.gap_sq_sum,
                d.examples
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ])
        },
            // The gap between the stored group's latest call and this batch's first joins the
            // two cadences; examples stop growing once there are enough.
            "(run_id, digest) DO UPDATE SET \
             gap_sq_sum = gap_sq_sum + excluded.gap_sq_sum \
                 + (excluded.batch_first_us - latest_us) * (excluded.batch_first_us - latest_us) \
                   * 1.0, \
             examples = CASE WHEN calls >= 3 THEN examples \
                             ELSE examples || ' ' || excluded.examples END, \
             calls = calls + excluded.calls, cost_usd = dec_add(cost_usd, excluded.cost_usd), \
             first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us), \
             latest_us = excluded.latest_us, batch_first_us = excluded.batch_first_us",
        )
        ?;
    Ok(changes)
}

/// Rebuilds the totals of a run recorded before the writer kept them (`runs.totals = 0`), from
/// its calls, in one transaction of the writer's: a run is rebuilt whole or not at all, and only
/// once even when two tollgate processes open the database together. The calls are read through
/// `pool` meanwhile (a finished run's calls no longer change).
pub(super) async fn rebuild(
    pool: &sqlx::SqlitePool,
    writer: &Writer,
    run_id: i64,
) -> Result<bool, StoreError> {
    let claimed = writer.with(|db| {
        db.execute_batch("BEGIN IMMEDIATE")?;
        let claimed = db.execute(
            "UPDATE runs SET totals = 1 WHERE id = ? AND totals = 0",
            [run_id],
        )?;
        if claimed == 0 {
            db.execute_batch("ROLLBACK")?;
        }
        Ok(claimed > 0)
    })?;
    if !claimed {
        return Ok(false);
    }
    let rebuilt = async {
        let mut after = 0i64;
        while let Some(last) = rebuild_chunk(pool, writer, run_id, after).await? {
            after = last;
        }
        writer.with(|db| db.execute_batch("COMMIT"))
    }
    .await;
    if rebuilt.is_err() {
        // Closing the connection rolls the claim back: a later open tries again.
        writer.close();
    }
    rebuilt.map(|()| true)
}

/// Adds the totals of the run's next calls after id `after` to the writer's open transaction;
/// the last id it read, or `None` past the run's last call.
async fn rebuild_chunk(
    pool: &sqlx::SqlitePool,
    writer: &Writer,
    run_id: i64,
    after: i64,
) -> Result<Option<i64>, StoreError> {
    use sqlx::Row as _;
    const CHUNK: i64 = 4096;
    let rows = sqlx::query(&format!(
        "SELECT c.id, c.seq, c.started_at_us, c.duration_us, c.kind, c.service, c.operation, \
         c.region, c.host, c.status, c.error_code, c.throttled, c.attempt, c.bytes_sent, \
         c.bytes_received, c.price_status, c.cost_usd, c.transfer_usd, c.implied_usd, c.units, \
         c.estimated, c.loop_id, c.fingerprint, c.resource, c.listed_before, c.received, \
         c.after_head, c.refetched_bytes, c.sdk, c.app_id, {LABEL_COLUMNS}, c.client_pid, \
         c.client_command FROM calls c {LABEL_JOINS} \
         WHERE c.run_id = ? AND c.id > ? ORDER BY c.id LIMIT ?",
    ))
    .bind(run_id)
    .bind(after)
    .bind(CHUNK)
    .fetch_all(pool)
    .await?;
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    let last: i64 = last.try_get("id")?;
    let calls = rows
        .iter()
        .map(stored_call)
        .collect::<Result<Vec<Call>, sqlx::Error>>()?;
    let processes = rows
        .iter()
        .map(stored_process)
        .collect::<Result<Vec<Option<ClientProcess>>, sqlx::Error>>()?;
    let ids = rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<Vec<i64>, sqlx::Error>>()?;
    writer.with(|db| {
        write(
            &Totals::of(calls.iter().zip(processes.iter().map(Option::as_ref))),
            db,
            run_id,
            &DigestBook::upsert_all(),
            &ids,
        )
    })?;
    Ok(Some(last))
}

/// Takes the database back to before the writer kept totals: every totals table emptied and
/// every run marked `totals = 0`, as an older tollgate left it (for the tests of `rebuild`).
#[cfg(test)]
pub(super) async fn forget_totals(pool: &sqlx::SqlitePool) {
    for table in [
        "operation_totals",
        "operation_units",
        "operation_latency",
        "failure_totals",
        "region_totals",
        "resource_totals",
        "digest_totals",
        "timeline_totals",
        "group_totals",
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE runs SET totals = 0")
        .execute(pool)
        .await
        .unwrap();
}

/// A stored call, as far as the totals need it (what was not stored stays unknown).
fn stored_call(row: &sqlx::sqlite::SqliteRow) -> Result<Call, sqlx::Error> {
    use sqlx::Row as _;
    use std::str::FromStr as _;
    let money = |column: &str| -> Result<Decimal, sqlx::Error> {
        let text: String = row.try_get(column)?;
        Ok(Decimal::from_str(&text).unwrap_or_default())
    };
    let units: Option<String> = row.try_get("units")?;
    let units: Vec<(Unit, Decimal)> = units
        .and_then(|text| {
            serde_json::from_str::<std::collections::BTreeMap<String, String>>(&text).ok()
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(unit, quantity)| {
            Some((
                Unit::from_str(&unit).ok()?,
                Decimal::from_str(&quantity).ok()?,
            ))
        })
        .collect();
    let kind: String = row.try_get("kind")?;
    let price_status: String = row.try_get("price_status")?;
    let stored = || "as stored".to_string();
    let implied = money("implied_usd")?;
    Ok(Call {
        seq: row.try_get::<i64, _>("seq")?.max(0) as u64,
        client: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        kind: CallKind::parse(&kind).unwrap_or(CallKind::NotAws),
        service: row.try_get("service")?,
        operation: row.try_get("operation")?,
        region: row.try_get("region")?,
        host: row.try_get("host")?,
        access_key: None,
        sdk: row.try_get("sdk")?,
        app_id: row.try_get("app_id")?,
        callsite: row.try_get("callsite")?,
        test: row.try_get("test")?,
        invocation_id: None,
        attempt: row
            .try_get::<Option<i64>, _>("attempt")?
            .and_then(|a| u32::try_from(a).ok()),
        status: row
            .try_get::<Option<i64>, _>("status")?
            .and_then(|s| u16::try_from(s).ok()),
        // `throttled` was derived from the code, and is again.
        error_code: row.try_get("error_code")?,
        request_id: None,
        resource: row.try_get("resource")?,
        started_at: from_micros(row.try_get("started_at_us")?),
        duration: std::time::Duration::from_micros(
            row.try_get::<i64, _>("duration_us")?.max(0) as u64
        ),
        bytes_sent: row.try_get::<i64, _>("bytes_sent")?.max(0) as u64,
        bytes_received: row.try_get::<i64, _>("bytes_received")?.max(0) as u64,
        upstream_failure: None,
        interrupted: false,
        price: match price_status.as_str() {
            "priced" => PriceStatus::Priced,
            "free" => PriceStatus::Free { reason: stored() },
            "not_billed" => PriceStatus::NotBilled { reason: stored() },
            _ => PriceStatus::Unpriced { reason: stored() },
        },
        cost: money("cost_usd")?,
        // Totals are rebuilt from the amounts; re-pricing reads the lines from `calls` itself.
        priced: Vec::new(),
        transfer: money("transfer_usd")?,
        implied: if implied.is_zero() {
            Vec::new()
        } else {
            vec![ImpliedCost {
                service: String::new(),
                entry: "stored".into(),
                implied_by: None,
                amount: implied,
            }]
        },
        units,
        gb_out: None,
        transfer_gb: None,
        estimated: row.try_get("estimated")?,
        fingerprint: row.try_get("fingerprint")?,
        page: None,
        page_size_max: None,
        loop_id: row
            .try_get::<Option<i64>, _>("loop_id")?
            .map(|id| id.max(0) as u64),
        listed_before: row
            .try_get::<Option<i64>, _>("listed_before")?
            .map(|flag| flag != 0),
        listed_keys: Vec::new(),
        object_key: None,
        after_head: row
            .try_get::<Option<i64>, _>("after_head")?
            .map(|flag| flag != 0),
        refetched_bytes: row
            .try_get::<Option<i64>, _>("refetched_bytes")?
            .map(|n| n.max(0) as u64),
        span: None,
        etag: None,
        received: row
            .try_get::<Option<i64>, _>("received")?
            .map(|n| n.max(0) as u64),
    })
}

/// The process that made a stored call, when it was known.
fn stored_process(row: &sqlx::sqlite::SqliteRow) -> Result<Option<ClientProcess>, sqlx::Error> {
    use sqlx::Row as _;
    let pid: Option<i64> = row.try_get("client_pid")?;
    let command: Option<String> = row.try_get("client_command")?;
    Ok(command.map(|command| ClientProcess {
        pid: pid.and_then(|pid| u32::try_from(pid).ok()).unwrap_or(0),
        command,
    }))
}

/// `INSERT INTO {into} VALUES (?, ...) ON CONFLICT {on_conflict}`, one row at a time through
/// a statement kept prepared: a batch merges a few rows per table, and preparing a statement
/// for each batch (as many rows as it had) cost more than running it.
fn upsert<T>(
    db: &Connection,
    into: &str,
    columns: usize,
    rows: impl Iterator<Item = T>,
    mut execute: impl FnMut(&mut CachedStatement<'_>, T) -> rusqlite::Result<usize>,
    on_conflict: &str,
) -> rusqlite::Result<()> {
    let placeholders = vec!["?"; columns].join(", ");
    let mut statement = db.prepare_cached(&format!(
        "INSERT INTO {into} VALUES ({placeholders}) ON CONFLICT {on_conflict}"
    ))?;
    for row in rows {
        execute(&mut statement, row)?;
    }
    Ok(())
}
