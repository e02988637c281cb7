//! `tollgate pricing update` against a real HTTPS server (hyper + rustls, a CA of the test's own)
//! that serves the AWS Price List's layout: the offer index, each offer's region index, and the
//! regional offer files of `tests/fixtures/pricelist` (AWS's format: see `make_fixtures.py`
//! there). The server honours `If-None-Match` as AWS's does, and logs what it sent.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::common::{tollgate_command, TestCa};

const OFFERS: [&str; 6] = [
    "AmazonS3",
    "AmazonDynamoDB",
    "AWSQueueService",
    "AWSLambda",
    "awskms",
    "AWSDataTransfer",
];
const SERVICES: [&str; 6] = ["s3", "dynamodb", "sqs", "lambda", "kms", "data-transfer"];
const REGIONS: [&str; 2] = ["eu-west-1", "us-west-2"];

/// One answer the mirror gave: path, status, body bytes.
type Served = (String, u16, usize);

/// The Price List's files, by path, as the mirror serves them.
struct Mirror {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    served: Mutex<Vec<Served>>,
}

impl Mirror {
    /// The fixtures laid out as the Price List lays them out.
    fn from_fixtures() -> Arc<Self> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pricelist");
        let mut files = BTreeMap::new();
        let mut offers = serde_json::Map::new();
        for offer in OFFERS {
            let mut regions = serde_json::Map::new();
            for region in REGIONS {
                let text = std::fs::read(dir.join(format!("{offer}-{region}.json")))
                    .expect("a fixture for every offer and region");
                let parsed: Value = serde_json::from_slice(&text).unwrap();
                let version = parsed["version"].as_str().unwrap();
                let path = format!("/offers/v1.0/aws/{offer}/{version}/{region}/index.json");
                regions.insert(
                    region.to_string(),
                    json!({"regionCode": region, "currentVersionUrl": path}),
                );
                files.insert(path, text);
            }
            let index = format!("/offers/v1.0/aws/{offer}/current/region_index.json");
            files.insert(
                index.clone(),
                serde_json::to_vec_pretty(&json!({
                    "formatVersion": "v1.0",
                    "publicationDate": "2026-08-05T00:00:00Z",
                    "regions": regions,
                }))
                .unwrap(),
            );
            offers.insert(
                offer.to_string(),
                json!({
                    "offerCode": offer,
                    "versionIndexUrl": format!("/offers/v1.0/aws/{offer}/index.json"),
                    "currentVersionUrl": format!("/offers/v1.0/aws/{offer}/current/index.json"),
                    "currentRegionIndexUrl": index,
                }),
            );
        }
        files.insert(
            "/offers/v1.0/aws/index.json".into(),
            serde_json::to_vec_pretty(&json!({
                "formatVersion": "v1.0",
                "publicationDate": "2026-08-05T00:00:00Z",
                "offers": offers,
            }))
            .unwrap(),
        );
        Arc::new(Self {
            files: Mutex::new(files),
            served: Mutex::new(Vec::new()),
        })
    }

    fn take_served(&self) -> Vec<Served> {
        std::mem::take(&mut self.served.lock().unwrap())
    }

    /// Publishes a new version of `offer` in `region` with `body`, as AWS does: a new path,
    /// named by the region index.
    fn publish(&self, offer: &str, region: &str, version: &str, body: Vec<u8>) {
        let mut files = self.files.lock().unwrap();
        let path = format!("/offers/v1.0/aws/{offer}/{version}/{region}/index.json");
        files.insert(path.clone(), body);
        let index = format!("/offers/v1.0/aws/{offer}/current/region_index.json");
        let mut parsed: Value = serde_json::from_slice(&files[&index]).unwrap();
        parsed["regions"][region]["currentVersionUrl"] = json!(path);
        files.insert(index, serde_json::to_vec_pretty(&parsed).unwrap());
    }

    fn answer(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_string();
        let body = self.files.lock().unwrap().get(&path).cloned();
        let (status, body, etag) = match body {
            Some(body) => {
                let etag = format!("\"{}\"", crate::common::hex(&sha2_of(&body)[..8]));
                let unchanged = request
                    .headers()
                    .get("if-none-match")
                    .is_some_and(|v| v.as_bytes() == etag.as_bytes());
                if unchanged {
                    (StatusCode::NOT_MODIFIED, Vec::new(), Some(etag))
                } else {
                    (StatusCode::OK, body, Some(etag))
                }
            }
            None => (
                StatusCode::NOT_FOUND,
                b"<Error>NoSuchKey</Error>".to_vec(),
                None,
            ),
        };
        self.served
            .lock()
            .unwrap()
            .push((path, status.as_u16(), body.len()));
        let mut response = Response::builder().status(status);
        if let Some(etag) = etag {
            response = response.header("etag", etag);
        }
        response.body(Full::new(Bytes::from(body))).unwrap()
    }
}

fn sha2_of(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Serves `mirror` over HTTPS on 127.0.0.1; returns its URL and CA.
async fn serve(mirror: Arc<Mirror>) -> (String, TestCa) {
    let ca = TestCa::new();
    let config = ca.server_config(&["localhost"], &[b"http/1.1"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, mirror) = (acceptor.clone(), mirror.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request: Request<Incoming>| {
                    let answer = mirror.answer(&request);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://localhost:{port}"), ca)
}

struct Update {
    home: tempfile::TempDir,
    url: String,
    ca: PathBuf,
}

impl Update {
    /// `tollgate pricing update` for the five services and two regions, from the mirror.
    fn run(&self) -> (bool, String) {
        let mut command = tollgate_command(self.home.path());
        command
            .args(["pricing", "update", "--from", &self.url, "--ca"])
            .arg(&self.ca);
        for service in SERVICES {
            command.args(["--service", service]);
        }
        for region in REGIONS {
            command.args(["--region", region]);
        }
        let output = command.output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn imported(&self) -> String {
        std::fs::read_to_string(self.home.path().join("pricing-imported.toml")).unwrap_or_default()
    }

    /// `pricing show SERVICE:OPERATION --region R --format json`: the entry `id`.
    fn shown(&self, what: &str, region: &str, id: &str) -> Value {
        let output = tollgate_command(self.home.path())
            .args([
                "pricing", "show", what, "--region", region, "--format", "json",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let entries: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        entries
            .into_iter()
            .find(|entry| entry["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in pricing show {what}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_prices_every_region_from_its_offer_and_fetches_nothing_twice() {
    let mirror = Mirror::from_fixtures();
    let (url, ca) = serve(mirror.clone()).await;
    let home = tempfile::tempdir().unwrap();
    let ca = ca.write(home.path());
    let update = Update { home, url, ca };

    let (ok, stderr) = tokio::task::block_in_place(|| update.run());
    assert!(ok, "{stderr}");
    let served = mirror.take_served();
    let offer_files = |served: &[Served]| {
        served
            .iter()
            .filter(|(path, _, _)| {
                path.ends_with("/index.json") && !path.ends_with("aws/index.json")
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        offer_files(&served).len(),
        OFFERS.len() * REGIONS.len(),
        "one offer file per offer and region: {served:#?}"
    );
    assert!(
        served.iter().all(|(_, status, _)| *status == 200),
        "{served:#?}"
    );

    // Each service's price in each region is the offer's, with the offer's URL as its source.
    for (what, region, id, usd, offer, version) in [
        (
            "s3:PutObject",
            "eu-west-1",
            "s3/standard/tier1",
            "0.0000054",
            "AmazonS3",
            "20260701000000",
        ),
        (
            "s3:PutObject",
            "us-west-2",
            "s3/standard/tier1",
            "0.000005",
            "AmazonS3",
            "20260701000000",
        ),
        (
            "dynamodb:PutItem",
            "eu-west-1",
            "dynamodb/on-demand/write",
            "0.0000007068",
            "AmazonDynamoDB",
            "20260715000000",
        ),
        (
            "dynamodb:GetItem",
            "us-west-2",
            "dynamodb/on-demand/read",
            "0.000000125",
            "AmazonDynamoDB",
            "20260715000000",
        ),
        (
            "sqs:SendMessage",
            "us-west-2",
            "sqs/fifo/request",
            "0.0000005",
            "AWSQueueService",
            "20260710000000",
        ),
        (
            "lambda:Invoke",
            "eu-west-1",
            "lambda/invoke/request",
            "0.0000002",
            "AWSLambda",
            "20260801000000",
        ),
        (
            "kms:Encrypt",
            "us-west-2",
            "kms/symmetric/request",
            "0.000003",
            "awskms",
            "20260805000000",
        ),
    ] {
        let entry = tokio::task::block_in_place(|| update.shown(what, region, id));
        assert_eq!(entry["usd"], usd, "{what} in {region}: {entry:#}");
        assert_eq!(entry["estimated"], false, "{what} in {region}: {entry:#}");
        assert_eq!(
            entry["source"],
            format!(
                "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{offer}/{version}/{region}/index.json"
            ),
            "{entry:#}"
        );
    }

    // Again: the indexes are asked for with their ETag and are unchanged; no offer file is
    // fetched again.
    let imported = update.imported();
    let (ok, stderr) = tokio::task::block_in_place(|| update.run());
    assert!(ok, "{stderr}");
    let served = mirror.take_served();
    assert!(offer_files(&served).is_empty(), "{served:#?}");
    assert!(
        served
            .iter()
            .all(|(_, status, bytes)| *status == 304 && *bytes == 0),
        "{served:#?}"
    );
    assert!(stderr.contains("0 B downloaded"), "{stderr}");
    assert_eq!(update.imported(), imported);

    // AWS publishes a new S3 offer for eu-west-1, and it arrives cut short: refused, naming the
    // file; the prices in use stay as they were, and the next update fetches it again.
    let fixture = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pricelist/AmazonS3-eu-west-1.json"),
    )
    .unwrap();
    mirror.publish(
        "AmazonS3",
        "eu-west-1",
        "20261101000000",
        fixture[..fixture.len() / 2].to_vec(),
    );
    let (ok, stderr) = tokio::task::block_in_place(|| update.run());
    assert!(!ok, "a truncated offer file must be refused: {stderr}");
    assert!(
        stderr.contains("20261101000000") && stderr.contains("prices in use are unchanged"),
        "{stderr}"
    );
    assert_eq!(update.imported(), imported, "nothing may change");
    mirror.take_served();
    let (ok, stderr) = tokio::task::block_in_place(|| update.run());
    assert!(!ok, "{stderr}");
    let refetched = offer_files(&mirror.take_served());
    assert_eq!(
        refetched.len(),
        1,
        "the refused file is fetched again: {refetched:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_price_list_names_the_url_and_the_ways_around() {
    let home = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://127.0.0.1:{port}");
    let output = tollgate_command(home.path())
        .args(["pricing", "update", "--region", "eu-west-1", "--from", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot fetch {url}/offers/v1.0/aws/index.json"))
            && stderr.contains("--from DIR")
            && stderr.contains("HTTPS_PROXY"),
        "{stderr}"
    );
}

/// An air-gapped machine reads a copy of the Price List from a directory.
#[test]
fn an_update_reads_a_mirror_directory() {
    let mirror = Mirror::from_fixtures();
    let dir = tempfile::tempdir().unwrap();
    for (path, body) in mirror.files.lock().unwrap().iter() {
        let file = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }
    let home = tempfile::tempdir().unwrap();
    let output = tollgate_command(home.path())
        .args([
            "pricing",
            "update",
            "--region",
            "eu-west-1",
            "--service",
            "kms",
            "--from",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("read awskms eu-west-1"), "{stderr}");
    let imported = std::fs::read_to_string(home.path().join("pricing-imported.toml")).unwrap();
    assert!(
        imported
            .contains("id = \"kms/symmetric/request\"\nregion = \"eu-west-1\"\nusd = \"0.000003\""),
        "{imported}"
    );
}

/// The same eu-west-1 workload before and after `pricing update`: first priced at us-east-1
/// rates, marked `~`, with the command that fixes it; then priced from the eu-west-1 offers
/// exactly, with nothing estimated but DynamoDB's units (computed from item sizes behind
/// --upstream, as they must be).
#[tokio::test(flavor = "multi_thread")]
async fn a_workload_in_another_region_is_exact_after_an_update() {
    let mirror = Mirror::from_fixtures();
    let (url, ca) = serve(mirror).await;
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("tollgate-home");
    std::fs::create_dir_all(&home).unwrap();
    let ca = ca.write(scratch.path());
    let python = crate::moto::python_with_moto();
    let moto = crate::moto::Moto::start(&python, scratch.path());
    let workload = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/regional_workload.py");

    let db = scratch.path().join("history.db");
    let run = |name: &str| {
        let summary = scratch.path().join(format!("{name}.json"));
        let mut command = tollgate_command(&home);
        command
            .args(["run", "--db"])
            .arg(&db)
            .args(["--upstream", &moto.url()])
            .args(["--summary", "json", "--summary-file"])
            .arg(&summary)
            .arg("--")
            .arg(&python)
            .arg(&workload)
            .arg(name);
        crate::moto::dummy_aws_env(&mut command, scratch.path());
        let finished = crate::moto::run_bounded(
            command,
            scratch.path(),
            name,
            std::time::Duration::from_secs(120),
        );
        assert!(finished.status.success(), "{}", finished.describe());
        let summary = crate::moto::read_json(&summary, &finished.describe());
        (summary, finished.stderr)
    };
    let estimated = |summary: &Value| -> BTreeMap<String, u64> {
        summary["operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["estimated"].as_u64().unwrap() > 0)
            .map(|row| {
                (
                    format!(
                        "{} {}",
                        row["service"].as_str().unwrap(),
                        row["operation"].as_str().unwrap()
                    ),
                    row["estimated"].as_u64().unwrap(),
                )
            })
            .collect()
    };

    let (before, stderr) = tokio::task::block_in_place(|| run("before"));
    let borrowed = before["estimated_regions"]["eu-west-1"]
        .as_u64()
        .unwrap_or(0);
    assert!(borrowed >= 10, "{before:#}");
    assert!(
        stderr.contains(&format!(
            "~ {borrowed} calls priced at us-east-1 rates for want of their region's ({borrowed} in eu-west-1): `tollgate pricing update --region eu-west-1` makes them exact"
        )),
        "{stderr}"
    );
    assert!(
        estimated(&before).contains_key("s3 PutObject"),
        "{before:#}"
    );
    let status = || {
        let output = tollgate_command(&home)
            .args(["pricing", "status", "--db"])
            .arg(&db)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let before_status = status();
    assert!(
        before_status.contains("imported prices: none")
            && before_status.contains("eu-west-1: 17 calls (dynamodb, kms, s3, sqs)")
            && before_status
                .contains("`tollgate pricing update --region eu-west-1` makes them exact"),
        "{before_status}"
    );

    let output = tollgate_command(&home)
        .args([
            "pricing",
            "update",
            "--region",
            "eu-west-1",
            "--from",
            &url,
            "--ca",
        ])
        .arg(&ca)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    // The fixtures were published in July and August 2026: more than 90 days ago.
    let after_status = status();
    assert!(
        after_status
            .contains("AmazonS3 eu-west-1 version 20260701000000 (3 entries, published 2026-07-01")
            && after_status.contains("STALE")
            && after_status.contains("recorded runs: every region they called has its own prices")
            && after_status.contains("older than 90 days"),
        "{after_status}"
    );
    let (after, stderr) = tokio::task::block_in_place(|| run("after"));
    assert_eq!(after["estimated_regions"], json!({}), "{after:#}");
    assert!(!stderr.contains("us-east-1 rates"), "{stderr}");
    let left: Vec<String> = estimated(&after)
        .into_keys()
        .filter(|key| !key.starts_with("dynamodb "))
        .collect();
    assert!(left.is_empty(), "still estimated: {left:?}\n{after:#}");
    // Priced at the eu-west-1 offer: 3 PutObject at $0.0000054.
    let put = after["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["operation"] == "PutObject")
        .unwrap();
    assert_eq!(put["cost_usd"], "0.0000162", "{put:#}");

    // Re-pricing: the run recorded before the update, at today's prices beside its own. Its
    // 3 PutObject were $0.000015 at us-east-1 rates and are $0.0000162 at eu-west-1's.
    let tollgate_json = |args: &[&str]| -> (bool, Value) {
        let output = tollgate_command(&home)
            .args(args)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&output.stderr)));
        (output.status.success(), json)
    };
    let (ok, report) = tollgate_json(&["report", "--run", "1", "--reprice", "--format", "json"]);
    assert!(ok, "{report:#}");
    let repriced = &report["repriced"];
    assert_ne!(
        repriced["recorded_with"][0], repriced["today_table"],
        "{repriced:#}"
    );
    assert!(
        repriced["today_table"]
            .as_str()
            .unwrap()
            .contains("+imported."),
        "{repriced:#}"
    );
    assert_eq!(repriced["calls_kept"], 0, "{repriced:#}");
    assert!(
        repriced["calls_repriced"].as_u64().unwrap() >= borrowed,
        "{repriced:#}"
    );
    let repriced_put = repriced["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["operation"] == "PutObject")
        .unwrap_or_else(|| panic!("{repriced:#}"));
    assert_eq!(repriced_put["recorded_usd"], "0.000015", "{repriced:#}");
    assert_eq!(repriced_put["today_usd"], "0.0000162", "{repriced:#}");
    assert_eq!(repriced_put["change_usd"], "0.0000012", "{repriced:#}");
    let usd = |value: &Value| {
        value
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    assert_eq!(
        usd(&repriced["change_usd"]),
        usd(&repriced["today_usd"]) - usd(&repriced["recorded_usd"])
    );
    assert!(
        usd(&repriced["change_usd"]) > rust_decimal::Decimal::ZERO,
        "{repriced:#}"
    );
    // The table report shows both figures.
    let output = tollgate_command(&home)
        .args(["report", "--run", "1", "--reprice", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("Re-priced")
            && table.contains("s3 PutObject: 3 calls, $0.000015 → $0.0000162 (+$0.0000012)"),
        "{table}"
    );

    // The gate: the same workload before and after the price change. Prices alone moved the
    // baseline; the volume is the same, so the gate passes and says what prices did.
    let baseline = scratch.path().join("baseline.json");
    let output = tollgate_command(&home)
        .args(["baseline", "save", "--run", "1", "-o"])
        .arg(&baseline)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let (ok, gate) = tollgate_json(&[
        "gate",
        "--run",
        "2",
        "--baseline",
        baseline.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let change = &gate["price_change"];
    assert!(ok, "{gate:#}");
    assert_eq!(gate["verdict"], "pass", "{gate:#}");
    assert_eq!(change["verdict"], "pass", "{gate:#}");
    assert_eq!(change["operations_kept"], 0, "{gate:#}");
    assert!(
        usd(&change["change_usd"]) > rust_decimal::Decimal::ZERO,
        "{gate:#}"
    );
    // Volume: both sides at today's prices.
    assert_eq!(
        usd(&gate["totals"]["usd_before"]),
        usd(&change["today_usd"]),
        "{gate:#}"
    );
    assert_eq!(
        usd(&change["recorded_usd"]),
        usd(&repriced["recorded_usd"]),
        "the baseline at its own prices is the run as recorded: {gate:#}"
    );
    let put_change = gate["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["operation"] == "PutObject");
    assert!(
        put_change.is_none(),
        "the same PutObjects at the same prices: {gate:#}"
    );

    // A policy that fails on price changes fails this one (+6.4 %).
    std::fs::write(
        scratch.path().join("strict.toml"),
        "[gate]\nfail_on_price_change = true\nmin_usd_per_month = \"0\"\nwarn_percent = \"1\"\nfail_percent = \"5\"\n",
    )
    .unwrap();
    let (ok, gate) = tollgate_json(&[
        "gate",
        "--run",
        "2",
        "--baseline",
        baseline.to_str().unwrap(),
        "--pricing",
        scratch.path().join("strict.toml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(!ok, "{gate:#}");
    assert_eq!(gate["price_change"]["verdict"], "fail", "{gate:#}");
}
