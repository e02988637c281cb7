//! The environment that sends a client's AWS calls through tollgate and makes it trust tollgate.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::node_preload::{self, NodePreload};

/// Where a client should send its HTTPS traffic and which CA bundle it should trust.
#[derive(Debug, Clone)]
pub struct ClientEnv {
    pub proxy_url: String,
    /// The combined bundle: system roots plus the tollgate CA. Never the CA alone, which would
    /// break every host that is tunnelled rather than intercepted.
    pub bundle: PathBuf,
    /// The Node preload, unless `--no-node-preload` (or it could not be written).
    pub node: Option<NodePreload>,
}

impl ClientEnv {
    pub fn new(proxy: SocketAddr, bundle: &Path) -> Self {
        Self {
            // SDKs want an http:// proxy URL even for https traffic (CONNECT).
            proxy_url: format!("http://{proxy}"),
            bundle: bundle.to_path_buf(),
            node: None,
        }
    }

    pub fn with_node(mut self, node: Option<NodePreload>) -> Self {
        self.node = node;
        self
    }

    /// The variables for a child process whose inherited NODE_OPTIONS is `node_options`:
    /// [`Self::vars`], and NODE_OPTIONS with the preload appended.
    pub fn child_vars(&self, node_options: Option<&str>) -> Vec<(&'static str, String)> {
        let mut vars = self.vars();
        if let Some(node) = &self.node {
            vars.push(("NODE_OPTIONS", node.node_options(node_options)));
        }
        vars
    }

    /// Variable and value pairs, in the order they are printed; NODE_OPTIONS, which depends on
    /// what the user has, is not among them (see [`Self::child_vars`]).
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let bundle = self.bundle.display().to_string();
        let mut vars = vec![
            // boto3/botocore, the AWS CLI, the Rust and Go SDKs, curl, requests.
            ("HTTPS_PROXY", self.proxy_url.clone()),
            ("https_proxy", self.proxy_url.clone()),
            // botocore and the AWS CLI, the Go SDK and Terraform.
            ("AWS_CA_BUNDLE", bundle.clone()),
            // OpenSSL-based tools and Python's ssl; rustls-native-certs (the Rust SDK).
            ("SSL_CERT_FILE", bundle.clone()),
            ("REQUESTS_CA_BUNDLE", bundle.clone()),
            ("CURL_CA_BUNDLE", bundle.clone()),
            // Node adds these to its own roots.
            ("NODE_EXTRA_CA_CERTS", bundle),
        ];
        if let Some(node) = &self.node {
            // The AWS SDK for JavaScript ignores HTTPS_PROXY: the preload routes it.
            vars.push((node_preload::PROXY_VAR, self.proxy_url.clone()));
            vars.push((node_preload::HOSTS_VAR, node.hosts.clone()));
        }
        vars
    }

    /// `export NAME='value'` lines for a POSIX shell.
    pub fn shell_exports(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.vars() {
            let _ = writeln!(out, "export {name}={}", shell_quote(&value));
        }
        if let Some(node) = &self.node {
            // Appended to the shell's own NODE_OPTIONS when it is evaluated.
            let require = node.require_option();
            let _ = writeln!(
                out,
                "export NODE_OPTIONS=\"${{NODE_OPTIONS:+$NODE_OPTIONS }}{}\"",
                double_quoted(&require)
            );
        }
        out
    }
}

/// Single-quotes `value` for a POSIX shell.
pub fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:@,+=".contains(&b))
    {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Escapes `value` for the inside of a POSIX shell's double quotes.
fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_cover_every_sdk_and_quote_paths() {
        let env = ClientEnv::new(
            "127.0.0.1:8877".parse().unwrap(),
            Path::new("/home/a b/ca-bundle.pem"),
        );
        let exports = env.shell_exports();
        assert!(exports.contains("export HTTPS_PROXY=http://127.0.0.1:8877\n"));
        assert!(exports.contains("export AWS_CA_BUNDLE='/home/a b/ca-bundle.pem'\n"));
        for name in [
            "https_proxy",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
        ] {
            assert!(exports.contains(&format!("export {name}=")), "{name}");
        }
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert!(
            !exports.contains("NODE_OPTIONS"),
            "no preload, no NODE_OPTIONS"
        );
    }

    #[test]
    fn node_options_exports_append_to_the_shells_own() {
        let env = ClientEnv::new(
            "127.0.0.1:8877".parse().unwrap(),
            Path::new("/tmp/ca-bundle.pem"),
        )
        .with_node(Some(NodePreload {
            path: PathBuf::from("/home/a b/$x/node-preload.cjs"),
            hosts: "*.amazonaws.com,*.api.aws".to_string(),
        }));
        let exports = env.shell_exports();
        assert!(exports.contains("export TOLLGATE_NODE_PROXY=http://127.0.0.1:8877\n"));
        assert!(exports.contains("export TOLLGATE_NODE_HOSTS='*.amazonaws.com,*.api.aws'\n"));
        // What a shell makes of the exports, with and without a NODE_OPTIONS of its own.
        for (before, after) in [
            (None, r#"--require "/home/a b/$x/node-preload.cjs""#),
            (
                Some("--max-old-space-size=64"),
                r#"--max-old-space-size=64 --require "/home/a b/$x/node-preload.cjs""#,
            ),
        ] {
            let mut shell = std::process::Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("{exports}printf %s \"$NODE_OPTIONS\""))
                .env_remove("NODE_OPTIONS");
            if let Some(before) = before {
                shell.env("NODE_OPTIONS", before);
            }
            let out = shell.output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), after);
        }
        // A child of `run` gets the same, from the NODE_OPTIONS tollgate inherited.
        let child = env.child_vars(Some("--max-old-space-size=64"));
        assert!(child.contains(&(
            "NODE_OPTIONS",
            r#"--max-old-space-size=64 --require "/home/a b/$x/node-preload.cjs""#.to_string()
        )));
    }
}
