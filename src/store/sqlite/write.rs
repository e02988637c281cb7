//! Writing a batch: the calls in multi-row inserts, their totals and the finished loops, in one
//! transaction.

use std::collections::BTreeMap;

use sqlx::{QueryBuilder, Sqlite};

use super::totals::{self, DigestBook, DigestChanges};
use super::SqliteStore;
use crate::record::{exact, Call, ClientProcess, Loop};
use crate::store::tally::Totals;
use crate::store::{duration_micros, micros, Batch, StoreError};

/// Calls per insert statement (SQLite binds at most 32,766 variables per statement). Only
/// statements of exactly this many rows stay prepared in sqlx's cache: a 500-row statement's
/// program is large, and caching one per distinct row count (a batch's last chunk, time-cut
/// batches) held over 100 MB in a busy proxy.
const ROWS_PER_INSERT: usize = 500;

impl SqliteStore {
    /// Writes a batch in one transaction. The run's digest book (see [`DigestBook`]) takes the
    /// batch's changes only once it committed.
    pub(super) async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError> {
        let mut books = self.digest_books.lock().await;
        let book = books.entry(run).or_default();
        let changes = write_batch(self, run, batch, book).await?;
        book.apply(changes);
        Ok(())
    }
}

/// The units as stored: a JSON object of exact decimal strings, in unit order.
fn units_json(call: &Call) -> Option<String> {
    let units: BTreeMap<&str, String> = call
        .recorded_units()
        .map(|(unit, quantity)| (unit.as_str(), exact(quantity)))
        .collect();
    if units.is_empty() {
        return None;
    }
    serde_json::to_string(&units).ok()
}

/// One multi-row insert of calls, built and ready to run.
struct CallsInsert<'a> {
    query: QueryBuilder<'a, Sqlite>,
    rows: usize,
}

fn insert_calls<'a>(
    run_id: i64,
    rows: &'a [Call],
    processes: &'a [Option<ClientProcess>],
) -> CallsInsert<'a> {
    let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO calls (run_id, seq, started_at_us, duration_us, kind, service, operation, \
         region, host, access_key, sdk, app_id, status, error_code, throttled, \
         upstream_failure, attempt, invocation_id, bytes_sent, bytes_received, price_status, \
         cost_usd, transfer_usd, implied_usd, units, estimated, loop_id, fingerprint, \
         resource, client_pid, client_command) ",
    );
    insert.push_values(rows.iter().zip(processes), |mut b, (row, process)| {
        b.push_bind(run_id)
            .push_bind(row.seq as i64)
            .push_bind(micros(row.started_at))
            .push_bind(duration_micros(row.duration))
            .push_bind(row.kind.as_str())
            .push_bind(&row.service)
            .push_bind(&row.operation)
            .push_bind(&row.region)
            .push_bind(&row.host)
            .push_bind(&row.access_key)
            .push_bind(&row.sdk)
            .push_bind(&row.app_id)
            .push_bind(row.status.map(i64::from))
            .push_bind(&row.error_code)
            .push_bind(row.is_throttled())
            .push_bind(row.upstream_failure.map(|failure| failure.as_str()))
            .push_bind(row.attempt.map(i64::from))
            .push_bind(&row.invocation_id)
            .push_bind(row.bytes_sent as i64)
            .push_bind(row.bytes_received as i64)
            .push_bind(row.price.class())
            .push_bind(exact(row.cost))
            .push_bind(exact(row.transfer))
            .push_bind(exact(row.implied_total()))
            .push_bind(units_json(row))
            .push_bind(&row.estimated)
            .push_bind(row.loop_id.map(|id| id as i64))
            .push_bind(&row.fingerprint)
            .push_bind(&row.resource)
            .push_bind(process.as_ref().map(|p| i64::from(p.pid)))
            .push_bind(process.as_ref().map(|p| p.command.as_str()));
    });
    CallsInsert {
        query: insert,
        rows: rows.len(),
    }
}

pub(super) async fn write_batch(
    store: &SqliteStore,
    run_id: i64,
    batch: Batch<'_>,
    digests: &DigestBook,
) -> Result<DigestChanges, sqlx::Error> {
    let mut connection = store.pool().acquire().await?;
    let written = write_in_transaction(
        &mut connection,
        run_id,
        batch.calls,
        batch.processes,
        batch.loops,
        digests,
    )
    .await;
    if written.is_err() {
        // After a failed write (SQLITE_FULL, EFBIG) SQLite may have rolled the transaction back
        // on its own while sqlx still believes it is open; reused, the connection would keep
        // the write lock and turn later commits into savepoint releases that save nothing.
        // Close it: the pool opens a fresh one for the next batch.
        use sqlx::Connection as _;
        let _ = connection.detach().close().await;
    }
    written
}

async fn write_in_transaction(
    connection: &mut sqlx::pool::PoolConnection<Sqlite>,
    run_id: i64,
    calls: &[Call],
    processes: &[Option<ClientProcess>],
    loops: &[Loop],
    digests: &DigestBook,
) -> Result<DigestChanges, sqlx::Error> {
    use sqlx::Connection as _;
    let mut tx = connection.begin().await?;
    let mut call_ids = Vec::with_capacity(calls.len());
    let mut chunks = calls
        .chunks(ROWS_PER_INSERT)
        .zip(processes.chunks(ROWS_PER_INSERT));
    let mut next = chunks
        .next()
        .map(|(rows, processes)| insert_calls(run_id, rows, processes));
    let mut totals = None;
    while let Some(mut insert) = next.take() {
        let rows = insert.rows;
        // Only full chunks keep their prepared statement (see `ROWS_PER_INSERT`).
        let query = insert.query.build().persistent(rows == ROWS_PER_INSERT);
        let mut execution = std::pin::pin!(query.execute(&mut *tx));
        // Started, SQLite inserts this chunk on its own thread while this task builds the next
        // chunk (and, during the last one, sums the batch's totals): binding is as much work
        // as inserting, and done in turn the two took twice as long.
        let started = futures_util::poll!(execution.as_mut());
        next = chunks
            .next()
            .map(|(rows, processes)| insert_calls(run_id, rows, processes));
        if next.is_none() && totals.is_none() {
            totals = Some(Totals::of(calls));
        }
        let result = match started {
            std::task::Poll::Ready(result) => result,
            std::task::Poll::Pending => execution.await,
        }?;
        // The rows' ids: a multi-row insert numbers them consecutively after the table's
        // largest id, and this transaction holds the only write lock.
        let last = result.last_insert_rowid();
        call_ids.extend(last - rows as i64 + 1..=last);
    }
    let totals = totals.unwrap_or_else(|| Totals::of(calls));
    let changes = totals::write(&totals, &mut tx, run_id, digests, &call_ids).await?;
    // One statement per 1,000 loops (18 values each), not one per loop.
    for chunk in loops.chunks(1_000) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR REPLACE INTO loops (run_id, loop_id, service, operation, resource, \
             access_key, listing, started_at_us, ended_at_us, pages, attempts, items, page_size, \
             page_size_max, complete, resumed, relisting, cost_usd) ",
        );
        insert.push_values(chunk, |mut b, record| {
            b.push_bind(run_id)
                .push_bind(record.id as i64)
                .push_bind(&record.service)
                .push_bind(&record.operation)
                .push_bind(&record.resource)
                .push_bind(&record.access_key)
                .push_bind(&record.listing)
                .push_bind(micros(record.started_at))
                .push_bind(micros(record.ended_at))
                .push_bind(record.pages as i64)
                .push_bind(record.attempts as i64)
                .push_bind(record.items.map(|i| i as i64))
                .push_bind(record.page_size.map(|i| i as i64))
                .push_bind(record.page_size_max.map(|i| i as i64))
                .push_bind(record.complete)
                .push_bind(record.resumed)
                .push_bind(record.relisting)
                .push_bind(exact(record.cost));
        });
        insert.build().persistent(false).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(changes)
}
