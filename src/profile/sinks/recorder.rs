//! Recording off the request path: the [`Recorder`] sink hands each call to one writer task
//! through a bounded channel; the task looks up which process made the batch's calls, and
//! writes batches to the store by size or time, and flushes at shutdown. When the channel is
//! full or the store fails (full disk, locked, corrupt, server down), traffic still flows: the
//! calls are dropped and counted, and the count is shown with the run.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lru::LruCache;
use tokio::sync::{mpsc, oneshot};

use super::super::CallSink;
use super::ledger::Ledger;
use crate::procnet::client_processes;
use crate::record::{Call, ClientProcess, Loop};
use crate::store::{Batch, RunStore};

/// Calls per batch at most, and how long a call may wait for its batch.
const BATCH_ROWS: usize = 4096;
const BATCH_WAIT: Duration = Duration::from_millis(100);
/// Calls waiting for the writer; past this they are dropped and counted.
const QUEUE_ROWS: usize = 65_536;
/// How often the writer looks at the queue while it gathers a batch. Waiting on the queue instead
/// woke the writer task for nearly every call (1,134 wake-ups for 2,000 calls under callgrind),
/// each a task, and often a thread, woken on the proxy's cores; at this tick the queue holds at
/// most 10 ms of calls, far below its bound at any rate the proxy reaches.
const GATHER_TICK: Duration = Duration::from_millis(10);

enum Message {
    Call(Box<Call>),
    Loops(Vec<Loop>),
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

/// How the recorder is doing now, for live metrics: plain counters, read without a lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderHealth {
    /// Calls and loop lists waiting for the writer.
    pub queued: u64,
    /// Batches the writer has handed to the store (written or not).
    pub batches: u64,
    pub recorded: u64,
    pub lost: u64,
}

/// The sink that records calls into a [`RunStore`].
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    /// How many calls the recorder was handed, outside the process (see [`Ledger`]).
    ledger: Option<Ledger>,
    loss: Arc<Loss>,
    recorded: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
    loop_count: AtomicU64,
    run_id: i64,
}

impl Recorder {
    /// Starts the writer task for `run_id` (on the current tokio runtime), counting the calls
    /// it is handed in `ledger`.
    pub fn start(store: Arc<dyn RunStore>, run_id: i64, ledger: Option<Ledger>) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(QUEUE_ROWS);
        let loss = Arc::new(Loss::default());
        let recorded = Arc::new(AtomicU64::new(0));
        let batches = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_loop(
            store,
            run_id,
            rx,
            Counters {
                loss: loss.clone(),
                recorded: recorded.clone(),
                batches: batches.clone(),
            },
        ));
        Arc::new(Self {
            tx,
            ledger,
            loss,
            recorded,
            batches,
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

    /// The queue, the batches and the calls so far.
    pub fn health(&self) -> RecorderHealth {
        RecorderHealth {
            queued: (self.tx.max_capacity() - self.tx.capacity()) as u64,
            batches: self.batches.load(Ordering::Relaxed),
            recorded: self.recorded.load(Ordering::Relaxed),
            lost: self.loss.rows.load(Ordering::Relaxed),
        }
    }

    /// The run's end and its losses are recorded: its ledger can go.
    pub fn close_ledger(&self) {
        if let Some(ledger) = &self.ledger {
            ledger.remove();
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
}

impl CallSink for Recorder {
    fn on_call(&self, call: &Call) {
        self.take_call(call.clone());
    }

    /// The profiler hands the recorder each call itself: it was copied here for every call.
    fn keeps_calls(&self) -> bool {
        true
    }

    fn take_call(&self, call: Call) {
        if let Some(ledger) = &self.ledger {
            ledger.count();
        }
        self.send(Message::Call(Box::new(call)), 1);
    }

    fn on_loops(&self, loops: &[Loop]) {
        self.take_loops(loops.to_vec());
    }

    fn take_loops(&self, loops: Vec<Loop>) {
        self.loop_count
            .fetch_add(loops.len() as u64, Ordering::Relaxed);
        self.send(Message::Loops(loops), 0);
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            if self.tx.send(Message::Flush(ack)).await.is_ok() {
                let _ = done.await;
            }
        })
    }
}

/// What the writer counts, for the sink to read.
struct Counters {
    loss: Arc<Loss>,
    recorded: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
}

async fn write_loop(
    store: Arc<dyn RunStore>,
    run_id: i64,
    mut rx: mpsc::Receiver<Message>,
    counters: Counters,
) {
    let Counters {
        loss,
        recorded,
        batches,
    } = counters;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut clients: LruCache<SocketAddr, Option<ClientProcess>> =
        LruCache::new(NonZeroUsize::new(4096).expect("non-zero"));
    let mut trimmer = Trimmer::new();

    loop {
        // Idle with memory to give back: wait for the next call or the trim, whichever is first.
        let received = match trimmer.due_in() {
            Some(wait) if rx.is_empty() => {
                tokio::select! {
                    received = rx.recv_many(&mut batch, BATCH_ROWS) => received,
                    () = tokio::time::sleep(wait) => {
                        trimmer.trim();
                        continue;
                    }
                }
            }
            _ => rx.recv_many(&mut batch, BATCH_ROWS).await,
        };
        if received == 0 {
            break;
        }
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        let mut flush = batch
            .iter()
            .any(|message| matches!(message, Message::Flush(_)));
        // Gather until the batch is full, a flush is asked for, the queue closes or the deadline
        // passes, taking what has come every tick rather than waking for each call.
        loop {
            let mut closed = false;
            while batch.len() < BATCH_ROWS && !flush {
                match rx.try_recv() {
                    Ok(message) => {
                        flush = matches!(message, Message::Flush(_));
                        batch.push(message);
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let now = tokio::time::Instant::now();
            if batch.len() >= BATCH_ROWS || flush || closed || now >= deadline {
                break;
            }
            tokio::time::sleep_until(deadline.min(now + GATHER_TICK)).await;
        }
        let mut calls = Vec::new();
        let mut loops = Vec::new();
        let mut acks = Vec::new();
        for message in batch.drain(..) {
            match message {
                Message::Call(call) => calls.push(*call),
                Message::Loops(records) => loops.extend(records),
                Message::Flush(ack) => acks.push(ack),
            }
        }
        // Which process made each call: looked up once per client connection, for all the
        // batch's new connections together, here rather than on the request path.
        let mut new: Vec<SocketAddr> = calls
            .iter()
            .map(|call| call.client)
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
            .map(|call| clients.get(&call.client).cloned().flatten())
            .collect();
        let written = store
            .write_batch(
                run_id,
                Batch {
                    calls: &calls,
                    processes: &processes,
                    loops: &loops,
                },
            )
            .await;
        batches.fetch_add(1, Ordering::Relaxed);
        match written {
            Ok(()) => {
                recorded.fetch_add(calls.len() as u64, Ordering::Relaxed);
            }
            Err(error) => {
                loss.add(calls.len() as u64, || error.to_string());
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
        drop((calls, processes, loops));
        trimmer.after_batch();
    }
}

/// Hands memory the allocator keeps free back to the system, at most once a second, after a
/// batch. Batches of thousands of calls, and the proxy's per-request buffers on two or more
/// threads, leave glibc's arenas holding free pages that count in the RSS (about 64 MiB after
/// 100,000 calls in the proxy bench, where 64 MiB is the target while streaming 1 GiB). A batch
/// written less than a second after a trim leaves one owed, paid when the writer goes idle: else
/// the last burst's free pages stayed until the next call (the proxy bench: 66.2 MiB before its
/// streams, 57.0 MiB after them, once a later batch had trimmed).
struct Trimmer {
    last: std::time::Instant,
    /// A batch was written since the last trim.
    owed: bool,
}

impl Trimmer {
    const EVERY: Duration = Duration::from_secs(1);

    fn new() -> Self {
        Self {
            last: std::time::Instant::now(),
            owed: false,
        }
    }

    fn after_batch(&mut self) {
        self.owed = true;
        if self.last.elapsed() >= Self::EVERY {
            self.trim();
        }
    }

    /// How long until the owed trim may run; `None` when none is owed.
    fn due_in(&self) -> Option<Duration> {
        self.owed
            .then(|| Self::EVERY.saturating_sub(self.last.elapsed()))
    }

    fn trim(&mut self) {
        self.last = std::time::Instant::now();
        self.owed = false;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free memory to the system; it has no preconditions.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch within a second of the last trim owes one, due when that second is up; a trim
    /// pays it; a batch a second or more after the last trim trims at once and owes nothing.
    #[test]
    fn a_batch_soon_after_a_trim_owes_one_until_it_runs() {
        let mut trimmer = Trimmer::new();
        assert_eq!(trimmer.due_in(), None, "nothing written, nothing owed");
        trimmer.after_batch();
        let wait = trimmer
            .due_in()
            .expect("a batch right after the last trim owes one");
        assert!(wait > Duration::ZERO && wait <= Trimmer::EVERY, "{wait:?}");
        trimmer.trim();
        assert_eq!(trimmer.due_in(), None);
        trimmer.last -= Trimmer::EVERY;
        trimmer.after_batch();
        assert_eq!(trimmer.due_in(), None, "trimmed with the batch");
        trimmer.last -= Trimmer::EVERY;
        trimmer.owed = true;
        assert_eq!(trimmer.due_in(), Some(Duration::ZERO), "overdue: at once");
    }
}
