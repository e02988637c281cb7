//! Paginator loops: the pages of one listing, linked by their tokens. A request that carries the
//! token the previous page handed out continues that loop; one that starts from the first page
//! starts a new loop, and when the same listing (same client, operation and parameters) was
//! read before, it counts as a re-listing.

use std::collections::HashMap;
use std::sync::Mutex;

use lru::LruCache;
use rust_decimal::Decimal;

use crate::record::{Call, ItemsUnknown, Loop as LoopRecord, PageFacts};

/// Who pages: the same credentials from the same SDK and app, for the same listing; kept as a
/// 64-bit hash. The tracker remembers 100,000 listings and 10,000 invocations: as strings they
/// took ~50 MB of a busy proxy's memory, as hashes ~7 MB (a collision between two live listings is
/// 1 in ~10^9 at that size).
type ListingKey = u64;

fn listing_key(call: &Call, listing: &str) -> ListingKey {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        call.access_key.as_deref(),
        call.sdk.as_deref(),
        call.app_id.as_deref(),
        &call.service,
        &call.operation,
        listing,
    )
        .hash(&mut hasher);
    hasher.finish()
}

fn invocation_key(invocation: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    invocation.hash(&mut hasher);
    hasher.finish()
}

struct OpenLoop {
    record: LoopRecord,
    /// The tokens the next page must carry.
    expecting: Option<Vec<String>>,
    items_known: bool,
}

struct State {
    next_id: u64,
    open: HashMap<ListingKey, Vec<OpenLoop>>,
    open_count: usize,
    /// Listings read from their start, for re-listings.
    listed: LruCache<ListingKey, ()>,
    /// Invocation id → loop, so retries of a page stay in its loop.
    invocations: LruCache<u64, (ListingKey, u64)>,
    finished: Vec<LoopRecord>,
}

/// Links pages into loops. One short critical section per paginated call.
pub struct LoopTracker {
    state: Mutex<State>,
    max_open: usize,
}

impl Default for LoopTracker {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl LoopTracker {
    /// At most `max_open` loops waiting for their next page; past that the oldest is closed as
    /// stopped early.
    pub fn new(max_open: usize) -> Self {
        // Listings are remembered long (a re-listing can come minutes later); invocations only
        // while their retries may still come (seconds), so fewer.
        let listings = std::num::NonZeroUsize::new(100_000).expect("non-zero");
        let invocations = std::num::NonZeroUsize::new(10_000).expect("non-zero");
        Self {
            state: Mutex::new(State {
                next_id: 1,
                open: HashMap::new(),
                open_count: 0,
                listed: LruCache::new(listings),
                invocations: LruCache::new(invocations),
                finished: Vec::new(),
            }),
            max_open,
        }
    }

    /// Places a paginated call in its loop and returns the loop's id; `None` for a first page
    /// that failed (no page came, so no listing began: its retry, if any, starts the loop).
    pub fn on_page(
        &self,
        call: &Call,
        page: &PageFacts,
        page_size_max: Option<u64>,
    ) -> Option<u64> {
        let key = listing_key(call, &page.listing);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *state;
        let retry_of = call
            .invocation_id
            .as_ref()
            .filter(|_| call.is_retry())
            .and_then(|id| state.invocations.get(&invocation_key(id)).copied())
            .filter(|(k, _)| *k == key)
            .map(|(_, id)| id);
        let position = state.open.get(&key).and_then(|loops| {
            if let Some(id) = retry_of {
                return loops.iter().position(|l| l.record.id == id);
            }
            if page.continues_from.is_empty() {
                return None;
            }
            loops
                .iter()
                .position(|l| l.expecting.as_deref() == Some(&page.continues_from[..]))
                // The previous page's token could not be read: any open loop of the listing.
                .or_else(|| loops.iter().position(|l| l.expecting.is_none()))
        });
        let id = match position {
            Some(index) => state.open.get(&key).expect("found above")[index].record.id,
            None if page.continues_from.is_empty() && page.answer.is_none() => return None,
            None => {
                let id = state.next_id;
                state.next_id += 1;
                let first_page = page.continues_from.is_empty();
                let relisting = first_page && state.listed.put(key, ()).is_some();
                if first_page {
                    // A restart from the first page ends the listing's earlier loops.
                    if let Some(loops) = state.open.remove(&key) {
                        state.open_count -= loops.len();
                        state.finished.extend(loops.into_iter().map(|l| l.record));
                    }
                }
                let mut open = OpenLoop {
                    record: LoopRecord {
                        id,
                        service: call.service.clone(),
                        operation: call.operation.clone(),
                        resource: call.resource.clone(),
                        access_key: call.access_key.clone(),
                        listing: page.listing.clone(),
                        started_at: call.started_at,
                        ended_at: call.started_at,
                        pages: 0,
                        attempts: 0,
                        items: Some(0),
                        items_unknown: None,
                        page_size: page.page_size,
                        page_size_max,
                        complete: false,
                        resumed: !first_page,
                        relisting,
                        cost: Decimal::ZERO,
                        transfer: Decimal::ZERO,
                        implied: Decimal::ZERO,
                        callsite: call.callsite.clone(),
                    },
                    expecting: None,
                    items_known: true,
                };
                let whole = page
                    .answer
                    .as_ref()
                    .is_some_and(|answer| answer.next.is_empty() && !answer.unreadable);
                if whole && state.open_count < self.max_open {
                    // A listing of one page (the usual case) ends here: it is never kept open,
                    // which is all the longer path below would do with it.
                    add_page(&mut open, call, page);
                    if let Some(invocation) = &call.invocation_id {
                        state.invocations.put(invocation_key(invocation), (key, id));
                    }
                    state.finished.push(open.record);
                    return Some(id);
                }
                state.open.entry(key).or_default().push(open);
                state.open_count += 1;
                if state.open_count > self.max_open {
                    evict_oldest(state);
                }
                id
            }
        };
        if let Some(invocation) = &call.invocation_id {
            state.invocations.put(invocation_key(invocation), (key, id));
        }
        let Some(loops) = state.open.get_mut(&key) else {
            return Some(id);
        };
        let Some(index) = loops.iter().position(|l| l.record.id == id) else {
            return Some(id);
        };
        if add_page(&mut loops[index], call, page) {
            let done = loops.remove(index);
            if loops.is_empty() {
                state.open.remove(&key);
            }
            state.open_count -= 1;
            state.finished.push(done.record);
        }
        Some(id)
    }

    /// Loops finished since the last call.
    pub fn take_finished(&self) -> Vec<LoopRecord> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut state.finished)
    }

    /// Everything, open loops included (as stopped early): at the end of a run.
    pub fn take_all(&self) -> Vec<LoopRecord> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = std::mem::take(&mut state.finished);
        for (_, loops) in state.open.drain() {
            all.extend(loops.into_iter().map(|l| l.record));
        }
        state.open_count = 0;
        all.sort_by_key(|l| l.id);
        all
    }
}

/// Counts one more attempt (and page, when it answered) into its loop; true when the page was
/// the listing's last.
fn add_page(open: &mut OpenLoop, call: &Call, page: &PageFacts) -> bool {
    let record = &mut open.record;
    record.attempts += 1;
    // Kept apart so that a saving from bigger pages counts only the requests: the listing's
    // bytes cost the same at any page size.
    record.cost += call.cost;
    record.transfer += call.transfer;
    record.implied += call.implied_total();
    record.ended_at = call.started_at + call.duration;
    let Some(answer) = &page.answer else {
        return false;
    };
    record.pages += 1;
    match answer.items {
        Some(items) if open.items_known => {
            record.items = Some(record.items.unwrap_or(0) + items);
        }
        Some(_) => {}
        None => {
            open.items_known = false;
            record.items = None;
            // The first page that could not be counted says why.
            if record.items_unknown.is_none() {
                record.items_unknown =
                    Some(answer.items_unknown.unwrap_or(ItemsUnknown::Unparseable));
            }
        }
    }
    if answer.next.is_empty() && !answer.unreadable {
        record.complete = true;
        true
    } else {
        open.expecting = (!answer.unreadable).then(|| answer.next.clone());
        false
    }
}

fn evict_oldest(state: &mut State) {
    let oldest = state
        .open
        .iter()
        .flat_map(|(key, loops)| loops.iter().map(move |l| (l.record.id, *key)))
        .min_by_key(|(id, _)| *id);
    if let Some((id, key)) = oldest {
        if let Some(loops) = state.open.get_mut(&key) {
            if let Some(index) = loops.iter().position(|l| l.record.id == id) {
                let evicted = loops.remove(index);
                state.finished.push(evicted.record);
                state.open_count -= 1;
            }
            if loops.is_empty() {
                state.open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PageAnswer;

    fn page(continues_from: &[&str], answer: Option<&[&str]>) -> PageFacts {
        PageFacts {
            continues_from: continues_from.iter().map(|t| t.to_string()).collect(),
            listing: "bucket=b".into(),
            page_size: None,
            answer: answer.map(|next| PageAnswer {
                next: next.iter().map(|t| t.to_string()).collect(),
                items: Some(3),
                items_unknown: None,
                unreadable: false,
            }),
        }
    }

    fn attempt(n: u32, status: u16) -> Call {
        Call {
            attempt: Some(n),
            status: Some(status),
            invocation_id: Some("inv-1".into()),
            ..Call::sample("s3", "ListBuckets")
        }
    }

    /// Issue 13: a failed first page was counted as a paginator loop (52 failed ListBuckets
    /// became 52 loops). No page came, so no listing began; its successful retry begins one.
    #[test]
    fn a_failed_first_page_is_not_a_loop_and_its_retry_starts_one() {
        let tracker = LoopTracker::default();
        let failed = tracker.on_page(&attempt(1, 503), &page(&[], None), None);
        assert_eq!(failed, None);
        assert!(tracker.take_all().is_empty());

        let retried = tracker.on_page(&attempt(2, 200), &page(&[], Some(&[])), None);
        assert!(retried.is_some());
        let loops = tracker.take_all();
        assert_eq!(loops.len(), 1);
        assert_eq!((loops[0].pages, loops[0].attempts), (1, 1));
        assert!(loops[0].complete);
        assert!(!loops[0].relisting, "the failed page listed nothing");

        // A failed later page stays in its loop (it is retried there).
        let first = tracker.on_page(&attempt(1, 200), &page(&[], Some(&["t1"])), None);
        let second = tracker.on_page(&attempt(1, 500), &page(&["t1"], None), None);
        assert_eq!(first, second);
    }

    /// Issue 21: a loop names the line that asked for its first page, kept on the loop itself
    /// (the report reads it from the loop's row, not from every call).
    #[test]
    fn a_loop_names_the_call_site_of_its_first_page() {
        let tracker = LoopTracker::default();
        let at = |site: &str, n: u32| Call {
            callsite: Some(site.into()),
            invocation_id: Some(format!("inv-{n}")),
            ..attempt(1, 200)
        };
        let first = tracker.on_page(
            &at("sync.py:42 copy_all", 1),
            &page(&[], Some(&["t1"])),
            None,
        );
        let second = tracker.on_page(
            &at("lib/pager.py:9 next", 2),
            &page(&["t1"], Some(&[])),
            None,
        );
        assert_eq!(first, second);
        let loops = tracker.take_all();
        assert_eq!(loops.len(), 1);
        assert_eq!(loops[0].callsite.as_deref(), Some("sync.py:42 copy_all"));
    }

    /// A listing of one page is finished by its only call, never left open: its record counts
    /// the page, its items and its cost, and the same listing again is a re-listing.
    #[test]
    fn a_one_page_listing_is_finished_by_its_call() {
        let tracker = LoopTracker::default();
        let mut call = attempt(1, 200);
        call.cost = Decimal::new(5, 6);
        let first = tracker.on_page(&call, &page(&[], Some(&[])), Some(1000));
        let finished = tracker.take_finished();
        assert_eq!(finished.len(), 1);
        let record = &finished[0];
        assert_eq!(Some(record.id), first);
        assert!(record.complete && !record.relisting && !record.resumed);
        assert_eq!(
            (record.pages, record.attempts, record.items),
            (1, 1, Some(3))
        );
        assert_eq!((record.cost, record.page_size_max), (call.cost, Some(1000)));
        assert_eq!(record.ended_at, call.started_at + call.duration);

        let again = tracker.on_page(&attempt(1, 200), &page(&[], Some(&[])), None);
        assert_ne!(again, first);
        let loops = tracker.take_all();
        assert_eq!(loops.len(), 1, "nothing else was left open");
        assert!(loops[0].relisting && loops[0].complete);
    }
}
