//! The SigV4 credential scope: who signed a request, for which region and service.
//!
//! `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/s3/aws4_request, ...`, or
//! the `X-Amz-Credential` query parameter of a presigned URL. The scope names the signing region
//! and service for any endpoint, custom or not, so it is the first source of both.
//! SigV4a (`AWS4-ECDSA-P256-SHA256`) has no region in its scope; the region set is in
//! `X-Amz-Region-Set`.

/// The parts of a credential scope. Borrowed from the request; nothing here is secret but the
/// access key id, which callers only ever fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    /// `None` for SigV4a.
    pub region: Option<&'a str>,
    pub service: &'a str,
}

/// Parses the `Credential=` part of an `Authorization` header value.
pub fn from_authorization(value: &str) -> Option<CredentialScope<'_>> {
    let (algorithm, rest) = value.trim_start().split_once(' ')?;
    let sigv4a = match algorithm {
        "AWS4-HMAC-SHA256" => false,
        "AWS4-ECDSA-P256-SHA256" => true,
        _ => return None,
    };
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("Credential="))?;
    parse_credential(credential, sigv4a)
}

/// Parses the (already percent-decoded) value of a presigned URL's `X-Amz-Credential`.
pub fn from_query_credential(value: &str, sigv4a: bool) -> Option<CredentialScope<'_>> {
    parse_credential(value, sigv4a)
}

fn parse_credential(credential: &str, sigv4a: bool) -> Option<CredentialScope<'_>> {
    // AKID/DATE/REGION/SERVICE/aws4_request, or for SigV4a AKID/DATE/SERVICE/aws4_request.
    let mut parts = credential.split('/');
    let access_key_id = parts.next()?;
    let date = parts.next()?;
    let (region, service) = if sigv4a {
        (None, parts.next()?)
    } else {
        (Some(parts.next()?), parts.next()?)
    };
    if parts.next()? != "aws4_request" || parts.next().is_some() {
        return None;
    }
    if access_key_id.is_empty() || service.is_empty() || region.is_some_and(str::is_empty) {
        return None;
    }
    Some(CredentialScope {
        access_key_id,
        date,
        region,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sigv4_authorization() {
        let value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/s3/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=abcdef";
        let scope = from_authorization(value).unwrap();
        assert_eq!(scope.access_key_id, "AKIDEXAMPLE");
        assert_eq!(scope.region, Some("us-east-1"));
        assert_eq!(scope.service, "s3");
    }

    #[test]
    fn parses_sigv4a_and_presigned() {
        let value = "AWS4-ECDSA-P256-SHA256 Credential=AKID/20261126/s3/aws4_request, SignedHeaders=host, Signature=00";
        let scope = from_authorization(value).unwrap();
        assert_eq!((scope.region, scope.service), (None, "s3"));
        let scope =
            from_query_credential("AKID/20261126/eu-west-1/sqs/aws4_request", false).unwrap();
        assert_eq!((scope.region, scope.service), (Some("eu-west-1"), "sqs"));
    }

    #[test]
    fn rejects_other_schemes_and_malformed_scopes() {
        assert!(from_authorization("Bearer token").is_none());
        assert!(from_authorization("AWS AKID:signature").is_none());
        assert!(
            from_authorization("AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/s3").is_none()
        );
        assert!(
            from_authorization("AWS4-HMAC-SHA256 Credential=AKID/d/r/s/aws4_request/x").is_none()
        );
        assert!(from_authorization("AWS4-HMAC-SHA256 Credential=/d/r/s/aws4_request").is_none());
        assert!(from_authorization("AWS4-HMAC-SHA256").is_none());
    }
}
