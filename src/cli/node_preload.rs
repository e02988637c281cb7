//! The Node preload (`node-preload.cjs`): carried inside the binary, written into tollgate's data
//! directory, and loaded into every Node process of a run with `NODE_OPTIONS=--require <file>`,
//! so that the AWS SDK for JavaScript, which ignores `HTTPS_PROXY`, goes through tollgate too.
//! The file's own comments say what it changes and what it leaves alone.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The preload's source.
pub const SOURCE: &str = include_str!("node-preload.cjs");

/// Its file name in the data directory.
pub const FILE_NAME: &str = "node-preload.cjs";

/// The variable that tells the preload where tollgate listens.
pub const PROXY_VAR: &str = "TOLLGATE_NODE_PROXY";
/// The variable that gives the preload the host globs tollgate intercepts.
pub const HOSTS_VAR: &str = "TOLLGATE_NODE_HOSTS";
/// Set to `1` when the preload is to tag each SDK call with its call site (not with
/// `--no-callsites`).
pub const CALLSITES_VAR: &str = "TOLLGATE_NODE_CALLSITES";

/// A preload written to disk, and the hosts it is to route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePreload {
    pub path: PathBuf,
    /// The intercepted host globs, comma-separated (`*.amazonaws.com,...`).
    pub hosts: String,
    /// Whether the preload tags each call of the JS SDK with its call site.
    #[serde(default)]
    pub callsites: bool,
}

impl NodePreload {
    /// Writes the preload into `dir` (unless the file there is already this one) for the
    /// intercepted host globs `hosts`.
    pub fn install<'a>(dir: &Path, hosts: impl IntoIterator<Item = &'a str>) -> io::Result<Self> {
        let path = dir.join(FILE_NAME);
        if std::fs::read(&path).ok().as_deref() != Some(SOURCE.as_bytes()) {
            crate::home::write_atomically(&path, SOURCE.as_bytes(), 0o644)?;
        }
        Ok(Self {
            path,
            hosts: hosts.into_iter().collect::<Vec<_>>().join(","),
            callsites: false,
        })
    }

    /// The same preload, tagging call sites or not.
    pub fn with_callsites(mut self, callsites: bool) -> Self {
        self.callsites = callsites;
        self
    }

    /// `--require <path>`, quoted as Node reads NODE_OPTIONS when the path needs it.
    pub fn require_option(&self) -> String {
        let path = self.path.display().to_string();
        if path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            format!("--require {path}")
        } else {
            let escaped = path.replace('\\', r"\\").replace('"', "\\\"");
            format!("--require \"{escaped}\"")
        }
    }

    /// `inherited` (the NODE_OPTIONS the user already has) with the preload's `--require`
    /// appended, unless it is there already.
    pub fn node_options(&self, inherited: Option<&str>) -> String {
        let require = self.require_option();
        match inherited.map(str::trim).filter(|value| !value.is_empty()) {
            None => require,
            Some(value) if value.contains(&require) => value.to_string(),
            Some(value) => format!("{value} {require}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preload(path: &str) -> NodePreload {
        NodePreload {
            path: PathBuf::from(path),
            hosts: "*.amazonaws.com".to_string(),
            callsites: true,
        }
    }

    #[test]
    fn require_is_appended_to_what_the_user_has_once() {
        let plain = preload("/home/u/.local/share/tollgate/node-preload.cjs");
        let require = "--require /home/u/.local/share/tollgate/node-preload.cjs";
        assert_eq!(plain.node_options(None), require);
        assert_eq!(plain.node_options(Some("  ")), require);
        assert_eq!(
            plain.node_options(Some("--max-old-space-size=4096")),
            format!("--max-old-space-size=4096 {require}")
        );
        let twice = format!("--enable-source-maps {require}");
        assert_eq!(plain.node_options(Some(&twice)), twice);
    }

    #[test]
    fn paths_node_would_split_are_quoted() {
        assert_eq!(
            preload(r#"/home/a b/"x"\y.cjs"#).require_option(),
            r#"--require "/home/a b/\"x\"\\y.cjs""#
        );
    }

    #[test]
    fn install_writes_the_preload_and_names_the_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let installed = NodePreload::install(dir.path(), ["*.amazonaws.com", "*.api.aws"]).unwrap();
        assert_eq!(installed.hosts, "*.amazonaws.com,*.api.aws");
        assert_eq!(std::fs::read_to_string(&installed.path).unwrap(), SOURCE);
        // Installing again over a stale copy restores it.
        std::fs::write(&installed.path, "stale").unwrap();
        NodePreload::install(dir.path(), ["*.amazonaws.com"]).unwrap();
        assert_eq!(std::fs::read_to_string(&installed.path).unwrap(), SOURCE);
    }
}
