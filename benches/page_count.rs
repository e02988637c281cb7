//! The page counter's cost (issue 13): what streaming a listing page's whole body through the
//! push parser adds, per MB of body and per page.
//!
//! `cargo bench --bench page_count`. For each syntax, a large page fed in 16 KiB chunks (as the
//! proxy passes them on) and a small page fed whole; each figure is the median of 15 rounds. For
//! comparison, what the capture's own parse into a document (the first 64 KiB, which every page
//! gets anyway) costs.
//!
//! `-- --once [SERVICE]` feeds each large page twice and each small one 1,001 times, untimed, for
//! an instruction count: `valgrind --tool=callgrind --toggle-collect='*page_count::count*'`.

use std::hint::black_box;
use std::time::Instant;

use tollgate::aws::document::{self, Syntax};
use tollgate::aws::model::{Model, Paginator};
use tollgate::aws::page_count::PageCounter;

const CHUNK: usize = 16 * 1024;
const ROUNDS: usize = 15;

fn paginator(service: &str, operation: &str) -> (&'static Paginator, Vec<&'static str>) {
    let model = Model::embedded();
    let service = model.service(model.service_named(service).expect("in the model"));
    (
        service.paginators.get(operation).expect("paginated"),
        service.protocols.clone(),
    )
}

/// An S3 ListObjectsV2 page of `keys` keys as S3 writes it (about 400 bytes a key).
fn s3_page(keys: usize) -> Vec<u8> {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bucket</Name><Prefix>logs/</Prefix>\
         <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\
         <KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>",
    );
    for index in 0..keys {
        body.push_str(&format!(
            "<Contents><Key>logs/year=2026/month=11/day=26/service-{index:06}-{}.json.gz</Key>\
             <LastModified>2026-11-26T10:00:00.000Z</LastModified>\
             <ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>{index}</Size>\
             <StorageClass>STANDARD</StorageClass></Contents>",
            "x".repeat(100)
        ));
    }
    body.push_str("</ListBucketResult>");
    body.into_bytes()
}

/// A DynamoDB Scan page of `items` items of about 600 bytes.
fn scan_page(items: usize) -> Vec<u8> {
    let items: Vec<String> = (0..items)
        .map(|index| {
            format!(
                r#"{{"pk":{{"S":"item-{index:06}"}},"payload":{{"S":"{}"}},"tags":{{"L":[{{"S":"a"}},{{"N":"{index}"}},{{"M":{{"k":{{"BOOL":true}}}}}}]}}}}"#,
                "p".repeat(500)
            )
        })
        .collect();
    format!(
        r#"{{"Items":[{}],"Count":{},"ScannedCount":{},"LastEvaluatedKey":{{"pk":{{"S":"item-000999"}}}}}}"#,
        items.join(","),
        items.len(),
        items.len()
    )
    .into_bytes()
}

/// A CloudWatch GetMetricData page (smithy-rpc-v2-cbor) of `results` results of 100 values.
fn metric_page(results: usize) -> Vec<u8> {
    use ciborium::Value as C;
    let text = |s: &str| C::Text(s.into());
    let page = C::Map(vec![
        (
            text("MetricDataResults"),
            C::Array(
                (0..results)
                    .map(|i| {
                        C::Map(vec![
                            (text("Id"), text(&format!("m{i}"))),
                            (text("Label"), text("CPUUtilization")),
                            (
                                text("Timestamps"),
                                C::Array((0..100).map(|t| C::Float(1.7e9 + t as f64)).collect()),
                            ),
                            (
                                text("Values"),
                                C::Array((0..100).map(|v| C::Float(v as f64 * 0.5)).collect()),
                            ),
                            (text("StatusCode"), text("Complete")),
                        ])
                    })
                    .collect(),
            ),
        ),
        (text("NextToken"), text("next-token")),
        (text("Messages"), C::Array(vec![])),
    ]);
    let mut body = Vec::new();
    ciborium::ser::into_writer(&page, &mut body).expect("CBOR");
    body
}

/// Service, operation, syntax, a large page, a small page, the large page's items.
type Case = (&'static str, &'static str, Syntax, Vec<u8>, Vec<u8>, u64);

/// Median seconds of `rounds` runs of `f`.
fn median(rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One page through a counter (kept out of line so that `valgrind --tool=callgrind
/// --toggle-collect='*page_count::count*'` counts its instructions alone).
#[inline(never)]
fn count(
    paginator: &'static Paginator,
    protocols: &[&str],
    operation: &str,
    body: &[u8],
    chunk: usize,
) -> Option<u64> {
    let mut counter = PageCounter::new(paginator, protocols, operation, None);
    for piece in body.chunks(chunk) {
        counter.feed(black_box(piece));
    }
    counter.answer(true).items
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let once = args.iter().any(|arg| arg == "--once");
    // `--once SERVICE`: that case alone.
    let only = args
        .iter()
        .position(|arg| arg == "--once")
        .and_then(|at| args.get(at + 1));
    println!(
        "page counter: the whole body streamed through the push parser, in {} KiB chunks",
        CHUNK / 1024
    );
    let cases: [Case; 3] = [
        (
            "s3",
            "ListObjectsV2",
            Syntax::Xml,
            s3_page(1000),
            s3_page(3),
            1000,
        ),
        (
            "dynamodb",
            "Scan",
            Syntax::Json,
            scan_page(1000),
            scan_page(3),
            1000,
        ),
        (
            "cloudwatch",
            "GetMetricData",
            Syntax::Cbor,
            metric_page(200),
            metric_page(2),
            200,
        ),
    ];
    for (service, operation, syntax, large, small, items) in &cases {
        if only.is_some_and(|only| only != service) {
            continue;
        }
        let (paginator, protocols) = paginator(service, operation);
        assert_eq!(
            count(paginator, &protocols, operation, large, CHUNK),
            Some(*items),
            "{service} {operation}"
        );
        if once {
            // For an instruction count: each large page once more, and the small page 1,000
            // times (a page's fixed cost); nothing timed.
            black_box(count(
                paginator,
                &protocols,
                operation,
                black_box(large),
                CHUNK,
            ));
            for _ in 0..1000 {
                black_box(count(
                    paginator,
                    &protocols,
                    operation,
                    black_box(small),
                    small.len(),
                ));
            }
            println!(
                "  {service} {operation}: {} bytes twice, {} bytes 1,000 times",
                large.len(),
                small.len()
            );
            continue;
        }
        // Enough pages per round for a stable time.
        let pages = (8 << 20) / large.len() + 1;
        let seconds = median(ROUNDS, || {
            for _ in 0..pages {
                black_box(count(
                    paginator,
                    &protocols,
                    operation,
                    black_box(large),
                    CHUNK,
                ));
            }
        }) / pages as f64;
        let per_mb_us = seconds * 1e6 / (large.len() as f64 / 1e6);
        let small_runs = 100_000;
        let small_seconds = median(ROUNDS, || {
            for _ in 0..small_runs {
                black_box(count(
                    paginator,
                    &protocols,
                    operation,
                    black_box(small),
                    small.len(),
                ));
            }
        }) / small_runs as f64;
        // What the capture's parse into a document costs for the same page's first 64 KiB.
        let head = &large[..large.len().min(64 * 1024)];
        let document_runs = 200;
        let document_seconds = median(ROUNDS, || {
            for _ in 0..document_runs {
                black_box(document::parse(*syntax, black_box(head)));
            }
        }) / document_runs as f64;
        println!(
            "  {service} {operation} ({syntax:?}): {:.0} KB page of {items} items {:.0} µs \
             = {per_mb_us:.0} µs per MB ({:.2} ns/byte, {:.0} MB/s); a {} B page {:.2} µs \
             (counter made, fed, answered); for comparison, the 64 KiB head's document parse \
             {:.0} µs = {:.0} µs per MB",
            large.len() as f64 / 1e3,
            seconds * 1e6,
            seconds * 1e9 / large.len() as f64,
            large.len() as f64 / 1e6 / seconds,
            small.len(),
            small_seconds * 1e6,
            document_seconds * 1e6,
            document_seconds * 1e6 / (head.len() as f64 / 1e6),
        );
    }
}
