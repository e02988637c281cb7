//! The connection batches are written on: rusqlite's, not sqlx's.
//!
//! sqlx runs each statement on a worker thread of its connection, reached by a message and a
//! wake-up, with a copy of every bound value, and a call's row has 38 of them: the store bench
//! measured 19 µs of writer CPU a call that way, where SQLite's own insert of the same rows is
//! 5–6 µs. So batches are written on a rusqlite connection of their own, on the thread the
//! writer task runs on ([`tokio::task::block_in_place`]: the runtime's other tasks move to
//! another thread meanwhile). Migrations, reads and the runs' own rows stay on sqlx; both link
//! the one SQLite library (libsqlite3-sys), so the two kinds of connection share its locks.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// Statements the writer keeps prepared: the call, loop and label statements and one upsert per
/// totals table, with room to spare (rusqlite keeps 16 by default).
const PREPARED_STATEMENTS: usize = 32;

/// The connection batches are written on, opened at the first batch (a report never opens it)
/// and closed after a failed write: SQLite may have rolled the transaction back on its own
/// (SQLITE_FULL, EFBIG), and a fresh connection starts clean.
pub(super) struct Writer {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

impl Writer {
    pub(super) fn new(path: &Path) -> Self {
        Writer {
            path: path.to_path_buf(),
            connection: Mutex::new(None),
        }
    }

    /// Runs `work` on the connection, off the runtime's other tasks; an error closes the
    /// connection, which rolls back a transaction left open.
    pub(super) fn with<R>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        blocking(|| {
            let mut slot = self
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let connection = match slot.as_mut() {
                Some(connection) => connection,
                None => slot.insert(open(&self.path)?),
            };
            let done = work(connection);
            if done.is_err() {
                *slot = None;
            }
            Ok(done?)
        })
    }

    /// Closes the connection (a transaction left open is rolled back).
    pub(super) fn close(&self) {
        blocking(|| {
            self.connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
    }
}

/// Runs blocking database work on this thread. On a multi-threaded runtime the thread's other
/// tasks move elsewhere meanwhile; a single-threaded one (the tests, the report's runtime) simply
/// waits, as it would for any query.
fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// The writer's connection to the database `SqliteStore::open` created and migrated, set up as
/// that sets up sqlx's.
fn open(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(super::BUSY_TIMEOUT)?;
    connection.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
        super::WAL_AUTOCHECKPOINT_PAGES,
        super::JOURNAL_SIZE_LIMIT_BYTES
    ))?;
    connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    // SAFETY: the handle is the open connection's, which outlives the registration.
    let handle =
        std::ptr::NonNull::new(unsafe { connection.handle() }).ok_or_else(|| StoreError::Open {
            path: path.display().to_string(),
            message: "SQLite gave no connection".into(),
        })?;
    super::sqlfn::register(handle).map_err(|message| StoreError::Open {
        path: path.display().to_string(),
        message,
    })?;
    Ok(connection)
}
