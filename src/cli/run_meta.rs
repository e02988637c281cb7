//! What a run records about itself: the command, where it ran, the git commit, the CI job, tags,
//! and which tollgate, prices and AWS model priced it. Read without spawning processes (start-up
//! time is the profiled command's time).

use std::path::{Path, PathBuf};

use crate::record::{CiFacts, GitFacts, RunMeta};

/// Facts of the current process: command line given, the rest read from the environment.
pub fn current(
    kind: &str,
    command: Vec<String>,
    tags: Vec<(String, String)>,
    pricing_version: String,
) -> RunMeta {
    let cwd = std::env::current_dir().ok();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut git = cwd.as_deref().map(git_facts).unwrap_or_default();
    let ci = ci_facts(&env);
    // CI checkouts are often detached: the CI's own variables say which commit and branch.
    if git.commit.is_none() {
        git.commit = env("GITHUB_SHA").or_else(|| env("CI_COMMIT_SHA"));
    }
    if git.branch.is_none() {
        git.branch = env("GITHUB_HEAD_REF")
            .or_else(|| env("GITHUB_REF_NAME"))
            .or_else(|| env("CI_COMMIT_REF_NAME"));
    }
    RunMeta {
        command: redact_command(&command),
        cwd: cwd.map(|p| p.display().to_string()),
        git,
        ci,
        tags,
        tollgate_version: env!("CARGO_PKG_VERSION").to_string(),
        pricing_version,
        model_version: crate::aws::model::Model::choice().describe(),
        hostname: crate::procnet::hostname(),
        ..RunMeta::new(kind)
    }
}

/// A command line with the values of secret-looking options hidden (`--password x`,
/// `--token=x`, `SECRET=x`): command lines are stored, credentials never are.
pub fn redact_command(args: &[String]) -> Vec<String> {
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        [
            "password",
            "passwd",
            "secret",
            "token",
            "credential",
            "apikey",
            "api-key",
            "api_key",
        ]
        .iter()
        .any(|word| name.contains(word))
    };
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        // A database URL's password (`--db postgres://writer:pw@host/db`), with or without
        // `--db=`.
        let arg = &match arg.split_once('=') {
            Some((name, url)) if url.contains("://") => {
                format!("{name}={}", crate::store::postgres::redact(url))
            }
            _ if arg.contains("://") => crate::store::postgres::redact(arg),
            _ => arg.clone(),
        };
        if hide_next {
            out.push("***".to_string());
            hide_next = false;
            continue;
        }
        match arg.split_once('=') {
            Some((name, _)) if secret(name) => out.push(format!("{name}=***")),
            _ if arg.starts_with('-') && secret(arg) => {
                hide_next = true;
                out.push(arg.clone());
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// A random 128-bit id as 32 hex digits: unique across machines sharing a database.
fn ci_facts(env: &dyn Fn(&str) -> Option<String>) -> CiFacts {
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        let git_ref = env("GITHUB_REF");
        let pr = git_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/pull/"))
            .and_then(|r| r.split('/').next())
            .map(str::to_string);
        let job = match (env("GITHUB_WORKFLOW"), env("GITHUB_JOB")) {
            (Some(workflow), Some(job)) => Some(format!("{workflow}/{job}")),
            (workflow, job) => job.or(workflow),
        };
        return CiFacts {
            provider: Some("github-actions".into()),
            job,
            git_ref,
            pr,
        };
    }
    if env("GITLAB_CI").as_deref() == Some("true") {
        return CiFacts {
            provider: Some("gitlab-ci".into()),
            job: env("CI_JOB_NAME"),
            git_ref: env("CI_COMMIT_REF_NAME"),
            pr: env("CI_MERGE_REQUEST_IID"),
        };
    }
    if env("CI").is_some_and(|v| v != "false" && v != "0") {
        return CiFacts {
            provider: Some("ci".into()),
            ..CiFacts::default()
        };
    }
    CiFacts::default()
}

/// Reads `.git` directly: HEAD, the branch's ref (loose or packed), and `origin`'s URL.
pub fn git_facts(start: &Path) -> GitFacts {
    let Some((work_tree, git_dir)) = find_git_dir(start) else {
        return GitFacts::default();
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).unwrap_or_default();
    let head = head.trim();
    let (branch, commit) = match head.strip_prefix("ref: ") {
        Some(reference) => {
            let branch = reference.strip_prefix("refs/heads/").unwrap_or(reference);
            (Some(branch.to_string()), resolve_ref(&git_dir, reference))
        }
        None if head.len() == 40 => (None, Some(head.to_string())),
        None => (None, None),
    };
    let repo = origin_url(&git_dir).or_else(|| Some(work_tree.display().to_string()));
    GitFacts {
        repo,
        branch,
        commit,
    }
}

fn find_git_dir(start: &Path) -> Option<(PathBuf, PathBuf)> {
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some((dir.to_path_buf(), dot_git));
        }
        // A worktree or submodule: `.git` is a file naming the real directory.
        if let Ok(text) = std::fs::read_to_string(&dot_git) {
            let target = text.trim().strip_prefix("gitdir: ")?;
            let path = dir.join(target);
            return Some((dir.to_path_buf(), path));
        }
    }
    None
}

fn resolve_ref(git_dir: &Path, reference: &str) -> Option<String> {
    // Worktrees keep refs in the common directory.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.to_path_buf());
    for dir in [git_dir, common.as_path()] {
        if let Ok(text) = std::fs::read_to_string(dir.join(reference)) {
            return Some(text.trim().to_string());
        }
        if let Ok(packed) = std::fs::read_to_string(dir.join("packed-refs")) {
            if let Some(hash) = packed.lines().find_map(|line| {
                let (hash, name) = line.split_once(' ')?;
                (name == reference).then(|| hash.to_string())
            }) {
                return Some(hash);
            }
        }
    }
    None
}

/// `remote "origin"`'s url, with any `user:token@` removed: credentials never reach the database.
fn origin_url(git_dir: &Path) -> Option<String> {
    let config = std::fs::read_to_string(git_dir.join("config")).ok()?;
    let mut in_origin = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_origin = line == "[remote \"origin\"]";
            continue;
        }
        if in_origin {
            if let Some(url) = line
                .strip_prefix("url")
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('='))
            {
                return Some(strip_credentials(url.trim()));
            }
        }
    }
    None
}

fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_survive_in_a_remote_url() {
        assert_eq!(
            strip_credentials("https://x-access-token:ghs_secret@github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            strip_credentials("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
    }

    #[test]
    fn github_actions_pull_requests() {
        let vars = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_WORKFLOW", "ci"),
            ("GITHUB_JOB", "test"),
        ];
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let facts = ci_facts(&env);
        assert_eq!(facts.provider.as_deref(), Some("github-actions"));
        assert_eq!(facts.pr.as_deref(), Some("42"));
        assert_eq!(facts.job.as_deref(), Some("ci/test"));
    }

    #[test]
    fn reads_this_repository() {
        let facts = git_facts(Path::new(env!("CARGO_MANIFEST_DIR")));
        let commit = facts.commit.expect("tollgate is built from a git checkout");
        assert_eq!(commit.len(), 40, "{commit}");
        assert!(commit.chars().all(|c| c.is_ascii_hexdigit()), "{commit}");
    }

    #[test]
    fn secrets_in_command_lines_are_redacted() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            redact_command(&args(&[
                "deploy",
                "--db-password",
                "hunter2",
                "--token=abc",
                "AWS_SECRET_ACCESS_KEY=x",
                "file",
                "--db",
                "postgres://writer:pw-1@db/t",
                "--db=postgresql://w:pw-2@db/t?sslmode=require",
            ])),
            args(&[
                "deploy",
                "--db-password",
                "***",
                "--token=***",
                "AWS_SECRET_ACCESS_KEY=***",
                "file",
                "--db",
                "postgres://writer:***@db/t",
                "--db=postgresql://w:***@db/t?sslmode=require",
            ])
        );
    }
}
