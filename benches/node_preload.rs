//! What tollgate's Node preload (`src/cli/node-preload.cjs`) costs a Node program:
//! `cargo bench --bench node_preload [-- --quick]`.
//!
//! * per start: `node -e 0` with and without `--require <preload>` (and the variables `tollgate
//!   run` sets, so the preload does all its set-up), in interleaved rounds so that other load
//!   falls on both alike; medians of wall time.
//! * per call, for a host it does not route: a Node script makes N plain HTTP requests over a
//!   keep-alive agent to a server of its own on 127.0.0.1, timed inside the script, with and
//!   without the preload: what its wrapper of `http.Agent.prototype.addRequest` adds to every
//!   call that is left alone. (A routed call's cost is the proxy's: `benches/proxy.rs`.)
//!
//! `NODE=/path/to/node` picks the Node binary (default: `node` on PATH).

#[allow(dead_code)] // each bench uses its own subset
mod common;
use common::{machine, median};

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const PRELOAD: &str = include_str!("../src/cli/node-preload.cjs");

/// N plain HTTP requests to a server in the same process; prints the nanoseconds per request.
const CALLS_SCRIPT: &str = r#"
const http = require('http');
const n = Number(process.argv[1]);
const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const port = server.address().port;
  const get = () => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
  });
  for (let i = 0; i < 200; i++) await get();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await get();
  const ns = Number(process.hrtime.bigint() - start) / n;
  console.log(ns.toFixed(0));
  agent.destroy();
  server.close();
});
"#;

fn node() -> PathBuf {
    std::env::var_os("NODE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

fn command(node: &Path, preload: Option<&Path>) -> Command {
    let mut command = Command::new(node);
    command
        .env_remove("NODE_OPTIONS")
        .env_remove("NODE_USE_ENV_PROXY")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(preload) = preload {
        command
            .arg("--require")
            .arg(preload)
            .env("TOLLGATE_NODE_PROXY", "http://127.0.0.1:9")
            .env(
                "TOLLGATE_NODE_HOSTS",
                "*.amazonaws.com,*.amazonaws.com.cn,*.api.aws",
            );
    }
    command
}

fn main() -> ExitCode {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (starts, call_runs, calls) = if quick {
        (20, 3, 2_000)
    } else {
        (100, 7, 10_000)
    };
    let node = node();
    let version = match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            eprintln!(
                "node_preload bench: cannot run {} (set NODE=/path/to/node)",
                node.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let preload = dir.path().join("node-preload.cjs");
    std::fs::write(&preload, PRELOAD).expect("write the preload");
    let (cpu, cores) = machine();
    println!("Node preload cost: node {version}, {cpu}, {cores} cores");

    // Per start: interleaved, so both see the same machine.
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for round in 0..starts {
        for preloaded in [round % 2 == 0, round % 2 != 0] {
            let started = Instant::now();
            let status = command(&node, preloaded.then_some(preload.as_path()))
                .args(["-e", "0"])
                .stdout(Stdio::null())
                .status()
                .expect("run node");
            assert!(status.success(), "node -e 0 failed");
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if preloaded { &mut with } else { &mut plain }.push(ms);
        }
    }
    let (plain_ms, with_ms) = (median(&mut plain), median(&mut with));
    println!(
        "per start (`node -e 0`, median of {starts}): {plain_ms:.1} ms without, {with_ms:.1} ms \
         with the preload: +{:.1} ms, x{:.3}",
        with_ms - plain_ms,
        with_ms / plain_ms
    );

    // Per call to a host the preload leaves alone.
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for round in 0..call_runs {
        for preloaded in [round % 2 == 0, round % 2 != 0] {
            let out = command(&node, preloaded.then_some(preload.as_path()))
                .args(["-e", CALLS_SCRIPT, &calls.to_string()])
                .output()
                .expect("run node");
            assert!(out.status.success(), "the calls script failed");
            let ns: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("ns per call");
            if preloaded { &mut with } else { &mut plain }.push(ns);
        }
    }
    let (plain_us, with_us) = (median(&mut plain) / 1e3, median(&mut with) / 1e3);
    println!(
        "per call to a host not routed (keep-alive HTTP on 127.0.0.1, median of {call_runs} runs \
         of {calls}): {plain_us:.1} us without, {with_us:.1} us with: {:+.2} us, x{:.3}",
        with_us - plain_us,
        with_us / plain_us
    );
    ExitCode::SUCCESS
}
