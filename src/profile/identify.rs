//! From one proxy exchange to one [`Call`]: identified, measured, priced.

use rust_decimal::Decimal;

use crate::aws::document::Documents;
use crate::aws::extract::{self, RequestParts};
use crate::aws::identify::{is_bucket_host, Identifier, Identity, Request};
use crate::aws::pages::{self, PageRequest, PageResponse};
use crate::aws::usage::{self, Answerer, BodyView, Usage, UsageInput};
use crate::pricing::{Cost, Pricer, PricingInput};
use crate::proxy::{self, BodyRecord, Exchange, Outcome};
use crate::record::{
    is_throttling, Call, CallKind, ImpliedCost, LineKind, PageAnswer, PageFacts, PriceStatus,
    PricedLine, Unit, UpstreamFailure,
};

use super::{callsite, tap};

fn body_view(record: &BodyRecord) -> BodyView<'_> {
    BodyView {
        head: &record.captured,
        tail: &record.tail,
        length: record.bytes,
        truncated: record.truncated,
    }
}

/// Identifies an exchange, measures its usage, prices it, and extracts what reports need.
/// `answerer`: whether AWS or a stand-in (`--upstream`) answered it.
pub fn call_from_exchange(
    identifier: &Identifier<'_>,
    pricer: &Pricer,
    exchange: &Exchange,
    answerer: Answerer,
) -> Call {
    let tap = tap::of(exchange);
    // Identified when the response began, where the profiler could.
    let identified;
    let identification = match tap {
        Some(tap) => &tap.identification,
        None => {
            identified = identifier.identify(&Request {
                method: &exchange.method,
                host: &exchange.host,
                path: exchange.uri.path(),
                query: exchange.uri.query(),
                headers: &exchange.request_headers,
                body: &exchange.request_body.captured,
            });
            &identified
        }
    };
    let name = name(identifier, exchange, &identification.identity);
    let answer = answer(exchange);
    let streamed = tap
        .and_then(|tap| tap.page.as_ref())
        .map(|page| page.answer(exchange.outcome == Outcome::Complete));
    let measured = measure(
        identifier,
        exchange,
        &identification.identity,
        answer.status,
        streamed,
        answerer,
    );
    let cost = match name.kind {
        CallKind::NotAws => Cost {
            status: PriceStatus::Unpriced {
                reason: "not an AWS API call".into(),
            },
            lines: Vec::new(),
            transfer: None,
            implied: Vec::new(),
            estimated: None,
        },
        _ => pricer.price(&PricingInput {
            service: &name.service,
            operation: &name.operation,
            known: name.kind == CallKind::Operation,
            region: identification.region.as_deref(),
            status: answer.status,
            error_code: answer.error_code.as_deref(),
            throttled: is_throttling(answer.error_code.as_deref()),
            usage: &measured.usage,
        }),
    };
    let user_agent = extract::user_agent(&exchange.request_headers);
    let mut attempt = extract::attempt(&exchange.request_headers);
    // A presigned URL is fetched by whatever was handed it (curl, a browser), with no SDK retry
    // header: each fetch is a first attempt.
    if identification.presigned && attempt.attempt.is_none() {
        attempt.attempt = Some(1);
    }
    Call {
        seq: exchange.id,
        client: exchange.client,
        kind: name.kind,
        service: name.service,
        operation: name.operation,
        region: identification.region.clone(),
        host: exchange.host.clone(),
        access_key: identification
            .access_key_id
            .as_deref()
            .map(extract::access_key_fingerprint),
        sdk: user_agent.sdk,
        app_id: user_agent.app_id,
        callsite: callsite::label(&exchange.request_headers, callsite::CALLSITE_HEADER).kept(),
        test: callsite::label(&exchange.request_headers, callsite::TEST_HEADER).kept(),
        invocation_id: attempt.invocation_id,
        attempt: attempt.attempt,
        status: answer.status,
        error_code: answer.error_code,
        request_id: answer.request_id,
        resource: name.resource,
        started_at: exchange.started_at,
        duration: exchange.duration,
        bytes_sent: exchange.request_body.bytes,
        bytes_received: exchange.response_body.bytes,
        upstream_failure: upstream_failure(&exchange.outcome),
        interrupted: matches!(exchange.outcome, Outcome::Interrupted { .. }),
        price: cost.status.clone(),
        cost: cost.own(),
        transfer: cost.transfer(),
        implied: implied_costs(&cost),
        units: own_units(&cost),
        priced: priced_lines(&cost),
        gb_out: measured.usage.quantity(Unit::GbOut),
        transfer_gb: cost.transfer.as_ref().map(|line| line.quantity),
        estimated: cost.estimated,
        fingerprint: measured.fingerprint,
        page: measured.page,
        page_size_max: measured.page_size_max,
        loop_id: None,
        // Set by the profiler, which knows what the run listed before.
        listed_before: None,
        listed_keys: tap
            .and_then(|tap| tap.page.as_ref())
            .map(|page| page.listed_keys().to_vec())
            .unwrap_or_default(),
        object_key: name.object_key,
        // Set by the profiler, which knows what the run fetched before.
        after_head: None,
        refetched_bytes: None,
        span: fetched_span(exchange, name.object_key.is_some(), answer.status),
        etag: exchange
            .response
            .as_ref()
            .and_then(|r| r.headers.get(http::header::ETAG))
            .map(|etag| crate::aws::listed::key_hash(etag.as_bytes())),
        received: measured.received,
    }
}

/// The object's bytes a GetObject received whole, `start..end`: the `Content-Range` of a 206,
/// or the whole object for a 200 without one. `None` for other calls, failed or cut answers,
/// and a body whose length is not the span's.
fn fetched_span(exchange: &Exchange, object_call: bool, status: Option<u16>) -> Option<(u64, u64)> {
    let response = exchange.response.as_ref()?;
    if !object_call || exchange.method != http::Method::GET || exchange.outcome != Outcome::Complete
    {
        return None;
    }
    let length = exchange.response_body.bytes;
    let span = match status? {
        200 => (0, length),
        206 => {
            let range = response.headers.get(http::header::CONTENT_RANGE)?;
            content_range(range.to_str().ok()?)?
        }
        _ => return None,
    };
    (span.1 - span.0 == length).then_some(span)
}

/// `bytes 0-99/1000` as `(0, 100)`.
fn content_range(value: &str) -> Option<(u64, u64)> {
    let (first, last) = value
        .trim()
        .strip_prefix("bytes ")?
        .split_once('/')?
        .0
        .split_once('-')?;
    let (first, last): (u64, u64) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    (first <= last).then(|| (first, last + 1))
}

/// What a call is called, and the resource it acts on.
struct Name {
    kind: CallKind,
    service: String,
    operation: String,
    resource: Option<String>,
    /// The hash of the object key of an S3 call about one object (HeadObject, GetObject).
    object_key: Option<u64>,
}

fn name(identifier: &Identifier<'_>, exchange: &Exchange, identity: &Identity) -> Name {
    let model = identifier.model();
    match identity {
        Identity::Operation {
            service, operation, ..
        } => {
            let service_model = model.service(*service);
            let operation_model = model.operation(*service, *operation);
            let path = exchange.uri.path();
            // A virtual-hosted bucket's requests are matched as path-style ones.
            let virtual_path;
            let path_style = match crate::aws::host::parse(&exchange.host) {
                Some(host) if service_model.name == "s3" && is_bucket_host(&host) => {
                    virtual_path = format!("/{}{path}", host.leading);
                    virtual_path.as_str()
                }
                _ => path,
            };
            let resource = extract::call_resource(
                service_model.name,
                operation_model.name,
                operation_model.resource.as_ref(),
                &RequestParts {
                    path: path_style,
                    query: exchange.uri.query(),
                    headers: &exchange.request_headers,
                    body: &exchange.request_body.captured,
                    uri_template: operation_model.uri,
                    // What the client sent, not what the model prefers: SDKs built before a
                    // service moved to JSON (SQS in 2023; Go v2 1.17) still send a form.
                    form_body: extract::is_form(&exchange.request_headers)
                        || service_model
                            .protocols
                            .iter()
                            .any(|p| *p == "query" || *p == "ec2"),
                },
            );
            let object_key = (service_model.name == "s3"
                && crate::aws::listed::OBJECT_CALLS.contains(&operation_model.name))
            .then(|| crate::aws::listed::request_key_hash(path_style))
            .flatten();
            Name {
                kind: CallKind::Operation,
                service: service_model.name.to_string(),
                operation: operation_model.name.to_string(),
                resource,
                object_key,
            }
        }
        Identity::NotInModel {
            service, operation, ..
        } => Name {
            kind: CallKind::NotInModel,
            service: service.clone(),
            operation: operation.clone(),
            resource: None,
            object_key: None,
        },
        Identity::Unknown {
            service_guess,
            path_template,
        } => Name {
            kind: CallKind::Unknown,
            service: service_guess.clone().unwrap_or_else(|| "unknown".into()),
            operation: format!("unknown: {path_template}"),
            resource: None,
            object_key: None,
        },
        Identity::NotAws => Name {
            kind: CallKind::NotAws,
            service: "not-aws".into(),
            operation: format!("{} {}", exchange.method, exchange.host),
            resource: None,
            object_key: None,
        },
    }
}

/// What the response said, if one came.
struct Answer {
    status: Option<u16>,
    error_code: Option<String>,
    request_id: Option<String>,
}

fn answer(exchange: &Exchange) -> Answer {
    match &exchange.response {
        Some(response) => Answer {
            status: Some(response.status.as_u16()),
            error_code: extract::error_code(
                response.status.as_u16(),
                &response.headers,
                &exchange.response_body.captured,
            ),
            request_id: extract::request_id(&response.headers),
        },
        None => Answer {
            status: None,
            error_code: None,
            request_id: None,
        },
    }
}

fn upstream_failure(outcome: &Outcome) -> Option<UpstreamFailure> {
    match outcome {
        Outcome::UpstreamFailed { kind, .. } => Some(match kind {
            proxy::UpstreamFailure::Connect => UpstreamFailure::Connect,
            proxy::UpstreamFailure::Tls => UpstreamFailure::Tls,
            proxy::UpstreamFailure::Timeout => UpstreamFailure::Timeout,
            proxy::UpstreamFailure::Protocol => UpstreamFailure::Protocol,
        }),
        _ => None,
    }
}

/// Everything read from the bodies of a known operation.
#[derive(Default)]
struct Measured {
    usage: Usage,
    fingerprint: Option<String>,
    page: Option<PageFacts>,
    page_size_max: Option<u64>,
    received: Option<u64>,
}

/// Usage, paginator facts and the parameter digest of a known operation: the bodies are parsed
/// once, here, for all three. `streamed`: what the page counter read of the whole response.
fn measure(
    identifier: &Identifier<'_>,
    exchange: &Exchange,
    identity: &Identity,
    status: Option<u16>,
    streamed: Option<PageAnswer>,
    answerer: Answerer,
) -> Measured {
    let Identity::Operation {
        service, operation, ..
    } = identity
    else {
        return Measured::default();
    };
    let model = identifier.model();
    let service_model = model.service(*service);
    let operation_model = model.operation(*service, *operation);
    let path = exchange.uri.path();
    let request_body = body_view(&exchange.request_body);
    let response_body = body_view(&exchange.response_body);
    let documents = Documents::parse(&service_model.protocols, &request_body, &response_body);
    let usage = usage::usage(&UsageInput {
        service: service_model.name,
        operation: operation_model.name,
        protocols: &service_model.protocols,
        host: &exchange.host,
        path,
        request_headers: &exchange.request_headers,
        request_body,
        status,
        response_headers: exchange.response.as_ref().map(|r| &r.headers),
        response_body,
        documents: &documents,
        answerer,
    });
    let request = PageRequest {
        protocols: &service_model.protocols,
        path,
        query: exchange.uri.query(),
        headers: &exchange.request_headers,
        body: request_body,
        documents: &documents,
    };
    let paginator = service_model.paginators.get(operation_model.name);
    let page = paginator.map(|paginator| {
        let response = exchange.response.as_ref().map(|r| PageResponse {
            status: r.status.as_u16(),
            body: response_body,
            streamed,
        });
        pages::page_facts(paginator, &request, response.as_ref())
    });
    let received = crate::aws::receives::received(
        service_model.name,
        operation_model.name,
        status,
        &documents,
        &response_body,
    );
    Measured {
        usage,
        received,
        fingerprint: Some(pages::request_fingerprint(
            &request,
            &exchange.host,
            pages::InputHeaders {
                names: &operation_model.input_headers,
                prefixes: &operation_model.input_header_prefixes,
            },
        )),
        page,
        page_size_max: paginator.and_then(|p| p.limit_max),
    }
}

/// Every line of the cost by table entry, for re-pricing.
fn priced_lines(cost: &Cost) -> Vec<PricedLine> {
    let line = |kind: LineKind, line: &crate::pricing::cost::CostLine| PricedLine {
        kind,
        entry: line.entry.clone(),
        quantity: line.quantity,
    };
    cost.lines
        .iter()
        .map(|l| line(LineKind::Own, l))
        .chain(cost.transfer.iter().map(|l| line(LineKind::Transfer, l)))
        .chain(cost.implied.iter().map(|l| line(LineKind::Implied, l)))
        .collect()
}

/// The quantities the call's own charges were priced on, by unit.
fn own_units(cost: &Cost) -> Vec<(Unit, Decimal)> {
    let mut units: Vec<(Unit, Decimal)> = Vec::with_capacity(cost.lines.len());
    for line in &cost.lines {
        match units.iter_mut().find(|(unit, _)| *unit == line.unit) {
            Some(slot) => slot.1 += line.quantity,
            None => units.push((line.unit, line.quantity)),
        }
    }
    units
}

fn implied_costs(cost: &Cost) -> Vec<ImpliedCost> {
    cost.implied
        .iter()
        .map(|line| ImpliedCost {
            service: line.service.clone(),
            entry: line.entry.clone(),
            implied_by: line.implied_by,
            amount: line.amount,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use http::{HeaderMap, Method, StatusCode, Uri, Version};

    use super::*;
    use crate::aws::model::Model;
    use crate::pricing::Pricer;
    use crate::proxy::{BodyTap, ResponseRecord, ResponseStart, Transport};
    use crate::record::ItemsUnknown;

    const CAPTURE: usize = 64 * 1024;

    fn page(keys: usize) -> Vec<u8> {
        let mut body = String::from("<ListBucketResult><IsTruncated>true</IsTruncated>");
        for index in 0..keys {
            body.push_str(&format!(
                "<Contents><Key>logs/{index:06}/{}</Key><Size>1</Size></Contents>",
                "k".repeat(200)
            ));
        }
        body.push_str("<NextContinuationToken>t2</NextContinuationToken></ListBucketResult>");
        body.into_bytes()
    }

    fn ok() -> ResponseRecord {
        ResponseRecord {
            status: StatusCode::OK,
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
        }
    }

    /// The exchange as the proxy reports it: the body's first 64 KiB and last 16 KiB kept.
    fn exchange(uri: &str, body: &[u8], tap: Option<Box<dyn BodyTap>>) -> Exchange {
        Exchange {
            id: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Https,
            host: "s3.amazonaws.com".into(),
            port: 443,
            method: Method::GET,
            uri: uri.parse().unwrap(),
            version: Version::HTTP_11,
            request_headers: HeaderMap::new(),
            request_body: BodyRecord {
                complete: true,
                ..Default::default()
            },
            response: Some(ok()),
            response_tap: tap,
            response_body: BodyRecord {
                bytes: body.len() as u64,
                captured: Bytes::copy_from_slice(&body[..CAPTURE]),
                truncated: true,
                tail: Bytes::copy_from_slice(&body[body.len() - 16 * 1024..]),
                complete: true,
            },
            outcome: Outcome::Complete,
            started_at: SystemTime::now(),
            time_to_response_head: None,
            duration: Duration::from_millis(5),
        }
    }

    #[test]
    fn a_content_range_is_the_span_received() {
        assert_eq!(content_range("bytes 0-99/1000"), Some((0, 100)));
        assert_eq!(
            content_range("bytes 737856-999999/1000000"),
            Some((737_856, 1_000_000))
        );
        assert_eq!(content_range("bytes */1000"), None);
        assert_eq!(content_range("bytes 5-4/10"), None);
    }

    #[test]
    fn a_page_past_the_capture_is_counted_whole_and_identified_once() {
        let (table, settings) = crate::pricing::overlay::load(&Default::default()).unwrap();
        let pricer = Arc::new(Pricer::new(table, settings));
        let identifier = Identifier::new(Model::embedded());
        let body = page(1000);
        assert!(body.len() > 3 * CAPTURE, "{}", body.len());
        let uri: Uri = "/bucket?list-type=2&max-keys=1000".parse().unwrap();
        let headers = HeaderMap::new();
        let request_body = BodyRecord {
            complete: true,
            ..Default::default()
        };
        let mut tap = tap::call_tap(&ResponseStart {
            id: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            host: "s3.amazonaws.com",
            method: &Method::GET,
            uri: &uri,
            request_headers: &headers,
            request_body: Some(&request_body),
            response: &ok(),
        })
        .expect("a tap once the request has ended");
        assert!(tap.wants_chunks(), "a page of a paginated operation");
        for chunk in body.chunks(16 * 1024) {
            tap.feed(chunk);
        }

        // Identified when the response began, not again: the exchange's own target (here
        // changed behind the tap's back) is not read a second time.
        let call = call_from_exchange(
            &identifier,
            &pricer,
            &exchange("/", &body, Some(tap)),
            Answerer::Aws,
        );
        assert_eq!(call.operation, "ListObjectsV2");
        let answer = call.page.unwrap().answer.unwrap();
        assert_eq!((answer.items, answer.items_unknown), (Some(1000), None));
        assert_eq!(answer.next, ["t2"]);

        // Without the tap, only the kept head and tail are read: the token (in the tail), but
        // no count, and why.
        let call = call_from_exchange(
            &identifier,
            &pricer,
            &exchange("/bucket?list-type=2&max-keys=1000", &body, None),
            Answerer::Aws,
        );
        let answer = call.page.unwrap().answer.unwrap();
        assert_eq!(
            (answer.items, answer.items_unknown),
            (None, Some(ItemsUnknown::BeyondCapture))
        );
        assert_eq!(answer.next, ["t2"]);
    }
}
