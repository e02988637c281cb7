//! Endpoint mode: tollgate as the clients' `AWS_ENDPOINT_URL`, re-signing each request for the
//! real AWS host (issue 18). No proxy settings and no CA for the client to trust: it speaks
//! plain HTTP to tollgate on loopback, and tollgate reaches AWS (or `--upstream`) over TLS.
//!
//! This is the AWS half of the proxy's endpoint front end ([`crate::proxy::EndpointRouter`]): it
//! finds the service from the request's SigV4 scope and the model (the same identification as
//! proxy mode), the host the request would have reached without the override ([`hosts`]), and
//! re-signs the head ([`resign`]) and an aws-chunked body ([`chunked`]) with the credentials the
//! client signed with ([`credentials`]). Requests it cannot forward faithfully are refused with
//! an error the client's SDK shows, and nothing is sent.

pub mod chunked;
pub mod credentials;
pub mod hosts;
pub mod resign;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;

use crate::aws::identify::{Identifier, Identity, Request as IdentifyRequest};
use crate::aws::model::Model;
use crate::proxy::{EndpointRouter, Refused, RequestBody, RouteFuture, Routed, Transport};
use chunked::{ChunkSigner, ResignedBody};
use credentials::CredentialSource;
use resign::ClientSignature;

/// Largest body tollgate holds to hash, for a request that carries no `x-amz-content-sha256`
/// (every service but S3 and Glacier, whose SDKs always send it). AWS's own request limits
/// for those services are lower (Lambda's Invoke: 6 MB, Kinesis's PutRecords: 5 MB).
pub const MAX_HASHED_BODY: usize = 64 * 1024 * 1024;

/// How many bytes of a body identification reads (as the profile's capture does by default).
const IDENTIFY_PREFIX: usize = 64 * 1024;

/// Requests refused, and the first reason, for the end of the run.
#[derive(Debug, Default)]
pub struct Refusals {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Refusals {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn first_reason(&self) -> Option<String> {
        self.first.lock().ok().and_then(|first| first.clone())
    }

    fn note(&self, reason: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first.lock() {
            first.get_or_insert_with(|| reason.to_string());
        }
    }
}

/// The endpoint router for AWS requests.
#[derive(Clone)]
pub struct AwsEndpoint {
    inner: Arc<Inner>,
}

struct Inner {
    model: &'static Model,
    credentials: Arc<dyn CredentialSource>,
    refusals: Arc<Refusals>,
}

impl AwsEndpoint {
    pub fn new(model: &'static Model, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            inner: Arc::new(Inner {
                model,
                credentials,
                refusals: Arc::default(),
            }),
        }
    }

    pub fn refusals(&self) -> Arc<Refusals> {
        self.inner.refusals.clone()
    }
}

impl EndpointRouter for AwsEndpoint {
    fn route(&self, request: Request<Incoming>) -> RouteFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.route(request).await })
    }
}

/// How the body travels on.
enum Payload {
    /// Read whole to hash it (no `x-amz-content-sha256`), then sent as read.
    Read(Bytes),
    /// Streamed as the client sends it: its hash is in `x-amz-content-sha256` (or it is
    /// unsigned); `chunked` when it is aws-chunked with a signature per chunk, each re-signed.
    Streamed { body: Incoming, chunked: bool },
}

impl Inner {
    async fn route(&self, request: Request<Incoming>) -> Result<Routed, Refused> {
        let (mut parts, body) = request.into_parts();
        let shape = ErrorShape::of(&parts.headers);
        let refuse = |status: StatusCode, code: &str, message: String| {
            tracing::debug!(code, "endpoint mode refused a request: {message}");
            self.refusals.note(&message);
            refusal(status, code, &message, shape)
        };
        let authorization = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let Some(authorization) = authorization else {
            let query = parts.uri.query().unwrap_or("");
            let presigned = ["X-Amz-Signature=", "X-Amz-Credential=", "AWSAccessKeyId="]
                .iter()
                .any(|key| query.contains(key));
            let message = if presigned {
                "tollgate's endpoint mode cannot forward a presigned URL made for it: its \
                 signature covers tollgate's own address. Make presigned URLs without \
                 AWS_ENDPOINT_URL, or profile that program in proxy mode (tollgate run without \
                 --endpoint)."
            } else {
                "tollgate's endpoint mode forwards SigV4-signed requests only: an unsigned \
                 request names no service to send it to. Profile this program in proxy mode \
                 (tollgate run without --endpoint)."
            };
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "TollgateEndpointUnsigned",
                message.to_string(),
            ));
        };
        let Some(signature) = resign::client_signature(authorization) else {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "TollgateEndpointUnsupportedSignature",
                "tollgate's endpoint mode re-signs SigV4 (AWS4-HMAC-SHA256) requests only; this \
                 one is signed otherwise (SigV2, or SigV4a for a multi-region endpoint). Profile \
                 it in proxy mode (tollgate run without --endpoint)."
                    .to_string(),
            ));
        };
        let credentials = match self.credentials.credentials().await {
            Ok(credentials) => credentials,
            Err(error) => {
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "TollgateEndpointNoCredentials",
                    error.to_string(),
                ))
            }
        };
        if credentials.access_key_id() != signature.access_key_id {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "TollgateEndpointIdentityMismatch",
                format!(
                    "tollgate refused to forward this request: the client signed it with access \
                     key {} but the credentials tollgate resolved (environment, AWS_PROFILE, \
                     ~/.aws, roles) have access key {}. tollgate never sends a call under an \
                     identity other than the client's: give tollgate the same credentials as \
                     the program (the same AWS_PROFILE or AWS_ACCESS_KEY_ID), or profile it in \
                     proxy mode.",
                    redact_key(&signature.access_key_id),
                    redact_key(credentials.access_key_id())
                ),
            ));
        }

        let content_sha = parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let (payload_hash, body) = match content_sha {
            Some(value) => {
                let chunked = value.starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
                (value, Payload::Streamed { body, chunked })
            }
            None => {
                let bytes = match Limited::new(body, MAX_HASHED_BODY).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(error) => {
                        return Err(refuse(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "TollgateEndpointBodyUnreadable",
                            format!(
                                "tollgate could not read this request's body to re-sign it \
                                 ({error}); bodies without x-amz-content-sha256 are held up \
                                 to {} MiB. Profile this program in proxy mode.",
                                MAX_HASHED_BODY / (1024 * 1024)
                            ),
                        ))
                    }
                };
                (sha256_hex(&bytes), Payload::Read(bytes))
            }
        };
        let prefix = match &body {
            Payload::Read(bytes) => &bytes[..bytes.len().min(IDENTIFY_PREFIX)],
            Payload::Streamed { .. } => &[][..],
        };
        let endpoint_prefix = endpoint_prefix(self.model, &parts, &signature, prefix);
        let host = hosts::aws_host(&endpoint_prefix, &signature.region);
        let time = SystemTime::now();
        let seed = match resign::resign_head(
            &mut parts,
            &host,
            &signature,
            &payload_hash,
            &credentials,
            time,
        ) {
            Ok(seed) => seed,
            Err(error) => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "TollgateEndpointResignFailed",
                    error.to_string(),
                ))
            }
        };
        let body: RequestBody = match body {
            Payload::Read(bytes) => Either::Right(
                Full::new(bytes)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            ),
            Payload::Streamed {
                body,
                chunked: true,
            } => {
                let signer = ChunkSigner {
                    identity: credentials.into(),
                    region: signature.region.clone(),
                    service: signature.service.clone(),
                    time,
                    running: seed,
                };
                Either::Right(ResignedBody::new(body, signer).boxed_unsync())
            }
            Payload::Streamed { body, .. } => Either::Left(body),
        };
        Ok(Routed {
            request: Request::from_parts(parts, body),
            host,
            port: 443,
            transport: Transport::Https,
        })
    }
}

/// The endpoint prefix of the service a request is for: by the same identification as proxy
/// mode (scope, then the model's routes), else the signing name itself.
fn endpoint_prefix(
    model: &Model,
    parts: &http::request::Parts,
    signature: &ClientSignature,
    body: &[u8],
) -> String {
    // Most signing names belong to one endpoint prefix: no need to identify the operation.
    let signed_for = model.by_signing_name(&signature.service);
    if let Some(first) = signed_for.first() {
        let prefix = model.service(*first).endpoint_prefix;
        if signed_for
            .iter()
            .all(|service| model.service(*service).endpoint_prefix == prefix)
        {
            return prefix.to_string();
        }
    }
    let request = IdentifyRequest {
        method: &parts.method,
        host: "",
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let named = match Identifier::new(model).identify(&request).identity {
        Identity::Operation { service, .. } => {
            return model.service(service).endpoint_prefix.to_string()
        }
        Identity::NotInModel { service, .. } => Some(service),
        Identity::Unknown { service_guess, .. } => service_guess,
        Identity::NotAws => None,
    };
    named
        .and_then(|name| model.service_named(&name))
        .or_else(|| model.by_signing_name(&signature.service).first().copied())
        .map(|service| model.service(service).endpoint_prefix.to_string())
        .unwrap_or_else(|| signature.service.clone())
}

/// How the client's protocol reads an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorShape {
    /// The JSON and REST-JSON protocols: `{"__type", "message"}`.
    Json,
    /// S3 (REST-XML as S3 writes it): `<Error><Code>`; the SDKs for Rust and Go read only this.
    S3Xml,
    /// The query protocols: `<ErrorResponse><Error><Code>`.
    QueryXml,
}

impl ErrorShape {
    fn of(headers: &HeaderMap) -> Self {
        let text = |name| {
            headers
                .get(name)
                .and_then(|value: &http::HeaderValue| value.to_str().ok())
        };
        if headers.contains_key("x-amz-target")
            || text(http::header::CONTENT_TYPE).is_some_and(|value| value.contains("json"))
        {
            Self::Json
        } else if text(http::header::AUTHORIZATION)
            .is_some_and(|value| value.contains("/s3/aws4_request"))
            || headers.contains_key("x-amz-content-sha256")
        {
            Self::S3Xml
        } else {
            Self::QueryXml
        }
    }
}

/// An error in the shape the client's protocol reads, marked as tollgate's own.
fn refusal(status: StatusCode, code: &str, message: &str, shape: ErrorShape) -> Refused {
    let message_xml = xml_escape(message);
    let (body, content_type) = match shape {
        ErrorShape::Json => (
            serde_json::json!({ "__type": code, "message": message }).to_string(),
            "application/x-amz-json-1.0",
        ),
        ErrorShape::S3Xml => (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message_xml}</Message></Error>\n"
            ),
            "application/xml",
        ),
        ErrorShape::QueryXml => (
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>Sender</Type>\
                 <Code>{code}</Code><Message>{message_xml}</Message></Error></ErrorResponse>\n"
            ),
            "text/xml",
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if let Ok(value) = http::HeaderValue::from_str(code) {
        headers.insert("x-amzn-errortype", value);
    }
    headers.insert(
        "x-tollgate-error",
        http::HeaderValue::from_static("endpoint-refused"),
    );
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An access key id as `aws configure list` shows one: its last four characters, enough to tell
/// two apart.
fn redact_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let shown: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{shown}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut text = String::with_capacity(64);
    for byte in digest {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host each request goes to, from what the client sent to the endpoint.
    #[test]
    fn requests_go_to_the_host_they_would_have_reached() {
        let model = Model::embedded();
        let host =
            |method: &str, uri: &str, service: &str, headers: &[(&str, &str)], body: &[u8]| {
                let authorization = format!(
                    "AWS4-HMAC-SHA256 Credential=AKID/20261207/eu-west-1/{service}/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00"
                );
                let mut builder = Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("authorization", &authorization);
                for (name, value) in headers {
                    builder = builder.header(*name, *value);
                }
                let (parts, ()) = builder.body(()).unwrap().into_parts();
                let signature = resign::client_signature(&authorization).unwrap();
                hosts::aws_host(
                    &endpoint_prefix(model, &parts, &signature, body),
                    &signature.region,
                )
            };
        assert_eq!(
            host("GET", "/bucket/key", "s3", &[], b""),
            "s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            host(
                "POST",
                "/",
                "dynamodb",
                &[("x-amz-target", "DynamoDB_20120810.GetItem")],
                b"{}"
            ),
            "dynamodb.eu-west-1.amazonaws.com"
        );
        // One signing name, two services: the target tells DynamoDB Streams apart.
        assert_eq!(
            host(
                "POST",
                "/",
                "dynamodb",
                &[("x-amz-target", "DynamoDBStreams_20120810.GetRecords")],
                b"{}"
            ),
            "streams.dynamodb.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            host(
                "POST",
                "/",
                "sts",
                &[("content-type", "application/x-www-form-urlencoded")],
                b"Action=GetCallerIdentity&Version=2011-06-15"
            ),
            "sts.eu-west-1.amazonaws.com"
        );
        // A service the model lacks: its signing name.
        assert_eq!(
            host(
                "POST",
                "/",
                "brandnewservice",
                &[("x-amz-target", "BrandNew.DoThing")],
                b"{}"
            ),
            "brandnewservice.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn refusals_read_as_the_clients_protocol_errors() {
        let body = |response: Refused| {
            use http_body_util::BodyExt;
            let bytes = futures_util::FutureExt::now_or_never(response.into_body().collect())
                .unwrap()
                .unwrap()
                .to_bytes();
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        let xml = refusal(StatusCode::FORBIDDEN, "Code", "a < b", ErrorShape::QueryXml);
        assert_eq!(xml.status(), 403);
        assert_eq!(xml.headers()["x-tollgate-error"], "endpoint-refused");
        assert!(body(xml).contains(
            "<ErrorResponse><Error><Type>Sender</Type><Code>Code</Code><Message>a &lt; b</Message>"
        ));
        let s3 = refusal(StatusCode::FORBIDDEN, "Code", "m", ErrorShape::S3Xml);
        assert!(body(s3).contains("\n<Error><Code>Code</Code><Message>m</Message></Error>"));
        let json = refusal(StatusCode::FORBIDDEN, "Code", "m", ErrorShape::Json);
        assert_eq!(json.headers()["content-type"], "application/x-amz-json-1.0");
        assert_eq!(body(json), r#"{"__type":"Code","message":"m"}"#);
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, http::HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(
            ErrorShape::of(&headers(&[("x-amz-target", "DynamoDB_20120810.GetItem")])),
            ErrorShape::Json
        );
        assert_eq!(
            ErrorShape::of(&headers(&[("authorization", "AWS4-HMAC-SHA256 Credential=A/20261207/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0")])),
            ErrorShape::S3Xml
        );
        assert_eq!(
            ErrorShape::of(&headers(&[(
                "content-type",
                "application/x-www-form-urlencoded"
            )])),
            ErrorShape::QueryXml
        );
        assert_eq!(redact_key("AKIAIOSFODNN7EXAMPLE"), "…MPLE");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
