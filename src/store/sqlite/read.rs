//! Reading the history back: which runs, and their calls and loops aggregated for reports.
//!
//! Aggregates come from the totals the writer keeps per run ([`super::totals`]), a few rows per
//! operation, outcome or slot whatever the number of calls; runs are merged here, money summed
//! as exact decimals (SQLite would sum text as floating point).

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::Row;

use super::SqliteStore;
use crate::record::{
    Cadence, CallKind, FailureGroup, ImpliedGroup, LoopRow, OperationTally, RegionGroup,
    RepeatGroup, ResourceGroup, RunFilter, RunRow, StoredCall, TimelinePoint, Unit,
    UpstreamFailure, Usd,
};
use crate::store::tally::Slicing;
use crate::store::StoreError;

impl SqliteStore {
    /// Run ids matching the filter, newest first.
    pub(super) async fn select_runs(&self, filter: &RunFilter) -> Result<Vec<i64>, StoreError> {
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
    pub(super) async fn runs(
        &self,
        ids: Option<&[i64]>,
        limit: i64,
    ) -> Result<Vec<RunRow>, StoreError> {
        let mut sql = String::from(
            "SELECT r.*, (SELECT coalesce(sum(t.calls), 0) FROM operation_totals t \
             WHERE t.run_id = r.id) AS calls FROM runs r",
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
            // Summed here, exactly: SQLite would sum the decimal text as floating point.
            let totals = sqlx::query(
                "SELECT cost_usd, transfer_usd, implied_usd, priced, free, not_billed, unpriced, \
                 estimated FROM operation_totals WHERE run_id = ?",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?;
            let (mut cost, mut billed, mut unpriced, mut estimated) = (Decimal::ZERO, 0, 0, 0);
            for total in &totals {
                let n = |column: &str| -> Result<u64, sqlx::Error> {
                    Ok(total.try_get::<i64, _>(column)?.max(0) as u64)
                };
                cost += money(total, &["cost_usd", "transfer_usd", "implied_usd"])?;
                billed += n("priced")? + n("free")? + n("not_billed")?;
                unpriced += n("unpriced")?;
                estimated += n("estimated")?;
            }
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
                cost_usd: Usd(cost),
                billed,
                unpriced,
                estimated,
            });
        }
        Ok(runs)
    }

    /// Calls of the runs, by service and operation (from the writer's totals).
    pub(super) async fn operations(&self, runs: &[i64]) -> Result<Vec<OperationTally>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = id_list(runs);
        let mut by_operation: HashMap<(String, String), OperationTally> = HashMap::new();
        let totals = sqlx::query(&format!(
            "SELECT * FROM operation_totals WHERE run_id IN ({ids})"
        ))
        .fetch_all(self.pool())
        .await?;
        for row in totals {
            let service: String = row.try_get("service")?;
            let operation: String = row.try_get("operation")?;
            let entry = by_operation
                .entry((service.clone(), operation.clone()))
                .or_insert_with(|| OperationTally::new(&service, &operation));
            let n = |column: &str| -> Result<u64, sqlx::Error> {
                Ok(row.try_get::<i64, _>(column)?.max(0) as u64)
            };
            entry.attempts += n("calls")?;
            entry.retries += n("retries")?;
            entry.errors += n("errors")?;
            entry.throttled += n("throttled")?;
            entry.bytes_sent += n("bytes_sent")?;
            entry.bytes_received += n("bytes_received")?;
            entry.cost += money(&row, &["cost_usd"])?;
            entry.transfer += money(&row, &["transfer_usd"])?;
            entry.implied += money(&row, &["implied_usd"])?;
            entry.priced += n("priced")?;
            entry.free += n("free")?;
            entry.not_billed += n("not_billed")?;
            entry.unpriced += n("unpriced")?;
            entry.estimated += n("estimated")?;
            entry.not_in_model += n("not_in_model")?;
            entry.first_us = entry.first_us.min(row.try_get("first_us")?);
            entry.last_us = entry.last_us.max(row.try_get("last_us")?);
            entry.latency_max_us = entry
                .latency_max_us
                .max(row.try_get::<i64, _>("latency_max_us")?.max(0) as u64);
        }
        let units = sqlx::query(&format!(
            "SELECT service, operation, unit, quantity FROM operation_units WHERE run_id IN ({ids})"
        ))
        .fetch_all(self.pool())
        .await?;
        for row in units {
            let key: (String, String) = (row.try_get("service")?, row.try_get("operation")?);
            let unit: String = row.try_get("unit")?;
            // A unit this version does not know (a newer tollgate wrote it) is left out.
            let Ok(unit) = Unit::from_str(&unit) else {
                tracing::debug!("unknown unit `{unit}` in operation_units");
                continue;
            };
            if let Some(entry) = by_operation.get_mut(&key) {
                *entry.units.entry(unit).or_default() += money(&row, &["quantity"])?;
            }
        }
        let latencies = sqlx::query(&format!(
            "SELECT service, operation, bucket_us, calls FROM operation_latency \
             WHERE run_id IN ({ids})"
        ))
        .fetch_all(self.pool())
        .await?;
        for row in latencies {
            let key: (String, String) = (row.try_get("service")?, row.try_get("operation")?);
            let bucket: i64 = row.try_get("bucket_us")?;
            let n: i64 = row.try_get("calls")?;
            if let Some(entry) = by_operation.get_mut(&key) {
                let _ = entry
                    .latency_us
                    .record_n(bucket.max(1) as u64, n.max(0) as u64);
            }
        }
        Ok(by_operation.into_values().collect())
    }

    /// Loops of the runs, most expensive first.
    pub(super) async fn loops(&self, runs: &[i64]) -> Result<Vec<LoopRow>, StoreError> {
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
                items_unknown: row.try_get("items_unknown")?,
                page_size: row.try_get("page_size")?,
                page_size_max: row.try_get("page_size_max")?,
                complete: row.try_get("complete")?,
                resumed: row.try_get("resumed")?,
                relisting: row.try_get("relisting")?,
                cost: money(&row, &["cost_usd"])?,
                transfer: money(&row, &["transfer_usd"])?,
                implied: money(&row, &["implied_usd"])?,
            });
        }
        Ok(loops)
    }
}

/// The sum of exact decimal money columns of a row.
fn money(row: &sqlx::sqlite::SqliteRow, columns: &[&str]) -> Result<Decimal, sqlx::Error> {
    let mut sum = Decimal::ZERO;
    for column in columns {
        let text: String = row.try_get(*column)?;
        // A damaged amount is an error, never a silent $0.
        sum += Decimal::from_str(&text).map_err(|error| sqlx::Error::ColumnDecode {
            index: (*column).to_string(),
            source: Box::new(error),
        })?;
    }
    Ok(sum)
}

fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Service, operation, status, error code, throttled.
type FailureKey = (String, String, Option<i64>, Option<String>, bool);

/// "" and 0 stand for "none" in the totals' keys.
fn none_if_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl SqliteStore {
    /// Identical calls (same operation and parameter digest) made at least `min` times in one
    /// run, with their calls in the other runs: the 200 largest groups.
    pub(super) async fn repeated_calls(
        &self,
        runs: &[i64],
        min: u64,
    ) -> Result<Vec<RepeatGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = id_list(runs);
        // Per run and digest, the runs' rows of the largest groups; merged below.
        let rows = sqlx::query(&format!(
            "WITH groups AS ( \
                 SELECT digest, sum(calls) AS n FROM digest_totals WHERE run_id IN ({ids}) \
                 GROUP BY digest HAVING max(calls) >= ? ORDER BY n DESC, digest LIMIT 200) \
             SELECT d.*, g.n FROM digest_totals d JOIN groups g USING (digest) \
             WHERE d.run_id IN ({ids}) ORDER BY g.n DESC, d.digest, d.first_us"
        ))
        .bind(min as i64)
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<(i64, RepeatGroup)> = Vec::new();
        for row in rows {
            let digest: i64 = row.try_get("digest")?;
            let cadence = Cadence {
                calls: row.try_get::<i64, _>("calls")?.max(0) as u64,
                first_us: row.try_get("first_us")?,
                last_us: row.try_get("last_us")?,
                latest_us: row.try_get("latest_us")?,
                batch_first_us: row.try_get("batch_first_us")?,
                gap_sq_sum: row.try_get("gap_sq_sum")?,
            };
            let examples: String = row.try_get("examples")?;
            let examples = examples.split(' ').filter_map(|t| t.parse::<i64>().ok());
            let cost = money(&row, &["cost_usd"])?;
            match out.last_mut() {
                Some((last, group)) if *last == digest => {
                    group.cadence.merge(&cadence);
                    group.cost += cost;
                    group.runs += 1;
                    group.most_in_a_run = group.most_in_a_run.max(cadence.calls);
                    group.examples_us.extend(examples);
                }
                _ => out.push((
                    digest,
                    RepeatGroup {
                        service: row.try_get("service")?,
                        operation: row.try_get("operation")?,
                        resource: row.try_get("resource")?,
                        fingerprint: row.try_get("fingerprint")?,
                        count: row.try_get::<i64, _>("n")?.max(0) as u64,
                        runs: 1,
                        most_in_a_run: cadence.calls,
                        cost,
                        cadence,
                        examples_us: examples.collect(),
                    },
                )),
            }
        }
        Ok(out
            .into_iter()
            .map(|(_, mut group)| {
                group.examples_us.sort_unstable();
                group.examples_us.truncate(3);
                group
            })
            .collect())
    }

    /// First attempts of the given operations, by resource.
    pub(super) async fn calls_by_resource(
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
            "SELECT service, operation, resource, first_attempts, first_cost_usd, first_us, \
             last_us FROM resource_totals WHERE run_id IN ({}) \
             AND (service, operation) IN (VALUES {wanted}) AND first_attempts > 0",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<(String, String, Option<String>), ResourceGroup> = HashMap::new();
        for row in rows {
            let key = (
                row.try_get::<String, _>("service")?,
                row.try_get::<String, _>("operation")?,
                none_if_empty(row.try_get("resource")?),
            );
            let first: i64 = row.try_get("first_us")?;
            let last: i64 = row.try_get("last_us")?;
            let group = groups.entry(key.clone()).or_insert_with(|| ResourceGroup {
                service: key.0.clone(),
                operation: key.1.clone(),
                resource: key.2.clone(),
                count: 0,
                cost: Decimal::ZERO,
                first_us: first,
                last_us: last,
            });
            group.count += row.try_get::<i64, _>("first_attempts")?.max(0) as u64;
            group.cost += money(&row, &["first_cost_usd"])?;
            group.first_us = group.first_us.min(first);
            group.last_us = group.last_us.max(last);
        }
        let mut out: Vec<ResourceGroup> = groups.into_values().collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.operation.cmp(&b.operation)));
        Ok(out)
    }

    /// Failed attempts (4xx/5xx, no response, or an error in a 200) by operation and outcome.
    pub(super) async fn failures(&self, runs: &[i64]) -> Result<Vec<FailureGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT * FROM failure_totals WHERE run_id IN ({})",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<FailureKey, FailureGroup> = HashMap::new();
        for row in rows {
            let status: i64 = row.try_get("status")?;
            let key = (
                row.try_get::<String, _>("service")?,
                row.try_get::<String, _>("operation")?,
                (status != 0).then_some(status),
                none_if_empty(row.try_get("error_code")?),
                row.try_get::<bool, _>("throttled")?,
            );
            let first: i64 = row.try_get("first_us")?;
            let last: i64 = row.try_get("last_us")?;
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
            group.count += row.try_get::<i64, _>("calls")?.max(0) as u64;
            group.priced += row.try_get::<i64, _>("priced")?.max(0) as u64;
            group.cost += money(&row, &["cost_usd"])?;
            group.first_us = group.first_us.min(first);
            group.last_us = group.last_us.max(last);
        }
        let mut out: Vec<FailureGroup> = groups.into_values().collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.operation.cmp(&b.operation)));
        Ok(out)
    }

    /// AWS calls by service and region.
    pub(super) async fn regions(&self, runs: &[i64]) -> Result<Vec<RegionGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT service, region, calls, cost_usd FROM region_totals WHERE run_id IN ({})",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<(String, Option<String>), RegionGroup> = HashMap::new();
        for row in rows {
            let key = (
                row.try_get::<String, _>("service")?,
                none_if_empty(row.try_get("region")?),
            );
            let group = groups.entry(key.clone()).or_insert_with(|| RegionGroup {
                service: key.0.clone(),
                region: key.1.clone(),
                count: 0,
                cost: Decimal::ZERO,
            });
            group.count += row.try_get::<i64, _>("calls")?.max(0) as u64;
            group.cost += money(&row, &["cost_usd"])?;
        }
        Ok(groups.into_values().collect())
    }

    /// Calls that caused implied costs, by operation and resource.
    pub(super) async fn implied(&self, runs: &[i64]) -> Result<Vec<ImpliedGroup>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT service, operation, resource, implied_calls, implied_usd FROM resource_totals \
             WHERE run_id IN ({}) AND implied_calls > 0",
            id_list(runs)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut groups: HashMap<(String, String, Option<String>), ImpliedGroup> = HashMap::new();
        for row in rows {
            let key = (
                row.try_get::<String, _>("service")?,
                row.try_get::<String, _>("operation")?,
                none_if_empty(row.try_get("resource")?),
            );
            let group = groups.entry(key.clone()).or_insert_with(|| ImpliedGroup {
                service: key.0.clone(),
                operation: key.1.clone(),
                resource: key.2.clone(),
                count: 0,
                implied: Decimal::ZERO,
            });
            group.count += row.try_get::<i64, _>("implied_calls")?.max(0) as u64;
            group.implied += money(&row, &["implied_usd"])?;
        }
        Ok(groups.into_values().collect())
    }
}

impl SqliteStore {
    /// Calls over time, in at most `slices` equal slices from the first call to the last, read
    /// from the widest stored slots that still resolve one slice.
    pub(super) async fn timeline(
        &self,
        runs: &[i64],
        slices: i64,
    ) -> Result<Vec<TimelinePoint>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = id_list(runs);
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(&format!(
            "SELECT min(first_us), max(last_us) FROM operation_totals WHERE run_id IN ({ids})"
        ))
        .fetch_one(self.pool())
        .await?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Vec::new());
        };
        let slicing = Slicing::new(first, last, slices);
        let rows = sqlx::query(&format!(
            "SELECT slot, calls, cost_usd FROM timeline_totals \
             WHERE run_id IN ({ids}) AND width_us = ?"
        ))
        .bind(slicing.slot_width)
        .fetch_all(self.pool())
        .await?;
        let mut slots = Vec::with_capacity(rows.len());
        for row in rows {
            slots.push((
                row.try_get::<i64, _>("slot")?,
                row.try_get::<i64, _>("calls")?.max(0) as u64,
                money(&row, &["cost_usd"])?,
            ));
        }
        Ok(slicing.points(slots))
    }
}

impl SqliteStore {
    /// Every call of the runs, streamed from the `calls` table.
    pub(super) fn calls<'a>(
        &'a self,
        runs: &'a [i64],
    ) -> futures_util::stream::BoxStream<'a, Result<StoredCall, StoreError>> {
        Box::pin(async_stream::try_stream! {
            if !runs.is_empty() {
                let sql = format!(
                    "SELECT run_id, started_at_us, duration_us, kind, service, operation, region, \
                     resource, status, upstream_failure, error_code, throttled, attempt, bytes_sent, bytes_received, \
                     price_status, cost_usd, transfer_usd, implied_usd, estimated, loop_id, sdk, \
                     app_id, client_pid, client_command \
                     FROM calls WHERE run_id IN ({}) ORDER BY run_id, started_at_us, id",
                    id_list(runs)
                );
                let mut rows = sqlx::query(&sql).fetch(self.pool());
                while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                    yield stored_call(&row)?;
                }
            }
        })
    }
}

fn stored_call(row: &sqlx::sqlite::SqliteRow) -> Result<StoredCall, sqlx::Error> {
    let count = |column: &str| -> Result<u64, sqlx::Error> {
        Ok(row.try_get::<i64, _>(column)?.max(0) as u64)
    };
    Ok(StoredCall {
        run_id: row.try_get("run_id")?,
        started_at_us: row.try_get("started_at_us")?,
        duration_us: row.try_get("duration_us")?,
        kind: CallKind::parse(&row.try_get::<String, _>("kind")?).unwrap_or(CallKind::NotAws),
        service: row.try_get("service")?,
        operation: row.try_get("operation")?,
        region: row.try_get("region")?,
        resource: row.try_get("resource")?,
        status: row
            .try_get::<Option<i64>, _>("status")?
            .and_then(|s| u16::try_from(s).ok()),
        upstream_failure: row
            .try_get::<Option<String>, _>("upstream_failure")?
            .as_deref()
            .and_then(UpstreamFailure::parse),
        error_code: row.try_get("error_code")?,
        throttled: row.try_get("throttled")?,
        attempt: row
            .try_get::<Option<i64>, _>("attempt")?
            .and_then(|a| u32::try_from(a).ok()),
        bytes_sent: count("bytes_sent")?,
        bytes_received: count("bytes_received")?,
        price_status: row.try_get("price_status")?,
        cost: money(row, &["cost_usd"])?,
        transfer: money(row, &["transfer_usd"])?,
        implied: money(row, &["implied_usd"])?,
        estimated: row.try_get("estimated")?,
        loop_id: row
            .try_get::<Option<i64>, _>("loop_id")?
            .and_then(|id| u64::try_from(id).ok()),
        sdk: row.try_get("sdk")?,
        app_id: row.try_get("app_id")?,
        client_pid: row
            .try_get::<Option<i64>, _>("client_pid")?
            .and_then(|pid| u32::try_from(pid).ok()),
        client_command: row.try_get("client_command")?,
    })
}
