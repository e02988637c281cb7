//! `tollgate run -- CMD`: profile one command's AWS calls, like `time` for API calls.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::error::Exit;
use super::proxy_setup::{self, ProxyArgs, Unrecorded};
use super::report::{FindingArgs, ReportFormat};
use crate::profile::sinks::SummaryReport;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    proxy: ProxyArgs,

    /// Be the command's AWS endpoint instead of its proxy: sets AWS_ENDPOINT_URL to a plain-HTTP
    /// listener on loopback (and adds 127.0.0.1 to NO_PROXY), and nothing else (no proxy, no CA). tollgate re-signs each request
    /// for the real AWS host (or --upstream) with the credentials the command uses, resolved from
    /// the same environment, profile and files. For clients that ignore HTTPS_PROXY or cannot
    /// trust a local CA; see README's "Endpoint mode".
    #[arg(long)]
    endpoint: bool,

    /// Print no summary or report (a --summary-file or --report-file is still written).
    #[arg(short, long)]
    quiet: bool,

    /// Format of the summary.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    summary: SummaryFormat,

    /// Write the live summary to FILE (with --summary json: for scripts). By default the run
    /// ends with the report read back from the database instead.
    #[arg(long, value_name = "FILE")]
    summary_file: Option<PathBuf>,

    /// Format of the report the run ends with, read back from the database (default: table).
    /// With --no-record, asking for a report (--report or --report-file) keeps the run in memory
    /// for it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    report: Option<ReportFormat>,

    /// Write the report to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    report_file: Option<PathBuf>,

    #[command(flatten)]
    findings: FindingArgs,

    /// The command to run, after `--`.
    // No `allow_hyphen_values`: a mistyped flag of tollgate's (`run --sumary json -- cmd`) is a
    // usage error, not a command named `--sumary` that cannot be found. Hyphens after the
    // command's name are the command's (`run aws s3 ls --recursive`).
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// Endpoint mode sets AWS_ENDPOINT_URL; these would take precedence over it, or switch it off,
/// and send the command's calls around tollgate: said before the command starts.
fn warn_if_endpoint_overridden(vars: impl Iterator<Item = (OsString, OsString)>) {
    let overriding: Vec<String> = vars
        .filter(|(_, value)| !value.is_empty())
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            name.starts_with("AWS_ENDPOINT_URL_") || name == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
        })
        .collect();
    if !overriding.is_empty() {
        say!(
            "tollgate: warning: {} set: the SDKs read {} before (or instead of) the \
             AWS_ENDPOINT_URL endpoint mode sets, so those calls go around tollgate; unset it \
             for this run",
            overriding.join(", "),
            if overriding.len() == 1 { "it" } else { "them" }
        );
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

pub async fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Before anything else: a supervisor's SIGTERM during start-up must not kill tollgate and
    // orphan the command.
    let mut signals = Signals::new()?;
    let recorded_command = std::iter::once("tollgate".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    // A report asked for is made even when nothing is recorded: from the run kept in memory.
    // --quiet silences the terminal, not a file asked for by name.
    let report_asked = args.report_file.is_some() || (!args.quiet && args.report.is_some());
    let setup = proxy_setup::start(
        &args.proxy,
        "127.0.0.1:0".parse().expect("literal"),
        args.endpoint
            .then(|| "127.0.0.1:0".parse().expect("literal")),
        "run",
        recorded_command,
        if report_asked {
            Unrecorded::KeptForReport
        } else {
            Unrecorded::Dropped
        },
    )
    .await?;
    let stats = setup.proxy.stats();
    let stop_proxy = CancellationToken::new();
    let mut server = tokio::spawn(setup.proxy.serve(stop_proxy.clone().cancelled_owned()));

    let no_proxy_bypass = warn_if_no_proxy_bypasses_aws();
    let node_preload = setup.client_env.node.is_some();
    let (program, program_args) = args.command.split_first().expect("clap requires CMD");
    let mut command = tokio::process::Command::new(program);
    let inherited = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    if args.endpoint {
        warn_if_endpoint_overridden(std::env::vars_os());
        command
            .args(program_args)
            .envs(setup.client_env.endpoint_child_vars(&inherited));
    } else {
        command
            .args(program_args)
            .envs(setup.client_env.child_vars(&inherited));
    }
    // In a terminal the command stays in tollgate's process group, so it can read the terminal
    // and gets Ctrl-C from it directly. Elsewhere it gets a group of its own: a supervisor that
    // signals tollgate's whole group (`timeout`, systemd) then reaches the command once, through
    // tollgate, instead of twice.
    let interactive = in_terminal_foreground();
    if !interactive {
        command.process_group(0);
    }
    let mut started_command = false;
    let exit = match command.spawn() {
        Ok(child) => {
            started_command = true;
            wait_forwarding_signals(child, &mut signals, interactive).await?
        }
        Err(error) => {
            // As `env`, `nice` and shells: 127 when the command is not found, 126 when it is
            // but cannot be executed (permissions, a directory, a bad interpreter...).
            let code = match error.kind() {
                ErrorKind::NotFound => Exit::NotFound,
                _ => Exit::CannotExecute,
            }
            .code();
            say!(
                "tollgate: cannot run '{}': {error}",
                program.to_string_lossy()
            );
            code
        }
    };

    // Let in-flight exchanges finish; a further signal cuts the wait short.
    stop_proxy.cancel();
    tokio::select! {
        result = &mut server => {
            if let Err(error) = result {
                say!("tollgate: warning: the proxy stopped with an error: {error}");
            }
        }
        _ = signals.next() => server.abort(),
    }
    let report = setup.summary.report(&stats, started.elapsed());
    let recorded = setup
        .recording
        .finish(Some(i32::from(exit)), report.aws_calls())
        .await;
    let thresholds = (args.proxy.pricing.sources()).and_then(|s| args.findings.thresholds(&s));
    let findings_kept = match thresholds {
        Ok(thresholds) => {
            super::run_findings::at_end(&setup.recording, &thresholds, setup.metrics.as_ref()).await
        }
        Err(error) => Some(format!("tollgate: warning: no findings: {error:#}")),
    };
    // The command's exit code matters more than any report: one that cannot be made or written
    // is a warning, not tollgate's exit code.
    let explicit_summary =
        args.summary_file.is_some() || matches!(args.summary, SummaryFormat::Json);
    let recorded_run = setup.recording.store();
    let summary_wanted = args.summary_file.is_some()
        || (!args.quiet && (explicit_summary || recorded_run.is_none()));
    if summary_wanted {
        if let Err(error) = write_summary(&report, args.summary, args.summary_file.as_ref()) {
            say!("tollgate: warning: {error:#}");
        }
    }
    if let Some((store, run_id)) = recorded_run {
        if args.report_file.is_some() || !args.quiet {
            if let Err(error) = write_report(&args, store, run_id).await {
                say!("tollgate: warning: no report: {error:#}");
            }
        }
    }
    // The database's report knows nothing of the proxy's own troubles (a client that rejected
    // tollgate's certificate): said here, with the fix, unless the text summary said it. Even
    // with --quiet: calls were lost.
    let text_summary_shown = summary_wanted
        && args.summary_file.is_none()
        && matches!(args.summary, SummaryFormat::Text);
    if !text_summary_shown {
        let warnings = report.render_end_notes();
        if !warnings.is_empty() {
            say!("{}", warnings.trim_end());
        }
    }
    if let Some(refusals) = &setup.endpoint_refusals {
        if refusals.count() > 0 {
            say!(
                "tollgate: warning: endpoint mode refused {} request{} (nothing was sent for \
                 them): {}",
                refusals.count(),
                if refusals.count() == 1 { "" } else { "s" },
                refusals.first_reason().unwrap_or_default()
            );
        }
    }
    if let Some(line) = recorded {
        // Where the run is matters even with --quiet when something was lost.
        if !args.quiet || line.contains("warning") {
            say!("{line}");
        }
    }
    if let Some(warning) = findings_kept {
        say!("{warning}");
    }
    // A run that nothing connected to is not "no AWS calls": most often they went around.
    if started_command
        && !args.quiet
        && stats.connections.load(std::sync::atomic::Ordering::Relaxed) == 0
        && args.endpoint
    {
        say!(
            "tollgate: nothing reached tollgate's endpoint ({}). The command's SDK may predate \
             AWS_ENDPOINT_URL (botocore 1.31, AWS CLI 1.29 / 2.13, JavaScript v3 3.4xx, Go v2 \
             2023-06, Rust 1.x read it), its code may set an endpoint of its own, or \
             AWS_IGNORE_CONFIGURED_ENDPOINT_URLS may be set; proxy mode (without --endpoint) \
             reaches those.",
            setup.client_env.endpoint_url.as_deref().unwrap_or_default()
        );
    } else if started_command
        && !args.quiet
        && stats.connections.load(std::sync::atomic::Ordering::Relaxed) == 0
    {
        let explanation = super::empty_run::explain(&super::empty_run::RunFacts {
            command: &args.command,
            node_preload,
            no_proxy_bypass,
            endpoint_vars: super::empty_run::endpoint_vars(std::env::vars_os()),
        });
        say!("{}", explanation.trim_end());
    }
    if let Some(metrics) = &setup.metrics {
        metrics.linger().await;
    }
    setup.recording.close().await;
    Ok(ExitCode::from(exit))
}

/// The signals `run` passes on to the command.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::SIGINT,
            _ = self.terminate.recv() => Signal::SIGTERM,
            _ = self.hangup.recv() => Signal::SIGHUP,
            _ = self.quit.recv() => Signal::SIGQUIT,
        }
    }
}

/// Waits for the child, passing on the signals a supervisor sends. Returns the exit code to
/// exit with: the child's own, or 128+N when signal N killed it.
async fn wait_forwarding_signals(
    mut child: tokio::process::Child,
    signals: &mut Signals,
    interactive: bool,
) -> anyhow::Result<u8> {
    let pid = child
        .id()
        .map(|id| Pid::from_raw(id as i32))
        .context("the child has no pid")?;
    let status = loop {
        let received = tokio::select! {
            status = child.wait() => break status?,
            received = signals.next() => received,
        };
        // A terminal delivers Ctrl-C and Ctrl-\ to its whole foreground group, the command
        // included: passing those on again would deliver them twice.
        let from_terminal = matches!(received, Signal::SIGINT | Signal::SIGQUIT);
        if !(interactive && from_terminal) {
            tracing::info!(signal = ?received, "forwarding to the command");
            let _ = kill(pid, received);
        }
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => 1,
    })
}

/// An inherited `NO_PROXY` that covers AWS hosts sends the calls around tollgate; it is kept (the
/// user set it), but said out loud, since the summary would otherwise just show no calls.
/// Returns the entries that cover AWS hosts.
fn warn_if_no_proxy_bypasses_aws() -> Vec<String> {
    for name in ["NO_PROXY", "no_proxy"] {
        let Ok(value) = std::env::var(name) else {
            continue;
        };
        let bypassed: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|entry| no_proxy_entry_covers_aws(entry))
            .collect();
        if !bypassed.is_empty() {
            say!(
                "tollgate: warning: {name}={value} sends calls to AWS hosts around the proxy \
                 (entries: {}); they will not be seen",
                bypassed.join(", ")
            );
            return bypassed.into_iter().map(str::to_string).collect();
        }
    }
    Vec::new()
}

fn no_proxy_entry_covers_aws(entry: &str) -> bool {
    if entry == "*" {
        return true;
    }
    let entry = entry.trim_start_matches('*').trim_start_matches('.');
    crate::aws::host::INTERCEPT_GLOBS
        .iter()
        .map(|glob| glob.trim_start_matches("*."))
        .any(|domain| {
            !entry.is_empty() && (domain == entry || domain.ends_with(&format!(".{entry}")))
        })
}

fn in_terminal_foreground() -> bool {
    // The controlling terminal, whatever stdin is: `tollgate run ... < input.txt` in a terminal
    // still gets Ctrl-C from it.
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return false;
    };
    match nix::unistd::tcgetpgrp(&tty) {
        Ok(foreground) => foreground == nix::unistd::getpgrp(),
        Err(_) => false,
    }
}

/// The run's report from the database, on stderr or in `--report-file`.
async fn write_report(
    args: &RunArgs,
    store: &dyn crate::store::RunStore,
    run_id: i64,
) -> anyhow::Result<()> {
    let sources = args.proxy.pricing.sources()?;
    let format = args.report.unwrap_or(ReportFormat::Table);
    let text =
        super::report::render(store, &[run_id], format, &args.findings, &sources, false).await?;
    match &args.report_file {
        Some(path) => crate::home::write_output(path, text.as_bytes())
            .with_context(|| format!("cannot write the report to {}", path.display())),
        None => {
            use std::io::Write;
            // Like the summary: a closed stderr must not cost the command's exit code.
            let _ = std::io::stderr().write_all(text.as_bytes());
            Ok(())
        }
    }
}

fn write_summary(
    report: &SummaryReport,
    format: SummaryFormat,
    file: Option<&PathBuf>,
) -> anyhow::Result<()> {
    let text = match format {
        SummaryFormat::Text => report.render_text(),
        SummaryFormat::Json => serde_json::to_string_pretty(report)? + "\n",
    };
    match file {
        Some(path) => crate::home::write_output(path, text.as_bytes())
            .with_context(|| format!("cannot write the summary to {}", path.display())),
        None => {
            use std::io::Write;
            // A closed stderr (a pipe whose reader left) is not worth failing over.
            let _ = std::io::stderr().write_all(text.as_bytes());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_entries_that_cover_aws() {
        for entry in [
            ".amazonaws.com",
            "amazonaws.com",
            "*.amazonaws.com",
            "api.aws",
            "com",
            "*",
        ] {
            assert!(no_proxy_entry_covers_aws(entry), "{entry}");
        }
        for entry in [
            "localhost",
            "s3.amazonaws.com",
            "internal.example",
            "",
            "127.0.0.1",
        ] {
            assert!(!no_proxy_entry_covers_aws(entry), "{entry}");
        }
    }
}
