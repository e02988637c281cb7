//! Issue 14: the GitHub Actions example (examples/ci/github-actions.yml) works as written. Its
//! `run:` steps are executed in order, with GitHub's rules for `if:` and for a failed step, in a
//! scratch repository holding the example suite (examples/ci/suite/): first as a push to main
//! (which records the suite and commits the baseline to a real bare remote), then as a pull
//! request that adds a HeadObject per listed key (which must fail the job, with the Markdown in
//! `$GITHUB_STEP_SUMMARY` and `::error` annotations naming HeadObject). Only the steps that
//! install tollgate or use an action (`uses:`) are left out: the tollgate under test is on PATH.

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::common::{hermetic_command, TOLLGATE};
use crate::moto::{python_with_moto as python, MANIFEST_DIR};

/// The workflow's steps, parsed by PyYAML (moto depends on it, so the test venv has it).
fn workflow_steps(python: &Path) -> Vec<Value> {
    let file = Path::new(MANIFEST_DIR).join("examples/ci/github-actions.yml");
    let output = hermetic_command(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&file)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let workflow: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    workflow["jobs"]["api-cost"]["steps"]
        .as_array()
        .expect("the api-cost job's steps")
        .clone()
}

/// GitHub's `if:` for what the example uses; anything else fails the test rather than being
/// guessed at.
fn condition_holds(condition: Option<&str>, event: &Event, failed: bool) -> bool {
    let Some(condition) = condition.map(str::trim) else {
        return !failed;
    };
    match condition {
        "always()" => true,
        "success()" => !failed,
        "failure()" => failed,
        _ => {
            let (left, right) = condition
                .split_once("==")
                .unwrap_or_else(|| panic!("the test cannot evaluate `if: {condition}`"));
            let value = match left.trim() {
                "github.event_name" => event.name,
                "github.ref" => event.git_ref,
                other => panic!("the test cannot evaluate {other} in `if: {condition}`"),
            };
            !failed && right.trim().trim_matches('\'') == value
        }
    }
}

struct Event {
    name: &'static str,
    git_ref: &'static str,
}

struct StepRun {
    name: String,
    output: Output,
}

/// Runs the job's steps as GitHub would for `event`; returns the steps that ran.
fn run_job(
    steps: &[Value],
    repo: &Path,
    bin: &Path,
    event: &Event,
    summary: &Path,
) -> Vec<StepRun> {
    let python = python();
    let venv_bin = python.parent().expect("the venv's bin");
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        bin.display(),
        venv_bin.display()
    );
    let mut ran = Vec::new();
    let mut failed = false;
    for step in steps {
        let Some(script) = step["run"].as_str() else {
            continue; // `uses:` an action
        };
        if step["id"] == "install-tollgate" {
            continue;
        }
        if !condition_holds(step["if"].as_str(), event, failed) {
            continue;
        }
        let name = step["name"].as_str().unwrap_or(script).to_string();
        // GitHub's default shell for `run:` on Linux.
        let output = hermetic_command("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(repo)
            .env("PATH", &path)
            .env("HOME", repo.parent().expect("scratch"))
            .env(
                "TOLLGATE_HOME",
                repo.parent().expect("scratch").join("tollgate-home"),
            )
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", event.name)
            .env("GITHUB_REF", event.git_ref)
            .env("GITHUB_STEP_SUMMARY", summary)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .output()
            .expect("run bash");
        failed |= !output.status.success();
        ran.push(StepRun { name, output });
    }
    stop_moto();
    ran
}

/// The workflow starts moto in the background; a job's end on GitHub stops it.
fn stop_moto() {
    let _ = hermetic_command("pkill")
        .args(["-f", "moto_server -p 5000"])
        .status();
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = hermetic_command("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn describe(ran: &[StepRun]) -> String {
    ran.iter()
        .map(|step| {
            format!(
                "--- {} ({})\n{}{}",
                step.name,
                step.output.status,
                String::from_utf8_lossy(&step.output.stdout),
                String::from_utf8_lossy(&step.output.stderr)
            )
        })
        .collect()
}

fn step<'a>(ran: &'a [StepRun], name: &str) -> Option<&'a StepRun> {
    ran.iter().find(|step| step.name == name)
}

#[test]
fn the_github_actions_example_commits_a_baseline_on_main_and_fails_a_pull_request_that_costs_more()
{
    let python = python();
    let steps = workflow_steps(&python);
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let scratch = scratch.path();

    // tollgate on PATH, as the install step would leave it.
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(TOLLGATE, bin.join("tollgate")).unwrap();

    // The user's repository: the example suite, its requirements (the versions the test venv
    // has, so pip installs nothing), and a real remote to push the baseline to.
    let remote = scratch.join("remote.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(
        &remote,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    );
    let repo = scratch.join("repo");
    std::fs::create_dir_all(repo.join("tests")).unwrap();
    let suite = std::fs::read_to_string(
        Path::new(MANIFEST_DIR).join("examples/ci/suite/test_inventory.py"),
    )
    .expect("the example suite");
    std::fs::write(repo.join("tests/test_inventory.py"), &suite).unwrap();
    let pins: String =
        std::fs::read_to_string(Path::new(MANIFEST_DIR).join("requirements-test.txt"))
            .unwrap()
            .lines()
            .filter(|line| line.starts_with("boto3") || line.starts_with("pytest"))
            .map(|line| format!("{line}\n"))
            .collect();
    std::fs::write(repo.join("requirements.txt"), pins).unwrap();
    std::fs::write(
        repo.join(".gitignore"),
        "tollgate.db*\ntollgate-report.html\nmoto.log\n",
    )
    .unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "the suite"]);
    git(
        &repo,
        &["push", "--quiet", "--set-upstream", "origin", "main"],
    );

    // A push to main: the suite runs through tollgate and the baseline is committed.
    let main_summary = scratch.join("main-summary.md");
    let push = Event {
        name: "push",
        git_ref: "refs/heads/main",
    };
    let ran = run_job(&steps, &repo, &bin, &push, &main_summary);
    let all = describe(&ran);
    assert!(ran.iter().all(|s| s.output.status.success()), "{all}");
    assert!(
        step(&ran, "Gate on API cost").is_none(),
        "no gate on main\n{all}"
    );
    let pushed = git(&remote, &["show", "main:tollgate-baseline.json"]);
    let baseline: Value = serde_json::from_str(&pushed).expect("the committed baseline");
    assert_eq!(baseline["tollgate_baseline"], 1, "{pushed}");
    assert!(repo.join("tollgate-report.html").is_file(), "{all}");

    // A pull request that HEADs every listed key: a fresh checkout of main with the change.
    git(&repo, &["fetch", "--quiet", "origin"]);
    git(&repo, &["reset", "--quiet", "--hard", "origin/main"]);
    git(&repo, &["clean", "--quiet", "-fdx"]);
    let changed = suite.replace(
        "sizes[item[\"Key\"]] = item[\"Size\"]",
        "sizes[item[\"Key\"]] = s3.head_object(Bucket=bucket_name, Key=item[\"Key\"])[\"ContentLength\"]",
    );
    assert_ne!(
        changed, suite,
        "the example suite changed shape: update this test"
    );
    std::fs::write(repo.join("tests/test_inventory.py"), changed).unwrap();
    let pr_summary = scratch.join("pr-summary.md");
    let pull_request = Event {
        name: "pull_request",
        git_ref: "refs/pull/1/merge",
    };
    let ran = run_job(&steps, &repo, &bin, &pull_request, &pr_summary);
    let all = describe(&ran);
    let gate = step(&ran, "Gate on API cost").unwrap_or_else(|| panic!("the gate ran\n{all}"));
    assert_eq!(
        gate.output.status.code(),
        Some(1),
        "the gate fails the job\n{all}"
    );
    let annotations = String::from_utf8_lossy(&gate.output.stdout);
    assert!(
        annotations
            .lines()
            .any(|l| l.starts_with("::error title=tollgate::s3 HeadObject: 0 → 400 calls a run")),
        "two tests list 200 keys and HEAD each\n{all}"
    );
    let summary = std::fs::read_to_string(&pr_summary).expect("the step summary");
    assert!(summary.starts_with("<!-- tollgate -->"), "{summary}");
    assert!(
        summary.contains("| fail | s3 HeadObject (new) | 0 | 400 |"),
        "{summary}"
    );
    // After a failed step only `if: always()` steps run: the report, not the baseline update.
    assert!(step(&ran, "HTML report").is_some(), "{all}");
    assert!(step(&ran, "Update the baseline on main").is_none(), "{all}");
}
