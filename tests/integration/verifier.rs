//! The SigV4-verifying upstream (`tests/e2e/sigv4_upstream.py`) between tollgate and moto: it
//! checks every request as AWS would, with botocore's own signer (never tollgate's code), rejects
//! what AWS would reject, notes any `x-tollgate-*` header that reached it, and forwards the rest
//! to moto. Used by the call-site tests (no header of tollgate's may reach AWS, and tagging must
//! not break a signature) and by endpoint mode's (every re-signed request must hold).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::common::{hermetic_command, wait_for_port_file};
use crate::moto::MANIFEST_DIR;

/// The credentials `moto::dummy_aws_env` gives every workload.
pub(crate) const ACCESS_KEY: &str = "AKIDTOLLGATETEST";
pub(crate) const SECRET: &str = "tollgate-test-dummy-secret";

/// The verifying upstream, killed when dropped.
pub(crate) struct Verifier {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Verifier {
    /// Starts one in front of `moto` that accepts `access_key` signing with `secret`.
    pub(crate) fn start(
        python: &Path,
        scratch: &Path,
        moto: &str,
        access_key: &str,
        secret: &str,
    ) -> Self {
        let port_file = scratch.join(format!("verifier-{access_key}.port"));
        let log = scratch.join(format!("verifier-{access_key}.log"));
        let child = hermetic_command(python)
            .arg(Path::new(MANIFEST_DIR).join("tests/e2e/sigv4_upstream.py"))
            .args([&port_file, &log])
            .args([moto, access_key, secret])
            .stdin(Stdio::null())
            .stderr(
                std::fs::File::create(scratch.join(format!("verifier-{access_key}.stderr")))
                    .unwrap(),
            )
            .spawn()
            .expect("start the verifying upstream");
        let port = wait_for_port_file(&port_file, "the verifying upstream");
        Verifier { child, port, log }
    }

    /// With the credentials every workload gets.
    pub(crate) fn start_default(python: &Path, scratch: &Path, moto: &str) -> Self {
        Self::start(python, scratch, moto, ACCESS_KEY, SECRET)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One JSON object per request it received, in order: `method`, `path`, `host`, `accepted`,
    /// `reason`, `payload`, `session_token`, `tollgate_headers`, `bytes`.
    pub(crate) fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// [`Self::requests`], then forgets them: the next call sees only what came after.
    pub(crate) fn take_requests(&self) -> Vec<Value> {
        let requests = self.requests();
        let _ = std::fs::write(&self.log, "");
        requests
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
