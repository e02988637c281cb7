//! The observer that turns the proxy's exchanges into priced calls, links paginator pages into
//! loops, and hands each call to the sinks (the run summary, the recorder, ...).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashSet;

use futures_util::future::BoxFuture;

use super::identify::call_from_exchange;
use super::loops::LoopTracker;
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

    /// Paginator loops that finished (or, at shutdown, stopped), after their last page's call.
    fn on_loops(&self, _loops: &[Loop]) {}

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
    sinks: Vec<Arc<dyn CallSink>>,
    /// Call-site and test labels too long to keep ([`super::callsite::MAX_LABEL`]).
    dropped_labels: AtomicU64,
}

/// The most listed objects remembered (about 20 bytes each): past it, later listings are not
/// remembered and their keys' HEADs are not counted as listed before, which can only make the
/// `head-per-key` finding claim less.
const MAX_LISTED: usize = 4 << 20;

impl Profiler {
    pub fn new(pricer: Arc<Pricer>, sinks: Vec<Arc<dyn CallSink>>) -> Self {
        Self {
            pricer,
            answerer: Answerer::Aws,
            loops: LoopTracker::default(),
            listed: Mutex::default(),
            sinks,
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
        if let Some(page) = &call.page {
            call.loop_id = self.loops.on_page(&call, page, call.page_size_max);
        }
        tracing::debug!(
            service = %call.service,
            operation = %call.operation,
            status = call.status,
            "call"
        );
        for sink in &self.sinks {
            sink.on_call(&call);
        }
        if call.loop_id.is_some() {
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
            let listed = self.listed.lock().unwrap_or_else(PoisonError::into_inner);
            call.listed_before = Some(listed.contains(&listed::object_hash(bucket, key)));
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

    fn deliver_loops(&self, loops: Vec<Loop>) {
        if loops.is_empty() {
            return;
        }
        for sink in &self.sinks {
            sink.on_loops(&loops);
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
    struct Calls(Mutex<Vec<Call>>);

    impl CallSink for Calls {
        fn on_call(&self, call: &Call) {
            self.0.lock().unwrap().push(call.clone());
        }
    }

    fn head(bucket: &str, key: &str) -> Call {
        let mut call = Call::sample("s3", "HeadObject");
        call.resource = Some(bucket.into());
        call.object_key = Some(key_hash(key.as_bytes()));
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
}
