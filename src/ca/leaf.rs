//! Leaf certificates for intercepted hosts, minted on demand and cached.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{CaError, LocalCa};
use crate::proxy::{BoxError, ServerConfigSource};

/// Mints one leaf per host name, all sharing a single key generated at start-up (key generation
/// costs far more than signing, and a fresh key per connection buys nothing), and caches the
/// finished `ServerConfig` per host in a bounded LRU.
pub struct LeafCertificates {
    ca: Arc<LocalCa>,
    leaf_key: KeyPair,
    cache: Mutex<LruCache<String, Arc<ServerConfig>>>,
    alpn: Vec<Vec<u8>>,
}

impl LeafCertificates {
    /// `capacity` bounds how many hosts' configurations are kept; `alpn` is what the proxy offers
    /// intercepted clients, in preference order.
    pub fn new(ca: Arc<LocalCa>, capacity: usize, alpn: Vec<Vec<u8>>) -> Result<Self, CaError> {
        Ok(Self {
            ca,
            leaf_key: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity.max(1)).expect("capacity is at least 1"),
            )),
            alpn,
        })
    }

    pub fn ca(&self) -> &LocalCa {
        &self.ca
    }

    /// How many hosts currently have a cached configuration.
    pub fn cached(&self) -> usize {
        self.cache.lock().expect("leaf cache lock").len()
    }

    fn mint(&self, host: &str) -> Result<Arc<ServerConfig>, BoxError> {
        let leaf = self.ca.issue_leaf(host, &self.leaf_key)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(vec![leaf], key)?;
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }
}

impl ServerConfigSource for LeafCertificates {
    fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, BoxError> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(config) = self.cache.lock().expect("leaf cache lock").get(&host) {
            return Ok(config.clone());
        }
        // Minted outside the lock: two connections racing for a new host both sign, and one
        // result wins the cache. Cheaper than serialising every handshake behind a signature.
        let config = self.mint(&host)?;
        self.cache
            .lock()
            .expect("leaf cache lock")
            .put(host, config.clone());
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CaPaths;

    #[test]
    fn caches_per_host_within_bound() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(
            LocalCa::create(&CaPaths::new(dir.path()), &["amazonaws.com".to_string()]).unwrap(),
        );
        let leaves = LeafCertificates::new(ca, 2, vec![b"http/1.1".to_vec()]).unwrap();
        let first = leaves.server_config("s3.amazonaws.com").unwrap();
        let again = leaves.server_config("S3.amazonaws.com.").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        leaves.server_config("sts.amazonaws.com").unwrap();
        leaves.server_config("sqs.us-east-1.amazonaws.com").unwrap();
        assert_eq!(leaves.cached(), 2);
        let evicted = leaves.server_config("s3.amazonaws.com").unwrap();
        assert!(!Arc::ptr_eq(&first, &evicted));
    }
}
