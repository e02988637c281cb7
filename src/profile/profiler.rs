//! The observer that turns the proxy's exchanges into priced calls and hands each to the sinks
//! that want them (the run summary now; the SQLite recorder and live metrics next).

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::call::{call_from_exchange, Call};
use crate::aws::identify::Identifier;
use crate::aws::model::Model;
use crate::pricing::Pricer;
use crate::proxy::{Exchange, Observer, Tunnel};

/// Receives every priced call. Called on the proxy's tasks: count, or hand off to a channel.
pub trait CallSink: Send + Sync + 'static {
    /// `exchange` is there for what a call does not carry (the host's status line, bodies for
    /// paginator tokens); its credentials must never be stored.
    fn on_call(&self, call: &Call, exchange: &Exchange);

    fn on_tunnel(&self, _tunnel: &Tunnel) {}

    /// At shutdown, after the last call.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Identifies, measures and prices each exchange once, for every sink.
pub struct Profiler {
    pricer: Arc<Pricer>,
    sinks: Vec<Arc<dyn CallSink>>,
}

impl Profiler {
    pub fn new(pricer: Arc<Pricer>, sinks: Vec<Arc<dyn CallSink>>) -> Self {
        Self { pricer, sinks }
    }
}

impl Observer for Profiler {
    /// Identification reads request bodies (query protocol `Action`, JSON members); usage reads
    /// both (item sizes, token counts).
    fn wants_bodies(&self) -> bool {
        true
    }

    fn on_exchange(&self, exchange: &Exchange) {
        // The model is looked up here, not at start-up: its parse (a few ms) runs in the
        // background and must not hold up the command being profiled.
        let identifier = Identifier::new(Model::embedded());
        let call = call_from_exchange(&identifier, &self.pricer, exchange);
        for sink in &self.sinks {
            sink.on_call(&call, exchange);
        }
    }

    fn on_tunnel(&self, tunnel: &Tunnel) {
        for sink in &self.sinks {
            sink.on_tunnel(tunnel);
        }
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for sink in &self.sinks {
                sink.flush().await;
            }
        })
    }
}
