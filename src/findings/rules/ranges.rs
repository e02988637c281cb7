//! Bytes of one object downloaded more than once by overlapping GETs (issue 24 item 4): polars
//! reads a parquet file's last 256 KiB for its footer (all of a small file) and then its column
//! chunks again; ranged reads whose ranges overlap.
//!
//! The profiler keeps, per object and for the run, the byte spans GETs received (from the
//! answer's `Content-Range`, or the whole object for a 200) while the object's ETag stays the
//! same, and marks on each GET how many of its bytes were already among them
//! (`calls.refetched_bytes`). Ranged reads of different parts of one object (s3transfer's
//! parts, a parquet reader's column chunks) overlap nothing and count for nothing. A request
//! identical to an earlier one (the same range again) is a repeat, the repeated-calls finding's,
//! and counts for nothing here either: the two never count the same GET.
//!
//! The saving is in bytes and in their share of the GETs' data transfer; in calls only for GETs
//! all of whose bytes had been received before (without them the program reads no less), which
//! are then claimed from the bucket's GetObject first attempts (`findings::claims`).

use super::{evidence_of, id, on, plural, thousands};
use crate::findings::{Facts, Finding, Saving, Thresholds};

/// `512 B`, `1.3 MB` (powers of 1,000).
pub fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Per bucket: the bytes GETs received again by overlapping requests.
pub fn overlapping_ranges(facts: &Facts, _thresholds: &Thresholds) -> Vec<Finding> {
    facts
        .per_item
        .iter()
        .filter(|g| {
            (g.service.as_str(), g.operation.as_str()) == super::S3_GET && g.refetched_bytes > 0
        })
        .map(|group| {
            let calls = group.refetched_calls;
            let usd = group.refetched_cost + group.refetched_calls_cost;
            let whole = match calls {
                0 => String::new(),
                n => format!(
                    " {} received nothing that had not been received before: {} fewer.",
                    plural(n, "GET", "GETs"),
                    thousands(n)
                ),
            };
            Finding {
                rule: "overlapping-ranges",
                id: id("overlapping-ranges", "s3", "GetObject", &group.resource),
                title: format!(
                    "{} of objects{} downloaded again by overlapping GetObject ranges",
                    bytes_text(group.refetched_bytes),
                    on(&group.resource),
                ),
                detail: format!(
                    "GETs received byte ranges of objects that earlier GETs in the run had \
                     already received, unchanged (same ETag), by other requests: {} received \
                     again.{whole} Keep what was read, or read the object once. Usual \
                     causes: polars reads a parquet file's last 256 KiB for its footer (the whole \
                     of a smaller file) and then fetches its column chunks again: for small \
                     files, read the bytes once (`fs.cat_file(path)` or `get_object`) and hand \
                     them to polars; boto3 `get_object` with `Range` values that overlap: fetch \
                     each byte once.",
                    match group.refetched_bytes {
                        n if n < 1000 => bytes_text(n),
                        n => format!("{} ({} bytes)", bytes_text(n), thousands(n)),
                    },
                ),
                evidence: evidence_of(group),
                saving: Some(Saving {
                    bytes: Some(group.refetched_bytes),
                    ..Saving::new(calls, usd)
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::head_then_get::tests::group;
    use super::super::tests::dec;
    use super::*;

    #[test]
    fn bytes_received_again_are_the_saving_and_whole_repeats_the_calls() {
        // A 256 KiB suffix of a bigger file, then the whole file: the suffix's bytes twice, and
        // the second GET brought new bytes too.
        let mut gets = group("GetObject", 2, "0.0000004");
        gets.refetched_bytes = 262_144;
        gets.refetched_cost = dec("0.00002");
        let facts = Facts {
            per_item: vec![gets.clone()],
            ..Facts::default()
        };
        let findings = overlapping_ranges(&facts, &Thresholds::default());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(
            finding.title,
            "262.1 KB of objects on lake downloaded again by overlapping GetObject ranges"
        );
        let saving = finding.saving.as_ref().unwrap();
        assert_eq!(
            (saving.calls, saving.usd.0, saving.bytes),
            (0, dec("0.00002"), Some(262_144))
        );
        for cause in ["polars", "boto3", "Range", "cat_file"] {
            assert!(
                finding.detail.contains(cause),
                "{cause}: {}",
                finding.detail
            );
        }
        // polars on a small file: the suffix is the whole file, then its column chunks again:
        // that GET is all old bytes, and its call too.
        gets.refetched_calls = 1;
        gets.refetched_calls_cost = dec("0.0000004");
        let facts = Facts {
            per_item: vec![gets.clone()],
            ..Facts::default()
        };
        let finding = &overlapping_ranges(&facts, &Thresholds::default())[0];
        let saving = finding.saving.as_ref().unwrap();
        assert_eq!((saving.calls, saving.usd.0), (1, dec("0.0000204")));
        assert!(
            finding.detail.contains("1 GET received nothing"),
            "{}",
            finding.detail
        );
        // Disjoint ranges (s3transfer's parts): nothing.
        gets.refetched_bytes = 0;
        gets.refetched_cost = dec("0");
        gets.refetched_calls = 0;
        let facts = Facts {
            per_item: vec![gets],
            ..Facts::default()
        };
        assert!(overlapping_ranges(&facts, &Thresholds::default()).is_empty());
        assert_eq!(bytes_text(999), "999 B");
    }
}
