//! Findings, end to end: a real boto3 workload (`tests/e2e/findings_workload.py`) runs under
//! `tollgate run --db DB --upstream URL` against a real moto server, and the findings of
//! `tollgate report --last --format json` are compared with what this test computes on its own.
//!
//! The workload is the ground truth for what was done: it counts every HTTP attempt and the
//! retries among them with botocore's `before-send` hook, the bytes of each response with
//! `after-call`, and its listing's pages and items. This test holds the prices (AWS's published
//! us-east-1 figures, as in `cost.rs`, never read from tollgate's `pricing/`) and works out each
//! finding's counts and saving from those alone.
//!
//! Between tollgate and moto sits [`Throttler`], an HTTP server of this test's that forwards
//! every request to moto, except the first GetObject of the workload's throttled key (answered
//! `503 SlowDown`, as S3 does) and the first DynamoDB PutItem (answered `400
//! ThrottlingException`, as DynamoDB does). botocore retries both; tollgate sees the throttled
//! attempt and the retry.
//!
//! Needs Python with boto3 and moto[server], as the other end-to-end tests (see `moto`).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::common::tollgate_command;
use crate::moto::{
    python_with_moto as python, read_json, run_bounded, tollgate_record, u64_field, Moto,
    MANIFEST_DIR,
};

/// How long the workload may take under tollgate (about 15 s; the test about 20 s).
const RUN_LIMIT: Duration = Duration::from_secs(80);
/// How long `tollgate report` may take.
const CLI_LIMIT: Duration = Duration::from_secs(30);

/// The workload's sizes (see `findings_workload.py`).
const OBJECTS: u64 = 1050;
const LIST_PAGE: u64 = 100;
const ITEMS: u64 = 200;
const POLLS: u64 = 8;
const CALLER_IDENTITY: u64 = 50;

/// The API limits the findings' advice rests on, from each API reference.
mod limit {
    /// ListObjectsV2: "returns some or all (up to 1,000) of the objects in a bucket"; MaxKeys
    /// defaults to and is capped at 1,000.
    pub(super) const LIST_OBJECTS_MAX_KEYS: u64 = 1000;
    /// BatchGetItem: "A single operation can retrieve up to 16 MB of data, which can contain as
    /// many as 100 items."
    pub(super) const BATCH_GET_ITEMS: u64 = 100;
}

/// AWS's published prices, USD per unit, us-east-1 (as in `cost.rs`).
mod price {
    /// S3 Standard Tier1: "$0.005 per 1,000 PUT, COPY, POST, or LIST requests".
    /// https://aws.amazon.com/s3/pricing/
    pub(super) const S3_STANDARD_TIER1: &str = "0.000005";
    /// S3 Standard Tier2: "$0.0004 per 1,000 GET, SELECT and all other requests" (HEAD too).
    pub(super) const S3_STANDARD_TIER2: &str = "0.0000004";
    /// DynamoDB on-demand: $0.125 per million read request units (since 2024-11-01).
    /// https://aws.amazon.com/dynamodb/pricing/on-demand/
    pub(super) const DYNAMODB_RRU: &str = "0.000000125";
    /// An eventually consistent read of an item up to 4 KB: half a read request unit.
    pub(super) const EVENTUALLY_CONSISTENT_READ_UNITS: &str = "0.5";
    /// Data transfer out to the internet, first 10 TB a month: $0.09 per GB of 2^30 bytes.
    pub(super) const DATA_TRANSFER_OUT_PER_GB: &str = "0.09";
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).unwrap_or_else(|error| panic!("not a decimal {text:?}: {error}"))
}

/// Data transfer out for `bytes` of responses.
fn transfer_of(bytes: u64) -> Decimal {
    Decimal::from(bytes) * dec(price::DATA_TRANSFER_OUT_PER_GB) / Decimal::from(1u64 << 30)
}

/// What a published amount may differ by from the exact one: JSON money is rounded to a
/// pico-dollar (`record::PUBLISHED_DECIMALS`), and a sum of per-call transfer amounts from the
/// transfer of the summed bytes by the rounding of 28-digit decimals.
fn tolerance() -> Decimal {
    Decimal::new(1, 12)
}

// --- The throttling upstream ---

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// What the forwarding server did.
#[derive(Default)]
struct ThrottlerState {
    moto: String,
    throttled_key: String,
    get_object_throttled: AtomicBool,
    put_item_throttled: AtomicBool,
    /// Throttling answers given, per "service operation".
    throttled: std::sync::Mutex<BTreeMap<String, u64>>,
    forwarded: AtomicU64,
    /// Requests that could not be forwarded to moto (answered 502): must stay 0.
    forward_failures: std::sync::Mutex<Vec<String>>,
}

/// An HTTP/1.1 (and h2c) server between tollgate and moto: forwards everything to moto on a fresh
/// connection, keeping the `Host` header, path and query, except the first request matching each
/// throttling rule, which it answers itself the way the real service throttles.
struct Throttler {
    addr: SocketAddr,
    state: Arc<ThrottlerState>,
    // Owns the server's tasks; dropped (and they with it) at the end of the test.
    _runtime: tokio::runtime::Runtime,
}

impl Throttler {
    fn start(moto: &str, throttled_key: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let state = Arc::new(ThrottlerState {
            moto: moto.trim_end_matches('/').to_string(),
            throttled_key: format!("/{throttled_key}"),
            ..ThrottlerState::default()
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the throttler");
        let addr = listener.local_addr().expect("a bound address");
        // No pooling: each forwarded request gets a connection of its own, so that a connection
        // moto closed can never turn into a failed request.
        let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        let client = client.clone();
                        async move { Ok::<_, Infallible>(handle(request, &state, &client).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Throttler {
            addr,
            state,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn throttled(&self) -> BTreeMap<String, u64> {
        self.state.throttled.lock().unwrap().clone()
    }

    fn forward_failures(&self) -> Vec<String> {
        self.state.forward_failures.lock().unwrap().clone()
    }
}

fn full(status: StatusCode, headers: &[(&str, &str)], body: &'static str) -> Response<ProxyBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .header("content-length", body.len())
        .body(
            Full::new(Bytes::from_static(body.as_bytes()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("a valid response")
}

async fn handle(
    mut request: Request<Incoming>,
    state: &ThrottlerState,
    client: &Client<HttpConnector, Incoming>,
) -> Response<ProxyBody> {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = request.uri().path().to_string();
    let throttle = |flag: &AtomicBool, what: &str| -> bool {
        if flag.swap(true, Ordering::SeqCst) {
            return false;
        }
        *state
            .throttled
            .lock()
            .unwrap()
            .entry(what.to_string())
            .or_default() += 1;
        true
    };
    // DynamoDB throttles with 400 and a JSON error (awsJson1_0).
    if target == "DynamoDB_20120810.PutItem"
        && throttle(&state.put_item_throttled, "dynamodb PutItem")
    {
        return full(
            StatusCode::BAD_REQUEST,
            &[
                ("content-type", "application/x-amz-json-1.0"),
                (
                    "x-amzn-requestid",
                    "TGTHROTTLE0000000000000000000000000000000000000000000000",
                ),
            ],
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#,
        );
    }
    // S3 throttles with 503 SlowDown (restXml). The key is in the path (virtual-hosted style)
    // or after the bucket (path style).
    if request.method() == http::Method::GET
        && path.ends_with(&state.throttled_key)
        && throttle(&state.get_object_throttled, "s3 GetObject")
    {
        return full(
            StatusCode::SERVICE_UNAVAILABLE,
            &[
                ("content-type", "application/xml"),
                ("x-amz-request-id", "TGTHROTTLE000001"),
                ("x-amz-id-2", "dGdUaHJvdHRsZUhvc3RJZA=="),
            ],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
             <Message>Please reduce your request rate.</Message>\
             <RequestId>TGTHROTTLE000001</RequestId>\
             <HostId>dGdUaHJvdHRsZUhvc3RJZA==</HostId></Error>",
        );
    }
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let uri: Uri = format!("{}{path_and_query}", state.moto)
        .parse()
        .expect("a valid upstream URI");
    *request.uri_mut() = uri;
    // HTTP/1.1 to moto whatever tollgate spoke to us.
    *request.version_mut() = http::Version::HTTP_11;
    state.forwarded.fetch_add(1, Ordering::Relaxed);
    match client.request(request).await {
        Ok(response) => response.map(|body| body.boxed()),
        Err(error) => {
            state
                .forward_failures
                .lock()
                .unwrap()
                .push(format!("{} {path_and_query}: {error:?}", path));
            full(
                StatusCode::BAD_GATEWAY,
                &[],
                "throttler: moto did not answer",
            )
        }
    }
}

// --- Running tollgate ---

/// `tollgate report --db DB --last --format json EXTRA...`, parsed.
fn report_json(scratch: &Path, db: &Path, name: &str, extra: &[&str]) -> Value {
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args(["report", "--last", "--format", "json"])
        .args(extra)
        .arg("--db")
        .arg(db)
        // The working directory has no tollgate.toml: the default thresholds apply.
        .current_dir(scratch);
    let run = run_bounded(command, scratch, name, CLI_LIMIT);
    assert!(
        run.status.success(),
        "tollgate report {extra:?} failed\n{}",
        run.describe()
    );
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("the JSON report is not JSON ({error}):\n{}", run.stdout));
    assert_eq!(report["version"], 1, "{report:#}");
    report
}

fn money(value: &Value, field: &str) -> Decimal {
    dec(value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no decimal string '{field}' in {value:#}")))
}

/// The findings of a report, by id.
fn findings_by_id(report: &Value) -> BTreeMap<String, Value> {
    let mut by_id = BTreeMap::new();
    for finding in report["findings"].as_array().expect("findings is a list") {
        let id = finding["id"].as_str().expect("id is text").to_string();
        assert!(
            by_id.insert(id.clone(), finding.clone()).is_none(),
            "two findings with id {id}: {report:#}"
        );
    }
    by_id
}

/// The ids of the findings that are about what the workload did (every rule but the top-N lists,
/// which always name a few operations).
fn hot_spots(findings: &BTreeMap<String, Value>) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|(_, f)| f["rule"] != "top-cost" && f["rule"] != "top-calls")
        .map(|(id, _)| id.clone())
        .collect()
}

/// The sum of the response bytes the workload saw for "service operation" (every one must be
/// known: no streamed body among them).
fn response_bytes(truth: &Value, key: &str) -> u64 {
    truth["response_bytes"][key]
        .as_array()
        .unwrap_or_else(|| panic!("no response bytes for {key}: {truth:#}"))
        .iter()
        .map(|size| {
            size.as_u64()
                .unwrap_or_else(|| panic!("{key}: unknown size {size}"))
        })
        .sum()
}

/// Attempts and retries the workload counted for "service operation".
fn attempts(truth: &Value, key: &str) -> (u64, u64) {
    let attempts = truth["attempts"][key].as_u64().unwrap_or(0);
    let retries = truth["retries"][key].as_u64().unwrap_or(0);
    (attempts, retries)
}

/// Asserts the finding's saving: `calls` fewer calls and `usd` (exactly, or within `tolerance`).
fn assert_saving(finding: &Value, calls: u64, usd: Decimal, tolerance: Decimal, all: &str) {
    let saving = &finding["saving"];
    assert!(saving.is_object(), "{} has no saving\n{all}", finding["id"]);
    assert_eq!(
        u64_field(saving, "calls"),
        calls,
        "{}: saving.calls\n{all}",
        finding["id"]
    );
    let got = money(saving, "usd");
    assert!(
        (got - usd).abs() <= tolerance,
        "{}: saving.usd {got}, expected {usd}\n{all}",
        finding["id"]
    );
}

#[test]
fn the_report_finds_each_hot_spot_with_exact_counts_and_savings() {
    let python = python();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let throttled_key = "throttle-me/report.json";
    let throttler = Throttler::start(&moto.url(), throttled_key);
    let db = scratch.join("db/findings.db");
    let truth_path = scratch.join("findings.json");
    let script = Path::new(MANIFEST_DIR).join("tests/e2e/findings_workload.py");
    let command = tollgate_record(
        scratch,
        &db,
        &throttler.url(),
        &python,
        [script.as_os_str(), truth_path.as_os_str()],
    );
    let run = run_bounded(command, scratch, "findings", RUN_LIMIT);
    let context = format!(
        "{}\nthrottler: forwarded {}, throttled {:?}, failures {:?}\n{}",
        run.describe(),
        throttler.state.forwarded.load(Ordering::Relaxed),
        throttler.throttled(),
        throttler.forward_failures(),
        moto.log_tail()
    );
    assert!(run.status.success(), "the workload failed\n{context}");
    assert!(run.stdout.contains("findings_workload: ok"), "{context}");
    let truth = read_json(&truth_path, &context);
    assert_eq!(truth["ok"], true, "{truth:#}\n{context}");
    assert_eq!(truth["throttled_key"], throttled_key, "{context}");
    assert!(throttler.forward_failures().is_empty(), "{context}");
    // The throttler answered exactly the two attempts it was meant to, and botocore retried each
    // once (and nothing else).
    assert_eq!(
        throttler.throttled(),
        BTreeMap::from([
            ("dynamodb PutItem".to_string(), 1),
            ("s3 GetObject".to_string(), 1),
        ]),
        "{context}"
    );
    let retried: BTreeMap<String, u64> = truth["retries"]
        .as_object()
        .expect("retries is a map")
        .iter()
        .map(|(key, n)| (key.clone(), n.as_u64().expect("a count")))
        .collect();
    assert_eq!(
        retried,
        BTreeMap::from([
            ("dynamodb PutItem".to_string(), 1),
            ("s3 GetObject".to_string(), 1),
        ]),
        "{truth:#}\n{context}"
    );

    let report = report_json(scratch, &db, "report", &[]);
    let all = format!("report: {report:#}\nworkload: {truth:#}\n{context}");
    let bucket = truth["bucket"].as_str().expect("bucket is text");
    let table = truth["table"].as_str().expect("table is text");

    // The real report matches the published schema, findings included.
    let schema: Value = serde_json::from_str(include_str!("../../schemas/report-v1.schema.json"))
        .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{all}");
    // Every attempt was recorded.
    assert_eq!(
        u64_field(&report["totals"], "attempts"),
        u64_field(&truth, "total_attempts"),
        "{all}"
    );

    let findings = findings_by_id(&report);
    // Most money saved first.
    let savings: Vec<Decimal> = report["findings"]
        .as_array()
        .expect("findings is a list")
        .iter()
        .map(|f| f["saving"]["usd"].as_str().map_or(Decimal::ZERO, dec))
        .collect();
    assert!(
        savings.windows(2).all(|pair| pair[0] >= pair[1]),
        "findings not ordered by saving: {savings:?}\n{all}"
    );
    let small_pages_id = format!("small-pages:s3:ListObjectsV2:{bucket}");
    let head_id = format!("head-per-key:s3:HeadObject:{bucket}");
    let fan_out_id = format!("fan-out:dynamodb:GetItem:{table}");
    let repeated_id = "repeated-calls:sts:GetCallerIdentity".to_string();
    let polling_id = format!("polling:dynamodb:DescribeTable:{table}");
    let put_retry_id = "retries:dynamodb:PutItem".to_string();
    let get_retry_id = "retries:s3:GetObject".to_string();
    // CreateTable and DescribeTable are free (DynamoDB bills data, not table management): no
    // "calls with no price" finding for them (issue 13).
    let unpriced_id = "unpriced:dynamodb".to_string();
    let expected_ids: BTreeSet<String> = [
        &small_pages_id,
        &head_id,
        &fan_out_id,
        &repeated_id,
        &polling_id,
        &put_retry_id,
        &get_retry_id,
    ]
    .into_iter()
    .cloned()
    .collect();
    let found_ids = hot_spots(&findings);
    let missing: Vec<&String> = expected_ids.difference(&found_ids).collect();
    let unexpected: Vec<&String> = found_ids.difference(&expected_ids).collect();
    // The findings are checked one by one below (with what each should say); a wrong set is
    // reported after them, so that a missing finding does not hide wrong numbers in the others.
    let mut failures: Vec<String> = Vec::new();
    if !missing.is_empty() || !unexpected.is_empty() {
        failures.push(format!(
            "findings missing: {missing:?}; unexpected: {unexpected:?}"
        ));
    }
    let find = |id: &str| findings.get(id);

    // --- small-pages: 1,050 keys listed 100 a page ---
    let tier1 = dec(price::S3_STANDARD_TIER1);
    let (list_attempts, list_retries) = attempts(&truth, "s3 ListObjectsV2");
    let pages = OBJECTS.div_ceil(LIST_PAGE);
    let needed = OBJECTS.div_ceil(limit::LIST_OBJECTS_MAX_KEYS);
    assert_eq!(
        (list_attempts, list_retries),
        (pages, 0),
        "the workload's own count of ListObjectsV2\n{all}"
    );
    assert_eq!(u64_field(&truth["listing"], "pages"), pages, "{all}");
    assert_eq!(u64_field(&truth["listing"], "items"), OBJECTS, "{all}");
    let list_bytes = response_bytes(&truth, "s3 ListObjectsV2");
    if let Some(finding) = find(&small_pages_id) {
        assert_eq!(finding["rule"], "small-pages", "{all}");
        assert_eq!(
            finding["title"],
            format!(
                "ListObjectsV2 on {bucket}: MaxKeys={LIST_PAGE} over 1 loop, {pages} \
                 requests; MaxKeys={} would need {needed}",
                limit::LIST_OBJECTS_MAX_KEYS
            ),
            "{all}"
        );
        let evidence = &finding["evidence"];
        assert_eq!(evidence["service"], "s3", "{all}");
        assert_eq!(evidence["operation"], "ListObjectsV2", "{all}");
        assert_eq!(evidence["resource"], bucket, "{all}");
        assert_eq!(u64_field(evidence, "calls"), pages, "{all}");
        // What the listings cost, defined as an operation's cost: a Tier1 request a page and
        // the data transfer of the listing's {list_bytes} bytes.
        let loop_cost = tier1 * Decimal::from(pages);
        let listed = loop_cost + transfer_of(list_bytes);
        let cost = money(evidence, "cost_usd");
        assert!(
            (cost - listed).abs() <= tolerance(),
            "small-pages evidence.cost_usd {cost}, expected {listed} ({pages} × ${tier1} and \
             the transfer of {list_bytes} bytes of listing)\n{all}"
        );
        // The saving: 9 fewer Tier1 requests. The keys' XML is the same at any page size, so
        // the transfer is not saved (only each dropped page's envelope of a few hundred bytes:
        // allowed up to 1 KiB a page).
        let saved = pages - needed;
        let requests = tier1 * Decimal::from(saved);
        let envelope = transfer_of(saved * 1024);
        let saving = &finding["saving"];
        let usd = saving["usd"].as_str().map(dec);
        let tollgate_formula = loop_cost / Decimal::from(pages) * Decimal::from(saved);
        if u64_field(saving, "calls") != saved
            || !usd.is_some_and(|usd| usd >= requests && usd <= requests + envelope)
        {
            failures.push(format!(
                "small-pages saving is {saving}: expected {saved} calls and ${requests} ({saved} × \
                 ${tier1} Tier1 requests; the listing's {list_bytes} bytes of XML are transferred \
                 at any page size), at most ${} with the dropped pages' envelopes. (The loop \
                 cost's share, {saved}/{pages} of ${loop_cost} including transfer, would be \
                 ${tollgate_formula}.)",
                requests + envelope
            ));
        }
    }

    // --- head-per-key: a HeadObject per listed key ---
    let tier2 = dec(price::S3_STANDARD_TIER2);
    let (heads, head_retries) = attempts(&truth, "s3 HeadObject");
    assert_eq!((heads, head_retries), (OBJECTS, 0), "{all}");
    // A HEAD answers with headers only: no bytes of data transfer.
    let head_bytes = response_bytes(&truth, "s3 HeadObject");
    assert_eq!(head_bytes, 0, "{all}");
    if let Some(finding) = find(&head_id) {
        assert_eq!(finding["rule"], "head-per-key", "{all}");
        assert_eq!(
            finding["title"],
            // Every HEAD is of a key the listing before it returned (issue 24 item 3).
            format!("1,050 HeadObject on {bucket} of keys a listing had already returned"),
            "{all}"
        );
        let evidence = &finding["evidence"];
        assert_eq!(evidence["resource"], bucket, "{all}");
        assert_eq!(u64_field(evidence, "calls"), heads, "{all}");
        // Reading the listing instead saves every HEAD: 1,050 × $0.0000004 = $0.00042.
        let usd = tier2 * Decimal::from(heads) + transfer_of(head_bytes);
        assert_eq!(usd, dec("0.00042"), "{all}");
        assert_eq!(money(evidence, "cost_usd"), usd, "{all}");
        assert_saving(finding, heads, usd, Decimal::ZERO, &all);
    }

    // --- fan-out: one GetItem per key where BatchGetItem takes 100 ---
    let (gets, get_retries) = attempts(&truth, "dynamodb GetItem");
    assert_eq!((gets, get_retries), (ITEMS, 0), "{all}");
    if let Some(finding) = find(&fan_out_id) {
        assert_eq!(finding["rule"], "fan-out", "{all}");
        let batched = gets.div_ceil(limit::BATCH_GET_ITEMS);
        assert_eq!(
            finding["title"],
            format!(
                "{gets} GetItem on {table}: one call per item; BatchGetItem would need {batched} \
                 calls"
            ),
            "{all}"
        );
        let evidence = &finding["evidence"];
        assert_eq!(evidence["service"], "dynamodb", "{all}");
        assert_eq!(evidence["resource"], table, "{all}");
        assert_eq!(u64_field(evidence, "calls"), gets, "{all}");
        // Half a read unit each (eventually consistent, items far below 4 KB), and the JSON that
        // came back as data transfer.
        let get_bytes = response_bytes(&truth, "dynamodb GetItem");
        let cost = Decimal::from(gets)
            * dec(price::EVENTUALLY_CONSISTENT_READ_UNITS)
            * dec(price::DYNAMODB_RRU)
            + transfer_of(get_bytes);
        let got = money(evidence, "cost_usd");
        assert!(
            (got - cost).abs() <= tolerance(),
            "fan-out evidence.cost_usd {got}, expected {cost}\n{all}"
        );
        // DynamoDB bills per item read, batched or not: calls saved, no money.
        assert_saving(finding, gets - batched, Decimal::ZERO, Decimal::ZERO, &all);
        assert!(
            finding["detail"]
                .as_str()
                .is_some_and(|d| d.contains("not money")),
            "{all}"
        );
    }

    // --- repeated-calls: GetCallerIdentity 50 times ---
    let (identities, identity_retries) = attempts(&truth, "sts GetCallerIdentity");
    assert_eq!(
        (identities, identity_retries),
        (CALLER_IDENTITY, 0),
        "{all}"
    );
    if let Some(finding) = find(&repeated_id) {
        assert_eq!(finding["rule"], "repeated-calls", "{all}");
        assert_eq!(
            finding["title"],
            format!("{identities} identical GetCallerIdentity calls"),
            "{all}"
        );
        let evidence = &finding["evidence"];
        assert_eq!(evidence["service"], "sts", "{all}");
        assert_eq!(u64_field(evidence, "calls"), identities, "{all}");
        // STS is free (and bills no transfer): 49 calls saved, no money.
        assert_eq!(money(evidence, "cost_usd"), Decimal::ZERO, "{all}");
        assert_saving(finding, identities - 1, Decimal::ZERO, Decimal::ZERO, &all);
    }

    // --- polling: DescribeTable every 0.3 s ---
    let (describes, describe_retries) = attempts(&truth, "dynamodb DescribeTable");
    assert_eq!((describes, describe_retries), (POLLS, 0), "{all}");
    let times: Vec<f64> = truth["describe_table_times"]
        .as_array()
        .expect("describe_table_times is a list")
        .iter()
        .map(|t| t.as_f64().expect("a time"))
        .collect();
    assert_eq!(times.len() as u64, POLLS, "{all}");
    let mean_gap = (times[times.len() - 1] - times[0]) / (times.len() - 1) as f64;
    if let Some(finding) = find(&polling_id) {
        assert_eq!(finding["rule"], "polling", "{all}");
        assert_eq!(
            finding["title"],
            format!("DescribeTable polled {describes} times every {mean_gap:.1} s on {table}"),
            "{all}"
        );
        let evidence = &finding["evidence"];
        assert_eq!(evidence["resource"], table, "{all}");
        assert_eq!(u64_field(evidence, "calls"), describes, "{all}");
        assert_eq!(
            evidence["examples"].as_array().map(Vec::len),
            Some(3),
            "{all}"
        );
        // Polling less often saves an amount nobody can know in advance: no saving.
        assert!(finding["saving"].is_null(), "{all}");
    }

    // --- retries: one throttled attempt each, retried once ---
    for (id, key, operation, code) in [
        (
            &put_retry_id,
            "dynamodb PutItem",
            "PutItem",
            "ThrottlingException",
        ),
        (&get_retry_id, "s3 GetObject", "GetObject", "SlowDown"),
    ] {
        let (tries, retries) = attempts(&truth, key);
        assert_eq!((tries, retries), (2, 1), "{key}\n{all}");
        let Some(finding) = find(id) else { continue };
        assert_eq!(finding["rule"], "retries", "{all}");
        assert_eq!(
            finding["title"],
            format!("1 retry {operation}: 1 throttled ({code})"),
            "{all}"
        );
        let evidence = &finding["evidence"];
        assert_eq!(evidence["operation"], operation, "{all}");
        assert_eq!(u64_field(evidence, "calls"), retries, "{all}");
        // Throttled attempts are not billed (DynamoDB: throttling consumes no capacity; S3: no
        // 5xx is billed).
        assert_eq!(money(evidence, "cost_usd"), Decimal::ZERO, "{id}\n{all}");
        assert_saving(finding, retries, Decimal::ZERO, Decimal::ZERO, &all);
    }

    // --- no "unpriced" finding for DynamoDB's control plane: it is free ---
    assert!(find(&unpriced_id).is_none(), "{all}");

    assert!(failures.is_empty(), "{}\n{all}", failures.join("\n"));

    // --- silencing: by rule name and by id ---
    let quiet = report_json(
        scratch,
        &db,
        "report-quiet",
        &[
            "--ignore-finding",
            "polling",
            "--ignore-finding",
            &repeated_id,
        ],
    );
    let quiet_ids = hot_spots(&findings_by_id(&quiet));
    let mut expected_quiet = found_ids.clone();
    expected_quiet.remove(&polling_id);
    expected_quiet.remove(&repeated_id);
    assert_eq!(quiet_ids, expected_quiet, "{quiet:#}");
    assert!(
        quiet["findings"]
            .as_array()
            .expect("findings is a list")
            .iter()
            .all(|f| f["rule"] != "polling"),
        "{quiet:#}"
    );
    // Silencing changes the findings only.
    assert_eq!(quiet["totals"], report["totals"], "{quiet:#}");
}
