//! Reading the history back: which runs, and their calls and loops aggregated for reports.
//!
//! Aggregation happens in SQL as far as exactness allows: rows are grouped by their exact cost
//! strings, and the sums are made in Rust as decimals (SQLite would sum text as floating point).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use sqlx::Row;

use super::{Store, StoreError};

/// Which runs a report covers.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub run: Option<i64>,
    /// The most recent run (the default when nothing else is given).
    pub last: bool,
    /// Runs started at or after this time (µs since the epoch).
    pub since_us: Option<i64>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub uuid: String,
    pub kind: String,
    /// `running`, `complete`, or `incomplete` (tollgate died before the run's end).
    pub state: String,
    pub started_at_us: i64,
    pub ended_at_us: Option<i64>,
    pub exit_code: Option<i64>,
    pub command: Vec<String>,
    pub cwd: Option<String>,
    pub git_repo: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub ci_provider: Option<String>,
    pub ci_job: Option<String>,
    pub ci_ref: Option<String>,
    pub ci_pr: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub tollgate_version: String,
    pub pricing_version: String,
    pub model_version: String,
    /// Calls the run made that could not be recorded.
    pub lost_calls: i64,
    pub lost_reason: Option<String>,
    pub calls: i64,
}

/// One operation's aggregate over the selected runs.
#[derive(Debug, Clone, Default)]
pub struct OperationAggregate {
    pub service: String,
    pub operation: String,
    pub attempts: u64,
    pub retries: u64,
    pub errors: u64,
    pub throttled: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub cost: Decimal,
    pub transfer: Decimal,
    pub implied: Decimal,
    pub priced: u64,
    pub free: u64,
    pub not_billed: u64,
    pub unpriced: u64,
    pub estimated: u64,
    pub units: BTreeMap<String, Decimal>,
    pub latency_us: Option<Histogram<u64>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoopRow {
    pub run_id: i64,
    pub loop_id: i64,
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub started_at_us: i64,
    pub ended_at_us: i64,
    pub pages: i64,
    pub attempts: i64,
    pub items: Option<i64>,
    pub page_size: Option<i64>,
    pub page_size_max: Option<i64>,
    pub complete: bool,
    pub resumed: bool,
    pub relisting: bool,
    pub cost: Decimal,
}

impl Store {
    /// Run ids matching the filter, newest first.
    pub async fn select_runs(&self, filter: &RunFilter) -> Result<Vec<i64>, StoreError> {
        if let Some(run) = filter.run {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = ?")
                .bind(run)
                .fetch_optional(self.pool())
                .await?;
            return Ok(found.into_iter().collect());
        }
        let mut sql = String::from("SELECT id FROM runs WHERE 1 = 1");
        if filter.since_us.is_some() {
            sql.push_str(" AND started_at_us >= ?");
        }
        for _ in &filter.tags {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = runs.id AND t.key = ? AND t.value = ?)",
            );
        }
        sql.push_str(" ORDER BY started_at_us DESC, id DESC");
        if filter.last || (filter.since_us.is_none() && filter.tags.is_empty()) {
            sql.push_str(" LIMIT 1");
        }
        let mut query = sqlx::query_scalar(&sql);
        if let Some(since) = filter.since_us {
            query = query.bind(since);
        }
        for (key, value) in &filter.tags {
            query = query.bind(key).bind(value);
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    /// Runs by id (all runs, newest first, when `ids` is `None`), at most `limit`.
    pub async fn runs(&self, ids: Option<&[i64]>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        let mut sql = String::from(
            "SELECT r.*, (SELECT count(*) FROM calls c WHERE c.run_id = r.id) AS calls FROM runs r",
        );
        if let Some(ids) = ids {
            sql.push_str(&format!(" WHERE r.id IN ({})", id_list(ids)));
        }
        sql.push_str(" ORDER BY r.started_at_us DESC, r.id DESC LIMIT ?");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(self.pool()).await?;
        let mut runs = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let tags: Vec<(String, String)> =
                sqlx::query_as("SELECT key, value FROM run_tags WHERE run_id = ? ORDER BY key")
                    .bind(id)
                    .fetch_all(self.pool())
                    .await?;
            let command: Option<String> = row.try_get("command")?;
            runs.push(RunRow {
                id,
                uuid: row.try_get("uuid")?,
                kind: row.try_get("kind")?,
                state: row.try_get("state")?,
                started_at_us: row.try_get("started_at_us")?,
                ended_at_us: row.try_get("ended_at_us")?,
                exit_code: row.try_get("exit_code")?,
                command: command
                    .and_then(|c| serde_json::from_str(&c).ok())
                    .unwrap_or_default(),
                cwd: row.try_get("cwd")?,
                git_repo: row.try_get("git_repo")?,
                git_branch: row.try_get("git_branch")?,
                git_commit: row.try_get("git_commit")?,
                ci_provider: row.try_get("ci_provider")?,
                ci_job: row.try_get("ci_job")?,
                ci_ref: row.try_get("ci_ref")?,
                ci_pr: row.try_get("ci_pr")?,
                tags: tags.into_iter().collect(),
                tollgate_version: row.try_get("tollgate_version")?,
                pricing_version: row.try_get("pricing_version")?,
                model_version: row.try_get("model_version")?,
                lost_calls: row.try_get("lost_calls")?,
                lost_reason: row.try_get("lost_reason")?,
                calls: row.try_get("calls")?,
            });
        }
        Ok(runs)
    }

    /// Calls of the runs, by service and operation.
    pub async fn operations(&self, runs: &[i64]) -> Result<Vec<OperationAggregate>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = id_list(runs);
        let mut by_operation: HashMap<(String, String), OperationAggregate> = HashMap::new();
        // Rows with the same exact cost strings are summed as count × amount.
        let grouped = sqlx::query(&format!(
            "SELECT service, operation, price_status, cost_usd, transfer_usd, implied_usd, units, \
             estimated IS NOT NULL AS estimated, count(*) AS n, \
             sum(attempt > 1) AS retries, \
             sum(status IS NULL OR status >= 400 OR error_code IS NOT NULL) AS errors, \
             sum(throttled) AS throttled, sum(bytes_sent) AS sent, sum(bytes_received) AS received \
             FROM calls WHERE run_id IN ({ids}) \
             GROUP BY service, operation, price_status, cost_usd, transfer_usd, implied_usd, units, \
             estimated IS NOT NULL"
        ))
        .fetch_all(self.pool())
        .await?;
        for row in grouped {
            let service: String = row.try_get("service")?;
            let operation: String = row.try_get("operation")?;
            let n: i64 = row.try_get("n")?;
            let count = n as u64;
            let entry = by_operation
                .entry((service.clone(), operation.clone()))
                .or_insert_with(|| OperationAggregate {
                    service,
                    operation,
                    ..OperationAggregate::default()
                });
            let money = |column: &str| -> Result<Decimal, StoreError> {
                let text: String = row.try_get(column)?;
                Ok(Decimal::from_str(&text).unwrap_or_default())
            };
            let times = Decimal::from(count);
            entry.attempts += count;
            entry.retries += row.try_get::<Option<i64>, _>("retries")?.unwrap_or(0) as u64;
            entry.errors += row.try_get::<Option<i64>, _>("errors")?.unwrap_or(0) as u64;
            entry.throttled += row.try_get::<Option<i64>, _>("throttled")?.unwrap_or(0) as u64;
            entry.bytes_sent += row.try_get::<Option<i64>, _>("sent")?.unwrap_or(0) as u64;
            entry.bytes_received += row.try_get::<Option<i64>, _>("received")?.unwrap_or(0) as u64;
            entry.cost += money("cost_usd")? * times;
            entry.transfer += money("transfer_usd")? * times;
            entry.implied += money("implied_usd")? * times;
            match row.try_get::<String, _>("price_status")?.as_str() {
                "priced" => entry.priced += count,
                "free" => entry.free += count,
                "not_billed" => entry.not_billed += count,
                _ => entry.unpriced += count,
            }
            if row.try_get::<bool, _>("estimated")? {
                entry.estimated += count;
            }
            if let Some(units) = row.try_get::<Option<String>, _>("units")? {
                let units: BTreeMap<String, String> =
                    serde_json::from_str(&units).unwrap_or_default();
                for (unit, quantity) in units {
                    *entry.units.entry(unit).or_default() +=
                        Decimal::from_str(&quantity).unwrap_or_default() * times;
                }
            }
        }
        // Latency in buckets of 2–3 significant digits: exact enough for percentiles in ms.
        let latencies = sqlx::query(&format!(
            "SELECT service, operation, \
             CASE WHEN duration_us < 1000 THEN duration_us / 10 * 10 \
                  WHEN duration_us < 10000 THEN duration_us / 100 * 100 \
                  WHEN duration_us < 100000 THEN duration_us / 1000 * 1000 \
                  ELSE duration_us / 10000 * 10000 END AS bucket, count(*) AS n \
             FROM calls WHERE run_id IN ({ids}) GROUP BY 1, 2, 3"
        ))
        .fetch_all(self.pool())
        .await?;
        for row in latencies {
            let key: (String, String) = (row.try_get("service")?, row.try_get("operation")?);
            let bucket: i64 = row.try_get("bucket")?;
            let n: i64 = row.try_get("n")?;
            if let Some(entry) = by_operation.get_mut(&key) {
                let histogram = entry.latency_us.get_or_insert_with(|| {
                    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
                });
                let _ = histogram.record_n(bucket.max(1) as u64, n as u64);
            }
        }
        Ok(by_operation.into_values().collect())
    }

    /// Loops of the runs, most expensive first.
    pub async fn loops(&self, runs: &[i64]) -> Result<Vec<LoopRow>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT * FROM loops WHERE run_id IN ({}) ORDER BY run_id, loop_id",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut loops = Vec::with_capacity(rows.len());
        for row in rows {
            let cost: String = row.try_get("cost_usd")?;
            loops.push(LoopRow {
                run_id: row.try_get("run_id")?,
                loop_id: row.try_get("loop_id")?,
                service: row.try_get("service")?,
                operation: row.try_get("operation")?,
                resource: row.try_get("resource")?,
                started_at_us: row.try_get("started_at_us")?,
                ended_at_us: row.try_get("ended_at_us")?,
                pages: row.try_get("pages")?,
                attempts: row.try_get("attempts")?,
                items: row.try_get("items")?,
                page_size: row.try_get("page_size")?,
                page_size_max: row.try_get("page_size_max")?,
                complete: row.try_get("complete")?,
                resumed: row.try_get("resumed")?,
                relisting: row.try_get("relisting")?,
                cost: Decimal::from_str(&cost).unwrap_or_default(),
            });
        }
        Ok(loops)
    }
}

/// A call's own cost, data transfer and implied costs.
const ALL_MONEY: &[&str] = &["cost_usd", "transfer_usd", "implied_usd"];

/// The sum of exact decimal money columns of a row.
fn money(row: &sqlx::sqlite::SqliteRow, columns: &[&str]) -> Result<Decimal, sqlx::Error> {
    let mut sum = Decimal::ZERO;
    for column in columns {
        let text: String = row.try_get(*column)?;
        sum += Decimal::from_str(&text).unwrap_or_default();
    }
    Ok(sum)
}

fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Calls with the same parameters (operation and parameter digest), repeated.
#[derive(Debug, Clone)]
pub struct RepeatGroup {
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub fingerprint: String,
    pub count: u64,
    pub cost: Decimal,
    /// Start times (µs), in order; at most 1,000.
    pub times_us: Vec<i64>,
}

/// Calls of one operation on one resource.
#[derive(Debug, Clone)]
pub struct ResourceGroup {
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub count: u64,
    pub cost: Decimal,
    pub first_us: i64,
    pub last_us: i64,
}

/// Service, operation, status, error code, throttled.
type FailureKey = (String, String, Option<i64>, Option<String>, bool);

/// Failed attempts of one operation with one outcome.
#[derive(Debug, Clone)]
pub struct FailureGroup {
    pub service: String,
    pub operation: String,
    pub status: Option<i64>,
    pub error_code: Option<String>,
    pub throttled: bool,
    pub count: u64,
    /// What AWS billed for them.
    pub cost: Decimal,
    pub priced: u64,
    pub first_us: i64,
    pub last_us: i64,
}

/// Calls by service and region.
#[derive(Debug, Clone)]
pub struct RegionGroup {
    pub service: String,
    pub region: Option<String>,
    pub count: u64,
    pub cost: Decimal,
}

/// Implied costs by the operation causing them.
#[derive(Debug, Clone)]
pub struct ImpliedGroup {
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub count: u64,
    pub implied: Decimal,
}

impl Store {
    /// Identical calls (same operation and parameter digest) made at least `min` times: the
    /// 200 largest groups, with their call times, in one pass over the calls.
    pub async fn repeated_calls(
        &self,
        runs: &[i64],
        min: u64,
    ) -> Result<Vec<RepeatGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = id_list(runs);
        let rows = sqlx::query(&format!(
            "WITH first_attempts AS ( \
                 SELECT service, operation, fingerprint, resource, started_at_us, cost_usd, \
                        transfer_usd, implied_usd \
                 FROM calls WHERE run_id IN ({ids}) AND fingerprint IS NOT NULL \
                 AND kind = 'operation' AND (attempt IS NULL OR attempt = 1)), \
             groups AS ( \
                 SELECT service, operation, fingerprint, count(*) AS n FROM first_attempts \
                 GROUP BY service, operation, fingerprint HAVING count(*) >= ? \
                 ORDER BY n DESC LIMIT 200) \
             SELECT f.*, g.n FROM first_attempts f \
             JOIN groups g USING (service, operation, fingerprint) \
             ORDER BY g.n DESC, f.service, f.operation, f.fingerprint, f.started_at_us"
        ))
        .bind(min as i64)
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<RepeatGroup> = Vec::new();
        for row in rows {
            let service: String = row.try_get("service")?;
            let operation: String = row.try_get("operation")?;
            let fingerprint: String = row.try_get("fingerprint")?;
            let same = out.last().is_some_and(|g| {
                g.fingerprint == fingerprint && g.operation == operation && g.service == service
            });
            if !same {
                out.push(RepeatGroup {
                    service,
                    operation,
                    resource: row.try_get("resource")?,
                    fingerprint,
                    count: row.try_get::<i64, _>("n")? as u64,
                    cost: Decimal::ZERO,
                    times_us: Vec::new(),
                });
            }
            let group = out.last_mut().expect("pushed above");
            group.cost += money(&row, ALL_MONEY)?;
            if group.times_us.len() < 1000 {
                group.times_us.push(row.try_get("started_at_us")?);
            }
        }
        Ok(out)
    }

    /// Calls of the given operations, by resource.
    pub async fn calls_by_resource(
        &self,
        runs: &[i64],
        operations: &[(&str, &str)],
    ) -> Result<Vec<ResourceGroup>, StoreError> {
        if runs.is_empty() || operations.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = operations
            .iter()
            .map(|(s, o)| format!("('{}','{}')", s.replace('\'', ""), o.replace('\'', "")))
            .collect::<Vec<_>>()
            .join(",");
        let rows = sqlx::query(&format!(
            "SELECT service, operation, resource, cost_usd, transfer_usd, implied_usd, \
             count(*) AS n, min(started_at_us) AS first, max(started_at_us) AS last \
             FROM calls WHERE run_id IN ({}) AND (service, operation) IN (VALUES {wanted}) \
             AND (attempt IS NULL OR attempt = 1) \
             GROUP BY service, operation, resource, cost_usd, transfer_usd, implied_usd",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<(String, String, Option<String>), ResourceGroup> = HashMap::new();
        for row in rows {
            let key = (
                row.try_get::<String, _>("service")?,
                row.try_get::<String, _>("operation")?,
                row.try_get::<Option<String>, _>("resource")?,
            );
            let n = row.try_get::<i64, _>("n")? as u64;
            let each = money(&row, ALL_MONEY)?;
            let first: i64 = row.try_get("first")?;
            let last: i64 = row.try_get("last")?;
            let group = groups.entry(key.clone()).or_insert_with(|| ResourceGroup {
                service: key.0.clone(),
                operation: key.1.clone(),
                resource: key.2.clone(),
                count: 0,
                cost: Decimal::ZERO,
                first_us: first,
                last_us: last,
            });
            group.count += n;
            group.cost += each * Decimal::from(n);
            group.first_us = group.first_us.min(first);
            group.last_us = group.last_us.max(last);
        }
        let mut out: Vec<ResourceGroup> = groups.into_values().collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.operation.cmp(&b.operation)));
        Ok(out)
    }

    /// Failed attempts (4xx/5xx, no response, or an error in a 200) by operation and outcome.
    pub async fn failures(&self, runs: &[i64]) -> Result<Vec<FailureGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT service, operation, status, error_code, throttled, price_status, cost_usd, \
             count(*) AS n, min(started_at_us) AS first, max(started_at_us) AS last \
             FROM calls WHERE run_id IN ({}) AND kind != 'not-aws' \
             AND (status IS NULL OR status >= 400 OR error_code IS NOT NULL) \
             GROUP BY service, operation, status, error_code, throttled, price_status, cost_usd",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<FailureKey, FailureGroup> = HashMap::new();
        for row in rows {
            let key = (
                row.try_get::<String, _>("service")?,
                row.try_get::<String, _>("operation")?,
                row.try_get::<Option<i64>, _>("status")?,
                row.try_get::<Option<String>, _>("error_code")?,
                row.try_get::<bool, _>("throttled")?,
            );
            let n = row.try_get::<i64, _>("n")? as u64;
            let priced = row.try_get::<String, _>("price_status")? == "priced";
            let cost: String = row.try_get("cost_usd")?;
            let first: i64 = row.try_get("first")?;
            let last: i64 = row.try_get("last")?;
            let group = groups.entry(key.clone()).or_insert_with(|| FailureGroup {
                service: key.0.clone(),
                operation: key.1.clone(),
                status: key.2,
                error_code: key.3.clone(),
                throttled: key.4,
                count: 0,
                cost: Decimal::ZERO,
                priced: 0,
                first_us: first,
                last_us: last,
            });
            group.count += n;
            if priced {
                group.priced += n;
                group.cost += Decimal::from_str(&cost).unwrap_or_default() * Decimal::from(n);
            }
            group.first_us = group.first_us.min(first);
            group.last_us = group.last_us.max(last);
        }
        let mut out: Vec<FailureGroup> = groups.into_values().collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.operation.cmp(&b.operation)));
        Ok(out)
    }

    /// AWS calls by service and region.
    pub async fn regions(&self, runs: &[i64]) -> Result<Vec<RegionGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT service, region, cost_usd, transfer_usd, count(*) AS n FROM calls \
             WHERE run_id IN ({}) AND kind = 'operation' \
             GROUP BY service, region, cost_usd, transfer_usd",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<(String, Option<String>), RegionGroup> = HashMap::new();
        for row in rows {
            let key = (
                row.try_get::<String, _>("service")?,
                row.try_get::<Option<String>, _>("region")?,
            );
            let n = row.try_get::<i64, _>("n")? as u64;
            let each = money(&row, &["cost_usd", "transfer_usd"])?;
            let group = groups.entry(key.clone()).or_insert_with(|| RegionGroup {
                service: key.0.clone(),
                region: key.1.clone(),
                count: 0,
                cost: Decimal::ZERO,
            });
            group.count += n;
            group.cost += each * Decimal::from(n);
        }
        Ok(groups.into_values().collect())
    }

    /// Calls that caused implied costs, by operation and resource.
    pub async fn implied(&self, runs: &[i64]) -> Result<Vec<ImpliedGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT service, operation, resource, implied_usd, count(*) AS n FROM calls \
             WHERE run_id IN ({}) AND implied_usd != '0' \
             GROUP BY service, operation, resource, implied_usd",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<(String, String, Option<String>), ImpliedGroup> = HashMap::new();
        for row in rows {
            let key = (
                row.try_get::<String, _>("service")?,
                row.try_get::<String, _>("operation")?,
                row.try_get::<Option<String>, _>("resource")?,
            );
            let n = row.try_get::<i64, _>("n")? as u64;
            let text: String = row.try_get("implied_usd")?;
            let group = groups.entry(key.clone()).or_insert_with(|| ImpliedGroup {
                service: key.0.clone(),
                operation: key.1.clone(),
                resource: key.2.clone(),
                count: 0,
                implied: Decimal::ZERO,
            });
            group.count += n;
            group.implied += Decimal::from_str(&text).unwrap_or_default() * Decimal::from(n);
        }
        Ok(groups.into_values().collect())
    }
}

/// Calls and their cost in one slice of time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelinePoint {
    /// The slice's start, µs since the epoch.
    pub at_us: i64,
    pub calls: u64,
    #[serde(skip)]
    pub cost: Decimal,
}

impl Store {
    /// Calls over time, in at most `slices` equal slices from the first call to the last.
    pub async fn timeline(
        &self,
        runs: &[i64],
        slices: i64,
    ) -> Result<Vec<TimelinePoint>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = id_list(runs);
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(&format!(
            "SELECT min(started_at_us), max(started_at_us) FROM calls WHERE run_id IN ({ids})"
        ))
        .fetch_one(self.pool())
        .await?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Vec::new());
        };
        let width = ((last - first) / slices.max(1)).max(1_000) + 1;
        let rows = sqlx::query(&format!(
            "SELECT (started_at_us - ?) / ? AS slice, cost_usd, transfer_usd, implied_usd, \
             count(*) AS n FROM calls WHERE run_id IN ({ids}) \
             GROUP BY slice, cost_usd, transfer_usd, implied_usd ORDER BY slice"
        ))
        .bind(first)
        .bind(width)
        .fetch_all(self.pool())
        .await?;
        let mut points: BTreeMap<i64, TimelinePoint> = BTreeMap::new();
        for row in rows {
            let slice: i64 = row.try_get("slice")?;
            let n = row.try_get::<i64, _>("n")? as u64;
            let each = money(&row, ALL_MONEY)?;
            let point = points.entry(slice).or_insert(TimelinePoint {
                at_us: first + slice * width,
                calls: 0,
                cost: Decimal::ZERO,
            });
            point.calls += n;
            point.cost += each * Decimal::from(n);
        }
        Ok(points.into_values().collect())
    }
}
