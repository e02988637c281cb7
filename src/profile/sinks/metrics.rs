//! Live metrics for Prometheus (`--metrics`): the sink that counts calls by service, operation,
//! region and status class, their cost, units, latency, bytes, pages and loops.
//!
//! Off the request path: on the proxy's tasks the sink only copies what the metrics need into a
//! bounded queue (no lock; when the queue is full the event is dropped and counted). The queue is
//! drained into the Prometheus families by a background tick and before every scrape, so a
//! scrape sees every call that finished before it.
//!
//! Labels are bounded: the first `max_operations` (service, operation) pairs get their own
//! `operation` value, later ones are `other`; services, regions and the operations given their
//! own latency histogram are bounded alike. A label never holds a resource name, a key, an
//! account id or a path: unknown calls are `operation="unknown"`, and a value that does not look
//! like a name (an operation the model does not have is named by the request) becomes `other`.
//!
//! Money: the cost counter is a float, for dashboards only. Each call's exact amount is converted
//! once, when it is added; nothing is ever summed in floating point to be shown as money.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit as MetricUnit};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::profile::CallSink;
use crate::proxy::Tunnel;
use crate::record::{Call, CallKind, Loop, StatusClass, Unit, UpstreamFailure};

/// Events waiting for the aggregator; past this they are dropped and counted.
const QUEUE_EVENTS: usize = 65_536;
/// How often the background task drains the queue between scrapes. Not a wake-up per call: the
/// sink never wakes anything (see the recorder's `GATHER_TICK` for why that matters).
const DRAIN_TICK: Duration = Duration::from_millis(100);
/// Latency buckets, in seconds: 1 ms to about 65 s, doubling.
const LATENCY_BUCKETS: [f64; 17] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384, 32.768, 65.536,
];
/// The value of a label past its bound, or that does not look like a name.
const OTHER: &str = "other";

/// How many values each label may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricLimits {
    /// (service, operation) pairs with their own `operation` value; the rest are `other`.
    pub operations: usize,
    /// Of those, how many (the first seen) also get a latency histogram of their own.
    pub operation_histograms: usize,
    pub services: usize,
    pub regions: usize,
}

impl Default for MetricLimits {
    fn default() -> Self {
        Self {
            operations: 300,
            operation_histograms: 50,
            services: 200,
            regions: 64,
        }
    }
}

/// The sink: hands each call's numbers to the aggregator's queue.
pub struct MetricsSink {
    tx: SyncSender<Event>,
    dropped: AtomicU64,
    aggregator: Mutex<Aggregator>,
}

impl MetricsSink {
    /// Registers the call metrics in `registry` (whose prefix should be `tollgate`).
    pub fn new(registry: &mut Registry, limits: MetricLimits) -> Arc<Self> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_EVENTS);
        let families = Families::register(registry);
        Arc::new(Self {
            tx,
            dropped: AtomicU64::new(0),
            aggregator: Mutex::new(Aggregator::new(rx, families, limits)),
        })
    }

    /// Drains the queue every [`DRAIN_TICK`] on the current tokio runtime, for as long as the
    /// sink lives.
    pub fn start_draining(self: &Arc<Self>) {
        let sink = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(DRAIN_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(sink) = sink.upgrade() else { break };
                sink.drain();
            }
        });
    }

    /// Adds every queued event to the families: before a scrape, and on the tick.
    pub fn drain(&self) {
        self.aggregator
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain();
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, event: Event) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The aggregator is gone only when the sink is: nothing to count into.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl CallSink for MetricsSink {
    fn on_call(&self, call: &Call) {
        self.send(Event::Call(Box::new(Observed::of(call))));
    }

    fn on_loops(&self, loops: &[Loop]) {
        let loops = loops
            .iter()
            .map(|finished| LoopObserved {
                service: finished.service.clone(),
                operation: finished.operation.clone(),
                pages: finished.pages,
                relisting: finished.relisting,
            })
            .collect();
        self.send(Event::Loops(loops));
    }

    fn on_tunnel(&self, tunnel: &Tunnel) {
        self.send(Event::Tunnel {
            bytes_up: tunnel.bytes_up,
            bytes_down: tunnel.bytes_down,
            failed: tunnel.error.is_some(),
        });
    }

    fn flush(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async move { self.drain() })
    }
}

enum Event {
    Call(Box<Observed>),
    Loops(Vec<LoopObserved>),
    Tunnel {
        bytes_up: u64,
        bytes_down: u64,
        failed: bool,
    },
}

/// What the metrics keep of a call: names, numbers and the exact money, nothing else.
struct Observed {
    kind: CallKind,
    service: String,
    operation: String,
    region: Option<String>,
    class: StatusClass,
    error: bool,
    retry: bool,
    throttled: bool,
    interrupted: bool,
    upstream_failure: Option<UpstreamFailure>,
    duration: Duration,
    bytes_sent: u64,
    bytes_received: u64,
    /// Own charge, transfer and implied costs: what the reports call the operation's cost.
    money: Decimal,
    units: Vec<(Unit, Decimal)>,
    page: bool,
}

impl Observed {
    /// The call's shape, the key of the metrics it adds to: kind, service, operation, region
    /// and status class.
    fn write_shape(&self, shape: &mut String) {
        shape.clear();
        for part in [
            self.kind.as_str(),
            &self.service,
            &self.operation,
            self.region.as_deref().unwrap_or("\u{0}"),
        ] {
            shape.push_str(part);
            shape.push(SHAPE_SEPARATOR);
        }
        shape.push_str(self.class.as_str());
    }

    fn of(call: &Call) -> Self {
        Self {
            kind: call.kind,
            service: call.service.clone(),
            operation: call.operation.clone(),
            region: call.region.clone(),
            class: call.status_class(),
            error: call.is_error(),
            retry: call.is_retry(),
            throttled: call.is_throttled(),
            interrupted: call.interrupted,
            upstream_failure: call.upstream_failure,
            duration: call.duration,
            bytes_sent: call.bytes_sent,
            bytes_received: call.bytes_received,
            money: call.all_money(),
            units: call.units.clone(),
            page: call.page.is_some(),
        }
    }
}

struct LoopObserved {
    service: String,
    operation: String,
    pages: u64,
    relisting: bool,
}

type Label = Arc<str>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: Label,
    operation: Label,
    region: Label,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    service: Label,
    operation: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnitLabels {
    service: Label,
    unit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

type FloatCounter = Counter<f64, std::sync::atomic::AtomicU64>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The registered metric families.
struct Families {
    calls: Family<CallLabels, Counter>,
    errors: Family<OperationLabels, Counter>,
    retries: Family<OperationLabels, Counter>,
    throttles: Family<OperationLabels, Counter>,
    cost: Family<OperationLabels, FloatCounter>,
    units: Family<UnitLabels, FloatCounter>,
    latency: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    operation_latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    request_bytes: Family<ServiceLabels, Counter>,
    response_bytes: Family<ServiceLabels, Counter>,
    pages: Family<OperationLabels, Counter>,
    loops: Family<OperationLabels, Counter>,
    loop_pages: Family<OperationLabels, Counter>,
    relistings: Family<OperationLabels, Counter>,
    upstream_errors: Family<KindLabels, Counter>,
    interrupted: Counter,
    tunnels: Family<ResultLabels, Counter>,
    tunnel_bytes_up: Counter,
    tunnel_bytes_down: Counter,
}

impl Families {
    fn register(registry: &mut Registry) -> Self {
        let families = Self {
            calls: Family::default(),
            errors: Family::default(),
            retries: Family::default(),
            throttles: Family::default(),
            cost: Family::default(),
            units: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            operation_latency: Family::new_with_constructor(latency_histogram),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            pages: Family::default(),
            loops: Family::default(),
            loop_pages: Family::default(),
            relistings: Family::default(),
            upstream_errors: Family::default(),
            interrupted: Counter::default(),
            tunnels: Family::default(),
            tunnel_bytes_up: Counter::default(),
            tunnel_bytes_down: Counter::default(),
        };
        // Every kind from the start: an alert on upstream errors has a series to watch at zero.
        for kind in [
            UpstreamFailure::Connect,
            UpstreamFailure::Tls,
            UpstreamFailure::Timeout,
            UpstreamFailure::Protocol,
        ] {
            let _ = families.upstream_errors.get_or_create(&KindLabels {
                kind: kind.as_str(),
            });
        }
        for result in ["ok", "error"] {
            let _ = families.tunnels.get_or_create(&ResultLabels { result });
        }
        let f = &families;
        registry.register(
            "calls",
            "HTTP requests to AWS, every attempt, by service, operation, region and status class",
            f.calls.clone(),
        );
        registry.register(
            "errors",
            "Calls answered with an error (4xx, 5xx, an error code in a 200) or not answered",
            f.errors.clone(),
        );
        registry.register(
            "retries",
            "Calls that were attempt 2 or later of one logical call (per the SDK's header)",
            f.retries.clone(),
        );
        registry.register(
            "throttles",
            "Calls answered with a throttling error",
            f.throttles.clone(),
        );
        registry.register(
            "cost_usd",
            "Cost in US dollars the calls caused (own charge, data transfer, implied costs), as \
             a float for dashboards; the exact amounts are in the store",
            f.cost.clone(),
        );
        registry.register(
            "priced_units",
            "Quantities the calls were priced on, by unit (requests, read units, GB, tokens...)",
            f.units.clone(),
        );
        registry.register_with_unit(
            "call_duration",
            "From a request's arrival to the end of its response, by service",
            MetricUnit::Seconds,
            f.latency.clone(),
        );
        registry.register_with_unit(
            "operation_call_duration",
            "From a request's arrival to the end of its response, for the first operations seen \
             (a bounded number; the rest are operation=\"other\")",
            MetricUnit::Seconds,
            f.operation_latency.clone(),
        );
        registry.register_with_unit(
            "request",
            "Request bytes sent to AWS (body), by service",
            MetricUnit::Bytes,
            f.request_bytes.clone(),
        );
        registry.register_with_unit(
            "response",
            "Response bytes received from AWS (body), by service",
            MetricUnit::Bytes,
            f.response_bytes.clone(),
        );
        registry.register(
            "paginator_pages",
            "Calls that were a page of a paginated listing",
            f.pages.clone(),
        );
        registry.register(
            "paginator_loops",
            "Paginator loops (listings read page by page) that finished",
            f.loops.clone(),
        );
        registry.register(
            "paginator_loop_pages",
            "Successful pages of the paginator loops that finished",
            f.loop_pages.clone(),
        );
        registry.register(
            "paginator_relistings",
            "Finished loops that read a listing already read from its start in this run",
            f.relistings.clone(),
        );
        registry.register(
            "proxy_upstream_errors",
            "Requests the upstream did not answer: the proxy answered 502 or 504 itself",
            f.upstream_errors.clone(),
        );
        registry.register(
            "proxy_interrupted_responses",
            "Responses whose body was cut short",
            f.interrupted.clone(),
        );
        registry.register(
            "proxy_tunnels",
            "Connections passed through without interception, when they closed",
            f.tunnels.clone(),
        );
        registry.register_with_unit(
            "proxy_tunnel_sent",
            "Bytes from clients through tunnels",
            MetricUnit::Bytes,
            f.tunnel_bytes_up.clone(),
        );
        registry.register_with_unit(
            "proxy_tunnel_received",
            "Bytes to clients through tunnels",
            MetricUnit::Bytes,
            f.tunnel_bytes_down.clone(),
        );
        families
    }
}

/// Gives label values out, up to a bound; past it, `other`.
struct Bounded {
    limit: usize,
    values: HashSet<Label>,
    other: Label,
}

impl Bounded {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            values: HashSet::new(),
            other: Label::from(OTHER),
        }
    }

    /// `value`'s label, if it is known or there is room for it; else `other`.
    fn label(&mut self, value: &str) -> Label {
        if let Some(label) = self.values.get(value) {
            return label.clone();
        }
        if self.values.len() >= self.limit {
            return self.other.clone();
        }
        let label = Label::from(value);
        self.values.insert(label.clone());
        label
    }

    fn contains(&self, value: &str) -> bool {
        self.values.contains(value)
    }
}

/// The one owner of the label bounds, behind the sink's mutex (never taken on the proxy's tasks).
struct Aggregator {
    rx: Receiver<Event>,
    families: Families,
    services: Bounded,
    /// Keyed `service/operation`: the bound is on pairs.
    operations: Bounded,
    operation_histograms: Bounded,
    regions: Bounded,
    /// Interned fixed values.
    unknown: Label,
    none: Label,
    not_aws: Label,
    other: Label,
    /// The metrics of each call shape and loop operation seen ([`CallHandles`]), keyed by
    /// their text in `shape`, a buffer kept for it.
    calls_seen: HashMap<Box<str>, CallHandles>,
    loops_seen: HashMap<Box<str>, LoopHandles>,
    shape: String,
}

impl Aggregator {
    fn new(rx: Receiver<Event>, families: Families, limits: MetricLimits) -> Self {
        Self {
            rx,
            families,
            services: Bounded::new(limits.services),
            operations: Bounded::new(limits.operations),
            operation_histograms: Bounded::new(limits.operation_histograms),
            regions: Bounded::new(limits.regions),
            unknown: Label::from("unknown"),
            none: Label::from("none"),
            not_aws: Label::from("not_aws"),
            other: Label::from(OTHER),
            calls_seen: HashMap::new(),
            loops_seen: HashMap::new(),
            shape: String::new(),
        }
    }

    fn drain(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            match event {
                Event::Call(call) => self.add_call(&call),
                Event::Loops(loops) => {
                    for finished in loops {
                        self.add_loop(&finished);
                    }
                }
                Event::Tunnel {
                    bytes_up,
                    bytes_down,
                    failed,
                } => {
                    let result = if failed { "error" } else { "ok" };
                    self.families
                        .tunnels
                        .get_or_create(&ResultLabels { result })
                        .inc();
                    self.families.tunnel_bytes_up.inc_by(bytes_up);
                    self.families.tunnel_bytes_down.inc_by(bytes_down);
                }
            }
        }
    }

    /// The service and operation labels of a call.
    fn names(&mut self, kind: CallKind, service: &str, operation: &str) -> (Label, Label) {
        let service = match kind {
            CallKind::NotAws => return (self.not_aws.clone(), self.unknown.clone()),
            _ if !looks_like_name(service) => self.other.clone(),
            _ => self.services.label(service),
        };
        // An unknown call's operation is its path template: not a name, and unbounded.
        let operation = match kind {
            CallKind::Unknown => self.unknown.clone(),
            _ if !looks_like_name(operation) => self.other.clone(),
            _ => {
                let key = format!("{service}/{operation}");
                if self.operations.label(&key).as_ref() == OTHER {
                    self.other.clone()
                } else {
                    Label::from(operation)
                }
            }
        };
        (service, operation)
    }

    fn region(&mut self, region: Option<&str>) -> Label {
        match region {
            None => self.none.clone(),
            Some(region) if looks_like_region(region) => self.regions.label(region),
            Some(_) => self.other.clone(),
        }
    }

    fn add_call(&mut self, call: &Observed) {
        let mut shape = std::mem::take(&mut self.shape);
        call.write_shape(&mut shape);
        if let Some(handles) = self.calls_seen.get_mut(shape.as_str()) {
            handles.add(call, &self.families);
        } else {
            let mut handles = self.call_handles(call);
            handles.add(call, &self.families);
            if self.calls_seen.len() < MAX_SHAPES {
                self.calls_seen.insert(Box::from(shape.as_str()), handles);
            }
        }
        self.shape = shape;
    }

    /// The metrics a call of this shape adds to, with its labels bounded. A bound gives a value
    /// its own label the first time it is seen, and `other` for good once it is full, so what
    /// is found here holds for every later call of the same shape.
    fn call_handles(&mut self, call: &Observed) -> CallHandles {
        let (service, operation) = self.names(call.kind, &call.service, &call.operation);
        let region = self.region(call.region.as_deref());
        let call_labels = CallLabels {
            service: service.clone(),
            operation: operation.clone(),
            region,
            status_class: call.class.as_str(),
        };
        let op = OperationLabels {
            service: service.clone(),
            operation: operation.clone(),
        };
        let by_service = ServiceLabels {
            service: service.clone(),
        };
        let key = format!("{service}/{operation}");
        let own_histogram = operation.as_ref() != OTHER
            && (self.operation_histograms.contains(&key)
                || self.operation_histograms.label(&key).as_ref() != OTHER);
        let histogram_op = if own_histogram {
            op.clone()
        } else {
            OperationLabels {
                service: service.clone(),
                operation: self.other.clone(),
            }
        };
        let families = &self.families;
        CallHandles {
            calls: families.calls.get_or_create(&call_labels).clone(),
            // Created at zero for every operation: a ratio over them has a series to divide.
            errors: families.errors.get_or_create(&op).clone(),
            retries: families.retries.get_or_create(&op).clone(),
            throttles: families.throttles.get_or_create(&op).clone(),
            cost: families.cost.get_or_create(&op).clone(),
            latency: families.latency.get_or_create(&by_service).clone(),
            operation_latency: families
                .operation_latency
                .get_or_create(&histogram_op)
                .clone(),
            request_bytes: families.request_bytes.get_or_create(&by_service).clone(),
            response_bytes: families.response_bytes.get_or_create(&by_service).clone(),
            pages: None,
            units: Vec::new(),
            op,
        }
    }

    fn add_loop(&mut self, finished: &LoopObserved) {
        let mut shape = std::mem::take(&mut self.shape);
        shape.clear();
        shape.push_str(&finished.service);
        shape.push(SHAPE_SEPARATOR);
        shape.push_str(&finished.operation);
        if let Some(handles) = self.loops_seen.get(shape.as_str()) {
            handles.add(finished);
        } else {
            let (service, operation) =
                self.names(CallKind::Operation, &finished.service, &finished.operation);
            let op = OperationLabels { service, operation };
            let handles = LoopHandles {
                loops: self.families.loops.get_or_create(&op).clone(),
                pages: self.families.loop_pages.get_or_create(&op).clone(),
                relistings: self.families.relistings.get_or_create(&op).clone(),
            };
            handles.add(finished);
            if self.loops_seen.len() < MAX_SHAPES {
                self.loops_seen.insert(Box::from(shape.as_str()), handles);
            }
        }
        self.shape = shape;
    }
}

/// Call shapes (and loop operations) whose metrics the aggregator keeps found; past this, a new
/// shape's are looked up for each call, as they all were before.
const MAX_SHAPES: usize = 4096;
/// Between the parts of a shape's key: a character no name or region holds.
const SHAPE_SEPARATOR: char = '\u{1f}';

/// The metrics one shape of call (kind, service, operation, region, status class) adds to: found
/// once in the families (about a dozen hashed label lookups, which made the aggregator's work
/// per call half of what `--metrics` cost the proxy bench), then added to directly.
struct CallHandles {
    calls: Counter,
    errors: Counter,
    retries: Counter,
    throttles: Counter,
    cost: FloatCounter,
    latency: Histogram,
    operation_latency: Histogram,
    request_bytes: Counter,
    response_bytes: Counter,
    /// Created at a call's first page only, as a family series is.
    pages: Option<Counter>,
    /// By unit, as the shape's calls were priced in them.
    units: Vec<(Unit, FloatCounter)>,
    op: OperationLabels,
}

impl CallHandles {
    fn add(&mut self, call: &Observed, families: &Families) {
        self.calls.inc();
        if call.error {
            self.errors.inc();
        }
        if call.retry {
            self.retries.inc();
        }
        if call.throttled {
            self.throttles.inc();
        }
        // Each call's exact amount converted on its own: the float is only ever a display sum.
        self.cost.inc_by(call.money.to_f64().unwrap_or(0.0));
        for (unit, quantity) in &call.units {
            let counter = match self.units.iter().position(|(known, _)| known == unit) {
                Some(at) => &self.units[at].1,
                None => {
                    let counter = families
                        .units
                        .get_or_create(&UnitLabels {
                            service: self.op.service.clone(),
                            unit: unit.as_str(),
                        })
                        .clone();
                    self.units.push((*unit, counter));
                    &self.units[self.units.len() - 1].1
                }
            };
            counter.inc_by(quantity.to_f64().unwrap_or(0.0));
        }
        let seconds = call.duration.as_secs_f64();
        self.latency.observe(seconds);
        self.operation_latency.observe(seconds);
        self.request_bytes.inc_by(call.bytes_sent);
        self.response_bytes.inc_by(call.bytes_received);
        if call.page {
            self.pages
                .get_or_insert_with(|| families.pages.get_or_create(&self.op).clone())
                .inc();
        }
        if let Some(failure) = call.upstream_failure {
            families
                .upstream_errors
                .get_or_create(&KindLabels {
                    kind: failure.as_str(),
                })
                .inc();
        }
        if call.interrupted {
            families.interrupted.inc();
        }
    }
}

/// The metrics a finished loop of one operation adds to.
struct LoopHandles {
    loops: Counter,
    pages: Counter,
    relistings: Counter,
}

impl LoopHandles {
    fn add(&self, finished: &LoopObserved) {
        self.loops.inc();
        self.pages.inc_by(finished.pages);
        if finished.relisting {
            self.relistings.inc();
        }
    }
}

/// A service or operation name as AWS spells them (`s3`, `ListObjectsV2`, `bedrock-runtime`,
/// `sso-oidc`): short, letters, digits, `-`, `_` and `.`. Anything else (a path, a value taken
/// from a request) is not given a label of its own.
fn looks_like_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `us-east-1`, `cn-north-1`, `us-gov-west-1`, `eu-isoe-west-1`, `aws-global`.
fn looks_like_region(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 24
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && value.contains('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn sink(limits: MetricLimits) -> (Registry, Arc<MetricsSink>) {
        let mut registry = Registry::with_prefix("tollgate");
        let sink = MetricsSink::new(&mut registry, limits);
        (registry, sink)
    }

    fn scrape(registry: &Registry, sink: &MetricsSink) -> String {
        sink.drain();
        let mut text = String::new();
        encode(&mut text, registry).unwrap();
        text
    }

    /// The value of the sample line that starts with `prefix` (name and labels).
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .map(|value| value.trim().parse().unwrap())
    }

    #[test]
    fn counts_each_attempt_by_operation_region_and_status_class() {
        let (registry, sink) = sink(MetricLimits::default());
        let mut ok = Call::sample("s3", "GetObject");
        ok.cost = Decimal::new(4, 7); // $0.0000004
        ok.units = vec![(Unit::Request, Decimal::ONE)];
        sink.on_call(&ok);
        sink.on_call(&ok);
        let mut retry = ok.clone();
        retry.attempt = Some(2);
        retry.status = Some(503);
        retry.error_code = Some("SlowDown".into());
        sink.on_call(&retry);
        let text = scrape(&registry, &sink);
        let calls = |class: &str| {
            sample(
                &text,
                &format!(
                    "tollgate_calls_total{{service=\"s3\",operation=\"GetObject\",\
                     region=\"us-east-1\",status_class=\"{class}\"}}"
                ),
            )
        };
        assert_eq!(calls("ok"), Some(2.0), "{text}");
        assert_eq!(calls("server_error"), Some(1.0), "{text}");
        let op = "{service=\"s3\",operation=\"GetObject\"}";
        assert_eq!(
            sample(&text, &format!("tollgate_errors_total{op}")),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, &format!("tollgate_retries_total{op}")),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, &format!("tollgate_throttles_total{op}")),
            Some(1.0)
        );
        let cost = sample(&text, &format!("tollgate_cost_usd_total{op}")).unwrap();
        assert!((cost - 1.2e-6).abs() < 1e-15, "{cost}");
        assert_eq!(
            sample(
                &text,
                "tollgate_priced_units_total{service=\"s3\",unit=\"request\"}"
            ),
            Some(3.0)
        );
        assert_eq!(
            sample(
                &text,
                "tollgate_call_duration_seconds_count{service=\"s3\"}"
            ),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, "tollgate_request_bytes_total{service=\"s3\"}"),
            Some(30.0)
        );
        // Every upstream failure kind is there at zero before any happens.
        assert_eq!(
            sample(
                &text,
                "tollgate_proxy_upstream_errors_total{kind=\"timeout\"}"
            ),
            Some(0.0)
        );
    }

    #[test]
    fn operations_past_the_bound_are_other() {
        let limits = MetricLimits {
            operations: 2,
            operation_histograms: 1,
            ..MetricLimits::default()
        };
        let (registry, sink) = sink(limits);
        for operation in ["GetItem", "PutItem", "Query", "Scan", "GetItem", "Query"] {
            sink.on_call(&Call::sample("dynamodb", operation));
        }
        let text = scrape(&registry, &sink);
        let calls = |operation: &str| {
            sample(
                &text,
                &format!(
                    "tollgate_calls_total{{service=\"dynamodb\",operation=\"{operation}\",\
                     region=\"us-east-1\",status_class=\"ok\"}}"
                ),
            )
        };
        assert_eq!(calls("GetItem"), Some(2.0), "{text}");
        assert_eq!(calls("PutItem"), Some(1.0), "{text}");
        // Query's second call is added through the metrics its first found: still `other`.
        assert_eq!(calls("other"), Some(3.0), "{text}");
        assert_eq!(calls("Query"), None, "{text}");
        // One operation has its own histogram; the rest share `other`.
        let histogram = |operation: &str| {
            sample(
                &text,
                &format!(
                    "tollgate_operation_call_duration_seconds_count{{service=\"dynamodb\",\
                     operation=\"{operation}\"}}"
                ),
            )
        };
        assert_eq!(histogram("GetItem"), Some(2.0), "{text}");
        assert_eq!(histogram("other"), Some(4.0), "{text}");
    }

    /// Past the shapes whose metrics the aggregator keeps found, calls are still counted, each
    /// under its own labels.
    #[test]
    fn calls_of_more_shapes_than_are_kept_are_all_counted() {
        let (registry, sink) = sink(MetricLimits::default());
        let shapes = MAX_SHAPES + 500;
        for round in 0..2 {
            for n in 0..shapes {
                sink.on_call(&Call::sample("dynamodb", &format!("Operation{n}")));
            }
            sink.on_call(&Call::sample("dynamodb", "GetItem"));
            let text = scrape(&registry, &sink);
            let total: f64 = text
                .lines()
                .filter(|line| line.starts_with("tollgate_calls_total{"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            assert_eq!(total, ((shapes + 1) * (round + 1)) as f64);
            let get_item = sample(
                &text,
                "tollgate_calls_total{service=\"dynamodb\",operation=\"other\",\
                 region=\"us-east-1\",status_class=\"ok\"}",
            );
            // Operation0..299 have their own label; the rest, GetItem included, are `other`.
            assert_eq!(get_item, Some(((shapes + 1 - 300) * (round + 1)) as f64));
        }
    }

    #[test]
    fn no_label_holds_a_path_a_resource_or_a_key() {
        let (registry, sink) = sink(MetricLimits::default());
        let mut unknown = Call::sample("s3", "unknown: GET /{}/secret-bucket-name");
        unknown.kind = CallKind::Unknown;
        unknown.resource = Some("arn:aws:s3:::secret-bucket-name".into());
        unknown.access_key = Some("fingerprint-AKIDSECRET".into());
        sink.on_call(&unknown);
        let mut odd = Call::sample("dynamodb", "Get Item/../123456789012");
        odd.kind = CallKind::NotInModel;
        odd.region = Some("us-east-1/123456789012".into());
        sink.on_call(&odd);
        let mut not_aws = Call::sample("api.example.test", "GET /users/42");
        not_aws.kind = CallKind::NotAws;
        sink.on_call(&not_aws);
        let text = scrape(&registry, &sink);
        for secret in ["secret", "AKID", "123456789012", "/", "example"] {
            let leaked: Vec<&str> = text
                .lines()
                .filter(|line| !line.starts_with('#') && line.contains(secret))
                .collect();
            assert!(leaked.is_empty(), "{secret} in {leaked:?}");
        }
        assert!(text.contains(
            "tollgate_calls_total{service=\"s3\",operation=\"unknown\",region=\"us-east-1\""
        ));
        assert!(text.contains(
            "tollgate_calls_total{service=\"dynamodb\",operation=\"other\",region=\"other\""
        ));
        assert!(text.contains("tollgate_calls_total{service=\"not_aws\",operation=\"unknown\""));
    }

    #[test]
    fn loops_tunnels_and_upstream_failures() {
        let (registry, sink) = sink(MetricLimits::default());
        let mut failed = Call::sample("sqs", "ReceiveMessage");
        failed.status = None;
        failed.upstream_failure = Some(UpstreamFailure::Timeout);
        sink.on_call(&failed);
        let listing = Loop {
            id: 1,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("bucket".into()),
            access_key: None,
            listing: "l".into(),
            started_at: std::time::SystemTime::UNIX_EPOCH,
            ended_at: std::time::SystemTime::UNIX_EPOCH,
            pages: 3,
            attempts: 3,
            items: None,
            items_unknown: None,
            page_size: None,
            page_size_max: None,
            complete: true,
            resumed: false,
            relisting: true,
            cost: Decimal::ZERO,
            transfer: Decimal::ZERO,
            implied: Decimal::ZERO,
            callsite: None,
        };
        sink.on_loops(&[listing]);
        sink.on_tunnel(&Tunnel {
            client: "127.0.0.1:1".parse().unwrap(),
            host: "pypi.org".into(),
            port: 443,
            bytes_up: 5,
            bytes_down: 7,
            duration: Duration::from_millis(1),
            error: None,
        });
        let text = scrape(&registry, &sink);
        let op = "{service=\"s3\",operation=\"ListObjectsV2\"}";
        assert_eq!(
            sample(&text, &format!("tollgate_paginator_loops_total{op}")),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, &format!("tollgate_paginator_loop_pages_total{op}")),
            Some(3.0)
        );
        assert_eq!(
            sample(&text, &format!("tollgate_paginator_relistings_total{op}")),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "tollgate_proxy_upstream_errors_total{kind=\"timeout\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "tollgate_proxy_tunnels_total{result=\"ok\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "tollgate_proxy_tunnel_sent_bytes_total"),
            Some(5.0)
        );
        assert!(!text.contains("pypi"), "{text}");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (registry, sink) = sink(MetricLimits::default());
        let call = Call::sample("sts", "GetCallerIdentity");
        for _ in 0..QUEUE_EVENTS + 5 {
            sink.on_call(&call);
        }
        assert_eq!(sink.dropped(), 5);
        let text = scrape(&registry, &sink);
        assert_eq!(
            sample(
                &text,
                "tollgate_calls_total{service=\"sts\",operation=\"GetCallerIdentity\",\
                 region=\"us-east-1\",status_class=\"ok\"}"
            ),
            Some(QUEUE_EVENTS as f64)
        );
    }
}
