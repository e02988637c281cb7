//! A HEAD followed by a GET of the same object (issue 24 item 4): the GET's answer carries what
//! the HEAD asked (the size in `Content-Length` or `Content-Range`, the `ETag`, `Last-Modified`),
//! so the HEAD is one request too many.
//!
//! The profiler pairs them while the run is live (`calls.after_head`): a GetObject answers the
//! HEAD of its bucket and key that no GET has answered yet, one HEAD per GET, whichever client
//! made either. Only answered first attempts of HeadObject wait for a GET, each the first of its
//! parameters in the run (the same HEAD again is a repeat, repeated-calls'), and never a HEAD of
//! a key an earlier listing returned: that one is head-per-key's, whose advice removes it whether
//! or not a GET follows (`findings::claims`). The saving is those HEADs, at what the bucket's
//! HEADs cost.

use rust_decimal::Decimal;

use super::{id, plural};
use crate::findings::{Evidence, Facts, Finding, Saving, Thresholds};
use crate::record::{rfc3339, Usd};

/// The per-object reads whose totals the rule reads.
pub const S3_GET: (&str, &str) = ("s3", "GetObject");

/// HEADs of S3 objects that a GET of the same key answered later in the run.
pub fn head_then_get(facts: &Facts, _thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .per_item
        .iter()
        .filter(|g| (g.service.as_str(), g.operation.as_str()) == S3_GET && g.after_head > 0)
        .filter_map(|gets| {
            let heads = facts.per_item.iter().find(|h| {
                h.service == "s3" && h.operation == "HeadObject" && h.resource == gets.resource
            })?;
            let n = gets.after_head.min(heads.count);
            if n == 0 {
                return None;
            }
            let usd = heads.cost * Decimal::from(n) / Decimal::from(heads.count);
            Some(Finding {
                rule: "head-then-get",
                id: id("head-then-get", "s3", "HeadObject", &gets.resource),
                title: format!(
                    "{} on {} followed by a GetObject of the same key",
                    plural(n, "HeadObject", "HeadObject"),
                    gets.resource.as_deref().unwrap_or("(bucket not known)"),
                ),
                detail: format!(
                    "A GetObject answers what a HeadObject asks: its size (Content-Length, or the \
                     total in Content-Range), ETag and Last-Modified come with the object: \
                     {}. Usual causes: s3fs (and pandas `read_csv`/`read_json` on \
                     s3://, which open files through it) calls `info()`, a HEAD, before reading \
                     a file it has not listed: pass the size you know (`fs.open(path, size=…)`), \
                     read a whole small file with `fs.cat_file(path)` (one GET), or list the \
                     prefix first (`fs.ls`/`fs.find` fill s3fs's cache); boto3 `head_object` \
                     then `get_object`: read `ContentLength`, `ETag` and `LastModified` from the \
                     `get_object` answer, and pass `IfMatch`/`IfModifiedSince` where the HEAD \
                     checked that the object had not changed.",
                    plural(n, "fewer call", "fewer calls"),
                ),
                evidence: Evidence {
                    service: "s3".into(),
                    operation: "HeadObject".into(),
                    resource: gets.resource.clone(),
                    calls: n,
                    cost_usd: Usd(usd),
                    first_at: Some(rfc3339(heads.first_us)),
                    last_at: Some(rfc3339(gets.last_us.max(heads.last_us))),
                    examples: Vec::new(),
                    callsites: Vec::new(),
                },
                saving: Some(Saving::new(n, usd)),
            })
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::dec;
    use super::*;
    use crate::record::ResourceGroup;

    pub(in crate::findings) fn group(operation: &str, count: u64, each: &str) -> ResourceGroup {
        ResourceGroup {
            service: "s3".into(),
            operation: operation.into(),
            resource: Some("lake".into()),
            count,
            cost: dec(each) * Decimal::from(count),
            first_us: 0,
            last_us: 1,
            listed_before: 0,
            listed_before_cost: Decimal::ZERO,
            empty_receives: 0,
            empty_receives_cost: Decimal::ZERO,
            after_head: 0,
            refetched_bytes: 0,
            refetched_cost: Decimal::ZERO,
            refetched_calls: 0,
            refetched_calls_cost: Decimal::ZERO,
        }
    }

    #[test]
    fn heads_a_get_answered_are_the_saving() {
        // 5 HEADs on the bucket; 3 GETs came after a HEAD of their key.
        let mut gets = group("GetObject", 4, "0.0000004");
        gets.after_head = 3;
        let facts = Facts {
            per_item: vec![group("HeadObject", 5, "0.0000004"), gets.clone()],
            ..Facts::default()
        };
        let findings = head_then_get(&facts, &Thresholds::default());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(finding.id, "head-then-get:s3:HeadObject:lake");
        assert_eq!(
            finding.title,
            "3 HeadObject on lake followed by a GetObject of the same key"
        );
        let saving = finding.saving.as_ref().unwrap();
        assert_eq!((saving.calls, saving.usd.0), (3, dec("0.0000012")));
        for cause in ["s3fs", "pandas", "boto3", "size=", "cat_file", "IfMatch"] {
            assert!(
                finding.detail.contains(cause),
                "{cause}: {}",
                finding.detail
            );
        }
        // No GET after a HEAD, or no HEAD on the bucket: nothing.
        gets.after_head = 0;
        let facts = Facts {
            per_item: vec![group("HeadObject", 5, "0.0000004"), gets],
            ..Facts::default()
        };
        assert!(head_then_get(&facts, &Thresholds::default()).is_empty());
    }
}
