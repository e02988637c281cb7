//! The facts about a call beyond its operation: who made it (SDK, app, access-key fingerprint),
//! which logical call and attempt it is, how it ended (error code, request id), and the resource
//! it names. Nothing returned here is secret.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::model::ResourceRef;
use super::wire::{form_value, percent_decode};

/// A short, stable, non-reversible name for an access key id: its type prefix (`AKIA` long-term,
/// `ASIA` temporary) and 8 hex digits of its SHA-256.
///
/// A client signs every call with the same key or two, so each thread remembers the last key it
/// named (the key id, never a secret) and its name, instead of hashing it again on every call.
pub fn access_key_fingerprint(access_key_id: &str) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(String, String)> =
            const { std::cell::RefCell::new((String::new(), String::new())) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != access_key_id || last.1.is_empty() {
            let fingerprint = fingerprint_of(access_key_id);
            *last = (access_key_id.to_string(), fingerprint);
        }
        last.1.clone()
    })
}

fn fingerprint_of(access_key_id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(access_key_id.as_bytes());
    let mut name: String = access_key_id.chars().take(4).collect();
    name.push('-');
    for byte in &digest[..4] {
        name.push(char::from(HEX[usize::from(byte >> 4)]));
        name.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    name
}

/// The SDK and application that sent a request, from `x-amz-user-agent` or `User-Agent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgent {
    /// `Boto3/1.44.8`, `aws-cli/2.17.0`, `aws-sdk-rust/1.3.5`, `aws-sdk-go-v2/1.30.0`.
    pub sdk: Option<String>,
    /// From `app/<id>` (`AWS_SDK_UA_APP_ID`, `sdk_ua_app_id`).
    pub app_id: Option<String>,
}

pub fn user_agent(headers: &HeaderMap) -> UserAgent {
    // Walked twice rather than collected: on every recorded call.
    let tokens = || {
        ["x-amz-user-agent", "user-agent"]
            .iter()
            .filter_map(|name| headers.get(*name)?.to_str().ok())
            .flat_map(str::split_ascii_whitespace)
    };
    UserAgent {
        // The outermost client: a wrapper puts itself first (`aiobotocore/3.10.0 ...
        // Botocore/1.43.117`, as s3fs and pandas send it; `aws-cli/1.36.0 ... botocore/1.35.0`),
        // so the first product names what the user called, not the SDK underneath.
        sdk: tokens()
            .find(|token| is_product_token(token))
            .map(str::to_string),
        app_id: tokens()
            .find_map(|token| token.strip_prefix("app/"))
            .map(str::to_string),
    }
}

/// A `product/version` token that is not one of the SDK user-agent metadata fields, nor a
/// partner prefix some tools put before their own name (`APN/1.0 HashiCorp/1.0 Terraform/1.9.0`).
fn is_product_token(token: &str) -> bool {
    const METADATA: &[&str] = &[
        "md", "ua", "os", "lang", "cfg", "api", "exec-env", "m", "app", "ft", "lib",
    ];
    const PARTNER_PREFIXES: &[&str] = &["APN", "HashiCorp"];
    token.split_once('/').is_some_and(|(name, _)| {
        !name.is_empty() && !METADATA.contains(&name) && !PARTNER_PREFIXES.contains(&name)
    })
}

/// `amz-sdk-invocation-id` (one per logical call) and `amz-sdk-request: attempt=N; max=M`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempt {
    pub invocation_id: Option<String>,
    pub attempt: Option<u32>,
    pub max_attempts: Option<u32>,
}

pub fn attempt(headers: &HeaderMap) -> Attempt {
    let invocation_id = headers
        .get("amz-sdk-invocation-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let request = headers
        .get("amz-sdk-request")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let field = |name: &str| {
        request.split(';').find_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            (key == name).then(|| value.trim().parse().ok()).flatten()
        })
    };
    Attempt {
        invocation_id,
        attempt: field("attempt"),
        max_attempts: field("max"),
    }
}

/// The AWS error code of a response: from `x-amzn-ErrorType`, `x-amz-error-code`, or the body
/// (JSON `__type`/`code`, XML `<Code>`, CBOR `__type`). `None` for a success.
pub fn error_code(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if status < 300 {
        // S3's CompleteMultipartUpload, CopyObject and UploadPartCopy can fail after answering
        // 200: the error then comes as an `<Error>` document in the body.
        return s3_error_in_success(body);
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(kind) = header("x-amzn-errortype").or_else(|| header("x-amz-error-code")) {
        return Some(clean_error_type(kind));
    }
    let content_type = header("content-type").unwrap_or("");
    if content_type.contains("cbor") {
        return cbor_text_after(body, b"__type").map(|kind| clean_error_type(&kind));
    }
    let text = std::str::from_utf8(body).ok()?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        let kind = ["__type", "code", "Code"]
            .iter()
            .find_map(|key| value.get(*key)?.as_str())?;
        return Some(clean_error_type(kind));
    }
    if trimmed.starts_with('<') {
        let start = text.find("<Code>")? + "<Code>".len();
        let end = text[start..].find("</Code>")? + start;
        return Some(text[start..end].trim().to_string());
    }
    None
}

fn s3_error_in_success(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body.get(..body.len().min(512))?).ok()?;
    let text = text.trim_start();
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>")?.1.trim_start(),
        None => text,
    };
    let rest = text.strip_prefix("<Error>")?;
    let start = rest.find("<Code>")? + "<Code>".len();
    let end = rest[start..].find("</Code>")? + start;
    Some(rest[start..end].trim().to_string())
}

/// `com.amazonaws.dynamodb.v20120810#ResourceNotFoundException` → `ResourceNotFoundException`;
/// `ValidationException:http://internal.amazon.com/...` → `ValidationException`.
fn clean_error_type(kind: &str) -> String {
    let kind = kind.split(':').next().unwrap_or(kind);
    kind.rsplit('#').next().unwrap_or(kind).trim().to_string()
}

/// The text string that follows the CBOR text key `key` (enough for `__type` in an error map).
fn cbor_text_after(body: &[u8], key: &[u8]) -> Option<String> {
    let at = body.windows(key.len()).position(|window| window == key)? + key.len();
    let head = *body.get(at)?;
    if head >> 5 != 3 {
        return None;
    }
    let (len, start) = match head & 0x1f {
        n @ 0..=23 => (n as usize, at + 1),
        24 => (*body.get(at + 1)? as usize, at + 2),
        25 => (
            u16::from_be_bytes([*body.get(at + 1)?, *body.get(at + 2)?]) as usize,
            at + 3,
        ),
        _ => return None,
    };
    let bytes = body.get(start..start + len)?;
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

/// Whether the request's body is a form (`application/x-www-form-urlencoded`): the query and EC2
/// protocols.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// The request id AWS assigned, from the response headers.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(str::to_string)
}

/// Where the request carries things, for [`resource`].
pub struct RequestParts<'a> {
    /// The request path, path-style (an S3 virtual-hosted bucket already put in front).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The operation's request URI template, for `uri` members.
    pub uri_template: &'a str,
    /// Query and EC2 protocols put body members in a form, others in JSON.
    pub form_body: bool,
}

/// The name of the call's main resource, for reports: the input member the model names
/// ([`resource`]), with what the model cannot say filled in. One resource has one name, however
/// a call addressed it: an SQS queue named by its URL is shown by its name, as in CreateQueue or
/// GetQueueUrl (the URL's account id stays out of reports). DynamoDB's batch and transaction
/// calls name their tables in `RequestItems` or `TransactItems`, which no single member holds.
pub fn call_resource(
    service: &str,
    operation: &str,
    reference: Option<&ResourceRef>,
    parts: &RequestParts<'_>,
) -> Option<String> {
    let named = reference.and_then(|reference| resource(reference, parts));
    match (service, named) {
        ("sqs", Some(value)) => Some(sqs_queue_name(value)),
        ("dynamodb", None) => dynamodb_tables(operation, parts.body),
        (_, named) => named,
    }
}

/// `https://sqs.us-east-1.amazonaws.com/123456789012/orders` (or moto's `http://` form) →
/// `orders`; a name stays as it is.
fn sqs_queue_name(value: String) -> String {
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        return value;
    }
    match value.trim_end_matches('/').rsplit('/').next() {
        Some(name) if !name.is_empty() && !name.contains(':') => name.to_string(),
        _ => value,
    }
}

/// The tables of a DynamoDB batch or transaction call, sorted and joined by `,`. A body cut
/// short by the capture limit names none.
fn dynamodb_tables(operation: &str, body: &[u8]) -> Option<String> {
    let document: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut tables: Vec<&str> = match operation {
        "BatchWriteItem" | "BatchGetItem" => document
            .get("RequestItems")?
            .as_object()?
            .keys()
            .map(String::as_str)
            .collect(),
        "TransactWriteItems" | "TransactGetItems" => document
            .get("TransactItems")?
            .as_array()?
            .iter()
            .filter_map(|item| {
                item.as_object()?
                    .values()
                    .next()?
                    .get("TableName")?
                    .as_str()
            })
            .collect(),
        _ => return None,
    };
    tables.sort_unstable();
    tables.dedup();
    (!tables.is_empty()).then(|| truncate(tables.join(","), 256))
}

/// The value of the input member that names the call's main resource (a bucket, table, queue
/// URL...), for reports. `None` when the model names none or the value is not in what was seen.
pub fn resource(reference: &ResourceRef, parts: &RequestParts<'_>) -> Option<String> {
    let value = match reference.location {
        "uri" => uri_label(parts.uri_template, parts.path, reference.name),
        "querystring" => parts
            .query
            .and_then(|query| form_value(query, reference.name))
            .map(percent_decode),
        "header" => parts
            .headers
            .get(reference.name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string),
        _ if parts.form_body => std::str::from_utf8(parts.body)
            .ok()
            .and_then(|body| form_value(body, reference.name))
            .map(percent_decode),
        _ => json_string_member(parts.body, reference.name),
    }?;
    (!value.is_empty()).then(|| truncate(value, 256))
}

/// The path segment(s) that fill `{label}` or `{label+}` in the template.
fn uri_label(template: &str, path: &str, label: &str) -> Option<String> {
    let template_path = template.split('?').next().unwrap_or(template);
    let template_segments: Vec<&str> = template_path.split('/').filter(|s| !s.is_empty()).collect();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let plain = format!("{{{label}}}");
    let greedy = format!("{{{label}+}}");
    let at = template_segments
        .iter()
        .position(|segment| *segment == plain || *segment == greedy)?;
    if template_segments[at] == greedy {
        let after = template_segments.len() - at - 1;
        let end = segments.len().checked_sub(after)?;
        let joined = segments.get(at..end)?.join("/");
        return Some(percent_decode(&joined));
    }
    segments.get(at).map(|segment| percent_decode(segment))
}

/// A top-level string member of a JSON object body; tolerates a truncated body (even one cut
/// inside a character) by scanning.
pub(crate) fn json_string_member(body: &[u8], name: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        return map.get(name)?.as_str().map(str::to_string);
    }
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&body[..error.valid_up_to()]).ok()?,
    };
    let key = format!("\"{name}\"");
    let after = &text[text.find(&key)? + key.len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let mut deserializer = serde_json::Deserializer::from_str(after).into_iter::<String>();
    deserializer.next()?.ok()
}

fn truncate(mut value: String, max: usize) -> String {
    if value.len() > max {
        let mut end = max;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn fingerprints_are_short_stable_and_not_the_key() {
        let print = access_key_fingerprint("AKIAIOSFODNN7EXAMPLE");
        assert_eq!(print, access_key_fingerprint("AKIAIOSFODNN7EXAMPLE"));
        assert!(print.starts_with("AKIA-") && print.len() == 13, "{print}");
        assert!(!print.contains("IOSFODNN7"));
        assert_ne!(print, access_key_fingerprint("AKIAIOSFODNN7EXAMPLF"));
    }

    /// The name stored with every call: the same as it has always been computed (type prefix,
    /// 8 hex digits of the SHA-256), whichever keys a thread saw before.
    #[test]
    fn fingerprints_are_what_they_were_whatever_came_before() {
        let reference = |key: &str| {
            let digest = Sha256::digest(key.as_bytes());
            let prefix: String = key.chars().take(4).collect();
            let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
            format!("{prefix}-{hex}")
        };
        for key in [
            "AKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAY34FZKBOKMUTVV7A",
            "AKIAIOSFODNN7EXAMPLE",
            "",
            "AK",
            "ASIAY34FZKBOKMUTVV7A",
        ] {
            assert_eq!(access_key_fingerprint(key), reference(key), "{key:?}");
        }
    }

    #[test]
    fn user_agents_of_each_sdk() {
        let boto = user_agent(&headers(&[(
            "user-agent",
            "Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 cfg/retry-mode#legacy Botocore/1.44.8 app/nightly-sync",
        )]));
        assert_eq!(boto.sdk.as_deref(), Some("Boto3/1.44.8"));
        assert_eq!(boto.app_id.as_deref(), Some("nightly-sync"));
        let rust = user_agent(&headers(&[
            ("user-agent", "aws-sdk-rust/1.3.5 os/linux lang/rust/1.95.0"),
            (
                "x-amz-user-agent",
                "aws-sdk-rust/1.3.5 ua/2.1 api/s3/1.60.0 os/linux lang/rust/1.95.0",
            ),
        ]));
        assert_eq!(rust.sdk.as_deref(), Some("aws-sdk-rust/1.3.5"));
        assert_eq!(rust.app_id, None);
        let cli = user_agent(&headers(&[(
            "user-agent",
            "aws-cli/2.17.0 md/awscrt#0.20 ua/2.0 os/linux",
        )]));
        assert_eq!(cli.sdk.as_deref(), Some("aws-cli/2.17.0"));
    }

    /// Issue 24: s3fs's and pandas' calls were labelled `botocore/…`, so they could not be told
    /// from boto3's. The outermost client names the calls.
    #[test]
    fn the_outermost_client_names_the_calls() {
        let sdk = |ua: &str| user_agent(&headers(&[("user-agent", ua)])).sdk;
        let cases = [
            (
                "aiobotocore/3.10.0 md/Botocore#1.43.117 ua/2.1 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.43.117",
                "aiobotocore/3.10.0",
            ),
            (
                "aws-cli/1.36.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.35.0",
                "aws-cli/1.36.0",
            ),
            (
                "aws-sdk-cpp/1.11.510 ua/2.0 md/aws-crt#0.31.0 os/Linux#6.1 md/arch#x86_64 lang/c++#C++11 md/GCC#13.2.0",
                "aws-sdk-cpp/1.11.510",
            ),
            ("object_store/0.11.2", "object_store/0.11.2"),
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.9.0 (+https://www.terraform.io) terraform-provider-aws/5.80.0 aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3",
                "Terraform/1.9.0",
            ),
            ("aws-sdk-js/3.1178.0 ua/2.1 os/linux#6.1 lang/js md/nodejs#20.20.2 api/s3#3.1178.0", "aws-sdk-js/3.1178.0"),
        ];
        for (ua, expected) in cases {
            assert_eq!(sdk(ua).as_deref(), Some(expected), "{ua}");
        }
    }

    #[test]
    fn attempts_and_invocations() {
        let parsed = attempt(&headers(&[
            (
                "amz-sdk-invocation-id",
                "5f1c2b1e-0000-4000-8000-000000000000",
            ),
            ("amz-sdk-request", "attempt=2; max=5"),
        ]));
        assert_eq!(parsed.attempt, Some(2));
        assert_eq!(parsed.max_attempts, Some(5));
        assert!(parsed.invocation_id.is_some());
        assert_eq!(attempt(&HeaderMap::new()), Attempt::default());
    }

    #[test]
    fn error_codes_from_headers_json_xml_and_cbor() {
        assert_eq!(error_code(200, &HeaderMap::new(), b"<Code>X</Code>"), None);
        assert_eq!(
            error_code(200, &HeaderMap::new(), b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code></Error>"),
            Some("InternalError".into())
        );
        assert_eq!(
            error_code(
                200,
                &HeaderMap::new(),
                b"<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>"
            ),
            None
        );
        assert_eq!(
            error_code(
                400,
                &headers(&[(
                    "x-amzn-errortype",
                    "ValidationException:http://internal.amazon.com/"
                )]),
                b""
            ),
            Some("ValidationException".into())
        );
        assert_eq!(
            error_code(400, &HeaderMap::new(), br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#),
            Some("ProvisionedThroughputExceededException".into())
        );
        assert_eq!(
            error_code(
                503,
                &HeaderMap::new(),
                b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>m</Message></Error>"
            ),
            Some("SlowDown".into())
        );
        let mut cbor = vec![0xa1, 0x66];
        cbor.extend_from_slice(b"__type");
        cbor.push(0x60 + 19);
        cbor.extend_from_slice(b"ThrottlingException");
        assert_eq!(
            error_code(
                400,
                &headers(&[("content-type", "application/cbor")]),
                &cbor
            ),
            Some("ThrottlingException".into())
        );
        assert_eq!(error_code(404, &HeaderMap::new(), b""), None);
    }

    #[test]
    fn resources_from_uri_query_header_and_bodies() {
        let reference = |location: &'static str, name: &'static str| ResourceRef {
            member: name,
            location,
            name,
        };
        let none = HeaderMap::new();
        let parts = |path, query, body, template, form_body| RequestParts {
            path,
            query,
            headers: &none,
            body,
            uri_template: template,
            form_body,
        };
        assert_eq!(
            resource(
                &reference("uri", "Bucket"),
                &parts("/logs/2026/a.gz", None, b"", "/{Bucket}/{Key+}", false)
            ),
            Some("logs".into())
        );
        assert_eq!(
            resource(
                &reference("uri", "Key"),
                &parts("/logs/2026/a%20b.gz", None, b"", "/{Bucket}/{Key+}", false)
            ),
            Some("2026/a b.gz".into())
        );
        assert_eq!(
            resource(
                &reference("body", "TableName"),
                &parts("/", None, br#"{"TableName":"users","Key":{}}"#, "/", false)
            ),
            Some("users".into())
        );
        assert_eq!(
            resource(
                &reference("body", "TableName"),
                &parts(
                    "/",
                    None,
                    br#"{"Key":{"id":{"S":"1"}},"TableName":"use"#,
                    "/",
                    false
                )
            ),
            None
        );
        assert_eq!(
            resource(&reference("body", "QueueUrl"), &parts("/", None, b"Action=SendMessage&QueueUrl=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F1%2Fq&MessageBody=x", "/", true)),
            Some("https://sqs.us-east-1.amazonaws.com/1/q".into())
        );
    }

    /// Go v2 1.17 sends SQS as a form (query protocol) and names the queue by URL; boto3 sends
    /// JSON and GetQueueUrl names it by name: one queue, one name. DynamoDB's batch and
    /// transaction calls name their tables only as map keys or inside items.
    #[test]
    fn one_resource_has_one_name_however_the_call_addressed_it() {
        let reference = |name: &'static str| ResourceRef {
            member: name,
            location: "body",
            name,
        };
        let none = HeaderMap::new();
        let parts = |body: &'static [u8], form_body| RequestParts {
            path: "/",
            query: None,
            headers: &none,
            body,
            uri_template: "/",
            form_body,
        };
        let queue_url = reference("QueueUrl");
        let form = parts(
            b"Action=SendMessage&QueueUrl=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F123456789012%2Forders&MessageBody=x",
            true,
        );
        let json = parts(
            br#"{"QueueUrl":"http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/orders"}"#,
            false,
        );
        let by_name = parts(br#"{"QueueName":"orders"}"#, false);
        for (reference, parts) in [
            (&queue_url, &form),
            (&queue_url, &json),
            (&reference("QueueName"), &by_name),
        ] {
            assert_eq!(
                call_resource("sqs", "SendMessage", Some(reference), parts).as_deref(),
                Some("orders")
            );
        }
        let batch = parts(
            br#"{"RequestItems":{"users":[{"PutRequest":{}}],"orders":[{"DeleteRequest":{}}]}}"#,
            false,
        );
        assert_eq!(
            call_resource("dynamodb", "BatchWriteItem", None, &batch).as_deref(),
            Some("orders,users")
        );
        let transaction = parts(
            br#"{"TransactItems":[{"Put":{"TableName":"b","Item":{}}},{"Update":{"TableName":"a"}},{"ConditionCheck":{"TableName":"b"}}]}"#,
            false,
        );
        assert_eq!(
            call_resource("dynamodb", "TransactWriteItems", None, &transaction).as_deref(),
            Some("a,b")
        );
        // A batch cut short by the capture limit names nothing rather than a part.
        let cut = parts(br#"{"RequestItems":{"users":[{"PutRe"#, false);
        assert_eq!(
            call_resource("dynamodb", "BatchWriteItem", None, &cut),
            None
        );
    }
}
