//! What a run records about itself, and how it ended.

use std::time::SystemTime;

#[derive(Debug, Clone, Default)]
pub struct GitFacts {
    /// The remote `origin` URL without credentials, else the repository's directory.
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CiFacts {
    /// `github-actions`, `gitlab-ci`, or `ci` for another system that sets `CI`.
    pub provider: Option<String>,
    pub job: Option<String>,
    pub git_ref: Option<String>,
    pub pr: Option<String>,
}

/// A run's facts: the command, where it ran, the git commit, the CI job, tags, and which
/// tollgate, prices and AWS model priced it.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub uuid: String,
    /// `run` or `serve`.
    pub kind: String,
    pub started_at: SystemTime,
    pub command: Vec<String>,
    pub cwd: Option<String>,
    pub git: GitFacts,
    pub ci: CiFacts,
    pub tags: Vec<(String, String)>,
    pub tollgate_version: String,
    pub pricing_version: String,
    pub model_version: String,
    pub hostname: Option<String>,
    pub pid: u32,
}

impl RunMeta {
    /// A run of `kind` starting now in this process, with a fresh id and nothing else known.
    pub fn new(kind: &str) -> Self {
        Self {
            uuid: new_uuid(),
            kind: kind.to_string(),
            started_at: SystemTime::now(),
            command: Vec::new(),
            cwd: None,
            git: GitFacts::default(),
            ci: CiFacts::default(),
            tags: Vec::new(),
            tollgate_version: env!("CARGO_PKG_VERSION").to_string(),
            pricing_version: String::new(),
            model_version: String::new(),
            hostname: None,
            pid: std::process::id(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    /// The profiled command's exit code (`None` for `serve`, or a command killed by a signal).
    pub exit_code: Option<i32>,
    /// Calls that could not be recorded, and why.
    pub lost: u64,
    pub lost_reason: Option<String>,
}

/// 128 random bits in hex.
fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (nanos ^ u128::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
