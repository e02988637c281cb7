//! `tollgate serve`: the proxy on a fixed port, for clients configured by hand.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{signal, SignalKind};

use super::proxy_setup::{self, ProxyArgs};
use crate::home;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    proxy: ProxyArgs,

    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8877")]
    listen: SocketAddr,

    /// Also listen on ADDR as clients' AWS endpoint (plain HTTP; clients set
    /// AWS_ENDPOINT_URL=http://ADDR), re-signing each request for the real AWS host with the
    /// credentials tollgate resolves from its own environment (see README's "Endpoint mode").
    #[arg(long, value_name = "ADDR")]
    endpoint_listen: Option<SocketAddr>,

    /// Allow listening on a non-loopback address. Anyone who can reach it can then use the proxy.
    #[arg(long)]
    allow_remote: bool,

    /// Print no summary at exit.
    #[arg(short, long)]
    quiet: bool,
}

/// What `tollgate env` reads to find a running `serve`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServeState {
    pub pid: u32,
    pub listen: SocketAddr,
    pub bundle: std::path::PathBuf,
    /// The Node preload `tollgate env` exports (none from a serve that ran without it).
    #[serde(default)]
    pub node_preload: Option<super::node_preload::NodePreload>,
    /// The Python call-site bootstrap `tollgate env` puts on PYTHONPATH (none with
    /// `--no-callsites`).
    #[serde(default)]
    pub python_callsites: Option<super::python_callsites::PythonCallsites>,
    /// Endpoint mode's address (`--endpoint-listen`), for `tollgate env --endpoint`.
    #[serde(default)]
    pub endpoint: Option<SocketAddr>,
}

pub const STATE_FILE: &str = "serve.json";

pub async fn execute(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(endpoint) = args.endpoint_listen {
        // An endpoint signs with tollgate's own credentials: never for other machines.
        if !endpoint.ip().is_loopback() {
            bail!(
                "--endpoint-listen {endpoint} is not a loopback address: endpoint mode re-signs \
                 requests with the credentials tollgate holds, so it listens on loopback only"
            );
        }
    }
    if !args.listen.ip().is_loopback() {
        if !args.allow_remote {
            bail!(
                "--listen {} is not a loopback address; anyone who can reach it could use the \
                 proxy. Pass --allow-remote if that is what you want",
                args.listen
            );
        }
        eprintln!(
            "tollgate: warning: listening on {}, reachable from other machines",
            args.listen
        );
    }
    let started = Instant::now();
    // Before the exports are printed: a supervisor that reads them and stops tollgate at once
    // must reach these handlers (and the run's end), not the default action that kills it.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let command = std::iter::once("tollgate".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    let setup = proxy_setup::start(
        &args.proxy,
        args.listen,
        args.endpoint_listen,
        "serve",
        command,
        proxy_setup::Unrecorded::Dropped,
    )
    .await?;
    let addr = setup.proxy.local_addr();
    let stats = setup.proxy.stats();

    let state_path = home::data_dir()?.join(STATE_FILE);
    let state = ServeState {
        pid: std::process::id(),
        listen: addr,
        bundle: setup.client_env.bundle.clone(),
        node_preload: setup.client_env.node.clone(),
        python_callsites: setup.client_env.python.clone(),
        endpoint: setup.proxy.endpoint_addr(),
    };
    home::write_atomically(&state_path, &serde_json::to_vec_pretty(&state)?, 0o600)
        .with_context(|| format!("cannot write {}", state_path.display()))?;

    eprintln!("tollgate: proxy listening on {addr}; point clients at it with these exports (or `eval \"$(tollgate env)\"`):");
    // The proxy serves on when nobody reads the exports.
    let _ = super::print(&setup.client_env.shell_exports());
    if let Some(url) = &setup.client_env.endpoint_url {
        eprintln!(
            "tollgate: endpoint listening on {url}; for clients that cannot use the proxy: \
             export AWS_ENDPOINT_URL={url} (or `eval \"$(tollgate env --endpoint)\"`)"
        );
    }

    // As a report with no --ignore-finding would find them.
    let thresholds = (args.proxy.pricing.sources())
        .and_then(|s| crate::findings::Thresholds::load(s.overlay.as_deref()));
    let counting = thresholds.as_ref().ok().and_then(|thresholds| {
        super::run_findings::while_serving(
            &setup.recording,
            thresholds.clone(),
            setup.metrics.as_ref(),
        )
    });
    let shutdown = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("tollgate: shutting down");
    };
    let refusals = setup.endpoint_refusals.clone();
    setup.proxy.serve(shutdown).await;
    // Only remove the state if it is still ours: another serve may have started since.
    if let Ok(bytes) = std::fs::read(&state_path) {
        if serde_json::from_slice::<ServeState>(&bytes).is_ok_and(|s| s.pid == state.pid) {
            let _ = std::fs::remove_file(&state_path);
        }
    }
    let report = setup.summary.report(&stats, started.elapsed());
    let recorded = setup.recording.finish(None, report.aws_calls()).await;
    if let Some(counting) = counting {
        counting.abort();
    }
    let findings_kept = match &thresholds {
        Ok(thresholds) => {
            super::run_findings::at_end(&setup.recording, thresholds, setup.metrics.as_ref()).await
        }
        Err(error) => Some(format!("tollgate: warning: no findings: {error:#}")),
    };
    if !args.quiet {
        eprint!("{}", report.render_text());
    }
    if let Some(refusals) = refusals.filter(|refusals| refusals.count() > 0) {
        eprintln!(
            "tollgate: warning: endpoint mode refused {} requests (nothing was sent for them); \
             the first: {}",
            refusals.count(),
            refusals.first_reason().unwrap_or_default()
        );
    }
    if let Some(line) = recorded {
        eprintln!("{line}");
    }
    if let Some(warning) = findings_kept {
        eprintln!("{warning}");
    }
    if let Some(metrics) = &setup.metrics {
        metrics.linger().await;
    }
    setup.recording.close().await;
    Ok(ExitCode::SUCCESS)
}
