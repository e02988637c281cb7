//! A run's findings kept in the history: computed once when the run ended, with the thresholds
//! its report uses, so that the history (the history dashboard, issue 17) shows what was found
//! over time without running the rules again, and a `push` carries them with the run.

use super::{find, Facts, Finding, Thresholds};
use crate::store::{RunStore, StoreError, StoredFinding};

/// The findings of the run `run` alone, as its report finds them.
pub async fn of_run(
    store: &dyn RunStore,
    run: i64,
    thresholds: &Thresholds,
) -> Result<Vec<Finding>, StoreError> {
    let facts = Facts::gather(store, &[run], thresholds).await?;
    Ok(find(&facts, thresholds))
}

/// Computes the run's findings and keeps them (replacing any kept before); returns them.
pub async fn keep(
    store: &dyn RunStore,
    run: i64,
    thresholds: &Thresholds,
) -> Result<Vec<Finding>, StoreError> {
    let found = of_run(store, run, thresholds).await?;
    store.save_findings(run, &stored(&found)).await?;
    Ok(found)
}

/// What the history keeps of `findings`, in their order.
pub fn stored(findings: &[Finding]) -> Vec<StoredFinding> {
    findings
        .iter()
        .enumerate()
        .map(|(ordinal, f)| StoredFinding {
            run_id: 0,
            ordinal: ordinal as u64,
            id: f.id.clone(),
            rule: f.rule.to_string(),
            service: f.evidence.service.clone(),
            operation: f.evidence.operation.clone(),
            resource: f.evidence.resource.clone(),
            calls: f.evidence.calls,
            cost: f.evidence.cost_usd.0,
            saving: f.saving.as_ref().map(|s| (s.calls, s.usd.0)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Call, RunMeta};
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_runs_kept_findings_are_its_reports_findings_in_order() {
        let store = MemoryStore::new();
        let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
        // The same GetObject 12 times, the same HeadObject 6 times: two cache candidates.
        let calls: Vec<Call> = (0..18)
            .map(|i| Call {
                resource: Some("bucket/key".into()),
                fingerprint: Some(if i < 12 { "a" } else { "b" }.into()),
                ..Call::sample("s3", if i < 12 { "GetObject" } else { "HeadObject" })
                    .at_us(1_000_000 + i * 1_000)
            })
            .collect();
        crate::store::write_whole_run(&store, run, &calls).await;

        let thresholds = Thresholds::default();
        let found = keep(&store, run, &thresholds).await.unwrap();
        assert!(!found.is_empty());
        let kept = store.findings(&[run]).await.unwrap();
        assert_eq!(kept.len(), found.len());
        for (ordinal, (kept, finding)) in kept.iter().zip(&found).enumerate() {
            assert_eq!(kept.run_id, run);
            assert_eq!(kept.ordinal, ordinal as u64);
            assert_eq!(kept.id, finding.id);
            assert_eq!(kept.rule, finding.rule);
            assert_eq!(kept.calls, finding.evidence.calls);
            assert_eq!(
                kept.saving,
                finding.saving.as_ref().map(|s| (s.calls, s.usd.0))
            );
        }
        // Kept again: replaced, not added.
        keep(&store, run, &thresholds).await.unwrap();
        assert_eq!(store.findings(&[run]).await.unwrap(), kept);
    }
}
