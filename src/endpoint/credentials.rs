//! The credentials endpoint mode re-signs with: the ones the client itself signed with, resolved by
//! tollgate from the same chain the SDKs read.
//!
//! The client never sends its secret key, so re-signing for the real host needs tollgate to find
//! it where the client found it. `aws-config`'s default chain is the one every SDK follows: the
//! environment, the shared config and credentials files with `AWS_PROFILE`, SSO's cache,
//! `credential_process`, web identity, and container and instance roles. `tollgate run` gives
//! the command its own environment, so both resolve alike; a client that picked other credentials
//! in its code is refused, never re-signed under tollgate's identity (see `super::resign`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use tokio::sync::{Mutex, OnceCell};

/// Credentials whose expiry is closer than this are refreshed before use: a re-signed request
/// must still be valid when AWS reads it.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsError(String);

/// Where the re-signing credentials come from.
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync + 'static {
    async fn credentials(&self) -> Result<Credentials, CredentialsError>;
}

/// Fixed credentials (tests, benches).
pub struct FixedCredentials(pub Credentials);

#[async_trait::async_trait]
impl CredentialSource for FixedCredentials {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        Ok(self.0.clone())
    }
}

/// The SDKs' default chain, built on first use and cached until close to expiry.
#[derive(Default)]
pub struct DefaultChain {
    chain: OnceCell<Arc<DefaultCredentialsChain>>,
    cached: Mutex<Option<Credentials>>,
}

impl DefaultChain {
    async fn chain(&self) -> Arc<DefaultCredentialsChain> {
        self.chain
            .get_or_init(|| async {
                // rustls with ring, as the rest of tollgate; for SSO, STS and the metadata
                // services only (the chain's own calls are not recorded).
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                let config = ProviderConfig::default().with_http_client(http);
                Arc::new(
                    DefaultCredentialsChain::builder()
                        .configure(config)
                        .build()
                        .await,
                )
            })
            .await
            .clone()
    }
}

#[async_trait::async_trait]
impl CredentialSource for DefaultChain {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref() {
            let fresh = credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE_EXPIRY);
            if fresh {
                return Ok(credentials.clone());
            }
        }
        let chain = self.chain().await;
        let credentials = chain.provide_credentials().await.map_err(|error| {
            CredentialsError(format!(
                "tollgate found no AWS credentials to re-sign with ({}); endpoint mode needs \
                 the credentials your program uses, from the environment, ~/.aws or a role",
                aws_error_chain(&error)
            ))
        })?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

fn aws_error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
