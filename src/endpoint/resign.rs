//! Re-signing a request's head for the real AWS host, with `aws-sigv4`.
//!
//! The client signed for `127.0.0.1:PORT`; AWS checks the signature against its own host. The new
//! signature covers exactly the headers the client chose to sign (its `SignedHeaders`), with the
//! Host replaced, the same payload hash (`x-amz-content-sha256`, or the body's hash when the
//! client sends none), the same scope (region and service), and the path and query encoded as the
//! client's SDK encoded them for that service (S3: once, unnormalised; the rest: twice).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody,
    SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};

/// What the client's `Authorization` header says, beyond the scope identification reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSignature {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
    /// Lower case, in the client's order.
    pub signed_headers: Vec<String>,
}

/// Parses a SigV4 (`AWS4-HMAC-SHA256`) `Authorization` value; `None` for anything else.
pub fn client_signature(value: &str) -> Option<ClientSignature> {
    let rest = value.trim_start().strip_prefix("AWS4-HMAC-SHA256 ")?;
    let scope = crate::aws::sigv4::from_authorization(value)?;
    let signed_headers = rest
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("SignedHeaders="))?
        .split(';')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    Some(ClientSignature {
        access_key_id: scope.access_key_id.to_string(),
        region: scope.region?.to_string(),
        service: scope.service.to_string(),
        signed_headers,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot re-sign the request: {0}")]
pub struct ResignError(String);

/// The headers the signer adds itself: the client's are dropped and replaced.
const SIGNER_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "host",
];

/// Re-signs `parts` in place for `host`, as `signature` scoped it; returns the new signature (the
/// seed of a chunked body's chain).
pub fn resign_head(
    parts: &mut http::request::Parts,
    host: &str,
    signature: &ClientSignature,
    payload_hash: &str,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<String, ResignError> {
    let error = |error: &dyn std::fmt::Display| ResignError(error.to_string());
    let host_value = HeaderValue::from_str(host).map_err(|e| error(&e))?;
    parts.headers.insert(HOST, host_value);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let uri = format!("https://{host}{path_and_query}");

    // Exactly the client's signed headers (less those the signer sets), each with every value.
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &signature.signed_headers {
        if SIGNER_HEADERS.contains(&name.as_str()) {
            continue;
        }
        for value in parts.headers.get_all(name.as_str()) {
            let value = value
                .to_str()
                .map_err(|_| ResignError(format!("the signed header {name} is not text")))?;
            signed.push((name.as_str(), value));
        }
    }
    let s3_style = signature.service == "s3" || signature.service.starts_with("s3-");
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.signature_location = SignatureLocation::Headers;
    settings.session_token_mode = SessionTokenMode::Include;
    settings.excluded_headers = None;
    if s3_style {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    } else {
        settings.percent_encoding_mode = PercentEncodingMode::Double;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    }
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&signature.region)
        .name(&signature.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| error(&e))?
        .into();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        uri,
        signed.into_iter(),
        SignableBody::Precomputed(payload_hash.to_string()),
    )
    .map_err(|e| error(&e))?;
    let (instructions, new_signature) =
        sign(signable, &params).map_err(|e| error(&e))?.into_parts();
    for name in ["x-amz-date", "x-amz-security-token"] {
        parts.headers.remove(name);
    }
    parts.headers.remove(AUTHORIZATION);
    let (headers, _query) = instructions.into_parts();
    for header in headers {
        let name = HeaderName::from_bytes(header.name().as_bytes()).map_err(|e| error(&e))?;
        let mut value = HeaderValue::from_str(header.value()).map_err(|e| error(&e))?;
        value.set_sensitive(header.sensitive());
        parts.headers.insert(name, value);
    }
    Ok(new_signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::signing::{example_credentials, sign_request};

    #[test]
    fn reads_the_clients_signed_headers() {
        let value = "AWS4-HMAC-SHA256 Credential=AKID/20261207/eu-west-1/s3/aws4_request, \
                     SignedHeaders=host;X-Amz-Content-SHA256;x-amz-date, Signature=00";
        let signature = client_signature(value).unwrap();
        assert_eq!(signature.access_key_id, "AKID");
        assert_eq!(
            (signature.region.as_str(), signature.service.as_str()),
            ("eu-west-1", "s3")
        );
        assert_eq!(
            signature.signed_headers,
            ["host", "x-amz-content-sha256", "x-amz-date"]
        );
        assert!(client_signature("AWS4-ECDSA-P256-SHA256 Credential=AKID/d/s3/aws4_request, SignedHeaders=host, Signature=00").is_none());
        assert!(client_signature("AWS AKID:sig").is_none());
    }

    /// A request signed for the endpoint, re-signed for the real host, carries the signature the
    /// SDK itself would have computed had it been sent to that host directly.
    #[test]
    fn re_signing_for_the_real_host_equals_signing_for_it() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
        let credentials = example_credentials(Some("session-token"));
        let build = |host: &str| {
            http::Request::builder()
                .method("POST")
                .uri(format!("http://{host}/"))
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-target", "DynamoDB_20120810.GetItem")
                .body(br#"{"TableName":"t"}"#.to_vec())
                .unwrap()
        };
        let mut direct = build("dynamodb.eu-west-1.amazonaws.com");
        sign_request(&mut direct, &credentials, "dynamodb", "eu-west-1", time).unwrap();
        let mut via_endpoint = build("127.0.0.1:4599");
        sign_request(
            &mut via_endpoint,
            &credentials,
            "dynamodb",
            "eu-west-1",
            time,
        )
        .unwrap();
        assert_ne!(
            direct.headers()["authorization"],
            via_endpoint.headers()["authorization"]
        );

        let signature =
            client_signature(via_endpoint.headers()["authorization"].to_str().unwrap()).unwrap();
        let payload = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(via_endpoint.body());
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let (mut parts, _body) = via_endpoint.into_parts();
        resign_head(
            &mut parts,
            "dynamodb.eu-west-1.amazonaws.com",
            &signature,
            &payload,
            &credentials,
            time,
        )
        .unwrap();
        assert_eq!(
            parts.headers["authorization"],
            direct.headers()["authorization"]
        );
        assert_eq!(parts.headers["host"], "dynamodb.eu-west-1.amazonaws.com");
        assert_eq!(parts.headers["x-amz-security-token"], "session-token");
        assert_eq!(parts.headers.get_all("x-amz-date").iter().count(), 1);
    }
}
