//! Re-listings: an S3 prefix listed again from the start with nothing written to its bucket in
//! between (issue 24 item 4). The answer cannot have changed through this program, so the
//! repeated pages are the saving.
//!
//! What is known of each listing is its loop (`loops`: operation, bucket, page size, pages,
//! `relisting` = the same parameters were read from the first page before in this run) and of
//! each write its bucket and time (`Facts::object_writes`). The loop does not say which earlier
//! loop read the same listing (its digest is stored in `loops` but not read back), so:
//!
//! - where the first page's request is among the first three of its parameters (the digest
//!   totals keep their times, `Facts::listing_reads`), the earlier read is the latest of those
//!   before it: the window is from that read to this one;
//! - otherwise the window is the widest the earlier read can be in: from the first earlier
//!   listing of the bucket with the same operation and page size.
//!
//! A re-listing counts when no write to the bucket (any key, any outcome) started inside the
//! window; where the earlier read (or, not knowing which, any in the window) stopped part-way (an
//! existence probe, a loop left early), only as many pages as it read. Writes tollgate does not
//! see (other programs) are not known: the advice says so.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use super::paging::PagesLeft;
use super::{id, on, plural, thousands};
use crate::findings::{Evidence, Facts, Finding, ObjectWrite, Saving, Thresholds};
use crate::record::{rfc3339, LoopRow, Usd};

/// S3 listings whose answer is the bucket's objects under a prefix.
pub const S3_LISTINGS: &[&str] = &["ListObjectsV2", "ListObjects", "ListObjectVersions"];

/// S3 operations that change what a listing of their bucket returns.
pub const S3_WRITES: &[&str] = &[
    "PutObject",
    "CopyObject",
    "CompleteMultipartUpload",
    "DeleteObject",
    "DeleteObjects",
    "RestoreObject",
];

/// A re-listing whose pages are the saving.
struct Relisting<'a> {
    l: &'a LoopRow,
    /// Its pages that no small-pages finding claims.
    pages: u64,
}

fn is_s3_listing(l: &LoopRow) -> bool {
    l.service == "s3" && S3_LISTINGS.contains(&l.operation.as_str())
}

/// The start times of the runs' writes a listing would show, by run and bucket (`None`: a
/// bucket not known), each sorted: "was anything written in this window" is two binary searches,
/// not a pass over every write for every re-listing (a long run has hundreds of thousands of
/// both).
struct WriteTimes<'a>(HashMap<(i64, Option<&'a str>), Vec<i64>>);

impl<'a> WriteTimes<'a> {
    fn new(writes: &'a [ObjectWrite]) -> Self {
        let mut times: HashMap<(i64, Option<&str>), Vec<i64>> = HashMap::new();
        for w in writes {
            if S3_WRITES.contains(&w.operation.as_str()) {
                times
                    .entry((w.run_id, w.resource.as_deref()))
                    .or_default()
                    .push(w.at_us);
            }
        }
        for list in times.values_mut() {
            list.sort_unstable();
        }
        Self(times)
    }

    /// A write to `bucket` (or to a bucket not known) in `run` that started in `[from, to]`.
    fn any(&self, run: i64, bucket: Option<&str>, from: i64, to: i64) -> bool {
        let within = |key: (i64, Option<&str>)| {
            self.0.get(&key).is_some_and(|times| {
                let first = times.partition_point(|&at| at < from);
                times.get(first).is_some_and(|&at| at <= to)
            })
        };
        within((run, bucket)) || (bucket.is_some() && within((run, None)))
    }
}

/// The previous read of `l`'s listing among `before` (its run's earlier loops of the same
/// operation, bucket and page size, in order of start), when its first page is among the first
/// three requests of its parameters: then every earlier one is too, and the latest of them
/// before it is that read.
fn previous_read<'a>(facts: &Facts, l: &LoopRow, before: &[&'a LoopRow]) -> Option<&'a LoopRow> {
    let reads = facts.listing_reads.iter().find(|g| {
        g.operation == l.operation
            && g.resource == l.resource
            && g.examples_us.contains(&l.started_at_us)
    })?;
    // At most three times to look up, each by binary search: the last loop started then.
    reads
        .examples_us
        .iter()
        .filter(|&&at| at < l.started_at_us)
        .filter_map(|&at| {
            let from = before.partition_point(|b| b.started_at_us < at);
            let to = before.partition_point(|b| b.started_at_us <= at);
            to.checked_sub(1).filter(|&last| last >= from)
        })
        .max()
        .map(|index| before[index])
}

/// A listing's earlier loops in its run, and the fewest pages any of them that stopped part-way
/// read.
#[derive(Default)]
struct Earlier<'a> {
    loops: Vec<&'a LoopRow>,
    fewest_stopped: Option<u64>,
}

/// The re-listings the facts prove unchanged, by operation and bucket.
fn relistings<'a>(
    facts: &'a Facts,
    left: &PagesLeft<'_>,
) -> BTreeMap<(String, Option<String>), Vec<Relisting<'a>>> {
    type Listing<'l> = (i64, &'l str, Option<&'l str>, Option<i64>);
    let writes = WriteTimes::new(&facts.object_writes);
    let mut earlier: HashMap<Listing, Earlier> = HashMap::new();
    let mut loops: Vec<&LoopRow> = facts.loops.iter().filter(|l| is_s3_listing(l)).collect();
    loops.sort_by_key(|l| (l.run_id, l.started_at_us, l.loop_id));
    let mut found: BTreeMap<(String, Option<String>), Vec<Relisting>> = BTreeMap::new();
    for l in loops {
        let key = (
            l.run_id,
            l.operation.as_str(),
            l.resource.as_deref(),
            l.page_size,
        );
        let before = earlier.entry(key).or_default();
        // The same listing's previous read, where the digest totals tell; else every earlier
        // listing that may be it.
        let (first, known) = match previous_read(facts, l, &before.loops) {
            Some(read) => (
                Some(read),
                (!read.complete).then_some(read.pages.max(0) as u64),
            ),
            None => (before.loops.first().copied(), before.fewest_stopped),
        };
        let unchanged = l.relisting
            && !l.resumed
            && first.is_some_and(|first| {
                !writes.any(
                    l.run_id,
                    l.resource.as_deref(),
                    first.started_at_us,
                    l.started_at_us,
                )
            });
        // An earlier read that stopped part-way (an existence probe, a `break`) answered only
        // its pages: not knowing which earlier loop was the same listing, the fewest.
        let known = known.unwrap_or(u64::MAX);
        before.loops.push(l);
        if !l.complete {
            let pages = l.pages.max(0) as u64;
            before.fewest_stopped = Some(before.fewest_stopped.map_or(pages, |p| p.min(pages)));
        }
        if unchanged {
            let pages = left.of(l).min(known);
            if pages > 0 {
                found
                    .entry((l.operation.clone(), l.resource.clone()))
                    .or_default()
                    .push(Relisting { l, pages });
            }
        }
    }
    found
}

/// An S3 prefix listed again with nothing written to the bucket since the same listing.
pub fn relisting(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    let left = PagesLeft::new(facts, thresholds);
    relistings(facts, &left)
        .into_iter()
        .map(|((operation, resource), found)| {
            let pages: u64 = found.iter().map(|r| r.l.pages.max(0) as u64).sum();
            let saved: u64 = found.iter().map(|r| r.pages).sum();
            // A listing not made costs none of its requests, bytes or implied costs; where
            // small-pages claims some of its pages, only the requests it leaves are saved here
            // (its bytes never were small-pages').
            let usd: Decimal = found
                .iter()
                .map(|r| {
                    let per_attempt = r.l.cost / Decimal::from(r.l.attempts.max(1));
                    per_attempt * Decimal::from(r.pages) + r.l.transfer + r.l.implied
                })
                .sum();
            let cost: Decimal = found.iter().map(|r| r.l.total()).sum();
            let first = found.iter().map(|r| r.l.started_at_us).min().unwrap_or(0);
            let last = found.iter().map(|r| r.l.started_at_us).max().unwrap_or(0);
            let bucket = resource.as_deref().unwrap_or("the bucket");
            let mut detail = format!(
                "The same listing (same prefix and parameters) was read again from its first \
                 page, and no write to {bucket} went through tollgate since it was read before: \
                 the same answer, {} fewer requests if the earlier one is kept. ",
                thousands(saved)
            );
            if saved < pages {
                detail.push_str(&format!(
                    "({} of their {} pages are counted by the small-pages finding.) ",
                    thousands(pages - saved),
                    thousands(pages)
                ));
            }
            detail.push_str(
                "Usual causes: boto3 — a paginator run again: keep its keys; s3fs — a new \
                 `S3FileSystem(skip_instance_cache=True)`, `use_listings_cache=False` or \
                 `invalidate_cache()` drops the listings it keeps; pyarrow/pandas — \
                 `pyarrow.dataset.dataset()` or `read_parquet` of a directory lists it on \
                 every call: build the dataset once, or pass the file list; polars — \
                 a directory or glob given to `scan_parquet`/`read_parquet` is listed on each \
                 call: pass the file list; delta-rs — opening a `DeltaTable` and every write list \
                 `_delta_log/` to find the latest version: open the table once per job, not per \
                 read. Another program writing there is not seen here: reuse a listing only \
                 while this program owns the prefix.",
            );
            Finding {
                rule: "relisting",
                id: id("relisting", "s3", &operation, &resource),
                title: format!(
                    "{operation}{}: {} read again with nothing written in between ({})",
                    on(&resource),
                    plural(found.len() as u64, "listing", "listings"),
                    plural(pages, "page", "pages"),
                ),
                detail,
                evidence: Evidence {
                    service: "s3".into(),
                    operation: operation.clone(),
                    resource: resource.clone(),
                    calls: pages,
                    cost_usd: Usd(cost),
                    first_at: Some(rfc3339(first)),
                    last_at: Some(rfc3339(last)),
                    examples: found
                        .iter()
                        .take(3)
                        .map(|r| rfc3339(r.l.started_at_us))
                        .collect(),
                    callsites: Vec::new(),
                },
                saving: Some(Saving::new(saved, usd)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::dec;
    use super::*;

    fn listing(loop_id: i64, at_us: i64, pages: i64, relisting: bool) -> LoopRow {
        LoopRow {
            run_id: 1,
            loop_id,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("lake".into()),
            started_at_us: at_us,
            ended_at_us: at_us + 10,
            pages,
            attempts: pages,
            items: Some(pages * 1000),
            items_unknown: None,
            page_size: Some(1000),
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting,
            cost: dec("0.000005") * Decimal::from(pages),
            transfer: dec("0.000001"),
            implied: Decimal::ZERO,
            callsite: None,
        }
    }

    fn put(at_us: i64, bucket: &str) -> ObjectWrite {
        ObjectWrite {
            run_id: 1,
            at_us,
            operation: "PutObject".into(),
            resource: Some(bucket.into()),
            ok: true,
            retry: false,
            bytes_sent: 10,
            cost: dec("0.000005"),
        }
    }

    #[test]
    fn a_listing_read_again_with_no_write_between_saves_its_pages() {
        let facts = Facts {
            loops: vec![
                listing(0, 0, 2, false),
                listing(1, 100, 2, true),
                listing(2, 200, 2, true),
            ],
            // A write to another bucket changes nothing here.
            object_writes: vec![put(150, "other")],
            ..Facts::default()
        };
        let findings = relisting(&facts, &Thresholds::default());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(
            finding.title,
            "ListObjectsV2 on lake: 2 listings read again with nothing written in between (4 pages)"
        );
        let saving = finding.saving.as_ref().unwrap();
        assert_eq!(saving.calls, 4);
        // Their requests and their answers' bytes.
        assert_eq!(saving.usd, Usd(dec("0.000022")));
        for client in ["boto3", "s3fs", "pyarrow", "polars", "delta-rs"] {
            assert!(
                finding.detail.contains(client),
                "{client}: {}",
                finding.detail
            );
        }
    }

    #[test]
    fn a_write_to_the_bucket_in_between_is_not_claimed_nor_pages_never_read_before() {
        // Written between the first listing and the second: the second and the third (whose
        // earlier reads include the first) may have a different answer.
        let facts = Facts {
            loops: vec![
                listing(0, 0, 2, false),
                listing(1, 100, 2, true),
                listing(2, 200, 2, true),
            ],
            object_writes: vec![put(50, "lake")],
            ..Facts::default()
        };
        assert!(relisting(&facts, &Thresholds::default()).is_empty());
        // A write of unknown bucket counts as a write to every bucket.
        let mut unknown = put(50, "lake");
        unknown.resource = None;
        let facts = Facts {
            object_writes: vec![unknown],
            ..facts
        };
        assert!(relisting(&facts, &Thresholds::default()).is_empty());
        // The first read stopped after one page: only that page of the re-listing was read
        // before.
        let mut partial = listing(0, 0, 1, false);
        partial.complete = false;
        let facts = Facts {
            loops: vec![partial, listing(1, 100, 2, true)],
            ..Facts::default()
        };
        let findings = relisting(&facts, &Thresholds::default());
        assert_eq!(findings[0].saving.as_ref().unwrap().calls, 1);
        // Not a re-listing: another prefix (the loop tracker says which are the same).
        let facts = Facts {
            loops: vec![listing(0, 0, 2, false), listing(1, 100, 2, false)],
            ..Facts::default()
        };
        assert!(relisting(&facts, &Thresholds::default()).is_empty());
        // A write after the re-listing does not matter.
        let facts = Facts {
            loops: vec![listing(0, 0, 2, false), listing(1, 100, 2, true)],
            object_writes: vec![put(101, "lake")],
            ..Facts::default()
        };
        assert_eq!(relisting(&facts, &Thresholds::default()).len(), 1);
    }

    /// Where the digest totals keep the times of a listing's first reads, the window starts at
    /// the same listing's previous read, not at the bucket's first listing.
    #[test]
    fn the_previous_read_of_the_same_listing_starts_the_window_where_it_is_known() {
        use crate::record::{Cadence, RepeatGroup};
        // Listing A at 0, a write at 50, listing B at 100, B again at 200: B's previous read
        // is at 100, after the write.
        let loops = vec![
            listing(0, 0, 2, false),
            listing(1, 100, 1, false),
            listing(2, 200, 1, true),
        ];
        let facts = Facts {
            loops: loops.clone(),
            object_writes: vec![put(50, "lake")],
            ..Facts::default()
        };
        // Not knowing which earlier listing was B's, the write counts.
        assert!(relisting(&facts, &Thresholds::default()).is_empty());
        let reads = RepeatGroup {
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("lake".into()),
            fingerprint: "b".into(),
            count: 2,
            runs: 1,
            most_in_a_run: 2,
            cost: dec("0.00001"),
            cadence: Cadence::of(&[100, 200]).unwrap(),
            examples_us: vec![100, 200],
        };
        let facts = Facts {
            listing_reads: vec![reads.clone()],
            ..facts
        };
        let findings = relisting(&facts, &Thresholds::default());
        assert_eq!(
            findings[0].saving.as_ref().unwrap().calls,
            1,
            "{findings:#?}"
        );
        // A write between the two reads of B: not claimed.
        let facts = Facts {
            object_writes: vec![put(150, "lake")],
            ..facts
        };
        assert!(relisting(&facts, &Thresholds::default()).is_empty());
    }

    /// Issue 24 item 1: small pages and re-listings of the same loops share their pages, so
    /// that the two savings add up to what both changes save.
    #[test]
    fn small_pages_keep_their_pages_and_the_relisting_saves_what_full_pages_leave() {
        let small = |id: i64, relisting_: bool| LoopRow {
            page_size: Some(100),
            pages: 5,
            attempts: 5,
            items: Some(500),
            cost: dec("0.000025"),
            ..listing(id, id * 100, 5, relisting_)
        };
        let facts = Facts {
            loops: vec![small(0, false), small(1, true), small(2, true)],
            ..Facts::default()
        };
        let thresholds = Thresholds::default();
        let findings = relisting(&facts, &thresholds);
        let saving = findings[0].saving.as_ref().unwrap();
        // At full pages each listing is 1 request: the two re-listings save 2 beyond the 12
        // small-pages claims (15 pages, 1 left).
        assert_eq!(saving.calls, 2);
        assert_eq!(saving.usd, Usd(dec("0.000012")));
        assert!(
            findings[0]
                .detail
                .contains("8 of their 10 pages are counted"),
            "{}",
            findings[0].detail
        );
        // Silenced, small-pages claims nothing: every page of the re-listings is saved here.
        let thresholds = Thresholds {
            ignore: vec!["small-pages".into()],
            ..Thresholds::default()
        };
        let findings = relisting(&facts, &thresholds);
        assert_eq!(findings[0].saving.as_ref().unwrap().calls, 10);
    }
}
