//! Recording off the request path: the [`Recorder`] sink turns each call into a row and hands
//! it to one writer task through a bounded channel; the task writes batches in transactions,
//! by size or time, and flushes at shutdown. When the channel is full or the database fails
//! (full disk, locked, corrupt), traffic still flows: the rows are dropped and counted, and the
//! count is shown with the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lru::LruCache;
use rust_decimal::Decimal;
use sqlx::{QueryBuilder, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::totals::{DigestBook, DigestChanges, Totals};
use super::{micros, Store};
use crate::aws::usage::Unit;
use crate::pricing::{exact, PriceStatus};
use crate::procnet::{client_processes, ClientProcess};
use crate::profile::{Call, CallKind, CallSink, LoopRecord, LoopTracker};
use crate::proxy::Exchange;

/// Rows per transaction at most, and how long a row may wait for its batch.
const BATCH_ROWS: usize = 4096;
const BATCH_WAIT: Duration = Duration::from_millis(100);
/// Rows waiting for the writer; past this they are dropped and counted.
const QUEUE_ROWS: usize = 65_536;
/// Calls per insert statement (SQLite binds at most 32,766 variables per statement). Only
/// statements of exactly this many rows stay prepared in sqlx's cache: a 500-row statement's
/// program is large, and caching one per distinct row count (a batch's last chunk, time-cut
/// batches) held over 100 MB in a busy proxy.
const ROWS_PER_INSERT: usize = 500;

/// One call as stored: owned, no secrets.
#[derive(Debug, Clone)]
pub struct CallRow {
    pub seq: u64,
    pub client: SocketAddr,
    pub started_at_us: i64,
    pub duration_us: i64,
    pub kind: &'static str,
    pub service: String,
    pub operation: String,
    pub region: Option<String>,
    pub host: String,
    pub access_key: Option<String>,
    pub sdk: Option<String>,
    pub app_id: Option<String>,
    pub status: Option<u16>,
    pub error_code: Option<String>,
    pub throttled: bool,
    pub upstream_failure: Option<&'static str>,
    pub attempt: Option<u32>,
    pub invocation_id: Option<String>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub price_status: &'static str,
    /// The call's own charge, data transfer out, and implied costs (KMS behind SSE-KMS, ...).
    pub cost: Decimal,
    pub transfer: Decimal,
    pub implied: Decimal,
    /// Priced quantities by unit, data transfer out in GB among them.
    pub units: Vec<(Unit, Decimal)>,
    pub estimated: Option<String>,
    pub loop_id: Option<u64>,
    pub fingerprint: Option<String>,
    pub resource: Option<String>,
}

impl CallRow {
    pub fn new(call: &Call, exchange: &Exchange, loop_id: Option<u64>) -> Self {
        let cost = &call.cost;
        let mut units: Vec<(Unit, Decimal)> = Vec::with_capacity(cost.lines.len() + 1);
        for line in &cost.lines {
            set_unit(&mut units, line.unit, line.quantity);
        }
        if let Some(gb) = call.usage.quantity(Unit::GbOut) {
            set_unit(&mut units, Unit::GbOut, gb);
        }
        Self {
            seq: exchange.id,
            client: exchange.client,
            started_at_us: micros(call.started_at),
            duration_us: i64::try_from(call.duration.as_micros()).unwrap_or(i64::MAX),
            kind: match call.kind {
                CallKind::Operation => "operation",
                CallKind::Unknown => "unknown",
                CallKind::NotAws => "not-aws",
            },
            service: call.service.clone(),
            operation: call.operation.clone(),
            region: call.region.clone(),
            host: call.host.clone(),
            access_key: call.access_key.clone(),
            sdk: call.sdk.clone(),
            app_id: call.app_id.clone(),
            status: call.status,
            error_code: call.error_code.clone(),
            throttled: call.is_throttled(),
            upstream_failure: call.upstream_failure,
            attempt: call.attempt,
            invocation_id: call.invocation_id.clone(),
            bytes_sent: call.bytes_sent,
            bytes_received: call.bytes_received,
            price_status: match cost.status {
                PriceStatus::Priced => "priced",
                PriceStatus::Free { .. } => "free",
                PriceStatus::NotBilled { .. } => "not_billed",
                PriceStatus::Unpriced { .. } => "unpriced",
            },
            cost: cost.own(),
            transfer: cost.transfer(),
            implied: cost.implied_total(),
            units,
            estimated: cost.estimated.clone(),
            loop_id,
            fingerprint: call.fingerprint.clone(),
            resource: call.resource.clone(),
        }
    }

    /// All its money: own charge, transfer and implied costs.
    pub fn all_money(&self) -> Decimal {
        self.cost + self.transfer + self.implied
    }

    /// Whether the call failed (the rule `Call::is_error` applies on the request path).
    pub fn failed(&self) -> bool {
        crate::profile::is_error(self.status, self.error_code.as_deref())
    }

    /// Not a retry: the first attempt, or a call whose attempt is unknown.
    pub fn first_attempt(&self) -> bool {
        !crate::profile::is_retry(self.attempt)
    }

    /// The units as stored: a JSON object of exact decimal strings, in unit order.
    fn units_json(&self) -> Option<String> {
        if self.units.is_empty() {
            return None;
        }
        let units: BTreeMap<&str, String> = self
            .units
            .iter()
            .map(|(unit, quantity)| (unit.as_str(), exact(*quantity)))
            .collect();
        serde_json::to_string(&units).ok()
    }
}

/// A unit's quantity, replacing an earlier one (as a map would).
fn set_unit(units: &mut Vec<(Unit, Decimal)>, unit: Unit, quantity: Decimal) {
    match units.iter_mut().find(|(u, _)| *u == unit) {
        Some(slot) => slot.1 = quantity,
        None => units.push((unit, quantity)),
    }
}

enum Message {
    Call(Box<CallRow>),
    Loops(Vec<LoopRecord>),
    Flush(oneshot::Sender<()>),
}

/// Counters shared by the sink and the writer.
#[derive(Default)]
struct Loss {
    rows: AtomicU64,
    reason: Mutex<Option<String>>,
}

impl Loss {
    fn add(&self, rows: u64, reason: impl FnOnce() -> String) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let reason = reason();
            tracing::warn!("calls are not being recorded: {reason}; traffic still flows");
            *slot = Some(reason);
        }
    }
}

/// What recording came to, for the run's end.
#[derive(Debug, Clone, Default)]
pub struct RecorderOutcome {
    pub recorded: u64,
    pub lost: u64,
    pub lost_reason: Option<String>,
    pub loops: u64,
}

/// The sink that records calls into the database.
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    loops: LoopTracker,
    loss: Arc<Loss>,
    recorded: Arc<AtomicU64>,
    loop_count: AtomicU64,
    run_id: i64,
}

impl Recorder {
    /// Starts the writer task for `run_id` (on the current tokio runtime).
    pub fn start(store: Store, run_id: i64) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(QUEUE_ROWS);
        let loss = Arc::new(Loss::default());
        let recorded = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_loop(
            store,
            run_id,
            rx,
            loss.clone(),
            recorded.clone(),
        ));
        Arc::new(Self {
            tx,
            loops: LoopTracker::default(),
            loss,
            recorded,
            loop_count: AtomicU64::new(0),
            run_id,
        })
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Records stopped so far, and why.
    pub fn outcome(&self) -> RecorderOutcome {
        RecorderOutcome {
            recorded: self.recorded.load(Ordering::Relaxed),
            lost: self.loss.rows.load(Ordering::Relaxed),
            lost_reason: self
                .loss
                .reason
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            loops: self.loop_count.load(Ordering::Relaxed),
        }
    }

    fn send(&self, message: Message, rows: u64) {
        if let Err(error) = self.tx.try_send(message) {
            let reason = match error {
                mpsc::error::TrySendError::Full(_) => {
                    "the database writer fell behind (queue full)".to_string()
                }
                mpsc::error::TrySendError::Closed(_) => "the database writer stopped".to_string(),
            };
            self.loss.add(rows, || reason);
        }
    }

    fn send_loops(&self, loops: Vec<LoopRecord>) {
        if !loops.is_empty() {
            self.loop_count
                .fetch_add(loops.len() as u64, Ordering::Relaxed);
            self.send(Message::Loops(loops), 0);
        }
    }
}

impl CallSink for Recorder {
    fn on_call(&self, call: &Call, exchange: &Exchange) {
        let loop_id = call
            .page
            .as_ref()
            .map(|page| self.loops.on_page(call, page, call.page_size_max));
        let row = CallRow::new(call, exchange, loop_id);
        self.send(Message::Call(Box::new(row)), 1);
        if loop_id.is_some() {
            self.send_loops(self.loops.take_finished());
        }
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.send_loops(self.loops.take_all());
            let (ack, done) = oneshot::channel();
            if self.tx.send(Message::Flush(ack)).await.is_ok() {
                let _ = done.await;
            }
        })
    }
}

async fn write_loop(
    store: Store,
    run_id: i64,
    mut rx: mpsc::Receiver<Message>,
    loss: Arc<Loss>,
    recorded: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut clients: LruCache<SocketAddr, Option<ClientProcess>> =
        LruCache::new(NonZeroUsize::new(4096).expect("non-zero"));
    let mut digests = DigestBook::default();

    loop {
        if rx.recv_many(&mut batch, BATCH_ROWS).await == 0 {
            break;
        }
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH_ROWS && !matches!(batch.last(), Some(Message::Flush(_))) {
            let room = BATCH_ROWS - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut calls = Vec::new();
        let mut loops = Vec::new();
        let mut acks = Vec::new();
        for message in batch.drain(..) {
            match message {
                Message::Call(row) => calls.push(*row),
                Message::Loops(records) => loops.extend(records),
                Message::Flush(ack) => acks.push(ack),
            }
        }
        // Which process made each call: looked up once per client connection, for all the
        // batch's new connections together, here rather than on the request path.
        let mut new: Vec<SocketAddr> = calls
            .iter()
            .map(|row| row.client)
            .filter(|client| !clients.contains(client))
            .collect();
        new.sort_unstable();
        new.dedup();
        if !new.is_empty() {
            let mut found = client_processes(&new);
            for client in new {
                clients.put(client, found.remove(&client));
            }
        }
        let processes: Vec<Option<ClientProcess>> = calls
            .iter()
            .map(|row| clients.get(&row.client).cloned().flatten())
            .collect();
        match write_batch(&store, run_id, &calls, &processes, &loops, &digests).await {
            Ok(changes) => {
                digests.apply(changes);
                recorded.fetch_add(calls.len() as u64, Ordering::Relaxed);
            }
            Err(error) => {
                loss.add(calls.len() as u64, || format!("database error: {error}"));
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// One multi-row insert of calls, built and ready to run.
struct CallsInsert<'a> {
    query: QueryBuilder<'a, Sqlite>,
    rows: usize,
}

fn insert_calls<'a>(
    run_id: i64,
    rows: &'a [CallRow],
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
            .push_bind(row.started_at_us)
            .push_bind(row.duration_us)
            .push_bind(row.kind)
            .push_bind(&row.service)
            .push_bind(&row.operation)
            .push_bind(&row.region)
            .push_bind(&row.host)
            .push_bind(&row.access_key)
            .push_bind(&row.sdk)
            .push_bind(&row.app_id)
            .push_bind(row.status.map(i64::from))
            .push_bind(&row.error_code)
            .push_bind(row.throttled)
            .push_bind(row.upstream_failure)
            .push_bind(row.attempt.map(i64::from))
            .push_bind(&row.invocation_id)
            .push_bind(row.bytes_sent as i64)
            .push_bind(row.bytes_received as i64)
            .push_bind(row.price_status)
            .push_bind(exact(row.cost))
            .push_bind(exact(row.transfer))
            .push_bind(exact(row.implied))
            .push_bind(row.units_json())
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
    store: &Store,
    run_id: i64,
    calls: &[CallRow],
    processes: &[Option<ClientProcess>],
    loops: &[LoopRecord],
    digests: &DigestBook,
) -> Result<DigestChanges, sqlx::Error> {
    let mut connection = store.pool().acquire().await?;
    let written =
        write_in_transaction(&mut connection, run_id, calls, processes, loops, digests).await;
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
    calls: &[CallRow],
    processes: &[Option<ClientProcess>],
    loops: &[LoopRecord],
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
    let changes = totals
        .unwrap_or_else(|| Totals::of(calls))
        .write(&mut tx, run_id, digests, &call_ids)
        .await?;
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
