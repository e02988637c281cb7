//! The PostgreSQL backend: one history shared by many CI runners and machines
//! (`--db postgres://…`). The same tables as SQLite's (`migrations/postgres/`, applied on first
//! connect), money as exact `NUMERIC`, the same reader ([`super::sql::read`]) so that both give
//! the same report for the same runs.
//!
//! Many writers at once: run ids come from the database (an identity column) and runs are
//! known across machines by their UUID; each run's totals are written only by its own writer,
//! with upserts that add, so concurrent runs never touch one another's rows.

mod fetch;
mod write;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::digest_book::DigestBook;
use super::sql::SqlBackend;
use super::{micros, Batch, StoreError};
use crate::record::{RunEnd, RunMeta};

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
    /// Each run's digest groups seen so far (one writer per run).
    digest_books: Arc<tokio::sync::Mutex<HashMap<i64, DigestBook>>>,
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
            digest_books: Arc::default(),
        };
        if let Err(error) = store.mark_dead_runs_incomplete().await {
            tracing::warn!("could not mark runs that died as incomplete: {error}");
        }
        Ok(store)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_run(&self, meta: &RunMeta) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (uuid, kind, state, started_at_us, command, cwd, git_repo, \
             git_branch, git_commit, ci_provider, ci_job, ci_ref, ci_pr, tollgate_version, \
             pricing_version, model_version, hostname, pid) \
             VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17) RETURNING id",
        )
        .bind(&meta.uuid)
        .bind(&meta.kind)
        .bind(micros(meta.started_at))
        .bind(serde_json::to_string(&meta.command).unwrap_or_default())
        .bind(&meta.cwd)
        .bind(&meta.git.repo)
        .bind(&meta.git.branch)
        .bind(&meta.git.commit)
        .bind(&meta.ci.provider)
        .bind(&meta.ci.job)
        .bind(&meta.ci.git_ref)
        .bind(&meta.ci.pr)
        .bind(&meta.tollgate_version)
        .bind(&meta.pricing_version)
        .bind(&meta.model_version)
        .bind(&meta.hostname)
        .bind(i64::from(meta.pid))
        .fetch_one(&mut *tx)
        .await?;
        for (key, value) in &meta.tags {
            sqlx::query("INSERT INTO run_tags (run_id, key, value) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn end_run(&self, run: i64, end: &RunEnd) -> Result<(), StoreError> {
        self.digest_books.lock().await.remove(&run);
        sqlx::query(
            "UPDATE runs SET state = $1, ended_at_us = $2, exit_code = $3, lost_calls = $4, \
             lost_reason = $5 WHERE id = $6",
        )
        .bind(super::ended_state(end))
        .bind(micros(SystemTime::now()))
        .bind(end.exit_code)
        .bind(i64::try_from(end.lost).unwrap_or(i64::MAX))
        .bind(&end.lost_reason)
        .bind(run)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn note_unrecorded(&self, uuid: &str, answered: u64) -> Result<Option<u64>, StoreError> {
        let run: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT id, state, (SELECT coalesce(sum(t.calls), 0)::bigint FROM operation_totals t \
             WHERE t.run_id = runs.id) FROM runs WHERE uuid = $1",
        )
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, state, recorded)) = run else {
            return Ok(None);
        };
        match state.as_str() {
            "incomplete" => {}
            "running" => return Ok(None),
            _ => return Ok(Some(0)),
        }
        let missing = answered.saturating_sub(recorded.max(0) as u64);
        if missing > 0 {
            sqlx::query(
                "UPDATE runs SET lost_calls = GREATEST(lost_calls, $1), \
                 lost_reason = coalesce(lost_reason, $2) WHERE id = $3",
            )
            .bind(i64::try_from(missing).unwrap_or(i64::MAX))
            .bind(format!(
                "tollgate stopped before the run's end: {missing} of its {answered} answered \
                 calls were not recorded"
            ))
            .bind(id)
            .execute(&self.pool)
            .await?;
        }
        Ok(Some(missing))
    }

    /// Runs still `running` whose tollgate process is gone (on this host) died without an end.
    /// Other machines' runs are theirs to settle.
    async fn mark_dead_runs_incomplete(&self) -> Result<(), StoreError> {
        let here = crate::procnet::hostname();
        let running: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, pid FROM runs WHERE state = 'running' AND hostname IS NOT DISTINCT FROM $1",
        )
        .bind(&here)
        .fetch_all(&self.pool)
        .await?;
        for (id, pid) in running {
            let alive = pid.is_some_and(|pid| crate::procnet::is_tollgate_process(pid as i32));
            if !alive {
                sqlx::query(
                    "UPDATE runs SET state = 'incomplete' WHERE id = $1 AND state = 'running'",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
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

    async fn begin_run(&self, meta: &RunMeta) -> Result<i64, StoreError> {
        PostgresStore::begin_run(self, meta).await
    }

    async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError> {
        let mut books = self.digest_books.lock().await;
        let book = books.entry(run).or_default();
        let changes = write::write_batch(&self.pool, run, batch, book).await?;
        book.apply(changes);
        Ok(())
    }

    async fn end_run(&self, run: i64, end: &RunEnd) -> Result<(), StoreError> {
        PostgresStore::end_run(self, run, end).await
    }

    async fn note_unrecorded(&self, uuid: &str, answered: u64) -> Result<Option<u64>, StoreError> {
        PostgresStore::note_unrecorded(self, uuid, answered).await
    }

    async fn prune(&self, before_us: i64) -> Result<super::Pruned, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (runs, calls): (i64, i64) = sqlx::query_as(&postgres_placeholders(&format!(
            "SELECT runs, calls::bigint AS calls FROM ({}) AS counted",
            super::sql::PRUNE_COUNT
        )))
        .bind(before_us)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(&postgres_placeholders(super::sql::PRUNE_DELETE))
            .bind(before_us)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(super::Pruned {
            runs: runs.max(0) as u64,
            calls: calls.max(0) as u64,
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, … (the shared SQL has no `?` in literals).
fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
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
