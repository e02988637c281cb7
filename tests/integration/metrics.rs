//! Live metrics (`--metrics`, issue 17) against a real Prometheus: Debian's `prometheus` scrapes
//! `tollgate run --metrics` every second while a real boto3 workload runs through it against a
//! real moto. The scraped counters must equal the workload's own count of its HTTP attempts per
//! operation, and its cost the run summary's exact amounts; every PromQL expression of the live
//! dashboard and of the alert rules must evaluate, through Prometheus's HTTP API, to data; and
//! `promtool` must accept the scraped text and the rules.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::hermetic_command;
use crate::moto::{free_port, python_with_moto, read_json, tollgate_run, Moto, MANIFEST_DIR};

/// Where Debian's `prometheus` package puts its programs.
const PROMETHEUS_DIR: &str = "/usr/bin";
/// How long the workload, and each wait on Prometheus, may take.
const LIMIT: Duration = Duration::from_secs(120);

/// `prometheus` and `promtool`: from TOLLGATE_TEST_PROMETHEUS_DIR, else Debian's. Missing, the
/// test fails saying how to install them, unless TOLLGATE_SKIP_PROMETHEUS_TESTS=1 skips it
/// (loudly), as the browser test does with Chromium.
fn prometheus_programs() -> Option<(PathBuf, PathBuf)> {
    if std::env::var("TOLLGATE_SKIP_PROMETHEUS_TESTS").is_ok_and(|v| v == "1") {
        let _ = writeln!(
            std::io::stderr(),
            "\n{bar}\nSKIPPED: the live metrics test against Prometheus \
             (TOLLGATE_SKIP_PROMETHEUS_TESTS=1).\nThe metrics and dashboards were NOT checked.\n\
             {bar}\n",
            bar = "!".repeat(78)
        );
        return None;
    }
    let dir = std::env::var_os("TOLLGATE_TEST_PROMETHEUS_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(PROMETHEUS_DIR), PathBuf::from);
    let programs = (dir.join("prometheus"), dir.join("promtool"));
    for program in [&programs.0, &programs.1] {
        assert!(
            program.is_file(),
            "the live metrics test needs Prometheus's {} at {}: run scripts/install-test-deps.sh \
             (as root: it installs Debian's prometheus), point TOLLGATE_TEST_PROMETHEUS_DIR at a \
             folder with prometheus and promtool, or set TOLLGATE_SKIP_PROMETHEUS_TESTS=1 to skip \
             this test",
            program.file_name().unwrap().to_string_lossy(),
            program.display()
        );
    }
    Some(programs)
}

/// A GET over HTTP/1.0 (no chunking, the server closes): (status, body).
fn http_get(
    addr: SocketAddr,
    target: &str,
    accept: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let accept = accept.map_or(String::new(), |accept| format!("Accept: {accept}\r\n"));
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {addr}\r\n{accept}\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus on a free loopback port, with its data under `scratch`; killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Prometheus {
    fn start(program: &Path, scratch: &Path, target: SocketAddr, rules: &Path) -> Self {
        let config = scratch.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: tollgate\n    static_configs:\n      \
                 - targets: ['{target}']\n",
                rules = rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = scratch.join("prometheus.log");
        let child = hermetic_command(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                scratch.join("prometheus-data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(scratch)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(scratch.join("prometheus.stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        let mut prometheus = Self { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = prometheus.child.try_wait().unwrap() {
                panic!(
                    "prometheus exited ({status}) before it was ready\n{}",
                    prometheus.log()
                );
            }
            if matches!(http_get(addr, "/-/ready", None), Ok((200, _))) {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus was not ready within a minute\n{}",
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        let stderr = self.log.with_file_name("prometheus.stderr");
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- prometheus log ---\n{}",
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }

    fn api(&self, target: &str) -> Value {
        let (status, body) = http_get(self.addr, target, None)
            .unwrap_or_else(|error| panic!("GET {target} from prometheus: {error}"));
        let value: Value = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("GET {target}: {status} {error}: {body}"));
        value
    }

    /// Evaluates `expr` now: the API's whole answer.
    fn query(&self, expr: &str) -> Value {
        self.api(&format!("/api/v1/query?query={}", percent_encode(expr)))
    }

    /// `expr`'s samples, by the values of `labels`; fails on an error.
    fn samples(&self, expr: &str, labels: &[&str]) -> BTreeMap<String, f64> {
        let answer = self.query(expr);
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
        answer["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{expr}: not a vector: {answer}"))
            .iter()
            .map(|sample| {
                let key = labels
                    .iter()
                    .map(|label| sample["metric"][label].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                let value: f64 = sample["value"][1].as_str().unwrap().parse().unwrap();
                (key, value)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every PromQL expression of a Grafana dashboard: its panels' targets, rows' panels included.
fn dashboard_expressions(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    let title = panel["title"].as_str().unwrap_or("?").to_string();
                    out.push((title, expr.to_string()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// A dashboard expression as Grafana would send it: its variables given values (every service;
/// a minute's rate window, which covers the whole workload; a five-minute range).
fn as_grafana_sends_it(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$service", ".*")
}

fn run_promtool(promtool: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = hermetic_command(promtool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {args:?} failed ({}):\n{said}",
        output.status
    );
    said
}

#[test]
fn prometheus_scrapes_the_workloads_counts_and_every_dashboard_query_has_data() {
    let Some((prometheus_program, promtool)) = prometheus_programs() else {
        return;
    };
    let python = python_with_moto();
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let moto = Moto::start(&python, scratch);
    let dashboards = Path::new(MANIFEST_DIR).join("dashboards");
    let rules = dashboards.join("alerts.yml");

    let metrics_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let prometheus = Prometheus::start(&prometheus_program, scratch, metrics_addr, &rules);

    // Prometheus hands new targets to its scrapers every few seconds: the workload starts once
    // tollgate's address is being scraped (and found down), so that its scrapes see it all.
    let deadline = Instant::now() + LIMIT;
    loop {
        let answer = prometheus.api("/api/v1/targets");
        let targets = answer["data"]["activeTargets"].as_array().cloned();
        if targets.is_some_and(|t| t.iter().any(|target| target["health"] != "unknown")) {
            break;
        }
        assert!(Instant::now() < deadline, "no scrape began: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let truth_path = scratch.join("truth.json");
    let release = scratch.join("release");
    let summary_path = scratch.join("summary.json");
    let mut command = tollgate_run(
        scratch,
        Some(&moto.url()),
        &summary_path,
        &python,
        [
            Path::new(MANIFEST_DIR)
                .join("tests/e2e/metrics_workload.py")
                .as_os_str(),
            truth_path.as_os_str(),
            release.as_os_str(),
        ],
    );
    // Through the environment, as a CI job would set it; the database of its own.
    // Lingering at its end until a scrape saw its last numbers: the findings are counted then.
    command
        .env("TOLLGATE_METRICS", metrics_addr.to_string())
        .env("TOLLGATE_METRICS_LINGER", LIMIT.as_secs().to_string())
        .env("TOLLGATE_DB", scratch.join("runs.db"));
    let stderr_path = scratch.join("tollgate.stderr");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let tollgate_log = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let child_guard = scopeguard(&mut child);

    // The workload's own count of its HTTP attempts, once it is done.
    let deadline = Instant::now() + LIMIT;
    while !truth_path.exists() {
        if let Some(status) = child_guard.0.try_wait().unwrap() {
            panic!(
                "tollgate run ended ({status}) before the workload was done\n{}\n{}",
                tollgate_log(),
                moto.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the workload took too long\n{}",
            tollgate_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let truth = read_json(&truth_path, "the workload's ground truth");
    let expected: BTreeMap<String, f64> = truth["attempts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, count)| (key.clone(), count.as_f64().unwrap()))
        .collect();
    assert!(expected.len() >= 10, "{truth}");

    // Prometheus's latest scrape counts every attempt, per operation.
    let calls_expr = "sum by (service, operation) (tollgate_calls_total)";
    let deadline = Instant::now() + LIMIT;
    let scraped = loop {
        let scraped = prometheus.samples(calls_expr, &["service", "operation"]);
        if scraped == expected {
            break scraped;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus's counts never matched the workload's\nscraped:  {scraped:?}\n\
             expected: {expected:?}\n{}\n{}",
            tollgate_log(),
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(scraped, expected);
    // A few more scrapes, so that every rate has samples after the workload's last calls.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        prometheus.samples("up{job=\"tollgate\"}", &["job"]),
        BTreeMap::from([("tollgate".to_string(), 1.0)])
    );

    // The workload's errors (a HeadObject of a missing key each round), pages and loops.
    let by_op = |expr: &str| prometheus.samples(expr, &["service", "operation"]);
    let head = expected["s3 HeadObject"];
    let errors = by_op("sum by (service, operation) (tollgate_errors_total) > 0");
    assert_eq!(
        errors,
        BTreeMap::from([("s3 HeadObject".to_string(), head)])
    );
    let listing = "s3 ListObjectsV2".to_string();
    let pages = truth["pages"].as_f64().unwrap();
    assert_eq!(
        by_op("sum by (service, operation) (tollgate_paginator_pages_total)"),
        BTreeMap::from([(listing.clone(), pages)])
    );
    assert_eq!(
        by_op("sum by (service, operation) (tollgate_paginator_loop_pages_total)"),
        BTreeMap::from([(listing.clone(), pages)])
    );
    let loops = truth["loops"].as_f64().unwrap();
    assert_eq!(
        by_op("sum by (service, operation) (tollgate_paginator_loops_total)"),
        BTreeMap::from([(listing, loops)])
    );
    // The recorder kept up: nothing lost, nothing waiting, every call written.
    let recorder = |name: &str| prometheus.samples(name, &[]).get("").copied();
    assert_eq!(recorder("tollgate_recorder_lost_calls_total"), Some(0.0));
    assert_eq!(recorder("tollgate_recorder_queue_depth"), Some(0.0));
    assert_eq!(
        recorder("tollgate_recorder_recorded_calls_total"),
        Some(expected.values().sum::<f64>())
    );

    // Every query of the live dashboard returns data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(dashboards.join("tollgate-live.json")).unwrap(),
    )
    .unwrap();
    let expressions = dashboard_expressions(&dashboard);
    assert!(expressions.len() >= 20, "{expressions:?}");
    let mut failures = Vec::new();
    for (panel, expr) in &expressions {
        let sent = as_grafana_sends_it(expr);
        let answer = prometheus.query(&sent);
        let result = &answer["data"]["result"];
        if answer["status"] != "success" || result.as_array().is_none_or(|r| r.is_empty()) {
            failures.push(format!("{panel}: {sent}\n  -> {answer}"));
        }
    }
    // A cost panel shows a cost: the workload's calls are priced.
    let cost_rate = prometheus.samples("sum(rate(tollgate_cost_usd_total[1m])) * 3600", &[]);
    assert!(
        cost_rate[""] > 0.0,
        "{cost_rate:?}\n{}",
        prometheus.query("tollgate_cost_usd_total{operation=\"PutObject\"}[1m]"),
    );

    // Every alert rule loads and evaluates in Prometheus, and its quantity (the expression
    // without its threshold) returns data.
    let deadline = Instant::now() + LIMIT;
    let loaded = loop {
        let answer = prometheus.api("/api/v1/rules");
        let rules: Vec<Value> = answer["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if !rules.is_empty() && rules.iter().all(|rule| rule["health"] != "unknown") {
            break rules;
        }
        assert!(
            Instant::now() < deadline,
            "the rules were never evaluated: {answer}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(loaded.len(), 4, "{loaded:?}");
    for rule in &loaded {
        let name = rule["name"].as_str().unwrap();
        let query = rule["query"].as_str().unwrap();
        if rule["health"] != "ok" {
            failures.push(format!(
                "rule {name}: {} {}",
                rule["health"], rule["lastError"]
            ));
        }
        let (quantity, threshold) = query
            .rsplit_once(" > ")
            .unwrap_or_else(|| panic!("rule {name} is not `<quantity> > <threshold>`: {query}"));
        assert!(threshold.trim().parse::<f64>().is_ok(), "{name}: {query}");
        let answer = prometheus.query(quantity);
        if answer["status"] != "success"
            || answer["data"]["result"]
                .as_array()
                .is_none_or(|r| r.is_empty())
        {
            failures.push(format!("rule {name}: {quantity}\n  -> {answer}"));
        }
    }
    assert!(
        failures.is_empty(),
        "queries without data or in error:\n{}",
        failures.join("\n")
    );

    // promtool accepts what tollgate serves, and the rules.
    let (status, plain) = http_get(metrics_addr, "/metrics", None).unwrap();
    assert_eq!(status, 200, "{plain}");
    run_promtool(&promtool, &["check", "metrics"], Some(&plain));
    let (status, open) = http_get(
        metrics_addr,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(open.ends_with("# EOF\n"), "{open}");
    run_promtool(
        &promtool,
        &["check", "rules", &rules.to_string_lossy()],
        None,
    );
    // No label holds a bucket, table or queue name, or a key.
    for secret in ["tollgate-metrics-", "data/", "AKID", "item-"] {
        assert!(!plain.contains(secret), "{secret} in the metrics:\n{plain}");
    }

    // The run ends; its summary's exact costs are what Prometheus added up per operation.
    std::fs::write(&release, b"").unwrap();
    let status = crate::common::wait_timeout(child_guard.0, LIMIT);
    assert_eq!(status, Some(0), "{}", tollgate_log());
    let summary = read_json(&summary_path, "the run summary");
    let cost = prometheus.samples(
        "sum by (service, operation) (tollgate_cost_usd_total)",
        &["service", "operation"],
    );
    let mut priced = 0;
    for row in summary["operations"].as_array().unwrap() {
        let key = format!(
            "{} {}",
            row["service"].as_str().unwrap(),
            row["operation"].as_str().unwrap()
        );
        // Exact decimal strings, published to 9 places: each is within half a nano-dollar.
        let exact: f64 = ["cost_usd", "transfer_usd", "implied_usd"]
            .iter()
            .map(|field| {
                let text = row[field]
                    .as_str()
                    .unwrap_or_else(|| panic!("{field}: {row}"));
                text.parse::<f64>().unwrap()
            })
            .sum();
        let scraped = cost.get(&key).copied().unwrap_or(f64::NAN);
        assert!(
            (scraped - exact).abs() <= 2e-9 + exact * 1e-9,
            "{key}: Prometheus {scraped}, summary {exact}\n{row}"
        );
        if exact > 0.0 {
            priced += 1;
        }
        assert_eq!(
            row["attempts"].as_f64(),
            expected.get(&key).copied(),
            "{key}: the summary and the workload disagree"
        );
    }
    assert!(priced >= 5, "{cost:?}");

    // The findings raised, as Prometheus scraped them from the run before it exited, are the
    // run's report's findings, rule by rule and service by service.
    let (code, report, stderr) = crate::common::tollgate(
        &scratch.join("tollgate-home"),
        &[
            "report",
            "--db",
            &scratch.join("runs.db").to_string_lossy(),
            "--last",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&report).unwrap();
    let found = report["findings"].as_array().unwrap();
    let mut reported: BTreeMap<String, f64> = BTreeMap::new();
    for finding in found {
        let key = format!(
            "{} {}",
            finding["rule"].as_str().unwrap(),
            finding["evidence"]["service"].as_str().unwrap()
        );
        *reported.entry(key).or_default() += 1.0;
    }
    assert!(
        reported.len() >= 2,
        "the workload raises findings: {report:#}"
    );
    // Stale since the process exited: the last value scraped.
    let raised = prometheus.samples(
        "sum by (rule, service) (last_over_time(tollgate_findings_raised_total[5m]))",
        &["rule", "service"],
    );
    assert_eq!(raised, reported, "{}", tollgate_log());

    // And the run's history keeps them, in the report's order, with its exact savings.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let kept = runtime.block_on(async {
        use tollgate::store::RunStore;
        let store = tollgate::store::SqliteStore::open(&scratch.join("runs.db"))
            .await
            .unwrap();
        let run = report["runs"][0]["id"].as_i64().unwrap();
        let kept = store.findings(&[run]).await.unwrap();
        store.close().await;
        kept
    });
    assert_eq!(kept.len(), found.len());
    for (kept, finding) in kept.iter().zip(found) {
        assert_eq!(kept.id, finding["id"].as_str().unwrap());
        assert_eq!(kept.rule, finding["rule"].as_str().unwrap());
        assert_eq!(Some(kept.calls), finding["evidence"]["calls"].as_u64());
        // The report publishes money to 9 places; the history keeps it exact.
        assert_eq!(
            kept.saving
                .map(|(_, usd)| tollgate::record::Usd(usd).published()),
            finding["saving"]["usd"].as_str().map(str::to_string),
            "{finding}"
        );
        assert_eq!(
            kept.saving.map(|(calls, _)| calls),
            finding["saving"]["calls"].as_u64(),
            "{finding}"
        );
    }
    drop(child_guard);
    drop(prometheus);
}

/// Kills the child if the test fails before it ends.
struct ChildGuard<'a>(&'a mut Child);

fn scopeguard(child: &mut Child) -> ChildGuard<'_> {
    ChildGuard(child)
}

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_metrics_address_that_is_taken_stops_serve_before_it_starts() {
    let home = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stdout, stderr) = crate::common::tollgate(
        home.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-record",
            "--metrics",
            &addr,
        ],
    );
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("--metrics {addr}: cannot listen")),
        "{stderr}"
    );
    // Nothing was started: no exports for clients to use.
    assert!(!stdout.contains("HTTPS_PROXY"), "{stdout}");
}
