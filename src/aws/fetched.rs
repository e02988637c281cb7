//! What a run's HEADs and GETs of S3 objects asked and received (issue 24 item 4): a GET that
//! answers an earlier HEAD of its object, and the bytes a GET received that earlier GETs of the
//! same object (same ETag) had received by other requests. Kept per run by the profiler, as
//! 64-bit hashes of bucket, key and request, and byte spans: no key or range is stored.

use rustc_hash::{FxHashMap, FxHashSet};

use super::listed;
use crate::record::Call;

/// The most HEADs waiting for a GET of their object, the most distinct GET requests, and the
/// most byte spans (16 bytes each) remembered in a run. Past them, what is not remembered is not
/// counted: a HEAD no GET is found to answer, a GET that may repeat an earlier request, bytes no
/// earlier span is known to hold. Each can only make the `head-then-get` and
/// `overlapping-ranges` findings claim less.
const MAX_HEADS: usize = 1 << 20;
const MAX_REQUESTS: usize = 1 << 20;
const MAX_SPANS: usize = 1 << 20;

/// Per run: the HEADs of S3 objects that no GET has answered yet, and the bytes of each object
/// that GETs have received.
#[derive(Default)]
pub struct Fetched {
    /// By object hash: first attempts of HeadObject, answered, of keys no listing had named,
    /// each the first of its parameters in the run.
    heads: FxHashMap<u64, u32>,
    /// Hashes of (operation, object, request fingerprint) of the HEADs and of the GETs that
    /// received their bytes.
    requests: FxHashSet<u64>,
    /// By object hash: its ETag's hash, and the spans received of it (sorted, merged).
    spans: Spans,
    span_count: usize,
    /// HEADs, requests and spans not remembered because a limit was reached.
    dropped: u64,
}

/// By object hash: its ETag's hash, and the spans received of it (sorted, merged).
type Spans = FxHashMap<u64, (Option<u64>, Vec<(u64, u64)>)>;

impl Fetched {
    /// HEADs, requests and spans not remembered because a limit was reached.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Remembers a HEAD of an S3 object that a GET may answer later, and the bytes a GET of one
    /// received; marks a GET that answers such a HEAD (`after_head`), and the bytes it received
    /// again (`refetched_bytes`). A HEAD's `listed_before` must be set already.
    pub fn mark(&mut self, call: &mut Call) {
        let (Some(key), Some(bucket)) = (call.object_key, call.resource.as_deref()) else {
            return;
        };
        if call.service != "s3" {
            return;
        }
        let object = listed::object_hash(bucket, key);
        let answered = !call.is_error() && call.status.is_some();
        match call.operation.as_str() {
            // A HEAD of a listed key is head-per-key's: reading the listing removes it whether
            // or not a GET follows (`findings::claims`).
            "HeadObject" if answered && !call.is_retry() && call.listed_before != Some(true) => {
                if let Some(fingerprint) = call.fingerprint.as_deref() {
                    let request = listed::object_hash(fingerprint, !object);
                    self.head(object, request);
                }
            }
            "GetObject" => {
                call.after_head = Some(answered && self.answers_head(object));
                if let (Some(span), Some(fingerprint)) = (call.span, call.fingerprint.as_deref()) {
                    let request = listed::object_hash(fingerprint, object);
                    call.refetched_bytes = self.refetched(object, request, call.etag, span);
                }
            }
            _ => {}
        }
    }

    /// A HEAD of `object` that may be answered by a later GET, unless the same request was
    /// made before in the run (`request`: its hash with the object's): a repeat is the
    /// repeated-calls finding's, which keeps the first and claims the others.
    fn head(&mut self, object: u64, request: u64) {
        if self.requests.contains(&request) {
            return;
        }
        let known = self.heads.contains_key(&object);
        if self.requests.len() >= MAX_REQUESTS || (self.heads.len() >= MAX_HEADS && !known) {
            self.dropped += 1;
            return;
        }
        self.requests.insert(request);
        *self.heads.entry(object).or_default() += 1;
    }

    /// Whether a GET of `object` answers a HEAD still waiting for one (and takes it).
    fn answers_head(&mut self, object: u64) -> bool {
        match self.heads.get_mut(&object) {
            Some(waiting) => {
                *waiting -= 1;
                if *waiting == 0 {
                    self.heads.remove(&object);
                }
                true
            }
            None => false,
        }
    }

    /// The bytes of `span` that earlier GETs of `object` (same ETag) received, remembering it;
    /// `None` when the request repeats an earlier one (`request`: its hash with the object's),
    /// or may: those are the repeated-calls finding's.
    fn refetched(
        &mut self,
        object: u64,
        request: u64,
        etag: Option<u64>,
        span: (u64, u64),
    ) -> Option<u64> {
        if self.requests.contains(&request) {
            return None;
        }
        if self.requests.len() >= MAX_REQUESTS {
            self.dropped += 1;
            return None;
        }
        self.requests.insert(request);
        let (known, spans) = self.spans.entry(object).or_insert((etag, Vec::new()));
        if *known != etag {
            // Another version of the object: what was received of the old one is not its bytes.
            self.span_count -= spans.len();
            spans.clear();
            *known = etag;
        }
        let refetched = overlap(spans, span);
        let before = spans.len();
        if self.span_count < MAX_SPANS {
            insert_span(spans, span);
            self.span_count = self.span_count + spans.len() - before;
        } else {
            self.dropped += 1;
        }
        Some(refetched)
    }
}

/// The bytes of `span` that the sorted, disjoint `spans` hold.
fn overlap(spans: &[(u64, u64)], (start, end): (u64, u64)) -> u64 {
    spans
        .iter()
        .map(|&(s, e)| e.min(end).saturating_sub(s.max(start)))
        .sum()
}

/// Adds `span` to the sorted, disjoint `spans`, merging what it overlaps or touches.
fn insert_span(spans: &mut Vec<(u64, u64)>, (mut start, mut end): (u64, u64)) {
    if start >= end {
        return;
    }
    let first = spans.partition_point(|&(_, e)| e < start);
    let mut last = first;
    while last < spans.len() && spans[last].0 <= end {
        start = start.min(spans[last].0);
        end = end.max(spans[last].1);
        last += 1;
    }
    spans.splice(first..last, [(start, end)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_and_overlaps_sum() {
        let mut spans = Vec::new();
        for span in [(10, 20), (30, 40), (0, 5), (20, 30), (50, 60), (4, 11)] {
            insert_span(&mut spans, span);
        }
        assert_eq!(spans, [(0, 40), (50, 60)]);
        assert_eq!(overlap(&spans, (35, 55)), 10);
        assert_eq!(overlap(&spans, (40, 50)), 0);
    }
}
