//! The PostgreSQL backend: one history shared by many CI runners and machines
//! (`--db postgres://…`). The same tables as SQLite's (`migrations/postgres/`, applied on first
//! connect), money as exact `NUMERIC`, the same reader ([`super::sql::read`]) so that both give
//! the same report for the same runs.
//!
//! Many writers at once: run ids come from the database (an identity column) and runs are
//! known across machines by their UUID; each run's totals are written only by its own writer,
//! with upserts that add, so concurrent runs never touch one another's rows.

pub(super) mod copy;
mod fetch;
mod write;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::digest_book::DigestBook;
use super::label_book::LabelBook;
use super::sql::{runs, SqlBackend};
use super::{Batch, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a write waits for a connection before its batch is counted as lost: the writer is
/// off the request path, but a server that is down must not hold the run's end for long.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected history.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL without its password, for people.
    location: String,
    /// Each run's digest groups and labels seen so far (one writer per run).
    books: Arc<tokio::sync::Mutex<HashMap<i64, (DigestBook, LabelBook)>>>,
}

/// Whether `value` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(value: &str) -> bool {
    let lower = value.get(..13).unwrap_or(value).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// `url` as it may be shown: the password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first `/`, `?` or `#`; user info at its last `@`.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_string(),
    };
    // A password may also come as a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{path}?{query}")
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl PostgresStore {
    /// Connects, applies the migrations this tollgate has (refusing a schema a newer one wrote),
    /// and marks runs on this host that died without an end as incomplete.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let location = redact(url);
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Open {
            path: location.clone(),
            message: scrub(url, &e.to_string()),
        })?;
        let password = options_password(url);
        let open_error = |e: sqlx::Error| StoreError::Open {
            path: location.clone(),
            message: scrub_password(&scrub(url, &e.to_string()), password.as_deref()),
        };
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.application_name("tollgate"))
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => open_error(e),
            sqlx::migrate::MigrateError::VersionMissing(version) => StoreError::Newer {
                path: location.clone(),
                version,
            },
            other => StoreError::Open {
                path: location.clone(),
                message: scrub(url, &other.to_string()),
            },
        })?;
        let store = PostgresStore {
            pool,
            location,
            books: Arc::default(),
        };
        if let Err(error) = runs::mark_dead_runs_incomplete(&store).await {
            tracing::warn!("could not mark runs that died as incomplete: {error}");
        }
        Ok(store)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Gives the writer of `run` a label book of `capacity` bytes (see [`LabelBook`]): for the
    /// tests of a book too small for a run's labels.
    #[doc(hidden)]
    pub async fn limit_label_book(&self, run: i64, capacity: usize) {
        self.books.lock().await.entry(run).or_default().1 = LabelBook::with_capacity(capacity);
    }
}

/// The password a URL carries, if any, to keep it out of messages.
fn options_password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (user_info, _) = rest[..end].rsplit_once('@')?;
    let (_, password) = user_info.split_once(':')?;
    (!password.is_empty()).then(|| password.to_string())
}

/// A driver message with the URL in it shown redacted.
fn scrub(url: &str, message: &str) -> String {
    message.replace(url, &redact(url))
}

fn scrub_password(message: &str, password: Option<&str>) -> String {
    match password {
        Some(password) if password.len() >= 3 => message.replace(password, "***"),
        _ => message.to_string(),
    }
}

#[async_trait::async_trait]
impl SqlBackend for PostgresStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError> {
        let mut books = self.books.lock().await;
        let (digests, labels) = books.entry(run).or_default();
        let (digest_changes, label_changes) =
            write::write_batch(&self.pool, run, batch, digests, labels).await?;
        digests.apply(digest_changes);
        labels.apply(label_changes);
        Ok(())
    }

    async fn forget_run(&self, run: i64) {
        self.books.lock().await.remove(&run);
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_a_location() {
        for (url, shown) in [
            (
                "postgres://writer:s3cr%40t@db.internal:5432/tollgate?sslmode=verify-full",
                "postgres://writer:***@db.internal:5432/tollgate?sslmode=verify-full",
            ),
            (
                "postgresql://reader@db/tollgate",
                "postgresql://reader@db/tollgate",
            ),
            (
                "postgres://db/tollgate?user=w&password=hunter22",
                "postgres://db/tollgate?user=w&password=***",
            ),
            ("postgres://localhost/t", "postgres://localhost/t"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
        assert_eq!(
            options_password("postgres://u:pw1@h/d").as_deref(),
            Some("pw1")
        );
        assert_eq!(
            scrub_password("failed for pw1 at h", Some("pw1")),
            "failed for *** at h"
        );
    }

    #[test]
    fn postgres_urls_are_told_from_paths() {
        assert!(is_postgres_url("postgres://h/db"));
        assert!(is_postgres_url("PostgreSQL://h/db"));
        assert!(!is_postgres_url("postgres.db"));
        assert!(!is_postgres_url("sqlite://postgres://x"));
    }
}
