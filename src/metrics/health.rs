//! The proxy's and the recorder's health, read from their own counters at each scrape.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::profile::sinks::{MetricsSink, Recorder};
use crate::proxy::ProxyStats;

/// Reads the counters the proxy and recorder keep anyway: nothing is added to their paths.
pub struct Health {
    proxy: Arc<ProxyStats>,
    recorder: Option<Arc<Recorder>>,
    sink: Arc<MetricsSink>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").finish_non_exhaustive()
    }
}

impl Health {
    pub fn new(
        proxy: Arc<ProxyStats>,
        recorder: Option<Arc<Recorder>>,
        sink: Arc<MetricsSink>,
    ) -> Self {
        Self {
            proxy,
            recorder,
            sink,
        }
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Health {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let proxy = &self.proxy;
        let load = |value: &std::sync::atomic::AtomicU64| value.load(Ordering::Relaxed);
        counter(
            &mut encoder,
            "proxy_connections",
            "Client connections accepted",
            load(&proxy.connections),
        )?;
        gauge(
            &mut encoder,
            "proxy_open_connections",
            "Client connections open, with the interceptions and tunnels they became",
            proxy.open_connections() as u64,
        )?;
        {
            let handshakes = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(
                "proxy_tls_handshakes",
                "TLS handshakes with clients on intercepted connections, by result (a failure is \
                 almost always a client that does not trust the tollgate CA)",
                None,
                handshakes.metric_type(),
            )?;
            for (result, value) in [
                ("ok", load(&proxy.intercepted_connections)),
                ("failed", load(&proxy.handshake_failures)),
                // Completed, then closed at once without a request: a client that checks the
                // certificate after the handshake (counted in "ok" too).
                ("dropped", load(&proxy.dropped_after_handshake)),
            ] {
                let labels = [("result", result)];
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut encoder,
            "proxy_refused_tunnels",
            "CONNECTs to intercepted hosts that carried something other than TLS: refused",
            load(&proxy.refused_tunnels),
        )?;
        counter(
            &mut encoder,
            "proxy_endpoint_requests",
            "Requests sent to the proxy port as if it were the AWS endpoint: answered 400",
            load(&proxy.endpoint_requests),
        )?;
        counter(
            &mut encoder,
            "metrics_dropped_events",
            "Calls, loops and tunnels the metrics did not count because their queue was full",
            self.sink.dropped(),
        )?;
        if let Some(recorder) = &self.recorder {
            let health = recorder.health();
            gauge(
                &mut encoder,
                "recorder_queue_depth",
                "Calls and loop lists waiting for the database writer",
                health.queued,
            )?;
            counter(
                &mut encoder,
                "recorder_batches",
                "Batches the database writer handed to the store",
                health.batches,
            )?;
            counter(
                &mut encoder,
                "recorder_recorded_calls",
                "Calls written to the store",
                health.recorded,
            )?;
            counter(
                &mut encoder,
                "recorder_lost_calls",
                "Calls not recorded (the writer fell behind, or the store failed); traffic still \
                 flowed",
                health.lost,
            )?;
        }
        Ok(())
    }
}
