//! A run's findings once it ended: computed once with the thresholds its report uses, kept in
//! the history (so that the history dashboard shows findings over time from what was found, not
//! from the findings' inputs) and counted in `tollgate_findings_raised_total`.
//!
//! When: `run` computes them once, at its end, after the last call is written: the run is then
//! whole, and what is kept and counted is exactly its report's findings. `serve` does the same
//! at its end, and, with `--metrics`, also every [`WHILE_SERVING`] over what it recorded so far,
//! counting each finding the first time it is raised, so that a long-running proxy's findings
//! show while it serves (a run that never ends would otherwise raise none). Its stored findings
//! are still the ones of its end, when its calls are all there. The findings of a whole run
//! take longer as it grows (seconds of CPU past a few hundred thousand calls), so the pause
//! after each computation grows with it ([`pause_after`]): the proxy it shares the machine with
//! keeps its CPU.

use std::sync::Arc;
use std::time::Duration;

use super::proxy_setup::{LiveMetrics, Recording};
use crate::findings::{kept, Finding, Thresholds};
use crate::metrics::Raised;
use crate::store::RunStore;

/// How often `serve --metrics` computes the findings of what it recorded so far, at most.
pub const WHILE_SERVING: Duration = Duration::from_secs(60);
/// Computing the findings so far takes at most this share of the time `serve` runs (1 %).
const FINDINGS_SHARE: u32 = 100;

/// The pause after a computation of the findings so far that took `took`: [`WHILE_SERVING`],
/// or longer, so that computing them takes at most 1/[`FINDINGS_SHARE`] of the time. In the
/// proxy bench a whole-run computation over 250,000 recorded calls every minute cost the
/// `--metrics` tollgate up to a quarter of one round's throughput.
fn pause_after(took: Duration) -> Duration {
    WHILE_SERVING.max(took.saturating_mul(FINDINGS_SHARE))
}

fn count(findings: &[Finding], metrics: Option<&LiveMetrics>) {
    if let Some(metrics) = metrics {
        metrics.findings.raise(findings.iter().map(|f| Raised {
            id: &f.id,
            rule: f.rule,
            service: &f.evidence.service,
        }));
    }
}

/// The run ended (its end recorded): computes its findings, keeps them and counts them. Returns
/// a warning to show when that failed; the run itself is unaffected.
pub async fn at_end(
    recording: &Recording,
    thresholds: &Thresholds,
    metrics: Option<&LiveMetrics>,
) -> Option<String> {
    let (store, run) = recording.store()?;
    let warning = |error| format!("tollgate: warning: the run's findings were not kept: {error}");
    // Counted even when they cannot be kept: the metric does not depend on the history.
    let found = match kept::of_run(store, run, thresholds).await {
        Ok(found) => found,
        Err(error) => return Some(warning(error)),
    };
    count(&found, metrics);
    store
        .save_findings(run, &kept::stored(&found))
        .await
        .err()
        .map(warning)
}

/// With `serve --metrics`: counts the findings of what was recorded so far, every
/// [`WHILE_SERVING`], until the returned task is aborted.
pub fn while_serving(
    recording: &Recording,
    thresholds: Thresholds,
    metrics: Option<&LiveMetrics>,
) -> Option<tokio::task::JoinHandle<()>> {
    let (store, run) = recording.shared_store()?;
    let metrics = metrics?.clone();
    Some(tokio::spawn(async move {
        watch(store, run, thresholds, metrics).await;
    }))
}

async fn watch(store: Arc<dyn RunStore>, run: i64, thresholds: Thresholds, metrics: LiveMetrics) {
    let mut pause = WHILE_SERVING;
    loop {
        tokio::time::sleep(pause).await;
        let started = std::time::Instant::now();
        match kept::of_run(store.as_ref(), run, &thresholds).await {
            Ok(found) => count(&found, Some(&metrics)),
            Err(error) => tracing::warn!("the findings so far could not be computed: {error}"),
        }
        pause = pause_after(started.elapsed());
        tracing::debug!(
            took_ms = started.elapsed().as_millis() as u64,
            next_in_s = pause.as_secs(),
            "the findings so far"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_while_serving_wait_a_minute_or_a_hundred_times_what_they_took() {
        assert_eq!(pause_after(Duration::ZERO), WHILE_SERVING);
        assert_eq!(pause_after(Duration::from_millis(600)), WHILE_SERVING);
        assert_eq!(
            pause_after(Duration::from_millis(1_500)),
            Duration::from_secs(150)
        );
        assert_eq!(pause_after(Duration::MAX), Duration::MAX);
    }
}
