//! Paging: loops that ask for pages far below the maximum.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{id, on, plural, thousands};
use crate::aws::model::Model;
use crate::findings::{Evidence, Facts, Finding, Saving, Thresholds};
use crate::record::{rfc3339, LoopRow, Usd};

/// The paginator's limit key, for advice in the API's own words (`MaxKeys`).
fn limit_key(service: &str, operation: &str) -> String {
    let model = Model::in_use();
    model
        .service_named(service)
        .and_then(|index| model.service(index).paginators.get(operation))
        .and_then(|p| p.limit_key)
        .unwrap_or("page size")
        .to_string()
}

/// The small-page loops of one operation, resource and page size.
struct SmallPages {
    loops: u64,
    pages: u64,
    /// Pages needed at the maximum page size, each loop on its own.
    needed: u64,
    /// The requests' own charge: the only part bigger pages save.
    requests: Decimal,
    /// Everything the loops cost (requests, transfer, implied), as the loops table shows it.
    total: Decimal,
    first_at_us: i64,
    /// Every loop's items were counted.
    known: bool,
}

/// A group of small-page loops: operation, resource, page size and maximum.
type Key = (String, String, Option<String>, i64, i64);

/// The group a loop belongs to, if it pages small.
fn small_page_key(l: &LoopRow, thresholds: &Thresholds) -> Option<Key> {
    let (Some(size), Some(max)) = (l.page_size, l.page_size_max) else {
        return None;
    };
    if size <= 0 || (size as f64) > (max as f64) * thresholds.small_page_ratio {
        return None;
    }
    Some((
        l.service.clone(),
        l.operation.clone(),
        l.resource.clone(),
        size,
        max,
    ))
}

/// What the small-pages findings leave of each loop: a later rule about the same loops (a
/// re-listing) claims only these pages, so that the two add up.
pub(super) struct PagesLeft<'a> {
    /// The groups a reported (not silenced) small-pages finding claims from.
    claimed: BTreeMap<Key, SmallPages>,
    thresholds: &'a Thresholds,
}

impl<'a> PagesLeft<'a> {
    pub(super) fn new(facts: &Facts, thresholds: &'a Thresholds) -> Self {
        let mut claimed = small_page_groups(facts, thresholds);
        claimed.retain(|(service, operation, resource, _, _), group| {
            group.known
                && group.pages > group.needed
                && !thresholds.ignores(
                    "small-pages",
                    &id("small-pages", service, operation, resource),
                )
        });
        Self {
            claimed,
            thresholds,
        }
    }

    /// The pages of `l` no small-pages finding claims: at full pages the listing takes
    /// `needed`; a loop outside every reported small-pages finding keeps all of its pages.
    pub(super) fn of(&self, l: &LoopRow) -> u64 {
        let pages = l.pages.max(0) as u64;
        match small_page_key(l, self.thresholds) {
            Some(key) if self.claimed.contains_key(&key) => l.items.map_or(pages, |items| {
                (items.max(0) as u64).div_ceil(key.4 as u64).max(1)
            }),
            _ => pages,
        }
    }
}

fn small_page_groups(facts: &Facts, thresholds: &Thresholds) -> BTreeMap<Key, SmallPages> {
    let mut groups: BTreeMap<Key, SmallPages> = BTreeMap::new();
    for l in &facts.loops {
        let Some(key) = small_page_key(l, thresholds) else {
            continue;
        };
        let max = key.4;
        let group = groups.entry(key).or_insert(SmallPages {
            loops: 0,
            pages: 0,
            needed: 0,
            requests: Decimal::ZERO,
            total: Decimal::ZERO,
            first_at_us: l.started_at_us,
            known: true,
        });
        group.loops += 1;
        group.pages += l.pages as u64;
        group.requests += l.cost;
        group.total += l.total();
        match l.items {
            Some(items) => group.needed += (items as u64).div_ceil(max as u64).max(1),
            None => group.known = false,
        }
    }
    groups
}

/// Loops that ask for pages far below the maximum.
pub fn small_pages(facts: &Facts, thresholds: &Thresholds) -> Vec<Finding> {
    small_page_groups(facts, thresholds)
        .into_iter()
        .filter(|(_, group)| group.known && group.pages > group.needed)
        .map(|((service, operation, resource, size, max), group)| {
            let key = limit_key(&service, &operation);
            let saved = group.pages - group.needed;
            // The listing's bytes cost the same at any page size: only requests are saved.
            let per_page = group.requests / Decimal::from(group.pages.max(1));
            Finding {
                rule: "small-pages",
                id: id("small-pages", &service, &operation, &resource),
                title: format!(
                    "{operation}{}: {key}={size} over {}, {}; {key}={max} would need {}",
                    on(&resource),
                    plural(group.loops, "loop", "loops"),
                    plural(group.pages, "request", "requests"),
                    thousands(group.needed)
                ),
                detail: format!(
                    "Each page is a billed request. Ask for {max} per page (the maximum) and the \
                     same listings take {} fewer requests.",
                    thousands(saved)
                ),
                evidence: Evidence {
                    service: service.clone(),
                    operation: operation.clone(),
                    resource: resource.clone(),
                    calls: group.pages,
                    cost_usd: Usd(group.total),
                    first_at: Some(rfc3339(group.first_at_us)),
                    ..Evidence::default()
                },
                saving: Some(Saving::new(saved, per_page * Decimal::from(saved))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::dec;
    use super::*;

    fn page_loop(id: i64, size: i64, pages: i64, items: i64) -> LoopRow {
        LoopRow {
            run_id: 1,
            loop_id: id,
            service: "s3".into(),
            operation: "ListObjectsV2".into(),
            resource: Some("logs".into()),
            started_at_us: 0,
            ended_at_us: 1,
            pages,
            attempts: pages,
            items: Some(items),
            items_unknown: None,
            page_size: Some(size),
            page_size_max: Some(1000),
            complete: true,
            resumed: false,
            relisting: false,
            cost: dec("0.000005") * Decimal::from(pages),
            // The answers' bytes: the same at any page size, so never part of the saving.
            transfer: dec("0.000001") * Decimal::from(pages),
            implied: Decimal::ZERO,
            callsite: None,
        }
    }

    #[test]
    fn small_pages_counts_the_requests_a_full_page_would_save() {
        // The example: MaxKeys=100 over 12 loops of 10,500 keys = 1,260 requests; at
        // 1,000 a page each loop needs 11, 132 in all.
        let facts = Facts {
            loops: (0..12).map(|i| page_loop(i, 100, 105, 10_500)).collect(),
            ..Facts::default()
        };
        let findings = small_pages(&facts, &Thresholds::default());
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(
            finding.title,
            "ListObjectsV2 on logs: MaxKeys=100 over 12 loops, 1,260 requests; MaxKeys=1000 would need 132"
        );
        let saving = finding.saving.as_ref().unwrap();
        assert_eq!(saving.calls, 1_128);
        // Issue 13 (#10): the requests a full page saves, never the answers' transfer.
        assert_eq!(saving.usd, Usd(dec("0.00564")));
        // What the listings cost, as the loops table shows it: requests and transfer.
        assert_eq!(finding.evidence.cost_usd, Usd(dec("0.00756")));
        // Full pages are not a finding.
        let full = Facts {
            loops: vec![page_loop(1, 1000, 11, 10_500)],
            ..Facts::default()
        };
        assert!(small_pages(&full, &Thresholds::default()).is_empty());
    }
}
