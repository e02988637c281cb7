//! The environment that sends a client's AWS calls through tollgate and makes it trust tollgate.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where a client should send its HTTPS traffic and which CA bundle it should trust.
#[derive(Debug, Clone)]
pub struct ClientEnv {
    pub proxy_url: String,
    /// The combined bundle: system roots plus the tollgate CA. Never the CA alone, which would
    /// break every host that is tunnelled rather than intercepted.
    pub bundle: PathBuf,
}

impl ClientEnv {
    pub fn new(proxy: SocketAddr, bundle: &Path) -> Self {
        Self {
            // SDKs want an http:// proxy URL even for https traffic (CONNECT).
            proxy_url: format!("http://{proxy}"),
            bundle: bundle.to_path_buf(),
        }
    }

    /// Variable and value pairs, in the order they are printed.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let bundle = self.bundle.display().to_string();
        vec![
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
        ]
    }

    /// `export NAME='value'` lines for a POSIX shell.
    pub fn shell_exports(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.vars() {
            let _ = writeln!(out, "export {name}={}", shell_quote(&value));
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
    }
}
