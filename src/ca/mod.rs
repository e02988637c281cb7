//! The local certificate authority whose leaves the proxy presents to intercepted clients.
//!
//! The CA is an ECDSA P-256 key and a self-signed certificate kept in tollgate's data directory
//! (0700, key 0600). Its certificate carries X.509 Name Constraints that permit only the AWS
//! domains (plus any configured when the CA was made) and exclude every IP address, so a stolen
//! tollgate CA cannot be used to impersonate any other site.

mod leaf;

pub use leaf::LeafCertificates;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::home;

/// The subject organisation of every tollgate CA: how bundles recognise (and drop) old ones.
pub const CA_ORGANIZATION: &str = "tollgate";

const CERT_FILE: &str = "ca.pem";
const KEY_FILE: &str = "ca-key.pem";
const CA_VALIDITY_DAYS: i64 = 3650;
const LEAF_VALIDITY_DAYS: i64 = 397;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("no tollgate CA in {dir}; create one with `tollgate ca init`")]
    Missing { dir: PathBuf },
    #[error(
        "the CA private key {path} can be read by group or others (mode {mode:03o}); \
         tollgate refuses to use it. Fix it with `chmod 600 {path}`, or run `tollgate ca rotate` \
         if the key may have leaked"
    )]
    KeyTooOpen { path: PathBuf, mode: u32 },
    #[error(
        "the CA private key {path} belongs to uid {owner}, not to you (uid {me}); \
         use your own TOLLGATE_HOME or fix the owner with chown"
    )]
    KeyNotOwned { path: PathBuf, owner: u32, me: u32 },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a usable tollgate CA file: {reason}; `tollgate ca rotate` makes a new CA"
    )]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "'{0}' is not a domain a CA can be constrained to (use a DNS name such as example.test)"
    )]
    BadDomain(String),
    #[error("a CA constrained to no domain could impersonate any site; name at least one")]
    NoDomains,
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Where a CA lives on disk.
#[derive(Debug, Clone)]
pub struct CaPaths {
    pub dir: PathBuf,
}

impl CaPaths {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }
    /// The combined bundle (system roots plus this CA) that clients are pointed at.
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("ca-bundle.pem")
    }
    fn exists(&self) -> bool {
        self.cert().exists() || self.key().exists()
    }
}

/// A loaded CA: its certificate, and an issuer able to sign leaves.
pub struct LocalCa {
    paths: CaPaths,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    permitted_domains: Vec<String>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("cert", &self.paths.cert())
            .field("permitted_domains", &self.permitted_domains)
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA in `paths`, creating it first if there is none, permitted to issue for
    /// `domains` (and the names below them). Returns whether it was created.
    ///
    /// Processes starting together (parallel CI jobs on one machine, each a first `tollgate
    /// run`) create one CA between them: creation holds an exclusive lock on a file in the CA's
    /// directory, and whoever gets it second loads what the first made. Without it each made its
    /// own, and the clients of all but the last trusted a bundle that no longer matched.
    pub fn load_or_create(paths: &CaPaths, domains: &[String]) -> Result<(Self, bool), CaError> {
        // Both files: made, and never rewritten in place. One only may be another process
        // half-way through making it: decided under the lock.
        if paths.cert().exists() && paths.key().exists() {
            return Ok((Self::load(paths)?, false));
        }
        let io = |action: &'static str, path: PathBuf| {
            move |source: std::io::Error| CaError::Io {
                action,
                path,
                source,
            }
        };
        home::ensure_private_dir(&paths.dir).map_err(io("create", paths.dir.clone()))?;
        let lock_path = paths.dir.join("create.lock");
        let lock_file = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&lock_path)
                .map_err(io("open", lock_path.clone()))?
        };
        let _held = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| io("lock", lock_path.clone())(errno.into()))?;
        if paths.exists() {
            Ok((Self::load(paths)?, false))
        } else {
            Ok((Self::create(paths, domains)?, true))
        }
    }

    /// Loads an existing CA, refusing a private key that anyone else can read.
    pub fn load(paths: &CaPaths) -> Result<Self, CaError> {
        if !paths.exists() {
            return Err(CaError::Missing {
                dir: paths.dir.clone(),
            });
        }
        let key_path = paths.key();
        check_key_is_private(&key_path)?;
        let key_pem = read_to_string(&key_path)?;
        let cert_path = paths.cert();
        let cert_pem = read_to_string(&cert_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|err| CaError::Invalid {
            path: key_path.clone(),
            reason: err.to_string(),
        })?;
        let invalid_cert = |reason: String| CaError::Invalid {
            path: cert_path.clone(),
            reason,
        };
        let cert_der: CertificateDer<'static> =
            rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
                .map_err(|err| invalid_cert(err.to_string()))?;
        let parsed = ParsedCa::parse(&cert_der).map_err(invalid_cert)?;
        if parsed.public_key != key.public_key_raw() {
            return Err(invalid_cert(format!(
                "it does not match the private key {}",
                key_path.display()
            )));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|err| invalid_cert(err.to_string()))?;
        Ok(Self {
            paths: paths.clone(),
            cert_pem,
            cert_der,
            issuer,
            permitted_domains: parsed.permitted_domains,
            not_before: parsed.not_before,
            not_after: parsed.not_after,
        })
    }

    /// Creates a new CA permitted to issue for `domains`, replacing any existing one.
    pub fn create(paths: &CaPaths, permitted: &[String]) -> Result<Self, CaError> {
        let mut domains: Vec<String> = Vec::new();
        for domain in permitted {
            let domain = normalize_domain(domain)?;
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        if domains.is_empty() {
            return Err(CaError::NoDomains);
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, CA_ORGANIZATION);
        name.push(
            DnType::CommonName,
            format!("tollgate local CA ({})", whoami_at_host()),
        );
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // Server certificates only: verifiers that check the chain's purposes (OpenSSL) refuse a
        // client-auth or e-mail certificate signed by a stolen key.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        params.serial_number = Some(random_serial());
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: domains
                .iter()
                .map(|domain| GeneralSubtree::DnsName(domain.clone()))
                .collect(),
            // With only DNS names permitted, IP addresses would be unconstrained (RFC 5280
            // applies constraints per name form), so every address is excluded explicitly.
            excluded_subtrees: vec![
                GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])),
                GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])),
            ],
        });
        let cert = params.self_signed(&key)?;

        home::ensure_private_dir(&paths.dir).map_err(|source| CaError::Io {
            action: "create",
            path: paths.dir.clone(),
            source,
        })?;
        let write = |path: PathBuf, contents: &str, mode: u32| {
            home::write_atomically(&path, contents.as_bytes(), mode).map_err(|source| CaError::Io {
                action: "write",
                path,
                source,
            })
        };
        // Key first: a certificate without its key is useless, the reverse is merely incomplete.
        write(paths.key(), &key.serialize_pem(), 0o600)?;
        write(paths.cert(), &cert.pem(), 0o644)?;
        Self::load(paths)
    }

    pub fn paths(&self) -> &CaPaths {
        &self.paths
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The DNS domains (and their subdomains) this CA may issue for.
    pub fn permitted_domains(&self) -> &[String] {
        &self.permitted_domains
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// SHA-256 of the certificate, as colon-separated hex (the form browsers and openssl show).
    pub fn fingerprint_sha256(&self) -> String {
        Sha256::digest(self.cert_der.as_ref())
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Whether a leaf for `host` would be accepted by clients under this CA's name constraints.
    pub fn permits(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.permitted_domains
            .iter()
            .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
    }

    /// Signs a leaf certificate for `host` with `leaf_key`'s public key.
    ///
    /// This signs whatever name it is given: the name constraints are what make a leaf for a
    /// name outside the permitted domains worthless, and the tests rely on being able to mint one.
    pub fn issue_leaf(
        &self,
        host: &str,
        leaf_key: &KeyPair,
    ) -> Result<CertificateDer<'static>, CaError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        params.distinguished_name = name;
        params.subject_alt_names = vec![match host.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.to_string().try_into()?),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        params.not_before = now - Duration::hours(1);
        params.not_after = (now + Duration::days(LEAF_VALIDITY_DAYS)).min(self.not_after);
        Ok(params.signed_by(leaf_key, &self.issuer)?.der().clone())
    }
}

/// Refuses a key file that group or others can access, or that belongs to someone else.
fn check_key_is_private(path: &Path) -> Result<(), CaError> {
    let metadata = fs::metadata(path).map_err(|source| CaError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CaError::KeyTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let me = nix::unistd::geteuid().as_raw();
    if metadata.uid() != me {
        return Err(CaError::KeyNotOwned {
            path: path.to_path_buf(),
            owner: metadata.uid(),
            me,
        });
    }
    Ok(())
}

fn read_to_string(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(|source| CaError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

fn normalize_domain(domain: &str) -> Result<String, CaError> {
    let normalized = domain
        .trim()
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let valid = !normalized.is_empty()
        && normalized.parse::<std::net::IpAddr>().is_err()
        && normalized.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(normalized)
    } else {
        Err(CaError::BadDomain(domain.to_string()))
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes[0] &= 0x7f; // a positive INTEGER
    SerialNumber::from_slice(&bytes)
}

fn whoami_at_host() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", nix::unistd::geteuid()));
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// The facts `ca show` prints and `load` checks, read back from the certificate itself.
struct ParsedCa {
    permitted_domains: Vec<String>,
    public_key: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl ParsedCa {
    fn parse(der: &[u8]) -> Result<Self, String> {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|err| err.to_string())?;
        if !cert.is_ca() {
            return Err("it is not a CA certificate".into());
        }
        let mut permitted_domains = Vec::new();
        for ext in cert.extensions() {
            if let ParsedExtension::NameConstraints(constraints) = ext.parsed_extension() {
                for subtree in constraints.permitted_subtrees.iter().flatten() {
                    if let GeneralName::DNSName(domain) = subtree.base {
                        permitted_domains.push(domain.to_string());
                    }
                }
            }
        }
        if permitted_domains.is_empty() {
            return Err("it has no name constraints, so it could impersonate any site".into());
        }
        Ok(Self {
            permitted_domains,
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS API domains, as the command line gives them to a new CA.
    fn aws() -> Vec<String> {
        ["amazonaws.com", "amazonaws.com.cn", "api.aws"]
            .map(String::from)
            .into()
    }
    use std::os::unix::fs::PermissionsExt;

    /// Found by eight concurrent first runs into one PostgreSQL: each made its own CA, and the
    /// clients of all but the last one failed the TLS handshake.
    #[test]
    fn processes_starting_together_share_one_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        let paths = CaPaths::new(dir.path().join("home"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let made: Vec<(String, bool)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let barrier = barrier.clone();
                    let paths = &paths;
                    scope.spawn(move || {
                        barrier.wait();
                        let (ca, created) = LocalCa::load_or_create(paths, &aws()).unwrap();
                        (ca.cert_pem().to_string(), created)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(made.iter().filter(|(_, created)| *created).count(), 1);
        let on_disk = LocalCa::load(&paths).unwrap();
        assert!(made.iter().all(|(pem, _)| pem == on_disk.cert_pem()));
    }

    #[test]
    fn create_then_load_round_trips_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = CaPaths::new(dir.path().join("home"));
        let domains: Vec<String> = ["amazonaws.com", "localhost.localstack.cloud"]
            .map(String::from)
            .into();
        let (ca, created) = LocalCa::load_or_create(&paths, &domains).unwrap();
        assert!(created);
        let dir_mode = fs::metadata(&paths.dir).unwrap().permissions().mode() & 0o777;
        let key_mode = fs::metadata(paths.key()).unwrap().permissions().mode() & 0o777;
        assert_eq!((dir_mode, key_mode), (0o700, 0o600));
        assert_eq!(
            ca.permitted_domains(),
            ["amazonaws.com", "localhost.localstack.cloud"]
        );
        let (again, created) = LocalCa::load_or_create(&paths, &[]).unwrap();
        assert!(!created);
        assert_eq!(again.fingerprint_sha256(), ca.fingerprint_sha256());
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let paths = CaPaths::new(dir.path());
        LocalCa::create(&paths, &aws()).unwrap();
        fs::set_permissions(paths.key(), fs::Permissions::from_mode(0o644)).unwrap();
        let err = LocalCa::load(&paths).unwrap_err();
        assert!(
            matches!(err, CaError::KeyTooOpen { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn permits_only_constrained_domains() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::create(&CaPaths::new(dir.path()), &aws()).unwrap();
        assert!(ca.permits("s3.us-east-1.amazonaws.com"));
        assert!(ca.permits("bedrock-runtime.us-west-2.api.aws"));
        assert!(ca.permits("sts.cn-north-1.amazonaws.com.cn"));
        assert!(!ca.permits("example.com"));
        assert!(!ca.permits("notamazonaws.com"));
        assert!(!ca.permits("127.0.0.1"));
    }

    #[test]
    fn rejects_bad_domains() {
        assert!(normalize_domain("127.0.0.1").is_err());
        assert!(normalize_domain("").is_err());
        assert!(normalize_domain("a..b").is_err());
        assert_eq!(normalize_domain("*.Example.Test.").unwrap(), "example.test");
    }

    #[test]
    fn a_mismatched_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = CaPaths::new(dir.path().join("one"));
        let second = CaPaths::new(dir.path().join("two"));
        LocalCa::create(&first, &aws()).unwrap();
        LocalCa::create(&second, &aws()).unwrap();
        fs::copy(second.key(), first.key()).unwrap();
        let err = LocalCa::load(&first).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }
}
