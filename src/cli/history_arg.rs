//! The `--db` every history command takes, and TOLLGATE_DB.

use std::path::{Path, PathBuf};

/// `db` (a `--db` given), else TOLLGATE_DB; an empty TOLLGATE_DB is an unset one. Read here, not
/// through clap's `env`, which refuses an empty value (`TOLLGATE_DB=`) as a `--db` without one.
pub fn database_or_env(db: Option<&Path>) -> Option<PathBuf> {
    db.map(PathBuf::from).or_else(|| {
        std::env::var_os("TOLLGATE_DB")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
}
