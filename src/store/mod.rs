//! The history: runs, their calls and paginator loops, behind one small trait, [`RunStore`].
//!
//! Below the profile and above the record layer only: a store takes plain records
//! ([`crate::record`]) and gives back the aggregates reports read. All SQL lives here. The
//! SQLite backend is in [`sqlite`]; [`memory`] keeps everything in memory (tests, the proof
//! that the seam is real, and the report of a `run --no-record`). Totals are summed by one engine, [`tally`], whatever the
//! backend. The history holds nothing secret: access keys only as fingerprints, no parameter
//! values, no bodies.

pub mod memory;
pub mod sqlite;
pub mod tally;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::BoxStream;

use crate::record::{
    Call, ClientProcess, FailureGroup, ImpliedGroup, Loop, LoopRow, OperationTally, RegionGroup,
    RepeatGroup, ResourceGroup, RunEnd, RunFilter, RunMeta, RunRow, StoredCall, TimelinePoint,
};

pub use crate::record::{duration_micros, from_micros, micros};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {message}")]
    Open { path: String, message: String },
    #[error("the database {path} is not usable: {message}; move it aside (tollgate starts a new one) or pass --db with another path")]
    Corrupt { path: String, message: String },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error(
        "no database at {path}: record a run first (`tollgate run -- CMD`), or pass --db PATH"
    )]
    Missing { path: String },
}

/// One batch of a run's calls, in the order they completed, with the process that made each
/// (when known), and the loops that finished with them.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub calls: &'a [Call],
    /// One per call.
    pub processes: &'a [Option<ClientProcess>],
    pub loops: &'a [Loop],
}

/// Where runs are recorded and read back. A run is written by one writer (its batches in
/// order); reads may come from anywhere, at any time.
#[async_trait::async_trait]
pub trait RunStore: Send + Sync {
    /// Where the history is, for people (a path, or a URL without its password).
    fn location(&self) -> String;

    /// Records the start of a run; returns its id.
    async fn begin_run(&self, meta: &RunMeta) -> Result<i64, StoreError>;

    /// Records a batch of the run's calls and loops, with their totals, all or nothing.
    async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError>;

    /// Records the end of a run.
    async fn end_run(&self, run: i64, end: &RunEnd) -> Result<(), StoreError>;

    /// Run ids matching the filter, newest first.
    async fn select_runs(&self, filter: &RunFilter) -> Result<Vec<i64>, StoreError>;

    /// The runs `ids` (all when `None`), newest first, at most `limit`.
    async fn runs(&self, ids: Option<&[i64]>, limit: i64) -> Result<Vec<RunRow>, StoreError>;

    /// Per service and operation over the runs.
    async fn operations(&self, runs: &[i64]) -> Result<Vec<OperationTally>, StoreError>;

    /// The runs' paginator loops, in order.
    async fn loops(&self, runs: &[i64]) -> Result<Vec<LoopRow>, StoreError>;

    /// Groups of first attempts with identical parameters, `min` calls or more.
    async fn repeated_calls(&self, runs: &[i64], min: u64) -> Result<Vec<RepeatGroup>, StoreError>;

    /// First attempts of these operations, by resource.
    async fn calls_by_resource(
        &self,
        runs: &[i64],
        operations: &[(&str, &str)],
    ) -> Result<Vec<ResourceGroup>, StoreError>;

    /// Failed AWS calls by operation and outcome.
    async fn failures(&self, runs: &[i64]) -> Result<Vec<FailureGroup>, StoreError>;

    /// Known operations' calls by service and region.
    async fn regions(&self, runs: &[i64]) -> Result<Vec<RegionGroup>, StoreError>;

    /// Implied costs by the operation and resource causing them.
    async fn implied(&self, runs: &[i64]) -> Result<Vec<ImpliedGroup>, StoreError>;

    /// Calls over time, in at most `slices` equal slices from the first call to the last.
    async fn timeline(&self, runs: &[i64], slices: i64) -> Result<Vec<TimelinePoint>, StoreError>;

    /// Every call of the runs (oldest run first, each in the order its calls started),
    /// streamed: memory stays bounded however many there are.
    fn calls<'a>(&'a self, runs: &'a [i64]) -> BoxStream<'a, Result<StoredCall, StoreError>>;

    /// Waits for pending work and closes connections.
    async fn close(&self);
}

/// Opens the history named by `--db`/`TOLLGATE_DB` (a path or `sqlite://` URL), else
/// `tollgate.db` in the state directory.
pub async fn open(explicit: Option<&Path>) -> Result<Arc<dyn RunStore>, StoreError> {
    let path = resolve_path(explicit).map_err(|error| StoreError::Open {
        path: "the state directory".into(),
        message: error.to_string(),
    })?;
    Ok(Arc::new(SqliteStore::open(&path).await?))
}

/// Opens an existing history for reading: a report never creates one.
pub async fn open_existing(explicit: Option<&Path>) -> Result<Arc<dyn RunStore>, StoreError> {
    let path = resolve_path(explicit).map_err(|error| StoreError::Open {
        path: "the state directory".into(),
        message: format!("{error}; pass --db PATH"),
    })?;
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.display().to_string(),
        });
    }
    Ok(Arc::new(SqliteStore::open(&path).await?))
}

/// The database file for this invocation: `--db`/`TOLLGATE_DB`, else `tollgate.db` in the state
/// directory.
pub fn resolve_path(explicit: Option<&Path>) -> std::io::Result<PathBuf> {
    match explicit {
        Some(path) => Ok(path.to_path_buf()),
        None => Ok(crate::home::state_dir()?.join("tollgate.db")),
    }
}
