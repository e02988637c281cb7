//! The SQLite backend: one file, WAL, a batching writer's transactions, totals kept per run so
//! that reports read a few rows per operation (`migrations/sqlite/`, applied on open).

mod fetch;
mod sqlfn;
mod totals;
mod write;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::sql::{runs, SqlBackend};
use super::{Batch, StoreError};

pub use crate::store::digest_book::DigestBook;
use crate::store::label_book::LabelBook;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another's write lock (another tollgate recording into the
/// same file) before its statement fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Checkpoint every 16,384 pages (64 MiB of WAL) rather than SQLite's 1,000: the checkpoint runs
/// inside a commit and copies the pages the batches rewrite every time (the totals, the index,
/// the last page of calls) once per checkpoint, so fewer checkpoints copy less (writer +10% in
/// the store bench).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_384;
/// The WAL file shrinks back to this after a checkpoint.
const JOURNAL_SIZE_LIMIT_BYTES: u64 = 64 << 20;

/// A count or size as SQLite's integer, saturating past `i64::MAX`.
fn saturating(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An open database.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// Each run's digest groups and labels seen so far (one writer per run).
    books: Arc<tokio::sync::Mutex<HashMap<i64, (DigestBook, LabelBook)>>>,
    /// The connection batches are written on (see [`writer`]).
    writer: Arc<writer::Writer>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, and marks runs that died without an
    /// end as incomplete.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                crate::home::ensure_private_dir(parent).map_err(|e| StoreError::Open {
                    path: shown.clone(),
                    message: format!("cannot create {}: {e}", parent.display()),
                })?;
            }
        }
        create_private(path).map_err(|e| StoreError::Open {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        check_integrity(path).await?;
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{shown}"))
            .map_err(|e| StoreError::Open {
                path: shown.clone(),
                message: e.to_string(),
            })?
            .filename(path)
            .create_if_missing(true)
            // WAL: readers (a report while a run records) never block the writer, and a crash
            // loses at most the transaction in flight.
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL under WAL is durable against a process crash, and lets a commit skip the
            // fsync of every transaction; a power loss may drop the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES.to_string())
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    let mut handle = connection.lock_handle().await?;
                    sqlfn::register(handle.as_raw_handle())
                        .map_err(|message| sqlx::Error::Configuration(message.into()))
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| classify(&shown, e))?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => classify(&shown, e),
            // Not damage: a newer tollgate wrote it, and this one must not guess at its schema.
            sqlx::migrate::MigrateError::VersionMissing(version) => StoreError::Newer {
                path: shown.clone(),
                version,
            },
            other => StoreError::Corrupt {
                path: shown.clone(),
                message: other.to_string(),
            },
        })?;
        let store = SqliteStore {
            pool,
            path: path.to_path_buf(),
            books: Arc::default(),
            writer: Arc::new(writer::Writer::new(path)),
        };
        // Reading must work on a full disk or a read-only file: marking dead runs is a write,
        // and its failure only means it happens at a later open.
        if let Err(error) = runs::mark_dead_runs_incomplete(&store).await {
            tracing::warn!("could not mark runs that died as incomplete: {error}");
        }
        if let Err(error) = store.rebuild_missing_totals().await {
            tracing::warn!(
                "could not build the totals of runs recorded by an older tollgate: {error}"
            );
        }
        Ok(store)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs recorded before the writer kept totals (an older tollgate) get them from their
    /// calls, once.
    async fn rebuild_missing_totals(&self) -> Result<(), StoreError> {
        let runs: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM runs WHERE totals = 0 AND state != 'running'")
                .fetch_all(&self.pool)
                .await?;
        for run in runs {
            if totals::rebuild(&self.pool, &self.writer, run).await? {
                tracing::info!("run {run}: totals built from its calls");
            }
        }
        Ok(())
    }

    async fn close(&self) {
        self.writer.close();
        // The WAL's pages back into the file, so that the file alone is the whole history
        // (copied, backed up, checked); best effort: a read-only or full disk keeps its WAL.
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::debug!("no checkpoint at close: {error}");
        }
        self.pool.close().await;
    }
}

#[async_trait::async_trait]
impl SqlBackend for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError> {
        SqliteStore::write_batch(self, run, batch).await
    }

    async fn forget_run(&self, run: i64) {
        self.books.lock().await.remove(&run);
    }

    async fn close(&self) {
        SqliteStore::close(self).await
    }
}

/// The history names buckets, tables and queues: its file is the owner's alone (0600), and so
/// are the `-wal` and `-shm` files SQLite creates beside it, which take the file's mode. A file
/// an older tollgate created readable by others is narrowed.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let metadata = std::fs::metadata(path)?;
            let ours = metadata.uid() == nix::unistd::getuid().as_raw();
            if ours && metadata.is_file() && metadata.permissions().mode() & 0o077 != 0 {
                // Reading must still work where the mode cannot be changed (a read-only mount).
                match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
                    Ok(()) => tracing::info!("{}: made private (mode 600)", path.display()),
                    Err(error) => tracing::warn!(
                        "{} can be read by others and its mode cannot be changed: {error}",
                        path.display()
                    ),
                }
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// A whole-file check up to this size (about 0.1 s here); past it, every table but the calls
/// (the bulk of the file, read only by the CSV export, whose errors say the same) is checked.
const FULL_CHECK_BYTES: u64 = 64 << 20;

/// Refuses a damaged database before anything writes to it: SQLite's `quick_check` (page
/// structure, records and row counts, not index contents), over a read-only connection.
async fn check_integrity(path: &Path) -> Result<(), StoreError> {
    use sqlx::{ConnectOptions as _, Connection as _};
    let shown = path.display().to_string();
    let length = match std::fs::metadata(path) {
        Ok(metadata) => metadata.len(),
        Err(_) => return Ok(()),
    };
    if length == 0 {
        return Ok(());
    }
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| classify(&shown, e))?;
    let checks: Vec<String> = if length <= FULL_CHECK_BYTES {
        vec!["PRAGMA quick_check(1)".into()]
    } else {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name != 'calls'",
        )
        .fetch_all(&mut connection)
        .await
        .map_err(|e| classify(&shown, e))?;
        tables
            .iter()
            .map(|table| format!("PRAGMA quick_check(\"{}\")", table.replace('"', "")))
            // The calls table's right edge (where the writer appends) and its first rows.
            .chain(["SELECT 'ok' FROM (SELECT max(id), min(id) FROM calls)".into()])
            .collect()
    };
    for check in checks {
        let verdict: Vec<String> = sqlx::query_scalar(&check)
            .fetch_all(&mut connection)
            .await
            .map_err(|e| classify(&shown, e))?;
        if verdict.first().map(String::as_str) != Some("ok") {
            let _ = connection.close().await;
            return Err(StoreError::Corrupt {
                path: shown,
                message: format!(
                    "damaged ({})",
                    verdict.first().map(String::as_str).unwrap_or("no answer")
                ),
            });
        }
    }
    let _ = connection.close().await;
    Ok(())
}

/// "file is not a database" and friends are corruption; everything else an open failure.
fn classify(path: &str, error: sqlx::Error) -> StoreError {
    let message = error.to_string();
    let corrupt = message.contains("not a database")
        || message.contains("malformed")
        || message.contains("corrupt");
    if corrupt {
        StoreError::Corrupt {
            path: path.to_string(),
            message,
        }
    } else {
        StoreError::Open {
            path: path.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Call, ClientProcess, Loop, RunEnd, RunMeta};
    use crate::store::{micros, Batch, RunStore};
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::SystemTime;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// Issue 13: the database was created 0644, yet it names buckets, tables and queues.
    #[tokio::test]
    async fn the_database_and_its_wal_and_shm_are_private_to_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let path = state.join("tollgate.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let run = RunStore::begin_run(&store, &RunMeta::new("run"))
            .await
            .unwrap();
        let calls = vec![Call::sample("s3", "ListBuckets")];
        let batch = Batch {
            calls: &calls,
            processes: &[None],
            loops: &[],
        };
        RunStore::write_batch(&store, run, batch).await.unwrap();
        assert_eq!(mode(&state), 0o700, "the state directory");
        assert_eq!(mode(&path), 0o600, "the database");
        let wal = state.join("tollgate.db-wal");
        let shm = state.join("tollgate.db-shm");
        assert!(
            wal.exists() && shm.exists(),
            "WAL mode keeps both while open"
        );
        assert_eq!(mode(&wal), 0o600, "the WAL");
        assert_eq!(mode(&shm), 0o600, "the shared memory index");
        store.close().await;

        // One an older tollgate left readable by others is narrowed on open.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        store.close().await;
    }

    /// Retention: old settled runs go with everything recorded about them; a run still
    /// recording stays, however old; newer runs are untouched.
    #[tokio::test]
    async fn prune_deletes_old_settled_runs_with_their_calls_and_totals() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let day = |days_ago: u64| SystemTime::now() - Duration::from_secs(days_ago * 86_400);
        let mut ids = Vec::new();
        for (days_ago, ends) in [(100, true), (95, false), (10, true)] {
            let meta = RunMeta {
                started_at: day(days_ago),
                ..RunMeta::new("run")
            };
            let run = RunStore::begin_run(&store, &meta).await.unwrap();
            let calls = vec![Call::sample("s3", "ListBuckets"); 3];
            let batch = Batch {
                calls: &calls,
                processes: &[None, None, None],
                loops: &[],
            };
            RunStore::write_batch(&store, run, batch).await.unwrap();
            if ends {
                RunStore::end_run(&store, run, &RunEnd::default())
                    .await
                    .unwrap();
            }
            ids.push(run);
        }
        let pruned = RunStore::prune(&store, micros(day(90))).await.unwrap();
        assert_eq!((pruned.runs, pruned.calls), (1, 3));
        let left: Vec<i64> = store
            .runs(None, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, vec![ids[2], ids[1]]);
        for table in [
            "calls",
            "operation_totals",
            "region_totals",
            "timeline_totals",
        ] {
            let orphans: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE run_id = ?"))
                    .bind(ids[0])
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            assert_eq!(orphans, 0, "{table}");
        }
        store.close().await;
    }

    /// Issue 24 item 3: the per-call mark of a HEAD of a listed key reaches the totals the
    /// `head-per-key` rule reads, in SQLite and in memory alike, and its rebuild from calls.
    #[tokio::test]
    async fn heads_of_listed_keys_are_counted_by_resource() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let memory = crate::store::MemoryStore::default();
        let calls: Vec<Call> = (0..5)
            .map(|n| Call {
                resource: Some("b".into()),
                listed_before: Some(n % 2 == 0),
                cost: rust_decimal::Decimal::new(4, 7),
                ..Call::sample("s3", "HeadObject").at_us(n)
            })
            .collect();
        let processes = vec![None; calls.len()];
        let mut groups = Vec::new();
        for db in [&store as &dyn RunStore, &memory] {
            let run = db.begin_run(&RunMeta::new("run")).await.unwrap();
            let batch = Batch {
                calls: &calls,
                processes: &processes,
                loops: &[],
            };
            db.write_batch(run, batch).await.unwrap();
            groups.push(
                db.calls_by_resource(&[run], &[("s3", "HeadObject")])
                    .await
                    .unwrap(),
            );
        }
        for group in &groups {
            assert_eq!(group.len(), 1);
            assert_eq!((group[0].count, group[0].listed_before), (5, 3));
            assert_eq!(
                group[0].listed_before_cost,
                rust_decimal::Decimal::new(12, 7)
            );
        }
        let stored: Vec<Option<i64>> =
            sqlx::query_scalar("SELECT listed_before FROM calls ORDER BY seq, id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(stored.iter().filter(|f| **f == Some(1)).count(), 3);
        store.close().await;
    }

    /// Calls of two call sites, tests and SDKs over two resources, with a retry, an error, a
    /// process and a loop: what the group totals must sum.
    fn grouped_calls() -> (Vec<Call>, Vec<Option<ClientProcess>>, Vec<Loop>) {
        let calls: Vec<Call> = (0..40)
            .map(|n: i64| Call {
                resource: Some(format!("bucket-{}", n % 2)),
                callsite: (n % 5 != 0).then(|| format!("sync.py:{} copy", 10 + n % 3)),
                test: (n % 4 == 0).then(|| "test_sync.py::test_copy".to_string()),
                sdk: Some(
                    if n % 3 == 0 {
                        "boto3/1.40"
                    } else {
                        "aws-cli/1.43"
                    }
                    .into(),
                ),
                app_id: None,
                attempt: Some(if n == 7 { 2 } else { 1 }),
                status: Some(if n == 9 { 503 } else { 200 }),
                cost: rust_decimal::Decimal::new(4 + n, 7),
                transfer: rust_decimal::Decimal::new(n, 9),
                loop_id: (n < 3).then_some(1),
                ..Call::sample(
                    "s3",
                    if n % 2 == 0 {
                        "GetObject"
                    } else {
                        "ListObjectsV2"
                    },
                )
                .at_us(n)
            })
            .collect();
        let processes = (0..calls.len())
            .map(|n| {
                (n % 2 == 0).then(|| ClientProcess {
                    pid: 42,
                    command: "python sync.py".into(),
                })
            })
            .collect();
        let listing = Loop {
            id: 1,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("bucket-0".into()),
            access_key: None,
            listing: "bucket=bucket-0".into(),
            started_at: calls[0].started_at,
            ended_at: calls[2].started_at,
            pages: 3,
            attempts: 3,
            items: Some(3),
            items_unknown: None,
            page_size: None,
            page_size_max: None,
            complete: true,
            resumed: false,
            relisting: false,
            cost: rust_decimal::Decimal::ZERO,
            transfer: rust_decimal::Decimal::ZERO,
            implied: rust_decimal::Decimal::ZERO,
            callsite: calls[1].callsite.clone(),
        };
        (calls, processes, vec![listing])
    }

    async fn all_groups(
        db: &dyn RunStore,
        run: i64,
    ) -> Vec<
        Vec<(
            Option<String>,
            String,
            Option<String>,
            u64,
            u64,
            u64,
            String,
        )>,
    > {
        let mut out = Vec::new();
        for by in crate::record::GroupBy::ALL {
            let mut rows: Vec<_> = db
                .call_groups(&[run], by)
                .await
                .unwrap()
                .into_iter()
                .map(|r| {
                    (
                        r.key,
                        r.operation,
                        r.resource,
                        r.attempts,
                        r.retries,
                        r.errors,
                        crate::record::exact(r.total),
                    )
                })
                .collect();
            rows.sort();
            out.push(rows);
        }
        out
    }

    /// Issue 21: a report grouped a million calls by streaming every one of them (30 s). The
    /// writer now keeps group totals: SQLite's equal the in-memory store's sums of the calls,
    /// and a database recorded before them gets the same ones from its calls when migrated.
    #[tokio::test]
    async fn group_totals_are_kept_by_the_writer_and_built_for_older_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let memory = crate::store::MemoryStore::default();
        let (calls, processes, loops) = grouped_calls();
        let mut found = Vec::new();
        let mut run_ids = Vec::new();
        for db in [&store as &dyn RunStore, &memory] {
            let run = db.begin_run(&RunMeta::new("run")).await.unwrap();
            // Two batches: the upserts add up.
            for half in [0..25, 25..40] {
                let batch = Batch {
                    calls: &calls[half.clone()],
                    processes: &processes[half.clone()],
                    loops: if half.start == 0 { &loops } else { &[] },
                };
                db.write_batch(run, batch).await.unwrap();
            }
            db.end_run(run, &RunEnd::default()).await.unwrap();
            found.push(all_groups(db, run).await);
            run_ids.push(run);
        }
        assert_eq!(found[0], found[1], "SQLite and memory");
        let sites = &found[0][0];
        let site_calls: u64 = sites.iter().filter(|r| r.0.is_some()).map(|r| r.3).sum();
        assert_eq!(site_calls, 32, "8 of 40 named no call site");
        assert!(sites.iter().any(|r| r.4 == 1), "the retry is kept");
        assert!(sites.iter().any(|r| r.5 == 1), "the error is kept");
        let commands = &found[0][4];
        assert_eq!(
            commands
                .iter()
                .filter(|r| r.0.as_deref() == Some("python sync.py"))
                .map(|r| r.3)
                .sum::<u64>(),
            20
        );
        let before_loops = store.loops(&[run_ids[0]]).await.unwrap();
        assert_eq!(before_loops[0].callsite.as_deref(), Some("sync.py:11 copy"));
        store.close().await;

        // As a database written before 0011: no group totals, no loop call sites (and the
        // calls' labels as text, as before 0013, which 0011 reads).
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        before_call_labels(&pool).await;
        for statement in [
            "DROP TABLE group_totals",
            "DROP INDEX calls_s3_object_writes",
            "ALTER TABLE loops DROP COLUMN callsite",
            "DELETE FROM _sqlx_migrations WHERE version = 11",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(all_groups(&store, run_ids[0]).await, found[1], "migrated");
        let loops = store.loops(&[run_ids[0]]).await.unwrap();
        assert_eq!(loops[0].callsite.as_deref(), Some("sync.py:11 copy"));
        // A run recorded before any totals is rebuilt whole, groups included, once.
        totals::forget_totals(store.pool()).await;
        store.close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(all_groups(&store, run_ids[0]).await, found[1], "rebuilt");
        store.close().await;
    }

    /// Takes the database back to before 0013: the calls' call sites and tests as text in
    /// their rows, no labels.
    async fn before_call_labels(pool: &SqlitePool) {
        for statement in [
            "ALTER TABLE calls ADD COLUMN callsite TEXT",
            "ALTER TABLE calls ADD COLUMN test TEXT",
            "UPDATE calls SET \
             callsite = (SELECT text FROM call_labels l \
                         WHERE l.run_id = calls.run_id AND l.label_id = calls.callsite_label), \
             test = (SELECT text FROM call_labels l \
                     WHERE l.run_id = calls.run_id AND l.label_id = calls.test_label)",
            "ALTER TABLE calls DROP COLUMN callsite_label",
            "ALTER TABLE calls DROP COLUMN test_label",
            "DROP TABLE call_labels",
            "DELETE FROM _sqlx_migrations WHERE version = 13",
        ] {
            sqlx::query(statement).execute(pool).await.unwrap();
        }
    }

    /// A database written before 0013 (migrations 0001-0012: call sites and tests as text in
    /// every call) is migrated on open: each run's labels stored once, numbered in the order of
    /// their first call, every call reading back the same call site and test, the text
    /// columns gone; and a run written after numbers its own labels from 1.
    #[tokio::test]
    async fn call_sites_and_tests_stored_as_text_are_interned_when_migrated() {
        use futures_util::TryStreamExt as _;
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut copied = 0;
        for entry in std::fs::read_dir(&source).unwrap() {
            let name = entry.unwrap().file_name();
            let version: u32 = name.to_str().unwrap()[..4].parse().unwrap();
            if version <= 12 {
                std::fs::copy(source.join(&name), migrations.join(&name)).unwrap();
                copied += 1;
            }
        }
        assert_eq!(copied, 12);
        let path = dir.path().join("old.db");
        // Two runs; (run, seq, call site, test).
        let mut rows: Vec<(i64, i64, Option<String>, Option<String>)> = Vec::new();
        for run in [1i64, 2] {
            for seq in 0..60i64 {
                rows.push((
                    run,
                    seq,
                    (seq % 4 != 0).then(|| format!("app/sync.py:{} copy_{run}", 10 + seq % 3)),
                    (seq % 6 != 5).then(|| format!("tests/t.py::test_{}", seq / 20)),
                ));
            }
        }
        {
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            // 0011 sums money with tollgate's functions.
            let pool = SqlitePoolOptions::new()
                .after_connect(|connection, _| {
                    Box::pin(async move {
                        let mut handle = connection.lock_handle().await?;
                        sqlfn::register(handle.as_raw_handle())
                            .map_err(|message| sqlx::Error::Configuration(message.into()))
                    })
                })
                .connect_with(options)
                .await
                .unwrap();
            sqlx::migrate::Migrator::new(migrations.as_path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
            for run in [1i64, 2] {
                sqlx::query(
                    "INSERT INTO runs (id, uuid, kind, state, started_at_us, tollgate_version, \
                     pricing_version, model_version) \
                     VALUES (?, ?, 'run', 'complete', 0, '0', '0', '0')",
                )
                .bind(run)
                .bind(format!("u{run}"))
                .execute(&pool)
                .await
                .unwrap();
            }
            for (run, seq, callsite, test) in &rows {
                sqlx::query(
                    "INSERT INTO calls (run_id, seq, started_at_us, duration_us, kind, service, \
                     operation, host, status, throttled, bytes_sent, bytes_received, \
                     price_status, cost_usd, transfer_usd, implied_usd, callsite, test) \
                     VALUES (?, ?, ?, 2000, 'operation', 's3', 'GetObject', 'h', 200, 0, 1, 2, \
                     'priced', '0.0000004', '0', '0', ?, ?)",
                )
                .bind(run)
                .bind(seq)
                .bind(seq * 1_000)
                .bind(callsite)
                .bind(test)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        }

        let store = SqliteStore::open(&path).await.unwrap();
        for run in [1i64, 2] {
            let read: Vec<(i64, Option<String>, Option<String>)> = store
                .calls(&[run])
                .map_ok(|c| (c.started_at_us, c.callsite, c.test))
                .try_collect()
                .await
                .unwrap();
            let want: Vec<(i64, Option<String>, Option<String>)> = rows
                .iter()
                .filter(|r| r.0 == run)
                .map(|r| (r.1 * 1_000, r.2.clone(), r.3.clone()))
                .collect();
            assert_eq!(read, want, "run {run}");
            let labels: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT label_id, kind, text FROM call_labels WHERE run_id = ? ORDER BY label_id",
            )
            .bind(run)
            .fetch_all(store.pool())
            .await
            .unwrap();
            // In the order of their first call: seq 0 names test 0 (and no call site), seq 1
            // site 11, seq 2 site 12, seq 3 site 10, seq 20 test 1, seq 40 test 2.
            let site = |line: u32| {
                (
                    "callsite".to_string(),
                    format!("app/sync.py:{line} copy_{run}"),
                )
            };
            let test = |n: u32| ("test".to_string(), format!("tests/t.py::test_{n}"));
            let want = [test(0), site(11), site(12), site(10), test(1), test(2)];
            let got: Vec<(String, String)> = labels
                .iter()
                .map(|(_, k, t)| (k.clone(), t.clone()))
                .collect();
            assert_eq!(got, want, "run {run}");
            assert!(labels.iter().enumerate().all(|(n, l)| l.0 == n as i64 + 1));
        }
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('calls')")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert!(
            !columns.iter().any(|c| c == "callsite" || c == "test"),
            "{columns:?}"
        );
        assert!(columns.iter().any(|c| c == "callsite_label"), "{columns:?}");
        // The group totals built on open from the calls (0011 ran before 0013) name the labels.
        let groups = store
            .call_groups(&[1], crate::record::GroupBy::Test)
            .await
            .unwrap();
        let tests: u64 = groups
            .iter()
            .filter(|g| g.key.is_some())
            .map(|g| g.attempts)
            .sum();
        assert_eq!(tests, 50);
        // A run written now numbers its labels from 1.
        let run = RunStore::begin_run(&store, &RunMeta::new("run"))
            .await
            .unwrap();
        let calls = vec![Call {
            callsite: Some("new.py:1 f".into()),
            ..Call::sample("s3", "GetObject").at_us(5)
        }];
        let processes = vec![None];
        let batch = Batch {
            calls: &calls,
            processes: &processes,
            loops: &[],
        };
        RunStore::write_batch(&store, run, batch).await.unwrap();
        let id: i64 = sqlx::query_scalar("SELECT callsite_label FROM calls WHERE run_id = ?")
            .bind(run)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(id, 1);
        store.close().await;
    }

    /// The report reads a run's S3 object writes through their partial index, not by reading
    /// every call (a million-call run took a second more), and gets exactly those.
    #[tokio::test]
    async fn s3_object_writes_are_found_through_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let sql = crate::store::sql::read::s3_object_writes_sql(&[1, 2]);
        let plan: Vec<String> = {
            use sqlx::Row as _;
            sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>(3))
                .collect()
        };
        assert!(
            plan.iter()
                .any(|step| step.contains("USING COVERING INDEX calls_s3_object_writes")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
        let calls: Vec<Call> = ["PutObject", "GetObject", "UploadPart", "ListObjectsV2"]
            .iter()
            .enumerate()
            .map(|(n, op)| Call::sample("s3", op).at_us(n as i64))
            .chain([Call::sample("dynamodb", "PutItem").at_us(9)])
            .collect();
        let processes = vec![None; calls.len()];
        let run = RunStore::begin_run(&store, &RunMeta::new("run"))
            .await
            .unwrap();
        let batch = Batch {
            calls: &calls,
            processes: &processes,
            loops: &[],
        };
        RunStore::write_batch(&store, run, batch).await.unwrap();
        let found: Vec<String> = store
            .s3_object_writes(&[run])
            .await
            .unwrap()
            .into_iter()
            .map(|write| write.operation)
            .collect();
        assert_eq!(found, ["PutObject", "UploadPart"]);
        store.close().await;
    }

    /// `dec_sum` sums decimal text exactly, NULL as nothing, and fails on what is not money.
    #[tokio::test]
    async fn dec_sum_adds_a_column_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let sum = |values: &'static str| {
            let pool = store.pool().clone();
            async move {
                sqlx::query_scalar::<_, String>(&format!(
                    "SELECT dec_sum(v) FROM (SELECT NULL AS v WHERE 0 UNION ALL VALUES {values})"
                ))
                .fetch_one(&pool)
                .await
            }
        };
        assert_eq!(sum("('0.1'), ('0.2'), (NULL)").await.unwrap(), "0.3");
        assert_eq!(sum("(NULL)").await.unwrap(), "0");
        let error = sum("('0.1'), ('abc')").await.unwrap_err().to_string();
        assert!(error.contains("\"abc\" is not a decimal"), "{error}");
        let empty: String = sqlx::query_scalar("SELECT dec_sum(v) FROM (SELECT '1' AS v WHERE 0)")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(empty, "0");
        store.close().await;
    }

    /// Issue 24 item 4: a GET's marks (a HEAD it answered, the bytes it received again) reach
    /// the totals the head-then-get and overlapping-ranges rules read, in SQLite and in memory
    /// alike, and again when SQLite rebuilds its totals from the calls.
    #[tokio::test]
    async fn gets_after_heads_and_bytes_received_again_are_counted_by_resource() {
        use rust_decimal::Decimal;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let memory = crate::store::MemoryStore::default();
        // 1,000-byte answers at $0.09 per GB; the third and fourth received 400 and all 1,000
        // bytes again, the fourth a retry (its call is no first attempt to save).
        let calls: Vec<Call> = [
            (true, Some(0), 1),
            (false, Some(0), 1),
            (true, Some(400), 1),
        ]
        .into_iter()
        .chain([
            (false, Some(1_000), 1),
            (false, Some(1_000), 2),
            (false, None, 1),
        ])
        .enumerate()
        .map(|(n, (after_head, refetched, attempt))| Call {
            resource: Some("b".into()),
            after_head: Some(after_head),
            refetched_bytes: refetched,
            attempt: Some(attempt),
            bytes_received: 1_000,
            cost: Decimal::new(4, 7),
            transfer: Decimal::new(9, 2) * Decimal::from(1_000) / Decimal::from(1u64 << 30),
            ..Call::sample("s3", "GetObject").at_us(n as i64)
        })
        .collect();
        let processes = vec![None; calls.len()];
        let get = [("s3", "GetObject")];
        let mut groups = Vec::new();
        for db in [&store as &dyn RunStore, &memory] {
            let run = db.begin_run(&RunMeta::new("run")).await.unwrap();
            let batch = Batch {
                calls: &calls,
                processes: &processes,
                loops: &[],
            };
            db.write_batch(run, batch).await.unwrap();
            db.end_run(run, &crate::record::RunEnd::default())
                .await
                .unwrap();
            groups.push(db.calls_by_resource(&[run], &get).await.unwrap());
        }
        totals::forget_totals(store.pool()).await;
        let run: i64 = sqlx::query_scalar("SELECT id FROM runs")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(totals::rebuild(store.pool(), &store.writer, run)
            .await
            .unwrap());
        groups.push(store.calls_by_resource(&[run], &get).await.unwrap());
        let transfer_of = |bytes: u64| {
            Decimal::new(9, 2) * Decimal::from(1_000) / Decimal::from(1u64 << 30)
                * Decimal::from(bytes)
                / Decimal::from(1_000)
        };
        for group in &groups {
            assert_eq!(group.len(), 1);
            let g = &group[0];
            assert_eq!((g.count, g.after_head), (5, 2));
            assert_eq!((g.refetched_bytes, g.refetched_calls), (2_400, 1));
            assert_eq!(g.refetched_calls_cost, Decimal::new(4, 7));
            let want = transfer_of(400) + transfer_of(1_000) * Decimal::from(2);
            assert!(
                (g.refetched_cost - want).abs() < Decimal::new(1, 24),
                "{g:?}"
            );
        }
        store.close().await;
    }

    /// A database of 3,000 calls, closed (so the WAL is checkpointed into the file).
    async fn recorded_database(path: &Path) {
        let store = SqliteStore::open(path).await.unwrap();
        let run = RunStore::begin_run(&store, &RunMeta::new("run"))
            .await
            .unwrap();
        let calls: Vec<Call> = (0..3_000)
            .map(|n| Call {
                resource: Some(format!("bucket-{n}")),
                ..Call::sample("s3", "ListObjectsV2").at_us(n)
            })
            .collect();
        let processes = vec![None; calls.len()];
        let batch = Batch {
            calls: &calls,
            processes: &processes,
            loops: &[],
        };
        RunStore::write_batch(&store, run, batch).await.unwrap();
        store.close().await;
    }

    /// Issue 13: runs recorded into a damaged database without a word. It is refused on open,
    /// with what to do, and nothing is written to it.
    #[tokio::test]
    async fn a_damaged_database_is_refused_on_open_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        recorded_database(&path).await;
        let mut bytes = std::fs::read(&path).unwrap();
        let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
        let pages = bytes.len() / page_size;
        assert!(pages > 20, "{pages} pages");
        // A page in the middle of the calls, overwritten.
        let middle = pages / 2 * page_size;
        bytes[middle..middle + page_size].fill(0xA5);
        std::fs::write(&path, &bytes).unwrap();
        let wal = dir.path().join("tollgate.db-wal");

        let error = match SqliteStore::open(&path).await {
            Ok(_) => panic!("a damaged database was opened"),
            Err(error) => error,
        };
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("move it aside"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the file was written to"
        );
        // SQLite may open an empty WAL beside a WAL-mode file even to read it: nothing in it.
        let logged = std::fs::read(&wal).unwrap_or_default();
        assert!(
            logged.is_empty(),
            "{} bytes written to the WAL",
            logged.len()
        );
    }

    /// A sound database passes the check, large or small.
    #[tokio::test]
    async fn a_sound_database_passes_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        recorded_database(&path).await;
        check_integrity(&path).await.unwrap();
        SqliteStore::open(&path).await.unwrap().close().await;
    }

    /// A database a newer tollgate migrated further is refused as newer, not as damaged.
    #[tokio::test]
    async fn a_database_from_a_newer_tollgate_is_refused_as_newer_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        SqliteStore::open(&path).await.unwrap().close().await;
        {
            let options = SqliteConnectOptions::new().filename(&path);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (9999, 'from the future', 1, x'00', 0)",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let error = match SqliteStore::open(&path).await {
            Ok(_) => panic!("opened a database of a newer schema"),
            Err(error) => error,
        };
        assert!(
            matches!(error, StoreError::Newer { version: 9999, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("upgrade tollgate"), "{error}");
    }

    /// The loops of several runs are read in chunks of `LOOPS_PER_READ` rows, each starting
    /// after the last row read: every loop once, in run and loop order, across the chunks'
    /// boundaries and the runs' (a run of many listings holds a loop row for each).
    #[tokio::test]
    async fn loops_of_several_runs_are_read_whole_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let (_, _, sample) = grouped_calls();
        let mut runs = Vec::new();
        for count in [20_003u64, 10_000, 2] {
            let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
            let loops: Vec<Loop> = (1..=count)
                .map(|id| Loop {
                    id,
                    resource: Some(format!("bucket-{id}")),
                    ..sample[0].clone()
                })
                .collect();
            let batch = Batch {
                calls: &[],
                processes: &[],
                loops: &loops,
            };
            store.write_batch(run, batch).await.unwrap();
            runs.push((run, count));
        }
        let ids: Vec<i64> = runs.iter().map(|(run, _)| *run).collect();
        let read = store.loops(&ids).await.unwrap();
        let expected: Vec<(i64, i64)> = runs
            .iter()
            .flat_map(|&(run, count)| (1..=count as i64).map(move |id| (run, id)))
            .collect();
        let got: Vec<(i64, i64)> = read.iter().map(|l| (l.run_id, l.loop_id)).collect();
        assert_eq!(got.len(), 30_005);
        assert_eq!(got, expected);
        assert!(read
            .iter()
            .all(|l| l.resource == Some(format!("bucket-{}", l.loop_id))));
        // One run alone, and the last two: the key starts before every run.
        assert_eq!(store.loops(&ids[2..]).await.unwrap().len(), 2);
        assert_eq!(store.loops(&ids[1..]).await.unwrap().len(), 10_002);
        store.close().await;
    }
}
