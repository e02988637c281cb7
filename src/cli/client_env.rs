//! The environment that sends a client's AWS calls through tollgate and makes it trust tollgate.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::node_preload::{self, NodePreload};
use super::python_callsites::PythonCallsites;

/// The SDKs' endpoint override for every service (the AWS SDKs and tools reference guide,
/// "Service-specific endpoints").
pub const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL";

/// botocore's CA bundle setting: a CA bundle the user configured, which tollgate must replace.
const AWS_CA_BUNDLE: &str = "AWS_CA_BUNDLE";

/// Where a client should send its HTTPS traffic and which CA bundle it should trust.
#[derive(Debug, Clone)]
pub struct ClientEnv {
    pub proxy_url: String,
    /// The combined bundle: system roots plus the tollgate CA. Never the CA alone, which would
    /// break every host that is tunnelled rather than intercepted.
    pub bundle: PathBuf,
    /// The Node preload, unless `--no-node-preload` (or it could not be written).
    pub node: Option<NodePreload>,
    /// The Python call-site bootstrap, unless `--no-callsites` (or it could not be written).
    pub python: Option<PythonCallsites>,
    /// Endpoint mode's URL (`http://127.0.0.1:PORT`), when it is on.
    pub endpoint_url: Option<String>,
}

impl ClientEnv {
    pub fn new(proxy: SocketAddr, bundle: &Path) -> Self {
        Self {
            // SDKs want an http:// proxy URL even for https traffic (CONNECT).
            proxy_url: format!("http://{proxy}"),
            bundle: bundle.to_path_buf(),
            node: None,
            python: None,
            endpoint_url: None,
        }
    }

    pub fn with_endpoint(mut self, endpoint: Option<SocketAddr>) -> Self {
        self.endpoint_url = endpoint.map(|addr| format!("http://{addr}"));
        self
    }

    /// Endpoint mode's variables for a child: AWS_ENDPOINT_URL, which every current SDK and both
    /// AWS CLIs read, and the Python call-site bootstrap (its header is unsigned, and removed
    /// before the request goes on). No proxy and no CA: the client speaks plain HTTP to tollgate.
    pub fn endpoint_child_vars(
        &self,
        inherited: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(&'static str, String)> {
        let mut vars = Vec::new();
        if let Some(url) = &self.endpoint_url {
            vars.push((ENDPOINT_VAR, url.clone()));
            // A proxy the user had for plain HTTP must not carry the calls to tollgate's own
            // loopback address (botocore and the Rust SDK honour HTTP_PROXY for http:// URLs).
            for name in ["NO_PROXY", "no_proxy"] {
                vars.push((name, with_loopback(inherited(name).as_deref())));
            }
        }
        if let Some(python) = &self.python {
            vars.push((
                "PYTHONPATH",
                python.python_path(inherited("PYTHONPATH").as_deref()),
            ));
        }
        vars
    }

    pub fn with_python(mut self, python: Option<PythonCallsites>) -> Self {
        self.python = python;
        self
    }

    pub fn with_node(mut self, node: Option<NodePreload>) -> Self {
        self.node = node;
        self
    }

    /// The variables for a child process that would inherit `inherited` (a variable's value, if
    /// set and not empty): [`Self::vars`]; NODE_OPTIONS with the preload appended; and
    /// AWS_CA_BUNDLE replaced by tollgate's bundle where one was set (see [`Self::vars`]).
    pub fn child_vars(
        &self,
        inherited: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(&'static str, String)> {
        let mut vars = self.vars();
        if user_has_ca_bundle(inherited) {
            vars.push((AWS_CA_BUNDLE, self.bundle.display().to_string()));
        }
        if let Some(node) = &self.node {
            vars.push((
                "NODE_OPTIONS",
                node.node_options(inherited("NODE_OPTIONS").as_deref()),
            ));
        }
        if let Some(python) = &self.python {
            vars.push((
                "PYTHONPATH",
                python.python_path(inherited("PYTHONPATH").as_deref()),
            ));
        }
        vars
    }

    /// Variable and value pairs, in the order they are printed; NODE_OPTIONS and AWS_CA_BUNDLE,
    /// which depend on what the user has, are not among them (see [`Self::child_vars`]).
    ///
    /// AWS_CA_BUNDLE is not set: the AWS SDK for Go v2 refuses to start a program that passes its
    /// own `*http.Client` when it is ("unable to add custom RootCAs HTTPClient"), and no client
    /// needs it. botocore (boto3, both AWS CLIs, aiobotocore) trusts REQUESTS_CA_BUNDLE when no
    /// CA bundle is configured, Go and the Rust SDK trust SSL_CERT_FILE. Only where the user had
    /// set AWS_CA_BUNDLE does tollgate replace it, or botocore would trust that bundle alone.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let bundle = self.bundle.display().to_string();
        let mut vars = vec![
            // boto3/botocore, the AWS CLI, the Rust and Go SDKs, curl, requests.
            ("HTTPS_PROXY", self.proxy_url.clone()),
            ("https_proxy", self.proxy_url.clone()),
            // OpenSSL-based tools, Python's ssl, Go's crypto/x509, rustls-native-certs (the Rust
            // SDK).
            ("SSL_CERT_FILE", bundle.clone()),
            // botocore and the AWS CLI (v1 and v2) when no `ca_bundle` is configured; requests.
            ("REQUESTS_CA_BUNDLE", bundle.clone()),
            ("CURL_CA_BUNDLE", bundle.clone()),
            // Node adds these to its own roots.
            ("NODE_EXTRA_CA_CERTS", bundle),
        ];
        if let Some(node) = &self.node {
            // The AWS SDK for JavaScript ignores HTTPS_PROXY: the preload routes it.
            vars.push((node_preload::PROXY_VAR, self.proxy_url.clone()));
            vars.push((node_preload::HOSTS_VAR, node.hosts.clone()));
            if node.callsites {
                vars.push((node_preload::CALLSITES_VAR, "1".to_string()));
            }
        }
        vars
    }

    /// Endpoint mode's `export` lines: AWS_ENDPOINT_URL, and the Python call-site bootstrap first
    /// on the shell's PYTHONPATH. Nothing of proxy mode's.
    pub fn endpoint_exports(&self) -> String {
        let mut out = String::new();
        if let Some(url) = &self.endpoint_url {
            let _ = writeln!(out, "export {ENDPOINT_VAR}={}", shell_quote(url));
            for name in ["NO_PROXY", "no_proxy"] {
                let _ = writeln!(out, "export {name}=\"${{{name}:+${name},}}127.0.0.1\"");
            }
        }
        if let Some(python) = &self.python {
            let _ = writeln!(
                out,
                "export PYTHONPATH=\"{}${{PYTHONPATH:+:$PYTHONPATH}}\"",
                double_quoted(&python.dir.display().to_string())
            );
        }
        out
    }

    /// `export NAME='value'` lines for a POSIX shell.
    pub fn shell_exports(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.vars() {
            let _ = writeln!(out, "export {name}={}", shell_quote(&value));
        }
        // Replaced only where the user has one (see `vars`): in the shared config file, known
        // now, or in the environment of the shell that evaluates these lines.
        let bundle = shell_quote(&self.bundle.display().to_string());
        if ca_bundle_in_shared_config(&|name| std::env::var(name).ok().filter(|v| !v.is_empty())) {
            let _ = writeln!(out, "export {AWS_CA_BUNDLE}={bundle}");
        } else {
            let _ = writeln!(
                out,
                "if [ -n \"${{{AWS_CA_BUNDLE}:-}}\" ]; then export {AWS_CA_BUNDLE}={bundle}; fi"
            );
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
        if let Some(python) = &self.python {
            // Call sites: the bootstrap first on the shell's own PYTHONPATH.
            let _ = writeln!(
                out,
                "export PYTHONPATH=\"{}${{PYTHONPATH:+:$PYTHONPATH}}\"",
                double_quoted(&python.dir.display().to_string())
            );
        }
        out
    }
}

/// A NO_PROXY list with 127.0.0.1 in it.
fn with_loopback(no_proxy: Option<&str>) -> String {
    match no_proxy {
        Some(list) if list.split(',').any(|host| host.trim() == "127.0.0.1") => list.to_string(),
        Some(list) => format!("{list},127.0.0.1"),
        None => "127.0.0.1".to_string(),
    }
}

/// Whether the user configured a CA bundle for botocore: AWS_CA_BUNDLE, or `ca_bundle` in the
/// shared config file. botocore then trusts that bundle alone, so tollgate must set
/// AWS_CA_BUNDLE (which beats the file) to its own.
fn user_has_ca_bundle(inherited: &dyn Fn(&str) -> Option<String>) -> bool {
    inherited(AWS_CA_BUNDLE).is_some() || ca_bundle_in_shared_config(inherited)
}

/// Whether the shared config file (AWS_CONFIG_FILE, else ~/.aws/config) sets `ca_bundle` in any
/// profile. Any profile counts: which one a child uses is its own choice (AWS_PROFILE, code).
fn ca_bundle_in_shared_config(inherited: &dyn Fn(&str) -> Option<String>) -> bool {
    let path = match inherited("AWS_CONFIG_FILE") {
        Some(path) => PathBuf::from(path),
        None => match inherited("HOME") {
            Some(home) => Path::new(&home).join(".aws/config"),
            None => return false,
        },
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines().any(|line| {
        line.split_once('=')
            .is_some_and(|(key, _)| key.trim() == "ca_bundle")
    })
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
        // Only replaced where the shell has one: the Go SDK breaks on it (see `vars`).
        assert!(exports.contains(
            "if [ -n \"${AWS_CA_BUNDLE:-}\" ]; then export AWS_CA_BUNDLE='/home/a b/ca-bundle.pem'; fi\n"
        ));
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
        let endpoint = env
            .clone()
            .with_endpoint(Some("127.0.0.1:8878".parse().unwrap()))
            .endpoint_exports();
        assert!(endpoint.starts_with("export AWS_ENDPOINT_URL=http://127.0.0.1:8878\n"));
        assert!(endpoint.contains("export NO_PROXY=\"${NO_PROXY:+$NO_PROXY,}127.0.0.1\"\n"));
        assert_eq!(with_loopback(None), "127.0.0.1");
        assert_eq!(
            with_loopback(Some("corp.example")),
            "corp.example,127.0.0.1"
        );
        assert_eq!(with_loopback(Some("127.0.0.1, x")), "127.0.0.1, x");
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
            callsites: true,
        }));
        let exports = env.shell_exports();
        assert!(exports.contains("export TOLLGATE_NODE_PROXY=http://127.0.0.1:8877\n"));
        assert!(exports.contains("export TOLLGATE_NODE_HOSTS='*.amazonaws.com,*.api.aws'\n"));
        assert!(exports.contains("export TOLLGATE_NODE_CALLSITES=1\n"));
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
        let child = env.child_vars(&|name| {
            (name == "NODE_OPTIONS").then(|| "--max-old-space-size=64".to_string())
        });
        assert!(child.contains(&(
            "NODE_OPTIONS",
            r#"--max-old-space-size=64 --require "/home/a b/$x/node-preload.cjs""#.to_string()
        )));
    }

    #[test]
    fn the_call_site_bootstrap_goes_first_on_the_shells_pythonpath() {
        let env = ClientEnv::new(
            "127.0.0.1:8877".parse().unwrap(),
            Path::new("/tmp/ca-bundle.pem"),
        )
        .with_python(Some(PythonCallsites {
            dir: PathBuf::from("/home/a b/tollgate/python"),
        }));
        let exports = env.shell_exports();
        for (before, after) in [
            (None, "/home/a b/tollgate/python"),
            (Some("/src"), "/home/a b/tollgate/python:/src"),
        ] {
            let mut shell = std::process::Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("{exports}printf %s \"$PYTHONPATH\""))
                .env_remove("PYTHONPATH");
            if let Some(before) = before {
                shell.env("PYTHONPATH", before);
            }
            let out = shell.output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), after);
        }
        let child = env.child_vars(&|name| (name == "PYTHONPATH").then(|| "/src".to_string()));
        assert!(child.contains(&("PYTHONPATH", "/home/a b/tollgate/python:/src".to_string())));
        // Without the bootstrap, PYTHONPATH is not touched.
        let plain = ClientEnv::new("127.0.0.1:8877".parse().unwrap(), Path::new("/t.pem"));
        assert!(!plain.shell_exports().contains("PYTHONPATH"));
        assert!(plain
            .child_vars(&|_| Some("/src".to_string()))
            .iter()
            .all(|(name, _)| *name != "PYTHONPATH"));
    }

    /// The AWS SDK for Go v2 refuses a program's own `*http.Client` when AWS_CA_BUNDLE is set, so
    /// a child gets it only where the user had configured a bundle that would otherwise win.
    #[test]
    fn aws_ca_bundle_is_replaced_only_where_the_user_configured_one() {
        let scratch = tempfile::tempdir().unwrap();
        let env = ClientEnv::new(
            "127.0.0.1:8877".parse().unwrap(),
            Path::new("/t/bundle.pem"),
        );
        let config = scratch.path().join("config");
        let child = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let set = env.child_vars(&move |name| {
                vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
            });
            set.iter()
                .find(|(name, _)| *name == "AWS_CA_BUNDLE")
                .map(|(_, value)| value.clone())
        };
        let config_path = config.to_str().unwrap();
        assert_eq!(child(&[("AWS_CONFIG_FILE", config_path)]), None, "no file");
        std::fs::write(&config, "[default]\nregion = eu-west-1\n").unwrap();
        assert_eq!(child(&[("AWS_CONFIG_FILE", config_path)]), None);
        assert_eq!(
            child(&[
                ("AWS_CONFIG_FILE", config_path),
                ("AWS_CA_BUNDLE", "/corp.pem")
            ])
            .as_deref(),
            Some("/t/bundle.pem")
        );
        std::fs::write(&config, "[profile corp]\nca_bundle = /corp.pem\n").unwrap();
        assert_eq!(
            child(&[("AWS_CONFIG_FILE", config_path)]).as_deref(),
            Some("/t/bundle.pem")
        );
        // REQUESTS_CA_BUNDLE and SSL_CERT_FILE are always set: botocore, Go and Rust trust them.
        let vars = env.child_vars(&|_| None);
        for name in ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"] {
            assert!(
                vars.contains(&(name, "/t/bundle.pem".to_string())),
                "{name}"
            );
        }
    }
}
