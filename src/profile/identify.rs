//! From one proxy exchange to one [`Call`]: identified, measured, priced.

use crate::aws::document::Documents;
use crate::aws::extract::{self, RequestParts};
use crate::aws::identify::{is_bucket_host, Identifier, Identity, Request};
use crate::aws::pages::{self, PageRequest, PageResponse};
use crate::aws::usage::{self, BodyView, Usage, UsageInput};
use crate::pricing::{Cost, Pricer, PricingInput};
use crate::proxy::{self, BodyRecord, Exchange, Outcome};
use crate::record::{
    is_throttling, Call, CallKind, ImpliedCost, PriceStatus, Unit, UpstreamFailure,
};

fn body_view(record: &BodyRecord) -> BodyView<'_> {
    BodyView {
        head: &record.captured,
        tail: &record.tail,
        length: record.bytes,
        truncated: record.truncated,
    }
}

/// Identifies an exchange, measures its usage, prices it, and extracts what reports need.
pub fn call_from_exchange(
    identifier: &Identifier<'_>,
    pricer: &Pricer,
    exchange: &Exchange,
) -> Call {
    let path = exchange.uri.path();
    let query = exchange.uri.query();
    let request_body = &exchange.request_body.captured;
    let identification = identifier.identify(&Request {
        method: &exchange.method,
        host: &exchange.host,
        path,
        query,
        headers: &exchange.request_headers,
        body: request_body,
    });
    let model = identifier.model();
    let (kind, service, operation, resource) = match &identification.identity {
        Identity::Operation {
            service, operation, ..
        } => {
            let service_model = model.service(*service);
            let operation_model = model.operation(*service, *operation);
            let virtual_path;
            let path_style = match crate::aws::host::parse(&exchange.host) {
                Some(host) if service_model.name == "s3" && is_bucket_host(&host) => {
                    virtual_path = format!("/{}{path}", host.leading);
                    virtual_path.as_str()
                }
                _ => path,
            };
            let resource = operation_model.resource.as_ref().and_then(|reference| {
                extract::resource(
                    reference,
                    &RequestParts {
                        path: path_style,
                        query,
                        headers: &exchange.request_headers,
                        body: request_body,
                        uri_template: operation_model.uri,
                        form_body: service_model
                            .protocols
                            .iter()
                            .any(|p| *p == "query" || *p == "ec2"),
                    },
                )
            });
            (
                CallKind::Operation,
                service_model.name.to_string(),
                operation_model.name.to_string(),
                resource,
            )
        }
        Identity::Unknown {
            service_guess,
            path_template,
        } => (
            CallKind::Unknown,
            service_guess.clone().unwrap_or_else(|| "unknown".into()),
            format!("unknown: {path_template}"),
            None,
        ),
        Identity::NotAws => (
            CallKind::NotAws,
            "not-aws".into(),
            format!("{} {}", exchange.method, exchange.host),
            None,
        ),
    };
    let user_agent = extract::user_agent(&exchange.request_headers);
    let attempt = extract::attempt(&exchange.request_headers);
    let (status, error_code, request_id) = match &exchange.response {
        Some(response) => (
            Some(response.status.as_u16()),
            extract::error_code(
                response.status.as_u16(),
                &response.headers,
                &exchange.response_body.captured,
            ),
            extract::request_id(&response.headers),
        ),
        None => (None, None, None),
    };
    let upstream_failure = match &exchange.outcome {
        Outcome::UpstreamFailed { kind, .. } => Some(match kind {
            proxy::UpstreamFailure::Connect => UpstreamFailure::Connect,
            proxy::UpstreamFailure::Tls => UpstreamFailure::Tls,
            proxy::UpstreamFailure::Timeout => UpstreamFailure::Timeout,
            proxy::UpstreamFailure::Protocol => UpstreamFailure::Protocol,
        }),
        _ => None,
    };
    // Everything read from the bodies of a known operation: usage, paginator facts, the
    // parameter digest. The bodies are parsed once, here, for all three.
    let operation_name: &str = &operation;
    let (usage, fingerprint, page, page_size_max) = match &identification.identity {
        Identity::Operation {
            service, operation, ..
        } => {
            let service_model = model.service(*service);
            let request_body = body_view(&exchange.request_body);
            let response_body = body_view(&exchange.response_body);
            let documents =
                Documents::parse(&service_model.protocols, &request_body, &response_body);
            let usage = usage::usage(&UsageInput {
                service: service_model.name,
                operation: operation_name,
                protocols: &service_model.protocols,
                host: &exchange.host,
                path,
                request_headers: &exchange.request_headers,
                request_body,
                status,
                response_headers: exchange.response.as_ref().map(|r| &r.headers),
                response_body,
                documents: &documents,
            });
            let request = PageRequest {
                protocols: &service_model.protocols,
                path,
                query,
                headers: &exchange.request_headers,
                body: request_body,
                documents: &documents,
            };
            let paginator = service_model
                .paginators
                .get(model.operation(*service, *operation).name);
            let page = paginator.map(|paginator| {
                let response = exchange.response.as_ref().map(|r| PageResponse {
                    status: r.status.as_u16(),
                    body: response_body,
                });
                pages::page_facts(paginator, &request, response.as_ref())
            });
            (
                usage,
                Some(pages::request_fingerprint(&request)),
                page,
                paginator.and_then(|p| p.limit_max),
            )
        }
        _ => (Usage::default(), None, None, None),
    };
    let cost = match kind {
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
            service: &service,
            operation: &operation,
            known: kind == CallKind::Operation,
            region: identification.region.as_deref(),
            status,
            error_code: error_code.as_deref(),
            throttled: is_throttling(error_code.as_deref()),
            usage: &usage,
        }),
    };
    let mut units: Vec<(Unit, rust_decimal::Decimal)> = Vec::with_capacity(cost.lines.len());
    for line in &cost.lines {
        match units.iter_mut().find(|(unit, _)| *unit == line.unit) {
            Some(slot) => slot.1 += line.quantity,
            None => units.push((line.unit, line.quantity)),
        }
    }
    let Cost {
        status: price,
        transfer,
        implied,
        estimated,
        ..
    } = &cost;
    Call {
        seq: exchange.id,
        client: exchange.client,
        kind,
        service,
        operation,
        region: identification.region,
        host: exchange.host.clone(),
        access_key: identification
            .access_key_id
            .as_deref()
            .map(extract::access_key_fingerprint),
        sdk: user_agent.sdk,
        app_id: user_agent.app_id,
        invocation_id: attempt.invocation_id,
        attempt: attempt.attempt,
        status,
        error_code,
        request_id,
        resource,
        started_at: exchange.started_at,
        duration: exchange.duration,
        bytes_sent: exchange.request_body.bytes,
        bytes_received: exchange.response_body.bytes,
        upstream_failure,
        interrupted: matches!(exchange.outcome, Outcome::Interrupted { .. }),
        price: price.clone(),
        cost: cost.own(),
        transfer: cost.transfer(),
        implied: implied
            .iter()
            .map(|line| ImpliedCost {
                service: line.service.clone(),
                entry: line.entry.clone(),
                implied_by: line.implied_by,
                amount: line.amount,
            })
            .collect(),
        units,
        gb_out: usage.quantity(Unit::GbOut),
        transfer_gb: transfer.as_ref().map(|line| line.quantity),
        estimated: estimated.clone(),
        fingerprint,
        page,
        page_size_max,
        loop_id: None,
    }
}
