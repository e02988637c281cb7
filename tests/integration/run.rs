//! `tollgate run`: the child's environment, exit codes and signals; `serve` and `env`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::common::{python, tollgate, tollgate_command, wait_timeout, Tollgate};

#[test]
fn the_childs_exit_code_passes_through() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, _) = tollgate(home.path(), &["run", "-q", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code, Some(7));
    let (code, _, _) = tollgate(home.path(), &["run", "-q", "--", "true"]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_child_killed_by_a_signal_gives_128_plus_n() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, _) = tollgate(
        home.path(),
        &["run", "-q", "--", "sh", "-c", "kill -KILL $$"],
    );
    assert_eq!(code, Some(128 + 9));
}

#[test]
fn a_command_that_cannot_start_is_127_or_126_with_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) = tollgate(home.path(), &["run", "-q", "--", "no-such-command-xyz"]);
    assert_eq!(code, Some(127));
    assert!(
        stderr.contains("cannot run 'no-such-command-xyz'"),
        "{stderr}"
    );
    let not_executable = home.path().join("script.sh");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    let (code, _, _) = tollgate(
        home.path(),
        &["run", "-q", "--", not_executable.to_str().unwrap()],
    );
    assert_eq!(code, Some(126));
}

#[test]
fn the_child_gets_the_proxy_and_bundle_and_keeps_no_proxy() {
    let home = tempfile::tempdir().unwrap();
    let output = tollgate_command(home.path())
        .args(["run", "-q", "--", "sh", "-c"])
        .arg("echo \"$HTTPS_PROXY|$https_proxy|$AWS_CA_BUNDLE|$SSL_CERT_FILE|$REQUESTS_CA_BUNDLE|$CURL_CA_BUNDLE|$NODE_EXTRA_CA_CERTS|$NO_PROXY\"")
        .env("NO_PROXY", "internal.example")
        .output()
        .unwrap();
    assert!(output.status.success());
    let line = String::from_utf8(output.stdout).unwrap();
    let fields: Vec<&str> = line.trim().split('|').collect();
    assert!(fields[0].starts_with("http://127.0.0.1:"), "{line}");
    assert_eq!(fields[0], fields[1]);
    let bundle = home.path().join("ca-bundle.pem");
    // AWS_CA_BUNDLE is left unset (the Go SDK refuses a program's own http.Client with it);
    // botocore trusts REQUESTS_CA_BUNDLE, Go and Rust SSL_CERT_FILE.
    assert_eq!(fields[2], "", "{line}");
    for field in &fields[3..7] {
        assert_eq!(*field, bundle.to_str().unwrap(), "{line}");
    }
    assert_eq!(fields[7], "internal.example");
    // A bundle the user set would win over REQUESTS_CA_BUNDLE in botocore: it is replaced.
    let output = tollgate_command(home.path())
        .args(["run", "-q", "--", "sh", "-c", "echo \"$AWS_CA_BUNDLE\""])
        .env("AWS_CA_BUNDLE", "/etc/corporate-ca.pem")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        bundle.to_str().unwrap()
    );
    // The bundle is the combined one: system roots and the tollgate CA.
    let certs = tollgate::roots::read_pem_certs(&bundle).unwrap();
    assert!(certs.len() > 1);
}

/// Starts `tollgate run -- python -c <script>` and waits until the script prints `ready`.
/// `own_group` makes tollgate the leader of a process group, as under `timeout`.
fn run_python_until_ready(
    script: &str,
    own_group: bool,
) -> (tempfile::TempDir, std::process::Child) {
    use std::os::unix::process::CommandExt;
    let home = tempfile::tempdir().unwrap();
    let mut command = tollgate_command(home.path());
    command
        .args(["run", "-q", "--"])
        .arg(python())
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if own_group {
        command.process_group(0);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    (home, child)
}

/// A child that exits with `code` on `signal`, once ready for it.
fn run_child_waiting_for(signal: &str, code: i32) -> (tempfile::TempDir, std::process::Child) {
    let script = format!(
        "import signal, sys, time\n\
         signal.signal(signal.{signal}, lambda *_: sys.exit({code}))\n\
         print('ready', flush=True)\n\
         time.sleep(60)\n\
         sys.exit(99)\n"
    );
    run_python_until_ready(&script, false)
}

#[test]
fn sigterm_and_sigint_are_forwarded_to_the_child() {
    for (name, number, code) in [("SIGTERM", libc::SIGTERM, 42), ("SIGINT", libc::SIGINT, 43)] {
        let (_home, mut child) = run_child_waiting_for(name, code);
        unsafe { libc::kill(child.id() as i32, number) };
        assert_eq!(
            wait_timeout(&mut child, Duration::from_secs(20)),
            Some(code),
            "{name}"
        );
    }
}

#[test]
fn env_prints_the_exports_of_a_running_serve() {
    let tollgate_serve = Tollgate::serve(&[]);
    let (code, stdout, stderr) = tollgate(tollgate_serve.home.path(), &["env"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "export HTTPS_PROXY=http://{}\n",
            tollgate_serve.addr
        )),
        "{stdout}"
    );
    // The Node preload, appended to the shell's own NODE_OPTIONS.
    let preload = tollgate_serve.home.path().join("node-preload.cjs");
    assert!(preload.is_file());
    assert!(
        stdout.contains(&format!(
            "export TOLLGATE_NODE_PROXY=http://{}\n",
            tollgate_serve.addr
        )) && stdout.contains(&format!(
            "export NODE_OPTIONS=\"${{NODE_OPTIONS:+$NODE_OPTIONS }}--require {}\"\n",
            preload.display()
        )),
        "{stdout}"
    );
    let home = tempfile::TempDir::new().unwrap();
    let (code, _, stderr) = tollgate(home.path(), &["env"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("no `tollgate serve` is running"),
        "{stderr}"
    );
    let (code, _) = tollgate_serve.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn version_names_the_botocore_model() {
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, _) = tollgate(home.path(), &["--version"]);
    assert_eq!(code, Some(0));
    let expected = tollgate::aws::model::Model::embedded().botocore_version;
    assert!(
        stdout.contains(&format!("AWS API model from botocore {expected}")),
        "{stdout}"
    );
}

#[test]
fn a_signal_to_tollgates_whole_process_group_reaches_the_command_once() {
    let script = "import signal, sys, time\n\
                  count = 0\n\
                  def on_term(*_):\n    global count\n    count += 1\n\
                  signal.signal(signal.SIGTERM, on_term)\n\
                  print('ready', flush=True)\n\
                  deadline = time.time() + 30\n\
                  while count == 0 and time.time() < deadline:\n    time.sleep(0.05)\n\
                  time.sleep(1.0)\n\
                  sys.exit(40 + count)\n";
    // tollgate leads a process group, as under `timeout` or a service manager.
    let (_home, mut child) = run_python_until_ready(script, true);
    unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
    // 41: the command saw exactly one SIGTERM.
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(20)), Some(41));
}

/// Issue 13: `tollgate --help` said reports were "table or JSON", and `runs --help` that
/// `--last` was its default.
#[test]
fn help_texts_say_what_the_commands_do_today() {
    let home = tempfile::tempdir().unwrap();
    let (code, help, _) = tollgate(home.path(), &["--help"]);
    assert_eq!(code, Some(0));
    let report_line = help
        .lines()
        .find(|line| line.trim_start().starts_with("report"))
        .unwrap_or_default();
    assert!(!help.contains("table or JSON"), "{help}");
    for format in ["JSON", "Markdown", "HTML", "CSV"] {
        assert!(
            help.contains(format),
            "{format} missing from:\n{report_line}\n{help}"
        );
    }
    let (code, runs_help, _) = tollgate(home.path(), &["runs", "--help"]);
    assert_eq!(code, Some(0));
    assert!(!runs_help.contains("(the default)"), "{runs_help}");
    assert!(runs_help.contains("newest 20"), "{runs_help}");
}

#[test]
fn a_run_nothing_connected_to_says_so_and_the_likely_cause() {
    let home = tempfile::tempdir().unwrap();
    // --quiet is quiet.
    let (code, _, stderr) = tollgate(home.path(), &["run", "-q", "--", "true"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    let (code, _, stderr) = tollgate(home.path(), &["run", "--", "true"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("tollgate: no client connected to tollgate during this run")
            && stderr.contains("a client that ignores HTTPS_PROXY"),
        "{stderr}"
    );
    // From what was run: Node with the preload turned off.
    let (_, _, stderr) = tollgate(
        home.path(),
        &["run", "--no-node-preload", "--", "node", "-e", "0"],
    );
    assert!(
        stderr.contains("likely cause: the Node preload is off (--no-node-preload)"),
        "{stderr}"
    );
    // And from the environment: NO_PROXY covering AWS hosts.
    let output = tollgate_command(home.path())
        .args(["run", "--", "true"])
        .env("NO_PROXY", ".amazonaws.com")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("likely cause: NO_PROXY covers AWS hosts (.amazonaws.com)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_a_client_connected_to_says_nothing_of_an_empty_run() {
    let origin = crate::common::Origin::start().await;
    let home = tempfile::tempdir().unwrap();
    let ca = origin.ca.write(home.path());
    // A tunnelled host: the client connected, even though no AWS call was made.
    let url = format!("{}/echo", origin.url());
    let (code, _, stderr) = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        let ca = ca.to_str().unwrap().to_string();
        move || tollgate(&home, &["run", "--", "curl", "-sS", "--cacert", &ca, &url])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("no client connected"), "{stderr}");
}

/// A client that rejects tollgate's certificate sends nothing through it: the end of the run
/// says so with the fix, also when it ends with the report from the database (the default).
#[test]
fn client_handshake_failures_are_said_at_the_end_of_a_recorded_run() {
    let home = tempfile::tempdir().unwrap();
    // curl trusts only a CA of the test's own, not tollgate's.
    let other_ca = crate::common::TestCa::new().write(home.path());
    let (_, _, stderr) = tollgate(
        home.path(),
        &[
            "run",
            "--",
            "curl",
            "-sS",
            "--cacert",
            other_ca.to_str().unwrap(),
            "https://s3.us-east-1.amazonaws.com/",
        ],
    );
    assert!(
        stderr.contains("tollgate: recorded 0 calls"),
        "the run should be recorded: {stderr}"
    );
    assert!(
        stderr.contains("tollgate: warning: 1 TLS handshake with clients failed")
            && stderr.contains("tollgate ca bundle"),
        "{stderr}"
    );
}

/// curl as a user types it (no `--cacert`, no `-x`): `HTTPS_PROXY` brings it to tollgate and
/// `CURL_CA_BUNDLE` makes it trust tollgate, with nothing else.
#[test]
fn curl_reaches_and_trusts_tollgate_through_the_environment_alone() {
    let python = crate::moto::python_with_moto();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();
    let moto = crate::moto::Moto::start(&python, scratch);
    let summary_path = scratch.join("summary.json");
    let mut command = tollgate_command(&scratch.join("tollgate-home"));
    command
        .args(["run", "--no-record", "--upstream", &moto.url()])
        .args(["--summary", "json", "--summary-file"])
        .arg(&summary_path)
        .args(["--", "curl", "-sS", "--fail"])
        .arg("https://sqs.us-east-1.amazonaws.com/?Action=ListQueues");
    crate::moto::dummy_aws_env(&mut command, scratch);
    let run = crate::moto::run_bounded(command, scratch, "curl", Duration::from_secs(60));
    let context = run.describe();
    assert!(run.status.success(), "{context}");
    let summary = crate::moto::read_json(&summary_path, &context);
    assert_eq!(
        crate::moto::u64_field(&summary, "calls"),
        1,
        "{summary:#}\n{context}"
    );
    assert_eq!(
        crate::moto::u64_field(&summary, "client_handshake_failures"),
        0,
        "{context}"
    );
}

/// Issue 24: a client that checks the certificate only after the handshake (curl inside duckdb
/// and pyarrow) closes the connection without an alert: it was counted nowhere, and the run said
/// nothing. And a client pointed at tollgate as its endpoint got a bare 400. Both are counted
/// now, and the end of the run names the client and the fix.
#[test]
fn clients_that_drop_the_handshake_or_use_tollgate_as_an_endpoint_are_named() {
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("distrust.py");
    std::fs::write(
        &script,
        r#"
import os, socket, ssl, sys, urllib.parse
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
# 1. Through the proxy, a handshake that completes (no verification), then a close with no
#    request: what a client that rejects the certificate after the handshake does.
raw = socket.create_connection((proxy.hostname, proxy.port))
raw.sendall(b"CONNECT s3.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: s3.us-east-1.amazonaws.com:443\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += raw.recv(1)
assert head.startswith(b"HTTP/1.1 200"), head
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
tls = context.wrap_socket(raw, server_hostname="s3.us-east-1.amazonaws.com")
tls.close()
# 2. Straight at the proxy's port, as if it were the endpoint (AWS_ENDPOINT_URL=$HTTPS_PROXY).
plain = socket.create_connection((proxy.hostname, proxy.port))
plain.sendall(b"GET /bucket/key?X-Amz-Signature=s3cr3t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
answer = b""
while True:
    chunk = plain.recv(4096)
    if not chunk:
        break
    answer += chunk
sys.stdout.write(answer.decode())
"#,
    )
    .unwrap();
    let summary = home.path().join("summary.json");
    let python = python();
    let (code, stdout, stderr) = tollgate(
        home.path(),
        &[
            "run",
            "--no-record",
            "--upstream",
            "http://127.0.0.1:9",
            "--summary",
            "json",
            "--summary-file",
            summary.to_str().unwrap(),
            "--",
            python.to_str().unwrap(),
            script.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("HTTP/1.1 400") && stdout.contains("not the server"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("s3cr3t"),
        "the query is never echoed: {stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(report["dropped_after_handshake"], 1, "{report:#}");
    assert_eq!(report["endpoint_requests"], 1, "{report:#}");
    let clients = report["distrusting_clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{report:#}");
    assert_eq!(clients[0]["connections"], 1);
    // The client closed before /proc could name it (as such clients do): every fix is given.
    assert!(
        stderr.contains("1 connection was closed by the client right after the TLS handshake")
            && stderr.contains("did not accept tollgate's certificate (1 connection)")
            && stderr.contains("SET ca_cert_file = '")
            && stderr.contains("ca-bundle.pem")
            && stderr.contains("1 request was sent to tollgate as if it were the AWS endpoint"),
        "{stderr}"
    );
}
