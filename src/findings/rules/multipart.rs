//! Multipart uploads of objects below S3's multipart minimum (issue 24 item 4): every part but
//! the last must be at least 5 MiB, so an object below that is one part, and its
//! CreateMultipartUpload and CompleteMultipartUpload are two requests a single PutObject does
//! without (UploadPart and PutObject are billed alike).
//!
//! The store keeps no upload id, so uploads are told apart by time, per run and bucket: a
//! stretch in which uploads are open (from a CreateMultipartUpload while none is, to the answer
//! that closes the last) holds their parts. Each upload has at most one part below 5 MiB (its
//! last), and each upload of two parts or more has a part of 5 MiB or more, so a stretch with
//! `small` and `big` parts, all of whose uploads completed, completed at least `small - big`
//! uploads of one small part: exact when uploads do not overlap (one at a time, as pyarrow
//! writes a file), a lower bound when they do. A stretch with an upload that was aborted, was
//! refused completion or never ended counts for nothing (S3 checks the part sizes only when it
//! completes an upload), and neither does what overlaps it. A part's size is its request body,
//! aws-chunked framing included: counted as below 5 MiB only when it is. A part sent twice with
//! success (the same part number uploaded again) would count twice: no client here does that.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{id, on, plural, thousands};
use crate::findings::{Evidence, Facts, Finding, ObjectWrite, Saving, Thresholds};
use crate::record::{rfc3339, Usd};

/// S3's minimum size of every part but the last (5 MiB).
pub const MULTIPART_MINIMUM: u64 = 5 * 1024 * 1024;

/// The S3 operations of a multipart upload.
pub const MULTIPART: &[&str] = &[
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
];

/// One stretch of open uploads in a bucket.
#[derive(Default)]
struct Stretch {
    creates: u64,
    completes: u64,
    aborts: u64,
    small: u64,
    big: u64,
    create_cost: Decimal,
    complete_cost: Decimal,
    small_cost: Decimal,
    first_us: i64,
    last_us: i64,
}

impl Stretch {
    /// Uploads of one part below the minimum that completed. Only S3's completing an upload
    /// proves its parts but the last are 5 MiB or more: a stretch with an upload that did not
    /// complete (aborted, refused, or still open) may hold any parts, and is not counted.
    fn small_uploads(&self) -> u64 {
        if self.aborts > 0 || self.completes != self.creates {
            return 0;
        }
        self.small.saturating_sub(self.big).min(self.completes)
    }
}

/// What the small uploads of one bucket add up to.
#[derive(Default)]
struct Small {
    uploads: u64,
    /// Their CreateMultipartUpload and CompleteMultipartUpload (the saving) and their parts.
    saved_usd: Decimal,
    cost: Decimal,
    first_us: Option<i64>,
    last_us: i64,
}

fn mean(total: Decimal, n: u64) -> Decimal {
    if n == 0 {
        Decimal::ZERO
    } else {
        total / Decimal::from(n)
    }
}

/// The multipart uploads below the minimum, by bucket.
fn small_uploads(writes: &[ObjectWrite]) -> BTreeMap<Option<String>, Small> {
    let mut open: BTreeMap<(i64, Option<String>), (u64, Stretch)> = BTreeMap::new();
    let mut done: Vec<(Option<String>, Stretch)> = Vec::new();
    for w in writes.iter().filter(|w| w.ok) {
        let key = (w.run_id, w.resource.clone());
        match w.operation.as_str() {
            "CreateMultipartUpload" => {
                let (count, stretch) = open.entry(key).or_insert_with(|| {
                    (
                        0,
                        Stretch {
                            first_us: w.at_us,
                            ..Stretch::default()
                        },
                    )
                });
                *count += 1;
                stretch.creates += 1;
                stretch.create_cost += w.cost;
            }
            "UploadPart" => {
                // A part of an upload this run did not see start is not counted.
                if let Some((_, stretch)) = open.get_mut(&key) {
                    if w.bytes_sent < MULTIPART_MINIMUM {
                        stretch.small += 1;
                        stretch.small_cost += w.cost;
                    } else {
                        stretch.big += 1;
                    }
                }
            }
            "CompleteMultipartUpload" | "AbortMultipartUpload" => {
                let Some((count, stretch)) = open.get_mut(&key) else {
                    continue;
                };
                if w.operation == "CompleteMultipartUpload" {
                    stretch.completes += 1;
                    stretch.complete_cost += w.cost;
                } else {
                    stretch.aborts += 1;
                }
                stretch.last_us = w.at_us;
                *count -= 1;
                if *count == 0 {
                    let (_, stretch) = open.remove(&key).expect("found above");
                    done.push((key.1, stretch));
                }
            }
            _ => {}
        }
    }
    // Uploads still open at the end: only those that completed count.
    done.extend(open.into_iter().map(|((_, bucket), (_, s))| (bucket, s)));
    let mut by_bucket: BTreeMap<Option<String>, Small> = BTreeMap::new();
    for (bucket, stretch) in done {
        let n = stretch.small_uploads();
        if n == 0 {
            continue;
        }
        let per_upload = mean(stretch.create_cost, stretch.creates)
            + mean(stretch.complete_cost, stretch.completes);
        let small = by_bucket.entry(bucket).or_default();
        small.uploads += n;
        small.saved_usd += per_upload * Decimal::from(n);
        small.cost += (per_upload + mean(stretch.small_cost, stretch.small)) * Decimal::from(n);
        small.first_us = Some(
            small
                .first_us
                .map_or(stretch.first_us, |f| f.min(stretch.first_us)),
        );
        small.last_us = small.last_us.max(stretch.last_us);
    }
    by_bucket
}

/// Objects below 5 MiB uploaded in parts: one PutObject each would do, with two requests fewer.
pub fn small_multipart(facts: &Facts, _thresholds: &Thresholds) -> Vec<Finding> {
    small_uploads(&facts.object_writes)
        .into_iter()
        .map(|(resource, small)| {
            let n = small.uploads;
            Finding {
                rule: "small-multipart",
                id: id("small-multipart", "s3", "CreateMultipartUpload", &resource),
                title: format!(
                    "{} below 5 MiB{}: {} requests where {} would do",
                    plural(n, "multipart upload", "multipart uploads"),
                    on(&resource),
                    thousands(3 * n),
                    plural(n, "PutObject", "PutObject")
                ),
                detail: format!(
                    "Below 5 MiB (S3's minimum part size) a multipart upload is one part plus a \
                     CreateMultipartUpload and a CompleteMultipartUpload: one PutObject uploads \
                     the same object with {} fewer requests. Usual causes: pyarrow's \
                     S3FileSystem (also pandas `to_parquet` on s3://, which uses it) writes every \
                     file as a multipart upload: write small files to a buffer and upload them \
                     with one PutObject, or hand pandas/pyarrow an s3fs filesystem; boto3's \
                     `upload_file` uses multipart from `TransferConfig(multipart_threshold=…)` on \
                     (8 MiB unless set lower): keep it at 5 MiB or more; s3fs, polars and \
                     delta-rs (object_store) send a small file as one PutObject unless their \
                     block or buffer size was set below it.",
                    thousands(2 * n)
                ),
                evidence: Evidence {
                    service: "s3".into(),
                    operation: "CreateMultipartUpload".into(),
                    resource: resource.clone(),
                    calls: 3 * n,
                    cost_usd: Usd(small.cost),
                    first_at: small.first_us.map(rfc3339),
                    last_at: Some(rfc3339(small.last_us)),
                    examples: Vec::new(),
                    callsites: Vec::new(),
                },
                saving: Some(Saving::new(2 * n, small.saved_usd)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::dec;
    use super::*;

    fn call(at_us: i64, operation: &str, bytes_sent: u64) -> ObjectWrite {
        ObjectWrite {
            run_id: 1,
            at_us,
            operation: operation.into(),
            resource: Some("lake".into()),
            ok: true,
            retry: false,
            bytes_sent,
            cost: dec("0.000005"),
        }
    }

    /// One upload: Create, its parts, Complete.
    fn upload(at_us: i64, parts: &[u64]) -> Vec<ObjectWrite> {
        let mut calls = vec![call(at_us, "CreateMultipartUpload", 0)];
        for (i, bytes) in parts.iter().enumerate() {
            calls.push(call(at_us + 1 + i as i64, "UploadPart", *bytes));
        }
        calls.push(call(at_us + 50, "CompleteMultipartUpload", 200));
        calls
    }

    fn saved(writes: Vec<ObjectWrite>) -> Option<(u64, Decimal)> {
        let facts = Facts {
            object_writes: writes,
            ..Facts::default()
        };
        let findings = small_multipart(&facts, &Thresholds::default());
        assert!(findings.len() <= 1, "{findings:#?}");
        findings.first().map(|f| {
            (
                f.saving.as_ref().unwrap().calls,
                f.saving.as_ref().unwrap().usd.0,
            )
        })
    }

    #[test]
    fn an_object_below_five_mib_uploaded_in_parts_saves_two_requests() {
        // pyarrow's 2 KB parquet file, three times, one after the other.
        let mut writes = Vec::new();
        for i in 0..3 {
            writes.extend(upload(i * 100, &[2_048]));
        }
        assert_eq!(saved(writes.clone()), Some((6, dec("0.00003"))));
        let facts = Facts {
            object_writes: writes,
            ..Facts::default()
        };
        let finding = &small_multipart(&facts, &Thresholds::default())[0];
        assert_eq!(
            finding.title,
            "3 multipart uploads below 5 MiB on lake: 9 requests where 3 PutObject would do"
        );
        for client in ["boto3", "s3fs", "pyarrow", "pandas", "polars", "delta-rs"] {
            assert!(
                finding.detail.contains(client),
                "{client}: {}",
                finding.detail
            );
        }
    }

    #[test]
    fn big_uploads_and_aborted_ones_are_not_claimed() {
        let mib = 1024 * 1024;
        // 8 MiB parts with a small last part: a real multipart upload.
        assert_eq!(saved(upload(0, &[8 * mib, 8 * mib, 1_000])), None);
        // One part of exactly 5 MiB: not below the minimum.
        assert_eq!(saved(upload(0, &[5 * mib])), None);
        // Aborted: never became an object.
        let mut aborted = upload(0, &[1_000]);
        aborted.last_mut().unwrap().operation = "AbortMultipartUpload".into();
        assert_eq!(saved(aborted.clone()), None);
        // A failed Complete is not an upload, and the upload stays open: parts of any size
        // (S3 refused two small ones), so nothing overlapping it counts either.
        let mut failed = upload(0, &[1_000, 2_000]);
        failed.last_mut().unwrap().ok = false;
        assert_eq!(saved(failed.clone()), None);
        failed.extend(upload(100, &[8 * mib, 1_000]));
        assert_eq!(saved(failed), None);
        // After an aborted upload has ended, the next one counts.
        aborted.extend(upload(100, &[1_000]));
        assert_eq!(saved(aborted).map(|s| s.0), Some(2));
        // A big upload and a small one: both found, only the small one claimed.
        let mut both = upload(0, &[8 * mib, 2 * mib]);
        both.extend(upload(100, &[1_000]));
        assert_eq!(saved(both).map(|s| s.0), Some(2));
    }

    /// Overlapping uploads (parallel writers): a lower bound, never more than the small parts
    /// beyond the big ones.
    #[test]
    fn overlapping_uploads_give_a_lower_bound() {
        let mib = 1024 * 1024;
        let mut writes = vec![
            call(0, "CreateMultipartUpload", 0),
            call(1, "CreateMultipartUpload", 0),
            call(2, "CreateMultipartUpload", 0),
            call(3, "UploadPart", 1_000),
            call(4, "UploadPart", 6 * mib),
            call(5, "UploadPart", 1_000),
            call(6, "UploadPart", 2_000),
            call(7, "CompleteMultipartUpload", 0),
            call(8, "CompleteMultipartUpload", 0),
            call(9, "CompleteMultipartUpload", 0),
        ];
        // Truth: two small uploads (1,000 and 2,000 bytes) and one of 6 MiB + 1,000. Seen:
        // 3 small parts, 1 big: at least 2.
        assert_eq!(saved(writes.clone()).map(|s| s.0), Some(4));
        // In another bucket, nothing of this one's.
        for w in &mut writes[..3] {
            w.resource = Some("other".into());
        }
        assert_eq!(saved(writes), None);
    }
}
