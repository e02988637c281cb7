//! A store that keeps everything in memory: for tests of what reads the history (findings,
//! reports), the proof that the store seam is real, and the report of a `run --no-record`. Its reads sum the stored calls with the
//! same engine the SQLite writer uses ([`super::tally`]), at read time.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures_util::stream::BoxStream;

use super::tally::{Slicing, Totals};
use super::{micros, Batch, RunStore, StoreError, StoredFinding};
use crate::record::{
    Call, CallGroupRow, ClientProcess, FailureGroup, GroupBy, ImpliedGroup, Loop, LoopRow,
    ObjectWrite, OperationTally, RegionGroup, RepeatGroup, ResourceGroup, RunEnd, RunFilter,
    RunMeta, RunRow, StoredCall, TimelinePoint, Usd,
};

/// The largest repeated groups a read returns (as the SQLite store).
const REPEATED_GROUPS: usize = 200;

struct StoredRun {
    meta: RunMeta,
    state: &'static str,
    ended_at_us: Option<i64>,
    end: RunEnd,
    calls: Vec<(Call, Option<ClientProcess>)>,
    loops: Vec<Loop>,
    findings: Vec<StoredFinding>,
}

/// Runs, calls and loops in memory.
#[derive(Default)]
pub struct MemoryStore {
    runs: Mutex<BTreeMap<i64, StoredRun>>,
    /// What [`RunStore::location`] says (`memory` when `None`).
    location: Option<String>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose [`RunStore::location`] is `location`, for the reports read from it.
    pub fn described_as(location: impl Into<String>) -> Self {
        Self {
            location: Some(location.into()),
            ..Self::default()
        }
    }

    fn with_runs<T>(&self, f: impl FnOnce(&BTreeMap<i64, StoredRun>) -> T) -> T {
        f(&self.runs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The calls of `runs`, oldest run first, each in the order it was written.
    fn calls_of<'a>(
        runs: &'a BTreeMap<i64, StoredRun>,
        ids: &'a [i64],
    ) -> impl Iterator<Item = (&'a Call, Option<&'a ClientProcess>)> + 'a {
        runs.iter()
            .filter(move |(id, _)| ids.contains(id))
            .flat_map(|(_, run)| {
                run.calls
                    .iter()
                    .map(|(call, process)| (call, process.as_ref()))
            })
    }

    fn totals_of<T>(&self, ids: &[i64], f: impl FnOnce(&Totals<'_>) -> T) -> T {
        self.with_runs(|runs| f(&Totals::of(Self::calls_of(runs, ids))))
    }
}

fn none_if_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

#[async_trait::async_trait]
impl RunStore for MemoryStore {
    fn location(&self) -> String {
        self.location.clone().unwrap_or_else(|| "memory".into())
    }

    async fn begin_run(&self, meta: &RunMeta) -> Result<i64, StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let id = runs.keys().next_back().map_or(1, |last| last + 1);
        runs.insert(
            id,
            StoredRun {
                meta: meta.clone(),
                state: "running",
                ended_at_us: None,
                end: RunEnd::default(),
                calls: Vec::new(),
                loops: Vec::new(),
                findings: Vec::new(),
            },
        );
        Ok(id)
    }

    async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let stored = runs.get_mut(&run).ok_or(StoreError::Missing {
            path: format!("run {run}"),
        })?;
        stored.calls.extend(
            batch
                .calls
                .iter()
                .cloned()
                .zip(batch.processes.iter().cloned()),
        );
        // A loop written again (stopped, then seen whole) replaces the earlier record.
        for record in batch.loops {
            stored.loops.retain(|l| l.id != record.id);
            stored.loops.push(record.clone());
        }
        Ok(())
    }

    async fn end_run(&self, run: i64, end: &RunEnd) -> Result<(), StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stored) = runs.get_mut(&run) {
            stored.state = super::ended_state(end);
            stored.ended_at_us = Some(micros(std::time::SystemTime::now()));
            stored.end = end.clone();
        }
        Ok(())
    }

    async fn note_unrecorded(&self, uuid: &str, answered: u64) -> Result<Option<u64>, StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let Some(run) = runs.values_mut().find(|run| run.meta.uuid == uuid) else {
            return Ok(None);
        };
        match run.state {
            "incomplete" => {}
            "running" => return Ok(None),
            _ => return Ok(Some(0)),
        }
        let missing = answered.saturating_sub(run.calls.len() as u64);
        if missing > 0 {
            run.end.lost = run.end.lost.max(missing);
            run.end.lost_reason.get_or_insert_with(|| {
                format!(
                    "tollgate stopped before the run's end: {missing} of its {answered} \
                     answered calls were not recorded"
                )
            });
        }
        Ok(Some(missing))
    }

    async fn select_runs(&self, filter: &RunFilter) -> Result<Vec<i64>, StoreError> {
        Ok(self.with_runs(|runs| {
            if let Some(run) = filter.run {
                return runs.contains_key(&run).then_some(run).into_iter().collect();
            }
            let mut ids: Vec<(i64, i64)> = runs
                .iter()
                .filter(|(_, run)| {
                    filter
                        .since_us
                        .is_none_or(|since| micros(run.meta.started_at) >= since)
                })
                .filter(|(_, run)| filter.tags.iter().all(|tag| run.meta.tags.contains(tag)))
                .map(|(id, run)| (micros(run.meta.started_at), *id))
                .collect();
            ids.sort_unstable_by(|a, b| b.cmp(a));
            if filter.last || (filter.since_us.is_none() && filter.tags.is_empty()) {
                ids.truncate(1);
            }
            ids.into_iter().map(|(_, id)| id).collect()
        }))
    }

    async fn runs(&self, ids: Option<&[i64]>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        Ok(self.with_runs(|runs| {
            let mut rows: Vec<RunRow> = runs
                .iter()
                .filter(|(id, _)| ids.is_none_or(|ids| ids.contains(id)))
                .map(|(&id, run)| {
                    let meta = &run.meta;
                    let (ended_at_us, end) = (run.ended_at_us, run.end.clone());
                    let count = |keep: fn(&Call) -> bool| {
                        run.calls.iter().filter(|(call, _)| keep(call)).count() as u64
                    };
                    RunRow {
                        id,
                        uuid: meta.uuid.clone(),
                        kind: meta.kind.clone(),
                        state: run.state.into(),
                        started_at_us: micros(meta.started_at),
                        ended_at_us,
                        exit_code: end.exit_code.map(i64::from),
                        command: meta.command.clone(),
                        cwd: meta.cwd.clone(),
                        git_repo: meta.git.repo.clone(),
                        git_branch: meta.git.branch.clone(),
                        git_commit: meta.git.commit.clone(),
                        ci_provider: meta.ci.provider.clone(),
                        ci_job: meta.ci.job.clone(),
                        ci_ref: meta.ci.git_ref.clone(),
                        ci_pr: meta.ci.pr.clone(),
                        tags: meta.tags.iter().cloned().collect(),
                        tollgate_version: meta.tollgate_version.clone(),
                        pricing_version: meta.pricing_version.clone(),
                        model_version: meta.model_version.clone(),
                        lost_calls: i64::try_from(end.lost).unwrap_or(i64::MAX),
                        lost_reason: end.lost_reason,
                        calls: run.calls.len() as i64,
                        cost_usd: run
                            .calls
                            .iter()
                            .map(|(call, _)| Usd(call.all_money()))
                            .sum(),
                        billed: count(|call| {
                            !matches!(call.price, crate::record::PriceStatus::Unpriced { .. })
                        }),
                        unpriced: count(|call| {
                            matches!(call.price, crate::record::PriceStatus::Unpriced { .. })
                        }),
                        estimated: count(|call| call.estimated.is_some()),
                    }
                })
                .collect();
            rows.sort_by_key(|run| std::cmp::Reverse((run.started_at_us, run.id)));
            rows.truncate(usize::try_from(limit.max(0)).unwrap_or(usize::MAX));
            rows
        }))
    }

    async fn operations(&self, runs: &[i64]) -> Result<Vec<OperationTally>, StoreError> {
        let mut out: Vec<OperationTally> =
            self.totals_of(runs, |totals| totals.operations.values().cloned().collect());
        crate::record::sort_operations(&mut out);
        Ok(out)
    }

    async fn loops(&self, runs: &[i64]) -> Result<Vec<LoopRow>, StoreError> {
        Ok(self.with_runs(|stored| {
            let mut rows = Vec::new();
            for (&run_id, run) in stored.iter().filter(|(id, _)| runs.contains(id)) {
                let mut loops: Vec<&Loop> = run.loops.iter().collect();
                loops.sort_by_key(|l| l.id);
                rows.extend(loops.into_iter().map(|l| LoopRow {
                    run_id,
                    loop_id: l.id as i64,
                    service: l.service.clone(),
                    operation: l.operation.clone(),
                    resource: l.resource.clone(),
                    started_at_us: micros(l.started_at),
                    ended_at_us: micros(l.ended_at),
                    pages: l.pages as i64,
                    attempts: l.attempts as i64,
                    items: l.items.map(|i| i as i64),
                    items_unknown: l.items_unknown.map(|reason| reason.code().to_string()),
                    page_size: l.page_size.map(|i| i as i64),
                    page_size_max: l.page_size_max.map(|i| i as i64),
                    complete: l.complete,
                    resumed: l.resumed,
                    relisting: l.relisting,
                    cost: l.cost,
                    transfer: l.transfer,
                    implied: l.implied,
                    callsite: l.callsite.clone(),
                }));
            }
            rows
        }))
    }

    async fn repeated_calls(&self, runs: &[i64], min: u64) -> Result<Vec<RepeatGroup>, StoreError> {
        // Each run on its own (a repeat is a repeat within a run), then merged by digest in the
        // order of the groups' first calls, as the SQLite store merges its per-run rows.
        let mut per_run: Vec<(i64, RepeatGroup)> = self.with_runs(|stored| {
            let mut rows = Vec::new();
            for &id in stored.keys().filter(|id| runs.contains(id)) {
                let totals = Totals::of(Self::calls_of(stored, std::slice::from_ref(&id)));
                rows.extend(totals.digests.iter().map(|(&digest, d)| {
                    let group = RepeatGroup {
                        service: d.service.into(),
                        operation: d.operation.into(),
                        resource: d.resource.map(str::to_string),
                        fingerprint: d.fingerprint.into(),
                        count: d.cadence.calls,
                        runs: 1,
                        most_in_a_run: d.cadence.calls,
                        cost: d.cost,
                        cadence: d.cadence,
                        examples_us: d.examples.clone(),
                    };
                    (digest, group)
                }));
            }
            rows
        });
        per_run.sort_by_key(|(digest, group)| (*digest, group.cadence.first_us));
        let mut groups: Vec<(i64, RepeatGroup)> = Vec::new();
        for (digest, group) in per_run {
            match groups.last_mut() {
                Some((last, merged)) if *last == digest => {
                    merged.cadence.merge(&group.cadence);
                    merged.count += group.count;
                    merged.cost += group.cost;
                    merged.runs += 1;
                    merged.most_in_a_run = merged.most_in_a_run.max(group.count);
                    merged.examples_us.extend(group.examples_us);
                }
                _ => groups.push((digest, group)),
            }
        }
        groups.retain(|(_, group)| group.most_in_a_run >= min);
        groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        groups.truncate(REPEATED_GROUPS);
        Ok(groups
            .into_iter()
            .map(|(_, mut group)| {
                group.examples_us.sort_unstable();
                group.examples_us.truncate(3);
                group
            })
            .collect())
    }

    async fn calls_by_resource(
        &self,
        runs: &[i64],
        operations: &[(&str, &str)],
    ) -> Result<Vec<ResourceGroup>, StoreError> {
        Ok(self.totals_of(runs, |totals| {
            let mut out: Vec<ResourceGroup> = totals
                .resources
                .iter()
                .filter(|((op, _), t)| operations.contains(op) && t.first_attempts > 0)
                .map(|(&((service, operation), resource), t)| ResourceGroup {
                    service: service.into(),
                    operation: operation.into(),
                    resource: none_if_empty(resource),
                    count: t.first_attempts,
                    cost: t.first_cost,
                    first_us: t.first_us,
                    last_us: t.last_us,
                    listed_before: t.listed_before,
                    listed_before_cost: t.listed_before_cost,
                    empty_receives: t.empty_receives,
                    empty_receives_cost: t.empty_receives_cost,
                    after_head: t.after_head,
                    refetched_bytes: t.refetched_bytes,
                    refetched_cost: t.refetched_cost,
                    refetched_calls: t.refetched_calls,
                    refetched_calls_cost: t.refetched_calls_cost,
                })
                .collect();
            crate::record::sort_resources(&mut out);
            out
        }))
    }

    async fn failures(&self, runs: &[i64]) -> Result<Vec<FailureGroup>, StoreError> {
        Ok(self.totals_of(runs, |totals| {
            let mut out: Vec<FailureGroup> = totals
                .failures
                .iter()
                .map(
                    |(&((service, operation), status, error_code, throttled), t)| FailureGroup {
                        service: service.into(),
                        operation: operation.into(),
                        status: (status != 0).then_some(status),
                        error_code: none_if_empty(error_code),
                        throttled,
                        count: t.calls,
                        cost: t.cost,
                        priced: t.priced,
                        first_us: t.first_us,
                        last_us: t.last_us,
                    },
                )
                .collect();
            crate::record::sort_failures(&mut out);
            out
        }))
    }

    async fn regions(&self, runs: &[i64]) -> Result<Vec<RegionGroup>, StoreError> {
        Ok(self.totals_of(runs, |totals| {
            totals
                .regions
                .iter()
                .map(|(&(service, region), &(count, cost))| RegionGroup {
                    service: service.into(),
                    region: none_if_empty(region),
                    count,
                    cost,
                })
                .collect::<Vec<_>>()
        }))
        .map(|mut groups| {
            crate::record::sort_regions(&mut groups);
            groups
        })
    }

    async fn implied(&self, runs: &[i64]) -> Result<Vec<ImpliedGroup>, StoreError> {
        Ok(self.totals_of(runs, |totals| {
            totals
                .resources
                .iter()
                .filter(|(_, t)| t.implied_calls > 0)
                .map(|(&((service, operation), resource), t)| ImpliedGroup {
                    service: service.into(),
                    operation: operation.into(),
                    resource: none_if_empty(resource),
                    count: t.implied_calls,
                    implied: t.implied,
                })
                .collect::<Vec<_>>()
        }))
        .map(|mut groups| {
            crate::record::sort_implied(&mut groups);
            groups
        })
    }

    async fn timeline(&self, runs: &[i64], slices: i64) -> Result<Vec<TimelinePoint>, StoreError> {
        Ok(self.totals_of(runs, |totals| {
            let first = totals.operations.values().map(|t| t.first_us).min();
            let last = totals.operations.values().map(|t| t.last_us).max();
            let (Some(first), Some(last)) = (first, last) else {
                return Vec::new();
            };
            let slicing = Slicing::new(first, last, slices);
            slicing.points(
                totals
                    .timeline
                    .iter()
                    .filter(|((width, _), _)| *width == slicing.slot_width)
                    .map(|(&(_, slot), &(calls, cost))| (slot, calls, cost)),
            )
        }))
    }

    async fn call_groups(
        &self,
        runs: &[i64],
        by: GroupBy,
    ) -> Result<Vec<CallGroupRow>, StoreError> {
        Ok(self.with_runs(|stored| {
            let mut rows = Vec::new();
            for &run_id in stored.keys().filter(|id| runs.contains(id)) {
                let totals = Totals::of(Self::calls_of(stored, std::slice::from_ref(&run_id)));
                rows.extend(
                    totals
                        .groups
                        .iter()
                        .filter(|((grouped_by, ..), _)| *grouped_by == by)
                        .map(
                            |((_, key, (service, operation), resource), t)| CallGroupRow {
                                run_id,
                                key: none_if_empty(key),
                                service: service.to_string(),
                                operation: operation.to_string(),
                                resource: none_if_empty(resource),
                                attempts: t.attempts,
                                retries: t.retries,
                                errors: t.errors,
                                total: t.total,
                            },
                        ),
                );
            }
            rows
        }))
    }

    fn calls<'a>(&'a self, runs: &'a [i64]) -> BoxStream<'a, Result<StoredCall, StoreError>> {
        let calls: Vec<Result<StoredCall, StoreError>> = self.with_runs(|stored| {
            let mut out = Vec::new();
            for (&run_id, run) in stored.iter().filter(|(id, _)| runs.contains(id)) {
                let mut calls: Vec<&(Call, Option<ClientProcess>)> = run.calls.iter().collect();
                calls.sort_by_key(|(call, _)| call.started_at);
                out.extend(
                    calls
                        .into_iter()
                        .map(|(call, process)| Ok(stored_call(run_id, call, process.as_ref()))),
                );
            }
            out
        });
        Box::pin(futures_util::stream::iter(calls))
    }

    async fn s3_object_writes(&self, runs: &[i64]) -> Result<Vec<ObjectWrite>, StoreError> {
        use futures_util::TryStreamExt as _;
        let calls: Vec<StoredCall> = self.calls(runs).try_collect().await?;
        Ok(calls
            .into_iter()
            .filter(|call| {
                call.service == "s3"
                    && crate::record::S3_OBJECT_WRITES.contains(&call.operation.as_str())
            })
            .map(|call| ObjectWrite {
                run_id: call.run_id,
                at_us: call.started_at_us,
                ok: !crate::record::is_error(call.status, call.error_code.as_deref()),
                retry: crate::record::is_retry(call.attempt),
                operation: call.operation,
                resource: call.resource,
                bytes_sent: call.bytes_sent,
                cost: call.cost,
            })
            .collect())
    }

    async fn save_findings(&self, run: i64, findings: &[StoredFinding]) -> Result<(), StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let stored = runs.get_mut(&run).ok_or(StoreError::Missing {
            path: format!("run {run}"),
        })?;
        stored.findings = findings
            .iter()
            .map(|finding| StoredFinding {
                run_id: run,
                ..finding.clone()
            })
            .collect();
        Ok(())
    }

    async fn findings(&self, runs: &[i64]) -> Result<Vec<StoredFinding>, StoreError> {
        Ok(self.with_runs(|stored| {
            stored
                .iter()
                .filter(|(id, _)| runs.contains(id))
                .flat_map(|(_, run)| run.findings.iter().cloned())
                .collect()
        }))
    }

    async fn prune(&self, before_us: i64) -> Result<super::Pruned, StoreError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let mut pruned = super::Pruned::default();
        runs.retain(|_, run| {
            let old = micros(run.meta.started_at) < before_us && run.state != "running";
            if old {
                pruned.runs += 1;
                pruned.calls += run.calls.len() as u64;
            }
            !old
        });
        Ok(pruned)
    }

    async fn close(&self) {}
}

fn stored_call(run_id: i64, call: &Call, process: Option<&ClientProcess>) -> StoredCall {
    StoredCall {
        run_id,
        started_at_us: micros(call.started_at),
        duration_us: super::duration_micros(call.duration),
        kind: call.kind,
        service: call.service.clone(),
        operation: call.operation.clone(),
        region: call.region.clone(),
        resource: call.resource.clone(),
        status: call.status,
        upstream_failure: call.upstream_failure,
        error_code: call.error_code.clone(),
        throttled: call.is_throttled(),
        attempt: call.attempt,
        bytes_sent: call.bytes_sent,
        bytes_received: call.bytes_received,
        price_status: call.price.class().into(),
        cost: call.cost,
        transfer: call.transfer,
        implied: call.implied_total(),
        estimated: call.estimated.clone(),
        priced: call.priced.clone(),
        loop_id: call.loop_id,
        sdk: call.sdk.clone(),
        app_id: call.app_id.clone(),
        client_pid: process.map(|p| p.pid),
        client_command: process.map(|p| p.command.clone()),
        callsite: call.callsite.clone(),
        test: call.test.clone(),
    }
}
