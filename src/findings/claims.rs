//! How overlapping findings share their calls (issue 24 item 1): a finding's saving is a
//! promise, so it claims only calls its advice removes, and no call is claimed twice. The
//! savings of all findings together are then at most what applying all of them would save.
//!
//! - **Precedence.** Rules run in the fixed order of [`rules::ALL`](super::rules::ALL):
//!   small-pages, relisting, fan-out, head-per-key, head-then-get, overlapping-ranges,
//!   small-multipart, repeated-calls, empty-receives, polling, retries, paid-failures, then the
//!   rules that claim no calls. An earlier rule's advice removes its calls first: a HEAD of a
//!   listed key is head-per-key's (reading the listing removes every such HEAD, repeats
//!   included) before repeated-calls may cache it. Silenced findings claim nothing.
//! - **HEADs: head-per-key, head-then-get, repeated-calls.** head-then-get comes after
//!   head-per-key because reading the listing removes a HEAD of a listed key whether or not a
//!   GET follows it; the two are kept apart where the calls are recorded, not by counting: the
//!   profiler pairs a GET only with a HEAD of a key no listing had returned, so no HEAD is both
//!   (when head-per-key is silenced or below its threshold, HEADs of listed keys are nobody's:
//!   a saving left out, never one counted twice). With repeated-calls, which keeps the first of
//!   identical calls and claims the others, it shares by the same rule: only a HEAD that is the
//!   first of its parameters in the run waits for a GET. Of five identical HEADs followed by
//!   GETs, head-then-get claims the first (which the cache would keep) and repeated-calls the
//!   four others, in any order of HEADs and GETs. It comes before repeated-calls because its
//!   advice removes a HEAD, where a cache keeps one.
//! - **GETs: overlapping-ranges, repeated-calls.** A GET that repeats an earlier request (the
//!   same range again) is repeated-calls'; the profiler counts only other requests' bytes as
//!   received again, so overlapping-ranges claims GETs (those all of whose bytes had come
//!   before) that repeated-calls never does. Its bytes and their transfer are no call's: it
//!   claims no other calls for them.
//! - **Listings: small-pages, relisting, repeated-calls.** A loop read in small pages is
//!   small-pages' for the pages full pages would not need (`pages - needed`); a re-listing of an
//!   unchanged prefix is relisting's for what is left of it (`needed` where small-pages claims
//!   the loop, else all its pages; its bytes too, which small-pages never claims). The two are
//!   computed loop by loop, so they add up to what both changes save; a silenced small-pages
//!   leaves every page of a re-listing to relisting. An S3 listing's pages are never
//!   repeated-calls': read again with nothing written in between they are relisting's, and with
//!   a write in between the answer may differ, so there is nothing to cache.
//! - **Pools.** A finding claims its `saving.calls` from the first attempts of its evidence's
//!   operation and, where it names one, of its resource; `retries` claims from the operation's
//!   retries, which no other rule touches; `small-multipart` claims one CreateMultipartUpload and
//!   one CompleteMultipartUpload per upload (its evidence names the first), in whole uploads. A
//!   pool holds the calls the run made there (first attempts by resource and by operation, from
//!   the store's totals).
//! - **Caps.** A later finding claims at most the calls its pools still hold; its money is cut
//!   in the same proportion, and its detail says which finding counted the rest. A finding
//!   left with nothing to claim is not reported: every call it was about is in an earlier one.
//!   Where a pool's size is unknown, only its first finding claims from it.
//! - **Counts, not identities.** The ledger counts calls; it does not know which calls each
//!   finding claimed. The sum of all claims in a pool never exceeds the calls made there, but a
//!   later finding's calls may in part be among an earlier one's (repeats of a HEAD of a listed
//!   key, when the bucket also had HEADs of keys never listed): there its saving is an upper
//!   bound, never more than the calls nobody else claimed.
//! - **Not claims.** `implied-costs` saves money other services bill (KMS requests behind
//!   SSE-KMS), not these calls; findings with no saving (polling, cross-region, unpriced, the
//!   top operations) claim nothing.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::{Facts, Finding};
use crate::record::Usd;

/// Rules whose saving is not the removal of their evidence's calls.
const NOT_CLAIMS: &[&str] = &["implied-costs"];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Pool {
    /// First attempts of an operation on one resource.
    Resource(String, String, String),
    /// First attempts of an operation.
    Operation(String, String),
    /// Retries of an operation.
    Retries(String, String),
}

struct Claimed {
    calls: u64,
    /// The first finding that claimed from the pool.
    by: &'static str,
}

/// The calls already claimed, per pool.
pub struct Ledger {
    sizes: HashMap<Pool, u64>,
    claimed: HashMap<Pool, Claimed>,
}

impl Ledger {
    pub fn new(facts: &Facts) -> Self {
        let mut sizes = HashMap::new();
        for op in &facts.operations {
            sizes.insert(
                Pool::Operation(op.service.clone(), op.operation.clone()),
                op.attempts.saturating_sub(op.retries),
            );
            sizes.insert(
                Pool::Retries(op.service.clone(), op.operation.clone()),
                op.retries,
            );
        }
        for group in facts.per_item.iter().chain(&facts.by_resource) {
            if let Some(resource) = &group.resource {
                sizes.insert(
                    Pool::Resource(
                        group.service.clone(),
                        group.operation.clone(),
                        resource.clone(),
                    ),
                    group.count,
                );
            }
        }
        Self {
            sizes,
            claimed: HashMap::new(),
        }
    }

    /// The finding with its saving cut to the calls not claimed yet (and those claimed), or
    /// `None` when an earlier finding claimed every call it could have.
    pub fn claim(&mut self, mut finding: Finding) -> Option<Finding> {
        let Some(saving) = finding.saving.as_mut() else {
            return Some(finding);
        };
        if saving.calls == 0 || NOT_CLAIMS.contains(&finding.rule) {
            return Some(finding);
        }
        let wanted = saving.calls;
        let parts = claims_of(&finding, wanted);
        // Each part is granted the same share of what it wants: the fewest left, in proportion.
        let available = |pools: &[Pool], ledger: &Self| {
            pools
                .iter()
                .map(|pool| {
                    let claimed = ledger.claimed.get(pool).map_or(0, |c| c.calls);
                    match ledger.sizes.get(pool) {
                        Some(size) => size.saturating_sub(claimed),
                        None if claimed == 0 => u64::MAX,
                        None => 0,
                    }
                })
                .min()
                .unwrap_or(u64::MAX)
        };
        let share = parts
            .iter()
            .map(|(pools, part)| {
                let left = available(pools, self).min(*part);
                (u128::from(left) * u128::from(wanted) / u128::from((*part).max(1))) as u64
            })
            .min()
            .unwrap_or(wanted)
            .min(wanted);
        let granted = if parts.len() > 1 {
            // Whole units (an upload's Create and Complete together).
            let per_unit = parts.len() as u64;
            share / per_unit * per_unit
        } else {
            share
        };
        if granted == 0 {
            return None;
        }
        let earlier: Option<&'static str> = parts
            .iter()
            .flat_map(|(pools, _)| pools)
            .find_map(|pool| self.claimed.get(pool).map(|c| c.by));
        for (pools, part) in parts {
            let calls = part * granted / wanted.max(1);
            for pool in pools {
                self.claimed
                    .entry(pool)
                    .and_modify(|c| c.calls += calls)
                    .or_insert(Claimed {
                        calls,
                        by: finding.rule,
                    });
            }
        }
        if granted < wanted {
            let saving = finding.saving.as_mut().expect("matched above");
            saving.usd = Usd(saving.usd.0 * Decimal::from(granted) / Decimal::from(wanted));
            saving.calls = granted;
            let thousands = super::rules::thousands;
            finding.detail.push_str(&match earlier {
                Some(rule) => format!(
                    " {} of these calls are counted by the {rule} finding already: {} saved \
                     here.",
                    thousands(wanted - granted),
                    thousands(granted),
                ),
                // Capped by the calls made there, not by another finding.
                None => format!(
                    " Only {} of the calls were first attempts of {}{}: {} saved here.",
                    thousands(granted),
                    finding.evidence.operation,
                    finding
                        .evidence
                        .resource
                        .as_deref()
                        .map(|r| format!(" on {r}"))
                        .unwrap_or_default(),
                    thousands(granted),
                ),
            });
        }
        Some(finding)
    }
}

/// The pools a finding claims from, each with the calls it wants of them. Most findings claim
/// their `saving.calls` from their evidence's operation (and resource); `retries` from its
/// retries; `small-multipart` half from CreateMultipartUpload and half from
/// CompleteMultipartUpload (its evidence names the first).
fn claims_of(finding: &Finding, wanted: u64) -> Vec<(Vec<Pool>, u64)> {
    let evidence = &finding.evidence;
    let pools = |operation: &str| {
        let mut pools = vec![Pool::Operation(evidence.service.clone(), operation.into())];
        if let Some(resource) = &evidence.resource {
            pools.push(Pool::Resource(
                evidence.service.clone(),
                operation.into(),
                resource.clone(),
            ));
        }
        pools
    };
    match finding.rule {
        "retries" => vec![(
            vec![Pool::Retries(
                evidence.service.clone(),
                evidence.operation.clone(),
            )],
            wanted,
        )],
        "small-multipart" => vec![
            (pools("CreateMultipartUpload"), wanted / 2),
            (pools("CompleteMultipartUpload"), wanted - wanted / 2),
        ],
        _ => vec![(pools(&evidence.operation), wanted)],
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::findings::{find, Thresholds};
    use crate::record::{
        Cadence, Call, Loop, LoopRow, OperationTally, RepeatGroup, ResourceGroup, RunMeta,
    };
    use crate::store::{Batch, MemoryStore, RunStore};

    fn group(operation: &str, count: u64, listed_before: u64) -> ResourceGroup {
        ResourceGroup {
            service: "s3".into(),
            operation: operation.into(),
            resource: Some("b".into()),
            count,
            cost: Decimal::new(4, 7) * Decimal::from(count),
            first_us: 0,
            last_us: 1,
            listed_before,
            listed_before_cost: Decimal::new(4, 7) * Decimal::from(listed_before),
            empty_receives: 0,
            empty_receives_cost: Decimal::ZERO,
            after_head: 0,
            refetched_bytes: 0,
            refetched_cost: Decimal::ZERO,
            refetched_calls: 0,
            refetched_calls_cost: Decimal::ZERO,
        }
    }

    fn operation(operation: &str, attempts: u64) -> OperationTally {
        OperationTally {
            attempts,
            ..OperationTally::new("s3", operation)
        }
    }

    fn repeat(operation: &str, count: u64) -> RepeatGroup {
        // Bursty: a cache candidate, not polling.
        let times: Vec<i64> = (0..count as i64).map(|i| i * i * 1_000).collect();
        RepeatGroup {
            service: "s3".into(),
            operation: operation.into(),
            resource: Some("b".into()),
            fingerprint: "f".into(),
            count,
            runs: 1,
            most_in_a_run: count,
            cost: Decimal::new(4, 7) * Decimal::from(count),
            cadence: Cadence::of(&times).unwrap(),
            examples_us: Vec::new(),
        }
    }

    /// Issue 24 item 1: the same HEADs are head-per-key's, never also repeated-calls'.
    #[test]
    fn head_per_key_and_repeated_calls_do_not_share_heads() {
        let facts = Facts {
            operations: vec![operation("HeadObject", 20)],
            per_item: vec![group("HeadObject", 20, 20)],
            repeated: vec![repeat("HeadObject", 6)],
            ..Facts::default()
        };
        let findings = find(&facts, &Thresholds::default());
        let rules: Vec<&str> = findings
            .iter()
            .filter(|f| f.saving.is_some())
            .map(|f| f.rule)
            .collect();
        assert_eq!(rules, ["head-per-key"], "{findings:#?}");
        assert_eq!(findings[0].saving.as_ref().unwrap().calls, 20);
        // 30 HEADs, 20 of listed keys: the repeats may claim only from the other 10.
        let facts = Facts {
            operations: vec![operation("HeadObject", 30)],
            per_item: vec![group("HeadObject", 30, 20)],
            repeated: vec![repeat("HeadObject", 16)],
            ..Facts::default()
        };
        let findings = find(&facts, &Thresholds::default());
        let repeated = findings
            .iter()
            .find(|f| f.rule == "repeated-calls")
            .unwrap();
        let saving = repeated.saving.as_ref().unwrap();
        assert_eq!(saving.calls, 10, "{findings:#?}");
        assert_eq!(saving.usd, Usd(Decimal::new(4, 6)));
        assert!(
            repeated
                .detail
                .contains("counted by the head-per-key finding"),
            "{}",
            repeated.detail
        );
        // Silenced, head-per-key claims nothing: the repeats are the repeated-calls finding's.
        let thresholds = Thresholds {
            ignore: vec!["head-per-key".into()],
            ..Thresholds::default()
        };
        let findings: Vec<Finding> = find(&facts, &thresholds)
            .into_iter()
            .filter(|f| f.saving.is_some())
            .collect();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].saving.as_ref().unwrap().calls, 15);
    }

    /// A saving capped by the calls made on its resource (not by another finding) says so, and
    /// names no finding.
    #[test]
    fn a_saving_capped_by_the_calls_made_there_says_so() {
        let facts = Facts {
            operations: vec![operation("HeadBucket", 7)],
            by_resource: vec![group("HeadBucket", 4, 0)],
            repeated: vec![repeat("HeadBucket", 7)],
            ..Facts::default()
        };
        let findings = find(&facts, &Thresholds::default());
        let repeated = findings
            .iter()
            .find(|f| f.rule == "repeated-calls")
            .unwrap();
        assert_eq!(repeated.saving.as_ref().unwrap().calls, 4);
        assert!(
            repeated.detail.ends_with(
                "Only 4 of the calls were first attempts of HeadBucket on b: 4 saved here."
            ),
            "{}",
            repeated.detail
        );
    }

    fn small_page_loop(id: i64) -> LoopRow {
        LoopRow {
            run_id: 1,
            loop_id: id,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("b".into()),
            started_at_us: id * 1_000_000,
            ended_at_us: id * 1_000_000 + 1,
            pages: 5,
            attempts: 5,
            items: Some(500),
            items_unknown: None,
            page_size: Some(100),
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting: id > 0,
            cost: Decimal::new(5, 6) * Decimal::from(5),
            transfer: Decimal::ZERO,
            implied: Decimal::ZERO,
            callsite: None,
        }
    }

    /// Issue 24 item 1: a prefix listed 3 times in pages of 100 is 15 pages; full pages would
    /// need 3 (small-pages claims 12), and of those 3, keeping the first listing removes 2
    /// (relisting; the same pages are no repeated-calls finding): never the same page twice, and
    /// 14 in all.
    #[test]
    fn small_pages_and_a_relisting_do_not_share_pages() {
        let mut listing = repeat("ListObjectsV2", 3);
        listing.cost = Decimal::new(5, 6) * Decimal::from(3);
        let facts = Facts {
            operations: vec![operation("ListObjectsV2", 15)],
            loops: (0..3).map(small_page_loop).collect(),
            by_resource: vec![group("ListObjectsV2", 15, 0)],
            repeated: vec![listing],
            ..Facts::default()
        };
        let thresholds = Thresholds {
            repeated_min: 3,
            ..Thresholds::default()
        };
        let findings = find(&facts, &thresholds);
        let saved: BTreeMap<&str, u64> = findings
            .iter()
            .filter(|f| f.saving.is_some())
            .map(|f| (f.rule, f.saving.as_ref().map_or(0, |s| s.calls)))
            .collect();
        assert_eq!(
            saved,
            BTreeMap::from([("small-pages", 12), ("relisting", 2)]),
            "{findings:#?}"
        );
    }

    /// One call of the generated mix.
    #[derive(Debug, Clone)]
    enum Action {
        /// A listing of `pages` small pages of a bucket (its keys: all of the bucket's).
        List {
            bucket: u8,
            pages: u8,
        },
        Head {
            bucket: u8,
            key: u8,
        },
        /// `range`: a ranged read (the range's index), or the whole object.
        Get {
            bucket: u8,
            key: u8,
            range: Option<u8>,
            retried: bool,
        },
        Put {
            bucket: u8,
            key: u8,
        },
        /// A multipart upload of parts of these sizes (KiB), completed or aborted.
        Upload {
            bucket: u8,
            parts_kib: Vec<u32>,
            completed: bool,
        },
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            (0..2u8, 1..4u8).prop_map(|(bucket, pages)| Action::List { bucket, pages }),
            (0..2u8, 0..6u8).prop_map(|(bucket, key)| Action::Head { bucket, key }),
            (0..2u8, 0..6u8, proptest::option::of(0..4u8), any::<bool>()).prop_map(
                |(bucket, key, range, retried)| Action::Get {
                    bucket,
                    key,
                    range,
                    retried
                }
            ),
            (0..2u8, 0..6u8).prop_map(|(bucket, key)| Action::Put { bucket, key }),
            (
                0..2u8,
                proptest::collection::vec(prop_oneof![1..5_119u32, 5_120..9_000u32], 1..4),
                any::<bool>()
            )
                .prop_map(|(bucket, parts_kib, completed)| Action::Upload {
                    bucket,
                    parts_kib,
                    completed
                }),
        ]
    }

    fn key(key: u8) -> u64 {
        crate::aws::listed::key_hash(format!("k{key}").as_bytes())
    }

    /// The calls (and listing loops) a mix makes, as the profiler records them: a listing
    /// returns all of its bucket's keys; a ranged read `r` receives bytes `10r..10r + 20` (each
    /// overlaps the next), a whole read all 60; a PUT makes a new ETag. HEADs and GETs are
    /// marked by the profiler's own [`Fetched`](crate::aws::fetched::Fetched).
    fn record(actions: &[Action]) -> (Vec<Call>, Vec<Loop>) {
        let (mut calls, loops) = made(actions);
        let mut fetched = crate::aws::fetched::Fetched::default();
        for call in &mut calls {
            fetched.mark(call);
        }
        (calls, loops)
    }

    /// The calls and loops before the HEADs and GETs are marked.
    fn made(actions: &[Action]) -> (Vec<Call>, Vec<Loop>) {
        let mut calls = Vec::new();
        let mut loops = Vec::new();
        let mut listed: BTreeSet<u8> = BTreeSet::new();
        let mut versions: BTreeMap<(u8, u8), u64> = BTreeMap::new();
        let mut at = 0u64;
        let mut next = |operation: &str, bucket: u8, fingerprint: String| {
            at += 1 + at % 7 * 3_000;
            let mut call = Call::sample("s3", operation);
            call.seq = at;
            call.started_at = SystemTime::UNIX_EPOCH + Duration::from_micros(at * 1_000);
            call.resource = Some(format!("bucket-{bucket}"));
            call.fingerprint = Some(fingerprint);
            call.cost = Decimal::new(4, 7);
            call
        };
        for action in actions {
            match *action {
                Action::List { bucket, pages } => {
                    let first = calls.len();
                    for page in 0..pages {
                        let mut call =
                            next("ListObjectsV2", bucket, format!("list-{bucket}-{page}"));
                        call.cost = Decimal::new(5, 6);
                        calls.push(call);
                    }
                    let started_at = calls[first].started_at;
                    loops.push(Loop {
                        id: loops.len() as u64,
                        service: "s3".into(),
                        operation: "ListObjectsV2".into(),
                        resource: Some(format!("bucket-{bucket}")),
                        access_key: None,
                        listing: format!("list-{bucket}"),
                        started_at,
                        ended_at: calls[calls.len() - 1].started_at,
                        pages: u64::from(pages),
                        attempts: u64::from(pages),
                        items: Some(u64::from(pages) * 10),
                        items_unknown: None,
                        page_size: Some(10),
                        page_size_max: Some(1000),
                        complete: true,
                        resumed: false,
                        // The same listing (the bucket's, of the same page size) read before.
                        relisting: listed.contains(&bucket),
                        cost: Decimal::new(5, 6) * Decimal::from(pages),
                        transfer: Decimal::ZERO,
                        implied: Decimal::ZERO,
                        callsite: None,
                    });
                    listed.insert(bucket);
                }
                Action::Head { bucket, key: k } => {
                    let mut call = next("HeadObject", bucket, format!("head-{bucket}-{k}"));
                    call.object_key = Some(key(k));
                    // A listing returns all of its bucket's keys.
                    call.listed_before = Some(listed.contains(&bucket));
                    calls.push(call);
                }
                Action::Get {
                    bucket,
                    key: k,
                    range,
                    retried,
                } => {
                    let fingerprint = match range {
                        Some(range) => format!("get-{bucket}-{k}-range-{range}"),
                        None => format!("get-{bucket}-{k}"),
                    };
                    let span =
                        range.map_or((0, 60), |r| (u64::from(r) * 10, u64::from(r) * 10 + 20));
                    let mut get = next("GetObject", bucket, fingerprint);
                    get.object_key = Some(key(k));
                    get.etag = Some(versions.get(&(bucket, k)).copied().unwrap_or(0));
                    get.span = Some(span);
                    get.bytes_received = span.1 - span.0;
                    get.transfer = Decimal::new(9, 2) * Decimal::from(get.bytes_received)
                        / Decimal::from(1u64 << 30);
                    if retried {
                        let mut failed = get.clone();
                        failed.status = Some(503);
                        failed.error_code = Some("SlowDown".into());
                        failed.span = None;
                        calls.push(failed);
                        get.attempt = Some(2);
                    }
                    calls.push(get);
                }
                Action::Put { bucket, key } => {
                    let n = calls.len();
                    *versions.entry((bucket, key)).or_default() += 1;
                    calls.push(next("PutObject", bucket, format!("put-{bucket}-{key}-{n}")));
                }
                Action::Upload {
                    bucket,
                    ref parts_kib,
                    completed,
                } => {
                    let n = calls.len();
                    calls.push(next("CreateMultipartUpload", bucket, format!("create-{n}")));
                    for (i, kib) in parts_kib.iter().enumerate() {
                        let mut part = next("UploadPart", bucket, format!("part-{n}-{i}"));
                        part.bytes_sent = u64::from(*kib) * 1024;
                        calls.push(part);
                    }
                    let end = if completed {
                        "CompleteMultipartUpload"
                    } else {
                        "AbortMultipartUpload"
                    };
                    let mut end = next(end, bucket, format!("end-{n}"));
                    // S3 refuses to complete an upload with a part below 5 MiB but its last.
                    if completed
                        && parts_kib[..parts_kib.len() - 1]
                            .iter()
                            .any(|k| *k < 5 * 1024)
                    {
                        end.status = Some(400);
                        end.error_code = Some("EntityTooSmall".into());
                    }
                    calls.push(end);
                }
            }
        }
        (calls, loops)
    }

    /// Issue 24 item 4: five identical HEADs and then one GET of the key are one HEAD the GET
    /// answers (head-then-get) and four a cache removes (repeated-calls); five identical GETs
    /// of another key are repeats, never overlapping ranges, while a range inside what was read
    /// is.
    #[test]
    fn heads_and_gets_are_claimed_once_across_their_findings() {
        let get = |key, range| Action::Get {
            bucket: 0,
            key,
            range,
            retried: false,
        };
        let mut actions = vec![Action::Head { bucket: 0, key: 1 }; 3];
        actions.push(get(1, None));
        for _ in 0..2 {
            actions.extend([Action::Head { bucket: 0, key: 1 }, get(1, None)]);
        }
        actions.extend(vec![get(2, None); 5]);
        actions.push(get(2, Some(2)));
        let (calls, loops) = record(&actions);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let facts = runtime.block_on(async {
            let store = MemoryStore::default();
            let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
            let processes = vec![None; calls.len()];
            let batch = Batch {
                calls: &calls,
                processes: &processes,
                loops: &loops,
            };
            store.write_batch(run, batch).await.unwrap();
            Facts::gather(&store, &[run], &Thresholds::default())
                .await
                .unwrap()
        });
        let findings = find(&facts, &Thresholds::default());
        let saved: BTreeMap<(&str, &str), (u64, Option<u64>)> = findings
            .iter()
            .filter_map(|f| {
                let saving = f.saving.as_ref()?;
                Some((
                    (f.rule, f.evidence.operation.as_str()),
                    (saving.calls, saving.bytes),
                ))
            })
            .collect();
        assert_eq!(
            saved,
            BTreeMap::from([
                (("head-then-get", "HeadObject"), (1, None)),
                (("repeated-calls", "HeadObject"), (4, None)),
                (("repeated-calls", "GetObject"), (4, None)),
                (("overlapping-ranges", "GetObject"), (1, Some(20))),
            ]),
            "{findings:#?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Issue 24: for any mix of listings, HEADs, GETs (ranged and not) and PUTs, the calls
        /// all findings claim never exceed the calls the run made, per operation and per
        /// operation and resource: no call is claimed twice.
        #[test]
        fn no_call_is_claimed_twice(actions in proptest::collection::vec(action(), 1..120)) {
            let (calls, loops) = record(&actions);
            let thresholds = Thresholds {
                repeated_min: 2,
                fan_out_min: 2,
                small_page_ratio: 0.5,
                ..Thresholds::default()
            };
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let facts = runtime.block_on(async {
                let store = MemoryStore::default();
                let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
                let processes = vec![None; calls.len()];
                store
                    .write_batch(run, Batch { calls: &calls, processes: &processes, loops: &loops })
                    .await
                    .unwrap();
                Facts::gather(&store, &[run], &thresholds).await.unwrap()
            });
            let findings = find(&facts, &thresholds);
            let mut by_operation: BTreeMap<&str, u64> = BTreeMap::new();
            let mut by_group: BTreeMap<(&str, Option<&str>), u64> = BTreeMap::new();
            for finding in &findings {
                let Some(saving) = &finding.saving else { continue };
                // A small upload's saving is its Create and its Complete: one call of each.
                let claims: Vec<(&str, u64)> = if finding.rule == "small-multipart" {
                    vec![
                        ("CreateMultipartUpload", saving.calls / 2),
                        ("CompleteMultipartUpload", saving.calls / 2),
                    ]
                } else {
                    vec![(finding.evidence.operation.as_str(), saving.calls)]
                };
                for (operation, calls) in claims {
                    *by_operation.entry(operation).or_default() += calls;
                    *by_group
                        .entry((operation, finding.evidence.resource.as_deref()))
                        .or_default() += calls;
                }
            }
            for (operation, claimed) in &by_operation {
                let made = calls.iter().filter(|c| c.operation == *operation).count() as u64;
                prop_assert!(
                    *claimed <= made,
                    "{operation}: {claimed} calls claimed of {made}\n{findings:#?}"
                );
            }
            for ((operation, resource), claimed) in &by_group {
                let Some(resource) = resource else { continue };
                let made = calls
                    .iter()
                    .filter(|c| c.operation == *operation && c.resource.as_deref() == Some(resource))
                    .count() as u64;
                prop_assert!(
                    *claimed <= made,
                    "{operation} on {resource}: {claimed} calls claimed of {made}\n{findings:#?}"
                );
            }
            // A re-listing saves at most the pages of re-listings; a small upload at most its
            // Create and Complete, and only uploads of one part below 5 MiB that completed.
            for finding in findings.iter().filter(|f| f.rule == "relisting") {
                let relisted: i64 = loops
                    .iter()
                    .filter(|l| l.relisting && l.resource == finding.evidence.resource)
                    .map(|l| l.pages as i64)
                    .sum();
                prop_assert!(finding.saving.as_ref().unwrap().calls as i64 <= relisted);
            }
            let small_uploads = |bucket: &str| {
                actions
                    .iter()
                    .filter(|a| matches!(a, Action::Upload { bucket: b, parts_kib, completed: true }
                        if format!("bucket-{b}") == bucket
                            && parts_kib.len() == 1
                            && parts_kib[0] < 5 * 1024))
                    .count() as u64
            };
            for finding in findings.iter().filter(|f| f.rule == "small-multipart") {
                let bucket = finding.evidence.resource.as_deref().unwrap();
                prop_assert!(finding.saving.as_ref().unwrap().calls <= 2 * small_uploads(bucket));
            }
            // A HEAD a GET answered is one no listing named, one per GET; bytes received again
            // are the GETs' bytes, and a GET claimed all of whose bytes came before.
            for finding in findings.iter().filter(|f| f.rule == "head-then-get") {
                let resource = finding.evidence.resource.as_deref();
                let heads = calls
                    .iter()
                    .filter(|c| c.operation == "HeadObject" && c.resource.as_deref() == resource)
                    .filter(|c| c.listed_before != Some(true) && !c.is_error() && !c.is_retry())
                    .count() as u64;
                let gets = calls
                    .iter()
                    .filter(|c| c.operation == "GetObject" && c.resource.as_deref() == resource)
                    .filter(|c| !c.is_error())
                    .count() as u64;
                prop_assert!(finding.saving.as_ref().unwrap().calls <= heads.min(gets));
            }
            for finding in findings.iter().filter(|f| f.rule == "overlapping-ranges") {
                let resource = finding.evidence.resource.as_deref();
                let gets = || {
                    calls
                        .iter()
                        .filter(|c| c.operation == "GetObject" && c.resource.as_deref() == resource)
                };
                let received: u64 = gets().filter(|c| c.span.is_some()).map(|c| c.bytes_received).sum();
                let saving = finding.saving.as_ref().unwrap();
                prop_assert!(saving.bytes.unwrap() <= received);
                let whole = gets()
                    .filter(|c| !c.is_retry() && c.refetched_bytes == Some(c.bytes_received))
                    .count() as u64;
                prop_assert_eq!(saving.calls, whole);
            }
            // Only HEADs after a listing of their bucket are head-per-key's.
            for finding in findings.iter().filter(|f| f.rule == "head-per-key") {
                let resource = finding.evidence.resource.as_deref();
                let listed = calls
                    .iter()
                    .filter(|c| c.operation == "HeadObject" && c.resource.as_deref() == resource)
                    .filter(|c| c.listed_before == Some(true))
                    .count() as u64;
                prop_assert!(finding.saving.as_ref().unwrap().calls <= listed);
            }
        }
    }
}
