//! The history: runs, their calls and paginator loops, behind one small trait, [`RunStore`].
//!
//! Below the profile and above the record layer only: a store takes plain records
//! ([`crate::record`]) and gives back the aggregates reports read. All SQL lives here. Two SQL
//! backends, [`sqlite`] (a file, the default) and [`postgres`] (a history shared by many
//! machines), write in their own ways and read through the same code ([`sql`]), so the same runs
//! give the same reports from either; [`push`] copies local runs to a server. [`memory`] keeps
//! everything in memory (tests, the proof that the seam is real, and the report of a `run
//! --no-record`). Totals are summed by one engine, [`tally`], whatever the backend, and the
//! repeated-call groups a batch writes are planned by one [`digest_book`], the call sites and
//! tests it names interned by one [`label_book`]. The history holds
//! nothing secret: access keys only as fingerprints, no parameter values, no bodies.

pub mod digest_book;
pub mod label_book;
pub mod memory;
pub mod postgres;
pub mod push;
pub mod sql;
pub mod sqlite;
pub mod tally;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::BoxStream;
use rust_decimal::Decimal;

use crate::record::{
    Call, CallGroupRow, ClientProcess, FailureGroup, GroupBy, ImpliedGroup, Loop, LoopRow,
    ObjectWrite, OperationTally, RegionGroup, RepeatGroup, ResourceGroup, RunEnd, RunFilter,
    RunMeta, RunRow, StoredCall, TimelinePoint,
};

pub use crate::record::{duration_micros, from_micros, micros};
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {message}")]
    Open { path: String, message: String },
    #[error("the database {path} is not usable: {message}; move it aside (tollgate starts a new one) or pass --db with another path")]
    Corrupt { path: String, message: String },
    #[error("the database {path} was written by a newer tollgate (its schema has migration {version}, which this tollgate {} does not know): upgrade tollgate, or pass --db with another path", env!("CARGO_PKG_VERSION"))]
    Newer { path: String, version: i64 },
    #[error("the database is damaged ({0}): move it aside (tollgate starts a new one) or pass --db with another path")]
    Damaged(String),
    /// The driver's message is the whole story: it is not repeated as a source.
    #[error("database error: {0}")]
    Query(sqlx::Error),
    /// The SQLite writer's connection failed ([`sqlite`]'s writer is not sqlx's).
    #[error("database error: {0}")]
    Write(rusqlite::Error),
    #[error("the database server cannot be reached ({0})")]
    Unreachable(String),
    #[error(
        "no database at {path}: record a run first (`tollgate run -- CMD`), or pass --db PATH"
    )]
    Missing { path: String },
    #[error("cannot use the database {location}: {message}; give a SQLite file as PATH, sqlite://PATH or sqlite:PATH, or a PostgreSQL database as postgres://USER@HOST/DB")]
    Unsupported { location: String, message: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_corruption(&error) {
            StoreError::Damaged(error.to_string())
        } else if matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) {
            StoreError::Unreachable(error.to_string())
        } else {
            StoreError::Query(error)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                StoreError::Damaged(error.to_string())
            }
            _ => StoreError::Write(error),
        }
    }
}

/// SQLITE_CORRUPT and SQLITE_NOTADB (and their extended codes).
fn is_corruption(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => database
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 11 | 26)),
        _ => false,
    }
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

/// Writes `calls` as one batch (no client processes, no loops) and ends the run: a whole run in
/// one go, for tests.
#[cfg(test)]
pub(crate) async fn write_whole_run(store: &dyn RunStore, run: i64, calls: &[Call]) {
    let processes = vec![None; calls.len()];
    let batch = Batch {
        calls,
        processes: &processes,
        loops: &[],
    };
    store.write_batch(run, batch).await.unwrap();
    store.end_run(run, &RunEnd::default()).await.unwrap();
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

    /// A run that died (`incomplete`) had answered `answered` calls: the ones not recorded are
    /// counted as lost, with why. `Some(missing)` once the run is settled (0 for a run that
    /// ended), `None` while it is still running or when it is not in this store.
    async fn note_unrecorded(&self, uuid: &str, answered: u64) -> Result<Option<u64>, StoreError>;

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

    /// The runs' attempts grouped `by` who made them, per run and operation (and resource, for
    /// groupings kept by resource), from the totals the writer keeps: a few rows per group
    /// whatever the number of calls.
    async fn call_groups(&self, runs: &[i64], by: GroupBy)
        -> Result<Vec<CallGroupRow>, StoreError>;

    /// Every call of the runs (oldest run first, each in the order its calls started),
    /// streamed: memory stays bounded however many there are.
    fn calls<'a>(&'a self, runs: &'a [i64]) -> BoxStream<'a, Result<StoredCall, StoreError>>;

    /// The runs' S3 object writes and multipart calls ([`crate::record::S3_OBJECT_WRITES`]),
    /// oldest run first and in the order they started, without reading the other calls.
    async fn s3_object_writes(&self, runs: &[i64]) -> Result<Vec<ObjectWrite>, StoreError>;

    /// Keeps the run's findings (computed when it ended), replacing any kept before.
    async fn save_findings(&self, run: i64, findings: &[StoredFinding]) -> Result<(), StoreError>;

    /// The findings kept for the runs: oldest run first, each in its report's order.
    async fn findings(&self, runs: &[i64]) -> Result<Vec<StoredFinding>, StoreError>;

    /// Deletes the runs that started before `before_us` and are not still recording, with
    /// their calls, loops and totals (retention). Returns the runs and calls deleted.
    async fn prune(&self, before_us: i64) -> Result<Pruned, StoreError>;

    /// Waits for pending work and closes connections.
    async fn close(&self);
}

/// One finding of a run, as kept when the run ended: what the report of the run alone says,
/// reduced to what a history needs (no title or advice, which the rules word anew each time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    pub run_id: i64,
    /// Its place in the report (0 is the first).
    pub ordinal: u64,
    /// `rule:service:operation[:resource]`, as `--ignore-finding` takes it.
    pub id: String,
    pub rule: String,
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    /// The calls it looked at, and what they cost.
    pub calls: u64,
    pub cost: Decimal,
    /// What it claims to save: calls and exact money (`None`: no saving claimed).
    pub saving: Option<(u64, Decimal)>,
}

/// What [`RunStore::prune`] deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub runs: u64,
    pub calls: u64,
}

/// A run's state once it ended: `incomplete` when calls it made were not recorded (the store
/// failed or the queue overflowed), so that a gate or a weekly report never takes it for whole.
pub fn ended_state(end: &RunEnd) -> &'static str {
    if end.lost > 0 {
        "incomplete"
    } else {
        "complete"
    }
}

/// Where the history is: a SQLite file, or a PostgreSQL database shared by many machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// The connection URL, password included: never shown (see [`Location::shown`]).
    Postgres(String),
}

impl Location {
    /// For people: a path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(url) => postgres::redact(url),
        }
    }
}

/// Opens the history named by `--db`/`TOLLGATE_DB` (see [`location_of`]), else `tollgate.db`
/// in the state directory.
pub async fn open(explicit: Option<&Path>) -> Result<Arc<dyn RunStore>, StoreError> {
    open_at(&resolve(explicit)?).await
}

/// Opens (creating or migrating) the history at `location`.
pub async fn open_at(location: &Location) -> Result<Arc<dyn RunStore>, StoreError> {
    Ok(match location {
        Location::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        Location::Postgres(url) => Arc::new(PostgresStore::open(url).await?),
    })
}

/// Opens an existing history for reading: a report never creates a SQLite file.
pub async fn open_existing(explicit: Option<&Path>) -> Result<Arc<dyn RunStore>, StoreError> {
    let location = resolve(explicit).map_err(|error| match error {
        StoreError::Open { path, message } => StoreError::Open {
            path,
            message: format!("{message}; pass --db PATH"),
        },
        other => other,
    })?;
    if let Location::Sqlite(path) = &location {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.display().to_string(),
            });
        }
    }
    open_at(&location).await
}

/// The history for this invocation: the one `--db`/`TOLLGATE_DB` names ([`location_of`]),
/// else `tollgate.db` in the state directory.
pub fn resolve(explicit: Option<&Path>) -> Result<Location, StoreError> {
    match explicit {
        Some(value) => location_of(value),
        None => crate::home::state_dir()
            .map(|dir| Location::Sqlite(dir.join("tollgate.db")))
            .map_err(|error| StoreError::Open {
                path: "the state directory".into(),
                message: error.to_string(),
            }),
    }
}

/// The history a `--db`/`TOLLGATE_DB` value names: `postgres://…` or `postgresql://…` a
/// PostgreSQL database; a path, `sqlite://PATH` or `sqlite:PATH` a SQLite file
/// (`sqlite:///abs/path` is absolute, `sqlite://rel.db` relative). Any other `scheme://` is
/// refused, and nothing is created: taken for a path, `mysql://host/db` would make a folder
/// `mysql:` in the working directory and a SQLite file in it.
pub fn location_of(value: &Path) -> Result<Location, StoreError> {
    // A name that is not UTF-8 is no URL.
    let Some(text) = value.to_str() else {
        return Ok(Location::Sqlite(value.to_path_buf()));
    };
    let unsupported = |message: String| StoreError::Unsupported {
        location: postgres::redact(text),
        message,
    };
    let path = match url_scheme(text) {
        Some(scheme) if scheme.eq_ignore_ascii_case("sqlite") => &text[scheme.len() + 3..],
        Some(_) if postgres::is_postgres_url(text) => {
            return Ok(Location::Postgres(text.to_string()))
        }
        Some(scheme) => {
            return Err(unsupported(format!(
                "{scheme}:// databases are not supported"
            )));
        }
        None => match text.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sqlite:") => &text[7..],
            _ => return Ok(Location::Sqlite(value.to_path_buf())),
        },
    };
    if path.is_empty() {
        return Err(unsupported("it names no file".into()));
    }
    Ok(Location::Sqlite(PathBuf::from(path)))
}

/// The scheme of `scheme://...` (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(value: &str) -> Result<String, String> {
        match location_of(Path::new(value)) {
            Ok(Location::Sqlite(path)) => Ok(path.display().to_string()),
            Ok(other) => Err(format!("not a file: {other:?}")),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn database_values_name_a_sqlite_file() {
        for (value, path) in [
            ("tollgate.db", "tollgate.db"),
            ("/var/lib/tollgate/t.db", "/var/lib/tollgate/t.db"),
            ("sqlite:///var/lib/t.db", "/var/lib/t.db"),
            ("sqlite://rel/t.db", "rel/t.db"),
            ("sqlite:t.db", "t.db"),
            ("sqlite:/abs/t.db", "/abs/t.db"),
            ("SQLITE://t.db", "t.db"),
            // Not URLs: no scheme before `://`.
            ("backups/x://y.db", "backups/x://y.db"),
            ("./postgres://x", "./postgres://x"),
        ] {
            assert_eq!(file(value).as_deref(), Ok(path), "{value}");
        }
    }

    #[test]
    fn postgres_urls_name_a_postgres_database() {
        for value in [
            "postgres://h/db",
            "postgresql://u@h:5432/db",
            "POSTGRES://h/db",
        ] {
            assert_eq!(
                location_of(Path::new(value)).unwrap(),
                Location::Postgres(value.to_string())
            );
        }
        let location = location_of(Path::new("postgres://w:pw@h/db")).unwrap();
        assert_eq!(location.shown(), "postgres://w:***@h/db");
    }

    #[test]
    fn other_urls_are_refused_naming_the_supported_forms() {
        for value in ["mysql://h/db", "s3://b/k"] {
            let error = file(value).unwrap_err();
            assert!(error.contains(value), "{error}");
            assert!(
                error.contains("PATH, sqlite://PATH or sqlite:PATH")
                    && error.contains("postgres://USER@HOST/DB"),
                "{error}"
            );
        }
        // A password in a refused URL is not repeated.
        let error = file("mysql://u:hunter22@h/db").unwrap_err();
        assert!(!error.contains("hunter22"), "{error}");
        for value in ["sqlite://", "sqlite:"] {
            assert!(
                file(value).unwrap_err().contains("names no file"),
                "{value}"
            );
        }
    }
}
