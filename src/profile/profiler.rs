//! The observer that turns the proxy's exchanges into priced calls, links paginator pages into
//! loops, and hands each call to the sinks (the run summary, the recorder, ...).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashSet;

use futures_util::future::BoxFuture;

use super::identify::call_from_exchange;
use super::loops::LoopTracker;
use crate::aws::fetched::Fetched;
use crate::aws::identify::Identifier;
use crate::aws::listed;
use crate::aws::model::Model;
use crate::aws::usage::Answerer;
use crate::pricing::Pricer;
use crate::proxy::{BodyTap, Distrust, Exchange, Observer, ResponseStart, Tunnel};
use crate::record::{Call, Loop};

/// Receives every priced call, as a plain record. Called on the proxy's tasks: count, or hand
/// off to a channel.
pub trait CallSink: Send + Sync + 'static {
    fn on_call(&self, call: &Call);

    /// Whether the sink keeps each call (the recorder): the profiler then hands it the call itself
    /// ([`CallSink::take_call`]) instead of a reference it would copy. One sink at most gets it.
    fn keeps_calls(&self) -> bool {
        false
    }

    /// The call, owned, for the sink that [`keeps_calls`](CallSink::keeps_calls).
    fn take_call(&self, call: Call) {
        self.on_call(&call);
    }

    /// Paginator loops that finished (or, at shutdown, stopped), after their last page's call.
    fn on_loops(&self, _loops: &[Loop]) {}

    /// The loops, owned, for the sink that [`keeps_calls`](CallSink::keeps_calls) (a
    /// listing's every page ends one, so copying them cost the recorder a copy per call).
    fn take_loops(&self, loops: Vec<Loop>) {
        self.on_loops(&loops);
    }

    /// A connection passed through without interception, when it closed.
    fn on_tunnel(&self, _tunnel: &Tunnel) {}

    /// A client that did not accept tollgate's certificate.
    fn on_distrust(&self, _distrust: &Distrust) {}

    /// At shutdown, after the last call.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Identifies, measures and prices each exchange once, for every sink.
pub struct Profiler {
    pricer: Arc<Pricer>,
    answerer: Answerer,
    loops: LoopTracker,
    /// The objects S3 listings returned so far in the run, as hashes of (bucket, key).
    listed: Mutex<FxHashSet<u64>>,
    /// What the run's HEADs and GETs of S3 objects asked and received so far.
    fetched: Mutex<Fetched>,
    sinks: Vec<Arc<dyn CallSink>>,
    /// The sink handed each call by value, after the others saw it by reference.
    keeper: Option<usize>,
    /// Call-site and test labels too long to keep ([`super::callsite::MAX_LABEL`]).
    dropped_labels: AtomicU64,
}

/// The most listed objects remembered (about 20 bytes each): past it, later listings are not
/// remembered and their keys' HEADs are not counted as listed before, which can only make the
/// `head-per-key` finding claim less.
const MAX_LISTED: usize = 4 << 20;

impl Profiler {
    pub fn new(pricer: Arc<Pricer>, sinks: Vec<Arc<dyn CallSink>>) -> Self {
        let keeper = sinks.iter().position(|sink| sink.keeps_calls());
        Self {
            pricer,
            answerer: Answerer::Aws,
            loops: LoopTracker::default(),
            listed: Mutex::default(),
            fetched: Mutex::default(),
            sinks,
            keeper,
            dropped_labels: AtomicU64::new(0),
        }
    }

    /// Who answers the exchanges: a stand-in behind `--upstream`, or AWS (the default).
    pub fn answered_by(mut self, answerer: Answerer) -> Self {
        self.answerer = answerer;
        self
    }

    /// Hands a call to every sink, then the loops its page finished.
    pub fn deliver(&self, mut call: Call) {
        self.remember_listed(&mut call);
        self.remember_fetched(&mut call);
        if let Some(page) = &call.page {
            call.loop_id = self.loops.on_page(&call, page, call.page_size_max);
        }
        tracing::debug!(
            service = %call.service,
            operation = %call.operation,
            status = call.status,
            "call"
        );
        let paged = call.loop_id.is_some();
        for (at, sink) in self.sinks.iter().enumerate() {
            if Some(at) != self.keeper {
                sink.on_call(&call);
            }
        }
        if let Some(keeper) = self.keeper {
            self.sinks[keeper].take_call(call);
        }
        if paged {
            self.deliver_loops(self.loops.take_finished());
        }
    }

    /// Remembers the objects an S3 listing returned, and marks a HEAD of one of them.
    fn remember_listed(&self, call: &mut Call) {
        if call.service != "s3" {
            return;
        }
        let Some(bucket) = call.resource.as_deref() else {
            return;
        };
        if let Some(key) = call.object_key {
            if listed::PER_KEY.contains(&call.operation.as_str()) {
                let listed = self.listed.lock().unwrap_or_else(PoisonError::into_inner);
                call.listed_before = Some(listed.contains(&listed::object_hash(bucket, key)));
            }
        } else if !call.listed_keys.is_empty() {
            let mut listed = self.listed.lock().unwrap_or_else(PoisonError::into_inner);
            let room = MAX_LISTED.saturating_sub(listed.len());
            listed.extend(
                call.listed_keys
                    .iter()
                    .take(room)
                    .map(|key| listed::object_hash(bucket, *key)),
            );
        }
    }

    /// Marks a GET of an S3 object that answers an earlier HEAD, and the bytes it received
    /// again (`aws::fetched`).
    fn remember_fetched(&self, call: &mut Call) {
        self.fetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .mark(call);
    }

    fn deliver_loops(&self, loops: Vec<Loop>) {
        if loops.is_empty() {
            return;
        }
        for (at, sink) in self.sinks.iter().enumerate() {
            if Some(at) != self.keeper {
                sink.on_loops(&loops);
            }
        }
        if let Some(keeper) = self.keeper {
            self.sinks[keeper].take_loops(loops);
        }
    }
}

impl Observer for Profiler {
    /// Identification reads request bodies (query protocol `Action`, JSON members); usage reads
    /// both (item sizes, token counts).
    fn wants_bodies(&self) -> bool {
        true
    }

    /// Identifies the request when its answer begins, and for a page of a listing, counts its
    /// items and reads its next token as the body streams.
    fn response_tap(&self, start: &ResponseStart<'_>) -> Option<Box<dyn BodyTap>> {
        super::tap::call_tap(start)
    }

    fn on_exchange(&self, exchange: &Exchange) {
        // The model is looked up here, not at start-up: its parse (a few ms) runs in the
        // background and must not hold up the command being profiled.
        let identifier = Identifier::new(Model::in_use());
        let dropped = super::callsite::dropped(&exchange.request_headers);
        if dropped > 0 {
            self.dropped_labels.fetch_add(dropped, Ordering::Relaxed);
        }
        self.deliver(call_from_exchange(
            &identifier,
            &self.pricer,
            exchange,
            self.answerer,
        ));
    }

    fn on_tunnel(&self, tunnel: &Tunnel) {
        for sink in &self.sinks {
            sink.on_tunnel(tunnel);
        }
    }

    fn on_distrust(&self, distrust: &Distrust) {
        for sink in &self.sinks {
            sink.on_distrust(distrust);
        }
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.deliver_loops(self.loops.take_all());
            let fetched =
                std::mem::take(&mut *self.fetched.lock().unwrap_or_else(PoisonError::into_inner));
            if fetched.dropped() > 0 {
                tracing::warn!(
                    dropped = fetched.dropped(),
                    "S3 HEADs, GET requests or byte spans past the limit were not remembered: \
                     head-then-get and overlapping-ranges may claim less than they could"
                );
            }
            let dropped = self.dropped_labels.load(Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    max_bytes = super::callsite::MAX_LABEL,
                    "call-site or test labels longer than the limit were dropped"
                );
            }
            for sink in &self.sinks {
                sink.flush().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::aws::listed::key_hash;

    #[derive(Default)]
    struct Calls(Mutex<Vec<Call>>, Mutex<Vec<Loop>>);

    impl CallSink for Calls {
        fn on_call(&self, call: &Call) {
            self.0.lock().unwrap().push(call.clone());
        }

        fn on_loops(&self, loops: &[Loop]) {
            self.1.lock().unwrap().extend_from_slice(loops);
        }
    }

    /// A sink that keeps its calls and loops, handed them by value.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Call>>, Mutex<Vec<Loop>>);

    impl CallSink for Kept {
        fn on_call(&self, _call: &Call) {
            panic!("a sink that keeps calls is handed them by value");
        }

        fn keeps_calls(&self) -> bool {
            true
        }

        fn take_call(&self, call: Call) {
            self.0.lock().unwrap().push(call);
        }

        fn on_loops(&self, _loops: &[Loop]) {
            panic!("a sink that keeps calls is handed their loops by value");
        }

        fn take_loops(&self, loops: Vec<Loop>) {
            self.1.lock().unwrap().extend(loops);
        }
    }

    /// The sink that keeps calls gets each call and loop itself, the others see the same ones,
    /// and the loop its page finished still follows it.
    #[test]
    fn the_sink_that_keeps_calls_is_handed_them_and_the_others_see_them() {
        let calls = Arc::new(Calls::default());
        let kept = Arc::new(Kept::default());
        let (table, settings) = crate::pricing::overlay::load(&Default::default()).unwrap();
        let profiler = Profiler::new(
            Arc::new(Pricer::new(table, settings)),
            vec![kept.clone() as Arc<dyn CallSink>, calls.clone()],
        );
        let mut listing = Call::sample("s3", "ListObjectsV2");
        listing.resource = Some("b".into());
        listing.page = Some(crate::record::PageFacts {
            continues_from: Vec::new(),
            listing: "b".into(),
            page_size: None,
            answer: Some(crate::record::PageAnswer {
                next: Vec::new(),
                items: Some(2),
                items_unknown: None,
                unreadable: false,
            }),
        });
        profiler.deliver(listing);
        profiler.deliver(head("b", "a/1"));
        let kept_loops = kept.clone();
        let kept = kept.0.lock().unwrap();
        let seen = calls.0.lock().unwrap();
        assert_eq!(kept.len(), 2);
        for (kept, seen) in kept.iter().zip(seen.iter()) {
            assert_eq!(format!("{kept:?}"), format!("{seen:?}"));
        }
        assert!(kept[0].loop_id.is_some(), "the page is in a loop");
        let kept_loops = kept_loops.1.lock().unwrap();
        assert_eq!(kept_loops.len(), 1, "the one-page listing ended its loop");
        assert_eq!(*kept_loops, *calls.1.lock().unwrap());
        assert_eq!(Some(kept_loops[0].id), kept[0].loop_id);
    }

    fn head(bucket: &str, key: &str) -> Call {
        let mut call = Call::sample("s3", "HeadObject");
        call.resource = Some(bucket.into());
        call.object_key = Some(key_hash(key.as_bytes()));
        call.fingerprint = Some(format!("head {bucket}/{key}"));
        call
    }

    /// Issue 24 item 3: a HEAD counts as "listed before" only for a key an earlier listing of
    /// the same bucket returned.
    #[test]
    fn heads_of_keys_an_earlier_listing_returned_are_marked() {
        let calls = Arc::new(Calls::default());
        let (table, settings) = crate::pricing::overlay::load(&Default::default()).unwrap();
        let profiler = Profiler::new(
            Arc::new(Pricer::new(table, settings)),
            vec![calls.clone() as Arc<dyn CallSink>],
        );
        profiler.deliver(head("b", "a/1"));
        let mut listing = Call::sample("s3", "ListObjectsV2");
        listing.resource = Some("b".into());
        listing.listed_keys = vec![key_hash(b"a/1"), key_hash(b"a/2")];
        profiler.deliver(listing);
        profiler.deliver(head("b", "a/1"));
        profiler.deliver(head("b", "a/3"));
        profiler.deliver(head("other", "a/2"));
        let marks: Vec<Option<bool>> = calls
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.listed_before)
            .collect();
        assert_eq!(
            marks,
            [Some(false), None, Some(true), Some(false), Some(false)]
        );
    }

    fn get(bucket: &str, key: &str, range: Option<&str>, span: (u64, u64)) -> Call {
        let mut call = Call::sample("s3", "GetObject");
        call.resource = Some(bucket.into());
        call.object_key = Some(key_hash(key.as_bytes()));
        call.fingerprint = Some(format!("{bucket}/{key}/{range:?}"));
        call.span = Some(span);
        call.etag = Some(1);
        call.bytes_received = span.1 - span.0;
        call
    }

    fn profiler(calls: &Arc<Calls>) -> Profiler {
        let (table, settings) = crate::pricing::overlay::load(&Default::default()).unwrap();
        Profiler::new(
            Arc::new(Pricer::new(table, settings)),
            vec![calls.clone() as Arc<dyn CallSink>],
        )
    }

    /// Issue 24 item 4: a GET answers one HEAD of its object that came before it (not one of a
    /// listed key, not one another GET answered, not a repeat of an earlier HEAD).
    #[test]
    fn a_get_answers_one_earlier_head_of_its_object() {
        let calls = Arc::new(Calls::default());
        let profiler = profiler(&calls);
        profiler.deliver(get("b", "early", None, (0, 10)));
        profiler.deliver(head("b", "a"));
        let mut conditional = head("b", "a");
        conditional.fingerprint = Some("head b/a If-Match".into());
        profiler.deliver(conditional);
        // The same HEAD again: the repeat repeated-calls claims.
        profiler.deliver(head("b", "a"));
        let mut missing = head("b", "gone");
        missing.status = Some(404);
        profiler.deliver(missing);
        profiler.deliver(get("b", "a", None, (0, 10)));
        profiler.deliver(get("b", "a", Some("bytes=0-4"), (0, 5)));
        profiler.deliver(get("b", "a", Some("bytes=5-9"), (5, 10)));
        profiler.deliver(get("b", "gone", None, (0, 10)));
        profiler.deliver(get("other", "a", None, (0, 10)));
        let mut listing = Call::sample("s3", "ListObjectsV2");
        listing.resource = Some("b".into());
        listing.listed_keys = vec![key_hash(b"listed")];
        profiler.deliver(listing);
        profiler.deliver(head("b", "listed"));
        profiler.deliver(get("b", "listed", None, (0, 10)));
        let marks: Vec<Option<bool>> = calls
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.operation == "GetObject")
            .map(|c| c.after_head)
            .collect();
        assert_eq!(
            marks,
            [false, true, true, false, false, false, false].map(Some)
        );
    }

    /// Issue 24 item 4: bytes received again by another request are counted; disjoint ranges,
    /// the same request again, and a changed object are not.
    #[test]
    fn overlapping_ranges_count_the_bytes_received_again() {
        let calls = Arc::new(Calls::default());
        let profiler = profiler(&calls);
        // boto3 download_file: disjoint parts.
        for part in 0..6u64 {
            let start = part * 8;
            let range = format!("bytes={start}-{}", start + 7);
            profiler.deliver(get("b", "big", Some(&range), (start, start + 8)));
        }
        // polars: a suffix, then the whole file.
        profiler.deliver(get("b", "small", Some("bytes=-4"), (6, 10)));
        profiler.deliver(get("b", "small", None, (0, 10)));
        // The same request again: a repeat, not an overlap.
        profiler.deliver(get("b", "small", None, (0, 10)));
        // A range inside what was read: all of it again.
        profiler.deliver(get("b", "small", Some("bytes=2-5"), (2, 6)));
        // Another version of the object: nothing of the old one counts.
        let mut changed = get("b", "small", Some("bytes=0-2"), (0, 3));
        changed.etag = Some(2);
        profiler.deliver(changed);
        // No span (a failed GET): not known.
        let mut failed = get("b", "small", Some("bytes=0-3"), (0, 4));
        failed.span = None;
        profiler.deliver(failed);
        let refetched: Vec<Option<u64>> = calls
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.refetched_bytes)
            .collect();
        assert_eq!(
            refetched,
            [
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(4),
                None,
                Some(4),
                Some(0),
                None
            ]
        );
    }
}
