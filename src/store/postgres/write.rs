//! Writing a batch into PostgreSQL: the calls, their totals and the finished loops in one
//! transaction. The calls go by `COPY … FROM STDIN` (text format), the totals each table in one
//! statement whatever the batch's size: the rows go as one array per column (`INSERT … SELECT …
//! FROM UNNEST($1::bigint[], …)`), so every statement is prepared once and a 4,096-call batch is
//! a handful of round trips.
//!
//! The totals are summed by the shared engine ([`crate::store::tally`]) and merged with upserts
//! that add (`ON CONFLICT … DO UPDATE SET calls = t.calls + excluded.calls`): a run's rows are
//! written by its own writer only, so concurrent runs never contend, and `NUMERIC` adds money
//! exactly.

use rust_decimal::Decimal;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

use super::copy::CopyRows;
use crate::record::priced_json;
use crate::record::Loop;
use crate::store::digest_book::{DigestBook, DigestChanges};
use crate::store::label_book::{LabelBook, LabelChanges, LabelKind, LabelPlan};
use crate::store::sql::units_json;
use crate::store::tally::{DigestTotals, GroupKey, GroupTotals, Totals};
use crate::store::{duration_micros, micros, Batch, StoreError};

type Tx<'c> = Transaction<'c, Postgres>;

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes a batch in one transaction; returns what it changed in the run's digest and label
/// books (see [`DigestBook`], [`LabelBook`]), for the caller to keep once the batch committed.
pub(super) async fn write_batch(
    pool: &PgPool,
    run_id: i64,
    batch: Batch<'_>,
    book: &DigestBook,
    labels: &LabelBook,
) -> Result<(DigestChanges, LabelChanges), StoreError> {
    // Summed and planned before the transaction opens: nothing waits on the server meanwhile.
    let totals = Totals::of(
        batch
            .calls
            .iter()
            .zip(batch.processes.iter().map(Option::as_ref)),
    );
    // A call's key in the book: its sequence number in the run, + 1 (0 is the book's "stored").
    let keys: Vec<i64> = batch.calls.iter().map(|c| count(c.seq) + 1).collect();
    let plan = book.plan(&totals.digests, &keys);
    let mut labels = labels.plan(batch.calls);
    let mut tx = pool.begin().await?;
    insert_labels(&mut tx, run_id, &mut labels).await?;
    insert_calls(&mut tx, run_id, batch, &labels.ids).await?;
    write_operations(&mut tx, run_id, &totals).await?;
    write_outcomes(&mut tx, run_id, &totals).await?;
    write_groups(&mut tx, run_id, &totals).await?;
    promote_digests(&mut tx, run_id, &plan.promote).await?;
    write_digests(&mut tx, run_id, &plan.stored).await?;
    write_loops(&mut tx, run_id, batch.loops).await?;
    tx.commit().await?;
    Ok((plan.changes, labels.changes))
}

/// The batch's new labels, in one statement (most batches name none). When the book is full, a
/// label it does not hold may be stored already: it is inserted only where missing, and the
/// ids the table holds are read back.
async fn insert_labels(
    tx: &mut Tx<'_>,
    run_id: i64,
    labels: &mut LabelPlan<'_>,
) -> Result<(), StoreError> {
    if labels.new.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = labels.new.iter().map(|l| l.kind.as_str()).collect();
    let texts: Vec<&str> = labels.new.iter().map(|l| l.text).collect();
    sqlx::query(
        "INSERT INTO call_labels (run_id, label_id, kind, text) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[]) \
         ON CONFLICT (run_id, kind, text) DO NOTHING",
    )
    .bind(run_id)
    .bind(labels.new.iter().map(|l| l.id).collect::<Vec<i64>>())
    .bind(&kinds)
    .bind(&texts)
    .execute(&mut **tx)
    .await?;
    if labels.may_exist {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT l.label_id, l.kind, l.text FROM call_labels l \
             JOIN UNNEST($2::text[], $3::text[]) AS n (kind, text) \
             ON l.kind = n.kind AND l.text = n.text WHERE l.run_id = $1",
        )
        .bind(run_id)
        .bind(&kinds)
        .bind(&texts)
        .fetch_all(&mut **tx)
        .await?;
        let stored: Vec<(LabelKind, String, i64)> = rows
            .into_iter()
            .filter_map(|(id, kind, text)| Some((LabelKind::parse(&kind)?, text, id)))
            .collect();
        labels.settle(&stored);
    }
    Ok(())
}

/// Groups seen once before, now repeated: their single call copied in from `calls` first (found
/// by its sequence number; a call whose batch was lost is simply not found).
async fn promote_digests(
    tx: &mut Tx<'_>,
    run_id: i64,
    promote: &[(i64, i64)],
) -> Result<(), StoreError> {
    if promote.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO digest_totals (run_id, digest, service, operation, fingerprint, resource, \
         calls, cost_usd, first_us, last_us, latest_us, batch_first_us, gap_sq_sum, examples) \
         SELECT c.run_id, f.digest, c.service, c.operation, c.fingerprint, c.resource, 1, \
         c.cost_usd + c.transfer_usd + c.implied_usd, c.started_at_us, c.started_at_us, \
         c.started_at_us, c.started_at_us, 0, c.started_at_us::text \
         FROM UNNEST($2::bigint[], $3::bigint[]) AS f (digest, key) \
         JOIN calls c ON c.run_id = $1 AND c.seq = f.key - 1 \
         ON CONFLICT (run_id, digest) DO NOTHING",
    )
    .bind(run_id)
    .bind(
        promote
            .iter()
            .map(|(digest, _)| *digest)
            .collect::<Vec<i64>>(),
    )
    .bind(promote.iter().map(|(_, key)| *key).collect::<Vec<i64>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The batch's calls, by `COPY … FROM STDIN` in text format inside the batch's transaction: the
/// server parses one stream of rows instead of 36 arrays of a statement, and the rows commit or
/// roll back with the batch's totals.
async fn insert_calls(
    tx: &mut Tx<'_>,
    run_id: i64,
    batch: Batch<'_>,
    labels: &[(Option<i64>, Option<i64>)],
) -> Result<(), StoreError> {
    let calls = batch.calls;
    if calls.is_empty() {
        return Ok(());
    }
    let mut rows = CopyRows::with_capacity(calls.len() * 320);
    for ((call, process), (callsite, test)) in calls.iter().zip(batch.processes).zip(labels) {
        rows.row()
            .int(run_id)
            .int(count(call.seq))
            .int(micros(call.started_at))
            .int(duration_micros(call.duration))
            .text(call.kind.as_str())
            .text(&call.service)
            .text(&call.operation)
            .opt_text(call.region.as_deref())
            .text(&call.host)
            .opt_text(call.access_key.as_deref())
            .opt_text(call.sdk.as_deref())
            .opt_text(call.app_id.as_deref())
            .opt_int(call.status.map(i64::from))
            .opt_text(call.error_code.as_deref())
            .flag(call.is_throttled())
            .opt_text(call.upstream_failure.map(|f| f.as_str()))
            .opt_int(call.attempt.map(i64::from))
            .opt_text(call.invocation_id.as_deref())
            .int(count(call.bytes_sent))
            .int(count(call.bytes_received))
            .text(call.price.class())
            .money(call.cost)
            .money(call.transfer)
            .money(call.implied_total())
            .opt_text(units_json(call).as_deref())
            .opt_text(call.estimated.as_deref())
            .opt_int(call.loop_id.map(count))
            .opt_text(call.fingerprint.as_deref())
            .opt_text(call.resource.as_deref())
            .opt_int(process.as_ref().map(|p| i64::from(p.pid)))
            .opt_text(process.as_ref().map(|p| p.command.as_str()))
            .opt_flag(call.listed_before)
            .opt_int(call.received.map(count))
            .opt_text(priced_json(&call.priced).as_deref())
            .opt_int(*callsite)
            .opt_int(*test)
            .opt_flag(call.after_head)
            .opt_int(call.refetched_bytes.map(count));
    }
    let mut copy = tx
        .copy_in_raw(
            "COPY calls (run_id, seq, started_at_us, duration_us, kind, service, operation, \
             region, host, access_key, sdk, app_id, status, error_code, throttled, \
             upstream_failure, attempt, invocation_id, bytes_sent, bytes_received, price_status, \
             cost_usd, transfer_usd, implied_usd, units, estimated, loop_id, fingerprint, \
             resource, client_pid, client_command, listed_before, received, priced, \
             callsite_label, test_label, after_head, refetched_bytes) FROM STDIN",
        )
        .await?;
    if let Err(error) = copy.send(rows.finish().into_bytes()).await {
        let _ = copy.abort("tollgate could not send the batch").await;
        return Err(error.into());
    }
    copy.finish().await?;
    Ok(())
}

/// Per operation: its tally, units and latency buckets.
async fn write_operations(
    tx: &mut Tx<'_>,
    run_id: i64,
    totals: &Totals<'_>,
) -> Result<(), StoreError> {
    if totals.operations.is_empty() {
        return Ok(());
    }
    let ops: Vec<_> = totals.operations.iter().collect();
    let col = |f: fn(&crate::record::OperationTally) -> u64| {
        ops.iter().map(|(_, t)| count(f(t))).collect::<Vec<i64>>()
    };
    let cash = |f: fn(&crate::record::OperationTally) -> Decimal| {
        ops.iter().map(|(_, t)| f(t)).collect::<Vec<Decimal>>()
    };
    sqlx::query(
        "INSERT INTO operation_totals AS t (run_id, service, operation, calls, retries, errors, \
         throttled, bytes_sent, bytes_received, cost_usd, transfer_usd, implied_usd, priced, \
         free, not_billed, unpriced, estimated, first_us, last_us, latency_max_us, not_in_model) \
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], \
         $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::numeric[], $11::numeric[], \
         $12::numeric[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], \
         $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[]) \
         ON CONFLICT (run_id, service, operation) DO UPDATE SET \
         calls = t.calls + excluded.calls, retries = t.retries + excluded.retries, \
         errors = t.errors + excluded.errors, throttled = t.throttled + excluded.throttled, \
         bytes_sent = t.bytes_sent + excluded.bytes_sent, \
         bytes_received = t.bytes_received + excluded.bytes_received, \
         cost_usd = t.cost_usd + excluded.cost_usd, \
         transfer_usd = t.transfer_usd + excluded.transfer_usd, \
         implied_usd = t.implied_usd + excluded.implied_usd, \
         priced = t.priced + excluded.priced, free = t.free + excluded.free, \
         not_billed = t.not_billed + excluded.not_billed, \
         unpriced = t.unpriced + excluded.unpriced, estimated = t.estimated + excluded.estimated, \
         first_us = LEAST(t.first_us, excluded.first_us), \
         last_us = GREATEST(t.last_us, excluded.last_us), \
         latency_max_us = GREATEST(t.latency_max_us, excluded.latency_max_us), \
         not_in_model = t.not_in_model + excluded.not_in_model",
    )
    .bind(run_id)
    .bind(ops.iter().map(|((s, _), _)| *s).collect::<Vec<&str>>())
    .bind(ops.iter().map(|((_, o), _)| *o).collect::<Vec<&str>>())
    .bind(col(|t| t.attempts))
    .bind(col(|t| t.retries))
    .bind(col(|t| t.errors))
    .bind(col(|t| t.throttled))
    .bind(col(|t| t.bytes_sent))
    .bind(col(|t| t.bytes_received))
    .bind(cash(|t| t.cost))
    .bind(cash(|t| t.transfer))
    .bind(cash(|t| t.implied))
    .bind(col(|t| t.priced))
    .bind(col(|t| t.free))
    .bind(col(|t| t.not_billed))
    .bind(col(|t| t.unpriced))
    .bind(col(|t| t.estimated))
    .bind(ops.iter().map(|(_, t)| t.first_us).collect::<Vec<i64>>())
    .bind(ops.iter().map(|(_, t)| t.last_us).collect::<Vec<i64>>())
    .bind(col(|t| t.latency_max_us))
    .bind(col(|t| t.not_in_model))
    .execute(&mut **tx)
    .await?;

    let mut units = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut latency = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((service, operation), tally) in &ops {
        for (unit, quantity) in &tally.units {
            units.0.push(*service);
            units.1.push(*operation);
            units.2.push(unit.as_str());
            units.3.push(*quantity);
        }
        // A bucket is the histogram's own: recorded again on reading, each value lands in the
        // bucket it came from (as in SQLite).
        for bucket in tally.latency_us.iter_recorded() {
            latency.0.push(*service);
            latency.1.push(*operation);
            latency.2.push(count(bucket.value_iterated_to()));
            latency.3.push(count(bucket.count_at_value()));
        }
    }
    if !units.0.is_empty() {
        sqlx::query(
            "INSERT INTO operation_units AS t (run_id, service, operation, unit, quantity) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::numeric[]) \
             ON CONFLICT (run_id, service, operation, unit) DO UPDATE SET \
             quantity = t.quantity + excluded.quantity",
        )
        .bind(run_id)
        .bind(units.0)
        .bind(units.1)
        .bind(units.2)
        .bind(units.3)
        .execute(&mut **tx)
        .await?;
    }
    if !latency.0.is_empty() {
        sqlx::query(
            "INSERT INTO operation_latency AS t (run_id, service, operation, bucket_us, calls) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[]) \
             ON CONFLICT (run_id, service, operation, bucket_us) DO UPDATE SET \
             calls = t.calls + excluded.calls",
        )
        .bind(run_id)
        .bind(latency.0)
        .bind(latency.1)
        .bind(latency.2)
        .bind(latency.3)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Failures by outcome, calls by region, by resource, and by time slot.
async fn write_outcomes(
    tx: &mut Tx<'_>,
    run_id: i64,
    totals: &Totals<'_>,
) -> Result<(), StoreError> {
    if !totals.failures.is_empty() {
        let rows: Vec<_> = totals.failures.iter().collect();
        sqlx::query(
            "INSERT INTO failure_totals AS t (run_id, service, operation, status, error_code, \
             throttled, calls, priced, cost_usd, first_us, last_us) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[], \
             $6::boolean[], $7::bigint[], $8::bigint[], $9::numeric[], $10::bigint[], \
             $11::bigint[]) \
             ON CONFLICT (run_id, service, operation, status, error_code, throttled) DO UPDATE \
             SET calls = t.calls + excluded.calls, priced = t.priced + excluded.priced, \
             cost_usd = t.cost_usd + excluded.cost_usd, \
             first_us = LEAST(t.first_us, excluded.first_us), \
             last_us = GREATEST(t.last_us, excluded.last_us)",
        )
        .bind(run_id)
        .bind(rows.iter().map(|(k, _)| k.0 .0).collect::<Vec<&str>>())
        .bind(rows.iter().map(|(k, _)| k.0 .1).collect::<Vec<&str>>())
        .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(k, _)| k.2).collect::<Vec<&str>>())
        .bind(rows.iter().map(|(k, _)| k.3).collect::<Vec<bool>>())
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.calls))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.priced))
                .collect::<Vec<i64>>(),
        )
        .bind(rows.iter().map(|(_, t)| t.cost).collect::<Vec<Decimal>>())
        .bind(rows.iter().map(|(_, t)| t.first_us).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(_, t)| t.last_us).collect::<Vec<i64>>())
        .execute(&mut **tx)
        .await?;
    }
    if !totals.regions.is_empty() {
        let rows: Vec<_> = totals.regions.iter().collect();
        sqlx::query(
            "INSERT INTO region_totals AS t (run_id, service, region, calls, cost_usd) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::numeric[]) \
             ON CONFLICT (run_id, service, region) DO UPDATE SET \
             calls = t.calls + excluded.calls, cost_usd = t.cost_usd + excluded.cost_usd",
        )
        .bind(run_id)
        .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<&str>>())
        .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<&str>>())
        .bind(rows.iter().map(|(_, v)| count(v.0)).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(_, v)| v.1).collect::<Vec<Decimal>>())
        .execute(&mut **tx)
        .await?;
    }
    if !totals.resources.is_empty() {
        let rows: Vec<_> = totals.resources.iter().collect();
        sqlx::query(
            "INSERT INTO resource_totals AS t (run_id, service, operation, resource, \
             first_attempts, first_cost_usd, first_us, last_us, implied_calls, implied_usd, \
             listed_before, listed_before_usd, empty_receives, empty_receives_usd, after_head, \
             refetched_bytes, refetched_usd, refetched_calls, refetched_calls_usd) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], \
             $6::numeric[], $7::bigint[], $8::bigint[], $9::bigint[], $10::numeric[], \
             $11::bigint[], $12::numeric[], $13::bigint[], $14::numeric[], $15::bigint[], \
             $16::bigint[], $17::numeric[], $18::bigint[], $19::numeric[]) \
             ON CONFLICT (run_id, service, operation, resource) DO UPDATE SET \
             first_us = CASE WHEN t.first_attempts = 0 THEN excluded.first_us \
                             WHEN excluded.first_attempts = 0 THEN t.first_us \
                             ELSE LEAST(t.first_us, excluded.first_us) END, \
             last_us = GREATEST(t.last_us, excluded.last_us), \
             first_attempts = t.first_attempts + excluded.first_attempts, \
             first_cost_usd = t.first_cost_usd + excluded.first_cost_usd, \
             implied_calls = t.implied_calls + excluded.implied_calls, \
             implied_usd = t.implied_usd + excluded.implied_usd, \
             listed_before = t.listed_before + excluded.listed_before, \
             listed_before_usd = t.listed_before_usd + excluded.listed_before_usd, \
             empty_receives = t.empty_receives + excluded.empty_receives, \
             empty_receives_usd = t.empty_receives_usd + excluded.empty_receives_usd, \
             after_head = t.after_head + excluded.after_head, \
             refetched_bytes = t.refetched_bytes + excluded.refetched_bytes, \
             refetched_usd = t.refetched_usd + excluded.refetched_usd, \
             refetched_calls = t.refetched_calls + excluded.refetched_calls, \
             refetched_calls_usd = t.refetched_calls_usd + excluded.refetched_calls_usd",
        )
        .bind(run_id)
        .bind(rows.iter().map(|(k, _)| k.0 .0).collect::<Vec<&str>>())
        .bind(rows.iter().map(|(k, _)| k.0 .1).collect::<Vec<&str>>())
        .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<&str>>())
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.first_attempts))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| t.first_cost)
                .collect::<Vec<Decimal>>(),
        )
        .bind(rows.iter().map(|(_, t)| t.first_us).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(_, t)| t.last_us).collect::<Vec<i64>>())
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.implied_calls))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| t.implied)
                .collect::<Vec<Decimal>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.listed_before))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| t.listed_before_cost)
                .collect::<Vec<Decimal>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.empty_receives))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| t.empty_receives_cost)
                .collect::<Vec<Decimal>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.after_head))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.refetched_bytes))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| t.refetched_cost)
                .collect::<Vec<Decimal>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| count(t.refetched_calls))
                .collect::<Vec<i64>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, t)| t.refetched_calls_cost)
                .collect::<Vec<Decimal>>(),
        )
        .execute(&mut **tx)
        .await?;
    }
    if !totals.timeline.is_empty() {
        let rows: Vec<_> = totals.timeline.iter().collect();
        sqlx::query(
            "INSERT INTO timeline_totals AS t (run_id, width_us, slot, calls, cost_usd) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::numeric[]) \
             ON CONFLICT (run_id, width_us, slot) DO UPDATE SET \
             calls = t.calls + excluded.calls, cost_usd = t.cost_usd + excluded.cost_usd",
        )
        .bind(run_id)
        .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(_, v)| count(v.0)).collect::<Vec<i64>>())
        .bind(rows.iter().map(|(_, v)| v.1).collect::<Vec<Decimal>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Attempts by call site (and resource), test, SDK, app id and command.
async fn write_groups<'a>(
    tx: &mut Tx<'_>,
    run_id: i64,
    totals: &Totals<'a>,
) -> Result<(), StoreError> {
    if totals.groups.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = totals.groups.iter().collect();
    let text =
        |f: fn(&GroupKey<'a>) -> &'a str| rows.iter().map(|(k, _)| f(k)).collect::<Vec<&str>>();
    let counted =
        |f: fn(&GroupTotals) -> u64| rows.iter().map(|(_, t)| count(f(t))).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO group_totals AS t (run_id, grouped_by, group_key, service, operation, \
         resource, attempts, retries, errors, total_usd) \
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::bigint[], $8::bigint[], $9::bigint[], $10::numeric[]) \
         ON CONFLICT (run_id, grouped_by, group_key, service, operation, resource) DO UPDATE \
         SET attempts = t.attempts + excluded.attempts, retries = t.retries + excluded.retries, \
         errors = t.errors + excluded.errors, total_usd = t.total_usd + excluded.total_usd",
    )
    .bind(run_id)
    .bind(text(|k| k.0.as_str()))
    .bind(text(|k| k.1))
    .bind(text(|k| k.2 .0))
    .bind(text(|k| k.2 .1))
    .bind(text(|k| k.3))
    .bind(counted(|t| t.attempts))
    .bind(counted(|t| t.retries))
    .bind(counted(|t| t.errors))
    .bind(rows.iter().map(|(_, t)| t.total).collect::<Vec<Decimal>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The digest groups the book sends to the table, merged with what the run's earlier batches stored: the gap between the
/// stored group's latest call and this batch's first joins the two cadences (computed in
/// floating point as SQLite does, so both give the same statistic); examples stop growing once
/// there are enough.
async fn write_digests(
    tx: &mut Tx<'_>,
    run_id: i64,
    rows: &[(&i64, &DigestTotals<'_>)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO digest_totals AS t (run_id, digest, service, operation, fingerprint, \
         resource, calls, cost_usd, first_us, last_us, latest_us, batch_first_us, gap_sq_sum, \
         examples) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::bigint[], $8::numeric[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], \
         $13::float8[], $14::text[]) \
         ON CONFLICT (run_id, digest) DO UPDATE SET \
         gap_sq_sum = t.gap_sq_sum + excluded.gap_sq_sum \
             + (excluded.batch_first_us - t.latest_us)::float8 \
             * (excluded.batch_first_us - t.latest_us)::float8, \
         examples = CASE WHEN t.calls >= 3 THEN t.examples \
                         ELSE t.examples || ' ' || excluded.examples END, \
         calls = t.calls + excluded.calls, cost_usd = t.cost_usd + excluded.cost_usd, \
         first_us = LEAST(t.first_us, excluded.first_us), \
         last_us = GREATEST(t.last_us, excluded.last_us), \
         latest_us = excluded.latest_us, batch_first_us = excluded.batch_first_us",
    )
    .bind(run_id)
    .bind(rows.iter().map(|(k, _)| **k).collect::<Vec<i64>>())
    .bind(rows.iter().map(|(_, d)| d.service).collect::<Vec<&str>>())
    .bind(rows.iter().map(|(_, d)| d.operation).collect::<Vec<&str>>())
    .bind(
        rows.iter()
            .map(|(_, d)| d.fingerprint)
            .collect::<Vec<&str>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, d)| d.resource)
            .collect::<Vec<Option<&str>>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, d)| count(d.cadence.calls))
            .collect::<Vec<i64>>(),
    )
    .bind(rows.iter().map(|(_, d)| d.cost).collect::<Vec<Decimal>>())
    .bind(
        rows.iter()
            .map(|(_, d)| d.cadence.first_us)
            .collect::<Vec<i64>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, d)| d.cadence.last_us)
            .collect::<Vec<i64>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, d)| d.cadence.latest_us)
            .collect::<Vec<i64>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, d)| d.cadence.batch_first_us)
            .collect::<Vec<i64>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, d)| d.cadence.gap_sq_sum)
            .collect::<Vec<f64>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, d)| {
                d.examples
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<String>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The loops that finished with the batch (a loop reported again replaces its row).
async fn write_loops(tx: &mut Tx<'_>, run_id: i64, loops: &[Loop]) -> Result<(), StoreError> {
    if loops.is_empty() {
        return Ok(());
    }
    let opt = |f: fn(&Loop) -> Option<u64>| {
        loops
            .iter()
            .map(|l| f(l).map(count))
            .collect::<Vec<Option<i64>>>()
    };
    let flag = |f: fn(&Loop) -> bool| loops.iter().map(f).collect::<Vec<bool>>();
    let cash = |f: fn(&Loop) -> Decimal| loops.iter().map(f).collect::<Vec<Decimal>>();
    sqlx::query(
        "INSERT INTO loops (run_id, loop_id, service, operation, resource, access_key, listing, \
         started_at_us, ended_at_us, pages, attempts, items, items_unknown, page_size, \
         page_size_max, complete, resumed, relisting, cost_usd, transfer_usd, implied_usd, \
         callsite) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], \
         $13::text[], $14::bigint[], $15::bigint[], $16::boolean[], $17::boolean[], \
         $18::boolean[], $19::numeric[], $20::numeric[], $21::numeric[], $22::text[]) \
         ON CONFLICT (run_id, loop_id) DO UPDATE SET service = excluded.service, \
         operation = excluded.operation, resource = excluded.resource, \
         access_key = excluded.access_key, listing = excluded.listing, \
         started_at_us = excluded.started_at_us, ended_at_us = excluded.ended_at_us, \
         pages = excluded.pages, attempts = excluded.attempts, items = excluded.items, \
         items_unknown = excluded.items_unknown, page_size = excluded.page_size, \
         page_size_max = excluded.page_size_max, complete = excluded.complete, \
         resumed = excluded.resumed, relisting = excluded.relisting, \
         cost_usd = excluded.cost_usd, transfer_usd = excluded.transfer_usd, \
         implied_usd = excluded.implied_usd, callsite = excluded.callsite",
    )
    .bind(run_id)
    .bind(loops.iter().map(|l| count(l.id)).collect::<Vec<i64>>())
    .bind(
        loops
            .iter()
            .map(|l| l.service.as_str())
            .collect::<Vec<&str>>(),
    )
    .bind(
        loops
            .iter()
            .map(|l| l.operation.as_str())
            .collect::<Vec<&str>>(),
    )
    .bind(
        loops
            .iter()
            .map(|l| l.resource.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        loops
            .iter()
            .map(|l| l.access_key.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        loops
            .iter()
            .map(|l| l.listing.as_str())
            .collect::<Vec<&str>>(),
    )
    .bind(
        loops
            .iter()
            .map(|l| micros(l.started_at))
            .collect::<Vec<i64>>(),
    )
    .bind(
        loops
            .iter()
            .map(|l| micros(l.ended_at))
            .collect::<Vec<i64>>(),
    )
    .bind(loops.iter().map(|l| count(l.pages)).collect::<Vec<i64>>())
    .bind(
        loops
            .iter()
            .map(|l| count(l.attempts))
            .collect::<Vec<i64>>(),
    )
    .bind(opt(|l| l.items))
    .bind(
        loops
            .iter()
            .map(|l| l.items_unknown.map(|reason| reason.code()))
            .collect::<Vec<_>>(),
    )
    .bind(opt(|l| l.page_size))
    .bind(opt(|l| l.page_size_max))
    .bind(flag(|l| l.complete))
    .bind(flag(|l| l.resumed))
    .bind(flag(|l| l.relisting))
    .bind(cash(|l| l.cost))
    .bind(cash(|l| l.transfer))
    .bind(cash(|l| l.implied))
    .bind(
        loops
            .iter()
            .map(|l| l.callsite.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
