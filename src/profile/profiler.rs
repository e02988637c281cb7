//! The observer that turns the proxy's exchanges into priced calls, links paginator pages into
//! loops, and hands each call to the sinks (the run summary, the recorder, ...).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::identify::call_from_exchange;
use super::loops::LoopTracker;
use crate::aws::identify::Identifier;
use crate::aws::model::Model;
use crate::aws::usage::Answerer;
use crate::pricing::Pricer;
use crate::proxy::{BodyTap, Exchange, Observer, ResponseStart, Tunnel};
use crate::record::{Call, Loop};

/// Receives every priced call, as a plain record. Called on the proxy's tasks: count, or hand
/// off to a channel.
pub trait CallSink: Send + Sync + 'static {
    fn on_call(&self, call: &Call);

    /// Paginator loops that finished (or, at shutdown, stopped), after their last page's call.
    fn on_loops(&self, _loops: &[Loop]) {}

    /// A connection passed through without interception, when it closed.
    fn on_tunnel(&self, _tunnel: &Tunnel) {}

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
    sinks: Vec<Arc<dyn CallSink>>,
    /// Call-site and test labels too long to keep ([`super::callsite::MAX_LABEL`]).
    dropped_labels: AtomicU64,
}

impl Profiler {
    pub fn new(pricer: Arc<Pricer>, sinks: Vec<Arc<dyn CallSink>>) -> Self {
        Self {
            pricer,
            answerer: Answerer::Aws,
            loops: LoopTracker::default(),
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
