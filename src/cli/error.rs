//! Exit codes, and the one error type that chooses them at the edge.
//!
//! | code  | meaning |
//! |-------|---------|
//! | 0     | success |
//! | 1     | the job was done and a check's verdict is negative: `tollgate pricing check` found problems in the price table; `tollgate gate` found API cost grown past a fail threshold |
//! | 2     | tollgate could not do its job: a usage error, bad configuration, an unreadable or corrupt database, an unknown run, an I/O error |
//! | 125   | `tollgate run`: tollgate itself failed before or around the command (usage errors included) |
//! | 126   | `tollgate run`: the command was found but could not be executed |
//! | 127   | `tollgate run`: the command was not found |
//! | other | `tollgate run`: the command's own exit code, or 128+N when signal N killed it |
//!
//! Under `run` the command's codes pass through unchanged, so tollgate's own failures there use the
//! codes of `env`, `timeout`, `nice` and `docker run` rather than 1 and 2, which the command may
//! use itself.
//!
//! Subcommands return `anyhow::Result<ExitCode>`. An outcome that is not a failure is `Ok`, with
//! its code: `Ok(Exit::Negative.into())` for a negative verdict the subcommand has printed, the
//! command's own code under `run`. For an error, the edge ([`Exit::of`]) looks down the error's
//! chain: the first [`CliError`] chooses the code; a broken pipe (the reader of stdout left, as
//! in `tollgate report | head -1`) is a quiet success; anything else is 2, or 125 under `run`.

use std::fmt;
use std::process::ExitCode;

/// What tollgate's exit code says. See the table in the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Success,
    /// 1: done, and a check's verdict is negative (problems found, over budget).
    Negative,
    /// 2: tollgate could not do its job.
    Failed,
    /// 125: under `run`, tollgate failed before or around the command.
    RunFailed,
    /// 126: under `run`, the command was found but could not be executed.
    CannotExecute,
    /// 127: under `run`, the command was not found.
    NotFound,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Negative => 1,
            Exit::Failed => 2,
            Exit::RunFailed => 125,
            Exit::CannotExecute => 126,
            Exit::NotFound => 127,
        }
    }

    /// The code for tollgate's own outcome under `tollgate run`, where 1 and 2 belong to the
    /// command: any failure of tollgate's is 125, except the command's own 126 and 127.
    pub const fn under_run(self) -> Exit {
        match self {
            Exit::Success | Exit::CannotExecute | Exit::NotFound => self,
            Exit::Negative | Exit::Failed | Exit::RunFailed => Exit::RunFailed,
        }
    }

    /// The exit code for an error that reached the edge, and whether to print it.
    pub fn of(error: &anyhow::Error, under_run: bool) -> (Exit, bool) {
        let (exit, print) = error
            .chain()
            .find_map(|cause| {
                if let Some(cli) = cause.downcast_ref::<CliError>() {
                    return Some((cli.exit, cli.error.is_some()));
                }
                // ripgrep's rule: a reader that stopped reading is not a failure. Under `run`
                // the command's code is at stake, so it stays a failure there.
                match cause.downcast_ref::<std::io::Error>() {
                    Some(io) if io.kind() == std::io::ErrorKind::BrokenPipe && !under_run => {
                        Some((Exit::Success, false))
                    }
                    _ => None,
                }
            })
            .unwrap_or((Exit::Failed, true));
        if under_run {
            (exit.under_run(), print)
        } else {
            (exit, print)
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// An error that says which exit code it calls for, like cargo's `CliError`. With no message it
/// is a quiet exit: the subcommand has already said all there is to say (a verdict reached deep
/// in a helper, or failures reported one by one as they happened).
///
/// Context added on top (`.context(...)`) is kept: the edge finds the `CliError` anywhere in
/// the chain and prints the whole chain.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    error: Option<anyhow::Error>,
}

impl CliError {
    /// `error`, exiting with `exit`.
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit,
            error: Some(error.into()),
        }
    }

    /// Exit with `exit` and print nothing.
    pub fn quiet(exit: Exit) -> Self {
        Self { exit, error: None }
    }

    pub fn exit(&self) -> Exit {
        self.exit
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            // Only the outermost message: the causes come from `source`, as for any error.
            Some(error) => fmt::Display::fmt(error, f),
            None => write!(f, "exit {}", self.exit.code()),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().and_then(|error| error.source())
    }
}

/// The table for `tollgate --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    a check's verdict is negative (`pricing check` found problems in the price table)
  2    tollgate could not do its job: bad usage or configuration, an unreadable or corrupt
       database, an unknown run, an I/O error
  `tollgate run` exits with the command's own code (128+N if signal N killed it), or:
  125  tollgate failed before or around the command (bad usage included)
  126  the command was found but could not be executed
  127  the command was not found";

/// The table for `tollgate run --help`.
pub const RUN_EXIT_CODES_HELP: &str = "\
Exit codes: the command's own (128+N if signal N killed it), or
  125  tollgate failed before or around the command (bad usage, configuration, CA, database...)
  126  the command was found but could not be executed
  127  the command was not found";

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn broken_pipe() -> anyhow::Error {
        anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }

    #[test]
    fn any_other_error_is_2_and_125_under_run() {
        let error = anyhow::anyhow!("no run 7");
        assert_eq!(Exit::of(&error, false), (Exit::Failed, true));
        assert_eq!(Exit::of(&error, true), (Exit::RunFailed, true));
    }

    #[test]
    fn a_cli_error_anywhere_in_the_chain_chooses_the_code() {
        let error = anyhow::Error::new(CliError::new(Exit::NotFound, anyhow::anyhow!("no cmd")))
            .context("while starting");
        assert_eq!(Exit::of(&error, true), (Exit::NotFound, true));
        assert_eq!(format!("{error:#}"), "while starting: no cmd");
        let error: anyhow::Error = CliError::quiet(Exit::Negative).into();
        assert_eq!(Exit::of(&error, false), (Exit::Negative, false));
        // Under `run`, 1 and 2 are the command's.
        assert_eq!(Exit::of(&error, true), (Exit::RunFailed, false));
    }

    #[test]
    fn a_cli_error_keeps_its_causes() {
        let inner = Err::<(), _>(std::io::Error::other("disk on fire"))
            .context("cannot write x")
            .unwrap_err();
        let error = anyhow::Error::new(CliError::new(Exit::Failed, inner));
        assert_eq!(format!("{error:#}"), "cannot write x: disk on fire");
    }

    #[test]
    fn a_broken_pipe_is_a_quiet_success_except_under_run() {
        let error = broken_pipe().context("cannot write the report");
        assert_eq!(Exit::of(&error, false), (Exit::Success, false));
        assert_eq!(Exit::of(&error, true), (Exit::RunFailed, true));
        let other = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(Exit::of(&other, false), (Exit::Failed, true));
    }

    #[test]
    fn codes_are_the_documented_ones() {
        let codes: Vec<u8> = [
            Exit::Success,
            Exit::Negative,
            Exit::Failed,
            Exit::RunFailed,
            Exit::CannotExecute,
            Exit::NotFound,
        ]
        .map(Exit::code)
        .to_vec();
        assert_eq!(codes, [0, 1, 2, 125, 126, 127]);
        for code in ["  0 ", "  1 ", "  2 ", "  125 ", "  126 ", "  127 "] {
            assert!(EXIT_CODES_HELP.contains(code), "{code}");
        }
    }
}
