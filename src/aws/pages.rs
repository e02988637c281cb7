//! What a paginated call says about its loop: the token it continues from, the page size it
//! asked for, the parameters that name the listing, and, from its response, the token of the
//! next page, whether there is one, and how many items came back. From the model's paginator
//! definitions and their wire locations.

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::document::{self, canonical, Documents, Syntax};
use super::model::{Paginator, PathSegment, WireMember};
use super::usage::BodyView;
use super::wire::{form_value, percent_decode};

/// A request of a paginated operation.
pub struct PageRequest<'a> {
    pub protocols: &'a [&'a str],
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: BodyView<'a>,
    /// The call's bodies, parsed once (the response's too).
    pub documents: &'a Documents<'a>,
}

/// Its response, when one came back.
pub struct PageResponse<'a> {
    pub status: u16,
    pub body: BodyView<'a>,
    /// What a [`PageCounter`](super::page_count::PageCounter) read of the whole body as it
    /// streamed; `None` when the body was not streamed through one, and then the answer is
    /// read from the captured head (and tail) of the body.
    pub streamed: Option<PageAnswer>,
}

pub use crate::record::{ItemsUnknown, PageAnswer, PageFacts};

pub fn page_facts(
    paginator: &Paginator,
    request: &PageRequest<'_>,
    response: Option<&PageResponse<'_>>,
) -> PageFacts {
    let syntax = document::syntax(request.protocols);
    let form = matches!(request.protocols.first(), Some(&"query" | &"ec2"));
    let request_doc = request.documents.request();
    let body_text = std::str::from_utf8(request.body.head).ok();
    let read = |member: &WireMember| -> Option<String> {
        let value = match member.location.as_str() {
            "querystring" => request
                .query
                .and_then(|q| form_value(q, &member.name))
                .map(percent_decode),
            "header" => request
                .headers
                .get(member.name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            _ if form => body_text
                .and_then(|b| form_value(b, &member.name))
                .map(percent_decode),
            _ => request_doc
                .as_ref()
                .and_then(|d| d.get(member.name.as_str()))
                .map(canonical),
        }?;
        (!value.is_empty() && value != "null").then_some(value)
    };
    let continues_from: Vec<String> = paginator
        .wire
        .input
        .iter()
        .flatten()
        .filter_map(read)
        .collect();
    let page_size = paginator
        .wire
        .limit
        .as_ref()
        .and_then(read)
        .and_then(|v| v.parse().ok());

    let token_names: Vec<&str> = paginator
        .wire
        .input
        .iter()
        .flatten()
        .map(|m| m.name.as_str())
        .collect();
    let listing = fingerprint(request, None, request_doc, form, &token_names, &[]);

    let answer = response
        .filter(|r| (200..300).contains(&r.status))
        .map(|r| match &r.streamed {
            Some(streamed) => streamed.clone(),
            None => read_answer(paginator, syntax, &r.body, request.documents),
        });
    PageFacts {
        continues_from,
        listing,
        page_size,
        answer,
    }
}

/// Headers that are never part of a call's identity, even where a model binds them: signing,
/// dates, payload hashes of the signature, SDK bookkeeping and tracing.
const NEVER_IDENTITY: &[&str] = &[
    "authorization",
    "x-amz-date",
    "date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "user-agent",
    "x-amz-user-agent",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "x-amzn-trace-id",
];

/// The headers an operation's input binds (lower case), from the model.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputHeaders<'a> {
    pub names: &'a [&'a str],
    /// Header maps (`x-amz-meta-`): every header that starts with one.
    pub prefixes: &'a [&'a str],
}

/// The request's headers that are input members, sorted: part of its identity.
fn identity_headers<'h>(
    headers: &'h HeaderMap,
    input: InputHeaders<'_>,
) -> Vec<(&'h str, &'h [u8])> {
    if input.names.is_empty() && input.prefixes.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .filter(|(name, _)| !NEVER_IDENTITY.contains(name))
        .filter(|(name, _)| {
            input.names.contains(name) || input.prefixes.iter().any(|p| name.starts_with(p))
        })
        .collect();
    found.sort_unstable();
    found
}

/// A digest of a request's parameters, the same for identical calls: what finds repeated calls
/// without storing their parameter values. Every input member counts wherever the model binds
/// it: the host (a virtual-hosted bucket, an account id, the region), path, query, body, and the
/// headers `input` names (`Range`, `If-Match`, `x-amz-copy-source`, `x-amz-meta-*`); never
/// credentials, dates, user agents or trace ids.
pub fn request_fingerprint(
    request: &PageRequest<'_>,
    host: &str,
    input: InputHeaders<'_>,
) -> String {
    let form = matches!(request.protocols.first(), Some(&"query" | &"ec2"));
    let headers = identity_headers(request.headers, input);
    fingerprint(
        request,
        Some(host),
        request.documents.request(),
        form,
        &[],
        &headers,
    )
}

/// Path, query and body parameters except the tokens, then the identity headers, hashed. With
/// no identity headers the digest is what it always was (digests are compared across runs).
///
/// On every recorded call (twice for a page), so it borrows rather than copies: the pairs are
/// sorted as slices and hashed piece by piece, which feeds the hasher the same bytes as joining
/// them would.
fn fingerprint(
    request: &PageRequest<'_>,
    host: Option<&str>,
    doc: Option<&Value>,
    form: bool,
    tokens: &[&str],
    headers: &[(&str, &[u8])],
) -> String {
    let mut hasher = Sha256::new();
    // Two buckets' HeadBucket, virtual-hosted, differ only in their host.
    if let Some(host) = host {
        hasher.update(host.as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(request.path.as_bytes());
    let hash_pairs = |hasher: &mut Sha256, text: &str| {
        let mut pairs: Vec<&str> = text
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                tokens.is_empty() || {
                    let key = percent_decode(pair.split('=').next().unwrap_or(""));
                    !tokens.contains(&key.as_str())
                }
            })
            .collect();
        pairs.sort_unstable();
        for (index, pair) in pairs.iter().enumerate() {
            if index > 0 {
                hasher.update(b"&");
            }
            hasher.update(pair.as_bytes());
        }
    };
    if let Some(query) = request.query {
        hasher.update(b"?");
        hash_pairs(&mut hasher, query);
    }
    hasher.update(b"\n");
    if form {
        if let Ok(body) = std::str::from_utf8(request.body.head) {
            hash_pairs(&mut hasher, body);
        }
    } else if let Some(Value::Object(members)) = doc {
        if tokens.iter().any(|token| members.contains_key(*token)) {
            let mut members = members.clone();
            for token in tokens {
                members.remove(*token);
            }
            hasher.update(Value::Object(members).to_string().as_bytes());
        } else {
            // The same text as `Value::Object(members).to_string()`, without the copy.
            hasher.update(
                serde_json::to_string(members)
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
    } else {
        hasher.update(request.body.head);
    }
    if !headers.is_empty() {
        hasher.update(b"\nheaders");
        for (name, value) in headers {
            hasher.update(b"\n");
            hasher.update(name.as_bytes());
            hasher.update(b":");
            hasher.update(value);
        }
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(16);
    for byte in &digest[..8] {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn read_answer(
    paginator: &Paginator,
    syntax: Syntax,
    body: &BodyView<'_>,
    documents: &Documents<'_>,
) -> PageAnswer {
    // A cut body still yields the start of an XML document; JSON needs all of it.
    let doc = documents.response_prefix();
    let xml = syntax == Syntax::Xml;
    let mut next = Vec::new();
    let mut unreadable = false;
    for alternatives in &paginator.wire.output {
        let found = alternatives.iter().flatten().find_map(|path| {
            doc.as_ref()
                .and_then(|d| navigate(d, path, xml))
                .map(canonical)
                .or_else(|| {
                    // Beyond the kept head: tokens of one segment are looked for in the tail.
                    (body.truncated && path.len() == 1)
                        .then(|| find_in_tail(body.tail, &path[0].name, xml))
                        .flatten()
                })
        });
        match found {
            Some(token) if !token.is_empty() && token != "null" => next.push(token),
            Some(_) => {}
            None if body.truncated => unreadable = true,
            None => {}
        }
    }
    let more = paginator.wire.more.as_ref().and_then(|path| {
        doc.as_ref()
            .and_then(|d| navigate(d, path, xml))
            .map(|v| matches!(v, Value::Bool(true)) || v.as_str() == Some("true"))
    });
    if more == Some(false) {
        next.clear();
        unreadable = false;
    }
    let items = if body.truncated {
        None
    } else {
        doc.as_ref().and_then(|d| {
            paginator
                .wire
                .result
                .iter()
                .flatten()
                .find_map(|path| count_list(d, path, xml))
        })
    };
    let items_unknown = items.is_none().then_some(if body.truncated {
        ItemsUnknown::BeyondCapture
    } else if doc.is_none() {
        ItemsUnknown::Unparseable
    } else {
        ItemsUnknown::NoList
    });
    PageAnswer {
        next,
        items,
        items_unknown,
        unreadable,
    }
}

/// The root's members; query-protocol answers wrap them in `<OperationResult>`.
fn members<'v>(root: &'v Value, first: &str) -> Option<&'v Value> {
    if root.get(first).is_some() {
        return Some(root);
    }
    root.as_object()?
        .iter()
        .find(|(key, _)| key.ends_with("Result"))
        .map(|(_, value)| value)
        .filter(|value| value.get(first).is_some())
}

fn navigate<'v>(root: &'v Value, path: &[PathSegment], xml: bool) -> Option<&'v Value> {
    let mut current = members(root, &path.first()?.name)?;
    for segment in path {
        current = current.get(segment.name.as_str())?;
        if xml {
            if let Some(item) = &segment.item {
                current = current.get(item.as_str())?;
            }
        }
        if segment.index == Some(-1) {
            current = match current {
                Value::Array(items) => items.last()?,
                single => single,
            };
        }
    }
    Some(current)
}

fn count_list(root: &Value, path: &[PathSegment], xml: bool) -> Option<u64> {
    let mut current = match members(root, &path.first()?.name) {
        Some(members) => members,
        // An XML list with no items has no element at all: count zero in the answer's members.
        None if xml => root
            .as_object()
            .and_then(|o| o.iter().find(|(key, _)| key.ends_with("Result")))
            .map_or(root, |(_, value)| value),
        None => return None,
    };
    let (last, parents) = path.split_last()?;
    for segment in parents {
        current = current.get(segment.name.as_str())?;
    }
    let list = match current.get(last.name.as_str()) {
        Some(list) => list,
        // An XML list with no items has no element at all.
        None if xml => return Some(0),
        None => return None,
    };
    let list = match (&last.item, xml) {
        (Some(item), true) => match list.get(item.as_str()) {
            Some(items) => items,
            None => return Some(0),
        },
        _ => list,
    };
    match list {
        Value::Array(items) => Some(items.len() as u64),
        Value::Object(_) if xml => Some(1),
        Value::String(s) if xml => Some(u64::from(!s.is_empty())),
        _ => None,
    }
}

/// The last `<name>value</name>` (XML) or `"name": value` (JSON) in the kept tail.
fn find_in_tail(tail: &[u8], name: &str, xml: bool) -> Option<String> {
    let text = String::from_utf8_lossy(tail);
    if xml {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.rfind(&open)? + open.len();
        let end = start + text[start..].find(&close)?;
        let raw = &text[start..end];
        return Some(
            quick_xml::escape::unescape(raw)
                .map(|s| s.into_owned())
                .unwrap_or_else(|_| raw.to_string()),
        );
    }
    let key = format!("\"{name}\"");
    let after = &text[text.rfind(&key)? + key.len()..];
    let after = after.trim_start().strip_prefix(':')?;
    let mut values = serde_json::Deserializer::from_str(after).into_iter::<Value>();
    values.next()?.ok().map(|v| canonical(&v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::Model;

    fn paginator(service: &str, operation: &str) -> &'static Paginator {
        let model = Model::embedded();
        let index = model.service_named(service).unwrap();
        model.service(index).paginators.get(operation).unwrap()
    }

    fn facts(
        service: &str,
        operation: &str,
        protocols: &[&str],
        path: &str,
        query: Option<&str>,
        request: &[u8],
        response: &[u8],
    ) -> PageFacts {
        let headers = HeaderMap::new();
        let documents = Documents::parse(
            protocols,
            &BodyView::whole(request),
            &BodyView::whole(response),
        );
        page_facts(
            paginator(service, operation),
            &PageRequest {
                protocols,
                path,
                query,
                headers: &headers,
                body: BodyView::whole(request),
                documents: &documents,
            },
            Some(&PageResponse {
                status: 200,
                body: BodyView::whole(response),
                streamed: None,
            }),
        )
    }

    /// Digests are stored and compared across runs (re-listing, repeated calls), so they must
    /// stay what they were: path, `?`, the sorted non-token pairs joined by `&`, a newline, then
    /// the body (sorted pairs for forms, JSON members less the tokens, else the bytes).
    #[test]
    fn fingerprints_hash_what_they_always_hashed() {
        let reference =
            |path: &str, query: Option<&str>, body: &[u8], form: bool, tokens: &[&str]| {
                let pairs = |text: &str| -> String {
                    let mut pairs: Vec<String> = text
                        .split('&')
                        .filter(|pair| !pair.is_empty())
                        .filter(|pair| {
                            let key = percent_decode(pair.split('=').next().unwrap_or(""));
                            !tokens.contains(&key.as_str())
                        })
                        .map(str::to_string)
                        .collect();
                    pairs.sort();
                    pairs.join("&")
                };
                let mut hasher = Sha256::new();
                hasher.update(path.as_bytes());
                if let Some(query) = query {
                    hasher.update(b"?");
                    hasher.update(pairs(query).as_bytes());
                }
                hasher.update(b"\n");
                let doc = document::parse(Syntax::Json, body);
                if form {
                    hasher.update(pairs(std::str::from_utf8(body).unwrap()).as_bytes());
                } else if let Some(Value::Object(members)) = &doc {
                    let mut members = members.clone();
                    for token in tokens {
                        members.remove(*token);
                    }
                    hasher.update(Value::Object(members).to_string().as_bytes());
                } else {
                    hasher.update(body);
                }
                hasher.finalize()[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            };
        let headers = HeaderMap::new();
        // Path, query, body, whether the body is a form, the token names.
        type Case<'a> = (&'a str, Option<&'a str>, &'a [u8], bool, &'a [&'a str]);
        let cases: [Case; 8] = [
            (
                "/b",
                Some("prefix=a%2Fb&list-type=2&max-keys=5"),
                b"",
                false,
                &[],
            ),
            (
                "/b",
                Some("list-type=2&continuation-token=t1&x=&&y"),
                b"",
                false,
                &["continuation-token"],
            ),
            ("/b", Some("a=1&a=0&b"), b"", false, &["nothing"]),
            (
                "/",
                None,
                b"Version=1&Action=DescribeInstances&NextToken=n1&MaxResults=5",
                true,
                &["NextToken"],
            ),
            (
                "/",
                None,
                br#"{"TableName":"t","ExclusiveStartKey":{"pk":{"S":"b"}},"Limit":2}"#,
                false,
                &["ExclusiveStartKey"],
            ),
            (
                "/",
                None,
                br#"{"TableName":"t","Limit":2}"#,
                false,
                &["ExclusiveStartKey"],
            ),
            ("/", None, br#"{"b":[1,2.5,"x"],"a":null}"#, false, &[]),
            ("/k", None, b"\x00not json", false, &[]),
        ];
        for (path, query, body, form, tokens) in cases {
            let documents = Documents::parse(
                if form { &["query"] } else { &["json"] },
                &BodyView::whole(body),
                &BodyView::whole(b""),
            );
            let request = PageRequest {
                protocols: if form { &["query"] } else { &["json"] },
                path,
                query,
                headers: &headers,
                body: BodyView::whole(body),
                documents: &documents,
            };
            assert_eq!(
                fingerprint(&request, None, documents.request(), form, tokens, &[]),
                reference(path, query, body, form, tokens),
                "{path} {query:?} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// A virtual-hosted bucket (or an account id, or a region) is in the host: HeadBucket on two
    /// buckets is two calls, not one repeated.
    #[test]
    fn identity_includes_the_host() {
        let headers = HeaderMap::new();
        let documents =
            Documents::parse(&["rest-xml"], &BodyView::whole(b""), &BodyView::whole(b""));
        let request = PageRequest {
            protocols: &["rest-xml"],
            path: "/",
            query: None,
            headers: &headers,
            body: BodyView::whole(b""),
            documents: &documents,
        };
        let digest = |host: &str| {
            request_fingerprint(
                &request,
                host,
                InputHeaders {
                    names: &[],
                    prefixes: &[],
                },
            )
        };
        assert_eq!(
            digest("lake-a.s3.us-east-1.amazonaws.com"),
            digest("lake-a.s3.us-east-1.amazonaws.com")
        );
        assert_ne!(
            digest("lake-a.s3.us-east-1.amazonaws.com"),
            digest("lake-b.s3.us-east-1.amazonaws.com")
        );
        assert_ne!(
            digest("ec2.us-east-1.amazonaws.com"),
            digest("ec2.eu-west-1.amazonaws.com")
        );
    }

    /// Issue 24 item 2: two requests are the same call only when every input member is equal,
    /// headers included; the signature, dates and SDK bookkeeping never count.
    #[test]
    fn identity_includes_the_headers_the_input_binds() {
        let model = crate::aws::model::Model::embedded();
        let s3 = model.service_named("s3").unwrap();
        let get = model.operation(s3, model.operation_named(s3, "GetObject").unwrap());
        let put = model.operation(s3, model.operation_named(s3, "PutObject").unwrap());
        let digest = |op: &crate::aws::model::OperationModel, headers: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(
                    http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.parse().unwrap(),
                );
            }
            let documents =
                Documents::parse(&["rest-xml"], &BodyView::whole(b""), &BodyView::whole(b""));
            request_fingerprint(
                &PageRequest {
                    protocols: &["rest-xml"],
                    path: "/bucket/big.bin",
                    query: None,
                    headers: &map,
                    body: BodyView::whole(b""),
                    documents: &documents,
                },
                "s3.us-east-1.amazonaws.com",
                InputHeaders {
                    names: &op.input_headers,
                    prefixes: &op.input_header_prefixes,
                },
            )
        };
        let signed = |range: &'static str, date: &'static str| {
            vec![
                ("range", range),
                ("x-amz-date", date),
                ("authorization", date),
                ("amz-sdk-invocation-id", date),
                ("user-agent", date),
                ("x-amz-content-sha256", date),
            ]
        };
        let first = digest(get, &signed("bytes=0-8388607", "20261207T010101Z"));
        let second = digest(get, &signed("bytes=8388608-16777215", "20261207T010102Z"));
        assert_ne!(
            first, second,
            "ranged reads of one object are different calls"
        );
        assert_eq!(
            first,
            digest(get, &signed("bytes=0-8388607", "20261207T020202Z")),
            "the same range twice is a repeat, whatever the signature and date"
        );
        assert_ne!(
            digest(get, &[("if-none-match", "\"a\"")]),
            digest(get, &[("if-none-match", "\"b\"")])
        );
        assert_ne!(
            digest(put, &[("x-amz-meta-owner", "a")]),
            digest(put, &[("x-amz-meta-owner", "b")]),
            "header maps are input members"
        );
        // A request with no input headers digests as it always did.
        assert_eq!(
            digest(get, &[("x-amz-date", "1"), ("x-amzn-trace-id", "t")]),
            digest(get, &[])
        );
    }

    #[test]
    fn s3_list_objects_v2_tokens_page_size_and_items() {
        let first = facts(
            "s3",
            "ListObjectsV2",
            &["rest-xml"],
            "/bucket",
            Some("list-type=2&max-keys=100&prefix=logs%2F"),
            b"",
            b"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key></Contents><Contents><Key>b</Key></Contents><NextContinuationToken>t1</NextContinuationToken></ListBucketResult>",
        );
        assert!(first.continues_from.is_empty());
        assert_eq!(first.page_size, Some(100));
        let answer = first.answer.as_ref().unwrap();
        assert_eq!(answer.next, ["t1"]);
        assert_eq!(answer.items, Some(2));
        let second = facts(
            "s3",
            "ListObjectsV2",
            &["rest-xml"],
            "/bucket",
            Some("list-type=2&max-keys=100&prefix=logs%2F&continuation-token=t1"),
            b"",
            b"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>c</Key></Contents></ListBucketResult>",
        );
        assert_eq!(second.continues_from, ["t1"]);
        assert_eq!(
            second.listing, first.listing,
            "same listing, different token"
        );
        assert_eq!(second.answer.unwrap().next, Vec::<String>::new());
        let other_prefix = facts(
            "s3",
            "ListObjectsV2",
            &["rest-xml"],
            "/bucket",
            Some("list-type=2&max-keys=100&prefix=other"),
            b"",
            b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        );
        assert_ne!(other_prefix.listing, first.listing);
        assert_eq!(other_prefix.answer.unwrap().items, Some(0));
    }

    #[test]
    fn s3_list_objects_v1_falls_back_to_the_last_key() {
        let page = facts(
            "s3",
            "ListObjects",
            &["rest-xml"],
            "/bucket",
            None,
            b"",
            b"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key></Contents><Contents><Key>z</Key></Contents></ListBucketResult>",
        );
        assert_eq!(page.answer.unwrap().next, ["z"]);
    }

    #[test]
    fn dynamodb_map_tokens_compare_in_canonical_form() {
        let page = facts(
            "dynamodb",
            "Scan",
            &["json"],
            "/",
            None,
            br#"{"TableName":"t","Limit":25}"#,
            br#"{"Items":[{"pk":{"S":"a"}},{"pk":{"S":"b"}}],"Count":2,"ScannedCount":2,"LastEvaluatedKey":{"sk":{"N":"1"},"pk":{"S":"b"}}}"#,
        );
        assert_eq!(page.page_size, Some(25));
        let answer = page.answer.unwrap();
        assert_eq!(answer.items, Some(2));
        let next = facts(
            "dynamodb",
            "Scan",
            &["json"],
            "/",
            None,
            br#"{"ExclusiveStartKey":{"pk":{"S":"b"},"sk":{"N":"1"}},"Limit":25,"TableName":"t"}"#,
            br#"{"Items":[],"Count":0,"ScannedCount":0}"#,
        );
        assert_eq!(
            next.continues_from, answer.next,
            "key order does not matter"
        );
        assert_eq!(next.listing, page.listing);
        assert!(next.answer.unwrap().next.is_empty());
    }

    #[test]
    fn ec2_form_requests_and_item_lists() {
        let response = b"<DescribeInstancesResponse><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId></item><item><reservationId>r-2</reservationId></item></reservationSet><nextToken>n1</nextToken></DescribeInstancesResponse>";
        let page = facts(
            "ec2",
            "DescribeInstances",
            &["ec2"],
            "/",
            None,
            b"Action=DescribeInstances&Version=2016-11-15&MaxResults=5",
            response,
        );
        assert_eq!(page.page_size, Some(5));
        let answer = page.answer.unwrap();
        assert_eq!(answer.items, Some(2));
        assert_eq!(answer.next, ["n1"]);
        let next = facts(
            "ec2",
            "DescribeInstances",
            &["ec2"],
            "/",
            None,
            b"Action=DescribeInstances&Version=2016-11-15&MaxResults=5&NextToken=n1",
            b"<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>",
        );
        assert_eq!(next.continues_from, ["n1"]);
        assert_eq!(next.listing, page.listing);
        assert_eq!(next.answer.unwrap().items, Some(0));
    }

    #[test]
    fn a_token_past_the_kept_head_is_found_in_the_tail() {
        let headers = HeaderMap::new();
        let head = b"<DescribeInstancesResponse><reservationSet><item>";
        let tail =
            b"</item></reservationSet><nextToken>n&amp;2</nextToken></DescribeInstancesResponse>";
        let cut = BodyView {
            head,
            tail,
            length: 1 << 20,
            truncated: true,
        };
        let request = BodyView::whole(b"Action=DescribeInstances");
        let documents = Documents::parse(&["ec2"], &request, &cut);
        let facts = page_facts(
            paginator("ec2", "DescribeInstances"),
            &PageRequest {
                protocols: &["ec2"],
                path: "/",
                query: None,
                headers: &headers,
                body: BodyView::whole(b"Action=DescribeInstances"),
                documents: &documents,
            },
            Some(&PageResponse {
                status: 200,
                body: cut,
                streamed: None,
            }),
        );
        let answer = facts.answer.unwrap();
        assert_eq!(answer.next, ["n&2"]);
        assert_eq!(answer.items, None);
        assert_eq!(answer.items_unknown, Some(ItemsUnknown::BeyondCapture));
    }
}
