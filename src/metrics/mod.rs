//! `--metrics ADDR`: the live metrics endpoint for Prometheus.
//!
//! The calls are counted by one more sink of plain call records
//! ([`crate::profile::sinks::MetricsSink`]); this module adds the health of the proxy and of the
//! recorder, read at scrape time from the counters they already keep (atomics: nothing here takes
//! a lock the proxy's tasks take), and serves `/metrics` over plain HTTP/1.1, in OpenMetrics text
//! when the scraper asks for it (Prometheus does) and in the Prometheus text format otherwise.

mod findings;
mod health;
mod server;

pub use findings::{FindingsRaised, Raised};
pub use health::Health;
pub use server::{MetricsServer, ServeError};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;

use crate::profile::sinks::{MetricLimits, MetricsSink, Recorder};
use crate::proxy::ProxyStats;

/// Every metric name starts with this (and `_`).
pub const PREFIX: &str = "tollgate";

/// The exposition formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, ending in `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (what `curl` and `promtool check metrics` read).
    PrometheusText,
}

impl Format {
    /// The format a scraper's `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::PrometheusText,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => prometheus_text::CONTENT_TYPE,
        }
    }
}

/// The registry and the sink whose queue is drained before each scrape.
pub struct Exporter {
    registry: Registry,
    sink: Arc<MetricsSink>,
    findings: FindingsRaised,
    scrapes: Arc<Scrapes>,
}

/// The scrapes served, so that a run that ends can wait for one that saw its last numbers.
#[derive(Default)]
pub struct Scrapes {
    /// Renders begun (each one's ticket is the count before it).
    begun: AtomicU64,
    /// One past the highest ticket whose render was served.
    served_through: AtomicU64,
    served: tokio::sync::Notify,
}

impl Scrapes {
    fn begin(&self) -> u64 {
        self.begun.fetch_add(1, Ordering::SeqCst)
    }

    fn served(&self, ticket: u64) {
        self.served_through.fetch_max(ticket + 1, Ordering::SeqCst);
        self.served.notify_waiters();
    }

    /// A mark: every scrape begun after it sees what was counted before it.
    pub fn mark(&self) -> u64 {
        self.begun.load(Ordering::SeqCst)
    }

    /// Waits until a scrape begun after `mark` was served, at most `limit`; whether one was.
    pub async fn served_after(&self, mark: u64, limit: Duration) -> bool {
        let wait = async {
            loop {
                let served = self.served.notified();
                if self.served_through.load(Ordering::SeqCst) > mark {
                    return;
                }
                served.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

impl Exporter {
    /// The call metrics sink and an exporter around it; add the health with [`Self::watch`].
    pub fn new(limits: MetricLimits) -> (Self, Arc<MetricsSink>) {
        let mut registry = Registry::with_prefix(PREFIX);
        let sink = MetricsSink::new(&mut registry, limits);
        let findings = FindingsRaised::register(&mut registry);
        (
            Self {
                registry,
                sink: sink.clone(),
                findings,
                scrapes: Arc::default(),
            },
            sink,
        )
    }

    /// `tollgate_findings_raised_total`, to count findings when they are computed.
    pub fn findings(&self) -> FindingsRaised {
        self.findings.clone()
    }

    /// The scrapes served.
    pub fn scrapes(&self) -> Arc<Scrapes> {
        self.scrapes.clone()
    }

    /// Reports the health of this proxy and recorder at each scrape.
    pub fn watch(&mut self, proxy: Arc<ProxyStats>, recorder: Option<Arc<Recorder>>) {
        let health = Health::new(proxy, recorder, self.sink.clone());
        self.registry.register_collector(Box::new(health));
    }

    /// The metrics now, every call that finished before this included.
    pub fn render(&self, format: Format) -> Result<String, std::fmt::Error> {
        let ticket = self.scrapes.begin();
        self.sink.drain();
        let mut out = String::with_capacity(16 * 1024);
        match format {
            Format::OpenMetrics => text::encode(&mut out, &self.registry)?,
            Format::PrometheusText => prometheus_text::encode(&mut out, &self.registry)?,
        }
        self.scrapes.served(ticket);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::CallSink;
    use crate::record::Call;

    #[test]
    fn both_formats_carry_the_same_samples() {
        let (mut exporter, sink) = Exporter::new(MetricLimits::default());
        exporter.watch(Arc::new(ProxyStats::default()), None);
        sink.on_call(&Call::sample("sts", "GetCallerIdentity"));
        let open = exporter.render(Format::OpenMetrics).unwrap();
        let plain = exporter.render(Format::PrometheusText).unwrap();
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(!plain.contains("# EOF"), "{plain}");
        for text in [&open, &plain] {
            assert!(text.contains(
                "tollgate_calls_total{service=\"sts\",operation=\"GetCallerIdentity\",\
                 region=\"us-east-1\",status_class=\"ok\"} 1"
            ));
            assert!(text.contains("tollgate_proxy_open_connections 0"), "{text}");
            assert!(text.contains("tollgate_proxy_tls_handshakes_total{result=\"ok\"} 0"));
            // No recorder: no recorder series, rather than zeros that would say all is well.
            assert!(!text.contains("tollgate_recorder_"), "{text}");
        }
    }

    #[test]
    fn the_scraper_chooses_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("*/*")), Format::PrometheusText);
        assert_eq!(Format::from_accept(None), Format::PrometheusText);
    }
}
