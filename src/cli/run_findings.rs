//! A run's findings once it ended: computed once with the thresholds its report uses, kept in
//! the history (so that the history dashboard shows findings over time from what was found, not
//! from the findings' inputs) and counted in `tollgate_findings_raised_total`.
//!
//! When: `run` computes them once, at its end, after the last call is written: the run is then
//! whole, and what is kept and counted is exactly its report's findings. `serve` does the same
//! at its end, and, with `--metrics`, also every [`WHILE_SERVING`] over what it recorded so far,
//! counting each finding the first time it is raised, so that a long-running proxy's findings
//! show while it serves (a run that never ends would otherwise raise none). Its stored findings
//! are still the ones of its end, when its calls are all there.

use std::sync::Arc;
use std::time::Duration;

use super::proxy_setup::{LiveMetrics, Recording};
use crate::findings::{kept, Finding, Thresholds};
use crate::metrics::Raised;
use crate::store::RunStore;

/// How often `serve --metrics` computes the findings of what it recorded so far.
pub const WHILE_SERVING: Duration = Duration::from_secs(60);

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
    let mut every = tokio::time::interval(WHILE_SERVING);
    every.tick().await;
    loop {
        every.tick().await;
        match kept::of_run(store.as_ref(), run, &thresholds).await {
            Ok(found) => count(&found, Some(&metrics)),
            Err(error) => tracing::warn!("the findings so far could not be computed: {error}"),
        }
    }
}
