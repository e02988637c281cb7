//! Exit codes (the table in `src/cli/error.rs`), `--help`, readers that leave early, and the log
//! filter. (The command's own codes through `tollgate run`, 126 and 127 are in `run.rs`.)

use std::path::Path;
use std::process::{Output, Stdio};

use crate::common::{tollgate, tollgate_command};

/// The write end of a pipe whose reader has already left: every write to it fails with EPIPE,
/// as it does for `tollgate report | head -1` once `head` has its line.
fn pipe_nobody_reads() -> Stdio {
    // O_CLOEXEC: a child that another test spawns meanwhile must not inherit a read end.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    drop(read);
    Stdio::from(write)
}

/// tollgate with `env` on top of a clean environment, stdout and stderr as given (captured when
/// `None`).
fn tollgate_with(
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
) -> Output {
    let mut command = tollgate_command(home);
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    if let Some(stdout) = stdout {
        command.stdout(stdout);
    }
    if let Some(stderr) = stderr {
        command.stderr(stderr);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn usage_errors_are_2_and_125_under_run() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["--bogus"][..],
        &["report", "--bogus"],
        &["report", "--format", "pdf"],
        &["no-such-subcommand"],
    ] {
        let (code, _, stderr) = tollgate(home.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    }
    // No subcommand: the help, on stderr, and still a usage error.
    let (code, stdout, stderr) = tollgate(home.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty() && stderr.contains("Usage:"), "{stderr}");
    // Under `run`, 2 may be the command's own: tollgate's usage errors are 125 there, as for
    // `env` and `docker run`, and the command does not run.
    let marker = home.path().join("ran");
    let marker = marker.to_str().unwrap();
    for args in [
        &["run", "--bogus", "--", "touch", marker][..],
        &["-v", "run", "--summary", "yaml", "--", "touch", marker],
        &["run", "--quiet"],
    ] {
        let (code, _, stderr) = tollgate(home.path(), args);
        assert_eq!(code, Some(125), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(!Path::new(marker).exists(), "{args:?} ran the command");
    }
    // A mistyped flag is named, not taken for a command that cannot be found (127).
    let (_, _, stderr) = tollgate(home.path(), &["run", "--sumary", "json", "--", "true"]);
    assert!(
        stderr.contains("unexpected argument '--sumary'"),
        "{stderr}"
    );
    // Flags after the command's name are the command's.
    let (code, stdout, stderr) = tollgate(
        home.path(),
        &[
            "run",
            "-q",
            "sh",
            "-c",
            "echo \"$@\"; exit 4",
            "sh",
            "--bogus",
            "-q",
        ],
    );
    assert_eq!(code, Some(4), "{stderr}");
    assert_eq!(stdout, "--bogus -q\n");
}

/// Defect 21: a mistyped flag became the command: `tollgate run --endpoint -- true` ran
/// `--endpoint` as a program (127) and recorded an empty run (`--endpoint` has since become a
/// flag: endpoint mode, issue 18; `--endpoints` now stands for it). Flags before `--` are tollgate's:
/// an unknown one is a usage error (125), with clap's suggestion when one is near, the command
/// does not run, and nothing is recorded.
#[test]
fn a_mistyped_flag_before_the_command_is_a_usage_error_and_records_no_run() {
    let home = tempfile::tempdir().unwrap();
    let marker = home.path().join("ran");
    let marker = marker.to_str().unwrap();
    for (flag, args) in [
        (
            "--endpoints",
            &["run", "--endpoints", "--", "touch", marker][..],
        ),
        ("--endpoints", &["run", "--endpoints", "touch", marker]),
        (
            "--sumary",
            &["run", "--sumary", "json", "--", "touch", marker],
        ),
        (
            "--no-recrod",
            &["run", "-q", "--no-recrod", "--", "touch", marker],
        ),
    ] {
        let (code, _, stderr) = tollgate(home.path(), args);
        assert_eq!(code, Some(125), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("error: unexpected argument '{flag}'")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("cannot run"), "{args:?}: {stderr}");
        assert!(!Path::new(marker).exists(), "{args:?} ran the command");
    }
    // Where a flag is near, clap names it.
    for (args, near) in [
        (&["run", "--sumary", "json", "--", "true"][..], "--summary"),
        (&["run", "--no-recrod", "--", "true"], "--no-record"),
        (&["run", "--endpoints", "--", "true"], "--endpoint"),
    ] {
        let (_, _, stderr) = tollgate(home.path(), args);
        assert!(
            stderr.contains(&format!("a similar argument exists: '{near}'")),
            "{args:?}: {stderr}"
        );
    }
    // No run was recorded: the database was never created.
    assert!(!home.path().join("tollgate.db").exists());
}

#[test]
fn help_and_version_succeed() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["-h"],
        &["help", "run"],
        &["run", "--help"],
        &["-V"],
    ] {
        let (code, stdout, stderr) = tollgate(home.path(), args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_documents_the_exit_codes_and_the_log_filter() {
    let home = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["-h"]] {
        let (_, help, _) = tollgate(home.path(), args);
        assert!(help.contains("Exit codes:"), "{args:?}: {help}");
        for line in [
            "  0    success",
            "  1    a check's verdict is negative",
            "  2    tollgate could not do its job",
            "  125  tollgate failed before or around the command",
            "  126  the command was found but could not be executed",
            "  127  the command was not found",
        ] {
            assert!(help.contains(line), "{args:?}: no `{line}` in:\n{help}");
        }
        assert!(help.contains("RUST_LOG"), "{args:?}: {help}");
        assert!(help.contains("TOLLGATE_LOG"), "{args:?}: {help}");
    }
    let (_, help, _) = tollgate(home.path(), &["run", "--help"]);
    for line in [
        "Exit codes: the command's own (128+N if signal N killed it)",
        "  125  tollgate failed before or around the command",
        "  126  the command was found but could not be executed",
        "  127  the command was not found",
    ] {
        assert!(help.contains(line), "no `{line}` in:\n{help}");
    }
}

#[test]
fn a_directory_as_the_command_is_126() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = tollgate(
        home.path(),
        &["run", "-q", "--", home.path().to_str().unwrap()],
    );
    assert_eq!(code, Some(126), "{stderr}");
    assert!(stderr.contains("tollgate: cannot run '"), "{stderr}");
}

#[test]
fn tollgate_failing_before_the_command_is_125_and_the_command_does_not_run() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("nowhere.toml");
    let marker = home.path().join("ran");
    let (code, _, stderr) = tollgate(
        home.path(),
        &[
            "run",
            "--pricing",
            missing.to_str().unwrap(),
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(125), "{stderr}");
    assert!(
        stderr.contains(&format!("tollgate: --pricing {}", missing.display())),
        "{stderr}"
    );
    assert!(!marker.exists());
}

#[test]
fn a_database_that_cannot_be_read_is_2_and_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let not_a_database = home.path().join("notes.db");
    std::fs::write(&not_a_database, "shopping list\n".repeat(400)).unwrap();
    let db = not_a_database.to_str().unwrap();
    for args in [&["report", "--db", db][..], &["runs", "--db", db]] {
        let (code, stdout, stderr) = tollgate(home.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("the database {db} is not usable"))
                && stderr.contains("move it aside")
                && stderr.contains("pass --db with another path"),
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    // The file is left as it was.
    assert_eq!(
        std::fs::read_to_string(&not_a_database).unwrap(),
        "shopping list\n".repeat(400)
    );
    let missing = home.path().join("none.db");
    let (code, _, stderr) = tollgate(home.path(), &["report", "--db", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("record a run first"), "{stderr}");
}

#[test]
fn an_unknown_run_is_2() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = tollgate(home.path(), &["run", "-q", "--", "true"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = tollgate(home.path(), &["report", "--run", "999"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no run 999"), "{stderr}");
    assert!(stderr.contains("tollgate runs"), "{stderr}");
}

/// ripgrep's rule: `tollgate report | head -1` is a success, with nothing on stderr (no panic,
/// no "Broken pipe").
#[test]
fn a_reader_that_leaves_early_is_a_quiet_success() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = tollgate(home.path(), &["run", "-q", "--", "true"]);
    assert_eq!(code, Some(0), "{stderr}");
    for args in [
        &["report"][..],
        &["report", "--format", "json"],
        &["report", "--format", "csv"],
        &["runs"],
        &["runs", "--json"],
        &["pricing", "show"],
        &["pricing", "show", "--format", "json"],
        &["pricing", "check"],
        &["ca", "show"],
        &["ca", "bundle"],
    ] {
        let output = tollgate_with(home.path(), args, &[], Some(pipe_nobody_reads()), None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// Under `run` the report goes to stderr: `tollgate run -- cmd 2>&1 | head -1` must still exit
/// with the command's code.
#[test]
fn a_stderr_nobody_reads_keeps_the_commands_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let output = tollgate_with(
        home.path(),
        &["run", "--", "sh", "-c", "exit 3"],
        &[],
        None,
        Some(pipe_nobody_reads()),
    );
    assert_eq!(output.status.code(), Some(3));
}

/// Creating the CA is logged at info level: it shows only when a filter asks for it.
#[test]
fn rust_log_sets_the_filter_when_tollgate_log_does_not() {
    let cases: [(&[(&str, &str)], bool); 6] = [
        (&[], false),
        (&[("RUST_LOG", "tollgate=info")], true),
        (&[("RUST_LOG", "info")], true),
        // Set for the command only: tollgate stays at its default level.
        (&[("RUST_LOG", "myapp=info")], false),
        (
            &[
                ("RUST_LOG", "tollgate=info"),
                ("TOLLGATE_LOG", "tollgate=warn"),
            ],
            false,
        ),
        (
            &[
                ("RUST_LOG", "tollgate=warn"),
                ("TOLLGATE_LOG", "tollgate=info"),
            ],
            true,
        ),
    ];
    for (env, shown) in cases {
        let home = tempfile::tempdir().unwrap();
        let output = tollgate_with(home.path(), &["run", "-q", "--", "true"], env, None, None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{env:?}: {stderr}");
        assert_eq!(
            stderr.contains("created the tollgate CA"),
            shown,
            "{env:?}: {stderr}"
        );
    }
    // A filter that does not parse is named, and the default used.
    let home = tempfile::tempdir().unwrap();
    let output = tollgate_with(
        home.path(),
        &["run", "-q", "--", "true"],
        &[("RUST_LOG", "tollgate=loud")],
        None,
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stderr).contains("tollgate: warning: ignoring RUST_LOG"),
        "{}",
        text(&output.stderr)
    );
}
