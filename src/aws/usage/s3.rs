//! S3: the storage class a request is billed in, the bytes Express One Zone bills above 512 KB,
//! which requests are CloudTrail data events, and the KMS calls SSE-KMS makes on the client's
//! behalf.

use rust_decimal::Decimal;

use super::{header, Dimension, ImpliedCall, Unit, Usage, UsageInput, GIB, KIB};

/// Storage class names as `x-amz-storage-class` writes them.
const S3_STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
    "OUTPOSTS",
    "SNOW",
];

/// S3 writes that create an object (the storage class is the request's).
const S3_OBJECT_WRITES: &[&str] = &["PutObject", "CopyObject", "CreateMultipartUpload"];

/// Object-level operations CloudTrail records as data events.
/// Source: https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html
const S3_OBJECT_OPERATIONS: &[&str] = &[
    "GetObject",
    "PutObject",
    "HeadObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectAttributes",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "RestoreObject",
    "SelectObjectContent",
    "GetObjectRetention",
    "PutObjectRetention",
    "GetObjectLegalHold",
    "PutObjectLegalHold",
];

pub(super) fn s3(input: &UsageInput<'_>, ok: bool, usage: &mut Usage) {
    let op = input.operation;
    // Directory buckets (S3 Express One Zone) live on `s3express` hosts and end in `--x-s3`.
    let express = input.host.contains(".s3express")
        || input.host.starts_with("s3express")
        || input
            .host
            .split('.')
            .next()
            .unwrap_or("")
            .ends_with("--x-s3");
    let class = if express {
        "EXPRESS_ONEZONE".to_string()
    } else {
        let requested = S3_OBJECT_WRITES
            .contains(&op)
            .then(|| header(Some(input.request_headers), "x-amz-storage-class"))
            .flatten();
        // Reads: S3 names the class in the response for anything but STANDARD.
        let answered = header(input.response_headers, "x-amz-storage-class");
        requested
            .or(answered)
            .map(str::to_ascii_uppercase)
            .filter(|class| S3_STORAGE_CLASSES.contains(&class.as_str()))
            .unwrap_or_else(|| "STANDARD".into())
    };
    if express {
        // Express One Zone bills the bytes of each request above 512 KB.
        // Source: https://aws.amazon.com/s3/pricing/ (S3 Express One Zone, "data upload" and
        // "data retrieval" per GB for the portion of a request over 512 KB).
        let above = |bytes: u64| bytes.saturating_sub(512 * KIB);
        if matches!(op, "PutObject" | "UploadPart") {
            let over = above(input.request_body.length);
            if over > 0 {
                usage.set(
                    Unit::GbUploadAbove512Kb,
                    Decimal::from(over) / Decimal::from(GIB),
                );
            }
        }
        if op == "GetObject" {
            let over = above(input.response_body.length);
            if over > 0 {
                usage.set(
                    Unit::GbRetrievalAbove512Kb,
                    Decimal::from(over) / Decimal::from(GIB),
                );
            }
        }
    }
    usage.dim(Dimension::StorageClass, class);
    usage.data_event = S3_OBJECT_OPERATIONS.contains(&op);

    // SSE-KMS without an S3 Bucket Key: S3 calls KMS for each object write (GenerateDataKey) and
    // read (Decrypt), billed to the account at the KMS request rate.
    // Source: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
    let sse = header(input.response_headers, "x-amz-server-side-encryption").unwrap_or("");
    let bucket_key = header(
        input.response_headers,
        "x-amz-server-side-encryption-bucket-key-enabled",
    )
    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if ok && sse.starts_with("aws:kms") && !bucket_key {
        let implied = match op {
            "PutObject" | "CopyObject" | "CreateMultipartUpload" => Some("GenerateDataKey"),
            "GetObject" => Some("Decrypt"),
            _ => None,
        };
        if let Some(operation) = implied {
            usage.implied.push(ImpliedCall {
                service: "kms",
                operation,
                why: "SSE-KMS without an S3 Bucket Key",
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{input, usage};
    use super::*;
    use http::HeaderMap;

    #[test]
    fn s3_storage_class_express_and_sse_kms() {
        let mut request = HeaderMap::new();
        request.insert("x-amz-storage-class", "STANDARD_IA".parse().unwrap());
        let mut response = HeaderMap::new();
        response.insert("x-amz-server-side-encryption", "aws:kms".parse().unwrap());
        let put = usage(&input("s3", "PutObject", &request, b"data", &response, b""));
        assert_eq!(put.dimension(Dimension::StorageClass), Some("STANDARD_IA"));
        assert_eq!(put.implied.len(), 1);
        assert_eq!(put.implied[0].operation, "GenerateDataKey");
        assert!(put.data_event);

        response.insert(
            "x-amz-server-side-encryption-bucket-key-enabled",
            "true".parse().unwrap(),
        );
        let with_bucket_key = usage(&input("s3", "GetObject", &request, b"", &response, b""));
        assert!(with_bucket_key.implied.is_empty());
        // On reads the class comes from the response; the request header is not the object's.
        assert_eq!(
            with_bucket_key.dimension(Dimension::StorageClass),
            Some("STANDARD")
        );

        let empty = HeaderMap::new();
        let body = vec![0u8; 1024 * 1024];
        let mut express = input("s3", "PutObject", &empty, &body, &empty, b"");
        express.host = "bucket--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com";
        let u = usage(&express);
        assert_eq!(
            u.dimension(Dimension::StorageClass),
            Some("EXPRESS_ONEZONE")
        );
        assert_eq!(
            u.quantity(Unit::GbUploadAbove512Kb),
            Some(Decimal::from(512 * 1024u64) / Decimal::from(GIB))
        );
    }
}
