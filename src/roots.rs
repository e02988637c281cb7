//! Trust roots: the system's, for verifying real upstreams and for the combined bundle clients are
//! pointed at, plus any extra CA files the user names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("cannot read CA file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    Empty { path: PathBuf },
    #[error("{path} holds a certificate that is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Where the system roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootsOrigin {
    /// The operating system's store (honours `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    System,
    /// The system store was empty or unreadable: Mozilla's list compiled into tollgate.
    Builtin,
}

/// Trust anchors for upstream verification and for client bundles.
#[derive(Debug, Clone)]
pub struct Roots {
    pub certs: Vec<CertificateDer<'static>>,
    pub origin: RootsOrigin,
}

impl Roots {
    /// The system's roots, or tollgate's built-in copy of Mozilla's when the system has none.
    pub fn system() -> Self {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::debug!(%error, "while loading system roots");
        }
        // A client environment set up by tollgate points SSL_CERT_FILE at tollgate's own bundle,
        // which rustls-native-certs then reads back: without this, a rotated-out (perhaps
        // leaked) tollgate CA would be carried into every new bundle, and trusted upstream.
        let certs: Vec<CertificateDer<'static>> = loaded
            .certs
            .into_iter()
            .filter(|cert| !is_tollgate_ca(cert))
            .collect();
        if certs.is_empty() {
            tracing::warn!(
                "no system CA certificates found (install ca-certificates, or set SSL_CERT_FILE); \
                 using tollgate's built-in Mozilla roots"
            );
            return Self {
                certs: webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec(),
                origin: RootsOrigin::Builtin,
            };
        }
        Self {
            certs,
            origin: RootsOrigin::System,
        }
    }

    /// Adds every certificate of a PEM file (`--upstream-ca`).
    pub fn add_pem_file(&mut self, path: &Path) -> Result<(), RootsError> {
        self.certs.extend(read_pem_certs(path)?);
        Ok(())
    }

    /// A rustls root store. Certificates rustls cannot parse are skipped, as every TLS client
    /// does with a system bundle (a few legacy roots always fail).
    pub fn store(&self) -> Arc<RootCertStore> {
        let mut store = RootCertStore::empty();
        let (_added, ignored) = store.add_parsable_certificates(self.certs.iter().cloned());
        if ignored > 0 {
            tracing::debug!(ignored, "skipped unparsable root certificates");
        }
        Arc::new(store)
    }

    /// One PEM file with every root followed by `extra_pem` (the tollgate CA).
    pub fn bundle_with(&self, extra_pem: &str) -> String {
        let mut out = String::with_capacity(self.certs.len() * 2048 + extra_pem.len());
        for cert in &self.certs {
            out.push_str(&pem::encode(&pem::Pem::new("CERTIFICATE", cert.to_vec())));
        }
        out.push_str("# tollgate local CA\n");
        out.push_str(extra_pem);
        out
    }
}

/// Whether a certificate is a tollgate local CA (any user's, any generation).
pub fn is_tollgate_ca(cert: &CertificateDer<'_>) -> bool {
    x509_parser::parse_x509_certificate(cert)
        .map(|(_, parsed)| {
            parsed.is_ca()
                && parsed
                    .subject()
                    .iter_organization()
                    .any(|org| org.as_str() == Ok(crate::ca::CA_ORGANIZATION))
        })
        .unwrap_or(false)
}

/// Reads every certificate of a PEM file, failing when there is none.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, RootsError> {
    let bytes = std::fs::read(path).map_err(|source| RootsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| RootsError::Invalid {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(RootsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_round_trips_through_pem() {
        let roots = Roots {
            certs: webpki_root_certs::TLS_SERVER_ROOT_CERTS[..3].to_vec(),
            origin: RootsOrigin::Builtin,
        };
        let ca = rcgen::generate_simple_self_signed(vec!["x.amazonaws.com".into()]).unwrap();
        let bundle = roots.bundle_with(&ca.cert.pem());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.pem");
        std::fs::write(&path, bundle).unwrap();
        let certs = read_pem_certs(&path).unwrap();
        assert_eq!(certs.len(), 4);
        assert_eq!(certs[3], *ca.cert.der());
    }

    #[test]
    fn a_file_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "nothing here\n").unwrap();
        assert!(matches!(
            read_pem_certs(&path),
            Err(RootsError::Empty { .. })
        ));
    }
}
