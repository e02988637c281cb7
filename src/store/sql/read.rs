//! Reading the history back, for every SQL backend: which runs, and their calls and loops
//! aggregated for reports.
//!
//! Aggregates come from the totals each backend's writer keeps per run (the same tables in
//! SQLite and PostgreSQL), a few rows per operation, outcome or slot whatever the number of
//! calls; runs are merged here, money summed as exact decimals (SQLite would sum text as
//! floating point). One reader for both backends: the same history gives the same report.

use std::collections::HashMap;
use std::str::FromStr;

use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;
use rust_decimal::Decimal;

use super::{id_list, none_if_empty, Bind, Fetch, Row};
use crate::record::{
    parse_priced, Cadence, CallGroupRow, CallKind, FailureGroup, GroupBy, ImpliedGroup, LoopRow,
    ObjectWrite, OperationTally, RegionGroup, RepeatGroup, ResourceGroup, RunFilter, RunRow,
    StoredCall, TimelinePoint, Unit, UpstreamFailure, Usd, S3_OBJECT_WRITES,
};
use crate::store::tally::Slicing;
use crate::store::{StoreError, StoredFinding};

/// Run ids matching the filter, newest first.
pub async fn select_runs<F: Fetch + ?Sized>(
    db: &F,
    filter: &RunFilter,
) -> Result<Vec<i64>, StoreError> {
    if let Some(run) = filter.run {
        let found = db
            .fetch_rows("SELECT id FROM runs WHERE id = ?", &[Bind::Int(run)])
            .await?;
        return found.iter().map(|row| row.int("id")).collect();
    }
    let mut sql = String::from("SELECT id FROM runs WHERE 1 = 1");
    let mut binds = Vec::new();
    if let Some(since) = filter.since_us {
        sql.push_str(" AND started_at_us >= ?");
        binds.push(Bind::Int(since));
    }
    for (key, value) in &filter.tags {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = runs.id AND t.key = ? AND t.value = ?)",
        );
        binds.push(Bind::Text(key.clone()));
        binds.push(Bind::Text(value.clone()));
    }
    sql.push_str(" ORDER BY started_at_us DESC, id DESC");
    if filter.last || (filter.since_us.is_none() && filter.tags.is_empty()) {
        sql.push_str(" LIMIT 1");
    }
    let rows = db.fetch_rows(&sql, &binds).await?;
    rows.iter().map(|row| row.int("id")).collect()
}

/// Runs by id (all runs, newest first, when `ids` is `None`), at most `limit`.
pub async fn runs<F: Fetch + ?Sized>(
    db: &F,
    ids: Option<&[i64]>,
    limit: i64,
) -> Result<Vec<RunRow>, StoreError> {
    let mut sql = String::from(
        "SELECT r.*, (SELECT coalesce(sum(t.calls), 0) FROM operation_totals t \
         WHERE t.run_id = r.id) AS calls FROM runs r",
    );
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sql.push_str(&format!(" WHERE r.id IN ({})", id_list(ids)));
    }
    sql.push_str(" ORDER BY r.started_at_us DESC, r.id DESC LIMIT ?");
    let rows = db.fetch_rows(&sql, &[Bind::Int(limit)]).await?;
    // Tags and totals of all the runs in one query each, not two per run (a weekly report
    // reads hundreds of runs, over a network with PostgreSQL).
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.int("id")?);
    }
    let mut tags_of: HashMap<i64, std::collections::BTreeMap<String, String>> = HashMap::new();
    let mut totals_of: HashMap<i64, (Decimal, u64, u64, u64)> = HashMap::new();
    if !ids.is_empty() {
        let list = id_list(&ids);
        for tag in db
            .fetch_rows(
                &format!("SELECT run_id, key, value FROM run_tags WHERE run_id IN ({list})"),
                &[],
            )
            .await?
        {
            tags_of
                .entry(tag.int("run_id")?)
                .or_default()
                .insert(tag.text("key")?, tag.text("value")?);
        }
        // Summed here, exactly: SQLite would sum the decimal text as floating point.
        for total in db
            .fetch_rows(
                &format!(
                    "SELECT run_id, cost_usd, transfer_usd, implied_usd, priced, free, \
                     not_billed, unpriced, estimated FROM operation_totals \
                     WHERE run_id IN ({list})"
                ),
                &[],
            )
            .await?
        {
            let sums = totals_of.entry(total.int("run_id")?).or_default();
            sums.0 += total.money(&["cost_usd", "transfer_usd", "implied_usd"])?;
            sums.1 += total.count("priced")? + total.count("free")? + total.count("not_billed")?;
            sums.2 += total.count("unpriced")?;
            sums.3 += total.count("estimated")?;
        }
    }
    let mut runs = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.int("id")?;
        let tags = tags_of.remove(&id).unwrap_or_default();
        let command = row.opt_text("command")?;
        let (cost, billed, unpriced, estimated) = totals_of.remove(&id).unwrap_or_default();
        runs.push(RunRow {
            id,
            uuid: row.text("uuid")?,
            kind: row.text("kind")?,
            state: row.text("state")?,
            started_at_us: row.int("started_at_us")?,
            ended_at_us: row.opt_int("ended_at_us")?,
            exit_code: row.opt_int("exit_code")?,
            command: command
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default(),
            cwd: row.opt_text("cwd")?,
            git_repo: row.opt_text("git_repo")?,
            git_branch: row.opt_text("git_branch")?,
            git_commit: row.opt_text("git_commit")?,
            ci_provider: row.opt_text("ci_provider")?,
            ci_job: row.opt_text("ci_job")?,
            ci_ref: row.opt_text("ci_ref")?,
            ci_pr: row.opt_text("ci_pr")?,
            tags,
            tollgate_version: row.text("tollgate_version")?,
            pricing_version: row.text("pricing_version")?,
            model_version: row.text("model_version")?,
            lost_calls: row.int("lost_calls")?,
            lost_reason: row.opt_text("lost_reason")?,
            calls: row.int("calls")?,
            cost_usd: Usd(cost),
            billed,
            unpriced,
            estimated,
        });
    }
    Ok(runs)
}

/// Calls of the runs, by service and operation (from the writer's totals).
pub async fn operations<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
) -> Result<Vec<OperationTally>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let ids = id_list(runs);
    let mut by_operation: HashMap<(String, String), OperationTally> = HashMap::new();
    let totals = db
        .fetch_rows(
            &format!("SELECT * FROM operation_totals WHERE run_id IN ({ids})"),
            &[],
        )
        .await?;
    for row in totals {
        let service = row.text("service")?;
        let operation = row.text("operation")?;
        let entry = by_operation
            .entry((service.clone(), operation.clone()))
            .or_insert_with(|| OperationTally::new(&service, &operation));
        entry.attempts += row.count("calls")?;
        entry.retries += row.count("retries")?;
        entry.errors += row.count("errors")?;
        entry.throttled += row.count("throttled")?;
        entry.bytes_sent += row.count("bytes_sent")?;
        entry.bytes_received += row.count("bytes_received")?;
        entry.cost += row.money(&["cost_usd"])?;
        entry.transfer += row.money(&["transfer_usd"])?;
        entry.implied += row.money(&["implied_usd"])?;
        entry.priced += row.count("priced")?;
        entry.free += row.count("free")?;
        entry.not_billed += row.count("not_billed")?;
        entry.unpriced += row.count("unpriced")?;
        entry.estimated += row.count("estimated")?;
        entry.not_in_model += row.count("not_in_model")?;
        entry.first_us = entry.first_us.min(row.int("first_us")?);
        entry.last_us = entry.last_us.max(row.int("last_us")?);
        entry.latency_max_us = entry.latency_max_us.max(row.count("latency_max_us")?);
    }
    let units = db
        .fetch_rows(
            &format!(
                "SELECT service, operation, unit, quantity FROM operation_units \
                 WHERE run_id IN ({ids})"
            ),
            &[],
        )
        .await?;
    for row in units {
        let key = (row.text("service")?, row.text("operation")?);
        let unit = row.text("unit")?;
        // A unit this version does not know (a newer tollgate wrote it) is left out.
        let Ok(unit) = Unit::from_str(&unit) else {
            tracing::debug!("unknown unit `{unit}` in operation_units");
            continue;
        };
        if let Some(entry) = by_operation.get_mut(&key) {
            *entry.units.entry(unit).or_default() += row.money(&["quantity"])?;
        }
    }
    let latencies = db
        .fetch_rows(
            &format!(
                "SELECT service, operation, bucket_us, calls FROM operation_latency \
                 WHERE run_id IN ({ids})"
            ),
            &[],
        )
        .await?;
    for row in latencies {
        let key = (row.text("service")?, row.text("operation")?);
        let bucket = row.int("bucket_us")?;
        let n = row.count("calls")?;
        if let Some(entry) = by_operation.get_mut(&key) {
            let _ = entry.latency_us.record_n(bucket.max(1) as u64, n);
        }
    }
    let mut out: Vec<OperationTally> = by_operation.into_values().collect();
    crate::record::sort_operations(&mut out);
    Ok(out)
}

/// Loops of the runs, in order.
pub async fn loops<F: Fetch + ?Sized>(db: &F, runs: &[i64]) -> Result<Vec<LoopRow>, StoreError> {
    // Read in chunks, each converted before the next is read: a run of many listings has a loop
    // row for each, and holding all of the driver's rows and their plain copies besides the loops
    // took three times the memory (`report` on 330,000 loops: 1.57 GB peak RSS, now 0.44 GB).
    // Chunks rather than a row stream, which hands rows over one at a time (6.9-7.1 s for that
    // report against 5.2-5.3 s), run by run, each after the last loop read: a range of the
    // primary key (run_id, loop_id), where one query over all the runs scanned the rows skipped.
    let mut ordered = runs.to_vec();
    ordered.sort_unstable();
    ordered.dedup();
    let chunk = format!(
        "SELECT * FROM loops WHERE run_id = ? AND loop_id > ? ORDER BY loop_id LIMIT {LOOPS_PER_READ}"
    );
    let mut loops = Vec::new();
    for run in ordered {
        let mut after = i64::MIN;
        loop {
            let rows = db
                .fetch_rows(&chunk, &[Bind::Int(run), Bind::Int(after)])
                .await?;
            for row in &rows {
                let read = loop_row(row)?;
                after = read.loop_id;
                loops.push(read);
            }
            if rows.len() < LOOPS_PER_READ {
                break;
            }
        }
    }
    Ok(loops)
}

/// Loop rows read per query by [`loops`].
const LOOPS_PER_READ: usize = 10_000;

/// The findings kept for the runs, oldest run first, each in its report's order.
pub async fn findings<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
) -> Result<Vec<StoredFinding>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .fetch_rows(
            &format!(
                "SELECT run_id, ordinal, finding_id, rule, service, operation, resource, calls, \
                 cost_usd, claimed_calls, saving_usd FROM findings WHERE run_id IN ({}) \
                 ORDER BY run_id, ordinal",
                id_list(runs)
            ),
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let saving = match row.opt_int("claimed_calls")? {
                Some(calls) => Some((calls.max(0) as u64, row.money(&["saving_usd"])?)),
                None => None,
            };
            Ok(StoredFinding {
                run_id: row.int("run_id")?,
                ordinal: row.count("ordinal")?,
                id: row.text("finding_id")?,
                rule: row.text("rule")?,
                service: row.text("service")?,
                operation: row.text("operation")?,
                resource: row.opt_text("resource")?,
                calls: row.count("calls")?,
                cost: row.money(&["cost_usd"])?,
                saving,
            })
        })
        .collect()
}

fn loop_row(row: &Row) -> Result<LoopRow, StoreError> {
    Ok(LoopRow {
        run_id: row.int("run_id")?,
        loop_id: row.int("loop_id")?,
        service: row.text("service")?,
        operation: row.text("operation")?,
        resource: row.opt_text("resource")?,
        started_at_us: row.int("started_at_us")?,
        ended_at_us: row.int("ended_at_us")?,
        pages: row.int("pages")?,
        attempts: row.int("attempts")?,
        items: row.opt_int("items")?,
        items_unknown: row.opt_text("items_unknown")?,
        page_size: row.opt_int("page_size")?,
        page_size_max: row.opt_int("page_size_max")?,
        complete: row.flag("complete")?,
        resumed: row.flag("resumed")?,
        relisting: row.flag("relisting")?,
        cost: row.money(&["cost_usd"])?,
        transfer: row.money(&["transfer_usd"])?,
        implied: row.money(&["implied_usd"])?,
        callsite: row.opt_text("callsite")?,
    })
}

/// Service, operation, status, error code, throttled.
type FailureKey = (String, String, Option<i64>, Option<String>, bool);

/// Identical calls (same operation and parameter digest) made at least `min` times in one
/// run, with their calls in the other runs: the 200 largest groups.
pub async fn repeated_calls<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
    min: u64,
) -> Result<Vec<RepeatGroup>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let ids = id_list(runs);
    // Per run and digest, the runs' rows of the largest groups; merged below.
    let rows = db
        .fetch_rows(
            &format!(
                "WITH groups AS ( \
                     SELECT digest, sum(calls) AS n FROM digest_totals WHERE run_id IN ({ids}) \
                     GROUP BY digest HAVING max(calls) >= ? ORDER BY n DESC, digest LIMIT 200) \
                 SELECT d.*, g.n FROM digest_totals d JOIN groups g USING (digest) \
                 WHERE d.run_id IN ({ids}) ORDER BY g.n DESC, d.digest, d.first_us"
            ),
            &[Bind::Int(min as i64)],
        )
        .await?;
    let mut out: Vec<(i64, RepeatGroup)> = Vec::new();
    for row in rows {
        let digest = row.int("digest")?;
        let cadence = Cadence {
            calls: row.count("calls")?,
            first_us: row.int("first_us")?,
            last_us: row.int("last_us")?,
            latest_us: row.int("latest_us")?,
            batch_first_us: row.int("batch_first_us")?,
            gap_sq_sum: row.real("gap_sq_sum")?,
        };
        let examples = row.text("examples")?;
        let examples = examples.split(' ').filter_map(|t| t.parse::<i64>().ok());
        let cost = row.money(&["cost_usd"])?;
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
                    service: row.text("service")?,
                    operation: row.text("operation")?,
                    resource: row.opt_text("resource")?,
                    fingerprint: row.text("fingerprint")?,
                    count: row.count("n")?,
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
pub async fn calls_by_resource<F: Fetch + ?Sized>(
    db: &F,
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
    let rows = db
        .fetch_rows(
            &format!(
                "SELECT service, operation, resource, first_attempts, first_cost_usd, first_us, \
                 last_us, listed_before, listed_before_usd, empty_receives, empty_receives_usd, \
                 after_head, refetched_bytes, refetched_usd, refetched_calls, refetched_calls_usd \
                 FROM resource_totals WHERE run_id IN ({}) \
                 AND (service, operation) IN (VALUES {wanted}) AND first_attempts > 0",
                id_list(runs)
            ),
            &[],
        )
        .await?;
    let mut groups: HashMap<(String, String, Option<String>), ResourceGroup> = HashMap::new();
    for row in rows {
        let key = (
            row.text("service")?,
            row.text("operation")?,
            none_if_empty(row.text("resource")?),
        );
        let first = row.int("first_us")?;
        let last = row.int("last_us")?;
        let group = groups.entry(key.clone()).or_insert_with(|| ResourceGroup {
            service: key.0.clone(),
            operation: key.1.clone(),
            resource: key.2.clone(),
            count: 0,
            cost: Decimal::ZERO,
            first_us: first,
            last_us: last,
            listed_before: 0,
            listed_before_cost: Decimal::ZERO,
            empty_receives: 0,
            empty_receives_cost: Decimal::ZERO,
            after_head: 0,
            refetched_bytes: 0,
            refetched_cost: Decimal::ZERO,
            refetched_calls: 0,
            refetched_calls_cost: Decimal::ZERO,
        });
        group.count += row.count("first_attempts")?;
        group.cost += row.money(&["first_cost_usd"])?;
        group.listed_before += row.count("listed_before")?;
        group.listed_before_cost += row.money(&["listed_before_usd"])?;
        group.empty_receives += row.count("empty_receives")?;
        group.empty_receives_cost += row.money(&["empty_receives_usd"])?;
        group.after_head += row.count("after_head")?;
        group.refetched_bytes += row.count("refetched_bytes")?;
        group.refetched_cost += row.money(&["refetched_usd"])?;
        group.refetched_calls += row.count("refetched_calls")?;
        group.refetched_calls_cost += row.money(&["refetched_calls_usd"])?;
        group.first_us = group.first_us.min(first);
        group.last_us = group.last_us.max(last);
    }
    let mut out: Vec<ResourceGroup> = groups.into_values().collect();
    crate::record::sort_resources(&mut out);
    Ok(out)
}

/// Failed attempts (4xx/5xx, no response, or an error in a 200) by operation and outcome.
pub async fn failures<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
) -> Result<Vec<FailureGroup>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .fetch_rows(
            &format!(
                "SELECT * FROM failure_totals WHERE run_id IN ({})",
                id_list(runs)
            ),
            &[],
        )
        .await?;
    let mut groups: HashMap<FailureKey, FailureGroup> = HashMap::new();
    for row in rows {
        let status = row.int("status")?;
        let key = (
            row.text("service")?,
            row.text("operation")?,
            (status != 0).then_some(status),
            none_if_empty(row.text("error_code")?),
            row.flag("throttled")?,
        );
        let first = row.int("first_us")?;
        let last = row.int("last_us")?;
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
        group.count += row.count("calls")?;
        group.priced += row.count("priced")?;
        group.cost += row.money(&["cost_usd"])?;
        group.first_us = group.first_us.min(first);
        group.last_us = group.last_us.max(last);
    }
    let mut out: Vec<FailureGroup> = groups.into_values().collect();
    crate::record::sort_failures(&mut out);
    Ok(out)
}

/// AWS calls by service and region.
pub async fn regions<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
) -> Result<Vec<RegionGroup>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .fetch_rows(
            &format!(
                "SELECT service, region, calls, cost_usd FROM region_totals WHERE run_id IN ({})",
                id_list(runs)
            ),
            &[],
        )
        .await?;
    let mut groups: HashMap<(String, Option<String>), RegionGroup> = HashMap::new();
    for row in rows {
        let key = (row.text("service")?, none_if_empty(row.text("region")?));
        let group = groups.entry(key.clone()).or_insert_with(|| RegionGroup {
            service: key.0.clone(),
            region: key.1.clone(),
            count: 0,
            cost: Decimal::ZERO,
        });
        group.count += row.count("calls")?;
        group.cost += row.money(&["cost_usd"])?;
    }
    let mut out: Vec<RegionGroup> = groups.into_values().collect();
    crate::record::sort_regions(&mut out);
    Ok(out)
}

/// Calls that caused implied costs, by operation and resource.
pub async fn implied<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
) -> Result<Vec<ImpliedGroup>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .fetch_rows(
            &format!(
                "SELECT service, operation, resource, implied_calls, implied_usd \
                 FROM resource_totals WHERE run_id IN ({}) AND implied_calls > 0",
                id_list(runs)
            ),
            &[],
        )
        .await?;
    let mut groups: HashMap<(String, String, Option<String>), ImpliedGroup> = HashMap::new();
    for row in rows {
        let key = (
            row.text("service")?,
            row.text("operation")?,
            none_if_empty(row.text("resource")?),
        );
        let group = groups.entry(key.clone()).or_insert_with(|| ImpliedGroup {
            service: key.0.clone(),
            operation: key.1.clone(),
            resource: key.2.clone(),
            count: 0,
            implied: Decimal::ZERO,
        });
        group.count += row.count("implied_calls")?;
        group.implied += row.money(&["implied_usd"])?;
    }
    let mut out: Vec<ImpliedGroup> = groups.into_values().collect();
    crate::record::sort_implied(&mut out);
    Ok(out)
}

/// Calls over time, in at most `slices` equal slices from the first call to the last, read
/// from the widest stored slots that still resolve one slice.
pub async fn timeline<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
    slices: i64,
) -> Result<Vec<TimelinePoint>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let ids = id_list(runs);
    let span = db
        .fetch_rows(
            &format!(
                "SELECT min(first_us) AS first_us, max(last_us) AS last_us FROM operation_totals \
                 WHERE run_id IN ({ids})"
            ),
            &[],
        )
        .await?;
    let Some(span) = span.first() else {
        return Ok(Vec::new());
    };
    let (Some(first), Some(last)) = (span.opt_int("first_us")?, span.opt_int("last_us")?) else {
        return Ok(Vec::new());
    };
    let slicing = Slicing::new(first, last, slices);
    let rows = db
        .fetch_rows(
            &format!(
                "SELECT slot, calls, cost_usd FROM timeline_totals \
                 WHERE run_id IN ({ids}) AND width_us = ?"
            ),
            &[Bind::Int(slicing.slot_width)],
        )
        .await?;
    let mut slots = Vec::with_capacity(rows.len());
    for row in rows {
        slots.push((
            row.int("slot")?,
            row.count("calls")?,
            row.money(&["cost_usd"])?,
        ));
    }
    Ok(slicing.points(slots))
}

/// The runs' attempts grouped `by` who made them, from `group_totals`.
pub async fn call_groups<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
    by: GroupBy,
) -> Result<Vec<CallGroupRow>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .fetch_rows(
            &format!(
                "SELECT run_id, group_key, service, operation, resource, attempts, retries, \
                 errors, total_usd FROM group_totals WHERE run_id IN ({}) AND grouped_by = ?",
                id_list(runs)
            ),
            &[Bind::Text(by.as_str().to_string())],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(CallGroupRow {
                run_id: row.int("run_id")?,
                key: none_if_empty(row.text("group_key")?),
                service: row.text("service")?,
                operation: row.text("operation")?,
                resource: none_if_empty(row.text("resource")?),
                attempts: row.count("attempts")?,
                retries: row.count("retries")?,
                errors: row.count("errors")?,
                total: row.money(&["total_usd"])?,
            })
        })
        .collect()
}

/// A call's call site and test (`callsite`, `test`), from the run's labels (`call_labels`) that
/// [`LABEL_JOINS`] joins to the calls `c`.
pub const LABEL_COLUMNS: &str = "callsite_label.text AS callsite, test_label.text AS test";

/// The labels the calls `c` name, joined by their numbers in the run.
pub const LABEL_JOINS: &str = "LEFT JOIN call_labels callsite_label \
     ON callsite_label.run_id = c.run_id AND callsite_label.label_id = c.callsite_label \
     LEFT JOIN call_labels test_label \
     ON test_label.run_id = c.run_id AND test_label.label_id = c.test_label";

/// Every call of the runs, streamed from the `calls` table, their labels joined.
pub fn calls<'a, F: Fetch + ?Sized>(
    db: &'a F,
    runs: &[i64],
) -> BoxStream<'a, Result<StoredCall, StoreError>> {
    if runs.is_empty() {
        return futures_util::stream::empty().boxed();
    }
    let sql = format!(
        "SELECT c.run_id, c.started_at_us, c.duration_us, c.kind, c.service, c.operation, \
         c.region, c.resource, c.status, c.upstream_failure, c.error_code, c.throttled, \
         c.attempt, c.bytes_sent, c.bytes_received, c.price_status, c.cost_usd, c.transfer_usd, \
         c.implied_usd, c.estimated, c.priced, c.loop_id, c.sdk, c.app_id, c.client_pid, \
         c.client_command, {LABEL_COLUMNS} FROM calls c {LABEL_JOINS} \
         WHERE c.run_id IN ({}) ORDER BY c.run_id, c.started_at_us, c.id",
        id_list(runs)
    );
    db.stream_rows(sql, Vec::new())
        .map(|row| stored_call(&row?))
        .boxed()
}

/// The runs' S3 object writes and multipart calls ([`S3_OBJECT_WRITES`]), oldest run first and
/// in the order they started: read from their partial index alone, which holds every column
/// asked for here, without reading the other calls or these calls' rows.
pub async fn s3_object_writes<F: Fetch + ?Sized>(
    db: &F,
    runs: &[i64],
) -> Result<Vec<ObjectWrite>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db.fetch_rows(&s3_object_writes_sql(runs), &[]).await?;
    rows.iter()
        .map(|row| {
            Ok(ObjectWrite {
                run_id: row.int("run_id")?,
                at_us: row.int("started_at_us")?,
                operation: row.text("operation")?,
                resource: row.opt_text("resource")?,
                ok: !crate::record::is_error(
                    row.opt_int("status")?.and_then(|s| u16::try_from(s).ok()),
                    row.opt_text("error_code")?.as_deref(),
                ),
                retry: crate::record::is_retry(
                    row.opt_int("attempt")?.and_then(|a| u32::try_from(a).ok()),
                ),
                bytes_sent: row.count("bytes_sent")?,
                cost: row.money(&["cost_usd"])?,
            })
        })
        .collect()
}

/// The query of [`s3_object_writes`]: its columns are the partial index's.
pub(crate) fn s3_object_writes_sql(runs: &[i64]) -> String {
    format!(
        "SELECT run_id, started_at_us, operation, resource, status, error_code, attempt, \
         bytes_sent, cost_usd FROM calls WHERE run_id IN ({}) {} \
         ORDER BY run_id, started_at_us",
        id_list(runs),
        s3_object_writes_condition()
    )
}

/// The partial index's condition, word for word (SQLite uses a partial index only for a query
/// whose condition contains the index's own).
pub(crate) fn s3_object_writes_condition() -> String {
    format!(
        "AND service = 's3' AND operation IN ({})",
        S3_OBJECT_WRITES
            .iter()
            .map(|operation| format!("'{operation}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn stored_call(row: &Row) -> Result<StoredCall, StoreError> {
    Ok(StoredCall {
        run_id: row.int("run_id")?,
        started_at_us: row.int("started_at_us")?,
        duration_us: row.int("duration_us")?,
        kind: CallKind::parse(&row.text("kind")?).unwrap_or(CallKind::NotAws),
        service: row.text("service")?,
        operation: row.text("operation")?,
        region: row.opt_text("region")?,
        resource: row.opt_text("resource")?,
        status: row.opt_int("status")?.and_then(|s| u16::try_from(s).ok()),
        upstream_failure: row
            .opt_text("upstream_failure")?
            .as_deref()
            .and_then(UpstreamFailure::parse),
        error_code: row.opt_text("error_code")?,
        throttled: row.flag("throttled")?,
        attempt: row.opt_int("attempt")?.and_then(|a| u32::try_from(a).ok()),
        bytes_sent: row.count("bytes_sent")?,
        bytes_received: row.count("bytes_received")?,
        price_status: row.text("price_status")?,
        cost: row.money(&["cost_usd"])?,
        transfer: row.money(&["transfer_usd"])?,
        implied: row.money(&["implied_usd"])?,
        estimated: row.opt_text("estimated")?,
        priced: parse_priced(row.opt_text("priced")?.as_deref()),
        loop_id: row
            .opt_int("loop_id")?
            .and_then(|id| u64::try_from(id).ok()),
        sdk: row.opt_text("sdk")?,
        app_id: row.opt_text("app_id")?,
        client_pid: row
            .opt_int("client_pid")?
            .and_then(|pid| u32::try_from(pid).ok()),
        client_command: row.opt_text("client_command")?,
        callsite: row.opt_text("callsite")?,
        test: row.opt_text("test")?,
    })
}
