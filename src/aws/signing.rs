//! SigV4 signing with the `aws-sigv4` crate, as the SDKs do it. Tests and benches sign their
//! requests here so that identification is exercised on real signatures; the endpoint mode will
//! re-sign forwarded requests with it.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// Signs `request` in place (adds `x-amz-date`, `authorization`, and the session token if any)
/// for `service` in `region`. The request's URI must be absolute (it carries the host).
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    credentials: &Credentials,
    service: &str,
    region: &str,
    time: SystemTime,
) -> Result<(), SignError> {
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| SignError(error.to_string()))?
        .into();
    if !request.headers().contains_key(http::header::HOST) {
        if let Some(authority) = request.uri().authority() {
            let value = http::HeaderValue::from_str(authority.as_str())
                .map_err(|error| SignError(error.to_string()))?;
            request.headers_mut().insert(http::header::HOST, value);
        }
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|error| SignError(error.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|error| SignError(error.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// Credentials for tests and benches: AWS's documented example key pair.
pub fn example_credentials(session_token: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token.map(str::to_string),
        None,
        "tollgate-example",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::sigv4;

    #[test]
    fn a_signed_request_carries_the_scope_identification_reads() {
        let mut request = http::Request::builder()
            .method("POST")
            .uri("https://dynamodb.eu-west-1.amazonaws.com/")
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .body(b"{}".to_vec())
            .unwrap();
        sign_request(
            &mut request,
            &example_credentials(Some("token")),
            "dynamodb",
            "eu-west-1",
            SystemTime::now(),
        )
        .unwrap();
        let authorization = request.headers()["authorization"].to_str().unwrap();
        let scope = sigv4::from_authorization(authorization).unwrap();
        assert_eq!(scope.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            (scope.region, scope.service),
            (Some("eu-west-1"), "dynamodb")
        );
        assert_eq!(request.headers()["x-amz-security-token"], "token");
        assert!(request.headers().contains_key("x-amz-date"));
    }
}
