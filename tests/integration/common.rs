//! Shared helpers: a real HTTPS origin with its own test CA, a real `tollgate serve` process, and
//! the one place processes are started: [`hermetic_command`] and [`tollgate_command`] (a test
//! must never see, nor write into, the setup of whoever runs it).

#![allow(dead_code)] // each test module uses its own subset

use std::convert::Infallible;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub const TOLLGATE: &str = env!("CARGO_BIN_EXE_tollgate");

/// Whether an environment variable of whoever runs the tests could change what tollgate or a
/// workload does, or where it writes: tollgate's own (`TOLLGATE_DB` would record the tests'
/// runs into the user's database, `TOLLGATE_PRICING` would price them with the user's overlay),
/// AWS's and boto's (a profile, credentials, a region), GitHub Actions' (`tollgate gate` writes
/// to `$GITHUB_STEP_SUMMARY`; the CI facts of a run come from `GITHUB_*`), the log filter,
/// proxies, and Node's options (a `--require` of the user's own, Node's own proxying).
pub fn is_users_setting(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes().to_ascii_uppercase();
    [&b"TOLLGATE_"[..], b"AWS_", b"BOTO_", b"GITHUB_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || [
            &b"RUST_LOG"[..],
            b"HTTP_PROXY",
            b"HTTPS_PROXY",
            b"ALL_PROXY",
            b"NO_PROXY",
            b"NODE_OPTIONS",
            b"NODE_USE_ENV_PROXY",
        ]
        .contains(&name.as_slice())
}

/// Removes from `command`'s environment every variable of this process that
/// [`is_users_setting`], whatever its case (`https_proxy` too).
pub fn forget_users_settings(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if is_users_setting(&name) {
            command.env_remove(name);
        }
    }
    command
}

/// `program` in an environment without the user's settings ([`is_users_setting`]). Every
/// process a test starts begins here; what a test sets on purpose, it sets afterwards.
pub fn hermetic_command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    forget_users_settings(&mut command);
    command
}

/// The tollgate binary in a hermetic environment ([`hermetic_command`]) with `home` as its
/// TOLLGATE_HOME: its CA, and its database unless the test passes `--db`.
pub fn tollgate_command(home: &Path) -> Command {
    let mut command = hermetic_command(TOLLGATE);
    command.env("TOLLGATE_HOME", home);
    command
}

pub fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A CA of the tests' own, for origins that stand in for AWS or for tunnelled hosts.
pub struct TestCa {
    pub pem: String,
    pub der: rustls_pki_types::CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tollgate tests origin CA");
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("origin-ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A server config with a leaf for `names`, offering `alpn`.
    /// A server certificate for `names` signed by this CA, and its key, as PEM.
    pub fn server_pem(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub fn server_config(&self, names: &[&str], alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

type OriginBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A real HTTPS server (hyper + rustls) with a few routes:
/// - `/echo...`: 200 with `x-seen-host`, `x-seen-path`, `x-seen-version` headers and a small XML body
/// - `PUT /upload`: reads the body as it streams; answers `<bytes> <sha256 hex>`
/// - `/download?bytes=N`: streams N bytes of [`pattern`]
/// - `/slow?ms=N`: answers after N ms
pub struct Origin {
    pub addr: SocketAddr,
    pub ca: TestCa,
}

impl Origin {
    pub async fn start() -> Self {
        let ca = TestCa::new();
        let config = ca.server_config(&["localhost", "127.0.0.1"], &[b"h2", b"http/1.1"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(tls), service_fn(origin_route))
                        .await;
                });
            }
        });
        Self { addr, ca }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}

async fn origin_route(mut request: Request<Incoming>) -> Result<Response<OriginBody>, Infallible> {
    if request.uri().path() == "/ws" && request.headers().contains_key("upgrade") {
        // `/ws`: switches protocols, then echoes every byte back (a WebSocket stand-in).
        let on_upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let (mut read, mut write) = tokio::io::split(TokioIo::new(upgraded));
                let _ = tokio::io::copy(&mut read, &mut write).await;
            }
        });
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(Full::new(Bytes::new()).boxed())
            .unwrap());
    }
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let param = |name: &str| -> u64 {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let response = if path == "/upload" {
        let mut body = request.into_body();
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                bytes += data.len() as u64;
                hasher.update(&data);
            }
        }
        let text = format!("{bytes} {}", hex(&hasher.finalize()));
        Response::new(Full::new(Bytes::from(text)).boxed())
    } else if path == "/download" {
        let total = param("bytes");
        let chunk = pattern_chunk();
        let stream = futures_util::stream::unfold(0u64, move |sent| {
            let chunk = chunk.clone();
            async move {
                if sent >= total {
                    return None;
                }
                let n = (total - sent).min(chunk.len() as u64) as usize;
                Some((
                    Ok::<_, Infallible>(Frame::data(chunk.slice(..n))),
                    sent + n as u64,
                ))
            }
        });
        Response::builder()
            .header("content-length", total)
            .body(StreamBody::new(stream).boxed())
            .unwrap()
    } else if path == "/slow" {
        tokio::time::sleep(Duration::from_millis(param("ms"))).await;
        Response::new(Full::new(Bytes::from_static(b"slow done")).boxed())
    } else if let Some(code) = path.strip_prefix("/status/") {
        let mut response = Response::new(Full::new(Bytes::from_static(b"<Error/>")).boxed());
        *response.status_mut() = StatusCode::from_u16(code.parse().unwrap()).unwrap();
        response
    } else {
        // HTTP/2 carries the host in the :authority pseudo-header instead.
        let host = request
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| request.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        Response::builder()
            .header("x-seen-host", host)
            .header(
                "x-seen-path",
                request.uri().path_and_query().unwrap().as_str(),
            )
            .header("x-seen-version", format!("{:?}", request.version()))
            .header("x-amz-request-id", "TESTREQUESTID")
            .body(
                Full::new(Bytes::from_static(
                    b"<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount></ListBucketResult>",
                ))
                .boxed(),
            )
            .unwrap()
    };
    Ok(response)
}

/// 64 KiB of a byte pattern that is not all zeros (so compression or dedup can't cheat).
pub fn pattern_chunk() -> Bytes {
    Bytes::from(
        (0..64 * 1024)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<_>>(),
    )
}

/// The SHA-256 of `total` bytes of the repeated pattern.
pub fn pattern_sha256(total: u64) -> String {
    let chunk = pattern_chunk();
    let mut hasher = Sha256::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `tollgate serve` process on a free loopback port with its own TOLLGATE_HOME. Killed on drop.
pub struct Tollgate {
    pub home: tempfile::TempDir,
    pub addr: SocketAddr,
    child: Option<Child>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Tollgate {
    pub fn serve(args: &[&str]) -> Self {
        Self::serve_in(tempfile::tempdir().unwrap(), args)
    }

    pub fn serve_in(home: tempfile::TempDir, args: &[&str]) -> Self {
        let mut child = tollgate_command(home.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tollgate serve");
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut addr = None;
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(url) = line.trim().strip_prefix("export HTTPS_PROXY=http://") {
                addr = Some(url.parse().unwrap());
                break;
            }
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let Some(addr) = addr else {
            let _ = child.kill();
            panic!(
                "tollgate serve printed no HTTPS_PROXY export; stderr:\n{}",
                stderr.join().unwrap()
            );
        };
        Self {
            home,
            addr,
            child: Some(child),
            stderr: Some(stderr),
        }
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.home.path().join("ca.pem")).unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Peak resident memory of the proxy process so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// SIGTERM, wait, and return (exit code, stderr).
    pub fn stop(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = wait_timeout(&mut child, Duration::from_secs(30));
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }

    /// A client that sends everything through this proxy and trusts the tollgate CA, plus
    /// `extra_roots` (for tunnelled origins).
    pub fn client(&self, extra_roots: &[&str]) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(self.proxy_url()).unwrap())
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem().as_bytes()).unwrap())
            .timeout(Duration::from_secs(120));
        for pem in extra_roots {
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
        }
        builder
    }
}

impl Drop for Tollgate {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits up to `limit` for the child, killing it after that. Returns its exit code.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `tollgate ARGS` to completion with the given home; returns (exit code, stdout, stderr).
pub fn tollgate(home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = tollgate_command(home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Python 3 for tests that use its `ssl` module (OpenSSL): the venv's, else the system's.
pub fn python() -> PathBuf {
    if let Ok(python) = std::env::var("TOLLGATE_TEST_PYTHON") {
        return python.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

/// The port a helper server wrote to `port_file` once it listened (it writes a temporary file and
/// renames it, so a read never sees half a number); fails the test after 20 s.
pub fn wait_for_port_file(port_file: &Path, what: &str) -> u16 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(port_file) {
            return text.trim().parse().expect("a port");
        }
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The integer constant `name` of a workload's source: `NAME = N` (Python) or `const NAME = N;`
/// (JavaScript). The workloads state their ground truth this way, and the tests read it back.
pub fn workload_constant(source: &str, name: &str) -> u64 {
    source
        .lines()
        .find_map(|line| {
            line.strip_prefix(&format!("{name} = "))
                .or_else(|| line.strip_prefix(&format!("const {name} = ")))
        })
        .and_then(|value| value.trim().trim_end_matches(';').parse().ok())
        .unwrap_or_else(|| panic!("no constant {name} in the workload"))
}
