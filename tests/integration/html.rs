//! The HTML report in a real browser: a real boto3 workload recorded by the real `tollgate run`
//! against a real moto server, its report rendered as HTML, and the file opened in headless
//! Chromium (Debian's `chromium`, `/usr/bin/chromium`; `scripts/install-test-deps.sh` installs
//! it). The page must load without a single console message (it has no script, so anything there
//! is the browser complaining: a blocked resource, a CSP violation, a parse error), show the
//! run's total cost as `tollgate report --format json` states it, and draw its charts; a
//! screenshot of it must come out.
//!
//! With `TOLLGATE_UPDATE_SCREENSHOT=1` the screenshot is written to `docs/report.png`.
//! Without Chromium the test fails, unless `TOLLGATE_SKIP_BROWSER_TESTS=1` says to skip it.
//!
//! Needs Python with boto3 and moto[server], as the other end-to-end tests (see `moto`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{hermetic_command, tollgate_command};
use crate::moto::{python_with_moto as python, run_bounded, tollgate_record, Moto, MANIFEST_DIR};

const CHROMIUM: &str = "/usr/bin/chromium";
const RUN_LIMIT: Duration = Duration::from_secs(120);
const CLI_LIMIT: Duration = Duration::from_secs(30);
pub(crate) const BROWSER_LIMIT: Duration = Duration::from_secs(90);
/// The screenshot's size, in CSS pixels (and PNG pixels: the scale factor is forced to 1).
const WINDOW: (u32, u32) = (1280, 2000);

/// A small workload with hot spots for the findings and the charts: S3 puts, a listing in small
/// pages read twice, a HeadObject per listed key, a few gets; SQS messages sent one by one;
/// DynamoDB items put one by one, a Scan in small pages, and a table polled.
const WORKLOAD: &str = r#"
import os, sys, time, uuid
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
import boto3

REGION = "us-east-1"
s3 = boto3.client("s3", region_name=REGION)
bucket = "tollgate-html-" + uuid.uuid4().hex[:12]
s3.create_bucket(Bucket=bucket)
for i in range(60):
    s3.put_object(Bucket=bucket, Key=f"exports/part-{i:04d}.json", Body=b"x" * (200 + i))
keys = []
for _ in range(2):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 10}
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
assert len(keys) == 60, len(keys)
for key in keys:
    s3.head_object(Bucket=bucket, Key=key)
for key in keys[:10]:
    s3.get_object(Bucket=bucket, Key=key)["Body"].read()

sqs = boto3.client("sqs", region_name=REGION)
queue = sqs.create_queue(QueueName="tollgate-html-jobs")["QueueUrl"]
for i in range(30):
    sqs.send_message(QueueUrl=queue, MessageBody=f"job {i}")

ddb = boto3.client("dynamodb", region_name=REGION)
table = "tollgate-html-items"
ddb.create_table(
    TableName=table,
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
for i in range(25):
    ddb.put_item(TableName=table, Item={"id": {"S": f"item-{i}"}, "n": {"N": str(i)}})
items = 0
for page in ddb.get_paginator("scan").paginate(
    TableName=table, PaginationConfig={"PageSize": 5}
):
    items += len(page["Items"])
assert items == 25, items
for _ in range(6):
    ddb.describe_table(TableName=table)
    time.sleep(0.2)
print("html_workload: ok")
"#;

/// Chromium, or `None` when the browser tests are to be skipped (said loudly).
pub(crate) fn chromium() -> Option<PathBuf> {
    if std::env::var("TOLLGATE_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        // Straight to stderr, past the test harness's capture: a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n{bar}\nSKIPPED: the HTML report browser test (TOLLGATE_SKIP_BROWSER_TESTS=1).\n\
             The HTML report was NOT checked in a browser.\n{bar}\n",
            bar = "!".repeat(78)
        );
        return None;
    }
    let path = std::env::var_os("TOLLGATE_TEST_CHROMIUM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
    assert!(
        path.is_file(),
        "the HTML report test needs headless Chromium at {}: run scripts/install-test-deps.sh \
         (as root: it installs Debian's chromium), point TOLLGATE_TEST_CHROMIUM at a Chromium, \
         or set TOLLGATE_SKIP_BROWSER_TESTS=1 to skip this test",
        path.display()
    );
    Some(path)
}

/// Headless Chromium, isolated: its own profile, no network (every host name fails to
/// resolve), no background services, console messages on stderr.
pub(crate) fn browser(chromium: &Path, scratch: &Path, profile: &str) -> std::process::Command {
    let mut command = hermetic_command(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--force-device-scale-factor=1",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join(profile).display()
        ))
        .env("HOME", scratch)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    command
}

/// The console messages Chromium logged (`...:INFO:CONSOLE:12] "message", source: ...`).
pub(crate) fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains(":CONSOLE") || line.contains("Uncaught"))
        .collect()
}

/// Width and height from a PNG's IHDR chunk.
pub(crate) fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    Some((word(16), word(20)))
}

#[test]
fn the_html_report_loads_in_chromium_without_console_errors_and_shows_the_total() {
    let Some(chromium) = chromium() else {
        return;
    };
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let db = scratch.join("tollgate.db");
    let script = scratch.join("html_workload.py");
    std::fs::write(&script, WORKLOAD).unwrap();

    // Record the workload.
    let record = tollgate_record(scratch, &db, &moto.url(), &python, [&script]);
    let run = run_bounded(record, scratch, "workload", RUN_LIMIT);
    let context = format!("{}\n{}", run.describe(), moto.log_tail());
    assert!(run.status.success(), "the workload failed\n{context}");
    assert!(run.stdout.contains("html_workload: ok"), "{context}");

    // The total, as the JSON report states it.
    let mut json_report = tollgate_command(&scratch.join("tollgate-home"));
    json_report
        .args(["report", "--format", "json", "--last", "--db"])
        .arg(&db);
    let json = run_bounded(json_report, scratch, "report-json", CLI_LIMIT);
    assert!(json.status.success(), "{}", json.describe());
    let json: Value = serde_json::from_str(&json.stdout).expect("the JSON report");
    let total_usd = json["totals"]["total_usd"]
        .as_str()
        .expect("total_usd is a string")
        .to_string();
    let total = tollgate::pricing::format_usd(total_usd.parse().expect("a decimal"));
    assert_ne!(total_usd, "0", "the workload costs something\n{json:#}");

    // The HTML report of the same run.
    let html = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = tollgate::store::open_existing(Some(&db)).await.unwrap();
        let filter = tollgate::record::RunFilter {
            last: true,
            ..Default::default()
        };
        let runs = store.select_runs(&filter).await.unwrap();
        let mut report = tollgate::report::Report::build(
            store.as_ref(),
            &runs,
            &tollgate::findings::Thresholds::default(),
        )
        .await
        .unwrap();
        report.project(24.into());
        store.close().await;
        tollgate::report::render_html(&report)
    });
    let page = scratch.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());

    // Load it: the DOM as Chromium built it, and what it logged.
    let mut load = browser(&chromium, scratch, "profile-dom");
    load.arg("--dump-dom").arg(&url);
    let loaded = run_bounded(load, scratch, "chromium-dom", BROWSER_LIMIT);
    assert!(loaded.status.success(), "{}", loaded.describe());
    let dom = &loaded.stdout;
    let console = console_messages(&loaded.stderr);
    assert!(
        console.is_empty(),
        "the page logged to the console:\n{}\n--- chromium stderr ---\n{}",
        console.join("\n"),
        loaded.stderr
    );
    assert!(
        dom.contains(&format!("id=\"total-cost\">{total}</span>")),
        "the page does not show the total {total}\n{dom}"
    );
    assert!(
        dom.contains(&format!("<title>{total} · tollgate report · run ")),
        "the title does not name the total {total}\n{dom}"
    );
    for section in [
        "id=\"findings\"",
        "id=\"chart-cost\"",
        "id=\"chart-timeline\"",
        "id=\"chart-loops\"",
        "id=\"operations\"",
        "id=\"loops\"",
        "id=\"projection\"",
    ] {
        assert!(dom.contains(section), "no {section} in\n{dom}");
    }
    assert!(dom.matches("<svg").count() >= 3, "three charts\n{dom}");
    assert!(
        dom.contains("small-pages:s3:ListObjectsV2:"),
        "the small-pages finding\n{dom}"
    );
    for outside in ["src=", "<link", "url(", "@import", "<script"] {
        assert!(!dom.contains(outside), "{outside} in the page\n{dom}");
    }

    // A screenshot.
    let update = std::env::var("TOLLGATE_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1");
    let png = if update {
        let docs = Path::new(MANIFEST_DIR).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        docs.join("report.png")
    } else {
        scratch.join("report.png")
    };
    let _ = std::fs::remove_file(&png);
    let mut shoot = browser(&chromium, scratch, "profile-screenshot");
    shoot
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .arg(&url);
    let shot = run_bounded(shoot, scratch, "chromium-screenshot", BROWSER_LIMIT);
    assert!(shot.status.success(), "{}", shot.describe());
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {}: {e}\n{}",
            png.display(),
            shot.describe()
        )
    });
    assert_eq!(png_size(&bytes), Some(WINDOW), "{}", png.display());
    // A blank page compresses to a few kilobytes; text, tables and charts do not.
    assert!(
        bytes.len() > 40_000,
        "the screenshot is only {} bytes: is the page blank?",
        bytes.len()
    );
    if update {
        eprintln!("wrote {}", png.display());
    }
}
