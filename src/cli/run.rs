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

use super::proxy_setup::{self, ProxyArgs};
use crate::summary::SummaryReport;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    proxy: ProxyArgs,

    /// Print no summary.
    #[arg(short, long)]
    quiet: bool,

    /// Format of the summary.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    summary: SummaryFormat,

    /// Write the summary to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    summary_file: Option<PathBuf>,

    /// The command to run, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

/// Shells use 127 for a command that cannot be found and 126 for one that cannot be executed.
const EXIT_NOT_FOUND: u8 = 127;
const EXIT_NOT_EXECUTABLE: u8 = 126;

pub async fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let setup = proxy_setup::start(&args.proxy, "127.0.0.1:0".parse().expect("literal")).await?;
    let stats = setup.proxy.stats();
    let stop_proxy = CancellationToken::new();
    let server = tokio::spawn(setup.proxy.serve(stop_proxy.clone().cancelled_owned()));

    warn_if_no_proxy_bypasses_aws();
    let (program, program_args) = args.command.split_first().expect("clap requires CMD");
    let mut command = tokio::process::Command::new(program);
    command.args(program_args).envs(setup.client_env.vars());
    let exit = match command.spawn() {
        Ok(child) => wait_forwarding_signals(child).await?,
        Err(error) => {
            let code = match error.kind() {
                ErrorKind::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_NOT_EXECUTABLE,
            };
            eprintln!(
                "tollgate: cannot run '{}': {error}",
                program.to_string_lossy()
            );
            code
        }
    };

    stop_proxy.cancel();
    server.await.context("the proxy task failed")?;
    if !args.quiet {
        let report = setup.summary.report(&stats, started.elapsed());
        write_summary(&report, args.summary, args.summary_file.as_ref())?;
    }
    Ok(ExitCode::from(exit))
}

/// Waits for the child, passing on the signals a supervisor sends. Returns the exit code to
/// exit with: the child's own, or 128+N when signal N killed it.
async fn wait_forwarding_signals(mut child: tokio::process::Child) -> anyhow::Result<u8> {
    let pid = child
        .id()
        .map(|id| Pid::from_raw(id as i32))
        .context("the child has no pid")?;
    // A terminal delivers Ctrl-C and Ctrl-\ to the whole foreground process group, the child
    // included: forwarding those again would deliver them twice.
    let terminal_signals_reach_child = in_terminal_foreground();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut quit = signal(SignalKind::quit())?;
    let status = loop {
        let forward = tokio::select! {
            status = child.wait() => break status?,
            _ = interrupt.recv() => (!terminal_signals_reach_child).then_some(Signal::SIGINT),
            _ = quit.recv() => (!terminal_signals_reach_child).then_some(Signal::SIGQUIT),
            _ = terminate.recv() => Some(Signal::SIGTERM),
            _ = hangup.recv() => Some(Signal::SIGHUP),
        };
        if let Some(signal) = forward {
            tracing::info!(?signal, "forwarding to the command");
            let _ = kill(pid, signal);
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
fn warn_if_no_proxy_bypasses_aws() {
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
            eprintln!(
                "tollgate: warning: {name}={value} sends calls to AWS hosts around the proxy \
                 (entries: {}); they will not be seen",
                bypassed.join(", ")
            );
            return;
        }
    }
}

fn no_proxy_entry_covers_aws(entry: &str) -> bool {
    if entry == "*" {
        return true;
    }
    let entry = entry.trim_start_matches('*').trim_start_matches('.');
    crate::proxy::DEFAULT_INTERCEPT
        .iter()
        .map(|glob| glob.trim_start_matches("*."))
        .any(|domain| {
            !entry.is_empty() && (domain == entry || domain.ends_with(&format!(".{entry}")))
        })
}

fn in_terminal_foreground() -> bool {
    let stdin = std::io::stdin();
    match nix::unistd::tcgetpgrp(&stdin) {
        Ok(foreground) => foreground == nix::unistd::getpgrp(),
        Err(_) => false,
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
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the summary to {}", path.display())),
        None => {
            eprint!("{text}");
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
