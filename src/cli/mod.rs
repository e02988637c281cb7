//! The command line: clap types here, one file per subcommand.

/// `eprintln!` that cannot panic: a stderr nobody reads any more (`tollgate run -- cmd 2>&1 |
/// head -1`) must not turn the exit code into a panic's 101.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod baseline;
mod ca;
mod client_env;
mod empty_run;
mod env;
pub mod error;
mod gate;
mod history_arg;
mod imported_prices;
mod model;
mod node_preload;
mod price_sources;
pub(crate) mod pricing;
mod pricing_status;
mod pricing_update;
mod proxy_setup;
mod prune;
mod push;
mod python_callsites;
mod report;
mod run;
mod run_findings;
mod run_meta;
mod runs;
mod serve;
mod weekly;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::{CliError, Exit};

/// `0.1.0 (AWS API model from botocore 1.44.8)`: what was built, and which API definitions it knows.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        format!(
            "{} (AWS API model from botocore {})",
            env!("CARGO_PKG_VERSION"),
            crate::aws::model::Model::embedded_botocore_version()
        )
    })
}

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version = version(),
    about = "A local HTTPS proxy that shows what your AWS API calls cost",
    long_about = None,
    after_help = error::EXIT_CODES_HELP,
)]
struct Cli {
    /// More log output on stderr: -v info, -vv debug. TOLLGATE_LOG=<filter> sets the filter
    /// instead, or else RUST_LOG (e.g. RUST_LOG=tollgate=debug).
    ///
    /// Filters use tracing's syntax: `tollgate=debug,hyper=info`, or a bare level for every
    /// crate. A RUST_LOG that names only other programs (one set for the command under `run`)
    /// keeps tollgate's own messages at the level of -v.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command with its AWS calls going through tollgate, and summarise them when it ends.
    #[command(after_help = error::RUN_EXIT_CODES_HELP)]
    Run(run::RunArgs),
    /// Run the proxy until interrupted, for clients configured by hand (see `tollgate env`).
    Serve(serve::ServeArgs),
    /// Print the shell exports that point clients at a running `tollgate serve`.
    Env(env::EnvArgs),
    /// Manage tollgate's local certificate authority.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// What recorded runs cost: operations, loops, findings, totals (table, JSON, Markdown,
    /// HTML, or every call as CSV).
    Report(report::ReportArgs),
    /// List the runs in the database.
    Runs(runs::RunsArgs),
    /// The price table: show prices and their sources, check the table, import regional prices.
    #[command(subcommand)]
    Pricing(pricing::PricingCommand),
    /// Save what a run cost, per run, as a baseline file to commit (for `tollgate gate`).
    #[command(subcommand)]
    Baseline(baseline::BaselineCommand),
    /// Compare a run with a baseline; exit 1 when API cost grew past the thresholds (CI).
    Gate(gate::GateArgs),
    /// Copy the runs of a local SQLite history that a shared PostgreSQL history lacks.
    Push(push::PushArgs),
    /// Delete runs older than a given age, with their calls (retention).
    Prune(prune::PruneArgs),
    /// What the recorded runs spent, week by week: what moved, and what is out of line.
    Weekly(weekly::WeeklyArgs),
    /// The AWS model that identifies calls: build it from your botocore, show which is in use.
    #[command(subcommand)]
    Model(model::ModelCommand),
}

/// Parses the arguments, runs the subcommand, and turns the result into an exit code (see
/// [`error`] for the table).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error, names_run(std::env::args_os())),
    };
    let under_run = matches!(cli.command, Command::Run(_));
    survive_file_size_limits();
    init_tracing(cli.verbose);
    // A model built by `tollgate model update` is used while it is newer than the bundled one.
    if let Ok(path) = model::installed_model_path() {
        crate::aws::model::Model::consider_installed(path);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = anyhow::Error::new(error).context("cannot start the async runtime");
            return fail(&error, under_run);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::execute(args).await,
            Command::Serve(args) => serve::execute(args).await,
            Command::Env(args) => env::execute(args),
            Command::Ca(command) => ca::execute(command),
            Command::Pricing(command) => pricing::execute(command).await,
            Command::Report(args) => report::execute(args).await,
            Command::Runs(args) => runs::execute(args).await,
            Command::Baseline(command) => baseline::execute(command).await,
            Command::Gate(args) => gate::execute(args).await,
            Command::Weekly(args) => weekly::execute(args).await,
            Command::Push(args) => push::execute(args).await,
            Command::Prune(args) => prune::execute(args).await,
            Command::Model(command) => model::execute(command),
        }
    });
    // Tunnels still open after the grace period must not hold the process.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(error) => fail(&error, under_run),
    }
}

/// The exit code for a subcommand's error, printed unless it is a quiet one.
fn fail(error: &anyhow::Error, under_run: bool) -> ExitCode {
    let (exit, print) = Exit::of(error, under_run);
    if print {
        say!("tollgate: {error:#}");
    }
    exit.into()
}

/// clap's usage errors are 2 (clap's own code), but 125 under `run`, where 2 may be the
/// command's. `--help` and `--version` come here too, and succeed.
fn usage_error(error: &clap::Error, under_run: bool) -> ExitCode {
    let _ = error.print();
    if !error.use_stderr() {
        return ExitCode::SUCCESS;
    }
    if under_run {
        Exit::RunFailed.into()
    } else {
        Exit::Failed.into()
    }
}

/// Whether the arguments name the `run` subcommand, for errors clap finds before there is a
/// `Cli` to ask: the subcommand is the first argument that is not a flag, since tollgate's global
/// flags take no value.
fn names_run(args: impl IntoIterator<Item = OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .find(|arg| !arg.as_encoded_bytes().starts_with(b"-"))
        .is_some_and(|arg| arg == "run")
}

/// Writes `text` to stdout and flushes it. Unlike `print!`, which panics, a failure is an error:
/// a reader that leaves early (`tollgate report | head -1`) is a broken pipe, which [`fail`]
/// turns into a quiet success.
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// A write past the file size limit (`ulimit -f`) sends SIGXFSZ, which kills by default: the
/// proxy would die and take the profiled command's traffic with it. With a handler that does
/// nothing, the write fails with EFBIG instead and recording counts the loss. A handler, not
/// SIG_IGN: handlers are reset on exec, so the profiled command keeps the default.
fn survive_file_size_limits() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    extern "C" fn ignore(_: libc::c_int) {}
    let action = SigAction::new(
        SigHandler::Handler(ignore),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    if let Err(error) = unsafe { sigaction(Signal::SIGXFSZ, &action) } {
        tracing::debug!("cannot handle SIGXFSZ: {error}");
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let (origin, directives) = log_filter(
        std::env::var("TOLLGATE_LOG").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
        verbose,
    );
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|error| {
        say!("tollgate: warning: ignoring {origin}: {error}");
        EnvFilter::new(verbosity(verbose))
    });
    // Colour only for a person at a terminal, and never when NO_COLOR is set.
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// tollgate's own level for `-v` given `verbose` times.
fn verbosity(verbose: u8) -> &'static str {
    match verbose {
        0 => "tollgate=warn",
        1 => "tollgate=info",
        _ => "tollgate=debug",
    }
}

/// The log filter, and where it came from: `TOLLGATE_LOG` as it is; else `RUST_LOG`; else the
/// level of `-v`. RUST_LOG is often set for the command under `run` (`RUST_LOG=myapp=debug`), so
/// when none of its directives reaches tollgate, tollgate keeps the level of `-v` beside them
/// rather than losing its warnings.
fn log_filter(
    tollgate_log: Option<&str>,
    rust_log: Option<&str>,
    verbose: u8,
) -> (&'static str, String) {
    // An empty variable is an unset one.
    if let Some(filter) = tollgate_log.filter(|value| !value.trim().is_empty()) {
        return ("TOLLGATE_LOG", filter.to_string());
    }
    let Some(filter) = rust_log.filter(|value| !value.trim().is_empty()) else {
        return ("-v", verbosity(verbose).to_string());
    };
    // `debug`, `[span]=debug`, `tollgate=debug`, `tollgate::proxy=trace`: all reach tollgate.
    let reaches_tollgate = |directive: &str| {
        let target = directive.split(['[', '=']).next().unwrap_or("").trim();
        target.is_empty()
            || target
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .is_ok()
            || target == "tollgate"
            || target.starts_with("tollgate::")
    };
    let directives: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.iter().any(|d| reaches_tollgate(d)) {
        ("RUST_LOG", filter.to_string())
    } else {
        ("RUST_LOG", format!("{},{filter}", verbosity(verbose)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tollgate_log_then_rust_log_then_verbose() {
        assert_eq!(log_filter(None, None, 0).1, "tollgate=warn");
        assert_eq!(log_filter(None, None, 2).1, "tollgate=debug");
        assert_eq!(
            log_filter(Some("tollgate=trace"), Some("debug"), 0),
            ("TOLLGATE_LOG", "tollgate=trace".to_string())
        );
        assert_eq!(
            log_filter(Some(""), Some("tollgate=debug"), 0),
            ("RUST_LOG", "tollgate=debug".to_string())
        );
        for reaches in [
            "debug",
            "INFO",
            "tollgate::proxy=trace",
            "hyper=info,tollgate=debug",
            "[request]=debug",
        ] {
            assert_eq!(log_filter(None, Some(reaches), 1).1, reaches);
        }
        // Set for the command under `run`: tollgate keeps its warnings, or -v.
        assert_eq!(
            log_filter(None, Some("myapp=debug"), 0).1,
            "tollgate=warn,myapp=debug"
        );
        assert_eq!(
            log_filter(None, Some("tollgate_other=debug"), 1).1,
            "tollgate=info,tollgate_other=debug"
        );
    }

    #[test]
    fn run_is_found_past_global_flags() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(names_run(args(&["tollgate", "run", "--bogus"])));
        assert!(names_run(args(&["tollgate", "-vv", "run"])));
        assert!(!names_run(args(&["tollgate", "report", "run"])));
        assert!(!names_run(args(&["tollgate", "--run"])));
        assert!(!names_run(args(&["tollgate"])));
    }
}
