//! The local CA: name constraints checked by real verifiers, file permissions, commands.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tollgate::ca::{CaPaths, LocalCa};

use crate::common::{hermetic_command, python, ring, tollgate, tollgate_command, TOLLGATE};

/// A home directory tollgate creates itself (as it does for a new user), with a CA in it.
struct Home {
    _parent: tempfile::TempDir,
    dir: std::path::PathBuf,
}

impl Home {
    fn path(&self) -> &std::path::Path {
        &self.dir
    }
}

fn new_ca() -> (Home, LocalCa) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tollgate");
    let (code, _, stderr) = tollgate(&dir, &["ca", "init"]);
    assert_eq!(code, Some(0), "{stderr}");
    let ca = LocalCa::load(&CaPaths::new(&dir)).unwrap();
    (
        Home {
            _parent: parent,
            dir,
        },
        ca,
    )
}

fn webpki_verdict(ca: &LocalCa, name: &str) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), ring())
        .build()
        .unwrap();
    let leaf = ca
        .issue_leaf(
            name,
            &KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
        )
        .unwrap();
    verifier
        .verify_server_cert(
            &leaf,
            &[],
            &ServerName::try_from(name.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .map(drop)
}

#[test]
fn webpki_accepts_aws_names_and_rejects_every_other_name_signed_by_the_ca() {
    let (_home, ca) = new_ca();
    for name in [
        "s3.us-east-1.amazonaws.com",
        "my.bucket.s3.amazonaws.com",
        "sts.cn-north-1.amazonaws.com.cn",
        "bedrock-runtime.us-east-1.api.aws",
    ] {
        webpki_verdict(&ca, name).unwrap_or_else(|error| panic!("{name}: {error}"));
    }
    for name in [
        "example.com",
        "amazonaws.com.evil.net",
        "github.com",
        "127.0.0.1",
    ] {
        let error = webpki_verdict(&ca, name).expect_err(name);
        let text = format!("{error:?}");
        assert!(text.contains("NameConstraintViolation"), "{name}: {text}");
    }
}

/// Serves one TLS handshake with a leaf for `name` from `ca`, on a background thread.
fn serve_leaf_once(ca: &LocalCa, name: &str) -> u16 {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = ca.issue_leaf(name, &key).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            let _ = conn.complete_io(&mut stream);
        }
    });
    port
}

/// Python's `ssl` (OpenSSL) connecting to a server presenting a tollgate leaf for `name`.
fn openssl_verdict(ca_path: &std::path::Path, name: &str, port: u16) -> (bool, String) {
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=sys.argv[2]):
            print("verified")
except ssl.SSLCertVerificationError as error:
    print("rejected:", error.verify_message)
"#;
    let output = hermetic_command(python())
        .args(["-c", script])
        .arg(ca_path)
        .arg(name)
        .arg(port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout == "verified", stdout)
}

#[test]
fn openssl_via_python_ssl_rejects_a_leaf_outside_the_permitted_domains() {
    let (home, ca) = new_ca();
    let ca_path = home.path().join("ca.pem");

    let port = serve_leaf_once(&ca, "sqs.us-east-1.amazonaws.com");
    let (ok, text) = openssl_verdict(&ca_path, "sqs.us-east-1.amazonaws.com", port);
    assert!(ok, "control case: {text}");

    let port = serve_leaf_once(&ca, "example.com");
    let (ok, text) = openssl_verdict(&ca_path, "example.com", port);
    assert!(!ok, "{text}");
    assert!(text.contains("permitted subtree violation"), "{text}");

    // An IP address leaf: every address is excluded.
    let port = serve_leaf_once(&ca, "127.0.0.1");
    let (ok, text) = openssl_verdict(&ca_path, "127.0.0.1", port);
    assert!(!ok, "{text}");
    assert!(text.contains("excluded subtree violation"), "{text}");
}

#[test]
fn the_ca_directory_and_key_are_private_and_a_readable_key_is_refused() {
    let (home, _ca) = new_ca();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(home.path()), 0o700);
    assert_eq!(mode(&home.path().join("ca-key.pem")), 0o600);

    let key = home.path().join("ca-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    // 125 under `run`, where 2 could be the command's.
    for (args, expected) in [(&["ca", "show"][..], 2), (&["run", "--", "true"], 125)] {
        let (code, _, stderr) = tollgate(home.path(), args);
        assert_eq!(code, Some(expected), "{args:?}: {stderr}");
        assert!(stderr.contains("chmod 600"), "{stderr}");
        assert!(stderr.contains("ca-key.pem"), "{stderr}");
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, stdout, _) = tollgate(home.path(), &["ca", "show"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("amazonaws.com, amazonaws.com.cn, api.aws"),
        "{stdout}"
    );
}

#[test]
fn the_bundle_holds_the_system_roots_and_the_ca_last() {
    let (home, ca) = new_ca();
    let out = home.path().join("bundle.pem");
    let (code, _, stderr) = tollgate(home.path(), &["ca", "bundle", "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let certs = tollgate::roots::read_pem_certs(&out).unwrap();
    assert!(certs.len() > 10, "only {} certificates", certs.len());
    assert_eq!(certs.last().unwrap(), ca.cert_der());
}

#[test]
fn rotate_makes_a_new_ca_keeping_its_domains_and_adding_new_ones() {
    let (home, old) = new_ca();
    let (code, stdout, stderr) = tollgate(
        home.path(),
        &["ca", "rotate", "--domain", "localhost.localstack.cloud"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let new = LocalCa::load(&CaPaths::new(home.path())).unwrap();
    assert_ne!(new.fingerprint_sha256(), old.fingerprint_sha256());
    assert!(stdout.contains(&new.fingerprint_sha256()));
    assert_eq!(
        new.permitted_domains(),
        [
            "amazonaws.com",
            "amazonaws.com.cn",
            "api.aws",
            "localhost.localstack.cloud"
        ]
    );
    let (code, stdout, _) = tollgate(home.path(), &["ca", "path"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout.trim(), home.path().join("ca.pem").to_str().unwrap());
}

#[test]
fn intercepting_a_domain_the_ca_does_not_permit_is_refused_with_the_fix() {
    let (home, _) = new_ca();
    let (code, _, stderr) = tollgate(
        home.path(),
        &["run", "--intercept", "*.emulator.test", "--", "true"],
    );
    assert_eq!(code, Some(125), "{stderr}");
    assert!(
        stderr.contains("tollgate ca rotate --domain emulator.test"),
        "{stderr}"
    );
}

#[test]
fn the_ca_is_created_on_first_use_in_the_xdg_data_directory() {
    let xdg = tempfile::tempdir().unwrap();
    // No TOLLGATE_HOME: the XDG data directory.
    let output = hermetic_command(TOLLGATE)
        .args(["ca", "path"])
        .env("XDG_DATA_HOME", xdg.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let expected = xdg.path().join("tollgate/ca.pem");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        expected.to_str().unwrap()
    );
    assert!(expected.exists());
    let mode = std::fs::metadata(xdg.path().join("tollgate"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_rotated_ca_leaves_the_bundle_even_when_the_old_bundle_is_the_system_store() {
    let (home, old) = new_ca();
    // As after `eval "$(tollgate env)"`: the system store clients read is tollgate's own bundle.
    let first = home.path().join("first.pem");
    std::fs::write(
        &first,
        tollgate::roots::Roots::system().bundle_with(old.cert_pem()),
    )
    .unwrap();
    let (code, _, stderr) = tollgate(home.path(), &["ca", "rotate"]);
    assert_eq!(code, Some(0), "{stderr}");
    let second = home.path().join("second.pem");
    let output = tollgate_command(home.path())
        .args(["ca", "bundle", "-o"])
        .arg(&second)
        .env("SSL_CERT_FILE", &first)
        .output()
        .unwrap();
    assert!(output.status.success());
    let new = LocalCa::load(&CaPaths::new(home.path())).unwrap();
    let tollgate_cas: Vec<_> = tollgate::roots::read_pem_certs(&second)
        .unwrap()
        .into_iter()
        .filter(tollgate::roots::is_tollgate_ca)
        .collect();
    assert_eq!(tollgate_cas, vec![new.cert_der().clone()]);
}
