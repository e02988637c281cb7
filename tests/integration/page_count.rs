//! Issue 13, defect 1: a listing page larger than `--body-capture-kib` (64 KiB by default) lost
//! its item count, so the most common real page (a full 1,000-key S3 ListObjectsV2 page, about
//! 400 KB with long keys) always showed its items as unknown, with no word why. Real boto3
//! through the real `tollgate run` against a real moto server (`tests/e2e/big_pages.py`): the
//! items are counted from each page's whole body as it streams, the pages are linked by their
//! next tokens, and where a count cannot be had the report says why.
//!
//! Needs Python with boto3 and moto[server], as the other end-to-end tests (see `moto`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command};
use crate::moto::{
    dummy_aws_env, python_with_moto as python, read_json, run_bounded, tollgate_record, u64_field,
    Moto, MANIFEST_DIR,
};

/// Filling moto (2,300 objects, 1,000 items) takes ~20 s on a loaded 2-core machine.
const FILL_LIMIT: Duration = Duration::from_secs(180);
const RUN_LIMIT: Duration = Duration::from_secs(100);
const CLI_LIMIT: Duration = Duration::from_secs(30);

const OBJECTS: u64 = 2300;
const ITEMS: u64 = 1000;

fn script() -> std::path::PathBuf {
    Path::new(MANIFEST_DIR).join("tests/e2e/big_pages.py")
}

/// `big_pages.py fill` or `fill-huge`, straight to moto: the data is there before tollgate runs.
fn fill(python: &Path, scratch: &Path, moto: &Moto, mode: &str) {
    let out = scratch.join("fill.json");
    let mut command = hermetic_command(python);
    command.arg(script()).args([mode, &moto.url()]).arg(&out);
    dummy_aws_env(&mut command, scratch);
    let run = run_bounded(command, scratch, "fill", FILL_LIMIT);
    assert!(
        run.status.success(),
        "filling moto failed\n{}\n{}",
        run.describe(),
        moto.log_tail()
    );
}

/// `tollgate report --format FORMAT --last --db DB`: must succeed; returns its stdout.
fn report(scratch: &Path, db: &Path, format: &str) -> String {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args(["report", "--format", format, "--last", "--db"])
        .arg(db);
    let run = run_bounded(command, scratch, &format!("report-{format}"), CLI_LIMIT);
    assert!(run.status.success(), "{}", run.describe());
    run.stdout
}

/// `tollgate run --db DB --upstream UPSTREAM -- python big_pages.py MODE OUT.json`: the
/// workload's own account of what it read, and the report's loops.
fn record(
    python: &Path,
    scratch: &Path,
    upstream: &str,
    mode: &str,
) -> (Value, Vec<Value>, String) {
    let db = scratch.join("db/t.db");
    let out = scratch.join(format!("{mode}.json"));
    let command = tollgate_record(
        scratch,
        &db,
        upstream,
        python,
        [script().as_os_str(), mode.as_ref(), out.as_os_str()],
    );
    let run = run_bounded(command, scratch, mode, RUN_LIMIT);
    let context = run.describe();
    assert!(run.status.success(), "the workload failed\n{context}");
    let workload = read_json(&out, &context);
    assert_eq!(workload["ok"], true, "{workload:#}\n{context}");
    let text = report(scratch, &db, "json");
    let report: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("the JSON report is not JSON ({error}):\n{text}"));
    let loops = report["loops"].as_array().expect("loops is a list").clone();
    let all = format!("report: {report:#}\nworkload: {workload:#}\n{context}");
    (workload, loops, all)
}

fn field(l: &Value, name: &str) -> i64 {
    l[name]
        .as_i64()
        .unwrap_or_else(|| panic!("no number '{name}' in {l:#}"))
}

#[test]
fn a_listing_page_larger_than_the_body_capture_keeps_its_item_count() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    fill(&python, scratch, &moto, "fill");
    let (workload, loops, all) = record(&python, scratch, &moto.url(), "list");
    let all = format!("{all}\n{}", moto.log_tail());

    // The pages were far over the 64 KiB capture (the workload measured each raw body).
    let pages = workload["pages"].as_array().expect("pages is a list");
    let largest = pages.iter().map(|p| u64_field(p, "bytes")).max().unwrap();
    assert!(
        largest > 4 * 64 * 1024,
        "the largest page is {largest} bytes\n{all}"
    );
    let scan_smallest = pages
        .iter()
        .filter(|p| p["operation"] == "Scan")
        .map(|p| u64_field(p, "bytes"))
        .min()
        .unwrap();
    assert!(scan_smallest > 64 * 1024, "{all}");

    let of = |operation: &str| -> Vec<&Value> {
        let mut found: Vec<&Value> = loops
            .iter()
            .filter(|l| l["operation"] == operation)
            .collect();
        found.sort_by_key(|l| field(l, "loop_id"));
        found
    };
    let listings = of("ListObjectsV2");
    assert_eq!(listings.len(), 3, "{all}");
    // Pages as the workload read them: 1,000 + 1,000 + 300 keys.
    let expected = [
        // The paginator: three pages linked by their tokens, every key counted.
        (3, OBJECTS, false, false),
        // The same listing from its start, its pages read in order after a page was read by
        // another token: linked by its own tokens, so still three pages.
        (3, OBJECTS, true, false),
        // The page read by the first listing's last token while the re-listing waited for its
        // own: a loop picked up part-way. Were the tokens unreadable, the re-listing would have
        // taken it (any open loop of the listing) and this loop would hold the re-listing's
        // last two pages instead.
        (1, 300, false, true),
    ];
    for (l, (pages, items, relisting, resumed)) in listings.iter().zip(expected) {
        assert_eq!(field(l, "pages"), pages, "{l:#}\n{all}");
        assert_eq!(field(l, "attempts"), pages, "{l:#}\n{all}");
        assert_eq!(l["items"], items, "{l:#}\n{all}");
        assert_eq!(l["items_unknown"], Value::Null, "{l:#}\n{all}");
        assert_eq!(l["complete"], true, "{l:#}\n{all}");
        assert_eq!(l["relisting"], relisting, "{l:#}\n{all}");
        assert_eq!(l["resumed"], resumed, "{l:#}\n{all}");
        assert_eq!(l["page_size"], 1000, "{l:#}\n{all}");
    }

    // JSON: a DynamoDB Scan in pages of 400, 400 and 200 items of ~600 bytes.
    let scans = of("Scan");
    assert_eq!(scans.len(), 1, "{all}");
    let scan = scans[0];
    assert_eq!(field(scan, "pages"), 3, "{all}");
    assert_eq!(scan["items"], ITEMS, "{all}");
    assert_eq!(scan["items_unknown"], Value::Null, "{all}");
    assert_eq!(
        scan["complete"], true,
        "the last page (no LastEvaluatedKey) ends the loop\n{all}"
    );
    assert_eq!(loops.len(), 4, "no other loops\n{all}");
}

/// An upstream standing in for AWS where moto cannot: it answers an S3 request with the first
/// 100 KB of a 400 KB ListObjectsV2 page and then closes the connection (an upstream breaking
/// off), and a DynamoDB request (a `POST /`) with a real gzip-compressed Scan page.
fn breaking_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("a bound address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn answer(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if stream.read_exact(&mut body).is_err() {
        return;
    }
    if head.starts_with("post / ") {
        let page = br#"{"Items":[{"pk":{"S":"a"}}],"Count":1,"ScannedCount":1}"#;
        let gzip = gzip_stored(page);
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n\
             Content-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            gzip.len()
        );
        let _ = stream.write_all(&gzip);
    } else {
        let mut page = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>b</Name>\
             <IsTruncated>true</IsTruncated>",
        );
        let mut index = 0;
        while page.len() < 400_000 {
            page.push_str(&format!(
                "<Contents><Key>logs/{index:08}-{}</Key><Size>1</Size></Contents>",
                "k".repeat(200)
            ));
            index += 1;
        }
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
            page.len()
        );
        let _ = stream.write_all(&page.as_bytes()[..100_000]);
    }
    let _ = stream.flush();
    // Dropped: the connection closes, mid-body for the S3 page.
}

/// `data` as a gzip stream of one stored (uncompressed) deflate block.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1];
    let length = data.len() as u16;
    out.extend(length.to_le_bytes());
    out.extend((!length).to_le_bytes());
    out.extend(data);
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend((!crc).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

#[test]
fn where_a_page_cannot_be_counted_the_report_says_why() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let upstream = breaking_upstream();
    let (workload, loops, all) = record(&python, scratch, &upstream, "broken");
    assert!(
        workload["failures"]["s3"].is_string() && workload["failures"]["dynamodb"].is_string(),
        "{all}"
    );
    assert_eq!(loops.len(), 2, "{all}");
    for (l, operation, why) in [
        (&loops[0], "ListObjectsV2", "cut-short"),
        (&loops[1], "Scan", "compressed"),
    ] {
        assert_eq!(l["operation"], operation, "{all}");
        assert_eq!(l["items"], Value::Null, "{all}");
        assert_eq!(l["items_unknown"], why, "{all}");
        assert_eq!(l["complete"], false, "{all}");
    }

    let db = scratch.join("db/t.db");
    for format in ["table", "markdown", "html"] {
        let text = report(scratch, &db, format);
        let text = text.replace("&#39;", "'");
        for (mark, why) in [
            ("?1", "?1 items unknown: a page's body was cut short"),
            (
                "?2",
                "?2 items unknown: a page came compressed (Content-Encoding)",
            ),
        ] {
            assert!(
                text.contains(mark) && text.contains(why),
                "the {format} report does not say why the items are unknown ({mark}):\n{text}"
            );
        }
    }
}
