//! Request → service and operation, for every wire protocol the SDKs speak.

use http::{HeaderMap, Method};

use super::host::{self, AwsHost};
use super::model::{Model, OperationIndex, ServiceIndex};
use super::sigv4::{self, CredentialScope};
use super::wire::{form_value, percent_decode};

/// The header in which a client's SDK names the operation it sends (`x-tollgate-operation:
/// GetObject`): tollgate's Python bootstrap and Node preload add it, any client may (README's
/// "Call sites"). It names only operations the model does not have; the proxy removes it.
pub const CLIENT_OPERATION_HEADER: &str = "x-tollgate-operation";

/// What identification needs of a request: its head and the first bytes of its body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    /// Lower case, without a port.
    pub host: &'a str,
    /// As sent (percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// A bounded prefix of the body.
    pub body: &'a [u8],
}

/// The wire protocol a request was recognised in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `X-Amz-Target` (AWS JSON 1.0/1.1, and query-compatible JSON such as SQS's).
    Json,
    /// `Action=` in a form body or the query string (query and EC2 protocols).
    Query,
    /// Method, path and query matched against the service's request URIs.
    Rest,
    /// `POST /service/<Service>/operation/<Operation>` (Smithy RPCv2 CBOR).
    RpcV2Cbor,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Query => "query",
            Self::Rest => "rest",
            Self::RpcV2Cbor => "rpc-v2-cbor",
        }
    }
}

/// What a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Exactly one operation of one service.
    Operation {
        service: ServiceIndex,
        operation: OperationIndex,
        protocol: Protocol,
    },
    /// An operation the model does not have, named by the request itself: the JSON protocol's
    /// `X-Amz-Target`, the query protocol's `Action=`, or the RPCv2 CBOR path. AWS ships new
    /// operations every week, so a client's SDK is often newer than the model.
    NotInModel {
        /// The model's name for the service when the wire points at one it knows (a new
        /// operation of `ec2`), else the name the wire gives (endpoint prefix, signing name).
        service: String,
        operation: String,
        protocol: Protocol,
    },
    /// An AWS request whose operation is not in the model and not named on the wire (REST
    /// protocols put it only in the method and path): kept with its service, never dropped.
    Unknown {
        /// The model's service if one matched the signature or host, else the signing name.
        service_guess: Option<String>,
        /// `GET /{}/configuration`: the path with identifier-like segments replaced.
        path_template: String,
    },
    /// Not an AWS API call: no SigV4 signature and not an AWS endpoint.
    NotAws,
}

/// The result of identifying one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub identity: Identity,
    /// Signing region, else the endpoint's region.
    pub region: Option<String>,
    /// The access key id from the signature (callers fingerprint it; never store it).
    pub access_key_id: Option<String>,
    /// Signed in the query string: a presigned URL (SigV4 `X-Amz-Credential`, or SigV2
    /// `AWSAccessKeyId`/`Signature`/`Expires`), fetched by whatever was handed the URL.
    pub presigned: bool,
}

/// Identifies requests against a model.
pub struct Identifier<'m> {
    model: &'m Model,
}

impl<'m> Identifier<'m> {
    pub fn new(model: &'m Model) -> Self {
        Self { model }
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    pub fn identify(&self, request: &Request<'_>) -> Identification {
        let authorization = request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let presigned = presigned_credential(request.query);
        let scope = authorization
            .and_then(sigv4::from_authorization)
            .or_else(|| {
                presigned
                    .as_ref()
                    .and_then(|(value, sigv4a)| sigv4::from_query_credential(value, *sigv4a))
            });
        let sigv2_key = if scope.is_none() {
            sigv2_query_access_key(request.query)
        } else {
            None
        };
        let aws_host = host::parse(request.host);
        let region = scope
            .and_then(|scope| scope.region)
            .or(aws_host.as_ref().and_then(host_region))
            .map(str::to_string);
        let access_key_id = scope
            .map(|scope| scope.access_key_id.to_string())
            .or(sigv2_key);
        let presigned = presigned.is_some() || access_key_id.is_some() && scope.is_none();

        if scope.is_none() && aws_host.is_none() {
            return Identification {
                identity: Identity::NotAws,
                region,
                access_key_id,
                presigned,
            };
        }
        let candidates = self.candidates(scope.as_ref(), aws_host.as_ref());
        let identified = self
            .by_json_target(request, &candidates)
            .or_else(|| self.by_rpc_v2_path(request))
            .or_else(|| self.by_query_action(request, &candidates))
            .or_else(|| self.by_rest_route(request, &candidates, aws_host.as_ref()));
        let identity = identified.unwrap_or_else(|| {
            let wire = WireService {
                candidates: &candidates,
                scope: scope.as_ref(),
                host: aws_host.as_ref(),
            };
            self.named_on_the_wire(request, &wire)
                .unwrap_or_else(|| Identity::Unknown {
                    service_guess: self.service_name(&wire),
                    path_template: path_template(self.model, request.method, request.path),
                })
        });
        Identification {
            identity,
            region,
            access_key_id,
            presigned,
        }
    }

    /// The operation a request names itself, when the model has no such operation: the
    /// `X-Amz-Target`, the RPCv2 CBOR path, or the query protocol's `Action`. Only reached when
    /// the model could not identify the request, so it costs nothing on known calls.
    fn named_on_the_wire(&self, request: &Request<'_>, wire: &WireService<'_>) -> Option<Identity> {
        let not_in_model = |services: &[ServiceIndex], operation: &str, protocol| {
            let service = wire
                .candidates
                .iter()
                .find(|s| services.contains(s))
                .or(services.first())
                .map(|&index| self.model.service(index).name.to_string())
                .or_else(|| self.service_name(wire))?;
            Some(Identity::NotInModel {
                service,
                operation: operation.to_string(),
                protocol,
            })
        };
        if let Some(target) = request
            .headers
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok())
        {
            let (prefix, operation) = target.rsplit_once('.')?;
            return is_operation_name(operation)
                .then(|| {
                    not_in_model(
                        self.model.by_target_prefix(prefix),
                        operation,
                        Protocol::Json,
                    )
                })
                .flatten();
        }
        if let Some((service, operation)) = rpc_v2_path(request) {
            return is_operation_name(operation)
                .then(|| {
                    not_in_model(
                        self.model.by_target_prefix(service),
                        operation,
                        Protocol::RpcV2Cbor,
                    )
                })
                .flatten();
        }
        if let Some((action, _)) = query_action(request) {
            if !is_operation_name(action) {
                return None;
            }
            let speaks_query: Vec<ServiceIndex> = wire
                .candidates
                .iter()
                .copied()
                .filter(|&service| speaks_query(self.model.service(service)))
                .collect();
            return not_in_model(&speaks_query, action, Protocol::Query);
        }
        // A REST request names its operation only by method and path. The client's own SDK
        // knows the name: tollgate's bootstraps send it (the proxy removes the header). It
        // names an operation the model lacks and nothing else: a request the model knows never
        // gets here, so a client cannot relabel a priced call.
        let operation = request
            .headers
            .get(CLIENT_OPERATION_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|name| is_operation_name(name))?;
        not_in_model(&[], operation, Protocol::Rest)
    }

    /// The service a request is for, by what its signature and host say: a service of the
    /// model they agree on; else the endpoint the host names (a new service's own endpoint
    /// prefix, which botocore names it by); else the signing name.
    fn service_name(&self, wire: &WireService<'_>) -> Option<String> {
        let model = self.model;
        let agreed = |index: &&ServiceIndex| {
            let service = model.service(**index);
            wire.scope.is_none_or(|scope| {
                service.signing_name == scope.service
                    || signing_aliases(scope.service).contains(&service.name)
            }) && wire.host.is_none_or(|host| {
                // `ingest.timestream` is the endpoint of `timestream` with a leading label.
                service
                    .endpoint_prefix
                    .strip_suffix(host.endpoint_prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
            })
        };
        if let Some(&index) = wire.candidates.iter().find(agreed) {
            return Some(model.service(index).name.to_string());
        }
        if let Some(host) = wire.host {
            return Some(
                match model.by_endpoint_prefix(host.endpoint_prefix).first() {
                    Some(&index) => model.service(index).name.to_string(),
                    None => host.endpoint_prefix.to_string(),
                },
            );
        }
        wire.candidates
            .first()
            .map(|&index| model.service(index).name.to_string())
            .or_else(|| wire.scope.map(|scope| scope.service.to_string()))
    }

    /// Services the signature and host point at, best first: both agree, then the signing name,
    /// then the endpoint prefix. Among services that share both (rds, docdb and neptune send
    /// byte-identical requests), the one named like its endpoint comes first.
    fn candidates(
        &self,
        scope: Option<&CredentialScope<'_>>,
        aws_host: Option<&AwsHost<'_>>,
    ) -> Vec<ServiceIndex> {
        let signing = scope.map(|scope| scope.service);
        let mut signed: Vec<ServiceIndex> = signing
            .map(|name| self.model.by_signing_name(name).to_vec())
            .unwrap_or_default();
        for alias in signing.map_or(&[][..], signing_aliases) {
            signed.extend(self.model.service_named(alias));
        }
        let mut hosted: Vec<ServiceIndex> = Vec::new();
        if let Some(host) = aws_host {
            // Dotted endpoint prefixes: `ingest.timestream`, `portal.sso`, `sms-voice.pinpoint`;
            // endpoint discovery adds a cell (`ingest-cell1.timestream`).
            if let Some(label) = host.leading.rsplit('.').next().filter(|l| !l.is_empty()) {
                for label in [label, label.split_once("-cell").map_or(label, |(l, _)| l)] {
                    let dotted = format!("{label}.{}", host.endpoint_prefix);
                    hosted.extend_from_slice(self.model.by_endpoint_prefix(&dotted));
                }
            }
            hosted.extend_from_slice(self.model.by_endpoint_prefix(host.endpoint_prefix));
        }
        let mut candidates: Vec<ServiceIndex> = signed
            .iter()
            .filter(|s| hosted.contains(s))
            .copied()
            .collect();
        for &service in signed.iter().chain(&hosted) {
            if !candidates.contains(&service) {
                candidates.push(service);
            }
        }
        // Among the services both agree on (they cannot be told apart by signature or host), the
        // one named like its endpoint or signing name first. Stable, so the rest keep their order.
        let agreed = signed.iter().filter(|s| hosted.contains(s)).count();
        let model = self.model;
        candidates[..agreed].sort_by_key(|&index| {
            let service = model.service(index);
            service.name != service.endpoint_prefix && Some(service.name) != signing
        });
        candidates
    }

    fn by_json_target(
        &self,
        request: &Request<'_>,
        candidates: &[ServiceIndex],
    ) -> Option<Identity> {
        let target = request.headers.get("x-amz-target")?.to_str().ok()?;
        // Split on the last dot: some target prefixes contain dots (CloudTrail's).
        let (prefix, operation) = target.rsplit_once('.')?;
        let services = self.model.by_target_prefix(prefix);
        // In the candidates' order (signature and host agreeing first), then the rest.
        let ordered = candidates
            .iter()
            .filter(|s| services.contains(s))
            .chain(services.iter().filter(|s| !candidates.contains(s)));
        ordered.into_iter().find_map(|&service| {
            self.model
                .operation_named(service, operation)
                .map(|operation| Identity::Operation {
                    service,
                    operation,
                    protocol: Protocol::Json,
                })
        })
    }

    fn by_rpc_v2_path(&self, request: &Request<'_>) -> Option<Identity> {
        let (service_name, operation) = rpc_v2_path(request)?;
        self.model
            .by_target_prefix(service_name)
            .iter()
            .find_map(|&service| {
                self.model
                    .operation_named(service, operation)
                    .map(|operation| Identity::Operation {
                        service,
                        operation,
                        protocol: Protocol::RpcV2Cbor,
                    })
            })
    }

    fn by_query_action(
        &self,
        request: &Request<'_>,
        candidates: &[ServiceIndex],
    ) -> Option<Identity> {
        let (action, version) = query_action(request)?;
        let query_services: Vec<ServiceIndex> = candidates
            .iter()
            .copied()
            .filter(|&service| speaks_query(self.model.service(service)))
            .collect();
        // The API version tells apart services behind one endpoint (ELB 2012 vs ELBv2 2015).
        let same_version = query_services
            .iter()
            .filter(|&&service| Some(self.model.service(service).api_version) == version);
        let others = query_services
            .iter()
            .filter(|&&service| Some(self.model.service(service).api_version) != version);
        same_version.chain(others).find_map(|&service| {
            self.model
                .operation_named(service, action)
                .map(|operation| Identity::Operation {
                    service,
                    operation,
                    protocol: Protocol::Query,
                })
        })
    }

    fn by_rest_route(
        &self,
        request: &Request<'_>,
        candidates: &[ServiceIndex],
        aws_host: Option<&AwsHost<'_>>,
    ) -> Option<Identity> {
        candidates.iter().find_map(|&service| {
            let router = self.model.router(service)?;
            let model = self.model.service(service);
            // S3 virtual-hosted style: the bucket is in the host; route as path style.
            let virtual_bucket = aws_host
                .filter(|host| model.name == "s3" && is_bucket_host(host))
                .map(|host| host.leading);
            let as_sent =
                || router.route(request.method, request.path, request.query, request.headers);
            let operation = match virtual_bucket {
                // Operations addressed to the host itself (S3 Object Lambda's
                // WriteGetObjectResponse on `{route}.s3-object-lambda`) route as sent.
                Some(bucket) => {
                    let path = format!("/{bucket}{}", request.path);
                    router
                        .route(request.method, &path, request.query, request.headers)
                        .or_else(as_sent)
                }
                None => as_sent(),
            }?;
            Some(Identity::Operation {
                service,
                operation,
                protocol: Protocol::Rest,
            })
        })
    }
}

/// What a request says of its service, for naming one the model may not have.
struct WireService<'w> {
    /// The model's services, best first (see [`Identifier::candidates`]).
    candidates: &'w [ServiceIndex],
    scope: Option<&'w CredentialScope<'w>>,
    host: Option<&'w AwsHost<'w>>,
}

/// `POST /service/<Service>/operation/<Operation>` with `smithy-protocol: rpc-v2-cbor`: the
/// service's target prefix and the operation.
fn rpc_v2_path<'r>(request: &Request<'r>) -> Option<(&'r str, &'r str)> {
    // The header is part of the protocol: without it, `/service/.../operation/...` is just a
    // REST path that happens to look the same.
    let rpc_v2 = request
        .headers
        .get("smithy-protocol")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"rpc-v2-cbor"));
    if request.method != Method::POST || !rpc_v2 {
        return None;
    }
    let rest = request.path.strip_prefix("/service/")?;
    rest.split_once("/operation/")
}

/// The query protocol's `Action` and `Version`, from a form body or the query string.
fn query_action<'r>(request: &Request<'r>) -> Option<(&'r str, Option<&'r str>)> {
    let is_form = request
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let body = std::str::from_utf8(request.body).ok();
    let action = is_form
        .then_some(body)
        .flatten()
        .and_then(|body| form_value(body, "Action"))
        .or_else(|| request.query.and_then(|query| form_value(query, "Action")))?;
    let version = form_value(body.unwrap_or(""), "Version")
        .or_else(|| request.query.and_then(|query| form_value(query, "Version")));
    Some((action, version))
}

/// Services that take the query protocol: query and EC2 ones, and JSON services that are
/// `awsQueryCompatible` (SQS), which used to speak it and older SDKs still send it that way.
fn speaks_query(service: &super::model::ServiceModel) -> bool {
    service.aws_query_compatible
        || service
            .protocols
            .iter()
            .any(|protocol| *protocol == "query" || *protocol == "ec2")
}

/// Whether `name` can be an AWS operation name (`GetItem`, `DescribeInstances`): what the wire
/// says is kept only if it looks like one.
fn is_operation_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 128
        && bytes.next().is_some_and(|b| b.is_ascii_uppercase())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The region a host names; for a global endpoint without one (`s3.amazonaws.com`,
/// `iam.amazonaws.com`), the region that serves it: us-east-1 (cn-north-1 in China). Not for a
/// bucket on S3's legacy global endpoint (`bucket.s3.amazonaws.com`): DNS sends those to the
/// bucket's own region, which the request does not say.
fn host_region<'h>(host: &AwsHost<'h>) -> Option<&'h str> {
    if host.region.is_some() {
        return host.region;
    }
    if !host.leading.is_empty() && is_bucket_host(host) {
        return None;
    }
    match host.partition_suffix {
        "amazonaws.com" => Some("us-east-1"),
        "amazonaws.com.cn" => Some("cn-north-1"),
        _ => None,
    }
}

/// Whether the labels in front of an S3 host name a bucket (or access point), rather than an
/// operation's host prefix (`{RequestRoute}.s3-object-lambda`) or an account (`s3-control`).
pub fn is_bucket_host(host: &AwsHost<'_>) -> bool {
    !host.leading.is_empty()
        && (matches!(
            host.endpoint_prefix,
            "s3" | "s3-accesspoint" | "s3-object-lambda" | "s3-global" | "s3-outposts"
        ) || (host.endpoint_prefix.starts_with("s3express-")
            && host.endpoint_prefix != "s3express-control"))
}

/// Signing names that are not any model service's own, and the services (by name) whose
/// requests they sign: S3 Express One Zone, S3 Object Lambda, S3 on Outposts.
fn signing_aliases(signing_name: &str) -> &'static [&'static str] {
    match signing_name {
        // S3 Express One Zone: bucket operations on its zonal endpoints, access point scopes on
        // its control endpoint (s3control's), directory bucket listing there too (s3's).
        "s3express" => &["s3control", "s3"],
        "s3-object-lambda" | "s3-outposts" => &["s3"],
        _ => &[],
    }
}

/// The `X-Amz-Credential` of a presigned URL, percent-decoded, and whether it is SigV4a.
fn presigned_credential(query: Option<&str>) -> Option<(String, bool)> {
    let query = query?;
    let credential = form_value(query, "X-Amz-Credential")?;
    let sigv4a = form_value(query, "X-Amz-Algorithm") == Some("AWS4-ECDSA-P256-SHA256");
    Some((percent_decode(credential), sigv4a))
}

/// The access key id of a SigV2 query-string signature (`AWSAccessKeyId=…&Signature=…&Expires=…`,
/// S3's legacy presigned URLs), percent-decoded.
fn sigv2_query_access_key(query: Option<&str>) -> Option<String> {
    let query = query?;
    let key = form_value(query, "AWSAccessKeyId")?;
    (form_value(query, "Signature").is_some() && !key.is_empty()).then(|| percent_decode(key))
}

/// `GET /2015-03-31/functions/{}/configuration`: keeps the segments that are literal text in some
/// operation's request URI and replaces everything else (names, ids, keys) with `{}`, so unknown
/// calls group together and carry no resource names.
fn path_template(model: &Model, method: &Method, path: &str) -> String {
    let mut template = format!("{method} ");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        template.push('/');
    }
    for segment in segments.iter().take(8) {
        template.push('/');
        let literal = model.is_uri_literal(segment) || is_api_version(segment);
        template.push_str(if literal { segment } else { "{}" });
    }
    if segments.len() > 8 {
        template.push_str("/…");
    }
    template
}

/// `2015-03-31`, `v1`, `v20180820`: version segments in REST URIs.
fn is_api_version(segment: &str) -> bool {
    let dated = segment.len() == 10
        && segment.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let versioned = segment
        .strip_prefix('v')
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
    dated || versioned
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// Identifies a request; `signer` (signing name, region) signs it first with aws-sigv4,
    /// exactly as an SDK would.
    fn identify(
        method: Method,
        host: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Identification {
        identify_signed(None, method, host, path_and_query, headers, body)
    }

    fn identify_signed(
        signer: Option<(&str, &str)>,
        method: Method,
        host: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Identification {
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(format!("https://{host}{path_and_query}"))
            .body(body.to_vec())
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        if let Some((service, region)) = signer {
            crate::aws::signing::sign_request(
                &mut request,
                &crate::aws::signing::example_credentials(None),
                service,
                region,
                std::time::SystemTime::now(),
            )
            .unwrap();
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        Identifier::new(Model::embedded()).identify(&Request {
            method: &method,
            host,
            path,
            query,
            headers: request.headers(),
            body,
        })
    }

    fn names(identification: &Identification) -> (String, String) {
        match &identification.identity {
            Identity::Operation {
                service, operation, ..
            } => {
                let model = Model::embedded();
                (
                    model.service(*service).name.to_string(),
                    model.operation(*service, *operation).name.to_string(),
                )
            }
            other => panic!("not identified: {other:?}"),
        }
    }

    #[test]
    fn s3_virtual_hosted_and_path_style() {
        let list = identify_signed(
            Some(("s3", "us-east-1")),
            Method::GET,
            "logs.s3.us-east-1.amazonaws.com",
            "/?list-type=2&max-keys=100",
            &[],
            b"",
        );
        assert_eq!(names(&list), ("s3".into(), "ListObjectsV2".into()));
        assert_eq!(list.region.as_deref(), Some("us-east-1"));
        assert_eq!(list.access_key_id.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
        let head = identify_signed(
            Some(("s3", "us-east-1")),
            Method::HEAD,
            "s3.amazonaws.com",
            "/logs/2026/11/a.gz",
            &[],
            b"",
        );
        assert_eq!(names(&head), ("s3".into(), "HeadObject".into()));
        let v1 = identify(Method::GET, "logs.s3.amazonaws.com", "/", &[], b"");
        assert_eq!(names(&v1), ("s3".into(), "ListObjects".into()));
    }

    #[test]
    fn json_target_split_on_the_last_dot() {
        let get = identify(
            Method::POST,
            "dynamodb.us-east-1.amazonaws.com",
            "/",
            &[("x-amz-target", "DynamoDB_20120810.GetItem")],
            b"{}",
        );
        assert_eq!(names(&get), ("dynamodb".into(), "GetItem".into()));
        let trail = identify(
            Method::POST,
            "cloudtrail.us-east-1.amazonaws.com",
            "/",
            &[(
                "x-amz-target",
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            )],
            b"{}",
        );
        assert_eq!(names(&trail), ("cloudtrail".into(), "LookupEvents".into()));
    }

    #[test]
    fn query_action_in_body_or_query_string() {
        let sts = identify(
            Method::POST,
            "sts.amazonaws.com",
            "/",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            b"Action=GetCallerIdentity&Version=2011-06-15",
        );
        assert_eq!(names(&sts), ("sts".into(), "GetCallerIdentity".into()));
        let ec2 = identify(
            Method::GET,
            "ec2.eu-west-1.amazonaws.com",
            "/?Action=DescribeInstances&Version=2016-11-15",
            &[],
            b"",
        );
        assert_eq!(names(&ec2), ("ec2".into(), "DescribeInstances".into()));
        assert_eq!(ec2.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn cloudwatch_in_each_of_its_protocols_and_sqs_query_compatible_json() {
        let monitoring = Some(("monitoring", "us-east-1"));
        let host = "monitoring.us-east-1.amazonaws.com";
        let json = identify_signed(
            monitoring,
            Method::POST,
            host,
            "/",
            &[(
                "x-amz-target",
                "GraniteServiceVersion20100801.GetMetricData",
            )],
            b"{}",
        );
        let cbor = identify_signed(
            monitoring,
            Method::POST,
            host,
            "/service/GraniteServiceVersion20100801/operation/GetMetricData",
            &[("smithy-protocol", "rpc-v2-cbor")],
            b"\xa0",
        );
        let query = identify_signed(
            monitoring,
            Method::POST,
            host,
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"Action=GetMetricData&Version=2010-08-01",
        );
        for identified in [&json, &cbor, &query] {
            assert_eq!(
                names(identified),
                ("cloudwatch".into(), "GetMetricData".into())
            );
        }
        let sqs = identify(
            Method::POST,
            "sqs.eu-west-1.amazonaws.com",
            "/",
            &[
                ("x-amz-target", "AmazonSQS.ReceiveMessage"),
                ("x-amzn-query-mode", "true"),
            ],
            b"{}",
        );
        assert_eq!(names(&sqs), ("sqs".into(), "ReceiveMessage".into()));
        let sqs_query = identify(
            Method::POST,
            "sqs.eu-west-1.amazonaws.com",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"Action=ReceiveMessage&Version=2012-11-05&QueueUrl=x",
        );
        assert_eq!(names(&sqs_query), ("sqs".into(), "ReceiveMessage".into()));
    }

    #[test]
    fn s3_access_points_privatelink_and_region_named_buckets() {
        let s3 = Some(("s3", "us-east-1"));
        let cases = [
            (
                "vpce-0a1b-xyz.s3.us-east-1.vpce.amazonaws.com",
                "/bkt?list-type=2",
                "ListObjectsV2",
            ),
            (
                "vpce-0a1b-xyz.s3.us-east-1.vpce.amazonaws.com",
                "/",
                "ListBuckets",
            ),
            (
                "bkt.vpce-0a1b-xyz.s3.us-east-1.vpce.amazonaws.com",
                "/k.csv",
                "GetObject",
            ),
            (
                "ap-123456789012.s3-object-lambda.us-east-1.amazonaws.com",
                "/report.csv",
                "GetObject",
            ),
            (
                "mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com",
                "/report.csv",
                "GetObject",
            ),
            (
                "us-west-2.s3.amazonaws.com",
                "/?list-type=2",
                "ListObjectsV2",
            ),
        ];
        for (host, path, operation) in cases {
            let identified = identify_signed(s3, Method::GET, host, path, &[], b"");
            assert_eq!(
                names(&identified),
                ("s3".into(), operation.into()),
                "{host}{path}"
            );
        }
        let write = identify_signed(
            Some(("s3-object-lambda", "us-east-1")),
            Method::POST,
            "route-token.s3-object-lambda.us-east-1.amazonaws.com",
            "/WriteGetObjectResponse",
            &[
                ("x-amz-request-route", "route-token"),
                ("x-amz-request-token", "t"),
            ],
            b"",
        );
        assert_eq!(
            names(&write),
            ("s3".into(), "WriteGetObjectResponse".into())
        );
    }

    #[test]
    fn endpoint_variants_fips_dualstack_china_and_account_hosts() {
        let fips = identify(
            Method::POST,
            "dynamodb-fips.us-gov-west-1.amazonaws.com",
            "/",
            &[("x-amz-target", "DynamoDB_20120810.PutItem")],
            b"{}",
        );
        assert_eq!(names(&fips), ("dynamodb".into(), "PutItem".into()));
        assert_eq!(fips.region.as_deref(), Some("us-gov-west-1"));
        let dualstack = identify(
            Method::GET,
            "logs.s3.dualstack.eu-central-1.amazonaws.com",
            "/k?tagging",
            &[],
            b"",
        );
        assert_eq!(names(&dualstack), ("s3".into(), "GetObjectTagging".into()));
        let china = identify(
            Method::POST,
            "sts.cn-north-1.amazonaws.com.cn",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"Action=AssumeRole&Version=2011-06-15",
        );
        assert_eq!(names(&china), ("sts".into(), "AssumeRole".into()));
        assert_eq!(china.region.as_deref(), Some("cn-north-1"));
        let control = identify_signed(
            Some(("s3", "us-east-1")),
            Method::GET,
            "123456789012.s3-control.us-east-1.amazonaws.com",
            "/v20180820/accesspoint",
            &[("x-amz-account-id", "123456789012")],
            b"",
        );
        assert_eq!(
            names(&control),
            ("s3control".into(), "ListAccessPoints".into())
        );
        let express = identify_signed(
            Some(("s3express", "us-east-1")),
            Method::GET,
            "bucket--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com",
            "/?list-type=2",
            &[],
            b"",
        );
        assert_eq!(names(&express), ("s3".into(), "ListObjectsV2".into()));
    }

    #[test]
    fn unknown_operations_are_kept_with_a_guess_and_other_traffic_is_not_aws() {
        let unknown = identify(
            Method::GET,
            "lambda.us-east-1.amazonaws.com",
            "/2099-01-01/gadgets/g-1",
            &[],
            b"",
        );
        assert_eq!(
            unknown.identity,
            Identity::Unknown {
                service_guess: Some("lambda".into()),
                path_template: "GET /2099-01-01/{}/{}".into()
            }
        );
        let other = identify(Method::GET, "pypi.org", "/simple/boto3/", &[], b"");
        assert_eq!(other.identity, Identity::NotAws);
    }

    fn not_in_model(identification: &Identification) -> (&str, &str, Protocol) {
        match &identification.identity {
            Identity::NotInModel {
                service,
                operation,
                protocol,
            } => (service, operation, *protocol),
            other => panic!("not named from the wire: {other:?}"),
        }
    }

    /// Issue 13 (accuracy): operations newer than the model were recorded as unknown; the wire
    /// names them (JSON target, query action, RPCv2 CBOR path), with the service the model
    /// knows or, for a new service, the one its endpoint names.
    #[test]
    fn operations_the_model_lacks_are_named_from_the_wire() {
        let json = identify_signed(
            Some(("dynamodb", "us-east-1")),
            Method::POST,
            "dynamodb.us-east-1.amazonaws.com",
            "/",
            &[("x-amz-target", "DynamoDB_20120810.ScanEverythingFaster")],
            b"{}",
        );
        assert_eq!(
            not_in_model(&json),
            ("dynamodb", "ScanEverythingFaster", Protocol::Json)
        );
        assert_eq!(json.region.as_deref(), Some("us-east-1"));
        let query = identify_signed(
            Some(("ec2", "eu-west-1")),
            Method::POST,
            "ec2.eu-west-1.amazonaws.com",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"Action=CreateVirtualEdgeNetworkGateway&Version=2016-11-15",
        );
        assert_eq!(
            not_in_model(&query),
            ("ec2", "CreateVirtualEdgeNetworkGateway", Protocol::Query)
        );
        // A new service: neither its target prefix nor its endpoint is in the model.
        let cbor = identify_signed(
            Some(("assurance", "us-east-1")),
            Method::POST,
            "assurance.us-east-1.api.aws",
            "/service/Assurance/operation/AcceptInvitation",
            &[("smithy-protocol", "rpc-v2-cbor")],
            b"\xa0",
        );
        assert_eq!(
            not_in_model(&cbor),
            ("assurance", "AcceptInvitation", Protocol::RpcV2Cbor)
        );
        // Signed for an existing service's signing name, at an endpoint of its own: the
        // endpoint names the new service (botocore's elb-proxy signs as elasticloadbalancing).
        let proxy = identify_signed(
            Some(("elasticloadbalancing", "us-east-1")),
            Method::POST,
            "elb-proxy.us-east-1.api.aws",
            "/service/ELBProxy/operation/DescribeProxies",
            &[("smithy-protocol", "rpc-v2-cbor")],
            b"\xa0",
        );
        assert_eq!(
            not_in_model(&proxy),
            ("elb-proxy", "DescribeProxies", Protocol::RpcV2Cbor)
        );
        // A REST call does not name its operation: unknown, but under its own service.
        let rest = identify_signed(
            Some(("amplifygen3", "us-east-1")),
            Method::GET,
            "amplifygen3.us-east-1.api.aws",
            "/apps",
            &[],
            b"",
        );
        assert!(
            matches!(&rest.identity, Identity::Unknown { service_guess, .. }
                if service_guess.as_deref() == Some("amplifygen3")),
            "{rest:?}"
        );
        // What is not an operation name is not taken for one.
        let junk = identify(
            Method::POST,
            "dynamodb.us-east-1.amazonaws.com",
            "/",
            &[("x-amz-target", "DynamoDB_20120810.<script>")],
            b"{}",
        );
        assert!(
            matches!(junk.identity, Identity::Unknown { .. }),
            "{junk:?}"
        );
    }

    /// Issue 13 (accuracy): a REST operation newer than the model is named by the client's SDK
    /// (`x-tollgate-operation`, from tollgate's bootstraps), under the service the wire names;
    /// the header never renames an operation the model knows, and a non-name is ignored.
    #[test]
    fn the_clients_operation_header_names_only_rest_operations_the_model_lacks() {
        let named = identify_signed(
            Some(("amplifygen3", "us-east-1")),
            Method::GET,
            "amplifygen3.us-east-1.api.aws",
            "/apps",
            &[(CLIENT_OPERATION_HEADER, "ListApps")],
            b"",
        );
        assert_eq!(
            not_in_model(&named),
            ("amplifygen3", "ListApps", Protocol::Rest)
        );
        let new_in_lambda = identify_signed(
            Some(("lambda", "us-east-1")),
            Method::GET,
            "lambda.us-east-1.amazonaws.com",
            "/2099-01-01/gadgets/g-1",
            &[(CLIENT_OPERATION_HEADER, "GetGadget")],
            b"",
        );
        assert_eq!(
            not_in_model(&new_in_lambda),
            ("lambda", "GetGadget", Protocol::Rest)
        );
        let known = identify_signed(
            Some(("s3", "us-east-1")),
            Method::GET,
            "s3.us-east-1.amazonaws.com",
            "/bucket/key",
            &[(CLIENT_OPERATION_HEADER, "DeleteBucket")],
            b"",
        );
        assert_eq!(names(&known), ("s3".into(), "GetObject".into()));
        for junk in ["getThing", "Get Thing", "Get%20Thing", ""] {
            let ignored = identify_signed(
                Some(("amplifygen3", "us-east-1")),
                Method::GET,
                "amplifygen3.us-east-1.api.aws",
                "/apps",
                &[(CLIENT_OPERATION_HEADER, junk)],
                b"",
            );
            assert!(
                matches!(ignored.identity, Identity::Unknown { .. }),
                "{junk:?}: {ignored:?}"
            );
        }
    }

    #[test]
    fn presigned_urls_give_the_scope() {
        let presigned = identify(
            Method::GET,
            "s3.amazonaws.com",
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261126%2Feu-west-2%2Fs3%2Faws4_request&X-Amz-Signature=00",
            &[],
            b"",
        );
        assert_eq!(names(&presigned), ("s3".into(), "GetObject".into()));
        assert_eq!(presigned.region.as_deref(), Some("eu-west-2"));
        assert!(presigned.presigned);
        assert_eq!(presigned.access_key_id.as_deref(), Some("AKID"));
    }

    /// Issue 13, defect 12: a presigned SigV2 GetObject (`AWSAccessKeyId`, `Signature`,
    /// `Expires` in the query, as botocore makes with signature_version='s3') had no region and
    /// no access key: the legacy global endpoint is us-east-1's, and the query names the key.
    #[test]
    fn presigned_sigv2_get_object_has_region_and_key() {
        let query =
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=fB1oZ%2F0A8%3D&Expires=1796604171";
        let path_style = identify(
            Method::GET,
            "s3.amazonaws.com",
            &format!("/my-bucket/a/b.txt?{query}"),
            &[],
            b"",
        );
        assert_eq!(names(&path_style), ("s3".into(), "GetObject".into()));
        assert_eq!(path_style.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            path_style.access_key_id.as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE")
        );
        assert!(path_style.presigned);
        let regional = identify(
            Method::GET,
            "my-bucket.s3.eu-west-1.amazonaws.com",
            &format!("/a/b.txt?{query}"),
            &[],
            b"",
        );
        assert_eq!(names(&regional), ("s3".into(), "GetObject".into()));
        assert_eq!(regional.region.as_deref(), Some("eu-west-1"));
        // A bucket on the legacy global endpoint is served from its own region, which the
        // request does not name: unknown, not us-east-1.
        let virtual_global = identify(
            Method::GET,
            "my-bucket.s3.amazonaws.com",
            &format!("/a/b.txt?{query}"),
            &[],
            b"",
        );
        assert_eq!(names(&virtual_global), ("s3".into(), "GetObject".into()));
        assert_eq!(virtual_global.region, None);
        assert!(virtual_global.presigned);
        // Other global endpoints are us-east-1's (cn-north-1's in China).
        let iam = identify(
            Method::POST,
            "iam.amazonaws.com",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"Action=ListUsers&Version=2010-05-08",
        );
        assert_eq!(iam.region.as_deref(), Some("us-east-1"));
        assert!(!iam.presigned);
    }

    #[test]
    fn path_templates_hide_names() {
        let model = Model::embedded();
        let template = |path| path_template(model, &Method::GET, path);
        assert_eq!(
            template("/2015-03-31/functions/my-fn-123/configuration"),
            "GET /2015-03-31/functions/{}/configuration"
        );
        assert_eq!(template("/stage-7/users/alice"), "GET /{}/users/{}");
        assert_eq!(template("/"), "GET /");
    }
}
